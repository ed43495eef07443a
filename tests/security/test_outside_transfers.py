"""A transaction sent with the payer's key outside the platform takes a payout's nonce: the
payout fails and its amount goes back to payable; reconciliation reports the outside transfer
until an admin acknowledges it with a reason (audited), and then agrees."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from rewards.ledger import ledger_payable_balances
from rewards.payouts import execution
from rewards.payouts.models import OutsideTransfer
from rewards.payouts.services import payout_run_create, payout_run_execute
from rlhf_platform.audit.models import AuditEvent
from tests.factories import ExpertProfileFactory, StaffFactory, WalletFactory
from tests.payouts.conftest import TOKEN, chain, earn, key_of  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def _reconcile() -> tuple[int, str]:
    try:
        call_command("payouts_reconcile")
    except SystemExit as exited:
        return exited.code, ""
    return 0, ""


@pytest.fixture
def outside_transfer(chain, earn):  # noqa: F811
    """A payout whose nonce a hand-made transfer of the payer's key took: (its hash, expert)."""
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(200).address)
    earn(expert, 2 * TOKEN)
    sent = {}

    def displace(name, tx):
        if name == "signed":
            data = chain.token.encode_abi("transfer", args=[key_of(201).address, 7 * TOKEN])
            raw, sent["hash"] = chain.sign(nonce=tx.nonce, data=data, gas=100_000)
            chain.send_raw(raw)

    with execution.step_hook(displace):
        run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    assert run.transactions.get().status == "failed"
    assert ledger_payable_balances() == {expert.pk: 2 * TOKEN}
    return sent["hash"], expert


def test_reconcile_agrees_once_an_admin_acknowledges_the_outside_transfer(outside_transfer, capsys):
    tx_hash, _expert = outside_transfer
    admin = StaffFactory(staff_role="admin")
    with pytest.raises(SystemExit) as exited:
        call_command("payouts_reconcile")
    assert exited.value.code == 1
    assert f"not in the ledger: {tx_hash}" in capsys.readouterr().out

    with pytest.raises(CommandError, match="required"):
        call_command("payouts_acknowledge_transfer", tx_hash, reason=" ", actor=admin.email)
    call_command(
        "payouts_acknowledge_transfer",
        tx_hash,
        reason="treasury top-up by hand (ticket 42)",
        actor=admin.email,
    )

    call_command("payouts_reconcile")  # exits 0
    out = capsys.readouterr().out
    assert "no differences" in out and "treasury top-up by hand (ticket 42)" in out
    event = AuditEvent.objects.get(action="payout.outside_transfer_acknowledge")
    assert event.actor == admin and event.data["tx_hash"] == tx_hash
    assert event.data["transfers"] == [{"receiver": key_of(201).address, "value": str(7 * TOKEN)}]


def test_staff_acknowledge_through_the_api_admins_only(outside_transfer, client):
    tx_hash, _expert = outside_transfer
    client.force_login(StaffFactory())  # a reviewer
    body = {"tx_hash": tx_hash, "reason": "manual refund"}
    refused = client.post("/api/v1/staff/payouts/outside-transfers", body, content_type="application/json")
    assert refused.status_code == 403
    assert client.get("/api/v1/staff/payouts/outside-transfers").json()["results"] == []

    client.force_login(StaffFactory(staff_role="admin"))
    response = client.post("/api/v1/staff/payouts/outside-transfers", body, content_type="application/json")

    assert response.status_code == 201, response.json()
    assert response.json()["reason"] == "manual refund"
    again = client.post("/api/v1/staff/payouts/outside-transfers", body, content_type="application/json")
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "already_acknowledged"
    listed = client.get("/api/v1/staff/payouts/outside-transfers").json()["results"]
    assert [row["tx_hash"] for row in listed] == [tx_hash.lower()]


def test_only_a_mined_transfer_from_the_payer_that_is_not_a_payout_can_be_acknowledged(
    chain,  # noqa: F811
    earn,  # noqa: F811
    client,
):
    client.force_login(StaffFactory(staff_role="admin"))
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(202).address)
    earn(expert, TOKEN)
    payout = payout_run_execute(run_id=payout_run_create(trigger="staff").pk).transactions.get()
    # The payer's key sending ether, not the token: nothing for reconciliation to explain.
    data = "0x"
    raw, ether_only = chain.sign(nonce=chain.nonce_pending(), data=data, gas=30_000)
    chain.send_raw(raw)

    def post(tx_hash):
        body = {"tx_hash": tx_hash, "reason": "?"}
        response = client.post(
            "/api/v1/staff/payouts/outside-transfers", body, content_type="application/json"
        )
        return response.status_code, response.json()["errors"][0]

    assert post(payout.tx_hash)[1]["code"] == "platform_transaction"
    status, error = post("0x" + "ab" * 32)
    assert (status, error["field"], error["code"]) == (400, "tx_hash", "not_found")
    assert post(ether_only)[1]["code"] == "no_payer_transfer"
    assert post("0x1234")[1]["field"] == "tx_hash"
    assert not OutsideTransfer.objects.exists()
