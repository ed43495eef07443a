"""Uploads at the same moment: the database decides, and every item ends up exactly once.

Each upload runs in its own thread, so on its own database connection and in its own
transaction, as two server processes would; a barrier releases them together.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from django.db.models import Count
from rest_framework.test import APIClient

from annotate.ingest.services import batch_ingest, batch_receive
from annotate.models import Batch, BatchChunk, Item, Slot
from tests.factories import ProjectFactory, item_payload, ndjson_body
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NDJSON = "application/x-ndjson"
ITEMS = 2000
ROUNDS = 3


def _uploader(lab_key, project, body: bytes, *, query: str = "", key: str = "") -> Callable:
    def upload():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {lab_key[2]}")
        url = f"/api/v1/projects/{project.pk}/batches" + (f"?{query}" if query else "")
        headers = {"Idempotency-Key": key} if key else None
        return client.post(url, data=body, content_type=NDJSON, headers=headers)

    return upload


def _assert_each_item_once(project, expected: int) -> None:
    assert Item.objects.filter(project=project).count() == expected
    assert not (
        Item.objects.filter(project=project)
        .values("external_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    )
    # Every ordinary item has exactly its k slots, made by the batch that wrote it.
    per_item = set(
        Slot.objects.filter(project=project)
        .values("item")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    assert per_item == {project.overlap}
    assert Slot.objects.filter(project=project).count() == expected * project.overlap


@pytest.fixture
def body() -> bytes:
    return ndjson_body([item_payload(f"item-{i}") for i in range(ITEMS)])


@pytest.fixture(autouse=True)
def _inline(settings):
    settings.BATCH_INLINE_MAX_BYTES = 50 << 20


def test_concurrent_uploads_of_the_same_items_write_each_once_and_fail_the_loser(lab, lab_key, body):
    for round_ in range(ROUNDS):
        project = ProjectFactory(lab=lab, overlap=2, max_overlap=5, name=f"round {round_}")

        responses = run_together([_uploader(lab_key, project, body), _uploader(lab_key, project, body)])

        assert sorted(r.status_code for r in responses) == [201, 400]
        loser = next(r for r in responses if r.status_code == 400).json()
        assert loser["batch"]["error_count"] == ITEMS
        assert len(loser["errors"]) == 1000
        assert {(e["field"], e["code"]) for e in loser["errors"]} == {("external_id", "duplicate")}
        assert [e["line"] for e in loser["errors"]] == list(range(1, 1001))
        statuses = sorted(Batch.objects.filter(project=project).values_list("status", "items_created"))
        assert statuses == [("failed", 0), ("ingested", ITEMS)]
        _assert_each_item_once(project, ITEMS)
        winner = Batch.objects.get(project=project, status="ingested")
        assert Item.objects.filter(project=project, batch=winner).count() == ITEMS
        assert not BatchChunk.objects.exists()


def test_concurrent_uploads_with_skip_both_ingest_and_created_counts_sum_to_the_items(lab, lab_key):
    for round_ in range(ROUNDS):
        project = ProjectFactory(lab=lab, overlap=3, name=f"round {round_}")
        # Overlapping halves: 0..1499 and 500..1999, so each upload has ids the other also sends.
        first = ndjson_body([item_payload(f"item-{i}") for i in range(0, 1500)])
        second = ndjson_body([item_payload(f"item-{i}") for i in range(500, ITEMS)])

        responses = run_together(
            [
                _uploader(lab_key, project, first, query="on_duplicate=skip"),
                _uploader(lab_key, project, second, query="on_duplicate=skip"),
            ]
        )

        assert [r.status_code for r in responses] == [201, 201], [r.json() for r in responses]
        created = [r.json()["items_created"] for r in responses]
        skipped = [r.json()["items_skipped"] for r in responses]
        assert sum(created) == ITEMS
        assert sum(skipped) == 1000  # the 1,000 ids both sent were written once, skipped once
        assert [c + s for c, s in zip(created, skipped, strict=True)] == [1500, 1500]
        _assert_each_item_once(project, ITEMS)
        for response in responses:
            batch_id = response.json()["id"]
            assert Item.objects.filter(batch_id=batch_id).count() == response.json()["items_created"]


def test_concurrent_identical_skip_uploads_write_each_item_once(lab, lab_key, body):
    project = ProjectFactory(lab=lab, overlap=3)

    responses = run_together(
        [
            _uploader(lab_key, project, body, query="on_duplicate=skip"),
            _uploader(lab_key, project, body, query="on_duplicate=skip"),
        ]
    )

    assert [r.status_code for r in responses] == [201, 201]
    assert sorted(r.json()["items_created"] for r in responses) == [0, ITEMS]
    assert sorted(r.json()["items_skipped"] for r in responses) == [0, ITEMS]
    _assert_each_item_once(project, ITEMS)


def test_concurrent_uploads_with_the_same_idempotency_key_make_one_batch(lab, lab_key, body):
    for round_ in range(ROUNDS):
        project = ProjectFactory(lab=lab, overlap=3, name=f"round {round_}")

        responses = run_together(
            [
                _uploader(lab_key, project, body, key="nightly-upload"),
                _uploader(lab_key, project, body, key="nightly-upload"),
            ]
        )

        assert all(r.status_code in (201, 202) for r in responses), [r.json() for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        assert sorted("Idempotent-Replayed" in r for r in responses) == [False, True]
        assert Batch.objects.filter(project=project).count() == 1
        batch = Batch.objects.get(project=project)
        assert (batch.status, batch.items_created) == ("ingested", ITEMS)
        _assert_each_item_once(project, ITEMS)


def _queued_batch(project, body: bytes) -> Batch:
    return batch_receive(project=project, stream=io.BytesIO(body), content_type=NDJSON).batch


def test_batch_ingest_run_again_after_it_finished_writes_nothing_more(lab, body):
    project = ProjectFactory(lab=lab, overlap=3)
    batch = _queued_batch(project, body)

    first = batch_ingest(batch_id=batch.pk)
    again = batch_ingest(batch_id=batch.pk)

    assert (first.status, first.items_created) == ("ingested", ITEMS)
    assert (again.status, again.items_created, again.finished_at) == ("ingested", ITEMS, first.finished_at)
    _assert_each_item_once(project, ITEMS)


def test_batch_ingest_redelivered_while_running_writes_once(lab, body):
    for round_ in range(ROUNDS):
        project = ProjectFactory(lab=lab, overlap=3, name=f"round {round_}")
        batch = _queued_batch(project, body)

        results = run_together([lambda b=batch: batch_ingest(batch_id=b.pk)] * 2)

        assert {(r.pk, r.status) for r in results} == {(batch.pk, "ingested")}
        batch.refresh_from_db()
        assert (batch.status, batch.items_created, batch.error_count) == ("ingested", ITEMS, 0)
        _assert_each_item_once(project, ITEMS)
        assert not BatchChunk.objects.filter(batch=batch).exists()
