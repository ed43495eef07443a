"""Payout runs on the real in-process EVM: exact amounts, exactly once through crashes at every
step, reverted and displaced transactions returned to payable, reconciliation."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.management import call_command
from web3 import Web3

from rewards.ledger import ledger_payable_balances, sums_by
from rewards.models import LedgerAccount, LedgerEntry
from rewards.payouts import execution
from rewards.payouts.models import PayoutLine, PayoutRun, PayoutTransaction
from rewards.payouts.services import payout_run_create, payout_run_execute
from rlhf_platform.core.exceptions import ApplicationError
from tests.factories import ExpertProfileFactory, WalletFactory
from tests.payouts.conftest import TOKEN, key_of

pytestmark = pytest.mark.django_db

Tx = PayoutTransaction.Status


def _paid_by_ledger() -> dict:
    entries = LedgerEntry.objects.filter(account__kind=LedgerAccount.Kind.PAID_OUT)
    return sums_by(entries, "account__expert_id")


def _in_flight() -> dict:
    entries = LedgerEntry.objects.filter(account__kind=LedgerAccount.Kind.IN_FLIGHT)
    return {k: v for k, v in sums_by(entries, "account__expert_id").items() if v}


def _experts_with_wallets(earn, amounts: list[int]):
    experts = []
    for i, amount in enumerate(amounts):
        expert = ExpertProfileFactory()
        WalletFactory(expert=expert, address=key_of(i).address)
        earn(expert, amount)
        experts.append(expert)
    return experts


def _assert_chain_matches_ledger(chain, experts) -> None:
    paid = _paid_by_ledger()
    transfers = Counter(t["receiver"] for t in chain.transfers_from(chain.payer.address))
    for expert in experts:
        address = expert.wallet.address
        assert chain.token_balance(address) == paid.get(expert.pk, 0), expert.pk
        # nobody was paid twice: at most one Transfer to each address
        assert transfers[Web3.to_checksum_address(address)] <= 1
    assert not _in_flight()


def test_a_run_to_200_recipients_pays_exactly_the_ledgers_amounts_in_one_transaction(chain, earn):
    amounts = [TOKEN + i * 1_000_003 for i in range(200)]
    experts = _experts_with_wallets(earn, amounts)

    run = payout_run_create(trigger=PayoutRun.Trigger.STAFF)
    run = payout_run_execute(run_id=run.pk)

    assert run.status == PayoutRun.Status.COMPLETED
    (tx,) = run.transactions.all()
    assert tx.status == Tx.CONFIRMED and tx.lines.count() == 200
    assert tx.gas_used < 200 * 25_100
    paid = _paid_by_ledger()
    for expert, amount in zip(experts, amounts, strict=True):
        assert paid[expert.pk] == amount
        assert chain.token_balance(expert.wallet.address) == amount
    assert ledger_payable_balances(min_amount=1) == {}
    _assert_chain_matches_ledger(chain, experts)


def test_balances_below_the_minimum_or_without_a_wallet_wait(chain, earn, settings):
    settings.PAYOUT_MIN_AMOUNT = 5 * TOKEN
    (rich, poor) = _experts_with_wallets(earn, [5 * TOKEN, 4 * TOKEN])
    walletless = ExpertProfileFactory()
    earn(walletless, 9 * TOKEN)

    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)

    assert list(run.lines.values_list("expert_id", flat=True)) == [rich.pk]
    assert set(ledger_payable_balances()) == {poor.pk, walletless.pk}


def test_batches_hold_at_most_the_batch_size(chain, earn, settings):
    settings.PAYOUT_BATCH_SIZE = 2
    experts = _experts_with_wallets(earn, [TOKEN, 2 * TOKEN, 3 * TOKEN, 4 * TOKEN, 5 * TOKEN])

    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)

    assert [tx.lines.count() for tx in run.transactions.order_by("seq")] == [2, 2, 1]
    nonces = list(run.transactions.order_by("seq").values_list("nonce", flat=True))
    assert nonces == list(range(nonces[0], nonces[0] + 3))
    _assert_chain_matches_ledger(chain, experts)


class Crash(Exception):
    pass


@pytest.mark.parametrize("step", execution.STEPS)
@pytest.mark.parametrize("which", [0, 1])
def test_a_crash_at_any_step_then_a_resume_pays_everyone_exactly_once(chain, earn, settings, step, which):
    """Two transactions (batch size 2, three experts); the crash hits the first or the second
    occurrence of ``step``. Resuming (as the resume task does) finishes the run."""
    settings.PAYOUT_BATCH_SIZE = 2
    amounts = [3 * TOKEN, 5 * TOKEN + 7, 11 * TOKEN]
    experts = _experts_with_wallets(earn, amounts)
    run = payout_run_create(trigger="staff")
    seen = Counter()

    def crash(name, obj):
        seen[name] += 1
        if name == step and seen[name] == which + 1:
            raise Crash(name)

    with execution.step_hook(crash):
        try:
            payout_run_execute(run_id=run.pk)
        except Crash:
            pass
    for _ in range(3):  # resumes: the first finishes; the others must change nothing
        payout_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == PayoutRun.Status.COMPLETED
    assert set(run.transactions.values_list("status", flat=True)) == {Tx.CONFIRMED}
    paid = _paid_by_ledger()
    for expert, amount in zip(experts, amounts, strict=True):
        assert paid[expert.pk] == amount
        assert chain.token_balance(expert.wallet.address) == amount
    _assert_chain_matches_ledger(chain, experts)
    assert len(chain.transfers_from(chain.payer.address)) == 3


def _drain_payer_through_an_allowance(chain) -> callable:
    """Before the run: the payer approves a thief; returns a function that makes the thief
    take the payer's whole balance (its own transaction, its own nonce)."""
    thief = chain.w3.eth.accounts[1]
    approve = chain.token.functions.approve(thief, 2**256 - 1).build_transaction(
        {"from": chain.payer.address, "nonce": chain.nonce_pending()}
    )
    chain.w3.eth.send_raw_transaction(chain.payer.sign_transaction(approve).raw_transaction)

    def drain():
        balance = chain.token_balance(chain.payer.address)
        chain.token.functions.transferFrom(chain.payer.address, thief, balance).transact({"from": thief})

    return drain


def test_a_reverted_batch_returns_the_amounts_to_payable(chain, earn):
    experts = _experts_with_wallets(earn, [2 * TOKEN, 3 * TOKEN])
    drain = _drain_payer_through_an_allowance(chain)
    run = payout_run_create(trigger="staff")

    def after_signing(name, obj):
        if name == "signed":
            drain()  # the signed batch now exceeds the payer's balance: it reverts when mined

    with execution.step_hook(after_signing):
        run = payout_run_execute(run_id=run.pk)

    (tx,) = run.transactions.all()
    assert tx.status == Tx.REVERTED and tx.block_number is not None
    assert set(tx.lines.values_list("status", flat=True)) == {PayoutLine.Status.RETURNED}
    assert ledger_payable_balances() == {experts[0].pk: 2 * TOKEN, experts[1].pk: 3 * TOKEN}
    assert _paid_by_ledger() == {}
    assert not _in_flight()
    assert all(chain.token_balance(e.wallet.address) == 0 for e in experts)


def test_a_batch_that_would_revert_is_never_signed_and_nothing_moves(chain, earn):
    experts = _experts_with_wallets(earn, [2 * TOKEN])
    drain = _drain_payer_through_an_allowance(chain)
    drain()

    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)

    (tx,) = run.transactions.all()
    assert tx.status == Tx.FAILED and tx.nonce is None and "revert" in tx.error
    assert ledger_payable_balances() == {experts[0].pk: 2 * TOKEN}


def test_a_transaction_whose_nonce_another_took_fails_and_returns_the_amounts(chain, earn):
    experts = _experts_with_wallets(earn, [2 * TOKEN])
    run = payout_run_create(trigger="staff")

    def displace(name, tx):
        if name == "signed":
            # Another transaction of the payer takes the same nonce first (a manual top-up).
            other = chain.token.functions.mint(chain.payer.address, 1).build_transaction(
                {"from": chain.payer.address, "nonce": tx.nonce}
            )
            chain.send_raw(chain.payer.sign_transaction(other).raw_transaction)

    with execution.step_hook(displace):
        run = payout_run_execute(run_id=run.pk)

    (tx,) = run.transactions.all()
    assert tx.status == Tx.FAILED and "nonce" in tx.error
    assert ledger_payable_balances() == {experts[0].pk: 2 * TOKEN}
    assert chain.token_balance(experts[0].wallet.address) == 0
    # the next run pays it, with a new nonce
    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    assert run.transactions.get().status == Tx.CONFIRMED
    _assert_chain_matches_ledger(chain, experts)


def test_a_run_waits_for_the_configured_confirmations(chain, earn, settings):
    settings.CHAIN_CONFIRMATIONS = 3
    experts = _experts_with_wallets(earn, [2 * TOKEN])
    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)

    tx = run.transactions.get()
    assert run.status == PayoutRun.Status.RUNNING and tx.status == Tx.BROADCAST
    assert _paid_by_ledger() == {} and _in_flight() == {experts[0].pk: 2 * TOKEN}

    chain.tester.mine_blocks(2)
    run = payout_run_execute(run_id=run.pk)
    assert run.status == PayoutRun.Status.COMPLETED
    assert _paid_by_ledger() == {experts[0].pk: 2 * TOKEN}


def test_only_one_run_runs_at_a_time(chain, earn, settings):
    settings.CHAIN_CONFIRMATIONS = 2
    _experts_with_wallets(earn, [2 * TOKEN])
    payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    with pytest.raises(ApplicationError) as refused:
        payout_run_create(trigger="staff")
    assert refused.value.code == "run_in_progress"


def test_reconciliation_agrees_after_runs_and_reports_a_transfer_the_ledger_lacks(chain, earn, capsys):
    experts = _experts_with_wallets(earn, [2 * TOKEN, 3 * TOKEN])
    payout_run_execute(run_id=payout_run_create(trigger="staff").pk)

    call_command("payouts_reconcile")
    assert "no differences" in capsys.readouterr().out

    # A transfer from the payer that no payout recorded (someone used the key by hand).
    chain.token.functions.transfer(experts[0].wallet.address, 5).transact({"from": chain.payer.address})
    with pytest.raises(SystemExit) as exited:
        call_command("payouts_reconcile")
    assert exited.value.code == 1
    assert "not in the ledger" in capsys.readouterr().out
