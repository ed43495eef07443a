"""The expert's progress and earnings, live: what the labelling page's panel shows, and the
push that moves it when money reaches the expert.

:func:`ledger_post` and :func:`ledger_post_many` (``rewards.ledger``) call
:func:`earnings_changed_on_commit` with the experts whose accounts a new posting touched (a
reward, a clawback, a held share released...). After commit, each of them (and only they,
on their own channel ``user.<id>``) gets::

    {"type": "earnings.updated", "earned": "1.25", "earned_today": "0.50",
     "labels_today": 12, "seconds_per_label": 41.5}

Amounts are in tokens as the pages show them (``rewards.tokens.format_tokens``, as the
``|tokens`` filter): base units never reach a page. The figures are read after the commit,
so the push says what the database says. Not kept in the inbox: a live update, not a
notification. A failure here is logged and never undoes the posting.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count
from django.utils import timezone

from annotate.models import Label
from rewards.ledger import sum_amounts
from rewards.models import LedgerAccount, LedgerEntry
from rewards.tokens import format_tokens
from rlhf_platform.accounts.notifications import notify_on_commit, user_group
from rlhf_platform.experts.models import ExpertProfile

logger = logging.getLogger(__name__)

EVENT = "earnings.updated"


def _day_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def expert_progress(*, expert_id: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    """Today's (UTC) labels and mean active seconds per label, and the expert's earnings: all
    they have earned (payable, held back, in flight and paid, net of clawbacks) and what of it
    was posted today. Amounts in base units; three aggregate queries."""
    start = _day_start(now or timezone.now())
    today = Label.objects.filter(expert_id=expert_id, created_at__gte=start).aggregate(
        n=Count("pk"), seconds=Avg("active_seconds")
    )
    # The accounts keep their balance up to date (ledger._balances_move): all earned is the sum
    # of the expert's four; today's part reads only today's transactions about them.
    accounts = LedgerAccount.objects.filter(expert_id=expert_id, kind__in=LedgerAccount.EXPERT_KINDS)
    today_entries = LedgerEntry.objects.filter(
        transaction__expert_id=expert_id,
        transaction__created_at__gte=start,
        account__expert_id=expert_id,
        account__kind__in=LedgerAccount.EXPERT_KINDS,
    )
    return {
        "labels_today": today["n"],
        "seconds_per_label": round(today["seconds"], 1) if today["seconds"] is not None else None,
        "earned": sum_amounts(accounts, "balance"),
        "earned_today": sum_amounts(today_entries),
    }


def earnings_event(progress: dict[str, Any]) -> dict[str, Any]:
    """The push of :func:`expert_progress`, amounts in tokens for reading."""
    return {
        "type": EVENT,
        "earned": format_tokens(progress["earned"]),
        "earned_today": format_tokens(progress["earned_today"]),
        "labels_today": progress["labels_today"],
        "seconds_per_label": progress["seconds_per_label"],
    }


def _push(expert_ids: list[Any]) -> None:
    try:
        users = dict(ExpertProfile.objects.filter(pk__in=expert_ids).values_list("pk", "user_id"))
        for expert_id in expert_ids:
            if expert_id in users:
                event = earnings_event(expert_progress(expert_id=expert_id))
                # After the commit: notify_on_commit sends at once.
                notify_on_commit(user_group(users[expert_id]), event, keep=False)
    except Exception:  # a page missing one tick must never fail what committed
        logger.exception("could not push earnings to experts %s", expert_ids)


def earnings_changed_on_commit(expert_ids: Iterable[Any]) -> None:
    """Push, once the current transaction commits, each expert's new earnings to them."""
    ids = sorted({expert_id for expert_id in expert_ids if expert_id is not None}, key=str)
    if ids:
        transaction.on_commit(lambda: _push(ids))
