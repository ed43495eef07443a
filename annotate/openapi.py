"""Typed OpenAPI components for what the platform reads as free JSON.

The batch record, from the one definition the ingest validates with
(``annotate.ingest.validate.ItemRecord``, a msgspec struct), so the documented upload body and
the validator cannot drift: ``BatchItemRecord`` (with ``BatchResponse`` and ``BatchMessage``).
The upload's JSON body is documented as an array of them; its JSON Lines body as text, one
record a line. msgspec writes JSON Schema 2020-12; the components here say a null alternative
as ``nullable`` (OpenAPI 3.0), as the other hooks' do, and the last hook
(``rlhf_platform.core.openapi.to_openapi_31``) writes them all as OpenAPI 3.1 says it.

The label schema (``LabelSchema``, ``annotate/schema.py``) on projects, exams and assignments,
an item's prompt, responses and metadata as the record gave them, and a label's body (submit,
revise, an exam answer) as ``annotate/labels.py`` reads it.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

PREFIX = "Batch"
RECORD_REF = f"#/components/schemas/{PREFIX}ItemRecord"

UPLOAD_REQUEST = {
    "application/json": {
        "type": "array",
        "items": {"$ref": RECORD_REF},
        "description": "The records of the batch, as a JSON array.",
    },
    "application/x-ndjson": {
        "type": "string",
        "description": "JSON Lines: one BatchItemRecord a line (UTF-8; blank lines are skipped).",
    },
}


def _openapi_30(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_openapi_30(value) for value in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: _openapi_30(value) for key, value in schema.items() if key != "title"}
    for combined in ("anyOf", "oneOf"):
        options = schema.get(combined)
        if options and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del schema[combined]
            if len(rest) == 1:
                schema.update(rest[0])
            else:
                schema[combined] = rest
            schema["nullable"] = True
    return schema


@functools.cache
def batch_record_schemas() -> dict[str, dict]:
    from annotate.ingest.validate import ItemRecord

    _, components = msgspec.json.schema_components(
        [ItemRecord], ref_template=f"#/components/schemas/{PREFIX}{{name}}"
    )
    return {PREFIX + name: _openapi_30(schema) for name, schema in components.items()}


def add_batch_record_components(result, generator, request, public):
    """drf-spectacular postprocessing hook: the batch record's component schemas."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in batch_record_schemas().items():
        schemas.setdefault(name, schema)
    return result


# --- The label schema and the item, typed -----------------------------------------------------

LABEL_SCHEMA_REF = "#/components/schemas/LabelSchema"


def label_schema_schemas() -> dict[str, dict]:
    """``LabelSchema`` and ``LabelCriterion``: what ``annotate.schema.schema_validate`` accepts
    (it checks more: ``choices`` holds A and B, a criterion's ``min`` is below its ``max``, ...)."""
    from annotate.schema import DEFAULT_SCHEMA, KEY_RE, PAIRWISE_CHOICES, RATIONALE_MODES, schema_normalize

    return {
        "LabelSchema": {
            "type": "object",
            "description": "What a label holds (annotate/schema.py). Answers carry it with every "
            "default written out.",
            "properties": {
                "kind": {
                    "type": "string",
                    "enum": ["pairwise", "ranking"],
                    "description": "pairwise: 2 responses; ranking: 3 to 8.",
                },
                "choices": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(PAIRWISE_CHOICES)},
                    "minItems": 2,
                    "maxItems": len(PAIRWISE_CHOICES),
                    "uniqueItems": True,
                    "description": "Pairwise only: the answers allowed; A and B always.",
                },
                "strength": {
                    "type": "object",
                    "nullable": True,
                    "properties": {
                        "levels": {
                            "type": "array",
                            "items": {"type": "string", "minLength": 1},
                            "minItems": 2,
                            "maxItems": 7,
                            "description": "The scale, weakest first (a strength is a 1-based position).",
                        }
                    },
                    "required": ["levels"],
                    "additionalProperties": False,
                    "description": "Pairwise only, optional.",
                },
                "ranking": {
                    "type": "object",
                    "properties": {"ties_allowed": {"type": "boolean", "default": True}},
                    "additionalProperties": False,
                    "description": "Ranking only.",
                },
                "criteria": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/LabelCriterion"},
                    "maxItems": 12,
                    "description": "Per-response ratings on integer scales.",
                },
                "rationale": {
                    "type": "object",
                    "properties": {
                        "mode": {"type": "string", "enum": list(RATIONALE_MODES), "default": "optional"},
                        "min_length": {"type": "integer", "minimum": 0, "maximum": 5000, "default": 0},
                    },
                    "additionalProperties": False,
                },
            },
            "required": ["kind"],
            "additionalProperties": False,
            "example": schema_normalize(DEFAULT_SCHEMA),
        },
        "LabelCriterion": {
            "type": "object",
            "properties": {
                "key": {"type": "string", "pattern": KEY_RE.pattern},
                "label": {"type": "string", "minLength": 1},
                "min": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "max": {"type": "integer", "minimum": 1, "maximum": 10},
                "description": {"type": "string"},
            },
            "required": ["key", "label", "max"],
            "additionalProperties": False,
        },
    }


def _untyped(schema: dict) -> bool:
    return not {"type", "$ref", "allOf", "oneOf", "anyOf", "enum"} & set(schema)


# An item as the lab sent it: the record's prompt and responses, and its metadata.
ITEM_FIELDS = {
    "prompt": {
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"$ref": f"#/components/schemas/{PREFIX}Message"}},
        ],
        "description": "A string, or a list of {role, content} messages.",
    },
    "responses": {"type": "array", "items": {"$ref": f"#/components/schemas/{PREFIX}Response"}},
    "metadata": {"type": "object", "additionalProperties": {}},
}


# A label's body in the letters shown (annotate/labels.py checks it against the project's
# schema): a choice for a pairwise project, a ranking for a ranking one.
_RANKING = {
    "type": "array",
    "items": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "minItems": 1,
    "description": 'Groups of tied letters, best first: [["B"], ["A", "C"]].',
}
LABEL_FIELDS = {
    "choice": {
        "type": "string",
        "nullable": True,
        "enum": ["A", "B", "tie", "both_bad"],
        "description": "Pairwise: one of the project's choices, in the letters shown.",
    },
    "strength": {
        "type": "integer",
        "nullable": True,
        "minimum": 1,
        "maximum": 7,
        "description": "Pairwise, with a strength scale: 1-based position on it (for A or B).",
    },
    "ranking": _RANKING,
    "criteria": {
        "type": "object",
        "nullable": True,
        "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}},
        "description": "Every response (letter) rated on every criterion: {letter: {key: rating}}.",
    },
    "rationale": {"type": "string", "nullable": True, "maxLength": 20000},
    "active_seconds": {
        "type": "number",
        "nullable": True,
        "minimum": 0,
        "maximum": 86400,
        "description": "Seconds the expert spent on the item.",
    },
}
LABEL_BODIES = {"AssignmentSubmitInputRequest", "AssignmentReviseInputRequest"}
ANSWER_PATH = "/api/v1/exam-questions/{answer_id}/answer"


def type_label_schemas_and_items(result, generator, request, public):
    """drf-spectacular postprocessing hook (after ``add_batch_record_components``): every
    untyped ``label_schema`` property becomes a ``LabelSchema``, and ``ItemOutput``'s prompt,
    responses and metadata the batch record's types."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in label_schema_schemas().items():
        schemas.setdefault(name, schema)
    for name, component in list(schemas.items()):
        properties = component.get("properties", {})
        field = properties.get("label_schema")
        if field is not None and _untyped(field):
            properties["label_schema"] = {"$ref": LABEL_SCHEMA_REF}
        if name == "ItemOutput":
            for key, typed in ITEM_FIELDS.items():
                if key in properties and _untyped(properties[key]):
                    properties[key] = typed
        if name in LABEL_BODIES:
            for key, typed in LABEL_FIELDS.items():
                if key in properties and _untyped(properties[key]):
                    properties[key] = typed
        if name == "AdjudicationDecideInputRequest" and _untyped(properties.get("ranking", {"type": 0})):
            properties["ranking"] = {**_RANKING, "nullable": True}
    # An exam answer is a label's body with its client_id, as a submit's.
    answer = result.get("paths", {}).get(ANSWER_PATH, {}).get("post", {}).get("requestBody")
    if answer is not None:
        for content in answer.get("content", {}).values():
            content["schema"] = {"$ref": "#/components/schemas/AssignmentSubmitInputRequest"}
    return result


# --- Export rows, typed ---------------------------------------------------------------------------

EXPORT_ROW_COMPONENTS = {
    "raw": "ExportRawRow",
    "consensus": "ExportConsensusRow",
    "dpo": "ExportDpoRow",
    "reward": "ExportRewardRow",
    "ranking": "ExportRankingRow",
}
_MESSAGES = {"type": "array", "items": {"$ref": f"#/components/schemas/{PREFIX}Message"}}
_TEXT = {
    "oneOf": [{"type": "string"}, _MESSAGES],
    "description": "A string (form=standard) or a list of {role, content} messages "
    "(form=conversational): one form in a file.",
}


def _arrow_schema(kind: Any) -> dict:
    """The JSON Lines value of a Parquet column of Arrow type ``kind`` (times as ISO 8601)."""
    import pyarrow as pa

    if pa.types.is_timestamp(kind):
        return {"type": "string", "format": "date-time"}
    if pa.types.is_string(kind):
        return {"type": "string"}
    if pa.types.is_integer(kind):
        return {"type": "integer"}
    if pa.types.is_floating(kind):
        return {"type": "number"}
    if pa.types.is_boolean(kind):
        return {"type": "boolean"}
    if pa.types.is_list(kind):
        return {"type": "array", "items": _arrow_schema(kind.value_type)}
    if pa.types.is_struct(kind):
        fields = [kind.field(index) for index in range(kind.num_fields)]
        return {
            "type": "object",
            "properties": {field.name: {**_arrow_schema(field.type), "nullable": True} for field in fields},
            "required": [field.name for field in fields],
            "additionalProperties": False,
        }
    raise ValueError(f"no JSON schema for the Arrow type {kind}")


def export_row_schemas() -> dict[str, dict]:
    """One component per export format, from the Arrow schemas the Parquet files are written
    with (``annotate/exports/parquet.py``), so the two cannot drift: every column is in every
    row; a record format's columns may be null; a training format's metadata columns are there
    with ``include=metadata`` only."""
    from annotate.exports.parquet import METADATA_TYPES, RECORD_SCHEMAS, training_schema
    from annotate.exports.training import PAIR_METADATA, RANKING_METADATA

    out = {}
    for export_format, schema in RECORD_SCHEMAS.items():
        out[EXPORT_ROW_COMPONENTS[export_format]] = {
            "type": "object",
            "description": f"A line of format={export_format}.",
            "properties": {field.name: {**_arrow_schema(field.type), "nullable": True} for field in schema},
            "required": list(schema.names),
            "additionalProperties": False,
        }
    for export_format, metadata in (
        ("dpo", PAIR_METADATA),
        ("reward", PAIR_METADATA),
        ("ranking", RANKING_METADATA),
    ):
        columns = training_schema(export_format=export_format, form="standard")
        properties = {}
        for field in columns:
            if field.name in ("prompt", "chosen", "rejected"):
                properties[field.name] = _TEXT
            elif field.name == "completions":
                properties[field.name] = {"type": "array", "items": _TEXT, "description": "Best first."}
            else:
                properties[field.name] = _arrow_schema(field.type)
        for name in metadata:
            nullable = name in ("confidence", "agreement")
            properties[name] = {
                **_arrow_schema(METADATA_TYPES[name]),
                **({"nullable": True} if nullable else {}),
            }
        out[EXPORT_ROW_COMPONENTS[export_format]] = {
            "type": "object",
            "description": f"A line of format={export_format} (TRL's columns; the metadata columns "
            "with include=metadata).",
            "properties": properties,
            "required": list(columns.names),
            "additionalProperties": False,
        }
    return out


EXPORT_PATH = "/api/v1/projects/{project_id}/export"


def add_export_row_components(result, generator, request, public):
    """drf-spectacular postprocessing hook: the export's rows, a component per format, named in
    the JSON Lines answer's description (OpenAPI 3.0 cannot type the lines of a text body)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in export_row_schemas().items():
        schemas.setdefault(name, schema)
    answer = result.get("paths", {}).get(EXPORT_PATH, {}).get("get", {}).get("responses", {}).get("200", {})
    content = answer.get("content", {}).get("application/x-ndjson")
    if content is not None and "schema" in content:
        rows = ", ".join(f"{name} (format={fmt})" for fmt, name in EXPORT_ROW_COMPONENTS.items())
        content["schema"] = {**content["schema"], "description": f"JSON Lines, one row a line: {rows}."}
    return result
