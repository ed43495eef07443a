"""The client's endpoint table (client/rlhf_client/endpoints.py) against the server's OpenAPI
schema (drf-spectacular, as ``/api/schema/`` serves it): every (method, path) the client calls
exists, with every query parameter and header it sends, so the two cannot drift apart."""

from __future__ import annotations

import ast
import inspect

import pytest
from rlhf_client import _async, _ops, _sync
from rlhf_client.endpoints import ENDPOINTS

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_each_endpoint_the_client_calls_is_in_the_schema_with_its_parameters(schema, name):
    endpoint = ENDPOINTS[name]
    assert endpoint.path in schema["paths"], f"{name}: {endpoint.path} is not in the schema"
    operation = schema["paths"][endpoint.path].get(endpoint.method.lower())
    assert operation is not None, f"{name}: the schema has no {endpoint.method} {endpoint.path}"
    parameters = operation.get("parameters", []) + schema["paths"][endpoint.path].get("parameters", [])
    documented = {(p["in"], p["name"]) for p in parameters}
    for query in endpoint.query:
        assert ("query", query) in documented, f"{name}: query parameter {query!r} is not in the schema"
    for header in endpoint.headers:
        assert ("header", header) in documented, f"{name}: header {header!r} is not in the schema"
    path_names = {p["name"] for p in parameters if p["in"] == "path"}
    assert path_names == {part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")}


# The calls that take an endpoint's name first: Call(name, ...), _ops.get(name, ...),
# _ops.page(name, ...) and the clients' self._list(name, ...).
TAKES_AN_ENDPOINT = {"Call", "get", "page", "_list"}


def _called_endpoints(module) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            name = func.attr if func.value.id in ("_ops", "self") else ""
        else:
            name = ""
        if name in TAKES_AN_ENDPOINT:
            names.add(node.args[0].value)
    return names


def test_every_endpoint_the_code_names_is_in_the_table_and_every_row_is_used():
    called = _called_endpoints(_ops) | _called_endpoints(_sync) | _called_endpoints(_async)
    assert called - set(ENDPOINTS) == set()
    assert set(ENDPOINTS) - called == set()
