"""Every task of ours goes to a queue of its kind of work (rlhf_platform/celery_app.py)."""

from __future__ import annotations

import pytest
from django.conf import settings

from rlhf_platform.celery_app import QUEUES, TASK_QUEUES, app, task_queue

OURS = ("annotate.", "rewards.", "rlhf_platform.")


def _our_tasks() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if name.startswith(OURS))


def test_every_task_of_ours_is_routed_to_a_known_queue():
    names = _our_tasks()
    assert len(names) >= 20  # the discovery found the task modules
    unrouted = [name for name in names if task_queue(name) is None]
    assert unrouted == [], "add these tasks (or their module) to celery_app.TASK_QUEUES"
    assert {task_queue(name) for name in names} <= set(QUEUES)
    assert set(TASK_QUEUES.values()) <= set(QUEUES)


@pytest.mark.parametrize(
    ("name", "queue"),
    [
        ("annotate.quality.tasks.labels_quality_drain_task", "quality"),
        ("rewards.tasks.item_rewards_task", "rewards"),
        ("rewards.payouts.tasks.payout_runs_resume_task", "payouts"),
        ("rlhf_platform.webhooks.tasks.webhook_deliver_task", "webhooks"),
        ("annotate.tasks.batch_ingest_task", "ingest"),
        ("annotate.tasks.assignments_expire_task", "default"),
        ("rlhf_platform.accounts.tasks.password_reset_email_send_task", "default"),
    ],
)
def test_celery_routes_each_kind_of_work_to_its_queue(name, queue):
    route = app.amqp.router.route({}, name)
    assert route["queue"].name == queue
    assert route["queue"].routing_key == queue  # not the default queue's binding


def test_a_task_outside_the_table_is_not_routed():
    assert task_queue("somewhere.else.some_task") is None
    assert app.amqp.router.route({}, "somewhere.else.some_task")["queue"].name == "default"


def test_beat_schedule_names_only_registered_tasks():
    registered = set(_our_tasks())
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in registered
        assert task_queue(entry["task"]) in QUEUES


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs the Redis broker (REDIS_URL)")
def test_a_published_task_lands_in_its_queue_on_the_broker():
    from rewards.tasks import item_rewards_task

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            client.delete("rewards", "default")
            item_rewards_task.apply_async((123456,))
            assert client.llen("rewards") == 1
            assert client.llen("default") == 0
            client.delete("rewards")
    finally:
        app.conf.task_always_eager = previous


def test_the_launcher_starts_one_worker_per_queue():
    from rlhf_platform.workers import parse_concurrency, worker_commands

    commands = worker_commands(list(QUEUES), parse_concurrency("webhooks=8, quality=2"))
    consumed = [command[command.index("--queues") + 1] for command in commands]
    assert consumed == list(QUEUES)  # each queue once, each in its own process
    by_queue = dict(zip(consumed, commands, strict=True))
    assert by_queue["webhooks"][-3:-1] == ["--concurrency", "8"]
    assert "threads" in by_queue["webhooks"]
    assert "prefork" in by_queue["quality"]
    assert "solo" in by_queue["payouts"]  # a worker of one runs its task in its own process
    assert len({command[command.index("--hostname") + 1] for command in commands}) == len(QUEUES)


@pytest.mark.parametrize("text", ["nowhere=2", "quality=0", "quality=x"])
def test_the_launcher_refuses_a_bad_concurrency(text):
    from rlhf_platform.workers import parse_concurrency

    with pytest.raises(ValueError, match="quality|nowhere"):
        parse_concurrency(text)


def test_the_launcher_stops_every_worker_when_one_exits_and_returns_its_status():
    import sys
    import time

    from rlhf_platform.workers import run

    started = time.monotonic()
    status = run(
        [
            [sys.executable, "-c", "import time; time.sleep(60)"],
            [sys.executable, "-c", "import time, sys; time.sleep(0.3); sys.exit(3)"],
        ]
    )
    assert status == 3
    assert time.monotonic() - started < 30  # the sleeper was stopped, not waited for
