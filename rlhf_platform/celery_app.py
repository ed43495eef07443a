"""The Celery application. Configuration comes from Django settings (``CELERY_*``).

Tasks are routed here, and only here, to one queue per kind of work, so that a long quality
step never holds up a webhook, a reward or a payout: each queue has its own worker process
(``python -m rlhf_platform.workers``, ``make worker``). A task is routed by its module, or by
its own name where a module holds more than one kind of work; tests/platform/test_task_routes.py
fails for a task of ours that no entry routes.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rlhf_platform.settings")

# Every queue, in the order the launcher starts their workers.
QUEUES = ("quality", "rewards", "webhooks", "ingest", "payouts", "default")

# Task name (exact) first, then its module, then the module's parents.
TASK_QUEUES = {
    "annotate.tasks.batch_ingest_task": "ingest",
    "annotate.tasks.batches_stalled_sweep_task": "ingest",
    "annotate.tasks.assignments_expire_task": "default",
    "annotate.quality.tasks": "quality",
    "rewards.tasks": "rewards",
    "rewards.payouts.tasks": "payouts",
    "rlhf_platform.webhooks.tasks": "webhooks",
    "rlhf_platform.accounts.tasks": "default",
    "rlhf_platform.experts.tasks": "default",
}


def task_queue(name: str) -> str | None:
    """The queue of the task called ``name``; None when no entry of TASK_QUEUES routes it."""
    key = name
    while key:
        if key in TASK_QUEUES:
            return TASK_QUEUES[key]
        key = key.rpartition(".")[0]
    return None


def route_task(name, args, kwargs, options, task=None, **kw):
    queue = task_queue(name)
    return {"queue": queue} if queue else None


app = Celery("rlhf_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name, routing_key=name) for name in QUEUES]
app.conf.task_default_queue = "default"
app.conf.task_routes = (route_task,)
app.autodiscover_tasks()
