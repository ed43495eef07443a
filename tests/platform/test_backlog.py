"""The background work's backlog (rlhf_platform.core.backlog): what each stage counts as waiting
and since when, when a stage is behind its goal, the broker's queues, and where staff and
monitoring read it (the page, its live table, the API, /healthz's details)."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from contextlib import contextmanager
from importlib import import_module

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from annotate.models import Batch, Label
from rewards.models import RewardDue
from rewards.payouts.models import PayoutRun
from rlhf_platform.accounts.models import User
from rlhf_platform.core.backlog import STAGE_NAMES, broker_queues, pipeline_backlog
from rlhf_platform.settings import _backlog_goals
from rlhf_platform.webhooks.models import WebhookDelivery
from tests.factories import (
    BatchFactory,
    ExpertProfileFactory,
    ItemFactory,
    LabelFactory,
    StaffFactory,
    WebhookDeliveryFactory,
)

pytestmark = pytest.mark.django_db
celery_app = import_module("rlhf_platform.celery_app")  # the module; the package's attribute is the app

NOW = timezone.now()


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def stages(**kwargs) -> dict:
    return {stage["stage"]: stage for stage in pipeline_backlog(now=NOW, broker=False, **kwargs)["stages"]}


@contextmanager
def celery_conf(**values):
    """Celery's settings for one test (its conf object refuses pytest's monkeypatch undo)."""
    conf = celery_app.app.conf
    previous = {key: conf[key] for key in values}
    conf.update(values)
    try:
        yield
    finally:
        conf.update(previous)


def _payout_run(status: str, created_at: dt.datetime) -> PayoutRun:
    return PayoutRun.objects.create(
        status=status,
        trigger=PayoutRun.Trigger.SCHEDULE,
        min_amount=1,
        chain_id=1337,
        chain_key="1337",
        payer="0x" + "1" * 40,
        token="0x" + "2" * 40,
        created_at=created_at,
    )


def test_nothing_waits_on_an_idle_platform():
    for stage in stages().values():
        assert stage["waiting"] == 0
        assert stage["oldest_seconds"] is None
        assert stage["behind"] is False


def test_each_stage_counts_its_pending_rows_and_the_oldest_age():
    waiting_labels = [LabelFactory(created_at=ago(seconds)) for seconds in (30, 3)]
    LabelFactory(created_at=ago(600), quality_at=ago(599))  # its step ran: not waiting
    assert Label.objects.filter(quality_at__isnull=True).count() == len(waiting_labels)

    for seconds in (7, 1):
        RewardDue.objects.create(item=ItemFactory(), due_at=ago(seconds))

    WebhookDeliveryFactory(next_attempt_at=ago(12))  # due
    WebhookDeliveryFactory(next_attempt_at=ago(2))  # due
    WebhookDeliveryFactory(next_attempt_at=NOW + dt.timedelta(seconds=60))  # a retry waiting its time
    WebhookDeliveryFactory(
        next_attempt_at=None, status=WebhookDelivery.Status.DELIVERED, delivered_at=ago(100)
    )

    BatchFactory(status=Batch.Status.QUEUED, created_at=ago(90))
    BatchFactory(status=Batch.Status.INGESTING, created_at=ago(20))
    BatchFactory(status=Batch.Status.INGESTED, created_at=ago(900))

    _payout_run(PayoutRun.Status.COMPLETED, ago(5000))
    _payout_run(PayoutRun.Status.RUNNING, ago(100))

    found = stages()
    assert {name: (s["waiting"], s["oldest_seconds"]) for name, s in found.items()} == {
        "quality": (2, 30.0),
        "rewards": (2, 7.0),
        "webhooks": (2, 12.0),
        "ingest": (2, 90.0),
        "payouts": (1, 100.0),
    }
    # Against the default goals: 2, 5, 5, 60 and 900 seconds.
    assert {name for name, s in found.items() if s["behind"]} == {"quality", "rewards", "webhooks", "ingest"}
    assert [s["queue"] for s in found.values()] == ["quality", "rewards", "webhooks", "ingest", "payouts"]


def test_a_stage_is_behind_only_past_its_goal():
    LabelFactory(created_at=ago(30))
    assert stages()["quality"]["behind"] is True
    with override_settings(BACKLOG_GOAL_SECONDS={"quality": 31}):
        backlog = pipeline_backlog(now=NOW, broker=False)
    assert backlog["behind"] == []
    assert backlog["stages"][0]["goal_seconds"] == 31.0


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", {}),
        ("quality=1.5, webhooks=10", {"quality": 1.5, "webhooks": 10.0}),
    ],
)
def test_the_goals_setting_reads_stage_equals_seconds(monkeypatch, value, expected):
    monkeypatch.setenv("BACKLOG_GOAL_SECONDS", value)
    assert _backlog_goals("BACKLOG_GOAL_SECONDS") == expected


def test_the_goals_setting_knows_every_stage(monkeypatch):
    # settings.py cannot import the stages: its list of names must follow theirs
    monkeypatch.setenv("BACKLOG_GOAL_SECONDS", ",".join(f"{name}=7" for name in STAGE_NAMES))
    assert _backlog_goals("BACKLOG_GOAL_SECONDS") == dict.fromkeys(STAGE_NAMES, 7.0)


@pytest.mark.parametrize("value", ["quality", "quality=soon", "quality=0", "quality=nan", "queue=5"])
def test_the_goals_setting_refuses_what_it_cannot_read(monkeypatch, value):
    monkeypatch.setenv("BACKLOG_GOAL_SECONDS", value)
    with pytest.raises(ImproperlyConfigured, match="BACKLOG_GOAL_SECONDS"):
        _backlog_goals("BACKLOG_GOAL_SECONDS")


def test_without_a_broker_the_tasks_run_eagerly():
    assert broker_queues() == {"mode": "eager"}


@pytest.mark.skipif(not settings.REDIS_URL, reason="counts a real Redis broker's queue (REDIS_URL)")
def test_the_broker_counts_the_messages_waiting_in_each_queue(monkeypatch):
    from kombu import Exchange, Producer, Queue

    name = f"backlog-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(celery_app, "QUEUES", (name, f"{name}-empty"))
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    with celery_conf(task_always_eager=False), celery_app.app.connection_for_write() as conn:
        producer = Producer(conn.default_channel)
        for n in range(3):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=name, declare=[queue])
        try:
            counted = broker_queues()
            assert counted == {"mode": "broker", "ok": True, "messages": {name: 3, f"{name}-empty": 0}}
        finally:
            queue(conn.default_channel).delete()


def test_a_broker_that_does_not_answer_is_reported():
    with celery_conf(task_always_eager=False, broker_url="redis://127.0.0.1:1/0"):
        result = broker_queues()
    assert result["mode"] == "broker" and result["ok"] is False and result["error"]


# --- Where it is read ------------------------------------------------------------------------


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_staff_read_the_page_and_its_live_table():
    LabelFactory(created_at=timezone.now() - dt.timedelta(seconds=40))
    client = _client(StaffFactory(staff_role=User.StaffRole.REVIEWER))
    page = client.get("/staff/pipeline/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-live-url="/staff/pipeline/live/"' in html
    assert "Behind: quality." in html
    assert '<tr data-stage="quality">' in html
    assert "Tasks run in the web process" in html  # eager in tests
    live = client.get("/staff/pipeline/live/").content.decode()
    assert live.lstrip().startswith('<div id="pipeline-live" data-live-part>')
    assert '<tr data-stage="payouts">' in live


@pytest.mark.parametrize("path", ["/staff/pipeline/", "/staff/pipeline/live/"])
def test_the_page_is_for_staff_only(path):
    assert _client().get(path).status_code == 302  # to the log-in
    assert _client(ExpertProfileFactory().user).get(path).status_code == 403


def test_the_api_gives_staff_the_same_figures():
    LabelFactory(created_at=timezone.now() - dt.timedelta(seconds=40))
    client = _client(StaffFactory(staff_role=User.StaffRole.REVIEWER))
    body = client.get("/api/v1/staff/pipeline").json()
    assert body["behind"] == ["quality"]
    quality = body["stages"][0]
    assert quality["stage"] == "quality" and quality["waiting"] == 1 and quality["oldest_seconds"] >= 40
    assert body["broker"] == {"mode": "eager"}
    assert _client(ExpertProfileFactory().user).get("/api/v1/staff/pipeline").status_code == 403


def test_healthz_details_carry_the_backlog_and_the_verdict_ignores_it():
    LabelFactory(created_at=timezone.now() - dt.timedelta(seconds=40))
    anonymous = _client().get("/healthz")
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "ok"}
    details = _client(StaffFactory()).get("/healthz").json()
    assert details["status"] == "ok"
    assert details["backlog"]["behind"] == ["quality"]
    assert [s["stage"] for s in details["backlog"]["stages"]][0] == "quality"


# --- manage.py pipeline_status ---------------------------------------------------------------


def _status(*args) -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("pipeline_status", *args, stdout=out)
    except SystemExit as exc:
        return out.getvalue(), int(exc.code)
    return out.getvalue(), 0


def test_the_command_prints_every_stage_and_checks_none_is_behind():
    out, code = _status("--check")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "quality",
        "rewards",
        "webhooks",
        "ingest",
        "payouts",
        "broker",
    ]
    assert lines[0].split()[:3] == ["quality", "waiting", "0"] and lines[0].endswith("keeping up")
    assert lines[-1] == "broker    none: tasks run in the web process"


def test_the_command_exits_1_on_check_when_a_stage_is_behind():
    LabelFactory(created_at=timezone.now() - dt.timedelta(seconds=40))
    out, code = _status()
    assert code == 0  # without --check it only reports
    assert out.splitlines()[0].split()[:3] == ["quality", "waiting", "1"] and out.splitlines()[0].endswith(
        "behind"
    )
    assert _status("--check")[1] == 1


def test_the_command_exits_1_on_check_when_the_broker_does_not_answer():
    with celery_conf(task_always_eager=False, broker_url="redis://127.0.0.1:1/0"):
        out, code = _status("--check")
    assert code == 1
    assert "broker    did not answer:" in out
