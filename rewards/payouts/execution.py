"""Executing a payout run: each transaction's state machine, resumable after a crash anywhere.

The rule that makes it exactly-once: every side effect is preceded by a committed record of
what it will be, and every step after a crash starts by re-reading that record.

1. **sign** (one database transaction): lock the transaction row, reserve each line's amount
   in the ledger (payable -> in flight, idempotent by the line's id), estimate the gas, take
   the payer's next nonce from the chain (no other transaction of ours may be in flight: they
   are sent one after another, so the chain's count is the next free nonce and a unique key
   on (chain, payer, nonce) backs it), sign, and store the raw bytes, hash and nonce. A crash
   before the commit leaves nothing behind; after it, the stored bytes are the only thing that
   will ever be sent for that nonce.
2. **broadcast**: send the stored bytes. If the node refuses, ask it for the hash: known (it
   was sent before the crash: "already known", "nonce too low") means go on; unknown while the
   payer's mined nonce has passed ours means another transaction took the nonce, so ours can
   never be mined: failed, amounts back to payable. Anything else is transient: retried.
3. **confirm**: wait for the receipt and ``CHAIN_CONFIRMATIONS`` blocks, then in one database
   transaction settle every line (in flight -> paid out) or, for a reverted transaction
   (status 0), return them (in flight -> payable).

Before anything, every execution checks that the node still is the chain the records were made
on (``chain_identity``). If it is not (a development node restarted), or if a nonce the chain
hands out is already recorded for another of our transactions (the chain went back under a
run), the run stops: its unsigned transactions fail with the error and, once nothing of it is
in flight, the run is completed, so that it never blocks later runs (:func:`run_halt`).

:func:`step_hook` lets tests (and fault drills) run code at each named step, e.g. raise to
simulate a crash there; :data:`STEPS` lists them in order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from rewards.chain import REVERT_ERRORS, Chain, chain_get
from rewards.ledger import ledger_payout_reserve, ledger_payout_return, ledger_payout_settle
from rewards.payouts.chain_identity import ChainIdentityMismatch, chain_identity_verify
from rewards.payouts.models import PayoutLine, PayoutRun, PayoutTransaction
from rewards.payouts.notices import CONFIRMED, FAILED, SENT, payout_notify
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError

log = logging.getLogger(__name__)

Tx = PayoutTransaction.Status
Line = PayoutLine.Status

# Named points of a run, in order. "reserved" and "settled" are inside a database transaction
# (a crash there rolls the step back); the others are between committed steps.
STEPS = ("planned", "reserved", "signed", "sent", "broadcast", "mined", "settled", "confirmed", "completed")

_hook: Callable[[str, Any], None] | None = None


@contextlib.contextmanager
def step_hook(hook: Callable[[str, Any], None]) -> Iterator[None]:
    """Call ``hook(step, obj)`` at every named step while the context is open."""
    global _hook
    previous, _hook = _hook, hook
    try:
        yield
    finally:
        _hook = previous


def step(name: str, obj: Any) -> None:
    if _hook is not None:
        _hook(name, obj)


class _WouldRevert(Exception):
    pass


class NonceConflict(ApplicationError):
    """The chain's next nonce for the payer is already recorded for another transaction of ours:
    the chain went back (a reset or a deep reorganisation). Signing stops."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="nonce_conflict", status_code=409)


def _nonce_conflict_message(nonce: int, other: PayoutTransaction | None) -> str:
    holder = f"transaction {other.pk} ({other.status}, {other.tx_hash})" if other else "another transaction"
    return (
        f"nonce {nonce} of the payer is already recorded for {holder}: the chain's nonce went back "
        "(a reset node?); nothing was signed. Check the chain (docs/operations.md)."
    )


def tx_fail_unsigned(tx: PayoutTransaction, error: str) -> None:
    with transaction.atomic():
        PayoutLine.objects.filter(transaction=tx, status=Line.PLANNED).update(status=Line.DROPPED)
        PayoutTransaction.objects.filter(pk=tx.pk, status=Tx.PLANNED).update(
            status=Tx.FAILED, error=error[:2000], finished_at=timezone.now()
        )
    tx.refresh_from_db()


def tx_sign(chain: Chain, tx: PayoutTransaction) -> None:
    try:
        with transaction.atomic():
            tx = PayoutTransaction.objects.select_for_update().get(pk=tx.pk)
            if tx.status != Tx.PLANNED:
                return
            other = (
                PayoutTransaction.objects.filter(
                    payer=tx.payer, chain_key=tx.chain_key, status__in=PayoutTransaction.IN_FLIGHT
                )
                .exclude(pk=tx.pk)
                .first()
            )
            if other is not None:
                raise ApplicationError(
                    f"Transaction {other.pk} of the payer is still in flight: resume it first.",
                    code="payout_in_flight",
                    status_code=409,
                )
            lines = list(tx.lines.filter(status=Line.PLANNED).order_by("address"))
            reserved: list[PayoutLine] = []
            for line in lines:
                try:
                    ledger_payout_reserve(
                        expert_id=line.expert_id, amount=line.amount, reference=line.reference
                    )
                except ApplicationError as exc:
                    if exc.code != "insufficient_balance":
                        raise
                    # The balance shrank since planning (a clawback): pay it in a later run.
                    line.status = Line.DROPPED
                else:
                    line.status = Line.RESERVED
                    reserved.append(line)
                line.save(update_fields=["status"])
            step("reserved", tx)
            if not reserved:
                tx.status, tx.error, tx.finished_at = Tx.FAILED, "nothing left to pay", timezone.now()
                tx.save(update_fields=["status", "error", "finished_at"])
                return
            data = chain.batch_calldata(
                [line.address for line in reserved], [line.amount for line in reserved]
            )
            try:
                estimate = chain.estimate(data)
            except REVERT_ERRORS as exc:
                raise _WouldRevert(f"the batch would revert: {exc}") from exc
            gas = min(estimate + estimate // 5 + 10_000, chain.max_tx_gas())
            if gas < estimate:
                raise _WouldRevert(f"the batch needs {estimate} gas, more than CHAIN_MAX_TX_GAS")
            nonce = chain.nonce_pending()
            holder = (
                PayoutTransaction.objects.filter(chain_key=tx.chain_key, payer=tx.payer, nonce=nonce)
                .exclude(status=Tx.FAILED)
                .exclude(pk=tx.pk)
                .first()
            )
            if holder is not None:
                raise NonceConflict(_nonce_conflict_message(nonce, holder))
            tx.raw_tx, tx.tx_hash = chain.sign(nonce=nonce, data=data, gas=gas)
            tx.nonce, tx.gas_limit, tx.status, tx.signed_at = nonce, gas, Tx.SIGNED, timezone.now()
            tx.save(update_fields=["raw_tx", "tx_hash", "nonce", "gas_limit", "status", "signed_at"])
            audit_record(
                action="payout.transaction_sign",
                target=tx,
                data={
                    "nonce": nonce,
                    "tx_hash": tx.tx_hash,
                    "recipients": len(reserved),
                    "total": str(sum(line.amount for line in reserved)),
                },
            )
    except _WouldRevert as exc:
        # Nothing was reserved (the block above rolled back): the amounts stay payable.
        tx_fail_unsigned(tx, str(exc))
        return
    except NonceConflict as exc:
        tx_fail_unsigned(tx, exc.message)
        raise
    except IntegrityError as exc:
        # The unique key on (chain, payer, nonce) or on the hash: the same conflict, seen by
        # the database (a concurrent signer, or a check above that raced).
        conflict = NonceConflict(_nonce_conflict_message(tx.nonce or 0, None) + f" ({exc})")
        tx_fail_unsigned(tx, conflict.message)
        raise conflict from exc
    step("signed", tx)


def _close(tx: PayoutTransaction, *, status: str, receipt: dict | None, error: str = "") -> None:
    """Settle (confirmed) or return (reverted / failed) every reserved line, atomically."""
    with transaction.atomic():
        tx = PayoutTransaction.objects.select_for_update().get(pk=tx.pk)
        if tx.status in PayoutTransaction.TERMINAL:
            return
        closed = list(tx.lines.filter(status=Line.RESERVED).select_related("expert"))
        for line in closed:
            if status == Tx.CONFIRMED:
                ledger_payout_settle(reference=line.reference)
                line.status = Line.PAID
            else:
                ledger_payout_return(reference=line.reference)
                line.status = Line.RETURNED
            line.save(update_fields=["status"])
        step("settled", tx)
        tx.status, tx.finished_at, tx.error = status, timezone.now(), error[:2000]
        if receipt is not None:
            tx.gas_used, tx.block_number = int(receipt["gasUsed"]), int(receipt["blockNumber"])
        tx.save(update_fields=["status", "finished_at", "error", "gas_used", "block_number"])
        payout_notify(tx=tx, state=CONFIRMED if status == Tx.CONFIRMED else FAILED, lines=closed)
        audit_record(
            action=f"payout.transaction_{status}",
            target=tx,
            data={"tx_hash": tx.tx_hash, "nonce": tx.nonce, "error": error[:500]},
        )


def _nonce_taken_by_another(chain: Chain, tx: PayoutTransaction) -> bool:
    """Our transaction is provably never going to be mined: the node does not know its hash
    and the payer's mined nonce is already past it (another transaction used the nonce)."""
    return not chain.tx_known(tx.tx_hash) and chain.nonce_mined() > tx.nonce


def tx_broadcast(chain: Chain, tx: PayoutTransaction) -> None:
    try:
        chain.send_raw(tx.raw_tx)
    except Exception as exc:  # "already known", "nonce too low", a revert check, a network error
        if chain.tx_known(tx.tx_hash):
            pass  # sent before (a crash after sending, or a retry): carry on with it
        elif chain.nonce_mined() > tx.nonce:
            _close(tx, status=Tx.FAILED, receipt=None, error=f"nonce {tx.nonce} used by another transaction")
            return
        else:
            PayoutTransaction.objects.filter(pk=tx.pk).update(
                broadcast_attempts=tx.broadcast_attempts + 1, error=f"broadcast: {exc}"[:2000]
            )
            raise
    step("sent", tx)
    with transaction.atomic():
        moved = PayoutTransaction.objects.filter(pk=tx.pk, status=Tx.SIGNED).update(
            status=Tx.BROADCAST, broadcast_at=timezone.now(), broadcast_attempts=tx.broadcast_attempts + 1
        )
        if moved:  # only the call that moved it tells the experts (a resume finds it moved)
            payout_notify(tx=tx, state=SENT)
    tx.refresh_from_db()
    step("broadcast", tx)


def tx_confirm(chain: Chain, tx: PayoutTransaction) -> bool:
    """True once the transaction is final (confirmed, reverted or failed)."""
    receipt = chain.receipt(tx.tx_hash)
    if receipt is None:
        if _nonce_taken_by_another(chain, tx):
            _close(tx, status=Tx.FAILED, receipt=None, error=f"nonce {tx.nonce} used by another transaction")
            return True
        if not chain.tx_known(tx.tx_hash):
            # The node dropped it from its pool: send the same bytes again.
            with contextlib.suppress(Exception):
                chain.send_raw(tx.raw_tx)
        return False
    if chain.confirmations_of(receipt) < chain.confirmations:
        return False
    step("mined", tx)
    if int(receipt["status"]) == 1:
        _close(tx, status=Tx.CONFIRMED, receipt=receipt)
    else:
        _close(tx, status=Tx.REVERTED, receipt=receipt, error="reverted on chain (status 0)")
    tx.refresh_from_db()
    step("confirmed", tx)
    return True


def tx_drive(chain: Chain, tx: PayoutTransaction) -> bool:
    """Advance one transaction as far as it goes now; True when it is final."""
    tx.refresh_from_db()
    if tx.status == Tx.PLANNED:
        tx_sign(chain, tx)
        tx.refresh_from_db()
    if tx.status == Tx.SIGNED:
        tx_broadcast(chain, tx)
        tx.refresh_from_db()
    if tx.status == Tx.BROADCAST:
        return tx_confirm(chain, tx)
    return tx.status in PayoutTransaction.TERMINAL


def run_halt(run: PayoutRun, *, error: str) -> PayoutRun:
    """Stop a run that must not go on: its unsigned transactions fail with ``error`` (nothing
    was reserved for them, so their amounts stay payable) and, unless a transaction of it is
    still in flight, the run is completed. One in flight stays for the resume task, or for the
    re-bind after a chain reset, which closes it."""
    with transaction.atomic():
        for tx in run.transactions.filter(status=Tx.PLANNED):
            tx_fail_unsigned(tx, error)
        audit_record(action="payout.run_halt", target=run, data={"error": error[:500]})
    run_complete_if_final(run)
    run.refresh_from_db()
    return run


def run_complete_if_final(run: PayoutRun) -> bool:
    """Complete a running run whose every transaction is final (True if this call did)."""
    with transaction.atomic():
        if run.transactions.exclude(status__in=PayoutTransaction.TERMINAL).exists():
            return False
        updated = PayoutRun.objects.filter(pk=run.pk, status=PayoutRun.Status.RUNNING).update(
            status=PayoutRun.Status.COMPLETED, finished_at=timezone.now()
        )
        if updated:
            counts = {
                status: run.transactions.filter(status=status).count()
                for status in PayoutTransaction.TERMINAL
            }
            audit_record(action="payout.run_complete", target=run, data=counts)
    return bool(updated)


def run_execute(run: PayoutRun) -> PayoutRun:
    """Drive the run's transactions in order; stop at the first that is not final yet (it is
    waiting for confirmations or a transient error: the resume task comes back to it).
    Raises :class:`ChainIdentityMismatch` or :class:`NonceConflict` after halting the run."""
    run.refresh_from_db()
    if run.status != PayoutRun.Status.RUNNING:
        return run
    chain = chain_get()
    try:
        chain_identity_verify(chain=chain)
    except ChainIdentityMismatch as exc:
        run_halt(run, error=exc.message)
        raise
    step("planned", run)
    try:
        _run_drive(chain, run)
    except NonceConflict as exc:
        run_halt(run, error=exc.message)
        raise
    run.refresh_from_db()
    if run.status == PayoutRun.Status.RUNNING and run_complete_if_final(run):
        run.refresh_from_db()
        step("completed", run)
    return run


def _run_drive(chain: Chain, run: PayoutRun) -> None:
    for tx in run.transactions.order_by("seq"):
        if tx.status in PayoutTransaction.TERMINAL:
            continue
        if tx.chain_key != chain.key:
            if not tx.chain_key.startswith("inproc:"):
                raise ApplicationError(
                    f"Run {run.pk} was planned for chain {tx.chain_key}; this process is on {chain.key}.",
                    code="wrong_chain",
                    status_code=409,
                )
            # An in-process chain that is gone (the process restarted): nothing it held can be
            # mined anywhere any more, so the amounts go back to payable.
            if tx.status == Tx.PLANNED:
                tx_fail_unsigned(tx, "its in-process chain is gone (restart)")
            else:
                _close(tx, status=Tx.FAILED, receipt=None, error="its in-process chain is gone (restart)")
            continue
        if not tx_drive(chain, tx):
            return
