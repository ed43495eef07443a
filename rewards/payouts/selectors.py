"""Reads of the payouts app that more than one caller needs."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

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
