"""What the background work still has to do, stage by stage: how much waits and since when.

Each stage reads its own pending set, the rows its worker takes work from, so that the read
costs the backlog, not the history (labels and deliveries through partial indexes of their
pending rows, rewards from the table of due items; batches and payout runs are few):

- ``quality``: labels whose after-submit step has not run (``Label.quality_at`` null), since
  the oldest one's submit;
- ``rewards``: final items whose rewards are due (``RewardDue``), since the oldest marking;
- ``webhooks``: deliveries due and not being attempted (pending, the next attempt's time
  passed), since the oldest one's due time;
- ``ingest``: batches queued or ingesting, since the oldest one's upload;
- ``payouts``: payout runs running (approved, not finished), since the oldest one's creation.

Each is done by the worker of the Celery queue of the same name.

A stage is ``behind`` when its oldest waiting row is older than the stage's goal
(``BACKLOG_GOAL_SECONDS``): the figures the pipeline is measured against (quality within 2 s,
rewards and webhooks within 5 s), a minute for an upload, a quarter of an hour for a payout run.
A webhook retry waiting for its time, an upload not yet received, a run waiting for its second
approver are not backlog: nothing of ours could do them sooner.

With a broker (not eager), the messages waiting in each Celery queue are counted too. The
staff page ``/staff/pipeline/``, ``GET /api/v1/staff/pipeline`` and ``/healthz``'s details show
this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone


def _quality(now: datetime) -> dict[str, Any]:
    from annotate.models import Label

    return Label.objects.filter(quality_at__isnull=True).aggregate(
        waiting=Count("pk"), since=Min("created_at")
    )


def _rewards(now: datetime) -> dict[str, Any]:
    from rewards.models import RewardDue

    return RewardDue.objects.aggregate(waiting=Count("pk"), since=Min("due_at"))


def _webhooks(now: datetime) -> dict[str, Any]:
    from rlhf_platform.webhooks.models import WebhookDelivery

    return WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).aggregate(waiting=Count("pk"), since=Min("next_attempt_at"))


def _ingest(now: datetime) -> dict[str, Any]:
    from annotate.models import Batch

    return Batch.objects.filter(status__in=[Batch.Status.QUEUED, Batch.Status.INGESTING]).aggregate(
        waiting=Count("pk"), since=Min("created_at")
    )


def _payouts(now: datetime) -> dict[str, Any]:
    from rewards.payouts.models import PayoutRun

    return PayoutRun.objects.filter(status=PayoutRun.Status.RUNNING).aggregate(
        waiting=Count("pk"), since=Min("created_at")
    )


@dataclass(frozen=True)
class Stage:
    name: str  # also the Celery queue whose worker does this stage's work
    waits: str  # what waits, in words, for the page
    read: Callable[[datetime], dict[str, Any]]  # {"waiting": int, "since": datetime | None}
    goal: float  # seconds, unless BACKLOG_GOAL_SECONDS names the stage


STAGES = [
    Stage("quality", "labels waiting for the after-submit step", _quality, 2),
    Stage("rewards", "final items whose rewards are due", _rewards, 5),
    Stage("webhooks", "webhook deliveries due", _webhooks, 5),
    Stage("ingest", "batches queued or ingesting", _ingest, 60),
    Stage("payouts", "payout runs running", _payouts, 900),
]
STAGE_NAMES = [stage.name for stage in STAGES]


def broker_queues() -> dict[str, Any]:
    """The messages waiting in each of our Celery queues (``{"mode": "eager"}`` without a
    broker). A broker that does not answer is reported, not raised."""
    # The module, not the package's attribute of the same name (the app itself).
    celery_app = import_module("rlhf_platform.celery_app")
    app = celery_app.app
    if app.conf.task_always_eager:
        return {"mode": "eager"}

    try:
        waiting = {}
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            for name in celery_app.QUEUES:
                channel = conn.channel()  # a failed passive declare closes an AMQP channel
                try:
                    waiting[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
                except conn.channel_errors:  # not declared (Redis drops an empty list): none wait
                    waiting[name] = 0
                finally:
                    channel.close()
        return {"mode": "broker", "ok": True, "messages": waiting}
    except Exception as exc:  # the page and /healthz show it; the database figures still count
        return {"mode": "broker", "ok": False, "error": str(exc)}


def pipeline_backlog(*, now: datetime | None = None, broker: bool = True) -> dict[str, Any]:
    """Every stage's backlog (the module's list), in order, and the broker's queues."""
    now = now or timezone.now()
    stages = []
    for stage in STAGES:
        read = stage.read(now)
        since = read["since"]
        oldest = max(0.0, (now - since).total_seconds()) if since is not None else None
        goal = float(getattr(settings, "BACKLOG_GOAL_SECONDS", {}).get(stage.name, stage.goal))
        stages.append(
            {
                "stage": stage.name,
                "queue": stage.name,
                "waits": stage.waits,
                "waiting": int(read["waiting"]),
                "oldest_seconds": None if oldest is None else round(oldest, 1),
                "goal_seconds": goal,
                "behind": oldest is not None and oldest > goal,
            }
        )
    result: dict[str, Any] = {
        "at": now,
        "stages": stages,
        "behind": [s["stage"] for s in stages if s["behind"]],
    }
    if broker:
        result["broker"] = broker_queues()
    return result
