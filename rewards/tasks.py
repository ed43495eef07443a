"""Celery tasks of rewards: thin wrappers that take ids, re-read and call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from rewards.selectors import items_missing_rewards
from rewards.services import clawbacks_reconcile, item_rewards
from rlhf_platform.core.slices import slice_end, slice_over


@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=10,
)
def item_rewards_task(item_id: int) -> int:
    """Post the rewards of a final item's labels. Idempotent (one reference per label): a
    redelivered or retried task posts only what is missing."""
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
    """Queue the reward task of every final item whose rewards are missing (its own task was
    lost with the broker, or failed past its retries): beat, every 10 minutes. Returns how many
    items were queued."""
    items = items_missing_rewards()
    for item_id in items:
        item_rewards_task.delay(item_id)
    return len(items)
