"""Every GET endpoint under /api/ refuses a query parameter it does not document, naming it,
and accepts each one it documents (the OpenAPI schema is the list)."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from rlhf_platform import api_urls
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)


def _get_patterns() -> list[tuple[str, URLPattern, dict]]:
    """(name, pattern, GET operation) of every named API route whose view answers GET."""
    out = []
    for pattern in api_urls.urlpatterns:
        view_class = getattr(pattern.callback, "cls", None)
        if pattern.name not in api_urls.ENDPOINT_AUDIENCE or not hasattr(view_class, "get"):
            continue
        out.append((pattern.name, pattern))
    return out


GET_PATTERNS = _get_patterns()


def _path(pattern: URLPattern, name: str) -> str:
    kwargs = {}
    for arg, converter in pattern.pattern.converters.items():
        kwargs[arg] = uuid.uuid4() if type(converter).__name__ == "UUIDConverter" else "x-1"
    return reverse(name, kwargs=kwargs)


def _operation(path: str) -> dict:
    template = path
    for key in SCHEMA["paths"]:
        parts, wanted = key.split("/"), template.split("/")
        if len(parts) == len(wanted) and all(
            p == w or (p.startswith("{") and p.endswith("}")) for p, w in zip(parts, wanted, strict=True)
        ):
            return SCHEMA["paths"][key]["get"]
    raise AssertionError(f"{path} is not in the OpenAPI schema")


def _client(audience: str, request) -> APIClient:
    fixture = {"lab": "lab_client", "staff": "staff_client", "person": "expert_client"}.get(audience)
    return request.getfixturevalue(fixture) if fixture else APIClient()


def _value(parameter: dict) -> str:
    schema = parameter.get("schema", {})
    if schema.get("enum"):
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    if schema.get("type") == "number":
        return "0.5"
    if schema.get("type") == "boolean":
        return "true"
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    return "x"


def _codes(response) -> set[str]:
    if not response["Content-Type"].startswith("application/json"):
        return set()
    return {e["code"] for e in response.json().get("errors", [])}


def test_the_matrix_covers_the_get_endpoints():
    assert len(GET_PATTERNS) > 40
    names = {name for name, _ in GET_PATTERNS}
    assert {"api-projects", "api-project-items", "api-project-export", "api-me"} <= names


@pytest.mark.parametrize(("name", "pattern"), GET_PATTERNS, ids=[n for n, _ in GET_PATTERNS])
def test_an_unknown_query_parameter_is_refused_naming_it(name, pattern, request):
    client = _client(api_urls.ENDPOINT_AUDIENCE[name], request)
    response = client.get(_path(pattern, name), {"bogus_param": "1"})
    assert response.status_code == 400, (name, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    errors = response.json()["errors"]
    assert errors[0]["field"] == "bogus_param"
    assert errors[0]["code"] == "unknown_field"
    assert "bogus_param" in errors[0]["message"]


@pytest.mark.parametrize(("name", "pattern"), GET_PATTERNS, ids=[n for n, _ in GET_PATTERNS])
def test_each_documented_query_parameter_is_accepted(name, pattern, request):
    client = _client(api_urls.ENDPOINT_AUDIENCE[name], request)
    path = _path(pattern, name)
    parameters = [p for p in _operation(path).get("parameters", []) if p["in"] == "query"]
    for parameter in parameters:
        response = client.get(path, {parameter["name"]: _value(parameter)})
        assert response.status_code < 500, (name, parameter["name"], response.content[:300])
        assert "unknown_field" not in _codes(response), (name, parameter["name"])


def test_several_unknown_parameters_are_each_named(lab_client):
    response = lab_client.get("/api/v1/projects", {"stat": "open", "zz": "1", "status": "active"})
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("stat", "unknown_field"),
        ("zz", "unknown_field"),
    ]
    assert "status" in response.json()["errors"][0]["message"]  # the accepted ones are listed


def test_a_next_link_is_followed_without_refusal(lab_client, lab_key):
    ProjectFactory(lab=lab_key[0])
    ProjectFactory(lab=lab_key[0])
    first = lab_client.get("/api/v1/projects", {"page_size": 1})
    assert first.status_code == 200, first.content
    assert len(first.json()["results"]) == 1
    second = lab_client.get(first.json()["next"])
    assert second.status_code == 200, second.content
    assert len(second.json()["results"]) == 1


def test_a_post_with_an_unknown_query_parameter_is_refused(lab_client):
    response = lab_client.post(f"/api/v1/projects?dry_runn=1&x={uuid.uuid4()}", {}, format="json")
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"dry_runn", "x"}


def test_pages_outside_the_api_are_not_checked(client):
    response = client.get("/accounts/login/", {"bogus_param": "1"})
    assert response.status_code != 400


@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/webhooks"])
def test_a_cursor_that_does_not_decode_is_a_400_naming_it(lab_client, path):
    response = lab_client.get(path, {"cursor": "not-a-cursor"})
    assert response.status_code == 400, response.content
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("cursor", "invalid")]


@pytest.mark.parametrize("handler", ["wsgi", "asgi"])
def test_the_parameter_list_is_built_with_the_application_not_by_a_request(handler):
    """Building it takes about 2 s (every view imported, the schema generated): the server
    pays that before it takes connections, not the first request with a query string."""
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler

    from rlhf_platform.core.query_params import documented_query_parameters

    documented_query_parameters.cache_clear()
    (WSGIHandler if handler == "wsgi" else ASGIHandler)()
    assert documented_query_parameters.cache_info().currsize == 1
