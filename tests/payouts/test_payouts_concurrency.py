"""At the same moment, on PostgreSQL: one signature links once, one run at a time, and two
executions of one run (the resume task and staff's retry) pay once."""

from __future__ import annotations

from collections import Counter

import pytest
from eth_account.messages import encode_defunct

from rewards.payouts.models import PayoutRun, Wallet
from rewards.payouts.services import payout_run_create, payout_run_execute, wallet_link, wallet_message_create
from rlhf_platform.core.exceptions import ApplicationError
from tests.factories import ExpertProfileFactory, WalletFactory
from tests.payouts.conftest import TOKEN, key_of
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _code(call):
    def attempt():
        try:
            call()
            return "ok"
        except ApplicationError as exc:
            return exc.code

    return attempt


def test_two_submissions_of_one_signature_link_once(chain):
    expert = ExpertProfileFactory()
    key = key_of(0)
    issued = wallet_message_create(
        expert=expert, address=key.address, domain="testserver", uri="http://testserver/"
    )
    signature = "0x" + bytes(key.sign_message(encode_defunct(text=issued.message)).signature).hex()

    def link():
        wallet_link(expert=expert, message=issued.message, signature=signature, domain="testserver")

    results = run_together([_code(link), _code(link)], what="wallet_link")

    assert sorted(results) == ["nonce_used", "ok"]
    assert Wallet.objects.filter(expert=expert).count() == 1


def test_two_runs_started_at_once_make_one(chain, earn):
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(1).address)
    earn(expert, 2 * TOKEN)

    results = run_together([_code(lambda: payout_run_create(trigger="staff"))] * 2, what="run create")

    assert sorted(results) == ["ok", "run_in_progress"]
    assert PayoutRun.objects.count() == 1


def test_two_executions_of_one_run_pay_once(chain, earn, settings):
    settings.PAYOUT_BATCH_SIZE = 2
    experts = [ExpertProfileFactory() for _ in range(5)]
    for i, expert in enumerate(experts):
        WalletFactory(expert=expert, address=key_of(10 + i).address)
        earn(expert, (i + 1) * TOKEN)
    run = payout_run_create(trigger="staff")

    def execute():
        try:
            payout_run_execute(run_id=run.pk)
        except ApplicationError as exc:
            assert exc.code == "payout_in_flight"  # the other one holds the payer: resume later

    run_together([execute, execute], what="run execute")
    payout_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == PayoutRun.Status.COMPLETED
    transfers = Counter(t["receiver"] for t in chain.transfers_from(chain.payer.address))
    assert all(count == 1 for count in transfers.values()) and len(transfers) == 5
    for i, expert in enumerate(experts):
        assert chain.token_balance(key_of(10 + i).address) == (i + 1) * TOKEN
