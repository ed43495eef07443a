"""Celery tasks of the payouts app: thin wrappers that load ids and call the services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from rewards.payouts.models import PayoutRun
from rewards.payouts.services import payout_run_create, payout_run_execute
from rlhf_platform.core.exceptions import ApplicationError

log = logging.getLogger(__name__)


def _chain_is_shared() -> bool:
    """A worker may pay only on a chain the web process sees too: a node (CHAIN_RPC_URL), or
    the in-process chain when tasks run eagerly in the web process itself (no REDIS_URL)."""
    return bool(settings.CHAIN_RPC_URL) or not settings.REDIS_URL


@shared_task(acks_late=True)
def payout_run_execute_task(run_id: str) -> None:
    payout_run_execute(run_id=run_id)


@shared_task
def payout_run_scheduled_task() -> None:
    if not _chain_is_shared():
        log.warning("Scheduled payout skipped: no CHAIN_RPC_URL, so this worker has its own chain.")
        return
    try:
        run = payout_run_create(trigger=PayoutRun.Trigger.SCHEDULE)
    except ApplicationError as exc:
        log.info("Scheduled payout not started: %s", exc.message)
        return
    if run.status == PayoutRun.Status.PENDING_APPROVAL:
        # Above PAYOUT_UNATTENDED_MAX_TOTAL: an admin approves it on /staff/payouts/.
        log.warning("Scheduled payout run %s is over the unattended cap: waiting for approval", run.pk)
        return
    payout_run_execute(run_id=run.pk)


@shared_task
def payout_runs_resume_task() -> None:
    """Come back to running runs: confirmations to wait for, transient broadcast errors."""
    if not _chain_is_shared():
        return
    for run_id in PayoutRun.objects.filter(status=PayoutRun.Status.RUNNING).values_list("pk", flat=True):
        try:
            payout_run_execute(run_id=run_id)
        except Exception:  # one run's trouble must not stop the sweep; it is logged and retried
            log.exception("Resuming payout run %s failed", run_id)
