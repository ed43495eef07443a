"""The generated OpenAPI schema, and validation of a value against one of its schemas (OpenAPI
3.1's are JSON Schema 2020-12; component references go into ``$defs``, and an OpenAPI 3.0
``nullable`` is read as a null alternative)."""

from __future__ import annotations

import copy
import functools

import jsonschema
from drf_spectacular.generators import SchemaGenerator


@functools.cache
def openapi_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _json_schema(schema):
    if isinstance(schema, list):
        return [_json_schema(value) for value in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _json_schema(value) for key, value in schema.items() if key not in ("nullable", "example")}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
    if schema.get("nullable"):
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _defs() -> dict:
    return {name: _json_schema(schema) for name, schema in openapi_schema()["components"]["schemas"].items()}


def schema_errors(value, schema: dict) -> list[str]:
    """Why ``value`` does not fit ``schema`` (an OpenAPI schema or ``{"$ref": ...}``); [] if it does."""
    full = {**_json_schema(copy.deepcopy(schema)), "$defs": _defs()}
    validator = jsonschema.Draft202012Validator(full, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]
