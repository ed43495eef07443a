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
