"""An example for every successful JSON response of the OpenAPI schema.

An operation that gives its own example (``OpenApiExample``) keeps it; every other 2xx JSON
response gets one built from its schema by :func:`example_of`: each property with a value of
its type and format (an enum's first value, a schema's own ``example`` or ``default`` when it
has one), one element per array, a component nested in itself given once. Request bodies'
examples are written by hand (``core/openapi_request_examples.py``).
"""

from __future__ import annotations

from typing import Any

_FORMATS = {
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date-time": "2026-01-05T10:00:00Z",
    "date": "2026-01-05",
    "email": "lab@example.org",
    "uri": "https://example.org/hook",
    "decimal": "12.50",
    "binary": None,
}
_MAX_DEPTH = 24  # a backstop: a component already being built is not built again inside itself


def example_of(schema: dict, components: dict, depth: int = 0, building: frozenset = frozenset()) -> Any:
    """A value that fits ``schema`` (``$ref`` resolved against ``components``)."""
    if depth > _MAX_DEPTH or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in building:
            return None
        return example_of(components.get(name, {}), components, depth + 1, building | {name})
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return next((value for value in schema["enum"] if value is not None), None)
    for combined in ("allOf", "oneOf", "anyOf"):
        if schema.get(combined):
            if combined == "allOf":
                merged: dict = {}
                for part in schema["allOf"]:
                    value = example_of(part, components, depth + 1, building)
                    if isinstance(value, dict):
                        merged.update(value)
                return merged
            return example_of(schema[combined][0], components, depth + 1, building)
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1: ["string", "null"]
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        return {
            name: example_of(child, components, depth + 1, building)
            for name, child in schema.get("properties", {}).items()
            if not child.get("writeOnly")
        }
    if kind == "array":
        return [example_of(schema.get("items", {}), components, depth + 1, building)]
    if kind == "integer":
        return max(schema.get("minimum", 1), 0)
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return True
    if kind == "string":
        return _FORMATS.get(schema.get("format"), "string")
    return None


def add_response_examples(result, generator, request, public):
    """drf-spectacular postprocessing hook (after the error responses' own examples)."""
    components = result.get("components", {}).get("schemas", {})
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                for media_type, content in response.get("content", {}).items():
                    if "json" not in media_type or "examples" in content or "example" in content:
                        continue
                    if "schema" not in content:
                        continue
                    value = example_of(content["schema"], components)
                    if value is not None:
                        content["examples"] = {"Example": {"value": value, "summary": "example"}}
    return result
