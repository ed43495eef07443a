"""The lab console's pages (``rlhf_platform/labconsole``), added to ``web_urls``.

| URL                                                       | name                  | who            |
| --------------------------------------------------------- | --------------------- | -------------- |
| ``/labs/``                                                | lab-console-index     | lab members    |
| ``/labs/<slug>/``                                         | lab-console           | lab members    |
| ``/labs/<slug>/projects/new/``                            | lab-project-new       | members (POST) |
| ``/labs/<slug>/schema-preview/`` (POST)                   | lab-schema-preview    | lab members    |
| ``/labs/<slug>/projects/<id>/``                           | lab-project           | lab members    |
| ``/labs/<slug>/projects/<id>/edit/``                      | lab-project-edit      | members (POST) |
| ``/labs/<slug>/projects/<id>/quality/``                   | lab-project-quality   | lab members    |
| ``/labs/<slug>/projects/<id>/export/?format=``            | lab-project-export    | lab members    |
| ``/labs/<slug>/projects/<id>/reward-policies/`` (POST)    | lab-reward-policy-new | lab owners     |
| ``/labs/<slug>/projects/<id>/upload/``                    | lab-batch-upload      | members (POST) |
| ``/labs/<slug>/projects/<id>/batches/<id>/``              | lab-batch             | lab members    |
| ``/labs/<slug>/projects/<id>/batches/<id>/status/``       | lab-batch-status      | lab members    |
| ``/labs/<slug>/projects/<id>/batches/<id>/cancel/`` (POST)| lab-batch-cancel      | lab members    |
| ``/labs/<slug>/members/``                                 | lab-members           | owners (POST)  |
| ``/labs/<slug>/members/<user id>/`` (POST)                | lab-member-change     | lab owners     |
| ``/labs/<slug>/webhooks/``                                | lab-webhooks          | owners (POST)  |
| ``/labs/<slug>/webhooks/<id>/`` (POST: pause, test...)    | lab-webhook-change    | lab owners     |
| ``/labs/<slug>/webhooks/deliveries/<id>/resend/`` (POST)  | lab-webhook-resend    | lab owners     |
"""

from django.urls import path

from rlhf_platform.labconsole import views, views_batches, views_lab, views_project

P = "labs/<slug:slug>/projects/<uuid:project_id>/"

web_urlpatterns = [
    path("labs/", views.console_index, name="lab-console-index"),
    path("labs/<slug:slug>/", views.lab_console, name="lab-console"),
    path("labs/<slug:slug>/projects/new/", views.project_new, name="lab-project-new"),
    path("labs/<slug:slug>/schema-preview/", views.schema_preview, name="lab-schema-preview"),
    path(P, views_project.project_detail, name="lab-project"),
    path(P + "edit/", views.project_edit, name="lab-project-edit"),
    path(P + "quality/", views_project.project_quality, name="lab-project-quality"),
    path(P + "export/", views_project.project_export, name="lab-project-export"),
    path(P + "reward-policies/", views_project.reward_policy_new, name="lab-reward-policy-new"),
    path(P + "exams/", views_project.exam_new, name="lab-exam-new"),
    path(P + "upload/", views_batches.batch_upload, name="lab-batch-upload"),
    path(P + "batches/<uuid:batch_id>/", views_batches.batch_detail, name="lab-batch"),
    path(P + "batches/<uuid:batch_id>/status/", views_batches.batch_status, name="lab-batch-status"),
    path(P + "batches/<uuid:batch_id>/cancel/", views_batches.batch_cancel_page, name="lab-batch-cancel"),
    path("labs/<slug:slug>/members/", views_lab.members, name="lab-members"),
    path("labs/<slug:slug>/members/<uuid:user_id>/", views_lab.member_change, name="lab-member-change"),
    path("labs/<slug:slug>/webhooks/", views_lab.webhooks, name="lab-webhooks"),
    path("labs/<slug:slug>/webhooks/<uuid:webhook_id>/", views_lab.webhook_change, name="lab-webhook-change"),
    path(
        "labs/<slug:slug>/webhooks/deliveries/<uuid:delivery_id>/resend/",
        views_lab.webhook_resend,
        name="lab-webhook-resend",
    ),
]
