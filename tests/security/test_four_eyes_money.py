"""Four eyes on money: a budget credit above a threshold, and every payout run a person starts,
move tokens only when a second admin approves what the first asked for; a scheduled run pays
unattended only within a configured cap."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from rewards.credits import budget_credit, budget_credit_approve
from rewards.models import BudgetCredit, LedgerTransaction
from rewards.payouts.models import PayoutLine, PayoutRun
from rewards.payouts.services import payout_run_create, payout_run_execute
from rewards.payouts.tasks import payout_run_scheduled_task
from rlhf_platform.accounts.models import User
from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.core.exceptions import ApplicationError
from tests.factories import ExpertProfileFactory, LabFactory, StaffFactory, WalletFactory
from tests.payouts.conftest import TOKEN, chain, earn, key_of  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _admin() -> User:
    return StaffFactory(staff_role=User.StaffRole.ADMIN)


def _code(response) -> str:
    return response.json()["errors"][0]["code"]


# --- Budget credits ---------------------------------------------------------------------------


@pytest.fixture
def threshold(settings):
    settings.BUDGET_CREDIT_APPROVAL_THRESHOLD = 100 * TOKEN
    return 100 * TOKEN


def test_a_credit_at_or_below_the_threshold_posts_at_once(threshold):
    lab = LabFactory()
    credit, created = budget_credit(lab=lab, amount=threshold, actor=_admin(), memo="invoice 1")
    assert created and credit.status == BudgetCredit.Status.POSTED
    assert int(credit.transaction.amount) == threshold


def test_a_credit_above_the_threshold_waits_for_a_second_admin(threshold):
    lab, requester, approver = LabFactory(), _admin(), _admin()
    credit, _ = budget_credit(lab=lab, amount=threshold + 1, actor=requester, memo="invoice 2")
    assert credit.status == BudgetCredit.Status.PENDING_APPROVAL
    assert not LedgerTransaction.objects.filter(kind="budget_credit").exists()

    with pytest.raises(ApplicationError) as refused:
        budget_credit_approve(credit=credit, actor=requester)
    assert (refused.value.code, refused.value.status_code) == ("four_eyes_same_person", 403)
    assert not LedgerTransaction.objects.filter(kind="budget_credit").exists()

    credit = budget_credit_approve(credit=credit, actor=approver)
    assert credit.status == BudgetCredit.Status.POSTED and credit.approved_by == approver
    txn = LedgerTransaction.objects.get(kind="budget_credit")
    assert int(txn.amount) == threshold + 1
    assert txn.data["requested_by"] == str(requester.pk) and txn.data["approved_by"] == str(approver.pk)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"budget.credit_request", "budget.credit_approve", "budget.credit"} <= actions


def test_small_credits_to_one_lab_add_up_against_the_threshold(threshold):
    lab, admin = LabFactory(), _admin()
    first, _ = budget_credit(lab=lab, amount=threshold // 2 + 1, actor=admin)
    second, _ = budget_credit(lab=lab, amount=threshold // 2 + 1, actor=admin)
    assert first.status == BudgetCredit.Status.POSTED
    assert second.status == BudgetCredit.Status.PENDING_APPROVAL


def test_a_reviewer_cannot_approve_a_credit(threshold):
    credit, _ = budget_credit(lab=LabFactory(), amount=threshold + 1, actor=_admin())
    with pytest.raises(ApplicationError) as refused:
        budget_credit_approve(credit=credit, actor=StaffFactory())
    assert refused.value.code == "permission_denied"


def test_the_api_and_the_page_show_and_approve_a_pending_credit(threshold, client):
    lab, requester, approver = LabFactory(), _admin(), _admin()
    body = {"amount": str(threshold + 5), "memo": "invoice 9", "idempotency_key": "inv-9"}
    url = f"/api/v1/staff/labs/{lab.pk}/budget-credits"
    response = _client(requester).post(url, body, format="json")
    assert response.status_code == 201 and response.json()["status"] == "pending_approval"
    assert _client(requester).post(url, body, format="json").status_code == 200
    credit_id = response.json()["id"]

    pending = _client(approver).get("/api/v1/staff/budget-credits?status=pending_approval").json()
    assert [row["id"] for row in pending["results"]] == [credit_id]
    client.force_login(approver)
    assert credit_id.encode() in client.get("/staff/budgets/").content

    same = _client(requester).post(f"/api/v1/staff/budget-credits/{credit_id}/approve")
    assert same.status_code == 403 and _code(same) == "four_eyes_same_person"
    approved = _client(approver).post(f"/api/v1/staff/budget-credits/{credit_id}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "posted"
    again = _client(approver).post(f"/api/v1/staff/budget-credits/{credit_id}/approve")
    assert again.status_code == 409
    assert LedgerTransaction.objects.filter(kind="budget_credit").count() == 1


def test_a_pending_credit_can_be_rejected_and_posts_nothing(threshold, client):
    credit, _ = budget_credit(lab=LabFactory(), amount=threshold + 1, actor=_admin())
    client.force_login(_admin())
    response = client.post(f"/staff/budget-credits/{credit.pk}/reject/", {"reason": "no invoice"})
    assert response.status_code == 302
    credit.refresh_from_db()
    assert credit.status == BudgetCredit.Status.REJECTED
    assert not LedgerTransaction.objects.filter(kind="budget_credit").exists()


# --- Payout runs ------------------------------------------------------------------------------


def test_a_payout_run_an_admin_starts_waits_for_another_admins_approval(chain, earn):  # noqa: F811
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(20).address)
    earn(expert, 3 * TOKEN)
    requester, approver = _admin(), _admin()

    started = _client(requester).post("/api/v1/staff/payouts/runs")
    assert started.status_code == 201, started.json()
    run = started.json()
    assert run["status"] == "pending_approval" and run["requested_by"] == requester.email
    assert chain.token_balance(key_of(20).address) == 0

    same = _client(requester).post(f"/api/v1/staff/payouts/runs/{run['id']}/approve")
    assert same.status_code == 403 and _code(same) == "four_eyes_same_person"
    approved = _client(approver).post(f"/api/v1/staff/payouts/runs/{run['id']}/approve")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "completed" and approved.json()["approved_by"] == approver.email
    assert chain.token_balance(key_of(20).address) == 3 * TOKEN
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"payout.run_request", "payout.run_approve"} <= actions


def test_a_pending_run_blocks_a_second_and_can_be_cancelled(chain, earn):  # noqa: F811
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(21).address)
    earn(expert, 2 * TOKEN)
    admin = _admin()
    run_id = _client(admin).post("/api/v1/staff/payouts/runs").json()["id"]
    second = _client(_admin()).post("/api/v1/staff/payouts/runs")
    assert second.status_code == 409 and _code(second) == "run_awaiting_approval"

    cancelled = _client(admin).post(f"/api/v1/staff/payouts/runs/{run_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert set(PayoutLine.objects.filter(run_id=run_id).values_list("status", flat=True)) == {"dropped"}
    assert _client(admin).post("/api/v1/staff/payouts/runs").status_code == 201


def test_a_scheduled_run_above_the_cap_waits_for_approval(chain, earn, settings):  # noqa: F811
    settings.PAYOUT_UNATTENDED_MAX_TOTAL = 2 * TOKEN
    settings.REDIS_URL = ""  # the in-process chain is this process's: the task may pay on it
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(22).address)
    earn(expert, 3 * TOKEN)
    payout_run_scheduled_task()
    run = PayoutRun.objects.get()
    assert run.status == PayoutRun.Status.PENDING_APPROVAL
    assert chain.token_balance(key_of(22).address) == 0
    approved = _client(_admin()).post(f"/api/v1/staff/payouts/runs/{run.pk}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "completed"


def test_a_scheduled_run_within_the_cap_pays_at_once(chain, earn, settings):  # noqa: F811
    settings.PAYOUT_UNATTENDED_MAX_TOTAL = 5 * TOKEN
    settings.REDIS_URL = ""  # the in-process chain is this process's: the task may pay on it
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(23).address)
    earn(expert, 3 * TOKEN)
    payout_run_scheduled_task()
    assert PayoutRun.objects.get().status == PayoutRun.Status.COMPLETED
    assert chain.token_balance(key_of(23).address) == 3 * TOKEN


def test_retrying_a_failed_run_plans_a_new_run_for_approval(chain, earn):  # noqa: F811
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(24).address)
    earn(expert, 2 * TOKEN)
    balance = chain.token_balance(chain.payer.address)
    chain.token.functions.transfer(chain.w3.eth.accounts[3], balance).transact({"from": chain.payer.address})
    failed = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    chain.token.functions.transfer(chain.payer.address, balance).transact({"from": chain.w3.eth.accounts[3]})

    requester = _admin()
    retried = _client(requester).post(f"/api/v1/staff/payouts/runs/{failed.pk}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "pending_approval"
    approved = _client(_admin()).post(f"/api/v1/staff/payouts/runs/{retried.json()['id']}/approve")
    assert approved.json()["status"] == "completed"
    assert chain.token_balance(key_of(24).address) == 2 * TOKEN


def test_the_staff_payouts_page_shows_a_pending_run_with_its_approval(chain, earn, client):  # noqa: F811
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(25).address)
    earn(expert, 2 * TOKEN)
    requester, approver = _admin(), _admin()
    client.force_login(requester)
    started = client.post("/staff/payouts/", {"confirm": "yes"})
    assert started.status_code == 302
    run = PayoutRun.objects.get()
    assert run.status == PayoutRun.Status.PENDING_APPROVAL
    assert b"pending_approval" in client.get(started["Location"]).content.replace(b" ", b"_")
    refused = client.post(f"/staff/payouts/{run.pk}/approve/", {"confirm": "yes"})
    assert refused.status_code == 302
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.PENDING_APPROVAL
    client.force_login(approver)
    assert client.post(f"/staff/payouts/{run.pk}/approve/", {"confirm": "yes"}).status_code == 302
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.COMPLETED and run.approved_by == approver


def test_reviewers_see_payout_runs_but_get_no_button_to_start_one(chain, client):  # noqa: F811
    client.force_login(StaffFactory())
    page = client.get("/staff/payouts/")
    assert page.status_code == 200 and b'id="run-now"' not in page.content
    assert client.post("/staff/payouts/").status_code == 403
    client.force_login(_admin())
    assert b'id="run-now"' in client.get("/staff/payouts/").content
