"""The server's JSON errors as typed exceptions, and 429s waited out as Retry-After says."""

from __future__ import annotations

import httpx
import pytest
from rlhf_client import (
    AuthenticationError,
    BadRequest,
    BatchFailed,
    Client,
    Conflict,
    IdempotencyKeyReused,
    NotFound,
    PermissionDenied,
    RateLimited,
    RlhfError,
    UploadRejected,
)

from annotate.models import Batch, Item
from rlhf_platform.core.lab_api import ApiKeyRateThrottle
from tests.client.conftest import records
from tests.factories import BatchFactory, make_api_key

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_bad_line_is_an_upload_rejected_naming_its_line_and_field(client, project):
    items = list(records(3))
    items[1]["responses"] = items[1]["responses"][:1]  # line 2: one response of the two needed
    items[2]["surprise"] = True  # line 3: a field the API does not take
    with pytest.raises(UploadRejected) as caught:
        client.upload(project.id, items)
    error = caught.value
    assert error.status == 400 and error.error_count == 2
    assert (error.line, error.field) == (2, "responses")
    assert [(e.line, e.field, e.code) for e in error.errors][1] == (3, "surprise", "unknown_field")
    assert "line 2, field responses" in str(error)
    assert error.batch["status"] == "failed"
    assert not Item.objects.exists()


def test_status_codes_map_to_their_errors(client, project, live_url, lab_key):
    with pytest.raises(NotFound) as caught:
        client.item(project.id, "no-such-item")
    assert caught.value.status == 404 and caught.value.code == "not_found"

    with Client(api_key="rlhf_nope_nope", base_url=live_url) as stranger, pytest.raises(AuthenticationError):
        stranger.project(project.id)

    _key, reader = make_api_key(lab_key[0], scopes=["read"])
    with Client(api_key=reader, base_url=live_url) as read_only:
        assert read_only.project(project.id).id == project.id
        with pytest.raises(PermissionDenied):
            read_only.upload(project.id, records(1))

    queued = BatchFactory(project_id=project.id, status=Batch.Status.QUEUED)
    with pytest.raises(Conflict) as caught:
        client.cancel_batch(queued.pk)
    assert caught.value.code == "batch_not_ingested"

    client.upload(project.id, records(2), idempotency_key="nightly-1")
    with pytest.raises(IdempotencyKeyReused) as caught:
        client.upload(project.id, records(3), idempotency_key="nightly-1")
    assert caught.value.field == "Idempotency-Key"


def test_a_bad_parameter_value_names_the_parameter(client, project):
    with pytest.raises(BadRequest) as caught:
        list(client.export(project.id, "dpo", min_confidence=2))
    assert caught.value.status == 400 and caught.value.field == "min_confidence"


def test_a_parameter_outside_the_endpoint_table_is_refused_before_sending(client, project):
    with pytest.raises(RlhfError, match="no query parameter 'include_golden'"):
        list(client.export(project.id, "dpo", include_golden=True))


def test_429_is_waited_out_as_retry_after_says_or_raised_once_retries_are_spent(
    live_url, lab_key, project, monkeypatch
):
    statuses: list[int] = []
    hooks = {"response": [lambda response: statuses.append(response.status_code)]}
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/s"})
    with Client(
        api_key=lab_key[2], base_url=live_url, http_client=httpx.Client(event_hooks=hooks)
    ) as patient:
        assert [patient.project(project.id).id for _ in range(8)] == [project.id] * 8
    assert 429 in statuses and statuses[-1] == 200

    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    with Client(api_key=lab_key[2], base_url=live_url, max_retries=0) as hasty:
        with pytest.raises(RateLimited) as caught:
            for _ in range(3):
                hasty.project(project.id)
    assert caught.value.status == 429 and caught.value.retry_after and caught.value.retry_after > 0
    assert caught.value.headers["ratelimit-remaining"] == "0"


def test_a_batch_the_worker_fails_raises_batch_failed_naming_line_and_field(client, project, settings):
    settings.BATCH_INLINE_MAX_BYTES = 100  # every upload goes to the worker (202)
    client.upload(project.id, records(3)).wait()
    overlapping = client.upload(project.id, records(3, start=2))  # item-00002 is held already
    assert overlapping.status == "queued"
    with pytest.raises(BatchFailed) as caught:
        overlapping.wait(timeout=60)
    error = caught.value.errors[0]
    assert (error.line, error.field) == (1, "external_id")
    assert caught.value.batch.status == "failed"
    assert Item.objects.filter(project_id=project.id).count() == 3
