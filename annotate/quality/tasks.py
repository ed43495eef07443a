"""Celery tasks of the quality pipeline: thin wrappers that take ids and call the services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction

from annotate.quality.services import (
    items_quality_refresh,
    label_quality_process,
    project_model_fit,
    projects_needing_fit,
)


@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),  # a deadlock or serialisation failure: try again
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def label_quality_task(label_id: str) -> bool:
    """The after-submit quality step of one label. Idempotent (``Label.quality_at``)."""
    return label_quality_process(label_id=label_id)


def label_quality_enqueue_on_commit(label_id) -> None:
    """Queue :func:`label_quality_task` once the submit's transaction commits."""
    label_id = str(label_id)
    transaction.on_commit(lambda: label_quality_task.delay(label_id))


@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def items_quality_refresh_task(item_ids: list[int]) -> int:
    """Recompute the consensus of items whose counted labels changed (suspension, appeal)."""
    return items_quality_refresh(item_ids=[int(i) for i in item_ids])


@shared_task(ignore_result=True, acks_late=True)
def project_model_fit_task(project_id: str) -> None:
    """Fit and store the project's Dawid-Skene model."""
    project_model_fit(project_id=project_id)


@shared_task(ignore_result=True)
def quality_models_refresh_task() -> int:
    """Beat, every few minutes: refit the projects with enough new labels since their last fit
    (``QUALITY_REFIT_MIN_NEW_LABELS``). Debounced by design: a busy project is refitted at most
    once per beat, an idle one never."""
    due = projects_needing_fit(min_new_labels=settings.QUALITY_REFIT_MIN_NEW_LABELS)
    for project_id in due:
        project_model_fit_task.delay(str(project_id))
    return len(due)
