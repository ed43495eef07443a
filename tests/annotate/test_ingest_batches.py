"""Uploading batches: inline and queued ingestion, slots, idempotent retries, all or nothing,
webhooks, priority, lists and permissions."""

from __future__ import annotations

import json
import time

import pytest
from rest_framework.test import APIClient

from annotate.models import Batch, BatchChunk, Item, Slot
from rlhf_platform.webhooks.models import WebhookDelivery
from rlhf_platform.webhooks.services import webhook_endpoint_create
from tests.factories import ProjectFactory, item_payload, make_api_key, ndjson_body

NDJSON = "application/x-ndjson"


def _upload(client: APIClient, project, body: bytes, *, content_type=NDJSON, query: str = "", key: str = ""):
    url = f"/api/v1/projects/{project.pk}/batches" + (f"?{query}" if query else "")
    headers = {"Idempotency-Key": key} if key else None
    return client.post(url, data=body, content_type=content_type, headers=headers)


def _records(n: int, *, prefix: str = "item", start: int = 0) -> list[dict]:
    return [item_payload(f"{prefix}-{i}") for i in range(start, start + n)]


def _wait_for_status(batch_id, statuses: set[str], timeout: float = 60.0) -> Batch:
    """Poll the database until a worker has moved the batch to one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        batch = Batch.objects.get(pk=batch_id)
        if batch.status in statuses:
            return batch
        assert time.monotonic() < deadline, f"batch still {batch.status} after {timeout} s"
        time.sleep(0.1)


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab, overlap=3)


# --- inline -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_small_batch_is_ingested_inline_with_k_slots_per_ordinary_item(lab_client, project):
    records = [*_records(4), item_payload("gold-1", gold={"choice": "A"})]

    response = _upload(lab_client, project, ndjson_body(records))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert response["Location"] == f"/api/v1/batches/{body['id']}"
    assert (body["status"], body["items_created"], body["items_skipped"], body["lines_total"]) == (
        "ingested",
        5,
        0,
        5,
    )
    items = Item.objects.filter(batch_id=body["id"])
    assert items.count() == 5
    for item in items.filter(is_gold=False):
        slots = list(Slot.objects.filter(item=item).order_by("idx").values_list("idx", "state", "project_id"))
        assert slots == [(0, "open", project.pk), (1, "waiting", project.pk), (2, "waiting", project.pk)]
        assert item.state == "open"
    assert not Slot.objects.filter(item__is_gold=True).exists()
    assert Slot.objects.count() == 4 * 3
    assert not BatchChunk.objects.exists()


@pytest.mark.django_db
def test_slots_follow_the_projects_overlap(lab_client, lab):
    project = ProjectFactory(lab=lab, overlap=5, max_overlap=5)

    response = _upload(lab_client, project, ndjson_body(_records(2)))

    assert response.status_code == 201, response.json()
    assert sorted(Slot.objects.filter(project=project).values_list("idx", flat=True)) == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
    ]


@pytest.mark.django_db
def test_json_array_batch_is_ingested_like_ndjson(lab_client, project):
    response = _upload(lab_client, project, json.dumps(_records(3)).encode(), content_type="application/json")

    assert response.status_code == 201, response.json()
    assert response.json()["content_type"] == "json"
    assert set(Item.objects.values_list("external_id", flat=True)) == {"item-0", "item-1", "item-2"}


@pytest.mark.django_db
def test_batch_detail_shows_counts_and_progress(lab_client, project):
    records = [*_records(3), item_payload("gold-1", gold={"choice": "B"})]
    batch_id = _upload(lab_client, project, ndjson_body(records)).json()["id"]

    response = lab_client.get(f"/api/v1/batches/{batch_id}")

    assert response.status_code == 200
    body = response.json()
    assert (
        body["id"],
        body["status"],
        body["items_created"],
        body["lines_processed"],
        body["error_count"],
    ) == (
        batch_id,
        "ingested",
        4,
        4,
        0,
    )
    assert body["errors"] == []
    assert body["finished_at"] is not None
    progress = body["progress"]
    assert progress["items"]["total"] == 4
    assert progress["items"]["gold"] == 1
    assert progress["items"]["by_state"]["open"] == 3
    assert progress["slots"] == {"filled": 0, "total": 9}
    assert progress["labels"]["total"] == 0


@pytest.mark.django_db
def test_priority_is_copied_to_the_batch_its_items_and_their_slots(lab_client, project):
    response = _upload(lab_client, project, ndjson_body(_records(3)), query="priority=7")

    assert response.status_code == 201, response.json()
    assert response.json()["priority"] == 7
    assert set(Item.objects.values_list("priority", flat=True)) == {7}
    assert set(Slot.objects.values_list("priority", flat=True)) == {7}
    assert Slot.objects.count() == 9


@pytest.mark.django_db
@pytest.mark.parametrize("priority", ["high", "1001", "-1001", "1.5"])
def test_invalid_priority_is_refused(lab_client, project, priority):
    response = _upload(lab_client, project, ndjson_body(_records(1)), query=f"priority={priority}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "priority"
    assert not Batch.objects.exists()


@pytest.mark.django_db
def test_archived_project_takes_no_batch(lab_client, lab):
    project = ProjectFactory(lab=lab, status="archived")

    response = _upload(lab_client, project, ndjson_body(_records(1)))

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "project_archived"
    assert not Batch.objects.exists()


@pytest.mark.django_db
def test_read_only_key_cannot_upload_but_can_list(lab, project):
    _key, raw = make_api_key(lab, scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    upload = _upload(client, project, ndjson_body(_records(1)))
    listing = client.get(f"/api/v1/projects/{project.pk}/batches")

    assert upload.status_code == 403
    assert upload.json()["errors"][0]["code"] == "permission_denied"
    assert "write" in upload.json()["errors"][0]["message"]
    assert not Batch.objects.exists()
    assert not Item.objects.exists()
    assert listing.status_code == 200


@pytest.mark.django_db
def test_batch_list_filters_by_status(lab_client, project):
    ingested = _upload(lab_client, project, ndjson_body(_records(2))).json()["id"]
    failed = _upload(lab_client, project, ndjson_body([item_payload("x", responses=1)])).json()["batch"]["id"]
    other_project = ProjectFactory(lab=project.lab)
    _upload(lab_client, other_project, ndjson_body(_records(1)))

    def ids(query: dict) -> list[str]:
        response = lab_client.get(f"/api/v1/projects/{project.pk}/batches", query)
        assert response.status_code == 200
        return [b["id"] for b in response.json()["results"]]

    assert sorted(ids({})) == sorted([ingested, failed])
    assert ids({"status": "failed"}) == [failed]
    assert ids({"status": "ingested"}) == [ingested]
    assert ids({"status": "queued"}) == []


# --- idempotency ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_retry_with_the_same_idempotency_key_returns_the_first_batch(lab_client, project):
    body = ndjson_body(_records(3))
    first = _upload(lab_client, project, body, key="upload-2024-06-01")

    again = _upload(lab_client, project, body, key="upload-2024-06-01")

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["items_created"] == 3
    assert Batch.objects.count() == 1
    assert Item.objects.count() == 3
    assert Slot.objects.count() == 9


@pytest.mark.django_db
def test_retry_of_a_failed_batch_replays_its_errors(lab_client, project):
    body = ndjson_body([item_payload("a"), item_payload("b", responses=1)])
    first = _upload(lab_client, project, body, key="k1")

    again = _upload(lab_client, project, body, key="k1")

    assert (first.status_code, again.status_code) == (400, 400)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["errors"] == first.json()["errors"]
    assert again.json()["batch"]["id"] == first.json()["batch"]["id"]
    assert Batch.objects.count() == 1


@pytest.mark.django_db
def test_same_idempotency_key_with_another_body_is_refused(lab_client, project):
    first = _upload(lab_client, project, ndjson_body(_records(2)), key="k1")

    reused = _upload(lab_client, project, ndjson_body(_records(2, start=2)), key="k1")

    assert reused.status_code == 422
    assert reused.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert reused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert reused.json()["batch"] == first.json()["id"]
    assert Batch.objects.count() == 1
    assert set(Item.objects.values_list("external_id", flat=True)) == {"item-0", "item-1"}


@pytest.mark.django_db
def test_idempotency_keys_are_per_project(lab_client, lab, project):
    other = ProjectFactory(lab=lab)
    body = ndjson_body(_records(2))

    first = _upload(lab_client, project, body, key="k1")
    second = _upload(lab_client, other, body, key="k1")

    assert (first.status_code, second.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in second
    assert first.json()["id"] != second.json()["id"]
    assert Item.objects.filter(project=other).count() == 2


@pytest.mark.django_db
def test_without_idempotency_key_a_retry_is_a_duplicate(lab_client, project):
    body = ndjson_body(_records(2))
    _upload(lab_client, project, body)

    again = _upload(lab_client, project, body)

    assert again.status_code == 400
    assert [(e["line"], e["code"]) for e in again.json()["errors"]] == [(1, "duplicate"), (2, "duplicate")]
    assert Item.objects.count() == 2


@pytest.mark.django_db
def test_overlong_idempotency_key_is_refused(lab_client, project):
    response = _upload(lab_client, project, ndjson_body(_records(1)), key="k" * 201)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert not Batch.objects.exists()


# --- all or nothing ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_one_bad_line_near_the_end_of_5000_leaves_nothing_behind(lab_client, project, settings):
    settings.BATCH_INLINE_MAX_BYTES = 50 << 20
    records = _records(5000)
    records[4998] = item_payload("item-4998", prompt=42)

    response = _upload(lab_client, project, ndjson_body(records))

    assert response.status_code == 400
    assert [(e["line"], e["field"], e["code"]) for e in response.json()["errors"]] == [
        (4999, "prompt", "invalid_type")
    ]
    assert not Item.objects.exists()
    assert not Slot.objects.exists()
    assert not BatchChunk.objects.exists()
    batch = Batch.objects.get()
    assert (batch.status, batch.error_count, batch.lines_total, batch.items_created) == ("failed", 1, 5000, 0)
    assert batch.errors == response.json()["errors"]


@pytest.mark.django_db
def test_one_existing_id_at_the_end_of_5000_leaves_nothing_behind(lab_client, project, settings):
    settings.BATCH_INLINE_MAX_BYTES = 50 << 20
    assert _upload(lab_client, project, ndjson_body([item_payload("item-4999")])).status_code == 201

    response = _upload(lab_client, project, ndjson_body(_records(5000)))

    assert response.status_code == 400
    assert [(e["line"], e["code"]) for e in response.json()["errors"]] == [(5000, "duplicate")]
    assert Item.objects.count() == 1
    assert Slot.objects.count() == 3


# --- queued to a worker -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_large_batch_is_queued_and_a_worker_ingests_it(lab_client, project, settings, celery_worker):
    settings.BATCH_INLINE_MAX_BYTES = 2000
    records = [*_records(300), item_payload("gold-1", gold={"choice": "A"})]
    body = ndjson_body(records)
    assert len(body) > 2000

    response = _upload(lab_client, project, body, query="priority=3")

    assert response.status_code == 202, response.json()
    assert response.json()["status"] in {"queued", "ingesting", "ingested"}
    batch_id = response.json()["id"]
    assert response["Location"] == f"/api/v1/batches/{batch_id}"
    batch = _wait_for_status(batch_id, {"ingested", "failed"})
    assert batch.status == "ingested", batch.errors
    assert (batch.items_created, batch.lines_total, batch.lines_processed) == (301, 301, 301)
    assert batch.size_bytes == len(body)
    assert Item.objects.filter(batch_id=batch_id).count() == 301
    assert Slot.objects.filter(item__batch_id=batch_id).count() == 300 * 3
    assert set(Slot.objects.values_list("priority", flat=True)) == {3}
    assert not BatchChunk.objects.filter(batch_id=batch_id).exists()
    detail = lab_client.get(f"/api/v1/batches/{batch_id}").json()
    assert (detail["status"], detail["items_created"], detail["progress"]["items"]["total"]) == (
        "ingested",
        301,
        301,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("content_type", [NDJSON, "application/json"])
def test_queued_batch_spanning_several_chunks_is_read_in_order(
    lab_client, project, settings, celery_worker, content_type
):
    # The body is stored in 4 MB chunks: records that straddle a chunk boundary must be joined.
    settings.BATCH_INLINE_MAX_BYTES = 2000
    text = "é" * 190_000  # two bytes a character: about 1.1 MB a record

    def record(i: int) -> dict:
        responses = [{"id": f"r{j}", "model": "m", "text": f"{i}.{j} {text}"} for j in range(2)]
        return item_payload(f"big-{i}", prompt=f"{i} {text}", responses=responses)

    records = [record(i) for i in range(9)]
    body = (
        ndjson_body(records) if content_type == NDJSON else json.dumps(records, ensure_ascii=False).encode()
    )
    assert len(body) > 2 * (4 << 20)

    response = _upload(lab_client, project, body, content_type=content_type)

    assert response.status_code == 202, response.json()
    batch = _wait_for_status(response.json()["id"], {"ingested", "failed"})
    assert batch.status == "ingested", batch.errors
    assert batch.size_bytes == len(body)
    for i in (0, 3, 8):
        item = Item.objects.get(external_id=f"big-{i}")
        assert (item.prompt, item.responses) == (records[i]["prompt"], records[i]["responses"])
    assert Item.objects.count() == 9


@pytest.mark.django_db(transaction=True)
def test_a_large_batch_with_bad_lines_is_refused_at_receipt_with_its_errors(lab_client, project, settings):
    # Bad lines are found while the body streams in: no queue, no worker, nothing kept.
    settings.BATCH_INLINE_MAX_BYTES = 2000
    records = _records(100)
    records[49] = item_payload("item-49", responses=1)
    records[89] = item_payload("item-89", colour="red")

    response = _upload(lab_client, project, ndjson_body(records))

    assert response.status_code == 400, response.json()
    batch_id = response.json()["batch"]["id"]
    detail = lab_client.get(f"/api/v1/batches/{batch_id}")
    assert detail.status_code == 200
    body = detail.json()
    assert (body["status"], body["error_count"], body["items_created"]) == ("failed", 2, 0)
    assert [(e["line"], e["field"], e["code"]) for e in body["errors"]] == [
        (50, "responses", "too_short"),
        (90, "colour", "unknown_field"),
    ]
    assert not Item.objects.exists()
    assert not BatchChunk.objects.exists()
    failed = lab_client.get(f"/api/v1/projects/{project.pk}/batches", {"status": "failed"}).json()
    assert [b["id"] for b in failed["results"]] == [batch_id]


@pytest.mark.django_db(transaction=True)
def test_failed_queued_batch_shows_its_errors(lab_client, project, settings, celery_worker):
    # What only the ingest can see (an external_id the project already holds) fails the batch
    # in the worker.
    assert _upload(lab_client, project, ndjson_body([item_payload("item-89")])).status_code == 201
    settings.BATCH_INLINE_MAX_BYTES = 2000

    response = _upload(lab_client, project, ndjson_body(_records(100)))

    assert response.status_code == 202, response.json()
    assert response.json()["lines_total"] == 100  # counted while the body was received
    batch_id = response.json()["id"]
    _wait_for_status(batch_id, {"ingested", "failed"})
    body = lab_client.get(f"/api/v1/batches/{batch_id}").json()
    assert (body["status"], body["error_count"], body["items_created"]) == ("failed", 1, 0)
    assert [(e["line"], e["field"], e["code"]) for e in body["errors"]] == [(90, "external_id", "duplicate")]
    assert Item.objects.count() == 1
    assert not BatchChunk.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_queued_retry_with_the_same_key_does_not_ingest_twice(lab_client, project, settings, celery_worker):
    settings.BATCH_INLINE_MAX_BYTES = 2000
    body = ndjson_body(_records(100))
    first = _upload(lab_client, project, body, key="big-upload")
    _wait_for_status(first.json()["id"], {"ingested", "failed"})

    again = _upload(lab_client, project, body, key="big-upload")

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Batch.objects.count() == 1
    assert Item.objects.count() == 100


# --- webhooks ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ingested_batch_records_a_webhook_delivery_for_subscribed_endpoints(
    lab_client, lab, project, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    subscribed, _secret = webhook_endpoint_create(
        lab=lab, url="http://127.0.0.1:9/hooks", events=["batch.ingested"]
    )
    webhook_endpoint_create(lab=lab, url="http://127.0.0.1:9/other", events=["item.finalized"])
    other_lab_project = ProjectFactory()
    webhook_endpoint_create(lab=other_lab_project.lab, url="http://127.0.0.1:9/x", events=["batch.ingested"])

    response = _upload(lab_client, project, ndjson_body(_records(2)))

    assert response.status_code == 201
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event) == (subscribed, "batch.ingested")
    assert delivery.payload["type"] == "batch.ingested"
    assert delivery.payload["data"] == {
        "batch": response.json()["id"],
        "project": str(project.pk),
        "items_created": 2,
        "items_skipped": 0,
    }


@pytest.mark.django_db
def test_failed_batch_sends_no_batch_ingested_webhook(lab_client, lab, project, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    webhook_endpoint_create(lab=lab, url="http://127.0.0.1:9/hooks", events=["batch.ingested"])

    response = _upload(lab_client, project, ndjson_body([item_payload("a", responses=1)]))

    assert response.status_code == 400
    assert not WebhookDelivery.objects.exists()
