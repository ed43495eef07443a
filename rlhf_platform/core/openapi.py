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
