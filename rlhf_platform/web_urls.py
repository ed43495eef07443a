"""HTML pages (server-rendered, templates in ``frontend_templates/``).

| URL                                               | name                     | who         |
| ------------------------------------------------- | ------------------------ | ----------- |
| ``/``                                             | home                     | anyone      |
| ``/signup/``                                      | signup                   | visitors    |
| ``/login/``, ``/logout/`` (POST)                  | login, logout            | anyone      |
| ``/password/change/``                             | password-change          | a person    |
| ``/password/reset/``                              | password-reset           | anyone      |
| ``/password/reset/<uidb64>/<token>/``             | password-reset-confirm   | a reset link|
| ``/profile/``                                     | profile                  | a person    |
| ``/credentials/new/``                             | credential-new           | a person    |
| ``/label/`` (``?project=<id>``)                   | label                    | an expert   |
| ``/label/gold-review/``                           | gold-review              | an expert   |
| ``/exams/``                                       | exams                    | an expert   |
| ``/exams/<id>/start/`` (POST)                     | exam-start               | an expert   |
| ``/exams/attempts/<id>/``                         | exam-take                | an expert   |
| ``/me/quality/``                                  | my-quality               | an expert   |
| ``/me/labels/`` (``?project=<id>&page=``)         | my-labels                | an expert   |
| ``/me/labels/<assignment id>/`` (GET, POST)       | my-label                 | the expert  |
| ``/inbox/``                                       | inbox                    | a person    |
| ``/inbox/<id>/read/``, ``/inbox/read-all/`` (POST)| inbox-read, -read-all    | a person    |
| ``/inbox/<id>/open/`` (POST: read, then its page) | inbox-open               | a person    |
| ``/suspensions/``                                 | suspensions              | a person    |
| ``/suspensions/<id>/appeal/`` (POST)              | suspension-appeal        | the expert  |
| ``/staff/credentials/``                           | staff-queue              | reviewers   |
| ``/staff/quality/``                               | quality-projects         | reviewers   |
| ``/staff/quality/live/`` (its table, ``?page=``)  | quality-projects-live    | reviewers   |
| ``/staff/quality/projects/<id>/``                 | quality-project          | reviewers   |
| ``/staff/quality/projects/<id>/live/`` (its parts)| quality-project-live     | reviewers   |
| ``/staff/quality/projects/<id>/charts/``          | quality-project-charts   | reviewers   |
| ``/staff/quality/items/<uid>/``                   | quality-item             | reviewers   |
| ``/staff/adjudication/`` (``?project=<id>``)      | staff-adjudication       | reviewers   |
| ``/staff/adjudication/<uid>/`` (GET, POST)        | staff-adjudication-item  | reviewers   |
| ``/staff/appeals/``                               | staff-appeals            | reviewers   |
| ``/staff/appeals/<id>/decide/`` (POST)            | staff-appeal-decide      | reviewers   |
| ``/staff/groups/`` (``?status=``)                 | staff-groups             | reviewers   |
| ``/staff/groups/<id>/decide/`` (POST)             | staff-group-decide       | reviewers   |
| ``/staff/pipeline/``                              | staff-pipeline           | reviewers   |
| ``/staff/pipeline/live/`` (its table)             | staff-pipeline-live      | reviewers   |
| ``/staff/credentials/<id>/``                      | staff-credential         | reviewers   |
| ``/staff/credentials/<id>/approve/`` (POST)       | staff-credential-approve | reviewers   |
| ``/staff/credentials/<id>/reject/`` (POST)        | staff-credential-reject  | reviewers   |
| ``/staff/credentials/<id>/revoke/`` (POST)        | staff-credential-revoke  | reviewers   |
| ``/labs/<slug>/keys/``                            | lab-keys                 | lab members |
| ``/labs/<slug>/keys/<id>/revoke/`` (POST)         | lab-key-revoke           | lab owners  |
| ``/labs/``, ``/labs/<slug>/...``                  | the lab console (labconsole) | lab members |

The evidence links on these pages point at the REST endpoint
``/api/v1/credentials/<id>/evidence``, which serves the file to its owner and to staff only.
"""

from django.urls import path

from annotate import views as annotate_views
from annotate import views_my_labels as my_labels_views
from annotate.qualification import views as exam_views
from annotate.quality import views as quality_views
from annotate.quality import views_adjudication as adjudication_views
from annotate.quality import views_appeals as appeal_views
from annotate.quality import views_groups as group_views
from annotate.quality import views_me as my_quality_views
from rewards import urls as rewards_urls
from rewards.payouts import urls as payouts_urls
from rlhf_platform.accounts import views as accounts_views
from rlhf_platform.accounts import views_inbox as inbox_views
from rlhf_platform.accounts import views_passwords as password_views
from rlhf_platform.core import backlog_views
from rlhf_platform.experts import views as experts_views
from rlhf_platform.labconsole import urls as labconsole_urls

urlpatterns = [
    path("", accounts_views.home, name="home"),
    path("signup/", accounts_views.signup, name="signup"),
    path("login/", accounts_views.EmailLoginView.as_view(), name="login"),
    path("logout/", accounts_views.AuditedLogoutView.as_view(), name="logout"),
    path("password/change/", password_views.password_change, name="password-change"),
    path("password/reset/", password_views.password_reset_request, name="password-reset"),
    path(
        "password/reset/<str:uidb64>/<str:token>/",
        password_views.password_reset_confirm,
        name="password-reset-confirm",
    ),
    path("profile/", experts_views.profile, name="profile"),
    path("credentials/new/", experts_views.credential_new, name="credential-new"),
    path("label/", annotate_views.label, name="label"),
    path("label/gold-review/", annotate_views.gold_review_page, name="gold-review"),
    path("exams/", exam_views.exam_list, name="exams"),
    path("exams/<uuid:exam_id>/start/", exam_views.exam_start, name="exam-start"),
    path("exams/attempts/<uuid:attempt_id>/", exam_views.exam_take, name="exam-take"),
    path("me/quality/", my_quality_views.my_quality, name="my-quality"),
    path("me/labels/", my_labels_views.my_labels, name="my-labels"),
    path("me/labels/<uuid:assignment_id>/", my_labels_views.my_label, name="my-label"),
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("inbox/<int:notification_id>/read/", inbox_views.inbox_mark_read, name="inbox-read"),
    path("inbox/<int:notification_id>/open/", inbox_views.inbox_open, name="inbox-open"),
    path("inbox/read-all/", inbox_views.inbox_mark_all_read, name="inbox-read-all"),
    path("suspensions/", appeal_views.my_suspensions, name="suspensions"),
    path(
        "suspensions/<uuid:suspension_id>/appeal/",
        appeal_views.my_suspension_appeal,
        name="suspension-appeal",
    ),
    path("staff/credentials/", experts_views.staff_queue, name="staff-queue"),
    path("staff/quality/", quality_views.quality_projects, name="quality-projects"),
    path("staff/quality/live/", quality_views.quality_projects_live, name="quality-projects-live"),
    path("staff/quality/projects/<uuid:project_id>/", quality_views.quality_project, name="quality-project"),
    path(
        "staff/quality/projects/<uuid:project_id>/live/",
        quality_views.quality_project_live,
        name="quality-project-live",
    ),
    path(
        "staff/quality/projects/<uuid:project_id>/charts/",
        quality_views.quality_project_charts,
        name="quality-project-charts",
    ),
    path("staff/quality/items/<uuid:item_id>/", quality_views.quality_item, name="quality-item"),
    path("staff/adjudication/", adjudication_views.adjudication_queue, name="staff-adjudication"),
    path(
        "staff/adjudication/<uuid:item_id>/",
        adjudication_views.adjudication_item,
        name="staff-adjudication-item",
    ),
    path("staff/appeals/", appeal_views.staff_appeals, name="staff-appeals"),
    path(
        "staff/appeals/<uuid:suspension_id>/decide/",
        appeal_views.staff_appeal_decide,
        name="staff-appeal-decide",
    ),
    path("staff/groups/", group_views.staff_groups_page, name="staff-groups"),
    path("staff/groups/<uuid:group_id>/decide/", group_views.staff_group_decide, name="staff-group-decide"),
    path("staff/pipeline/", backlog_views.staff_pipeline, name="staff-pipeline"),
    path("staff/pipeline/live/", backlog_views.staff_pipeline_live, name="staff-pipeline-live"),
    path("staff/credentials/<uuid:credential_id>/", experts_views.staff_credential, name="staff-credential"),
    path(
        "staff/credentials/<uuid:credential_id>/approve/",
        experts_views.staff_credential_approve,
        name="staff-credential-approve",
    ),
    path(
        "staff/credentials/<uuid:credential_id>/reject/",
        experts_views.staff_credential_reject,
        name="staff-credential-reject",
    ),
    path(
        "staff/credentials/<uuid:credential_id>/revoke/",
        experts_views.staff_credential_revoke,
        name="staff-credential-revoke",
    ),
    path("labs/<slug:slug>/keys/", accounts_views.lab_keys, name="lab-keys"),
    path(
        "labs/<slug:slug>/keys/<uuid:key_id>/revoke/",
        accounts_views.lab_key_revoke,
        name="lab-key-revoke",
    ),
]

# the lab console: /labs/, /labs/<slug>/... (see rlhf_platform/labconsole/urls.py).
urlpatterns += labconsole_urls.web_urlpatterns
# rewards: /earnings/, /staff/budgets/ (see rewards/urls.py).
urlpatterns += rewards_urls.web_urlpatterns
# payouts: /wallet/, /payouts/, /staff/payouts/ (see rewards/payouts/urls.py).
urlpatterns += payouts_urls.web_urlpatterns
