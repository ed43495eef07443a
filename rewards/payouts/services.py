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
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
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
        if PayoutLine.objects.filter(expert=expert, status=PayoutLine.Status.RESERVED).exists():
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


@transaction.atomic
def payout_run_create(*, trigger: str, actor: Any = None, min_amount: int | None = None) -> PayoutRun:
    """Plan a run: every payable balance at or above the minimum whose expert has a wallet,
    in batches of at most 200 recipients. Nothing is reserved yet (that happens when each
    transaction is signed). Refused while another run is still running."""
    if PayoutRun.objects.filter(status=PayoutRun.Status.RUNNING).exists():
        raise ApplicationError("A payout run is already running.", code="run_in_progress", status_code=409)
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
    user = actor if getattr(actor, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            run = PayoutRun.objects.create(
                trigger=trigger,
                created_by=user,
                min_amount=minimum,
                chain_id=chain.chain_id,
                chain_key=chain.key,
                payer=chain.payer.address,
                token=chain.token.address,
            )
    except IntegrityError as exc:
        raise ApplicationError(
            "A payout run is already running.", code="run_in_progress", status_code=409
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
        action="payout.run_create",
        target=run,
        actor=actor,
        data={
            "trigger": trigger,
            "recipients": len(lines),
            "total": str(sum(line.amount for line in lines)),
            "transactions": -(-len(lines) // size) if lines else 0,
            "min_amount": str(minimum),
        },
    )
    return run


def payout_run_execute(*, run_id: Any) -> PayoutRun:
    """Sign, broadcast and confirm the run's transactions in order, resuming wherever a
    previous attempt stopped (see ``rewards.payouts.execution``)."""
    return execution.run_execute(PayoutRun.objects.get(pk=run_id))


def payout_run_retry(*, run: PayoutRun, actor: Any = None) -> PayoutRun:
    """Staff's retry: a running run is resumed; a finished run with failures is followed by a
    new run (the failed amounts are payable again, so it picks them up)."""
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
    payout_run_dispatch(run=new)
    new.refresh_from_db()
    return new


def payout_run_dispatch(*, run: PayoutRun) -> None:
    """Execute a new or resumed run where its chain is. With a node (``CHAIN_RPC_URL``) and a
    broker (``REDIS_URL``), a worker does it; otherwise the chain is this process's in-process
    EVM (or tasks are eager anyway), so it runs here. A failure leaves the run running, with the
    error on its transaction, for the resume task or staff's retry."""
    if settings.REDIS_URL and settings.CHAIN_RPC_URL:
        from rewards.payouts.tasks import payout_run_execute_task

        transaction.on_commit(lambda: payout_run_execute_task.delay(str(run.pk)))
        return
    try:
        payout_run_execute(run_id=run.pk)
    except Exception:
        log.exception("Payout run %s stopped; it will be resumed", run.pk)
