"""Transfers of the payer's key made outside the platform, acknowledged by staff.

Reconciliation (``manage.py payouts_reconcile``) compares the token's transfers from the payer
with the ledger's paid payouts. A transaction someone sent with the payer's key by hand (a
top-up, a manual payment; one that took a payout's nonce, which the platform then failed and
returned to payable) is "not in the ledger", and reconciliation would report it forever. An
admin who has found out why acknowledges it with a reason (audited): its transfers are then
counted as explained. Only transactions that are on the chain, are not the platform's own
payouts, and move the token from the payer can be acknowledged.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from rewards.chain import chain_get
from rewards.payouts.chain_identity import chain_identity_verify
from rewards.payouts.models import ChainIdentity, OutsideTransfer, PayoutTransaction
from rlhf_platform.accounts.roles import Action, action_require
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError

_TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def outside_transfers_of(identity: ChainIdentity) -> QuerySet[OutsideTransfer]:
    return OutsideTransfer.objects.filter(chain_identity=identity).select_related("acknowledged_by")


def outside_transfer_acknowledge(*, tx_hash: str, reason: str, actor: Any = None) -> OutsideTransfer:
    """Acknowledge the payer's transaction ``tx_hash`` as made outside the platform, for
    ``reason``. ``actor`` is the admin (None: an operator through the command)."""
    if actor is not None:
        action_require(actor, Action.PAYOUT_TRANSFER_ACKNOWLEDGE)
    tx_hash = (tx_hash or "").strip().lower()
    if not _TX_HASH.match(tx_hash):
        raise ApplicationError(
            "Give a transaction hash: 0x and 64 hex digits.", code="invalid", field="tx_hash"
        )
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Say why this transfer was made outside the platform.", code="required", field="reason"
        )
    if len(reason) > 2000:
        raise ApplicationError("At most 2000 characters.", code="max_length", field="reason")
    chain = chain_get()
    identity = chain_identity_verify(chain=chain)
    if PayoutTransaction.objects.filter(tx_hash__iexact=tx_hash).exists():
        raise ApplicationError(
            "This is one of the platform's payout transactions: the ledger records it.",
            code="platform_transaction",
            field="tx_hash",
            status_code=409,
        )
    receipt = chain.receipt(tx_hash)
    if receipt is None:
        raise ApplicationError("The chain has no such mined transaction.", code="not_found", field="tx_hash")
    transfers = chain.transfers_in(receipt, sender=chain.payer.address)
    if not transfers:
        raise ApplicationError(
            "This transaction moves none of the token from the payer: reconciliation does not report it.",
            code="no_payer_transfer",
            field="tx_hash",
        )
    with transaction.atomic():
        try:
            with transaction.atomic():
                acknowledged = OutsideTransfer.objects.create(
                    chain_identity=identity,
                    tx_hash=tx_hash,
                    block_number=int(receipt["blockNumber"]),
                    transfers=[{"receiver": t["receiver"], "value": str(t["value"])} for t in transfers],
                    reason=reason,
                    acknowledged_by=actor if getattr(actor, "is_authenticated", False) else None,
                )
        except IntegrityError as exc:
            raise ApplicationError(
                "This transaction is acknowledged already.", code="already_acknowledged", status_code=409
            ) from exc
        audit_record(
            action="payout.outside_transfer_acknowledge",
            target=acknowledged,
            actor=actor,
            data={"tx_hash": tx_hash, "transfers": acknowledged.transfers, "reason": reason[:500]},
        )
    return acknowledged
