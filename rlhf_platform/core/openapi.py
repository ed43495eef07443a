"""OpenAPI schema details: the API-key security scheme and unique names for the nested
``InputSerializer`` classes that every endpoint declares (HackSoft's style)."""

from __future__ import annotations

import functools

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "rlhf_platform.accounts.authentication.ApiKeyAuthentication"
    name = "labApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A lab's API key: `Authorization: Bearer rlhf_<prefix>_<secret>`.",
        }


class PlatformAutoSchema(AutoSchema):
    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls_name = type(serializer).__name__
        if cls_name in ("InputSerializer", "OutputSerializer") or cls_name.startswith("_"):
            view_name = type(self.view).__name__.removesuffix("Api")
            return view_name + name.lstrip("_")
        return name

    def _is_list_view(self, serializer=None) -> bool:
        """A GET handler that pages with ``self.paginate_queryset`` answers a page of a list
        (``{next, previous, results}``, its paginator's ``cursor`` and ``page_size`` documented)
        even when its serializer is not declared ``many=True``: the schema says what the server
        answers and accepts (``core/query_params.py``)."""
        if self.method == "GET" and _pages(type(self.view)):
            return True
        return super()._is_list_view(serializer)


def _pages(view_class: type) -> bool:
    code = getattr(getattr(view_class, "get", None), "__code__", None)
    return code is not None and "paginate_queryset" in code.co_names


@functools.cache
def _results_serializer(child: type[serializers.Serializer]) -> type[serializers.Serializer]:
    name = child.__name__.removesuffix("Serializer") + "ResultsSerializer"
    return type(
        name, (serializers.Serializer,), {"results": child(many=True), "__module__": child.__module__}
    )


def results_of(child: type[serializers.Serializer]) -> serializers.Serializer:
    """The documented body of a list answered whole, without pages: ``{"results": [child, ...]}``
    (``Response({"results": ...})``), one component per child (``<Child>Results``)."""
    return _results_serializer(child)()


# Values that are data, not schemas: never rewritten.
_DATA_KEYS = frozenset({"example", "examples", "default", "enum", "const"})


def _nullable_31(schema: dict) -> dict:
    """One schema's OpenAPI 3.0 ``nullable: true`` as JSON Schema 2020-12 says it (OpenAPI 3.1):
    ``null`` among its types, in its enum, or as one more alternative."""
    schema = dict(schema)
    if not schema.pop("nullable", False):
        return schema
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*kinds, "null"] if "null" not in kinds else kinds
        return schema
    for combined in ("oneOf", "anyOf"):
        if combined in schema:
            schema[combined] = [*schema[combined], {"type": "null"}]
            return schema
    if "allOf" in schema or "$ref" in schema:
        alternative = {key: schema.pop(key) for key in ("allOf", "$ref") if key in schema}
        if len(alternative.get("allOf", ())) == 1:  # {"allOf": [ref]} was 3.0's nullable ref
            alternative = alternative["allOf"][0]
        schema["oneOf"] = [alternative, {"type": "null"}]
        return schema
    return schema


def _to_31(node):
    if isinstance(node, list):
        return [_to_31(value) for value in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("nullable"), bool):
        node = _nullable_31(node)
    out = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):  # names, whatever they are: schemas
            out[key] = {name: _to_31(child) for name, child in value.items()}
        else:
            out[key] = value if key in _DATA_KEYS else _to_31(value)
    return out


def to_openapi_31(result, generator, request, public):
    """drf-spectacular postprocessing hook, the last one: the schema is OpenAPI 3.1 (for its
    top-level ``webhooks``), whose schemas are JSON Schema 2020-12. drf-spectacular writes its
    own in that dialect; the components the other hooks add say ``nullable`` as OpenAPI 3.0
    does, which becomes a ``null`` type or alternative here."""
    if not str(result.get("openapi", "")).startswith("3.1"):
        return result
    return {
        key: _to_31(value) if key in ("paths", "components", "webhooks") else value
        for key, value in result.items()
    }
