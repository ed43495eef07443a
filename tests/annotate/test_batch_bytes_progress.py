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
