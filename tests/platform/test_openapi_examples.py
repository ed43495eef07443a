"""Every operation of the OpenAPI schema has an example of its request body (when it takes one)
and of its successful answer, and every example is valid against the schema it illustrates."""

from __future__ import annotations

import pytest

from annotate.ingest.validate import ItemValidator
from annotate.schema import schema_normalize, schema_validate
from rlhf_platform.core.openapi_request_examples import (
    BATCH_RECORDS,
    LABEL_SCHEMA,
    NDJSON_EXAMPLES,
    REQUEST_EXAMPLES,
)
from tests.openapi_schema import openapi_schema, schema_errors

SCHEMA = openapi_schema()
COMPONENTS = SCHEMA["components"]["schemas"]
OPERATIONS = [
    (f"{method.upper()} {path}", operation)
    for path, operations in SCHEMA["paths"].items()
    for method, operation in operations.items()
]
WITH_BODY = [(name, operation) for name, operation in OPERATIONS if "requestBody" in operation]
IDS = [name for name, _ in OPERATIONS]


def _errors(value, schema) -> list[str]:
    return schema_errors(value, schema)


def _examples(content: dict) -> list:
    values = [example["value"] for example in (content.get("examples") or {}).values()]
    if "example" in content:
        values.append(content["example"])
    return values


def test_the_schema_has_operations_with_bodies():
    assert len(OPERATIONS) > 80
    assert len(WITH_BODY) > 40


@pytest.mark.parametrize(("name", "operation"), WITH_BODY, ids=[name for name, _ in WITH_BODY])
def test_each_request_body_has_a_valid_example(name, operation):
    content = operation["requestBody"]["content"]
    assert "application/json" in content, name
    for media_type in ("application/json", "application/x-ndjson"):
        if media_type not in content:
            continue
        examples = _examples(content[media_type])
        assert examples, (name, media_type)
        for value in examples:
            assert _errors(value, content[media_type]["schema"]) == [], (name, media_type)


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=IDS)
def test_each_successful_answer_has_a_valid_example(name, operation):
    for status, response in operation["responses"].items():
        if not status.startswith("2"):
            continue
        for media_type, content in response.get("content", {}).items():
            if "json" not in media_type or "schema" not in content:
                continue
            examples = _examples(content)
            assert examples, (name, status, media_type)
            for value in examples:
                assert _errors(value, content["schema"]) == [], (name, status, value)


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=IDS)
def test_each_error_example_is_valid(name, operation):
    for status, response in operation["responses"].items():
        if status.startswith("4"):
            content = response["content"]["application/json"]
            for value in _examples(content):
                assert _errors(value, content["schema"]) == [], (name, status)


def test_every_example_names_an_operation_of_the_schema():
    """A renamed path would leave its example behind silently."""
    assert set(REQUEST_EXAMPLES) <= {name for name, _ in WITH_BODY}
    assert set(NDJSON_EXAMPLES) <= {name for name, _ in WITH_BODY}


def test_the_upload_body_is_an_array_of_batch_records():
    content = SCHEMA["paths"]["/api/v1/projects/{project_id}/batches"]["post"]["requestBody"]["content"]
    assert content["application/json"]["schema"]["type"] == "array"
    assert content["application/json"]["schema"]["items"] == {"$ref": "#/components/schemas/BatchItemRecord"}
    record = COMPONENTS["BatchItemRecord"]
    assert set(record["required"]) == {"external_id", "prompt", "responses"}
    assert record["additionalProperties"] is False
    assert record["properties"]["gold"]["oneOf"] == [
        {"$ref": "#/components/schemas/BatchGoldAnswer"},
        {"type": "null"},
    ]


def test_the_batch_record_example_is_accepted_by_the_ingest_validator():
    """The example is valid for the validator itself, not only for the documented schema; and
    the validator's refusal of a record the schema refuses is what the schema says."""
    assert schema_validate(LABEL_SCHEMA) == []
    validator = ItemValidator(schema=schema_normalize(LABEL_SCHEMA))
    for number, record in enumerate(BATCH_RECORDS, start=1):
        assert validator.check_object(number, record)[1] == []
    for number, line in enumerate(
        NDJSON_EXAMPLES["POST /api/v1/projects/{project_id}/batches"].splitlines(), 1
    ):
        assert validator.check_bytes(number, line.encode())[1] == []
    bad = {**BATCH_RECORDS[0], "colour": "red"}
    assert _errors([bad], {"type": "array", "items": {"$ref": "#/components/schemas/BatchItemRecord"}})
    assert [e.code for e in validator.check_object(1, bad)[1]] == ["unknown_field"]


def test_the_label_schema_is_a_component_wherever_it_appears():
    for name in (
        "ProjectOutput",
        "ProjectListInputRequest",
        "ProjectDetailPatchedInputRequest",
        "ExamOutput",
    ):
        assert COMPONENTS[name]["properties"]["label_schema"] == {"$ref": "#/components/schemas/LabelSchema"}
    item = COMPONENTS["ItemOutput"]["properties"]
    assert item["responses"]["items"] == {"$ref": "#/components/schemas/BatchResponse"}
    assert {"type": "string"} in item["prompt"]["oneOf"]


@pytest.mark.parametrize("kind", ["pairwise", "ranking"])
def test_label_schemas_the_validator_takes_fit_the_component_and_others_do_not(kind):
    from annotate.schema import DEFAULT_SCHEMA

    ref = {"$ref": "#/components/schemas/LabelSchema"}
    given = DEFAULT_SCHEMA if kind == "pairwise" else {"kind": "ranking", "ranking": {"ties_allowed": False}}
    for schema in (given, schema_normalize(given), LABEL_SCHEMA):
        if schema.get("kind") == kind:
            assert schema_validate(schema) == [] and _errors(schema, ref) == [], schema
    for wrong in (
        {**given, "colour": 1},
        {**given, "kind": "likert"},
        {**given, "criteria": [{"key": "A b"}]},
    ):
        assert schema_validate(wrong) and _errors(wrong, ref), wrong


def test_a_labels_body_is_typed_for_submit_revise_and_an_exam_answer():
    submit = COMPONENTS["AssignmentSubmitInputRequest"]
    assert submit["properties"]["choice"]["enum"] == ["A", "B", "tie", "both_bad", None]
    assert submit["properties"]["ranking"]["items"]["items"] == {"type": "string"}
    assert COMPONENTS["AssignmentReviseInputRequest"]["properties"]["strength"]["type"] == ["integer", "null"]
    answer = SCHEMA["paths"]["/api/v1/exam-questions/{answer_id}/answer"]["post"]["requestBody"]["content"]
    assert answer["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AssignmentSubmitInputRequest"
    }
    ref = {"$ref": "#/components/schemas/AssignmentSubmitInputRequest"}
    assert schema_errors({"client_id": "c1", "ranking": [["B"], ["A", "C"]]}, ref) == []
    assert schema_errors({"client_id": "c1", "choice": "C"}, ref)
    assert schema_errors({"client_id": "c1", "ranking": "B>A"}, ref)


def test_the_exports_example_is_json_lines_of_trl_dpo_rows():
    import json

    path = SCHEMA["paths"]["/api/v1/projects/{project_id}/export"]["get"]
    content = path["responses"]["200"]["content"]["application/x-ndjson"]
    [text] = _examples(content)
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows and all(set(row) == {"prompt", "chosen", "rejected"} for row in rows)
