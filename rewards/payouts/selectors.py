"""Reads of the payouts app that more than one caller needs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet

from rewards.ledger import ledger_payable_balances
from rewards.payouts.models import PayoutLine, PayoutRun, PayoutTransaction, Wallet


def wallet_address(*, expert_id: Any) -> str | None:
    """The EIP-55 address the expert is paid at, or None when no wallet is linked."""
    return Wallet.objects.filter(expert_id=expert_id).values_list("address", flat=True).first()


def wallet_of(*, expert_id: Any) -> Wallet | None:
    return Wallet.objects.filter(expert_id=expert_id).first()


def payout_lines_of_expert(*, expert_id: Any) -> QuerySet[PayoutLine]:
    """The expert's payouts, newest first, with their transaction (hash, status, block)."""
    return (
        PayoutLine.objects.filter(expert_id=expert_id)
        .exclude(status=PayoutLine.Status.DROPPED)
        .select_related("transaction")
        .order_by("-created_at", "id")
    )


def payout_runs() -> QuerySet[PayoutRun]:
    return PayoutRun.objects.annotate(
        transaction_count=Count("transactions", distinct=True), line_count=Count("lines", distinct=True)
    ).order_by("-created_at")


def payout_failures() -> QuerySet[PayoutTransaction]:
    """Transactions that did not pay (failed or reverted) and those with broadcast errors."""
    return (
        PayoutTransaction.objects.filter(
            status__in=[PayoutTransaction.Status.FAILED, PayoutTransaction.Status.REVERTED]
        )
        .select_related("run")
        .order_by("-created_at")
    )


def payout_run_totals(run: PayoutRun) -> dict[str, int]:
    """Sum of line amounts by line status (exact ints; amounts are text on SQLite)."""
    totals: dict[str, int] = {}
    for status, amount in PayoutLine.objects.filter(run=run).values_list("status", "amount"):
        totals[status] = totals.get(status, 0) + int(amount)
    return totals


def payout_preview() -> dict[str, int]:
    """What a run planned now would pay (the selection of ``payout_run_create``): the
    recipients, their total, and the payable experts left out for want of a wallet."""
    minimum = int(settings.PAYOUT_MIN_AMOUNT)
    balances = ledger_payable_balances(min_amount=minimum)
    with_wallet = set(Wallet.objects.filter(expert_id__in=list(balances)).values_list("expert_id", flat=True))
    return {
        "recipients": len(with_wallet),
        "total": sum(amount for expert_id, amount in balances.items() if expert_id in with_wallet),
        "without_wallet": len(balances) - len(with_wallet),
        "minimum": minimum,
    }


def payout_run_has_failures(run: PayoutRun) -> bool:
    """Whether a finished run left transactions that did not pay (what a retry picks up)."""
    return run.transactions.filter(
        status__in=[PayoutTransaction.Status.FAILED, PayoutTransaction.Status.REVERTED]
    ).exists()


def payout_run_open() -> PayoutRun | None:
    """The run that keeps another from being planned: one running or waiting for approval."""
    return (
        PayoutRun.objects.filter(status__in=[PayoutRun.Status.RUNNING, PayoutRun.Status.PENDING_APPROVAL])
        .order_by("-created_at")
        .first()
    )
