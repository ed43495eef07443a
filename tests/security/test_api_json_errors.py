"""Under /api/ every framework error is JSON in the API's error shape, never HTML: unknown
paths with any method, methods an endpoint does not answer, bodies it cannot read, callers it
does not know, and query parameters it does not document."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) >= {"errors"}
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"field", "code", "message"}
        assert error["message"]
    assert body["errors"][0]["code"] == code, body
    return body


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "head", "options"])
@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/api/v1/projects/not-a-uuid/export", "/api/v9/projects", "/api/v1/lab/x/y"],
)
def test_an_unknown_api_path_is_a_json_404_whatever_the_method(lab_client, method, path):
    response = getattr(lab_client, method)(path)
    assert response.status_code == 404
    if method != "head":  # a HEAD answer has no body
        _assert_error_shape(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/v1/projects"),
        ("put", "/api/v1/projects"),
        ("post", "/api/v1/lab"),
        ("get", "/api/v1/batches/{uuid}/cancel"),
        ("patch", "/api/v1/webhooks/{uuid}/deliveries"),
    ],
)
def test_a_method_an_endpoint_does_not_answer_is_a_json_405(lab_client, method, path):
    response = getattr(lab_client, method)(path.format(uuid=uuid.uuid4()))
    _assert_error_shape(response, 405, "method_not_allowed")


def test_a_body_that_is_not_json_is_a_json_400(lab_client):
    response = lab_client.generic("POST", "/api/v1/webhooks", "{not json", content_type="application/json")
    _assert_error_shape(response, 400, "parse_error")


def test_a_body_of_an_unread_media_type_is_a_json_415(lab_client):
    response = lab_client.generic("POST", "/api/v1/webhooks", "url=x", content_type="text/plain")
    _assert_error_shape(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/me", "/api/v1/staff/credentials"])
def test_an_anonymous_caller_gets_a_json_error(path):
    response = APIClient().get(path)
    assert response.status_code in (401, 403)
    _assert_error_shape(response, response.status_code, response.json()["errors"][0]["code"])
    assert response.json()["errors"][0]["code"] in ("not_authenticated", "authentication_failed")


def test_a_bad_api_key_is_a_json_401():
    response = APIClient().get("/api/v1/projects", HTTP_AUTHORIZATION="Bearer rlhf_nope_nope")
    _assert_error_shape(response, 401, "authentication_failed")


def test_a_missing_csrf_token_on_a_session_write_is_json(expert):
    client = Client(enforce_csrf_checks=True)
    client.force_login(expert.user)
    response = client.post("/api/v1/me/credentials", {}, content_type="application/json")
    _assert_error_shape(response, 403, "permission_denied")
    assert "CSRF" in response.json()["errors"][0]["message"]


def test_an_unknown_query_parameter_is_json_before_the_view(lab_client):
    response = lab_client.delete(f"/api/v1/webhooks/{uuid.uuid4()}?force=1")
    body = _assert_error_shape(response, 400, "unknown_field")
    assert body["errors"][0]["field"] == "force"
