"""Recovering from a chain reset: re-bind the payouts to the chain the node now serves.

When the node is no longer the recorded chain (``chain_identity``), an admin first looks at the
node (is this the chain to pay on from now on?), then confirms the re-bind by giving the new
genesis hash (``manage.py payouts_chain_rebind --genesis 0x...`` or
``POST /api/v1/staff/payouts/chain/rebind``). Without the confirmation it is a dry run that
reports what it would do. In one database transaction, audited (``payout.chain_rebind``):

* every transaction of ours that holds a nonce on that chain id and that the node does not know
  (by its hash) is lost with the old chain and marked ``failed`` with the reason:
  a confirmed one's lines go from paid back to payable (``ledger_payout_lost``), an in-flight
  one's from in flight back to payable, a reverted one had returned its amounts already;
* a transaction the node does know is left as it is (it is on the new chain too);
* unsigned (planned) transactions of running runs fail, and every running run with nothing left
  in flight is completed (a run waiting for approval is left to its approver);
* the old identity is retired and the node's is recorded as current.

A later run then pays the re-credited amounts on the new chain. A node on another chain id is
not a reset (the payer's other network still holds its payouts): that is refused.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from rewards.chain import Chain, chain_get
from rewards.ledger import ledger_payout_lost, ledger_payout_return
from rewards.payouts import execution
from rewards.payouts.chain_identity import (
    chain_identity_current,
    chain_identity_differences,
    chain_identity_observe,
    chain_identity_record,
    identity_as_dict,
)
from rewards.payouts.models import ChainIdentity, PayoutLine, PayoutRun, PayoutTransaction
from rewards.payouts.notices import LOST, payout_notify
from rlhf_platform.accounts.roles import Action, action_require
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError

log = logging.getLogger(__name__)

Tx = PayoutTransaction.Status
Line = PayoutLine.Status


@dataclass
class RebindReport:
    """What a re-bind did (or, as a dry run, would do)."""

    applied: bool
    recorded: dict[str, Any]
    observed: dict[str, Any]
    differences: list[str]
    lost_transactions: list[dict[str, Any]] = field(default_factory=list)
    recredited: int = 0  # paid out -> payable, token base units
    returned: int = 0  # in flight -> payable
    unsigned_failed: int = 0
    runs_completed: int = 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["recredited"], data["returned"] = str(self.recredited), str(self.returned)
        return data


def _lost(chain: Chain, chain_id: int) -> list[PayoutTransaction]:
    """Our transactions with a nonce on ``chain_id`` that the node does not know."""
    candidates = PayoutTransaction.objects.filter(chain_id=chain_id, nonce__isnull=False).exclude(
        status=Tx.FAILED
    )
    return [
        tx
        for tx in candidates.order_by("created_at")
        if chain.receipt(tx.tx_hash) is None and not chain.tx_known(tx.tx_hash)
    ]


def _line_sum(tx: PayoutTransaction, status: str) -> int:
    return sum(int(amount) for amount in tx.lines.filter(status=status).values_list("amount", flat=True))


def _mark_lost(tx: PayoutTransaction, reason: str, report: RebindReport) -> None:
    tx = PayoutTransaction.objects.select_for_update().get(pk=tx.pk)
    if tx.status == Tx.FAILED:
        return
    report.lost_transactions.append(
        {"id": str(tx.pk), "tx_hash": tx.tx_hash, "nonce": tx.nonce, "status": tx.status}
    )
    lost_lines = list(tx.lines.filter(status__in=[Line.PAID, Line.RESERVED]).select_related("expert"))
    for line in lost_lines:
        if line.status == Line.PAID:
            ledger_payout_lost(reference=line.reference, memo=f"payout {line.reference}: {reason}")
            report.recredited += int(line.amount)
        else:
            ledger_payout_return(reference=line.reference)
            report.returned += int(line.amount)
        line.status = Line.RETURNED
        line.save(update_fields=["status"])
    was = tx.status
    tx.status, tx.finished_at = Tx.FAILED, timezone.now()
    tx.error = f"{reason} (it was {was}{': ' + tx.error if tx.error else ''})"[:2000]
    tx.save(update_fields=["status", "finished_at", "error"])
    payout_notify(tx=tx, state=LOST, lines=lost_lines)
    audit_record(action="payout.transaction_lost", target=tx, data={"tx_hash": tx.tx_hash, "was": was})


def chain_identity_rebind(
    *, genesis_hash: str = "", actor: Any = None, chain: Chain | None = None
) -> RebindReport:
    """Re-bind the payouts to the node's chain after a reset (see the module's docstring).
    Without ``genesis_hash`` it only reports. ``actor`` is the admin who decided (None: an
    operator at the server's shell, through the command)."""
    if actor is not None:
        action_require(actor, Action.PAYOUT_CHAIN_REBIND)
    chain = chain or chain_get()
    recorded = chain_identity_current()
    if recorded is None:
        raise ApplicationError(
            "No chain is recorded yet: payouts record one when they first run.",
            code="not_recorded",
            status_code=409,
        )
    observed = chain_identity_observe(chain, deploy_block=recorded.token_deploy_block)
    differences = chain_identity_differences(recorded, observed)
    report = RebindReport(
        applied=False,
        recorded=identity_as_dict(recorded),
        observed=observed.as_dict(),
        differences=differences,
    )
    if not differences:
        raise ApplicationError(
            "The node is the recorded chain: there is nothing to re-bind.",
            code="chain_matches",
            status_code=409,
        )
    if observed.chain_id != recorded.chain_id:
        raise ApplicationError(
            f"The node is on chain {observed.chain_id}, the payouts were recorded on {recorded.chain_id}: "
            "that is another network, not a reset. Point CHAIN_RPC_URL at the recorded network.",
            code="wrong_chain",
            status_code=409,
        )
    lost = _lost(chain, recorded.chain_id)
    report.lost_transactions = [
        {"id": str(tx.pk), "tx_hash": tx.tx_hash, "nonce": tx.nonce, "status": tx.status} for tx in lost
    ]
    if not genesis_hash:
        return report
    if genesis_hash.strip().lower() != observed.genesis_hash.lower():
        raise ApplicationError(
            f"Confirm with the node's genesis hash {observed.genesis_hash}.",
            code="genesis_mismatch",
            field="genesis_hash",
        )
    report.lost_transactions = []
    reason = f"lost with the chain of genesis {recorded.genesis_hash} (re-bound to {observed.genesis_hash})"
    with transaction.atomic():
        current = ChainIdentity.objects.select_for_update().get(pk=recorded.pk)
        if current.status != ChainIdentity.Status.CURRENT:
            raise ApplicationError("The chain was re-bound meanwhile.", code="conflict", status_code=409)
        for tx in lost:
            _mark_lost(tx, reason, report)
        for tx in PayoutTransaction.objects.filter(status=Tx.PLANNED, run__status=PayoutRun.Status.RUNNING):
            execution.tx_fail_unsigned(tx, f"not signed: {reason}")
            report.unsigned_failed += 1
        current.status, current.retired_at = ChainIdentity.Status.RETIRED, timezone.now()
        current.save(update_fields=["status", "retired_at"])
        identity = chain_identity_record(chain=chain, actor=actor)
        for run in PayoutRun.objects.filter(status=PayoutRun.Status.RUNNING):
            report.runs_completed += execution.run_complete_if_final(run)
        report.applied = True
        audit_record(action="payout.chain_rebind", target=identity, actor=actor, data=report.as_dict())
    log.warning(
        "Payouts re-bound to chain %s genesis %s: %d transactions lost, %d re-credited",
        observed.chain_id,
        observed.genesis_hash,
        len(report.lost_transactions),
        report.recredited,
    )
    return report
