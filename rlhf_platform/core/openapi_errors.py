"""The API's one error shape as a component schema, for the documented 4xx responses::

    {"errors": [{"field": "state", "code": "invalid_choice", "message": "..."}]}

(``rlhf_platform.core.exceptions`` builds it.) ``error_responses`` gives ``extend_schema`` its
error entries: ``error_responses({400: "bad parameter", 404: "no such project"})``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers


class ApiErrorSerializer(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True, help_text="The field or parameter at fault; null for the request."
    )
    code = serializers.CharField(
        help_text="Stable, e.g. invalid, unknown_field, not_found, permission_denied."
    )
    message = serializers.CharField()


class ApiErrorsSerializer(serializers.Serializer):
    errors = ApiErrorSerializer(many=True)


_EXAMPLE_CODES = {
    400: ("state", "invalid_choice", '"closed" is not a valid choice.'),
    401: (None, "not_authenticated", "Authentication credentials were not provided."),
    403: (None, "permission_denied", "This API key lacks the 'write' scope."),
    404: (None, "not_found", "Not found."),
    409: (None, "conflict", "The object is not in a state that allows this."),
}


def error_responses(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    """``{status: description}`` as documented error responses with the error body and an example."""
    out = {}
    for status, description in described.items():
        field, code, message = _EXAMPLE_CODES.get(status, (None, "invalid", description))
        out[status] = OpenApiResponse(
            ApiErrorsSerializer,
            description=description,
            examples=[
                OpenApiExample(
                    f"error {status}",
                    value={"errors": [{"field": field, "code": code, "message": message}]},
                    status_codes=[str(status)],
                    response_only=True,
                )
            ],
        )
    return out


# What each documented error means when an operation does not say it in its own words.
_GENERIC = {
    400: "Bad input: a field or query parameter (an unknown one included) named in `field`.",
    401: "Not authenticated: no valid API key or session.",
    403: "Not allowed: the key's scope, the person's role, or a missing CSRF token.",
    404: "No such object, or not the caller's to see.",
    409: "The object's state does not allow this (e.g. already decided, revoked or running).",
    415: "The body's Content-Type is not one the operation reads.",
    429: "Too many requests; `Retry-After` says when to try again.",
}
_EXAMPLE_CODES[415] = (None, "unsupported_media_type", 'Unsupported media type "text/plain" in request.')
_EXAMPLE_CODES[429] = (None, "throttled", "Request was throttled. Expected available in 12 seconds.")
_WRITES = {"post", "put", "patch", "delete"}


def _error_schemas() -> dict:
    return {
        "ApiError": {
            "type": "object",
            "properties": {
                "field": {
                    "type": "string",
                    "nullable": True,
                    "description": "The field or parameter at fault; null for the request.",
                },
                "code": {
                    "type": "string",
                    "description": "Stable, e.g. invalid, unknown_field, unknown_parameter, "
                    "not_found, permission_denied.",
                },
                "message": {"type": "string"},
            },
            "required": ["field", "code", "message"],
        },
        "ApiErrors": {
            "type": "object",
            "properties": {"errors": {"type": "array", "items": {"$ref": "#/components/schemas/ApiError"}}},
            "required": ["errors"],
        },
    }


def _statuses(path: str, method: str, operation: dict) -> list[int]:
    security = operation.get("security") or []
    anonymous = not security or {} in security
    statuses = [400, 403]  # any request: a bad parameter; a refused role, scope or CSRF token
    if not anonymous:
        statuses.append(401)
    if "{" in path or "requestBody" in operation:
        statuses.append(404)  # the object in the path, or one the body names
    if method in _WRITES:
        statuses.append(409)
    if "requestBody" in operation:
        statuses.append(415)
    if any("labApiKey" in scheme for scheme in security) or path.startswith("/api/v1/auth/"):
        statuses.append(429)  # the per-key rate (RateLimit-* headers); the login throttle
    return sorted(statuses)


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the errors it can answer
    (400 always; 401 unless anonymous; 403; 404 with a path parameter or a body; 409 for a
    write; 415 with a body; 429 for lab keys and sign-in), each with the ``ApiErrors`` body and
    an example. An operation's own description of a status (``error_responses``) is kept."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in _error_schemas().items():
        schemas.setdefault(name, schema)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, method, operation):
                if str(status) in responses:
                    continue
                field, code, message = _EXAMPLE_CODES.get(status, (None, "invalid", _GENERIC[status]))
                responses[str(status)] = {
                    "description": _GENERIC[status],
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ApiErrors"},
                            "examples": {
                                f"Error{status}": {
                                    "value": {"errors": [{"field": field, "code": code, "message": message}]},
                                    "summary": f"error {status}",
                                }
                            },
                        }
                    },
                }
    return result
