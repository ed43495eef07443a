"""Every operation of the OpenAPI schema documents its error answers in the one error shape."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = [
    (f"{method.upper()} {path}", path, method, operation)
    for path, operations in SCHEMA["paths"].items()
    for method, operation in operations.items()
]
ERROR_REF = "#/components/schemas/ApiErrors"


def test_the_error_components_are_the_error_shape():
    errors = SCHEMA["components"]["schemas"]["ApiErrors"]
    assert errors["required"] == ["errors"]
    assert errors["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ApiError"}
    assert set(SCHEMA["components"]["schemas"]["ApiError"]["required"]) == {"field", "code", "message"}


@pytest.mark.parametrize(("name", "path", "method", "operation"), OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_each_operation_documents_its_errors(name, path, method, operation):
    responses = operation["responses"]
    expected = {"400", "403"}
    if "{" in path:
        expected.add("404")
    if any("labApiKey" in scheme for scheme in operation.get("security") or []):
        expected |= {"401", "429"}
    if method in ("post", "put", "patch", "delete"):
        expected.add("409")
    assert expected <= set(responses), (name, sorted(responses))
    for status in sorted(responses):
        if not status.startswith("4"):
            continue
        content = responses[status]["content"]["application/json"]
        assert content["schema"] == {"$ref": ERROR_REF}, (name, status)
        examples = content.get("examples") or {}
        assert examples, (name, status)
        for example in examples.values():
            assert set(example["value"]["errors"][0]) == {"field", "code", "message"}


def test_an_operation_keeps_its_own_wording_of_an_error():
    items = SCHEMA["paths"]["/api/v1/projects/{project_id}/items"]["get"]["responses"]
    assert items["404"]["description"] == "No such project (or item, or batch) of this lab."


@pytest.mark.parametrize(("name", "path", "method", "operation"), OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_each_successful_json_answer_has_an_example(name, path, method, operation):
    for status, response in operation["responses"].items():
        if not status.startswith("2"):
            continue
        for media_type, content in response.get("content", {}).items():
            if "json" in media_type and "schema" in content:
                assert content.get("examples") or "example" in content, (name, status, media_type)


def test_a_built_example_has_the_fields_of_its_schema():
    content = SCHEMA["paths"]["/api/v1/projects"]["get"]["responses"]["200"]["content"]["application/json"]
    example = content["examples"]["Example"]["value"]
    assert set(example) == {"next", "previous", "results"}
    project = SCHEMA["components"]["schemas"]["ProjectOutput"]
    assert set(example["results"][0]) == set(project["properties"])


def test_an_operation_keeps_its_own_example():
    path = "/api/v1/projects/{project_id}/items/by-external-id/{external_id}"
    content = SCHEMA["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    assert "Example" not in content["examples"]
    assert any(e["value"].get("external_id") == "cardio-0001" for e in content["examples"].values())
