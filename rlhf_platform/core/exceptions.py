"""The one domain exception and the one API error shape.

Services raise :class:`ApplicationError` (or Django's ``ValidationError`` from ``full_clean``);
views never build error responses by hand. The DRF exception handler below maps those, and
every DRF exception, to::

    {"errors": [{"field": "email", "code": "unique", "message": "..."}]}

``field`` is ``null`` for an error about the request as a whole; nested fields are dotted
(``links.0.url``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from rlhf_platform.core.overload import OVERLOADED_MESSAGE, pool_exhausted, retry_after


class ApplicationError(Exception):
    """A refused business action: a stable ``code``, a readable message, an optional field.

    ``status_code`` is the HTTP status an API returns for it (400 unless said otherwise:
    409 for a conflict of state, 404 when the object is not the caller's to see).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        field: str | None = None,
        status_code: int = 400,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.status_code = status_code
        self.extra = extra or {}
        self.headers = headers or {}  # e.g. Retry-After on a 429


def error(field: str | None, code: str, message: str) -> dict[str, Any]:
    return {"field": field, "code": code, "message": str(message)}


def flatten_drf_detail(detail: Any, prefix: str | None = None) -> list[dict[str, Any]]:
    """Turn DRF's nested ``ErrorDetail`` structure into a flat list of field errors."""
    field_name = None if prefix in (None, "non_field_errors", "__all__") else prefix
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            key = str(key)
            child = key if prefix in (None, "non_field_errors", "__all__") else f"{prefix}.{key}"
            if key in ("non_field_errors", "__all__"):
                child = prefix
            out.extend(flatten_drf_detail(value, child))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                child = f"{prefix}.{index}" if prefix else str(index)
                out.extend(flatten_drf_detail(value, child))
            else:
                out.extend(flatten_drf_detail(value, prefix))
        return out
    code = getattr(detail, "code", None) or "invalid"
    return [error(field_name, code, str(detail))]


def django_validation_errors(exc: DjangoValidationError) -> list[dict[str, Any]]:
    if hasattr(exc, "error_dict"):
        out = []
        for field, errors in exc.error_dict.items():
            for err in errors:
                message = err.message % err.params if err.params else err.message
                out.append(error(None if field == "__all__" else field, err.code or "invalid", message))
        return out
    return [
        error(None, err.code or "invalid", err.message % err.params if err.params else err.message)
        for err in exc.error_list
    ]


# Stable codes for DRF's own exceptions, whose default codes are not always specific.
_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "parse_error",
    exceptions.Throttled: "throttled",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if pool_exhausted(exc):
        # No database connection came free in time: busy, not broken (core/overload.py).
        body = {"errors": [error(None, "service_unavailable", OVERLOADED_MESSAGE)]}
        return Response(
            body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": retry_after()}
        )
    if isinstance(exc, ApplicationError):
        body = {"errors": [error(exc.field, exc.code, exc.message)], **exc.extra}
        return Response(body, status=exc.status_code, headers=exc.headers)
    if isinstance(exc, DjangoValidationError):
        return Response({"errors": django_validation_errors(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    # Imported here: rest_framework.views imports the authentication classes, which import
    # the services, which import this module.
    from rest_framework.views import exception_handler

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_drf_detail(exc.detail)
    else:
        code = next(
            (c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)),
            getattr(exc, "default_code", "error"),
        )
        errors = [error(None, code, str(exc.detail))]
    response.data = {"errors": errors}
    return response
