"""OpenAPI schema details: the API-key security scheme and unique names for the nested
``InputSerializer`` classes that every endpoint declares (HackSoft's style)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


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
