"""Upload limits are stated in one place (annotate/ingest/limits.py), documented in the API
schema and docs/api.md, and checked while the body streams in: a large body whose bad line is
at the end is refused in the request with that line and field, and nothing is written or
queued."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from annotate import api_batches
from annotate.ingest import limits, records, validate
from annotate.ingest.services import batch_ingest
from annotate.models import Batch, BatchChunk, Item
from tests.factories import ProjectFactory, item_payload, ndjson_body

ROOT = Path(__file__).resolve().parents[2]
NDJSON = "application/x-ndjson"


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab)


@pytest.fixture
def nothing_queued(monkeypatch):
    queued = []
    monkeypatch.setattr(api_batches.batch_ingest_task, "delay", lambda *args: queued.append(args))
    return queued


def _upload(client, project, body: bytes, content_type: str = NDJSON):
    return client.post(f"/api/v1/projects/{project.pk}/batches", data=body, content_type=content_type)


def _large_body(count: int, last: dict) -> list[dict]:
    filler = "x" * 2_000
    rows = [item_payload(f"item-{n}", metadata={"note": filler}) for n in range(count)]
    return [*rows, last]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("content_type", [NDJSON, "application/json"])
def test_a_large_body_with_an_over_long_text_at_the_end_is_refused_with_line_and_field(
    lab_client, project, settings, nothing_queued, content_type
):
    settings.BATCH_INLINE_MAX_BYTES = 64 * 1024  # the body below is a worker's size
    too_long = item_payload("last", responses=[{"id": "a", "text": "y" * 200_001}, {"id": "b", "text": "z"}])
    rows = _large_body(1_500, too_long)
    body = ndjson_body(rows) if content_type == NDJSON else json.dumps(rows).encode()
    assert len(body) > 3 << 20

    started = time.monotonic()
    response = _upload(lab_client, project, body, content_type)
    elapsed = time.monotonic() - started

    assert response.status_code == 400, response.json()
    [error] = response.json()["errors"]
    assert (error["line"], error["field"], error["code"]) == (1_501, "responses.0.text", "too_long")
    assert "200000" in error["message"]
    assert response.json()["batch"]["status"] == "failed"
    assert elapsed < 20  # no queue, no worker: the request itself answers
    assert nothing_queued == []
    assert not Item.objects.exists()
    assert not BatchChunk.objects.exists()
    assert Batch.objects.get().status == Batch.Status.FAILED


@pytest.mark.django_db
def test_metadata_over_its_limit_is_refused_naming_the_field(lab_client, project):
    big = item_payload("m-2", metadata={"blob": "x" * limits.MAX_METADATA_BYTES})
    body = ndjson_body([item_payload("m-1", metadata={"blob": "x" * 1000}), big])

    response = _upload(lab_client, project, body)

    assert response.status_code == 400
    assert [(e["line"], e["field"], e["code"]) for e in response.json()["errors"]] == [
        (2, "metadata", "too_long")
    ]
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_a_line_past_the_item_limit_is_refused_before_it_is_held_whole(lab_client, project, monkeypatch):
    monkeypatch.setattr(records, "MAX_ITEM_BYTES", 50_000)
    monkeypatch.setattr(validate, "MAX_ITEM_BYTES", 50_000)
    long_line = json.dumps(item_payload("l-2", metadata={"a": "x" * 60_000})).encode()
    body = ndjson_body([item_payload("l-1")]) + long_line + b"\n" + ndjson_body([item_payload("l-3")])

    response = _upload(lab_client, project, body)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["line"], error["field"], error["code"]) == (2, None, "too_large")
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_a_line_without_an_end_past_the_item_limit_stops_the_reading(lab_client, project, monkeypatch):
    monkeypatch.setattr(records, "MAX_ITEM_BYTES", 1000)
    chunks = [b'{"external_id": "e", "prompt": "' + b"p" * 600, b"q" * 600, b'"}\n']

    lines = records.ndjson_lines(chunks)
    with pytest.raises(records.RecordParseError) as raised:
        list(lines)
    assert (raised.value.line, raised.value.code) == (1, "too_large")


def _deep_body(rows: list[dict], content_type: str, depth: int) -> bytes:
    # Built as text: json.dumps recurses once per level.
    deep = "{" + '"a": {' * depth + '"b": 1' + "}" * depth + "}"
    rows = [*rows, item_payload("deep", metadata={"marker": 0})]
    if content_type == NDJSON:
        return ndjson_body(rows).replace(b'{"marker": 0}', deep.encode())
    return json.dumps(rows).replace('{"marker": 0}', deep).encode()


@pytest.mark.django_db
@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("content_type", [NDJSON, "application/json"])
def test_a_large_body_with_a_deep_item_at_the_end_is_refused_at_receipt_with_its_line(
    lab_client, project, settings, nothing_queued, content_type, dry_run
):
    settings.BATCH_INLINE_MAX_BYTES = 64 * 1024  # a worker's size: still refused in the request
    body = _deep_body(_large_body(300, item_payload("last")), content_type, depth=20_000)
    assert len(body) > settings.BATCH_INLINE_MAX_BYTES

    url = f"/api/v1/projects/{project.pk}/batches" + ("?dry_run=1" if dry_run else "")
    response = lab_client.post(url, data=body, content_type=content_type)

    assert response.status_code == (200 if dry_run else 400), response.content[:300]
    [error] = response.json()["errors"]
    assert (error["line"], error["field"], error["code"]) == (302, None, "json_too_deep")
    assert nothing_queued == []
    assert not Item.objects.exists()
    assert not BatchChunk.objects.exists()
    assert Batch.objects.count() == (0 if dry_run else 1)


@pytest.mark.django_db
@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("content_type", [NDJSON, "application/json"])
def test_a_worker_sized_body_nested_too_deep_as_a_whole_is_refused_at_receipt(
    lab_client, project, settings, nothing_queued, content_type, dry_run
):
    settings.BATCH_INLINE_MAX_BYTES = 64 * 1024
    body = b"[" * 100_000 + b"]" * 100_000
    assert len(body) > settings.BATCH_INLINE_MAX_BYTES

    url = f"/api/v1/projects/{project.pk}/batches" + ("?dry_run=1" if dry_run else "")
    response = lab_client.post(url, data=body, content_type=content_type)

    assert response.status_code == (200 if dry_run else 400), response.content[:300]
    [error] = response.json()["errors"]
    assert (error["line"], error["field"], error["code"]) == (1, None, "json_too_deep")
    assert nothing_queued == []
    assert not Item.objects.exists()
    assert not BatchChunk.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", [NDJSON, "application/json"])
def test_a_queued_body_deeper_than_the_limit_at_ingest_fails_by_line(
    lab_client, project, settings, nothing_queued, content_type
):
    # A body received under a higher JSON_MAX_DEPTH, ingested by a worker under a lower one.
    settings.BATCH_INLINE_MAX_BYTES = 100
    body = _deep_body([item_payload("a"), item_payload("b")], content_type, depth=12)
    response = _upload(lab_client, project, body, content_type)
    assert response.status_code == 202, response.json()
    settings.JSON_MAX_DEPTH = 8

    batch = batch_ingest(batch_id=response.json()["id"])

    assert batch.status == Batch.Status.FAILED
    assert [(e["line"], e["field"], e["code"]) for e in batch.errors] == [(3, None, "json_too_deep")]
    assert not Item.objects.exists()
    assert not BatchChunk.objects.exists()


def test_the_schema_and_the_docs_state_every_limit(client):
    schema = client.get("/api/schema/?format=json").json()
    upload = schema["paths"]["/api/v1/projects/{project_id}/batches"]["post"]["description"]
    api_md = (ROOT / "docs" / "api.md").read_text()
    for figure in (
        limits.MAX_TEXT_CHARS,
        limits.MAX_PROMPT_MESSAGES,
        limits.MAX_RESPONSES,
        limits.MAX_RESPONSE_ID_CHARS,
        limits.MAX_MODEL_CHARS,
        limits.MAX_EXTERNAL_ID_CHARS,
        limits.MAX_METADATA_BYTES,
        limits.MAX_ITEM_BYTES,
        limits.MAX_REPORTED_ERRORS,
    ):
        assert f"{figure:,}" in upload
        assert f"{figure:,}" in api_md, figure
