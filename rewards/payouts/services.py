"""Writes of the payouts app: wallet linking (Sign-In with Ethereum) and payout runs."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_utils import is_hex_address, to_checksum_address

from rewards.chain import GAS_PER_RECIPIENT_BOUND, GAS_PER_TX_BOUND, chain_get
from rewards.ledger import ledger_payable_balances
from rewards.payouts import execution
from rewards.payouts.chain_identity import chain_identity_verify
from rewards.payouts.models import PayoutLine, PayoutRun, PayoutTransaction, Wallet, WalletNonce
from rewards.payouts.siwe import SiweError, SiweMessage, rfc3339, siwe_verify
from rlhf_platform.accounts.notifications import STAFF_GROUP, notify_on_commit
from rlhf_platform.accounts.roles import Action, action_require
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.four_eyes import FourEyesRule, four_eyes_refuse, same_person
from rlhf_platform.experts.models import ExpertProfile

log = logging.getLogger(__name__)

STATEMENT = (
    "Link this address to receive reward payouts from the RLHF expert platform. No transaction, no gas."
)


# --- Wallets ---------------------------------------------------------------------------------


def _cooldown_left(wallet: Wallet, now: dt.datetime) -> dt.timedelta | None:
    until = wallet.linked_at + dt.timedelta(seconds=settings.WALLET_CHANGE_COOLDOWN_SECONDS)
    return until - now if until > now else None


@transaction.atomic
def wallet_message_create(*, expert: ExpertProfile, address: str, domain: str, uri: str) -> WalletNonce:
    """Issue an EIP-4361 message for ``expert`` to sign with ``address``: a fresh single-use
    nonce, valid for ``WALLET_MESSAGE_TTL_SECONDS``."""
    if not isinstance(address, str) or not is_hex_address(address):
        raise ApplicationError("Give a 0x address of 40 hex digits.", code="bad_address", field="address")
    address = to_checksum_address(address)
    now = timezone.now()
    current = Wallet.objects.filter(expert=expert).first()
    if current is not None and (left := _cooldown_left(current, now)) is not None:
        raise ApplicationError(
            f"The wallet can be changed again in {int(left.total_seconds()) // 3600 + 1} h.",
            code="wallet_cooldown",
            status_code=409,
        )
    expires = now + dt.timedelta(seconds=settings.WALLET_MESSAGE_TTL_SECONDS)
    nonce = secrets.token_hex(12)
    message = SiweMessage(
        domain=domain,
        address=address,
        statement=STATEMENT,
        uri=uri,
        chain_id=chain_get().chain_id,
        nonce=nonce,
        issued_at=rfc3339(now),
        expiration_time=rfc3339(expires),
    )
    return WalletNonce.objects.create(
        nonce=nonce,
        expert=expert,
        address=address,
        message=message.text(),
        issued_at=now.replace(microsecond=0),
        expires_at=expires.replace(microsecond=0),
    )


@transaction.atomic
def wallet_link(
    *, expert: ExpertProfile, message: str, signature: str, domain: str, actor: Any = None
) -> Wallet:
    """Link (or change) the expert's wallet from a signed message the server issued.

    Refused: a message we did not issue to this expert or that was altered, a wrong signer,
    an expired message, a nonce already used, an address another expert holds, a change within
    the cooldown or while a payout to the current address is in flight."""
    now = timezone.now()
    try:
        parsed = siwe_verify(message, signature, domain=domain, chain_id=chain_get().chain_id, now=now)
    except SiweError as exc:
        raise ApplicationError(
            str(exc), code=exc.code, field="signature" if "sign" in exc.code else "message"
        )
    issued = WalletNonce.objects.select_for_update().filter(nonce=parsed.nonce, expert=expert).first()
    if issued is None or issued.message != message:
        raise ApplicationError(
            "This message was not issued to you here.", code="unknown_nonce", field="message"
        )
    if now >= issued.expires_at:
        raise ApplicationError("The message has expired.", code="expired", field="message")
    # Consumed by a conditional update: of two submissions racing, one updates a row.
    if not WalletNonce.objects.filter(pk=issued.pk, used_at__isnull=True).update(used_at=now):
        raise ApplicationError("This message was already used.", code="nonce_used", status_code=409)
    address = parsed.address
    holder = Wallet.objects.filter(address_lower=address.lower()).exclude(expert=expert).exists()
    if holder:
        raise ApplicationError(
            "This address is linked to another account.", code="address_taken", status_code=409
        )
    wallet = Wallet.objects.select_for_update().filter(expert=expert).first()
    previous = None
    if wallet is not None:
        if wallet.address_lower == address.lower():
            raise ApplicationError(
                "This address is already your wallet.", code="already_linked", status_code=409
            )
        if (left := _cooldown_left(wallet, now)) is not None:
            raise ApplicationError(
                f"The wallet can be changed again in {int(left.total_seconds()) // 3600 + 1} h.",
                code="wallet_cooldown",
                status_code=409,
            )
        # A planned line (a run waiting for approval or about to sign) pays the address it
        # was approved with: the wallet waits for it too.
        if PayoutLine.objects.filter(
            expert=expert, status__in=[PayoutLine.Status.PLANNED, PayoutLine.Status.RESERVED]
        ).exists():
            raise ApplicationError(
                "A payout to your current wallet is in flight; change it when it has settled.",
                code="payout_in_flight",
                status_code=409,
            )
        previous = wallet.address
        wallet.address, wallet.linked_at = address, now
    else:
        wallet = Wallet(expert=expert, address=address, linked_at=now)
    wallet.chain_id, wallet.message, wallet.signature = parsed.chain_id, message, signature
    try:
        with transaction.atomic():
            wallet.save()
    except IntegrityError as exc:  # the same address linked by someone else at this moment
        raise ApplicationError(
            "This address is linked to another account.", code="address_taken", status_code=409
        ) from exc
    audit_record(
        action="wallet.change" if previous else "wallet.link",
        target=wallet,
        actor=actor,
        data={"address": address, "previous": previous, "nonce": parsed.nonce, "chain_id": parsed.chain_id},
    )
    return wallet


# --- Payout runs -----------------------------------------------------------------------------


def batch_size_limit(max_tx_gas: int) -> int:
    """Recipients per transaction: ``PAYOUT_BATCH_SIZE`` (<= 200), fewer if the gas cap needs."""
    by_gas = (max_tx_gas - GAS_PER_TX_BOUND) // GAS_PER_RECIPIENT_BOUND
    return max(1, min(settings.PAYOUT_BATCH_SIZE, by_gas))


def _runs_open_refuse() -> None:
    if PayoutRun.objects.filter(status=PayoutRun.Status.RUNNING).exists():
        raise ApplicationError("A payout run is already running.", code="run_in_progress", status_code=409)
    if PayoutRun.objects.filter(status=PayoutRun.Status.PENDING_APPROVAL).exists():
        raise ApplicationError(
            "A payout run is waiting for approval: approve or cancel it first.",
            code="run_awaiting_approval",
            status_code=409,
        )


@transaction.atomic
def payout_run_create(*, trigger: str, actor: Any = None, min_amount: int | None = None) -> PayoutRun:
    """Plan a run: every payable balance at or above the minimum whose expert has a wallet,
    in batches of at most 200 recipients. Nothing is reserved yet (that happens when each
    transaction is signed). Refused while another run is running or waiting for approval.

    Four eyes: a run a person starts (``actor``, an admin) waits in ``pending_approval`` for
    another admin (:func:`payout_run_approve`). A run the system starts (the schedule, no
    actor) is ``running`` at once when its total is at most ``PAYOUT_UNATTENDED_MAX_TOTAL``,
    and waits for approval like any other above it."""
    person = getattr(actor, "is_authenticated", False)
    if person:
        action_require(actor, Action.PAYOUT_RUN_START)
    _runs_open_refuse()
    chain = chain_get()
    chain_identity_verify(chain=chain)  # a reset chain (ChainIdentityMismatch): nothing is planned
    minimum = settings.PAYOUT_MIN_AMOUNT if min_amount is None else int(min_amount)
    balances = ledger_payable_balances(min_amount=minimum)
    wallets = dict(Wallet.objects.filter(expert_id__in=list(balances)).values_list("expert_id", "address"))
    payees = sorted(
        (str(expert_id), expert_id, wallets[expert_id], amount)
        for expert_id, amount in balances.items()
        if expert_id in wallets
    )
    user = actor if person else None
    total = sum(amount for *_rest, amount in payees)
    waits = person or total > settings.PAYOUT_UNATTENDED_MAX_TOTAL
    try:
        with transaction.atomic():
            run = PayoutRun.objects.create(
                status=PayoutRun.Status.PENDING_APPROVAL if waits else PayoutRun.Status.RUNNING,
                trigger=trigger,
                created_by=user,
                min_amount=minimum,
                chain_id=chain.chain_id,
                chain_key=chain.key,
                payer=chain.payer.address,
                token=chain.token.address,
            )
    except IntegrityError as exc:  # another run was planned at this moment
        raise ApplicationError(
            "Another payout run was started at the same moment.", code="run_in_progress", status_code=409
        ) from exc
    size = batch_size_limit(chain.max_tx_gas())
    lines = []
    for seq, start in enumerate(range(0, len(payees), size)):
        tx = PayoutTransaction.objects.create(
            run=run, seq=seq, payer=chain.payer.address, chain_id=chain.chain_id, chain_key=chain.key
        )
        lines += [
            PayoutLine(run=run, transaction=tx, expert_id=expert_id, address=address, amount=amount)
            for _key, expert_id, address, amount in payees[start : start + size]
        ]
    PayoutLine.objects.bulk_create(lines)
    audit_record(
        action="payout.run_request" if waits else "payout.run_create",
        target=run,
        actor=actor,
        data={
            "trigger": trigger,
            "status": run.status,
            "recipients": len(lines),
            "total": str(total),
            "transactions": -(-len(lines) // size) if lines else 0,
            "min_amount": str(minimum),
        },
    )
    if waits:
        notify_on_commit(STAFF_GROUP, {"type": "payout.run_pending", "run": str(run.pk), "total": str(total)})
    return run


def _pending_run(run: PayoutRun) -> PayoutRun:
    run = PayoutRun.objects.select_for_update().get(pk=run.pk)
    if run.status != PayoutRun.Status.PENDING_APPROVAL:
        raise ApplicationError(
            f"This run is {run.get_status_display()}, not waiting for approval.",
            code="not_pending",
            status_code=409,
        )
    return run


def payout_run_approve(*, run: PayoutRun, actor: Any) -> PayoutRun:
    """Another admin than the one who started it approves a pending run: it runs now, paying
    the lines planned when it was started (a balance that shrank since is paid in a later run)."""
    action_require(actor, Action.PAYOUT_RUN_APPROVE)
    with transaction.atomic():
        run = _pending_run(run)
        if same_person(actor, run.created_by_id):
            four_eyes_refuse(
                rule=FourEyesRule.SAME_PERSON,
                actor=actor,
                target=run,
                message="You started this payout run: another admin must approve it.",
            )
        run.status, run.approved_by, run.approved_at = PayoutRun.Status.RUNNING, actor, timezone.now()
        try:
            with transaction.atomic():
                run.save(update_fields=["status", "approved_by", "approved_at"])
        except IntegrityError as exc:
            raise ApplicationError(
                "A payout run is already running.", code="run_in_progress", status_code=409
            ) from exc
        audit_record(
            action="payout.run_approve",
            target=run,
            actor=actor,
            data={"created_by": str(run.created_by_id) if run.created_by_id else None},
        )
    # Outside the transaction: execution commits each step before its side effect.
    payout_run_dispatch(run=run)
    run.refresh_from_db()
    return run


@transaction.atomic
def payout_run_cancel(*, run: PayoutRun, actor: Any, reason: str = "") -> PayoutRun:
    """An admin (the one who started it included) cancels a pending run: nothing of it is paid,
    and its amounts stay payable for the next run."""
    action_require(actor, Action.PAYOUT_RUN_APPROVE)
    run = _pending_run(run)
    now = timezone.now()
    PayoutLine.objects.filter(run=run, status=PayoutLine.Status.PLANNED).update(
        status=PayoutLine.Status.DROPPED
    )
    PayoutTransaction.objects.filter(run=run, status=PayoutTransaction.Status.PLANNED).update(
        status=PayoutTransaction.Status.FAILED, error="run cancelled before approval", finished_at=now
    )
    run.status, run.finished_at = PayoutRun.Status.CANCELLED, now
    run.save(update_fields=["status", "finished_at"])
    audit_record(action="payout.run_cancel", target=run, actor=actor, data={"reason": (reason or "")[:500]})
    return run


def payout_run_execute(*, run_id: Any) -> PayoutRun:
    """Sign, broadcast and confirm the run's transactions in order, resuming wherever a
    previous attempt stopped (see ``rewards.payouts.execution``)."""
    return execution.run_execute(PayoutRun.objects.get(pk=run_id))


def payout_run_retry(*, run: PayoutRun, actor: Any = None) -> PayoutRun:
    """An admin's retry: a running run is resumed; a finished run with failures is followed by
    a new run (the failed amounts are payable again, so it picks them up), which waits for
    another admin's approval like any run a person starts."""
    if getattr(actor, "is_authenticated", False):
        action_require(actor, Action.PAYOUT_RUN_RETRY)
    if run.status == PayoutRun.Status.RUNNING:
        audit_record(action="payout.run_resume", target=run, actor=actor)
        payout_run_dispatch(run=run)
        run.refresh_from_db()
        return run
    if not run.transactions.filter(
        status__in=[PayoutTransaction.Status.FAILED, PayoutTransaction.Status.REVERTED]
    ).exists():
        raise ApplicationError("This run has nothing to retry.", code="nothing_to_retry", status_code=409)
    new = payout_run_create(trigger=PayoutRun.Trigger.STAFF, actor=actor)
    if new.status == PayoutRun.Status.RUNNING:
        payout_run_dispatch(run=new)
        new.refresh_from_db()
    return new


def payout_run_dispatch(*, run: PayoutRun) -> None:
    """Execute a new or resumed run where its chain is. With a node (``CHAIN_RPC_URL``) and a
    broker (``REDIS_URL``), a worker does it; otherwise the chain is this process's in-process
    EVM (or tasks are eager anyway), so it runs here. A transient failure leaves the run running,
    with the error on its transaction, for the resume task or staff's retry; a chain that is not
    the recorded one, or a nonce conflict, stops it (``execution.run_halt``)."""
    if settings.REDIS_URL and settings.CHAIN_RPC_URL:
        from rewards.payouts.tasks import payout_run_execute_task

        transaction.on_commit(lambda: payout_run_execute_task.delay(str(run.pk)))
        return
    try:
        payout_run_execute(run_id=run.pk)
    except Exception:
        log.exception("Payout run %s stopped; it will be resumed", run.pk)
