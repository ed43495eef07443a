"""Which chain the payout records are bound to, and noticing when the node is another chain.

A development node (eth-tester, ``run_dev_chain``) that restarts keeps its chain id, the payer's
address and even the token's address (the deployer's first transaction), but loses every block:
payouts recorded as paid are on it no more, and the payer's nonces start over, so the next
signature would reuse a nonce of a recorded transaction. Only the genesis hash, the token's code
and its deployment block tell the new chain from the old. They are recorded
(:class:`~rewards.payouts.models.ChainIdentity`) when payouts first use the chain, and compared

* at start-up: the ``payouts.W002`` system check (with a node, ``CHAIN_RPC_URL``);
* in ``/healthz``: its ``chain`` check (:func:`chain_health`);
* before every payout run is planned and every time one is executed or resumed
  (:func:`chain_identity_verify`).

On a mismatch nothing is signed: :class:`ChainIdentityMismatch` (409, ``chain_mismatch``); a run
that was under way fails its unsigned transactions with that error and stops
(``rewards.payouts.execution``). Staff see it on the payouts page and at
``GET /api/v1/staff/payouts/chain``. The recovery, after an admin has looked at the node, is a
re-bind (``rewards.payouts.chain_rebind``; ``docs/operations.md``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from django.db import IntegrityError, transaction

from rewards.chain import Chain, chain_get, chain_status
from rewards.payouts.models import ChainIdentity
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObservedIdentity:
    """What the node says now, field for field as :class:`ChainIdentity` records it."""

    chain_id: int
    genesis_hash: str
    token_address: str
    token_code_hash: str
    token_deploy_block: int | None
    token_deploy_block_hash: str  # "" when the block is unknown or the chain has no such block

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChainIdentityMismatch(ApplicationError):
    """The node is not the chain the payout records were made on: nothing may be paid."""

    def __init__(
        self, *, recorded: ChainIdentity, observed: ObservedIdentity, differences: list[str]
    ) -> None:
        super().__init__(
            "The chain is not the one the payouts were recorded on ("
            + "; ".join(differences)
            + "). Nothing is paid until an admin re-binds the chain (see docs/operations.md).",
            code="chain_mismatch",
            status_code=409,
            extra={"chain": {"recorded": identity_as_dict(recorded), "observed": observed.as_dict()}},
        )
        self.recorded = recorded
        self.observed = observed
        self.differences = differences


def identity_as_dict(identity: ChainIdentity) -> dict[str, Any]:
    return {
        "chain_id": identity.chain_id,
        "genesis_hash": identity.genesis_hash,
        "token_address": identity.token_address,
        "token_code_hash": identity.token_code_hash,
        "token_deploy_block": identity.token_deploy_block,
        "token_deploy_block_hash": identity.token_deploy_block_hash,
        "recorded_at": identity.recorded_at.isoformat(),
    }


def chain_identity_observe(chain: Chain, *, deploy_block: int | None = None) -> ObservedIdentity:
    """Read the identity from the node. ``deploy_block`` is the recorded deployment block, whose
    hash on this chain is compared; without it the token's deployment block is looked up."""
    block = deploy_block if deploy_block is not None else chain.token_deployment_block()
    return ObservedIdentity(
        chain_id=int(chain.w3.eth.chain_id),
        genesis_hash=chain.genesis_hash(),
        token_address=chain.token.address,
        token_code_hash=chain.token_code_hash(),
        token_deploy_block=block,
        token_deploy_block_hash=(chain.block_hash(block) or "") if block is not None else "",
    )


def chain_identity_differences(recorded: ChainIdentity, observed: ObservedIdentity) -> list[str]:
    """Each way the node differs from the record, as a sentence; empty when it is the same chain."""
    found = []
    if recorded.chain_id != observed.chain_id:
        found.append(f"chain id {recorded.chain_id} recorded, the node is on {observed.chain_id}")
    if recorded.genesis_hash != observed.genesis_hash:
        found.append(f"genesis hash {recorded.genesis_hash} recorded, the node's is {observed.genesis_hash}")
    if recorded.token_address.lower() != observed.token_address.lower():
        found.append(f"token {recorded.token_address} recorded, the client uses {observed.token_address}")
    if recorded.token_code_hash != observed.token_code_hash:
        found.append(
            f"the token's code hash {recorded.token_code_hash} recorded, "
            f"{observed.token_code_hash} on the node"
        )
    block, block_hash = recorded.token_deploy_block, recorded.token_deploy_block_hash
    if block_hash and block_hash != observed.token_deploy_block_hash:
        now = observed.token_deploy_block_hash or "no such block"
        found.append(f"the token's deployment block {block} was {block_hash}, the node has {now}")
    return found


def chain_identity_current() -> ChainIdentity | None:
    return ChainIdentity.objects.filter(status=ChainIdentity.Status.CURRENT).first()


def chain_identity_record(*, chain: Chain, actor: Any = None) -> ChainIdentity:
    """Record the node's identity as the current one (at first use, or by a re-bind that has
    retired the previous one first)."""
    observed = chain_identity_observe(chain)
    identity = ChainIdentity.objects.create(
        status=ChainIdentity.Status.CURRENT,
        recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
        **observed.as_dict(),
    )
    audit_record(action="payout.chain_identity_record", target=identity, actor=actor, data=observed.as_dict())
    log.info("Payouts bound to chain %s genesis %s", observed.chain_id, observed.genesis_hash)
    return identity


def chain_identity_verify(*, chain: Chain | None = None) -> ChainIdentity:
    """The recorded identity, after checking that the node still is that chain; recorded here
    when payouts use a chain for the first time. Raises :class:`ChainIdentityMismatch`."""
    chain = chain or chain_get()
    recorded = chain_identity_current()
    if recorded is None:
        try:
            with transaction.atomic():
                return chain_identity_record(chain=chain)
        except IntegrityError:  # another process recorded it at this moment: compare with theirs
            recorded = chain_identity_current()
            if recorded is None:
                raise
    observed = chain_identity_observe(chain, deploy_block=recorded.token_deploy_block)
    differences = chain_identity_differences(recorded, observed)
    if differences:
        log.error("CHAIN MISMATCH, payouts refused: %s", "; ".join(differences))
        raise ChainIdentityMismatch(recorded=recorded, observed=observed, differences=differences)
    return recorded


def chain_identity_status(*, chain: Chain | None = None) -> dict[str, Any]:
    """For staff and ``/healthz``; never raises. ``state`` is ``match``, ``mismatch``,
    ``not_recorded`` (no payout has used a chain yet) or ``unknown`` (the node or the database
    did not answer)."""
    try:
        chain = chain or chain_get()
        recorded = chain_identity_current()
        observed = chain_identity_observe(
            chain, deploy_block=recorded.token_deploy_block if recorded is not None else None
        )
    except Exception as exc:  # the node or the database: a status must not raise
        return {"ok": False, "state": "unknown", "error": str(exc)}
    if recorded is None:
        return {"ok": True, "state": "not_recorded", "recorded": None, "observed": observed.as_dict()}
    differences = chain_identity_differences(recorded, observed)
    return {
        "ok": not differences,
        "state": "mismatch" if differences else "match",
        "differences": differences,
        "recorded": identity_as_dict(recorded),
        "observed": observed.as_dict(),
    }


def chain_health() -> dict[str, Any]:
    """The ``chain`` check of ``/healthz``: the node (``rewards.chain.chain_status``) and whether
    it still is the chain the payouts were recorded on."""
    status = chain_status()
    if not status["ok"]:
        return status
    identity = chain_identity_status()
    return {**status, "ok": identity["ok"], "identity": identity}
