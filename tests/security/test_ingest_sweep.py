"""A batch whose ingest died mid-way is swept to "failed" with a reason, not left ingesting."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from annotate.ingest import services as ingest_services
from annotate.ingest.validate import ItemValidator
from annotate.models import Batch, BatchChunk, Item
from annotate.tasks import batches_stalled_sweep_task
from tests.factories import ProjectFactory, item_payload, ndjson_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab, status="active")


def _crash_inline_ingest(lab_client, project, monkeypatch) -> Batch:
    """An inline upload whose process dies half-way (SystemExit passes every ``except
    Exception``, as a killed worker skips them all)."""

    real = ItemValidator.check_bytes
    checked = []

    def die(self, line, raw):
        checked.append(line)
        if len(checked) > 2:  # both lines passed the check at receipt; the ingest's first dies
            raise SystemExit("worker killed")
        return real(self, line, raw)

    monkeypatch.setattr(ItemValidator, "check_bytes", die)
    body = ndjson_body([item_payload("e-1"), item_payload("e-2")])
    with pytest.raises(SystemExit):
        lab_client.post(
            f"/api/v1/projects/{project.pk}/batches", data=body, content_type="application/x-ndjson"
        )
    monkeypatch.undo()
    [batch] = Batch.objects.filter(project=project)
    assert batch.status == Batch.Status.INGESTING
    return batch


def _age(batch: Batch, seconds: float) -> None:
    Batch.objects.filter(pk=batch.pk).update(started_at=timezone.now() - dt.timedelta(seconds=seconds))


def test_a_crashed_inline_ingest_is_failed_with_a_reason(lab_client, project, monkeypatch, settings):
    settings.BATCH_STALLED_SECONDS = 600
    batch = _crash_inline_ingest(lab_client, project, monkeypatch)
    _age(batch, 601)

    assert batches_stalled_sweep_task() == 1

    batch.refresh_from_db()
    assert batch.status == Batch.Status.FAILED
    assert batch.finished_at is not None
    assert [(e["code"], e["field"]) for e in batch.errors] == [("stalled", None)]
    assert "nothing was written" in batch.errors[0]["message"]
    assert not BatchChunk.objects.filter(batch=batch).exists()
    assert not Item.objects.filter(batch=batch).exists()
    response = lab_client.get(f"/api/v1/batches/{batch.pk}")
    assert response.json()["status"] == "failed"


def test_an_ingest_within_the_allowed_time_is_left_alone(lab_client, project, monkeypatch, settings):
    settings.BATCH_STALLED_SECONDS = 600
    batch = _crash_inline_ingest(lab_client, project, monkeypatch)
    _age(batch, 599)

    assert batches_stalled_sweep_task() == 0
    batch.refresh_from_db()
    assert batch.status == Batch.Status.INGESTING


def test_recent_progress_keeps_a_long_ingest_alive(lab_client, project, monkeypatch, settings):
    settings.BATCH_STALLED_SECONDS = 600
    batch = _crash_inline_ingest(lab_client, project, monkeypatch)
    _age(batch, 3600)
    # A progress write 10 s ago, as the ingest makes every few thousand lines.
    from django.core.cache import cache

    cache.set(ingest_services._heartbeat_key(batch.pk), timezone.now().timestamp() - 10)

    assert batches_stalled_sweep_task() == 0
    batch.refresh_from_db()
    assert batch.status == Batch.Status.INGESTING
    cache.clear()


def test_finished_and_queued_batches_are_not_touched(project, settings):
    settings.BATCH_STALLED_SECONDS = 1
    long_ago = timezone.now() - dt.timedelta(days=1)
    for status in (Batch.Status.QUEUED, Batch.Status.INGESTED, Batch.Status.FAILED):
        Batch.objects.create(project=project, status=status, request_sha256="0" * 64, started_at=long_ago)

    assert batches_stalled_sweep_task() == 0


def test_the_sweep_is_scheduled(settings):
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "annotate.tasks.batches_stalled_sweep_task" in schedule


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_locked_by_a_live_writer_is_left_alone(project, settings):
    settings.BATCH_STALLED_SECONDS = 1
    batch = Batch.objects.create(
        project=project,
        status=Batch.Status.INGESTING,
        request_sha256="0" * 64,
        started_at=timezone.now() - dt.timedelta(hours=1),
    )
    locked, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                Batch.objects.select_for_update().get(pk=batch.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert locked.wait(10)
        assert batches_stalled_sweep_task() == 0
    finally:
        release.set()
        thread.join()
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.INGESTING
    assert batches_stalled_sweep_task() == 1
