"""Labs authenticate with ``Authorization: Bearer <api key>``."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from rlhf_platform.accounts.models import ApiKey
from rlhf_platform.accounts.services import api_key_revoke
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db


def _client_with(header: str | None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


def _only_error(response) -> dict:
    body = response.json()
    assert list(body) == ["errors"]
    assert len(body["errors"]) == 1
    return body["errors"][0]


def test_valid_key_reaches_its_lab(lab_key, lab_client):
    lab, api_key, _raw = lab_key
    response = lab_client.get("/api/v1/lab")
    assert response.status_code == 200
    body = response.json()
    assert body["lab"]["slug"] == lab.slug
    assert body["lab"]["id"] == str(lab.pk)
    assert body["key"]["id"] == str(api_key.pk)
    assert body["key"]["prefix"] == api_key.prefix
    # The response never carries the secret or its hash.
    assert "key_hash" not in body["key"]


def test_missing_header_is_401_not_authenticated(db):
    response = _client_with(None).get("/api/v1/lab")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    error = _only_error(response)
    assert error["field"] is None
    assert error["code"] == "not_authenticated"
    assert error["message"]


@pytest.mark.parametrize(
    "raw_key",
    ["nonsense", "rlhf_onlyprefix", "rlhf__secret", "rlhf_abcd1234_", "other_abcd1234_secret"],
)
def test_malformed_key_is_401_saying_malformed(db, raw_key):
    response = _client_with(f"Bearer {raw_key}").get("/api/v1/lab")
    assert response.status_code == 401
    error = _only_error(response)
    assert error["code"] == "authentication_failed"
    assert "Malformed API key" in error["message"]


@pytest.mark.parametrize("header", ["Bearer ", "Bearer    "])
def test_empty_bearer_token_is_401_saying_it_is_empty(db, header):
    response = _client_with(header).get("/api/v1/lab")
    assert response.status_code == 401
    error = _only_error(response)
    assert error["code"] == "authentication_failed"
    assert "Empty bearer token" in error["message"]


def test_wrong_secret_for_a_known_prefix_is_401_invalid(lab_key):
    _lab, api_key, raw = lab_key
    wrong = f"rlhf_{api_key.prefix}_{'x' * 43}"
    assert wrong != raw
    response = _client_with(f"Bearer {wrong}").get("/api/v1/lab")
    assert response.status_code == 401
    error = _only_error(response)
    assert error["code"] == "authentication_failed"
    assert error["message"] == "Invalid API key."


def test_secret_containing_underscores_is_accepted(lab):
    # The secret is URL-safe base64, which has "_" in its alphabet: draw keys until one has it.
    for _ in range(50):
        _api_key, raw = make_api_key(lab)
        if "_" in raw.split("_", 2)[2]:
            break
    else:  # pragma: no cover - (63/64)**(43*50) makes this practically impossible
        pytest.fail("no key with '_' in its secret was drawn")
    assert _client_with(f"Bearer {raw}").get("/api/v1/lab").status_code == 200


def test_unknown_prefix_is_401_invalid(db):
    response = _client_with("Bearer rlhf_00000000_somesecretthatmatchesnothing").get("/api/v1/lab")
    assert response.status_code == 401
    assert _only_error(response)["message"] == "Invalid API key."


def test_revoked_key_is_401_saying_revoked(lab_key):
    _lab, api_key, raw = lab_key
    api_key_revoke(api_key=api_key, actor=None)
    response = _client_with(f"Bearer {raw}").get("/api/v1/lab")
    assert response.status_code == 401
    error = _only_error(response)
    assert error["code"] == "authentication_failed"
    assert "revoked" in error["message"]


def test_read_only_key_may_read(lab):
    _api_key, raw = make_api_key(lab, scopes=["read"])
    response = _client_with(f"Bearer {raw}").get("/api/v1/lab/api-keys")
    assert response.status_code == 200


def test_read_only_key_is_refused_a_write_naming_the_write_scope(lab):
    target, _ = make_api_key(lab, name="to be kept")
    _reader, raw = make_api_key(lab, scopes=["read"], name="reader")
    response = _client_with(f"Bearer {raw}").post(f"/api/v1/lab/api-keys/{target.pk}/revoke")
    assert response.status_code == 403
    error = _only_error(response)
    assert error["code"] == "permission_denied"
    assert "'write'" in error["message"]
    target.refresh_from_db()
    assert target.revoked_at is None


def test_write_only_key_is_refused_a_read_naming_the_read_scope(lab):
    _writer, raw = make_api_key(lab, scopes=["write"], name="writer")
    response = _client_with(f"Bearer {raw}").get("/api/v1/lab")
    assert response.status_code == 403
    assert "'read'" in _only_error(response)["message"]


def test_first_use_sets_last_used_at(lab_key, lab_client):
    _lab, api_key, _raw = lab_key
    assert api_key.last_used_at is None
    before = timezone.now()
    assert lab_client.get("/api/v1/lab").status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
    assert api_key.last_used_at >= before


def test_last_used_at_is_not_rewritten_within_sixty_seconds(lab_key, lab_client):
    _lab, api_key, _raw = lab_key
    recent = timezone.now() - dt.timedelta(seconds=30)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=recent)
    assert lab_client.get("/api/v1/lab").status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at == recent


def test_last_used_at_is_rewritten_after_sixty_seconds(lab_key, lab_client):
    _lab, api_key, _raw = lab_key
    old = timezone.now() - dt.timedelta(seconds=61)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=old)
    assert lab_client.get("/api/v1/lab").status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at > old + dt.timedelta(seconds=60)


def test_key_is_stored_only_as_its_sha256(lab_key):
    _lab, api_key, raw = lab_key
    api_key.refresh_from_db()
    assert api_key.key_hash != raw
    assert api_key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(f"rlhf_{api_key.prefix}_")


def test_raw_secret_appears_in_no_database_column(lab_key, lab_client):
    _lab, _api_key, raw = lab_key
    secret = raw.split("_", 2)[2]
    # Use the key too, so that last-used bookkeeping and any audit have had their chance.
    assert lab_client.get("/api/v1/lab").status_code == 200
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        assert "accounts_apikey" in tables
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    text = (
                        bytes(value).decode("latin-1")
                        if isinstance(value, bytes | memoryview)
                        else str(value)
                    )
                    assert secret not in text, f"the API key secret is stored in {table}"
