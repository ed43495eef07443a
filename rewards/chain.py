"""The platform's one client of the chain (web3 8): the reward token and the payer account.

Two modes, chosen by the settings:

* **in-process** (``CHAIN_RPC_URL`` unset, the development and test default): an EVM inside
  this Python process (eth-tester with py-evm, ``Web3(EthereumTesterProvider())``), with the
  reward token deployed from the committed bytecode when the chain is first used. The payer is
  the first of eth-tester's funded accounts; it deploys the token and so holds its whole
  supply. **Its state lives in memory and is lost when the process exits**: balances, blocks
  and transactions start over at every restart (the database keeps its payout records, which
  then no longer match any chain: payouts refuse to run until an admin re-binds them, see
  ``rewards.payouts.chain_identity``). Each process has its own
  chain: with several processes (REDIS_URL set) run ``manage.py run_dev_chain``, which serves
  one such chain over JSON-RPC, and give every process the CHAIN_* values it prints.
* **JSON-RPC** (``CHAIN_RPC_URL`` set): any EVM node. ``CHAIN_PAYER_KEY`` (a hex private key
  in the environment) or ``CHAIN_PAYER_KEYSTORE`` + ``CHAIN_PAYER_KEYSTORE_PASSWORD_FILE`` (an
  encrypted keystore file), and ``CHAIN_TOKEN_ADDRESS`` are required; ``CHAIN_ID``, when set,
  must equal the node's chain id: the client refuses to start otherwise, so a payer key is
  never used on the wrong network.

Every payout transaction is signed locally (``Account.sign_transaction``) and sent raw, in both
modes, so that the signed bytes can be stored before they are broadcast. A revert surfaces as
``eth_tester.exceptions.TransactionFailed`` in-process and ``web3.exceptions.ContractLogicError``
on a node: callers catch :data:`REVERT_ERRORS`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound, ContractLogicError, TransactionNotFound
from web3.logs import DISCARD

REVERT_ERRORS: tuple[type[Exception], ...] = (TransactionFailed, ContractLogicError)

ARTIFACT = Path(__file__).resolve().parent / "contracts" / "build" / "RewardToken.json"

# Upper bounds used to plan batches before any estimate: a transfer to a fresh address costs
# about 24,800 gas in transfer_batch (bench/payout.py), so these leave a margin.
GAS_PER_RECIPIENT_BOUND = 30_000
GAS_PER_TX_BOUND = 60_000


class ChainConfigError(ImproperlyConfigured):
    """The chain settings are missing, inconsistent, or name another network."""


@cache
def token_artifact() -> dict[str, Any]:
    """The committed ABI and bytecode of the reward token (``make contracts`` rebuilds them)."""
    return json.loads(ARTIFACT.read_text())


class _LockedTesterProvider(EthereumTesterProvider):
    """py-evm is not thread-safe; ASGI runs each request in a thread of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_lock = threading.RLock()

    def make_request(self, method: Any, params: Any) -> Any:
        with self._request_lock:
            return super().make_request(method, params)


@dataclass
class Chain:
    w3: Web3
    token: Contract
    payer: LocalAccount
    chain_id: int
    mode: str  # "in_process" | "rpc"
    # Names this chain in the payout records: the chain id on a node; on the in-process chain
    # also this instance, since a restarted one reuses the chain id, payer and nonces.
    key: str
    # The block that deployed the token, when this client deployed it (the in-process chain);
    # on a node it is looked up (:meth:`token_deployment_block`).
    token_deploy_block: int | None = None

    @property
    def confirmations(self) -> int:
        """Blocks a transaction must be under (its own included) before it counts as paid."""
        return max(1, int(settings.CHAIN_CONFIRMATIONS))

    @property
    def tester(self):
        """eth-tester's backend handle (snapshots, mining) on the in-process chain, else None."""
        provider = self.w3.provider
        return getattr(provider, "ethereum_tester", None) if self.mode == "in_process" else None

    # --- reads --------------------------------------------------------------------------------

    def token_balance(self, address: str) -> int:
        return int(self.token.functions.balanceOf(Web3.to_checksum_address(address)).call())

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def nonce_pending(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.payer.address, "pending"))

    def nonce_mined(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.payer.address, "latest"))

    def block_hash(self, number: int) -> str | None:
        """The hash of block ``number`` (0x hex), or None when the chain has no such block."""
        try:
            block = self.w3.eth.get_block(number)
        except BlockNotFound:
            return None
        return "0x" + bytes(block["hash"]).hex().removeprefix("0x")

    def genesis_hash(self) -> str:
        """Block 0's hash: a chain that was reset (a development node restarted) keeps its
        chain id but not this."""
        genesis = self.block_hash(0)
        if genesis is None:
            raise ChainConfigError("The node has no block 0.")
        return genesis

    def token_code_hash(self) -> str:
        """keccak256 of the code at the token's address (that of an empty account if none)."""
        return "0x" + bytes(Web3.keccak(bytes(self.w3.eth.get_code(self.token.address)))).hex()

    def token_deployment_block(self) -> int | None:
        """The block that deployed the token: known when this client deployed it; otherwise the
        first block with code at its address (a binary search, which needs a node that keeps
        old state), else the block of its first mint (the constructor's ``Transfer`` from the
        zero address); None when the node can tell neither."""
        if self.token_deploy_block is not None:
            return self.token_deploy_block
        address = self.token.address
        # A pruned node refuses old state: then fall back to the mint event.
        with contextlib.suppress(Exception):
            low, high = 0, self.block_number()
            if not self.w3.eth.get_code(address, high):
                return None
            while low < high:
                middle = (low + high) // 2
                if self.w3.eth.get_code(address, middle):
                    high = middle
                else:
                    low = middle + 1
            return low
        try:
            mints = self.token.events.Transfer().get_logs(
                from_block=0, argument_filters={"sender": "0x" + "00" * 20}
            )
        except Exception:
            return None
        return min((int(event["blockNumber"]) for event in mints), default=None)

    def tx_known(self, tx_hash: str) -> bool:
        """The node knows the transaction (in its pool or mined)."""
        try:
            self.w3.eth.get_transaction(tx_hash)
            return True
        except TransactionNotFound:
            return False

    def receipt(self, tx_hash: str) -> dict | None:
        try:
            return dict(self.w3.eth.get_transaction_receipt(tx_hash))
        except TransactionNotFound:
            return None

    def confirmations_of(self, receipt: dict) -> int:
        return self.block_number() - int(receipt["blockNumber"]) + 1

    def transfers_from(self, sender: str, *, from_block: int = 0) -> list[dict[str, Any]]:
        """Every ``Transfer`` event of the token from ``sender``: tx hash, receiver, value."""
        events = self.token.events.Transfer().get_logs(
            from_block=from_block, argument_filters={"sender": Web3.to_checksum_address(sender)}
        )
        return [
            {
                "tx_hash": "0x" + bytes(event["transactionHash"]).hex().removeprefix("0x"),
                "receiver": event["args"]["receiver"],
                "value": int(event["args"]["value"]),
                "block": int(event["blockNumber"]),
            }
            for event in events
        ]

    def transfers_in(self, receipt: dict, *, sender: str) -> list[dict[str, Any]]:
        """The token's ``Transfer`` events from ``sender`` in a transaction's receipt."""
        sender = Web3.to_checksum_address(sender)
        events = self.token.events.Transfer().process_receipt(receipt, errors=DISCARD)
        return [
            {"receiver": event["args"]["receiver"], "value": int(event["args"]["value"])}
            for event in events
            if event["address"] == self.token.address and event["args"]["sender"] == sender
        ]

    # --- payout transactions -------------------------------------------------------------------

    def batch_calldata(self, recipients: list[str], amounts: list[int]) -> str:
        return self.token.encode_abi(
            "transfer_batch", args=[[Web3.to_checksum_address(a) for a in recipients], amounts]
        )

    def estimate(self, data: str) -> int:
        """Gas the payer's call would use. Raises one of :data:`REVERT_ERRORS` if it reverts."""
        return int(
            self.w3.eth.estimate_gas({"from": self.payer.address, "to": self.token.address, "data": data})
        )

    def sign(self, *, nonce: int, data: str, gas: int) -> tuple[str, str]:
        """An EIP-1559 transaction from the payer to the token, signed: ``(raw hex, hash hex)``."""
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        tip = int(self.w3.eth.max_priority_fee)
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": self.token.address,
            "value": 0,
            "data": data,
            "gas": gas,
            # Twice the current base fee: room for six full blocks of base-fee rises.
            "maxFeePerGas": 2 * base_fee + tip,
            "maxPriorityFeePerGas": tip,
        }
        signed = self.payer.sign_transaction(tx)
        return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()

    def send_raw(self, raw: str) -> None:
        self.w3.eth.send_raw_transaction(raw)

    def max_tx_gas(self) -> int:
        limit = int(self.w3.eth.get_block("latest")["gasLimit"])
        return min(int(settings.CHAIN_MAX_TX_GAS), limit)


_lock = threading.Lock()
_chain: Chain | None = None


def chain_get() -> Chain:
    """This process's chain client, connected (and checked) on first use."""
    global _chain
    if _chain is None:
        with _lock:
            if _chain is None:
                _chain = _rpc_chain() if settings.CHAIN_RPC_URL else _in_process_chain()
    return _chain


def chain_reset() -> None:
    """Forget the client (the next ``chain_get`` connects again; an in-process chain restarts)."""
    global _chain
    with _lock:
        _chain = None


def _check_chain_id(w3: Web3) -> int:
    actual = int(w3.eth.chain_id)
    expected = settings.CHAIN_ID
    if expected is not None and int(expected) != actual:
        raise ChainConfigError(f"CHAIN_ID is {expected} but the node at CHAIN_RPC_URL is on chain {actual}.")
    return actual


def _in_process_chain(provider: EthereumTesterProvider | None = None) -> Chain:
    """A development chain on ``provider`` (a fresh eth-tester EVM by default), with the token
    deployed by eth-tester's first account."""
    w3 = Web3(provider or _LockedTesterProvider())
    chain_id = _check_chain_id(w3)
    payer = Account.from_key(w3.provider.ethereum_tester.backend.account_keys[0])
    artifact = token_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    deploy = factory.constructor(
        settings.CHAIN_TOKEN_NAME, settings.CHAIN_TOKEN_SYMBOL, 18, int(settings.CHAIN_DEV_SUPPLY)
    ).build_transaction({"from": payer.address, "nonce": w3.eth.get_transaction_count(payer.address)})
    signed = payer.sign_transaction(deploy)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    token = w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
    return Chain(
        w3=w3,
        token=token,
        payer=payer,
        chain_id=chain_id,
        mode="in_process",
        key=f"inproc:{chain_id}:{uuid.uuid4().hex[:12]}",
        token_deploy_block=int(receipt["blockNumber"]),
    )


def _payer_from_settings() -> LocalAccount:
    if settings.CHAIN_PAYER_KEY:
        return Account.from_key(settings.CHAIN_PAYER_KEY)
    if settings.CHAIN_PAYER_KEYSTORE:
        if not settings.CHAIN_PAYER_KEYSTORE_PASSWORD_FILE:
            raise ChainConfigError("CHAIN_PAYER_KEYSTORE needs CHAIN_PAYER_KEYSTORE_PASSWORD_FILE.")
        keystore = json.loads(Path(settings.CHAIN_PAYER_KEYSTORE).read_text())
        password = Path(settings.CHAIN_PAYER_KEYSTORE_PASSWORD_FILE).read_text().rstrip("\n")
        return Account.from_key(Account.decrypt(keystore, password))
    raise ChainConfigError("CHAIN_RPC_URL is set: CHAIN_PAYER_KEY or CHAIN_PAYER_KEYSTORE is required.")


def _rpc_chain() -> Chain:
    if not settings.CHAIN_TOKEN_ADDRESS:
        raise ChainConfigError("CHAIN_RPC_URL is set: CHAIN_TOKEN_ADDRESS is required.")
    w3 = Web3(HTTPProvider(settings.CHAIN_RPC_URL, request_kwargs={"timeout": 10}))
    chain_id = _check_chain_id(w3)
    address = Web3.to_checksum_address(settings.CHAIN_TOKEN_ADDRESS)
    if not w3.eth.get_code(address):
        raise ChainConfigError(f"No contract at CHAIN_TOKEN_ADDRESS {address} on chain {chain_id}.")
    return Chain(
        w3=w3,
        token=w3.eth.contract(address=address, abi=token_artifact()["abi"]),
        payer=_payer_from_settings(),
        chain_id=chain_id,
        mode="rpc",
        key=str(chain_id),
    )


def chain_status() -> dict[str, Any]:
    """For ``/healthz``: reachable, which chain, which token; never raises."""
    mode = "rpc" if settings.CHAIN_RPC_URL else "in_process"
    try:
        chain = chain_get()
        return {
            "ok": True,
            "mode": chain.mode,
            "chain_id": chain.chain_id,
            "expected_chain_id": settings.CHAIN_ID,
            "block": chain.block_number(),
            "token": chain.token.address,
            "payer": chain.payer.address,
            **({"state": "in memory, lost at restart"} if chain.mode == "in_process" else {}),
        }
    except Exception as exc:  # unreachable node, wrong chain id, missing key: all "down"
        return {"ok": False, "mode": mode, "expected_chain_id": settings.CHAIN_ID, "error": str(exc)}
