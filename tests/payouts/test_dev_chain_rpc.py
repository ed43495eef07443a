"""The platform against a chain over JSON-RPC: ``manage.py run_dev_chain`` serves the development
EVM to other processes; payouts, reverts (as ContractLogicError) and /healthz work through it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rewards.chain import chain_get, chain_reset
from rewards.ledger import ledger_payable_balances
from rewards.payouts.models import PayoutRun, PayoutTransaction
from rewards.payouts.services import payout_run_create, payout_run_execute
from tests.factories import ExpertProfileFactory, StaffFactory, WalletFactory
from tests.payouts.conftest import TOKEN, key_of

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dev_chain_server():
    """One ``run_dev_chain`` process for the module: ``{CHAIN_*: value}`` as it prints them."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIN_")}
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_dev_chain", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        config = {}
        for line in server.stdout:
            if line.startswith("CHAIN_"):
                key, _, value = line.strip().partition("=")
                config[key] = value
            if "CHAIN_ID" in config:
                break
        yield config
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def rpc_chain(db, settings, dev_chain_server):
    settings.CHAIN_RPC_URL = dev_chain_server["CHAIN_RPC_URL"]
    settings.CHAIN_PAYER_KEY = dev_chain_server["CHAIN_PAYER_KEY"]
    settings.CHAIN_TOKEN_ADDRESS = dev_chain_server["CHAIN_TOKEN_ADDRESS"]
    settings.CHAIN_ID = int(dev_chain_server["CHAIN_ID"])
    chain_reset()
    yield chain_get()
    chain_reset()


def test_a_run_pays_through_json_rpc(rpc_chain, earn, client):
    assert rpc_chain.mode == "rpc"
    experts = []
    for i in range(3):
        expert = ExpertProfileFactory()
        WalletFactory(expert=expert, address=key_of(20 + i).address)
        earn(expert, (i + 2) * TOKEN)
        experts.append(expert)

    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)

    assert run.status == PayoutRun.Status.COMPLETED
    assert run.transactions.get().status == PayoutTransaction.Status.CONFIRMED
    for i in range(3):
        assert rpc_chain.token_balance(key_of(20 + i).address) == (i + 2) * TOKEN
    client.force_login(StaffFactory())  # the details of /healthz are for staff
    health = client.get("/healthz").json()["chain"]
    assert health["mode"] == "rpc" and health["chain_id"] == health["expected_chain_id"]


def test_a_batch_that_would_revert_on_a_node_is_never_signed(rpc_chain, earn):
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(30).address)
    earn(expert, 2 * TOKEN)
    # The payer gives its whole balance away first (a real node: the revert is ContractLogicError).
    balance = rpc_chain.token_balance(rpc_chain.payer.address)
    data = rpc_chain.token.encode_abi("transfer", args=[key_of(31).address, balance])
    raw, tx_hash = rpc_chain.sign(nonce=rpc_chain.nonce_pending(), data=data, gas=100_000)
    rpc_chain.send_raw(raw)
    assert rpc_chain.receipt(tx_hash)["status"] == 1

    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)

    tx = run.transactions.get()
    assert tx.status == PayoutTransaction.Status.FAILED and "revert" in tx.error
    assert ledger_payable_balances() == {expert.pk: 2 * TOKEN}
