"""The upload's dry run: the body validated as an upload would be, nothing written."""

from __future__ import annotations

import json

import pytest

from annotate.models import Batch, BatchChunk, Item, Slot
from rlhf_platform.audit.models import AuditEvent
from tests.factories import BatchFactory, ItemFactory, ProjectFactory, item_payload, ndjson_body

NDJSON = "application/x-ndjson"


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab)


def _dry_run(client, project, body: bytes, *, query: str = "dry_run=1", content_type=NDJSON):
    return client.post(f"/api/v1/projects/{project.pk}/batches?{query}", data=body, content_type=content_type)


def _nothing_written():
    assert not Batch.objects.exists()
    assert not BatchChunk.objects.exists()
    assert not Item.objects.exists()
    assert not Slot.objects.exists()
    assert not AuditEvent.objects.filter(action="batch.receive").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("flag", ["dry_run=1", "dry_run=true"])
def test_a_valid_body_is_counted_and_nothing_is_written(lab_client, project, flag):
    records = [item_payload(f"item-{i}") for i in range(25)]

    response = _dry_run(lab_client, project, ndjson_body(records), query=flag)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["dry_run"], body["valid"], body["lines"], body["items"], body["error_count"]) == (
        True,
        True,
        25,
        25,
        0,
    )
    assert body["errors"] == []
    _nothing_written()


@pytest.mark.django_db
def test_line_errors_are_reported_with_their_lines_and_nothing_is_written(lab_client, project):
    records = [
        item_payload("a"),
        item_payload("b", responses=1),
        item_payload("a"),
        b"{not json",
    ]

    response = _dry_run(lab_client, project, ndjson_body(records))

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert body["items"] == 0
    lines = [(error["line"], error["field"]) for error in body["errors"]]
    assert (2, "responses") in lines
    assert (3, "external_id") in lines
    assert any(error["line"] == 4 for error in body["errors"])
    assert body["error_count"] == len(body["errors"])
    _nothing_written()


@pytest.mark.django_db
def test_ids_the_project_holds_are_errors_or_skips_as_the_upload_would_treat_them(lab_client, project):
    ItemFactory(batch=BatchFactory(project=project), external_id="old")
    body = ndjson_body([item_payload("old"), item_payload("new")])

    refused = _dry_run(lab_client, project, body).json()
    skipped = _dry_run(lab_client, project, body, query="dry_run=1&on_duplicate=skip").json()

    assert refused["valid"] is False
    assert refused["errors"] == [
        {
            "line": 1,
            "field": "external_id",
            "code": "duplicate",
            "message": "external_id 'old' already exists in this project.",
        }
    ]
    assert (skipped["valid"], skipped["items"], skipped["skipped"]) == (True, 1, 1)
    assert Batch.objects.count() == 1 and Item.objects.count() == 1  # only the factory's


@pytest.mark.django_db
def test_a_json_array_is_validated_too(lab_client, project):
    body = json.dumps([item_payload("x"), item_payload("y")]).encode()

    response = _dry_run(lab_client, project, body, content_type="application/json")

    assert response.json()["items"] == 2
    _nothing_written()


@pytest.mark.django_db
def test_a_large_body_is_validated_as_a_stream(lab_client, project, settings):
    settings.BATCH_INLINE_MAX_BYTES = 1_000  # an upload of this size would go to a worker
    records = [item_payload(f"item-{i}") for i in range(3_000)]
    records.append(item_payload("last", prompt=""))

    response = _dry_run(lab_client, project, ndjson_body(records))

    body = response.json()
    assert body["lines"] == 3_001
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(3_001, "prompt")]
    _nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["dry_run=maybe", "dryrun=1", "dry_run=1&verbose=1"])
def test_bad_or_unknown_parameters_are_refused_naming_them(lab_client, project, query):
    response = _dry_run(lab_client, project, ndjson_body([item_payload("a")]), query=query)

    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields & {"dry_run", "dryrun", "verbose"}
    _nothing_written()


@pytest.mark.django_db
def test_a_read_only_key_may_not_dry_run(api_client, lab, project):
    from tests.factories import make_api_key

    _, raw = make_api_key(lab, scopes=["read"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = _dry_run(api_client, project, ndjson_body([item_payload("a")]))

    assert response.status_code == 403
    _nothing_written()
