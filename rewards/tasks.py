"""Celery tasks of rewards: thin wrappers that take ids, re-read and call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from rewards.services import clawbacks_reconcile, item_rewards


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


@shared_task(ignore_result=True, acks_late=True)
def clawbacks_reconcile_task() -> int:
    """Claw back rewards of labels since excluded from consensus (beat: every 10 minutes)."""
    return clawbacks_reconcile()


@shared_task(ignore_result=True, acks_late=True)
def holdbacks_settle_task() -> dict:
    """Release or forfeit held shares whose verdict is due (beat: every 10 minutes)."""
    from rewards.holdbacks import holdbacks_settle

    return holdbacks_settle()


@shared_task(ignore_result=True, acks_late=True)
def reward_adjustments_task() -> int:
    """Adjust rewards for revised consensus (beat: every 10 minutes)."""
    from rewards.holdbacks import reward_adjustments_post

    return reward_adjustments_post()
