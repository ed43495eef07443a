"""Text the database cannot hold (U+0000, a lone UTF-16 surrogate) is a 400 naming the field.

PostgreSQL refuses U+0000 in text and jsonb; a lone surrogate cannot be encoded as UTF-8 by
either database driver. Either used to reach the database and come back as a 500.
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from tests.factories import (
    AssignmentFactory,
    BatchFactory,
    CredentialFactory,
    ItemFactory,
    ProjectFactory,
    item_payload,
)

pytestmark = pytest.mark.django_db

NUL = "a\x00b"
SURROGATE = "a\ud800b"
BAD = pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone_surrogate"])


def _post_json(client, path, payload, method="post"):
    # json.dumps escapes both as \u0000 and \ud800: valid JSON text, as an attacker sends it.
    return getattr(client, method)(path, data=json.dumps(payload), content_type="application/json")


def _fields(response) -> dict:
    return {e["field"]: e["code"] for e in response.json()["errors"]}


def _assert_refused(response, field):
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert field in _fields(response), response.json()


@BAD
def test_rationale_of_a_label(bad):
    project = ProjectFactory(gold_rate=0)
    expert = CredentialFactory(approved=True, domain=project.domain, level=3).expert
    item = ItemFactory(batch=BatchFactory(project=project))
    assignment = AssignmentFactory(item=item, expert=expert)
    client = APIClient()
    client.force_login(expert.user)
    body = {"client_id": "c-1", "choice": "A", "strength": 2, "rationale": bad}
    response = _post_json(client, f"/api/v1/assignments/{assignment.pk}/submit", body)
    _assert_refused(response, "rationale")


@BAD
def test_nested_text_names_its_path(bad, expert_client):
    response = _post_json(
        expert_client, "/api/v1/me/profile", {"links": [{"kind": "website", "url": bad}]}, method="patch"
    )
    _assert_refused(response, "links.0.url")


@BAD
def test_a_key_holding_bad_text_names_its_object(bad, expert_client):
    response = _post_json(expert_client, "/api/v1/me/profile", {"links": [{bad: "x"}]}, method="patch")
    _assert_refused(response, "links.0")


@BAD
def test_project_name(bad, lab_client, domain):
    response = _post_json(lab_client, "/api/v1/projects", {"name": bad, "domain": domain.path})
    _assert_refused(response, "name")


@BAD
def test_profile_bio(bad, expert_client):
    response = _post_json(expert_client, "/api/v1/me/profile", {"bio": bad}, method="patch")
    _assert_refused(response, "bio")


@BAD
def test_login_email(bad, api_client):
    response = _post_json(api_client, "/api/v1/auth/login", {"email": bad, "password": "x"})
    _assert_refused(response, "email")


@BAD
def test_credential_title_as_json(bad, expert_client, domain):
    body = {
        "domain": domain.path,
        "kind": "licence",
        "title": bad,
        "issuer": "Board",
        "issued_on": "2018-01-15",
    }
    _assert_refused(_post_json(expert_client, "/api/v1/me/credentials", body), "title")


def test_credential_title_as_a_form(expert_client, domain, pdf_upload):
    body = {
        "domain": domain.path,
        "kind": "licence",
        "title": NUL,
        "issuer": "Board",
        "issued_on": "2018-01-15",
        "evidence": pdf_upload,
    }
    _assert_refused(expert_client.post("/api/v1/me/credentials", body, format="multipart"), "title")


def test_query_parameter(lab_client):
    response = lab_client.get("/api/v1/projects", {"status": NUL})
    _assert_refused(response, "status")


@BAD
def test_batch_as_a_json_array(bad, lab_key):
    lab, _key, raw = lab_key
    project = ProjectFactory(lab=lab)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    records = [item_payload("e-1", prompt=bad)]
    response = client.post(
        f"/api/v1/projects/{project.pk}/batches",
        data=json.dumps(records).encode(),
        content_type="application/json",
    )
    assert response.status_code in (400, 422), response.content
    errors = response.json()["errors"]
    if bad == NUL:
        assert any(e.get("field") == "prompt" for e in errors), errors
    else:
        # The streaming parser runs ahead of the elements: the batch is refused as a whole.
        assert [e["code"] for e in errors] == ["surrogate_characters_not_allowed"], errors


@BAD
def test_batch_as_json_lines(bad, lab_key):
    lab, _key, raw = lab_key
    project = ProjectFactory(lab=lab)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.post(
        f"/api/v1/projects/{project.pk}/batches",
        data=json.dumps(item_payload("e-1", prompt=bad)).encode() + b"\n",
        content_type="application/x-ndjson",
    )
    assert response.status_code in (400, 422), response.content
    errors = response.json()["errors"]
    assert any(e.get("field") == "prompt" for e in errors), errors
