"""The routes of rewards, included once from ``rlhf_platform/api_urls.py`` (under ``/api/v1/``)
and ``rlhf_platform/web_urls.py``.

| endpoint (``/api/v1/...``)                          | name                       | who          |
| --------------------------------------------------- | -------------------------- | ------------ |
| ``GET me/earnings``                                 | api-earnings               | an expert    |
| ``GET me/earnings/statement``                       | api-earnings-statement     | an expert    |
| ``GET lab/budget``                                  | api-lab-budget             | a lab key    |
| ``GET/POST projects/<id>/reward-policies``          | api-project-reward-policies| a lab key    |
| ``GET staff/budgets``                               | api-staff-budgets          | staff        |
| ``POST staff/labs/<id>/budget-credits``             | api-staff-budget-credit    | staff admins |
| ``GET staff/budget-credits`` (``?status=``)         | api-staff-budget-credits   | staff        |
| ``POST staff/budget-credits/<id>/approve``          | api-staff-budget-credit-approve | a second admin |
| ``POST staff/budget-credits/<id>/reject``           | api-staff-budget-credit-reject  | staff admins |
| ``GET/POST staff/projects/<id>/reward-policies``    | api-staff-reward-policies  | staff (POST: admins) |
| ``POST staff/labels/<id>/clawback``                 | api-staff-label-clawback   | staff admins |

Pages: ``/earnings/`` (earnings), ``/earnings/today/`` (earnings-progress: the labelling
page's counts and earnings of today, a fragment), ``/staff/budgets/`` (staff-budgets),
``/staff/budgets/<lab id>/credit/`` (POST, staff-budget-credit),
``/staff/budget-credits/<id>/approve/`` and ``.../reject/`` (POST, admins).
"""

from django.urls import path

from rewards import api, views

api_urlpatterns = [
    path("me/earnings", api.EarningsApi.as_view(), name="api-earnings"),
    path("me/earnings/statement", api.EarningsStatementApi.as_view(), name="api-earnings-statement"),
    path("lab/budget", api.LabBudgetApi.as_view(), name="api-lab-budget"),
    path(
        "projects/<uuid:project_id>/reward-policies",
        api.ProjectRewardPolicyListApi.as_view(),
        name="api-project-reward-policies",
    ),
    path("staff/budgets", api.StaffBudgetListApi.as_view(), name="api-staff-budgets"),
    path(
        "staff/labs/<uuid:lab_id>/budget-credits",
        api.StaffBudgetCreditApi.as_view(),
        name="api-staff-budget-credit",
    ),
    path("staff/budget-credits", api.StaffBudgetCreditListApi.as_view(), name="api-staff-budget-credits"),
    path(
        "staff/budget-credits/<uuid:credit_id>/approve",
        api.StaffBudgetCreditApproveApi.as_view(),
        name="api-staff-budget-credit-approve",
    ),
    path(
        "staff/budget-credits/<uuid:credit_id>/reject",
        api.StaffBudgetCreditRejectApi.as_view(),
        name="api-staff-budget-credit-reject",
    ),
    path(
        "staff/projects/<uuid:project_id>/reward-policies",
        api.StaffRewardPolicyListApi.as_view(),
        name="api-staff-reward-policies",
    ),
    path(
        "staff/labels/<uuid:label_id>/clawback",
        api.StaffLabelClawbackApi.as_view(),
        name="api-staff-label-clawback",
    ),
]

API_AUDIENCE = {
    "api-earnings": "person",
    "api-earnings-statement": "person",
    "api-lab-budget": "lab",
    "api-project-reward-policies": "lab",
    "api-staff-budgets": "staff",
    "api-staff-budget-credit": "staff",
    "api-staff-budget-credits": "staff",
    "api-staff-budget-credit-approve": "staff",
    "api-staff-budget-credit-reject": "staff",
    "api-staff-reward-policies": "staff",
    "api-staff-label-clawback": "staff",
}

web_urlpatterns = [
    path("earnings/", views.earnings, name="earnings"),
    path("earnings/today/", views.earnings_progress, name="earnings-progress"),
    path("staff/budgets/", views.staff_budgets, name="staff-budgets"),
    path("staff/budgets/<uuid:lab_id>/credit/", views.staff_budget_credit, name="staff-budget-credit"),
    path(
        "staff/budget-credits/<uuid:credit_id>/approve/",
        views.staff_budget_credit_approve,
        name="staff-budget-credit-approve",
    ),
    path(
        "staff/budget-credits/<uuid:credit_id>/reject/",
        views.staff_budget_credit_reject,
        name="staff-budget-credit-reject",
    ),
]
