"""Errors under /api/ have the API's JSON error shape, whatever raised them."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from rlhf_platform.accounts import api as accounts_api

pytestmark = pytest.mark.django_db


def _assert_api_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert response.json() == {
        "errors": [{"field": None, "code": code, "message": response.json()["errors"][0]["message"]}]
    }
    assert response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/not-a-uuid",
        "/api/v1/projects/not-a-uuid/progress",
        "/api/v1/batches/123",
        "/api/v1/no-such-endpoint",
        "/api/v2/projects",
        "/api/",
    ],
)
def test_unknown_api_paths_are_json_404s(lab_client, path):
    _assert_api_error(lab_client.get(path), 404, "not_found")


def test_a_missing_object_is_a_json_404(lab_client):
    _assert_api_error(lab_client.get(f"/api/v1/projects/{uuid.uuid4()}"), 404, "not_found")


def test_anonymous_unknown_path_is_a_json_404():
    _assert_api_error(APIClient().post("/api/v1/projects/x/y/z", {}, format="json"), 404, "not_found")


def test_a_method_not_allowed_is_json(lab_client):
    _assert_api_error(lab_client.put("/api/v1/projects", {}, format="json"), 405, "method_not_allowed")


def test_a_server_error_under_the_api_is_json(expert_client, monkeypatch):
    def explode(self, request, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(accounts_api.MeApi, "get", explode)
    expert_client.raise_request_exception = False
    response = expert_client.get("/api/v1/me")
    _assert_api_error(response, 500, "server_error")
    assert "boom" not in response.content.decode()


def test_pages_keep_html_404s(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
