"""Celery tasks of the quality pipeline: thin wrappers that take ids and call the services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, transaction

from annotate.quality.services import (
    items_quality_refresh,
    label_quality_process,
    labels_quality_drain,
    project_model_fit,
    projects_needing_fit,
)
from rlhf_platform.core.slices import slice_end, slice_over

# Set while a drain task is queued and has not started: further submits need not queue another
# (the queued one will see their labels, as it clears this key before it looks). The TTL bounds
# the wait if that task's message is lost; the periodic sweep catches anything left.
DRAIN_PENDING_KEY = "quality:labels-drain-pending"
DRAIN_PENDING_TTL = 30

# The pipeline's tasks are idempotent: acknowledged once done, and retried with backoff after a
# deadlock or a serialisation failure.
RETRIED = {
    "ignore_result": True,
    "acks_late": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


@shared_task(**RETRIED)
def label_quality_task(label_id: str) -> bool:
    """The after-submit quality step of one label. Idempotent (``Label.quality_at``). Submits
    now nudge :func:`labels_quality_drain_task` instead; this task still runs what an earlier
    version queued."""
    return label_quality_process(label_id=label_id)


@shared_task(**RETRIED)
def labels_quality_drain_task() -> int:
    """Run the after-submit quality step of every label still waiting for it, oldest first.
    The labels themselves are the queue (``Label.quality_at`` is null until the step ran), so
    a lost message loses nothing: the next drain, or the periodic sweep, takes them."""
    cache.delete(DRAIN_PENDING_KEY)
    until = slice_end()
    done = labels_quality_drain(until=until)
    if done and slice_over(until):
        labels_quality_nudge()  # the slice ran out: the rest in the next one
    return done


def labels_quality_nudge() -> None:
    """After labels were stored (and committed): make sure a drain will run. One message per
    burst of submits, not one per label: the message and its task cost more than the step."""
    if cache.add(DRAIN_PENDING_KEY, 1, timeout=DRAIN_PENDING_TTL):
        try:
            labels_quality_drain_task.delay()
        except Exception:
            cache.delete(DRAIN_PENDING_KEY)  # the next submit tries again
            raise


def labels_quality_nudge_on_commit() -> None:
    # robust: the label is stored; a broker that is down must not fail the submit (the
    # error is logged, and the periodic sweep drains the label).
    transaction.on_commit(labels_quality_nudge, robust=True)


@shared_task(**RETRIED)
def items_quality_refresh_task(item_ids: list[int], suspension_id: str | None = None) -> int:
    """Recompute the consensus of items whose counted labels changed (suspension, appeal), one
    item at a time; when the slice (TASK_SLICE_SECONDS) is over, the rest go to a new task."""
    ids = [int(i) for i in item_ids]
    until = slice_end()
    done = 0
    for position, item_id in enumerate(ids):
        done += items_quality_refresh(item_ids=[item_id], suspension_id=suspension_id)
        if slice_over(until) and position + 1 < len(ids):
            items_quality_refresh_task.delay(ids[position + 1 :], suspension_id)
            break
    return done


@shared_task(ignore_result=True, acks_late=True)
def project_model_fit_task(project_id: str) -> None:
    """Fit and store the project's Dawid-Skene model."""
    project_model_fit(project_id=project_id)


@shared_task(ignore_result=True)
def labels_quality_sweep_task() -> None:
    """Beat, every minute: a drain, whatever happened to the nudges (a worker lost, a message
    dropped with a broker restart)."""
    labels_quality_drain_task.delay()


@shared_task(ignore_result=True)
def quality_models_refresh_task() -> int:
    """Beat, every few minutes: refit the projects with enough new labels since their last fit
    (``QUALITY_REFIT_MIN_NEW_LABELS``). Debounced by design: a busy project is refitted at most
    once per beat, an idle one never."""
    due = projects_needing_fit(min_new_labels=settings.QUALITY_REFIT_MIN_NEW_LABELS)
    for project_id in due:
        project_model_fit_task.delay(str(project_id))
    return len(due)
