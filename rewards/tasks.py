"""Celery tasks of rewards: thin wrappers that take ids, re-read and call a service."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError

from rewards.drain import rewards_due_drain, rewards_due_mark
from rewards.selectors import items_missing_rewards
from rewards.services import clawbacks_reconcile, item_rewards
from rlhf_platform.core.slices import slice_end, slice_over

# Set while a rewards drain is queued and has not started: further finalised items need not
# queue another (the queued one sees them: it clears this key before it looks). The TTL bounds
# the wait if that task's message is lost; the missing-rewards sweep catches anything left.
DUE_DRAIN_PENDING_KEY = "rewards:due-drain-pending"
DUE_DRAIN_PENDING_TTL = 30

RETRIED = {
    "ignore_result": True,
    "acks_late": True,
    "autoretry_for": (DatabaseError,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "max_retries": 10,
}


@shared_task(**RETRIED)
def rewards_due_drain_task() -> int:
    """Post the rewards of every item marked due (rewards.drain), many items per transaction,
    for one slice; queues the next slice when work remains. A duplicate or redelivered task
    posts nothing twice (one reference per label). Returns how many items it took."""
    cache.delete(DUE_DRAIN_PENDING_KEY)
    taken, more = rewards_due_drain(until=slice_end())
    if more:
        rewards_due_nudge()
    return taken


def rewards_due_nudge() -> None:
    """Make sure a rewards drain will run: one message per burst of finalised items."""
    if cache.add(DUE_DRAIN_PENDING_KEY, 1, timeout=DUE_DRAIN_PENDING_TTL):
        try:
            rewards_due_drain_task.delay()
        except Exception:
            cache.delete(DUE_DRAIN_PENDING_KEY)  # the next finalised item tries again
            raise


def rewards_due(item_ids: list) -> None:
    """Mark the items' rewards due and nudge the drain (after the item's transaction commits)."""
    rewards_due_mark(item_ids=item_ids)
    rewards_due_nudge()


@shared_task(**RETRIED)
def item_rewards_task(item_id: int) -> int:
    """Post the rewards of one final item's labels. Finalised items now go to the rewards
    drain (:func:`rewards_due_drain_task`); this task still runs what an earlier version
    queued. Idempotent (one reference per label)."""
    return len(item_rewards(item_id=item_id))


# The periodic drains below work in slices of TASK_SLICE_SECONDS (rlhf_platform/core/slices.py)
# and queue the next slice themselves, so that a reward never waits long behind one of them.
CLAWBACKS_PER_SLICE = 1000


@shared_task(ignore_result=True, acks_late=True)
def clawbacks_reconcile_task() -> int:
    """Claw back rewards of labels since excluded from consensus (beat: every 10 minutes)."""
    until = slice_end()
    count = clawbacks_reconcile(limit=CLAWBACKS_PER_SLICE, until=until)
    if count and (slice_over(until) or count >= CLAWBACKS_PER_SLICE):
        clawbacks_reconcile_task.delay()
    return count


@shared_task(ignore_result=True, acks_late=True)
def holdbacks_settle_task(after_id: int = 0) -> dict:
    """Release or forfeit held shares whose verdict is due (beat: every 10 minutes, from the
    first open holdback; each slice queues the next one from where it stopped)."""
    from rewards.holdbacks import holdbacks_settle

    counts = holdbacks_settle(after_id=after_id, until=slice_end())
    if counts["resume_after"] is not None:
        holdbacks_settle_task.delay(counts["resume_after"])
    return counts


@shared_task(ignore_result=True, acks_late=True)
def reward_adjustments_task(after_id: int = 0) -> int:
    """Adjust rewards for revised consensus (beat: every 10 minutes, in slices like above)."""
    from rewards.holdbacks import reward_adjustments_slice

    count, resume_after = reward_adjustments_slice(after_id=after_id, until=slice_end())
    if resume_after is not None:
        reward_adjustments_task.delay(resume_after)
    return count


@shared_task(ignore_result=True, acks_late=True)
def rewards_missing_sweep_task() -> int:
    """Mark due every final item whose rewards are missing (its mark was lost with a worker,
    or its posting failed), and nudge the rewards drain: beat, every 10 minutes. Returns how
    many items were marked."""
    items = items_missing_rewards()
    if items:
        rewards_due(items)
    return len(items)
