"""The payouts app's routes and their audiences, in one place: ``api_urlpatterns`` (under
``/api/v1/``, added by ``rlhf_platform.api_urls`` with ``API_AUDIENCE``) and ``web_urlpatterns``
(pages, added by ``rlhf_platform.web_urls``)."""

from django.urls import path

from rewards.payouts import api, chain_api, views

api_urlpatterns = [
    # the logged-in expert
    path("me/wallet", api.WalletApi.as_view(), name="api-wallet"),
    path("me/wallet/message", api.WalletMessageApi.as_view(), name="api-wallet-message"),
    path("me/wallet/link", api.WalletLinkApi.as_view(), name="api-wallet-link"),
    path("me/payouts", api.MyPayoutListApi.as_view(), name="api-my-payouts"),
    # staff
    path("staff/payouts/runs", api.StaffPayoutRunListApi.as_view(), name="api-staff-payout-runs"),
    path(
        "staff/payouts/runs/<uuid:run_id>", api.StaffPayoutRunDetailApi.as_view(), name="api-staff-payout-run"
    ),
    path(
        "staff/payouts/runs/<uuid:run_id>/retry",
        api.StaffPayoutRunRetryApi.as_view(),
        name="api-staff-payout-run-retry",
    ),
    path(
        "staff/payouts/runs/<uuid:run_id>/approve",
        api.StaffPayoutRunApproveApi.as_view(),
        name="api-staff-payout-run-approve",
    ),
    path(
        "staff/payouts/runs/<uuid:run_id>/cancel",
        api.StaffPayoutRunCancelApi.as_view(),
        name="api-staff-payout-run-cancel",
    ),
    path("staff/payouts/failures", api.StaffPayoutFailureListApi.as_view(), name="api-staff-payout-failures"),
    path("staff/payouts/chain", chain_api.StaffPayoutChainApi.as_view(), name="api-staff-payout-chain"),
    path(
        "staff/payouts/chain/rebind",
        chain_api.StaffPayoutChainRebindApi.as_view(),
        name="api-staff-payout-chain-rebind",
    ),
    path(
        "staff/payouts/outside-transfers",
        chain_api.StaffOutsideTransferListApi.as_view(),
        name="api-staff-payout-outside-transfers",
    ),
]

API_AUDIENCE = {
    "api-wallet": "person",
    "api-wallet-message": "person",
    "api-wallet-link": "person",
    "api-my-payouts": "person",
    "api-staff-payout-runs": "staff",
    "api-staff-payout-run": "staff",
    "api-staff-payout-run-retry": "staff",
    "api-staff-payout-run-approve": "staff",
    "api-staff-payout-run-cancel": "staff",
    "api-staff-payout-failures": "staff",
    "api-staff-payout-chain": "staff",
    "api-staff-payout-chain-rebind": "staff",
    "api-staff-payout-outside-transfers": "staff",
}

# | URL                                   | name                | who      |
# | ``/wallet/``                          | wallet              | a person |
# | ``/payouts/``                         | my-payouts          | a person |
# | ``/staff/payouts/``                   | staff-payouts       | staff    |
# | ``/staff/payouts/<id>/``              | staff-payout-run    | staff    |
# | ``/staff/payouts/<id>/approve/`` POST | staff-payout-run-approve | admins |
# | ``/staff/payouts/<id>/cancel/`` POST  | staff-payout-run-cancel  | admins |
web_urlpatterns = [
    path("wallet/", views.wallet, name="wallet"),
    path("payouts/", views.my_payouts, name="my-payouts"),
    path("staff/payouts/", views.staff_payouts, name="staff-payouts"),
    path("staff/payouts/<uuid:run_id>/", views.staff_payout_run, name="staff-payout-run"),
    path(
        "staff/payouts/<uuid:run_id>/approve/",
        views.staff_payout_run_approve,
        name="staff-payout-run-approve",
    ),
    path(
        "staff/payouts/<uuid:run_id>/cancel/", views.staff_payout_run_cancel, name="staff-payout-run-cancel"
    ),
]
