"""A chain that resets under the platform is noticed: the node behind the client is replaced by a
fresh development chain (same chain id, payer and token address, other genesis), as when
``run_dev_chain`` restarts. Payouts are refused with a typed error, a run under way stops with
its error instead of staying ``running``, staff see it, and the re-bind recovers: payouts lost
with the old chain are re-credited and paid again on the new one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider

from rewards.chain import _in_process_chain, chain_get, chain_reset
from rewards.ledger import ledger_balances, ledger_payable_balances
from rewards.payouts import execution
from rewards.payouts.chain_identity import ChainIdentityMismatch, chain_identity_verify
from rewards.payouts.checks import check_chain_identity
from rewards.payouts.models import ChainIdentity, PayoutLine, PayoutRun, PayoutTransaction
from rewards.payouts.services import payout_run_create, payout_run_execute
from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.health import health_cache_clear
from tests.factories import ExpertProfileFactory, StaffFactory, WalletFactory
from tests.payouts.conftest import TOKEN, chain, earn, key_of  # noqa: F401 (fixtures)
from tests.payouts.test_dev_chain_rpc import _free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db

Tx = PayoutTransaction.Status


@pytest.fixture
def reset_node(chain):  # noqa: F811
    """``reset_node()``: the node behind the process's chain client starts over as a fresh
    development chain (the token redeployed by the same payer, so at the same address). The
    client keeps its key, as a client of a node that restarted does."""
    original = (chain.w3, chain.token, chain.token_deploy_block)

    def reset():
        # Another genesis time, as a node started later has (two started within one second
        # would be the same chain, block for block).
        genesis = PyEVMBackend.generate_genesis_params(overrides={"timestamp": int(time.time()) + 3600})
        fresh = _in_process_chain(
            EthereumTesterProvider(EthereumTester(PyEVMBackend(genesis_parameters=genesis)))
        )
        assert fresh.token.address == chain.token.address and fresh.payer.address == chain.payer.address
        chain.w3, chain.token, chain.token_deploy_block = fresh.w3, fresh.token, fresh.token_deploy_block
        return chain

    yield reset
    chain.w3, chain.token, chain.token_deploy_block = original


@pytest.fixture
def admin(db):
    return StaffFactory(staff_role="admin")


def _paid_expert(earn, index: int, amount: int):  # noqa: F811
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(100 + index).address)
    earn(expert, amount)
    return expert


def test_a_payout_after_the_node_reset_is_refused_and_nothing_is_planned(chain, earn, reset_node):  # noqa: F811
    first = _paid_expert(earn, 0, 2 * TOKEN)
    assert payout_run_execute(run_id=payout_run_create(trigger="staff").pk).status == "completed"
    second = _paid_expert(earn, 1, 3 * TOKEN)

    reset_node()

    with pytest.raises(ApplicationError) as refused:
        payout_run_create(trigger="staff")
    assert refused.value.code == "chain_mismatch" and refused.value.status_code == 409
    assert "genesis hash" in refused.value.message
    assert PayoutRun.objects.count() == 1
    assert ledger_payable_balances() == {second.pk: 3 * TOKEN}
    assert ledger_balances(expert_id=first.pk)["paid"] == 2 * TOKEN


def test_a_run_under_way_when_the_node_resets_fails_its_transactions_with_the_error_and_stops(
    chain,  # noqa: F811
    earn,  # noqa: F811
    reset_node,
    settings,
):
    settings.PAYOUT_BATCH_SIZE = 1
    experts = [_paid_expert(earn, i, (i + 2) * TOKEN) for i in range(3)]
    run = payout_run_create(trigger="staff")
    resets = []

    def reset_after_the_first(name, obj):
        if name == "confirmed" and not resets:
            resets.append(reset_node())

    with execution.step_hook(reset_after_the_first), pytest.raises(ApplicationError) as stopped:
        payout_run_execute(run_id=run.pk)

    # The next nonce the new chain hands out is the first transaction's: nothing is signed.
    assert stopped.value.code == "nonce_conflict"
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.COMPLETED
    statuses = list(run.transactions.order_by("seq").values_list("status", "error"))
    assert statuses[0] == (Tx.CONFIRMED, "")
    for status, error in statuses[1:]:
        assert status == Tx.FAILED and "nonce" in error
    paid = run.transactions.get(seq=0).lines.get().expert_id
    amounts = {expert.pk: (i + 2) * TOKEN for i, expert in enumerate(experts)}
    assert ledger_payable_balances() == {pk: amount for pk, amount in amounts.items() if pk != paid}
    # A resume (the sweep) finds the run finished; a new run is refused on the identity.
    assert payout_run_execute(run_id=run.pk).status == PayoutRun.Status.COMPLETED
    with pytest.raises(ChainIdentityMismatch):
        payout_run_create(trigger="staff")


def test_a_run_planned_before_the_reset_stops_at_its_next_execution(chain, earn, reset_node):  # noqa: F811
    _paid_expert(earn, 0, 2 * TOKEN)
    run = payout_run_create(trigger="staff")
    reset_node()

    with pytest.raises(ChainIdentityMismatch):
        payout_run_execute(run_id=run.pk)

    run.refresh_from_db()
    tx = run.transactions.get()
    assert tx.status == Tx.FAILED and "genesis hash" in tx.error
    assert run.status == PayoutRun.Status.COMPLETED
    assert set(run.lines.values_list("status", flat=True)) == {PayoutLine.Status.DROPPED}


def test_healthz_the_staff_api_and_the_start_up_check_say_the_chain_was_reset(
    chain,  # noqa: F811
    reset_node,
    admin,
    client,
    settings,
):
    chain_identity_verify(chain=chain)
    assert client.get("/healthz").status_code == 200
    reset_node()

    health_cache_clear()  # the verdict anyone gets is kept a few seconds
    assert client.get("/healthz").status_code == 503
    client.force_login(admin)
    status = client.get("/api/v1/staff/payouts/chain").json()
    assert status["state"] == "mismatch" and not status["ok"]
    assert any("genesis hash" in line for line in status["differences"])
    page = client.get("/staff/payouts/")
    assert "not the one the payouts were recorded on" in page.content.decode()
    refused = client.post("/api/v1/staff/payouts/runs")
    assert refused.status_code == 409 and refused.json()["errors"][0]["code"] == "chain_mismatch"
    settings.CHAIN_RPC_URL = "http://node.invalid"  # the check looks at a node only (the client is set)
    (warning,) = check_chain_identity(None)
    assert warning.id == "payouts.W002" and "genesis hash" in warning.msg


def test_the_rebind_recredits_what_the_old_chain_took_with_it_and_the_next_run_pays_it(
    chain,  # noqa: F811
    earn,  # noqa: F811
    reset_node,
    admin,
    settings,
    capsys,
):
    settings.CHAIN_CONFIRMATIONS = 3
    paid = _paid_expert(earn, 0, 2 * TOKEN)
    done = payout_run_create(trigger="staff")
    payout_run_execute(run_id=done.pk)
    chain.tester.mine_blocks(2)
    payout_run_execute(run_id=done.pk)  # confirmed
    flying = _paid_expert(earn, 1, 5 * TOKEN)
    in_flight = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    assert in_flight.status == "running" and in_flight.transactions.get().status == Tx.BROADCAST
    old = ChainIdentity.objects.get()

    reset_node()
    settings.CHAIN_CONFIRMATIONS = 1
    call_command("payouts_chain_rebind")  # a dry run: reports, changes nothing
    out = capsys.readouterr().out
    assert "dry run" in out and "2 transactions" in out
    with pytest.raises(CommandError, match="genesis_mismatch"):
        call_command("payouts_chain_rebind", genesis="0x" + "11" * 32, actor=admin.email)
    assert ledger_balances(expert_id=paid.pk)["paid"] == 2 * TOKEN

    new_genesis = chain.genesis_hash()
    call_command("payouts_chain_rebind", genesis=new_genesis, actor=admin.email)

    old.refresh_from_db()
    assert old.status == ChainIdentity.Status.RETIRED
    assert ChainIdentity.objects.get(status="current").genesis_hash == new_genesis
    for run in (done, in_flight):
        run.refresh_from_db()
        assert run.status == PayoutRun.Status.COMPLETED
        tx = run.transactions.get()
        assert tx.status == Tx.FAILED and "lost with the chain" in tx.error
    assert ledger_payable_balances() == {paid.pk: 2 * TOKEN, flying.pk: 5 * TOKEN}
    assert ledger_balances(expert_id=paid.pk)["paid"] == 0
    rebind = AuditEvent.objects.get(action="payout.chain_rebind")
    assert rebind.actor == admin and rebind.data["recredited"] == str(2 * TOKEN)

    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    assert run.status == "completed" and run.transactions.get().status == Tx.CONFIRMED
    assert chain.token_balance(paid.wallet.address) == 2 * TOKEN
    assert chain.token_balance(flying.wallet.address) == 5 * TOKEN
    call_command("payouts_reconcile")
    assert "no differences" in capsys.readouterr().out


def test_the_rebind_is_for_admins(chain, reset_node, client):  # noqa: F811
    chain_identity_verify(chain=chain)
    reset_node()
    client.force_login(StaffFactory())  # a reviewer
    response = client.post(
        "/api/v1/staff/payouts/chain/rebind",
        {"genesis_hash": chain.genesis_hash()},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert ChainIdentity.objects.get().status == "current"


def _start_dev_chain(port: int) -> tuple[subprocess.Popen, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIN_")}
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_dev_chain", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    config = {}
    for line in server.stdout:
        if line.startswith("CHAIN_"):
            key, _, value = line.strip().partition("=")
            config[key] = value
        if "CHAIN_ID" in config:
            break
    return server, config


def test_a_restarted_run_dev_chain_is_noticed_over_json_rpc(db, earn, settings, client):  # noqa: F811
    """The reported case itself: ``run_dev_chain`` restarted on the same port, the platform's
    client unchanged (same chain id, payer and token address)."""
    port = _free_port()
    server, config = _start_dev_chain(port)
    try:
        settings.CHAIN_RPC_URL = config["CHAIN_RPC_URL"]
        settings.CHAIN_PAYER_KEY = config["CHAIN_PAYER_KEY"]
        settings.CHAIN_TOKEN_ADDRESS = config["CHAIN_TOKEN_ADDRESS"]
        settings.CHAIN_ID = int(config["CHAIN_ID"])
        chain_reset()
        rpc = chain_get()
        expert = _paid_expert(earn, 7, 2 * TOKEN)
        assert payout_run_execute(run_id=payout_run_create(trigger="staff").pk).status == "completed"
        identity = ChainIdentity.objects.get()
        assert identity.token_deploy_block == 1  # found over JSON-RPC
        assert check_chain_identity(None) == []

        server.terminate()
        server.wait(timeout=10)
        time.sleep(1.1)  # a genesis in another second: a node that restarts later
        server, again = _start_dev_chain(port)
        assert again["CHAIN_TOKEN_ADDRESS"] == config["CHAIN_TOKEN_ADDRESS"]
        earn(expert, TOKEN)

        (warning,) = check_chain_identity(None)
        assert warning.id == "payouts.W002"
        assert client.get("/healthz").status_code == 503
        with pytest.raises(ChainIdentityMismatch):
            payout_run_create(trigger="staff")
        assert rpc.token_balance(expert.wallet.address) == 0  # what the ledger calls paid is gone
    finally:
        server.terminate()
        server.wait(timeout=10)
        chain_reset()
