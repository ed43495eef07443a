"""Payouts over REST and on the plain pages: the expert's payouts, staff's runs."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from rewards.payouts.models import PayoutRun
from rewards.payouts.services import payout_run_create, payout_run_execute
from rlhf_platform.accounts.models import User
from tests.factories import ExpertProfileFactory, StaffFactory, WalletFactory
from tests.payouts.conftest import TOKEN, key_of

pytestmark = pytest.mark.django_db


def _admin_client() -> APIClient:
    client = APIClient()
    client.force_login(StaffFactory(staff_role=User.StaffRole.ADMIN))
    return client


@pytest.fixture
def admins() -> tuple[APIClient, APIClient]:
    """Two admins: one starts a run, the other approves it (four eyes)."""
    return _admin_client(), _admin_client()


def test_admins_run_a_payout_and_the_expert_sees_it_with_its_hash(
    chain, earn, expert, expert_client, staff_client, admins
):
    WalletFactory(expert=expert, address=key_of(0).address)
    earn(expert, 3 * TOKEN)
    starter, approver = admins

    response = starter.post("/api/v1/staff/payouts/runs")

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending_approval"
    response = approver.post(f"/api/v1/staff/payouts/runs/{response.json()['id']}/approve")
    assert response.status_code == 200, response.json()
    run = response.json()
    assert run["status"] == "completed"
    (tx,) = run["transactions"]
    assert tx["status"] == "confirmed" and tx["recipients"] == 1
    mine = expert_client.get("/api/v1/me/payouts").json()["results"]
    assert [(p["amount"], p["status"], p["transaction"]["tx_hash"]) for p in mine] == [
        (str(3 * TOKEN), "paid", tx["tx_hash"])
    ]
    assert chain.token_balance(key_of(0).address) == 3 * TOKEN
    listed = staff_client.get("/api/v1/staff/payouts/runs").json()["results"]
    assert listed[0]["id"] == run["id"] and listed[0]["totals"] == {"paid": str(3 * TOKEN)}
    assert (
        staff_client.get(f"/api/v1/staff/payouts/runs/{run['id']}").json()["transactions"][0]["id"]
        == tx["id"]
    )


def test_a_second_run_while_one_runs_is_refused(chain, earn, admins, settings):
    settings.CHAIN_CONFIRMATIONS = 5
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(1).address)
    earn(expert, 2 * TOKEN)
    starter, approver = admins
    run_id = starter.post("/api/v1/staff/payouts/runs").json()["id"]
    assert approver.post(f"/api/v1/staff/payouts/runs/{run_id}/approve").json()["status"] == "running"
    response = starter.post("/api/v1/staff/payouts/runs")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "run_in_progress"


def test_failures_are_listed_and_retry_starts_a_new_run_that_pays(chain, earn, staff_client, admins):
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(2).address)
    earn(expert, 2 * TOKEN)
    # The payer cannot pay: its tokens are burned to the minter-less void first.
    balance = chain.token_balance(chain.payer.address)
    chain.token.functions.transfer(chain.w3.eth.accounts[3], balance).transact({"from": chain.payer.address})
    failed = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    assert failed.transactions.get().status == "failed"
    failures = staff_client.get("/api/v1/staff/payouts/failures").json()["results"]
    assert [f["run"] for f in failures] == [str(failed.pk)]

    chain.token.functions.transfer(chain.payer.address, balance).transact({"from": chain.w3.eth.accounts[3]})
    starter, approver = admins
    response = starter.post(f"/api/v1/staff/payouts/runs/{failed.pk}/retry")

    assert response.status_code == 200
    assert response.json()["id"] != str(failed.pk) and response.json()["status"] == "pending_approval"
    response = approver.post(f"/api/v1/staff/payouts/runs/{response.json()['id']}/approve")
    assert response.json()["status"] == "completed"
    assert chain.token_balance(key_of(2).address) == 2 * TOKEN


def test_staff_pages_list_runs_plan_and_approve_one(chain, earn, client):
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(3).address)
    earn(expert, 2 * TOKEN)
    starter, approver = (StaffFactory(staff_role=User.StaffRole.ADMIN) for _ in range(2))
    client.force_login(starter)
    assert client.post("/staff/payouts/").status_code == 200  # the confirmation step
    started = client.post("/staff/payouts/", {"confirm": "yes"})
    assert started.status_code == 302
    run = PayoutRun.objects.get()
    client.force_login(approver)
    assert client.post(f"/staff/payouts/{run.pk}/approve/", {"confirm": "yes"}).status_code == 302
    detail = client.get(started["Location"])
    assert detail.status_code == 200 and run.transactions.get().tx_hash.encode() in detail.content
    listing = client.get("/staff/payouts/")
    assert listing.status_code == 200 and str(chain.chain_id).encode() in listing.content


def test_the_expert_payouts_page_shows_the_transaction_hash(chain, earn, expert, client):
    WalletFactory(expert=expert, address=key_of(4).address)
    earn(expert, 2 * TOKEN)
    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    client.force_login(expert.user)
    page = client.get("/payouts/")
    assert page.status_code == 200 and run.transactions.get().tx_hash.encode() in page.content


def test_experts_cannot_reach_the_staff_pages(chain, expert, client):
    client.force_login(expert.user)
    assert client.get("/staff/payouts/").status_code == 403


def test_healthz_shows_the_chain_id(chain, client, staff_user):
    client.force_login(staff_user)  # the details are for staff
    body = client.get("/healthz").json()
    assert body["chain"]["ok"] is True
    assert body["chain"]["chain_id"] == chain.chain_id
    assert body["chain"]["state"] == "in memory, lost at restart"


def test_healthz_is_503_when_the_chain_id_is_not_the_expected_one(client, settings, staff_user):
    client.force_login(staff_user)  # the details are for staff
    from rewards.chain import chain_reset

    settings.CHAIN_RPC_URL = "http://127.0.0.1:1"  # nothing listens there
    settings.CHAIN_TOKEN_ADDRESS = "0x" + "11" * 20
    settings.CHAIN_PAYER_KEY = "0x" + "22" * 32
    chain_reset()
    try:
        body = client.get("/healthz")
    finally:
        chain_reset()
    assert body.status_code == 503
    assert body.json()["chain"]["ok"] is False and body.json()["chain"]["mode"] == "rpc"
