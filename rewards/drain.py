"""The rewards drain: the rewards of every item that became final, posted many items at a time.

When an item becomes final (``annotate.signals.item_finalized``), and when the missing-rewards
sweep finds one whose rewards are missing, the item is marked due (:func:`rewards_due_mark`, a
:class:`rewards.models.RewardDue` row) and one drain task is nudged per burst
(``rewards.tasks.rewards_due_nudge``). The drain (:func:`rewards_due_drain`) takes the due items
in the order they became final, ``REWARDS_DRAIN_ITEMS`` at a time, and posts each group's rewards in one
transaction (``rewards.posting.rewards_post``) that also deletes their due rows: a quality
drain that finalised 60 items costs the rewards worker one transaction, not 60 tasks.

- Exactly once: a label's reward has one reference (``reward:<label id>``); a drain that runs
  twice, or two at once, posts nothing twice (on PostgreSQL the second skips the rows the
  first holds, ``SKIP LOCKED``).
- All or nothing: a drain that fails in a group leaves its rows due and nothing of it posted.
- Bounded: the drain stops between two groups once its slice is over
  (``rlhf_platform/core/slices.py``) and its task queues the next slice.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction

from rewards.models import RewardDue
from rewards.posting import reward_accounts_ensure, rewards_post
from rlhf_platform.core.slices import slice_over

logger = logging.getLogger(__name__)

REWARDS_DRAIN_ITEMS = 100  # items posted in one transaction: about 300 labels at k = 3


def rewards_due_mark(*, item_ids: list[Any]) -> None:
    """Mark these items' rewards due (once per item, however often it is marked). An item
    not final, or whose rewards are all posted, costs the drain two reads and is unmarked."""
    rows = [RewardDue(item_id=item_id) for item_id in dict.fromkeys(item_ids)]
    if not rows:
        return
    try:
        with transaction.atomic():
            RewardDue.objects.bulk_create(rows, ignore_conflicts=True)
    except IntegrityError:  # an item deleted meanwhile: mark the others one by one
        for row in rows:
            try:
                with transaction.atomic():
                    RewardDue.objects.bulk_create([row], ignore_conflicts=True)
            except IntegrityError:
                pass


def _due_group(size: int, *, lock: bool = True) -> list[Any]:
    """The due items that became final first, at most ``size``, their due rows locked for this
    transaction (on PostgreSQL those another drain holds are skipped, not awaited). In the
    order they became final, as their per-item tasks would have run: an ``information``
    reward reads the annotator's earlier ones."""
    due = RewardDue.objects.order_by("item__finalized_at", "item_id")
    if lock and connection.vendor == "postgresql":
        due = due.select_for_update(skip_locked=True, of=("self",))
    return list(due.values_list("item_id", flat=True)[:size])


def _group_post(size: int) -> tuple[int, int]:
    """Post the rewards of one group of due items and unmark them, in one transaction:
    (items taken, rewards new or already posted)."""
    reward_accounts_ensure(item_ids=_due_group(size, lock=False))  # new accounts commit first
    with transaction.atomic():
        item_ids = _due_group(size)
        if not item_ids:
            return 0, 0
        rewarded = rewards_post(item_ids=item_ids)
        RewardDue.objects.filter(item_id__in=item_ids).delete()
    return len(item_ids), len(rewarded)


def _one_by_one(size: int) -> int:
    """After a group failed: its items one by one (how many were taken), so that one bad item
    never holds up the others. An item that fails is logged and unmarked; the missing-rewards sweep marks it
    again later (``rewards.selectors.items_missing_rewards``). A database error (a deadlock,
    a lost connection) is raised: the task retries the whole drain."""
    taken = 0
    with transaction.atomic():
        item_ids = _due_group(size)
    for item_id in item_ids:
        try:
            with transaction.atomic():
                locked = RewardDue.objects.filter(item_id=item_id)
                if connection.vendor == "postgresql":
                    locked = locked.select_for_update(skip_locked=True)
                if not locked.exists():
                    continue  # another drain has it
                rewards_post(item_ids=[item_id])
                RewardDue.objects.filter(item_id=item_id).delete()
            taken += 1
        except DatabaseError:
            raise
        except Exception:
            logger.exception("rewards of item %s failed; left to the missing-rewards sweep", item_id)
            RewardDue.objects.filter(item_id=item_id).delete()
            taken += 1
    return taken


def rewards_due_drain(*, until: float | None = None, size: int = REWARDS_DRAIN_ITEMS) -> tuple[int, bool]:
    """Post the rewards of due items, a group of ``size`` items per transaction, in the order
    they became final, until none is due or the slice ``until`` is over: (items taken, whether
    some may remain)."""
    taken = 0
    while True:
        try:
            count, _rewards = _group_post(size)
        except DatabaseError:
            raise
        except Exception:
            logger.exception("rewards of a group of items failed; its items are taken one by one")
            count = _one_by_one(size)
        taken += count
        if count < size:
            return taken, False
        if slice_over(until):
            return taken, True
