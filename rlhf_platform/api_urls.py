"""Every REST endpoint, under ``/api/v1/``.

``ENDPOINT_AUDIENCE`` names who each endpoint is for; the lab-isolation test walks this list
and fails on an endpoint that is not in it, so no endpoint escapes the isolation check.
"""

from django.urls import path

from annotate import api as annotate_api
from annotate import api_batches, api_exports, api_items, api_my_labels, api_progress, api_queue
from annotate.qualification import api as exams_api
from annotate.quality import api as quality_api
from annotate.quality import api_actions as quality_actions_api
from annotate.quality import api_groups as quality_groups_api
from rewards import urls as rewards_urls
from rewards.payouts import urls as payouts_urls
from rlhf_platform.accounts import api as accounts_api
from rlhf_platform.accounts import api_labs, api_passwords
from rlhf_platform.core import backlog_views
from rlhf_platform.experts import api as experts_api
from rlhf_platform.webhooks import api as webhooks_api

urlpatterns = [
    # accounts
    path("auth/signup", accounts_api.SignupApi.as_view(), name="api-signup"),
    path("auth/login", accounts_api.LoginApi.as_view(), name="api-login"),
    path("auth/logout", accounts_api.LogoutApi.as_view(), name="api-logout"),
    path("auth/password/change", api_passwords.PasswordChangeApi.as_view(), name="api-password-change"),
    path("auth/password/reset", api_passwords.PasswordResetRequestApi.as_view(), name="api-password-reset"),
    path(
        "auth/password/reset/confirm",
        api_passwords.PasswordResetConfirmApi.as_view(),
        name="api-password-reset-confirm",
    ),
    path("me", accounts_api.MeApi.as_view(), name="api-me"),
    # a lab, through its API key
    path("lab", accounts_api.LabKeyApi.as_view(), name="api-lab"),
    path("lab/api-keys", accounts_api.LabApiKeyListApi.as_view(), name="api-lab-keys"),
    path(
        "lab/api-keys/<uuid:key_id>/revoke",
        accounts_api.LabApiKeyRevokeApi.as_view(),
        name="api-lab-key-revoke",
    ),
    # a lab's keys and members, for its people (session)
    path("labs/<uuid:lab_id>/api-keys", api_labs.LabSessionKeyListApi.as_view(), name="api-lab-session-keys"),
    path(
        "labs/<uuid:lab_id>/api-keys/<uuid:key_id>/revoke",
        api_labs.LabSessionKeyRevokeApi.as_view(),
        name="api-lab-session-key-revoke",
    ),
    path("labs/<uuid:lab_id>/members", api_labs.LabMemberListApi.as_view(), name="api-lab-members"),
    path(
        "labs/<uuid:lab_id>/members/<uuid:user_id>",
        api_labs.LabMemberDetailApi.as_view(),
        name="api-lab-member",
    ),
    # a lab's projects
    path("projects", annotate_api.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<uuid:project_id>", annotate_api.ProjectDetailApi.as_view(), name="api-project"),
    path(
        "projects/<uuid:project_id>/progress",
        api_progress.ProjectProgressApi.as_view(),
        name="api-project-progress",
    ),
    path(
        "projects/<uuid:project_id>/export",
        api_exports.ProjectExportApi.as_view(),
        name="api-project-export",
    ),
    # batches
    path(
        "projects/<uuid:project_id>/batches",
        api_batches.ProjectBatchListApi.as_view(),
        name="api-project-batches",
    ),
    path(
        "projects/<uuid:project_id>/uploads/<path:idempotency_key>",
        api_batches.UploadProgressApi.as_view(),
        name="api-project-upload",
    ),
    path("batches/<uuid:batch_id>", api_batches.BatchDetailApi.as_view(), name="api-batch"),
    path("batches/<uuid:batch_id>/cancel", api_batches.BatchCancelApi.as_view(), name="api-batch-cancel"),
    # items
    path(
        "projects/<uuid:project_id>/items",
        api_items.ProjectItemListApi.as_view(),
        name="api-project-items",
    ),
    path(
        "projects/<uuid:project_id>/items/by-external-id/<path:external_id>",
        api_items.ProjectItemByExternalIdApi.as_view(),
        name="api-project-item-by-external-id",
    ),
    # webhooks
    path("webhooks", webhooks_api.WebhookListApi.as_view(), name="api-webhooks"),
    path("webhooks/<uuid:webhook_id>", webhooks_api.WebhookDetailApi.as_view(), name="api-webhook"),
    path(
        "webhooks/<uuid:webhook_id>/deliveries",
        webhooks_api.WebhookDeliveryListApi.as_view(),
        name="api-webhook-deliveries",
    ),
    path("webhooks/<uuid:webhook_id>/test", webhooks_api.WebhookTestApi.as_view(), name="api-webhook-test"),
    # the expert's queue
    path("queue/next", api_queue.QueueNextApi.as_view(), name="api-queue-next"),
    path("queue/projects", api_queue.QueueProjectListApi.as_view(), name="api-queue-projects"),
    path("queue/gold-review", api_queue.GoldReviewApi.as_view(), name="api-gold-review"),
    path(
        "queue/projects/<uuid:project_id>/guidelines",
        api_queue.QueueProjectGuidelinesApi.as_view(),
        name="api-queue-guidelines",
    ),
    path("assignments/<uuid:assignment_id>", api_queue.AssignmentDetailApi.as_view(), name="api-assignment"),
    path(
        "assignments/<uuid:assignment_id>/submit",
        api_queue.AssignmentSubmitApi.as_view(),
        name="api-assignment-submit",
    ),
    path(
        "assignments/<uuid:assignment_id>/extend",
        api_queue.AssignmentExtendApi.as_view(),
        name="api-assignment-extend",
    ),
    path(
        "assignments/<uuid:assignment_id>/skip",
        api_queue.AssignmentSkipApi.as_view(),
        name="api-assignment-skip",
    ),
    path(
        "assignments/<uuid:assignment_id>/report",
        api_queue.AssignmentReportApi.as_view(),
        name="api-assignment-report",
    ),
    path(
        "assignments/<uuid:assignment_id>/revise",
        api_my_labels.AssignmentReviseApi.as_view(),
        name="api-assignment-revise",
    ),
    path("me/labels", api_my_labels.MyLabelsApi.as_view(), name="api-my-labels"),
    # domains
    path("domains", experts_api.DomainListApi.as_view(), name="api-domains"),
    path("domains/<uuid:domain_id>", experts_api.DomainDetailApi.as_view(), name="api-domain"),
    # the logged-in expert
    path("me/profile", experts_api.ProfileApi.as_view(), name="api-profile"),
    path("me/credentials", experts_api.CredentialListApi.as_view(), name="api-credentials"),
    path(
        "me/credentials/<uuid:credential_id>",
        experts_api.CredentialDetailApi.as_view(),
        name="api-credential",
    ),
    path(
        "credentials/<uuid:credential_id>/evidence",
        experts_api.CredentialEvidenceApi.as_view(),
        name="api-credential-evidence",
    ),
    # staff
    path("staff/credentials", experts_api.StaffCredentialListApi.as_view(), name="api-staff-credentials"),
    path(
        "staff/credentials/<uuid:credential_id>",
        experts_api.StaffCredentialDetailApi.as_view(),
        name="api-staff-credential",
    ),
    path(
        "staff/credentials/<uuid:credential_id>/approve",
        experts_api.StaffCredentialApproveApi.as_view(),
        name="api-staff-credential-approve",
    ),
    path(
        "staff/credentials/<uuid:credential_id>/reject",
        experts_api.StaffCredentialRejectApi.as_view(),
        name="api-staff-credential-reject",
    ),
    path(
        "staff/credentials/<uuid:credential_id>/revoke",
        experts_api.StaffCredentialRevokeApi.as_view(),
        name="api-staff-credential-revoke",
    ),
    path(
        "staff/experts/eligible",
        experts_api.StaffEligibleExpertsApi.as_view(),
        name="api-staff-eligible-experts",
    ),
    # quality
    path(
        "projects/<uuid:project_id>/quality",
        quality_api.LabProjectQualityApi.as_view(),
        name="api-project-quality",
    ),
    path(
        "staff/projects/<uuid:project_id>/quality",
        quality_api.StaffProjectQualityApi.as_view(),
        name="api-staff-project-quality",
    ),
    path(
        "staff/projects/<uuid:project_id>/annotators",
        quality_api.StaffProjectAnnotatorsApi.as_view(),
        name="api-staff-project-annotators",
    ),
    path("staff/items/<uuid:item_id>", quality_api.StaffItemApi.as_view(), name="api-staff-item"),
    path("quality/suspensions", quality_actions_api.MySuspensionListApi.as_view(), name="api-my-suspensions"),
    path(
        "quality/suspensions/<uuid:suspension_id>/appeal",
        quality_actions_api.SuspensionAppealApi.as_view(),
        name="api-suspension-appeal",
    ),
    path(
        "staff/suspensions",
        quality_actions_api.StaffSuspensionListApi.as_view(),
        name="api-staff-suspensions",
    ),
    path(
        "staff/suspensions/<uuid:suspension_id>/decide",
        quality_actions_api.StaffSuspensionDecideApi.as_view(),
        name="api-staff-suspension-decide",
    ),
    path("staff/groups", quality_groups_api.StaffGroupListApi.as_view(), name="api-staff-groups"),
    path("staff/pipeline", backlog_views.StaffPipelineApi.as_view(), name="api-staff-pipeline"),
    path(
        "staff/groups/<uuid:group_id>/decide",
        quality_groups_api.StaffGroupDecideApi.as_view(),
        name="api-staff-group-decide",
    ),
    path(
        "staff/adjudication",
        quality_actions_api.StaffAdjudicationListApi.as_view(),
        name="api-staff-adjudication",
    ),
    path(
        "adjudication/<uuid:item_id>/decide",
        quality_actions_api.AdjudicationDecideApi.as_view(),
        name="api-adjudication-decide",
    ),
    # qualification exams
    path("exams", exams_api.ExamListApi.as_view(), name="api-exams"),
    path(
        "exams/<uuid:exam_id>/guidelines", exams_api.ExamGuidelinesApi.as_view(), name="api-exam-guidelines"
    ),
    path("exams/<uuid:exam_id>/attempts", exams_api.ExamAttemptStartApi.as_view(), name="api-exam-start"),
    path("exam-attempts/<uuid:attempt_id>", exams_api.ExamAttemptApi.as_view(), name="api-exam-attempt"),
    path(
        "exam-attempts/<uuid:attempt_id>/question",
        exams_api.ExamQuestionApi.as_view(),
        name="api-exam-question",
    ),
    path("exam-questions/<uuid:answer_id>/answer", exams_api.ExamAnswerApi.as_view(), name="api-exam-answer"),
    path(
        "projects/<uuid:project_id>/exams",
        exams_api.LabProjectExamListApi.as_view(),
        name="api-project-exams",
    ),
    path(
        "lab/exams/<uuid:exam_id>/attempts",
        exams_api.LabExamAttemptListApi.as_view(),
        name="api-lab-exam-attempts",
    ),
    path("staff/exams", exams_api.StaffExamListApi.as_view(), name="api-staff-exams"),
    path(
        "staff/exams/<uuid:exam_id>/attempts",
        exams_api.StaffExamAttemptListApi.as_view(),
        name="api-staff-exam-attempts",
    ),
    path(
        "staff/qualifications", exams_api.StaffQualificationListApi.as_view(), name="api-staff-qualifications"
    ),
    path(
        "staff/qualifications/<uuid:qualification_id>/revoke",
        exams_api.StaffQualificationRevokeApi.as_view(),
        name="api-staff-qualification-revoke",
    ),
]

# Who each endpoint serves: "public" (no auth), "person" (a logged-in person: their own
# objects), "lab" (a lab's API key: that lab's objects only), "staff".
ENDPOINT_AUDIENCE = {
    "api-signup": "public",
    "api-login": "public",
    "api-logout": "person",
    "api-password-change": "person",
    "api-password-reset": "public",
    "api-password-reset-confirm": "public",
    "api-me": "person",
    "api-lab": "lab",
    "api-lab-keys": "lab",
    "api-lab-key-revoke": "lab",
    "api-lab-session-keys": "person",
    "api-lab-session-key-revoke": "person",
    "api-lab-members": "person",
    "api-lab-member": "person",
    "api-projects": "lab",
    "api-project": "lab",
    "api-project-progress": "lab",
    "api-project-export": "lab",
    "api-project-batches": "lab",
    "api-batch": "lab",
    "api-project-upload": "lab",
    "api-batch-cancel": "lab",
    "api-project-items": "lab",
    "api-project-item-by-external-id": "lab",
    "api-webhooks": "lab",
    "api-webhook": "lab",
    "api-webhook-deliveries": "lab",
    "api-webhook-test": "lab",
    "api-queue-next": "person",
    "api-queue-projects": "person",
    "api-queue-guidelines": "person",
    "api-gold-review": "person",
    "api-assignment": "person",
    "api-assignment-submit": "person",
    "api-assignment-extend": "person",
    "api-assignment-skip": "person",
    "api-assignment-report": "person",
    "api-assignment-revise": "person",
    "api-my-labels": "person",
    "api-domains": "person",
    "api-domain": "staff",
    "api-profile": "person",
    "api-credentials": "person",
    "api-credential": "person",
    "api-credential-evidence": "person",
    "api-staff-credentials": "staff",
    "api-staff-credential": "staff",
    "api-staff-credential-approve": "staff",
    "api-staff-credential-reject": "staff",
    "api-staff-credential-revoke": "staff",
    "api-staff-eligible-experts": "staff",
    "api-project-quality": "lab",
    "api-staff-project-quality": "staff",
    "api-staff-project-annotators": "staff",
    "api-staff-item": "staff",
    "api-my-suspensions": "person",
    "api-suspension-appeal": "person",
    "api-staff-suspensions": "staff",
    "api-staff-suspension-decide": "staff",
    "api-staff-groups": "staff",
    "api-staff-pipeline": "staff",
    "api-staff-group-decide": "staff",
    "api-staff-adjudication": "staff",
    "api-adjudication-decide": "person",
    "api-exams": "person",
    "api-exam-guidelines": "person",
    "api-exam-start": "person",
    "api-exam-attempt": "person",
    "api-exam-question": "person",
    "api-exam-answer": "person",
    "api-project-exams": "lab",
    "api-lab-exam-attempts": "lab",
    "api-staff-exams": "staff",
    "api-staff-exam-attempts": "staff",
    "api-staff-qualifications": "staff",
    "api-staff-qualification-revoke": "staff",
}

# rewards keeps its routes and their audiences in one place (rewards/urls.py).
urlpatterns += rewards_urls.api_urlpatterns
ENDPOINT_AUDIENCE.update(rewards_urls.API_AUDIENCE)
urlpatterns += payouts_urls.api_urlpatterns
ENDPOINT_AUDIENCE.update(payouts_urls.API_AUDIENCE)
