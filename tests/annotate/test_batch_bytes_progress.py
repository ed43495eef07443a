"""A batch's progress in bytes: the total from receipt on, the bytes the ingest has read."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from annotate.ingest import services
from annotate.ingest.services import batch_ingest
from annotate.models import Batch
from tests.factories import ProjectFactory, item_payload, ndjson_body

pytestmark = pytest.mark.django_db

NDJSON = "application/x-ndjson"


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab)


def _queued(client, project, body: bytes, settings) -> str:
    settings.BATCH_INLINE_MAX_BYTES = 100  # to a worker (which these tests do not start)
    response = client.post(f"/api/v1/projects/{project.pk}/batches", data=body, content_type=NDJSON)
    assert response.status_code == 202, response.json()
    return response.json()["id"]


def test_a_queued_batch_has_its_byte_total_and_nothing_processed(lab_client, project, settings):
    body = ndjson_body([item_payload(f"item-{i}") for i in range(20)])

    batch_id = _queued(lab_client, project, body, settings)
    detail = lab_client.get(f"/api/v1/batches/{batch_id}").json()

    assert (detail["bytes_total"], detail["bytes_processed"], detail["lines_total"]) == (len(body), 0, 20)


def test_the_ingest_reports_bytes_read_as_it_goes(lab_client, project, settings, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_BYTES", 256)  # the body stored and read in several chunks
    body = ndjson_body([item_payload(f"item-{i}") for i in range(20)])
    batch_id = _queued(lab_client, project, body, settings)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 5)
    written: list[int] = []
    set_many = cache.set_many

    def recording(values, *args, **kwargs):
        written.extend(value for key, value in values.items() if key.startswith("batch-bytes:"))
        return set_many(values, *args, **kwargs)

    monkeypatch.setattr(services.cache, "set_many", recording)

    batch_ingest(batch_id=batch_id)

    assert len(written) == 4
    assert written == sorted(written) and 0 < written[0] < len(body)
    assert written[-1] <= len(body)
    detail = lab_client.get(f"/api/v1/batches/{batch_id}").json()
    assert detail["status"] == "ingested"
    assert detail["bytes_processed"] == detail["bytes_total"] == len(body)


def test_an_ingesting_batch_shows_the_bytes_in_the_cache(lab_client, project, settings):
    body = ndjson_body([item_payload(f"item-{i}") for i in range(20)])
    batch_id = _queued(lab_client, project, body, settings)
    Batch.objects.filter(pk=batch_id).update(status=Batch.Status.INGESTING)
    cache.set(f"batch-bytes:{batch_id}", 1234)

    detail = lab_client.get(f"/api/v1/batches/{batch_id}").json()

    assert (detail["bytes_processed"], detail["bytes_total"]) == (1234, len(body))


# --- while the body streams in ------------------------------------------------------------------


class _WatchedBody:
    """A request body that looks at the upload's progress each time it is read."""

    def __init__(self, data: bytes, project, key: str) -> None:
        self.data, self.project, self.key = data, project, key
        self.offset = 0
        self.seen: list[dict | None] = []

    def read(self, size: int) -> bytes:
        self.seen.append(services.batch_receipt_progress(project=self.project, idempotency_key=self.key))
        chunk = self.data[self.offset : self.offset + size]
        self.offset += len(chunk)
        return chunk


def test_while_the_body_streams_in_its_bytes_and_total_are_known_by_its_key(project, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_BYTES", 1000)
    data = ndjson_body([item_payload(f"item-{i}") for i in range(20)])
    body = _WatchedBody(data, project, "upload-7")

    received = services.batch_receive(
        project=project,
        stream=body,
        content_type=NDJSON,
        idempotency_key="upload-7",
        bytes_expected=len(data),
    )

    progress = [seen["bytes_received"] for seen in body.seen]
    assert progress == list(range(0, len(data), 1000)) + [len(data)]
    assert {seen["bytes_total"] for seen in body.seen} == {len(data)}
    assert {seen["batch"] for seen in body.seen} == {str(received.batch.pk)}
    assert services.batch_receipt_progress(project=project, idempotency_key="upload-7") is None


def test_the_upload_endpoint_answers_receiving_then_the_batch(lab_client, project, settings):
    cache.set(
        services._receipt_key(project.pk, "upload/8"),
        {"batch": "0b7e8d4a-2a5e-4bd7-a0f4-5b2c6c3d9e11", "bytes_received": 10, "bytes_total": 100},
    )
    url = f"/api/v1/projects/{project.pk}/uploads/upload%2F8"

    receiving = lab_client.get(url).json()
    cache.clear()
    missing = lab_client.get(url)
    body = ndjson_body([item_payload("a")])
    lab_client.post(
        f"/api/v1/projects/{project.pk}/batches",
        data=body,
        content_type=NDJSON,
        headers={"Idempotency-Key": "upload/8"},
    )
    done = lab_client.get(url).json()

    assert receiving == {
        "state": "receiving",
        "batch": "0b7e8d4a-2a5e-4bd7-a0f4-5b2c6c3d9e11",
        "bytes_received": 10,
        "bytes_total": 100,
    }
    assert missing.status_code == 404
    assert (done["state"], done["bytes_received"], done["bytes_total"]) == ("ingested", len(body), len(body))
    assert lab_client.get(url + "?x=1").status_code == 400
