"""The batch record as OpenAPI component schemas, from the one definition the ingest validates
with (``annotate.ingest.validate.ItemRecord``, a msgspec struct), so the documented upload body
and the validator cannot drift: ``BatchItemRecord`` (with ``BatchResponse`` and
``BatchMessage``). The upload's JSON body is documented as an array of them; its JSON Lines
body as text, one record a line.

msgspec writes JSON Schema 2020-12; the schema here is OpenAPI 3.0, so a ``{"type": "null"}``
alternative becomes ``nullable``.
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
