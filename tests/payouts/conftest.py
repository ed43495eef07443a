"""Payout tests run on the real in-process EVM (eth-tester + py-evm): one chain per test
process, with a snapshot taken before each test and reverted after it (fast, isolated)."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import Web3

from rewards.chain import chain_get
from rewards.ledger import expert_account, lab_budget_account, ledger_post, treasury_account
from rewards.models import LedgerAccount
from tests.factories import LabFactory

TOKEN = 10**18


@pytest.fixture
def chain(db):
    chain = chain_get()
    snapshot = chain.tester.take_snapshot()
    yield chain
    chain.tester.revert_to_snapshot(snapshot)


def key_of(index: int):
    """A deterministic test account (not one of eth-tester's funded ones)."""
    return Account.from_key(Web3.keccak(text=f"payout-test-{index}"))


@pytest.fixture
def earn(db):
    """``earn(expert, amount)``: a payable balance made the way rewards make it (a lab's
    budget credited from the treasury, then a reward posting lab budget -> annotator)."""
    lab = LabFactory()
    counter = iter(range(10**9))

    def give(expert, amount: int) -> None:
        n = next(counter)
        ledger_post(
            kind="budget_credit",
            reference=f"test-credit-{lab.pk}-{n}",
            legs=[(treasury_account(), -amount), (lab_budget_account(lab_id=lab.pk), amount)],
            lab_id=lab.pk,
        )
        ledger_post(
            kind="reward",
            reference=f"test-reward-{lab.pk}-{n}",
            legs=[
                (lab_budget_account(lab_id=lab.pk), -amount),
                (expert_account(kind=LedgerAccount.Kind.ANNOTATOR, expert_id=expert.pk), amount),
            ],
            expert_id=expert.pk,
        )

    return give
