"""Each expert hears of their payout: sent, confirmed, or failed and back to payable, in the inbox
and live, once per state, even when the run crashed and was resumed at any step."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.management import call_command
from django.test import Client

from rewards.payouts import execution
from rewards.payouts.models import PayoutLine, PayoutRun, PayoutTransaction
from rewards.payouts.services import payout_run_create, payout_run_execute
from rlhf_platform.accounts import notifications
from rlhf_platform.accounts.models import Notification
from rlhf_platform.accounts.notifications import user_group
from tests.factories import ExpertProfileFactory, WalletFactory
from tests.payouts.conftest import TOKEN, key_of
from tests.payouts.test_payout_runs import Crash, _drain_payer_through_an_allowance
from tests.security.test_chain_reset import admin, reset_node  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(monkeypatch):
    sent = []
    monkeypatch.setattr(notifications, "_send", lambda group, event: sent.append((group, event)))
    return sent


def _experts(earn, amounts):
    experts = []
    for i, amount in enumerate(amounts):
        expert = ExpertProfileFactory()
        WalletFactory(expert=expert, address=key_of(i).address)
        earn(expert, amount)
        experts.append(expert)
    return experts


def _kinds(expert) -> list[str]:
    return list(
        Notification.objects.filter(user_id=expert.user_id, kind__startswith="payout.")
        .order_by("created_at", "id")
        .values_list("kind", flat=True)
    )


def test_a_paid_run_tells_each_expert_sent_then_confirmed_in_tokens_with_a_link(
    chain, earn, pushed, django_capture_on_commit_callbacks
):
    experts = _experts(earn, [3 * TOKEN, 5 * TOKEN // 2])

    with django_capture_on_commit_callbacks(execute=True):
        run = payout_run_execute(run_id=payout_run_create(trigger=PayoutRun.Trigger.STAFF).pk)

    assert run.status == PayoutRun.Status.COMPLETED
    for expert, shown in zip(experts, ["3.00", "2.50"], strict=True):
        assert _kinds(expert) == ["payout.sent", "payout.confirmed"]
        line = PayoutLine.objects.get(expert=expert)
        confirmed = Notification.objects.get(user_id=expert.user_id, kind="payout.confirmed")
        assert f"{shown} tokens" in confirmed.message and "confirmed" in confirmed.message
        assert confirmed.link == f"/payouts/#payout-{line.pk}"
        assert confirmed.data["payout"] == str(line.pk) and confirmed.data["tx_hash"]
        # pushed live to that expert only, after commit, with the unread count
        live = [
            event
            for group, event in pushed
            if group == user_group(expert.user_id) and event["type"].startswith("payout.")
        ]
        assert [event["type"] for event in live] == ["payout.sent", "payout.confirmed"]
        assert live[-1]["notification"] == confirmed.pk and live[-1]["unread"] == 2

    # the inbox page lists it; opening it leads to the payout's row on the expert's payouts page
    client = Client()
    client.force_login(experts[0].user)
    assert "3.00 tokens to your wallet" in client.get("/inbox/").content.decode()
    confirmed = Notification.objects.get(user_id=experts[0].user_id, kind="payout.confirmed")
    opened = client.post(f"/inbox/{confirmed.pk}/open/")
    line = PayoutLine.objects.get(expert=experts[0])
    assert opened.status_code == 302 and opened["Location"] == f"/payouts/#payout-{line.pk}"
    assert f'id="payout-{line.pk}"' in client.get("/payouts/").content.decode()


@pytest.mark.parametrize("step", ["signed", "sent", "broadcast", "mined", "settled", "confirmed"])
def test_a_crash_then_resumes_tell_each_expert_each_state_once(chain, earn, settings, step):
    """Two transactions (batch size 2, three experts); the crash hits the first occurrence of
    ``step``; three resumes follow."""
    settings.PAYOUT_BATCH_SIZE = 2
    experts = _experts(earn, [3 * TOKEN, 5 * TOKEN, 7 * TOKEN])
    run = payout_run_create(trigger="staff")
    seen = Counter()

    def crash(name, obj):
        seen[name] += 1
        if name == step and seen[name] == 1:
            raise Crash(name)

    with execution.step_hook(crash):
        with pytest.raises(Crash):
            payout_run_execute(run_id=run.pk)
    for _ in range(3):
        payout_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == PayoutRun.Status.COMPLETED
    for expert in experts:
        assert _kinds(expert) == ["payout.sent", "payout.confirmed"], step


def test_a_reverted_payout_tells_the_expert_it_failed_and_the_amount_is_payable_again(chain, earn):
    (expert,) = _experts(earn, [2 * TOKEN])
    drain = _drain_payer_through_an_allowance(chain)

    def after_signing(name, obj):
        if name == "signed":
            drain()

    with execution.step_hook(after_signing):
        run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)

    assert run.transactions.get().status == PayoutTransaction.Status.REVERTED
    assert _kinds(expert) == ["payout.sent", "payout.failed"]
    failed = Notification.objects.get(user_id=expert.user_id, kind="payout.failed")
    assert "2.00 tokens" in failed.message and "back in your payable balance" in failed.message


def test_a_batch_never_signed_tells_nobody(chain, earn):
    (expert,) = _experts(earn, [2 * TOKEN])
    _drain_payer_through_an_allowance(chain)()

    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)

    assert run.transactions.get().status == PayoutTransaction.Status.FAILED
    assert _kinds(expert) == []


def test_payouts_lost_with_a_reset_chain_are_told_as_failed_then_paid_again(
    chain,
    earn,
    reset_node,  # noqa: F811
    admin,  # noqa: F811
    settings,
):
    settings.CHAIN_CONFIRMATIONS = 3
    (paid,) = _experts(earn, [2 * TOKEN])
    done = payout_run_create(trigger="staff")
    payout_run_execute(run_id=done.pk)
    chain.tester.mine_blocks(2)
    payout_run_execute(run_id=done.pk)
    flying = ExpertProfileFactory()
    WalletFactory(expert=flying, address=key_of(1).address)
    earn(flying, 5 * TOKEN)
    payout_run_execute(run_id=payout_run_create(trigger="staff").pk)  # broadcast, not confirmed
    assert _kinds(paid) == ["payout.sent", "payout.confirmed"] and _kinds(flying) == ["payout.sent"]

    reset_node()
    settings.CHAIN_CONFIRMATIONS = 1
    call_command("payouts_chain_rebind", genesis=chain.genesis_hash(), actor=admin.email)

    assert _kinds(paid) == ["payout.sent", "payout.confirmed", "payout.failed"]
    assert _kinds(flying) == ["payout.sent", "payout.failed"]
    lost = Notification.objects.get(user_id=flying.user_id, kind="payout.failed")
    assert "5.00 tokens was lost with a chain that was reset" in lost.message
    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    assert run.status == PayoutRun.Status.COMPLETED
    assert _kinds(flying) == ["payout.sent", "payout.failed", "payout.sent", "payout.confirmed"]
