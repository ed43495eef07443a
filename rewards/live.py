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
so the push says what the database says. Those of all the experts one posting touched are read
together and sent together: three queries and one connection to the channel layer, however many
experts a final item paid. Not kept in the inbox: a live update, not a notification. A failure
here is logged and never undoes the posting.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count, F
from django.utils import timezone

from annotate.models import Label
from rewards.ledger import sums_by
from rewards.models import LedgerAccount, LedgerEntry
from rewards.tokens import format_tokens
from rlhf_platform.accounts.notifications import notify_many, user_group
from rlhf_platform.experts.models import ExpertProfile

logger = logging.getLogger(__name__)

EVENT = "earnings.updated"


def _day_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _labels_today(*, expert_ids: list[Any], start: dt.datetime) -> dict[Any, dict[str, Any]]:
    """Per expert: today's labels and their mean active seconds (one grouped query)."""
    rows = (
        Label.objects.filter(expert_id__in=expert_ids, created_at__gte=start)
        .order_by()
        .values("expert_id")
        .annotate(n=Count("pk"), seconds=Avg("active_seconds"))
    )
    return {row["expert_id"]: row for row in rows}


def _earned(*, expert_ids: list[Any]) -> dict[Any, int]:
    """Per expert: all earned. The accounts keep their balance up to date
    (ledger._balances_move): it is the sum of the expert's four."""
    accounts = LedgerAccount.objects.filter(expert_id__in=expert_ids, kind__in=LedgerAccount.EXPERT_KINDS)
    return sums_by(accounts, "expert_id", field="balance")


def _earned_today(*, expert_ids: list[Any], start: dt.datetime) -> dict[Any, int]:
    """Per expert: what today's transactions about them moved on their own accounts (the
    transaction's expert and the account's are the same one: a transaction about another
    expert, or about nobody, does not count)."""
    entries = LedgerEntry.objects.filter(
        transaction__expert_id__in=expert_ids,
        transaction__created_at__gte=start,
        account__expert_id__in=expert_ids,
        account__expert_id=F("transaction__expert_id"),
        account__kind__in=LedgerAccount.EXPERT_KINDS,
    )
    return sums_by(entries, "account__expert_id")


def experts_progress(
    *, expert_ids: Iterable[Any], now: dt.datetime | None = None
) -> dict[Any, dict[str, Any]]:
    """:func:`expert_progress` of each expert, keyed by the ids given, in three grouped queries
    whatever their number: the push after a posting that paid many experts reads them all at
    once. An expert with no label today has 0 labels and no pace; one without entries has
    earned 0."""
    # The rows come back with the ids as the database gives them (UUIDs); a caller may give text.
    pk = ExpertProfile._meta.pk
    key_of = {expert_id: pk.to_python(expert_id) for expert_id in expert_ids}
    if not key_of:
        return {}
    start = _day_start(now or timezone.now())
    keys = list(set(key_of.values()))
    labels = _labels_today(expert_ids=keys, start=start)
    earned = _earned(expert_ids=keys)
    earned_today = _earned_today(expert_ids=keys, start=start)
    progress = {}
    for expert_id, key in key_of.items():
        today = labels.get(key, {"n": 0, "seconds": None})
        progress[expert_id] = {
            "labels_today": today["n"],
            "seconds_per_label": round(today["seconds"], 1) if today["seconds"] is not None else None,
            "earned": earned.get(key, 0),
            "earned_today": earned_today.get(key, 0),
        }
    return progress


def expert_progress(*, expert_id: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    """Today's (UTC) labels and mean active seconds per label, and the expert's earnings: all
    they have earned (payable, held back, in flight and paid, net of clawbacks) and what of it
    was posted today. Amounts in base units; three aggregate queries (:func:`experts_progress`
    for one expert, so the panel and the push show the same figures)."""
    return experts_progress(expert_ids=[expert_id], now=now)[expert_id]


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
    """Runs after the commit (``transaction.on_commit``), so it sends at once: every expert's
    figures read in one go (:func:`experts_progress`), their events in one go
    (:func:`notify_many`)."""
    try:
        users = dict(ExpertProfile.objects.filter(pk__in=expert_ids).values_list("pk", "user_id"))
        progress = experts_progress(expert_ids=[expert_id for expert_id in expert_ids if expert_id in users])
        notify_many(
            [
                (user_group(users[expert_id]), earnings_event(figures))
                for expert_id, figures in progress.items()
            ]
        )
    except Exception:  # a page missing one tick must never fail what committed
        logger.exception("could not push earnings to experts %s", expert_ids)


def earnings_changed_on_commit(expert_ids: Iterable[Any]) -> None:
    """Push, once the current transaction commits, each expert's new earnings to them."""
    ids = sorted({expert_id for expert_id in expert_ids if expert_id is not None}, key=str)
    if ids:
        transaction.on_commit(lambda: _push(ids))
