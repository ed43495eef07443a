"""Django's error views, answering in the API's error shape under ``/api/``.

DRF renders the errors its views raise; these cover what happens outside a DRF view: a path
that matches no route (a project id that is no UUID included), an exception that escaped a
view (500), a request Django refused before any view (400, 403). Pages keep Django's HTML.
A full database pool anywhere outside a DRF view is a 503 with ``Retry-After``.
Wired in ``rlhf_platform/urls.py`` as ``handler400`` ... ``handler500``.
"""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from rlhf_platform.core.overload import OVERLOADED_MESSAGE, pool_exhausted, retry_after

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"errors": [{"field": None, "code": code, "message": message}]}, status=status)


def _unavailable(request: HttpRequest) -> HttpResponse:
    """503 when no database connection came free in time (:mod:`rlhf_platform.core.overload`)."""
    if _is_api(request):
        response = _api_error(503, "service_unavailable", OVERLOADED_MESSAGE)
    else:
        response = HttpResponse(OVERLOADED_MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = retry_after()
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _api_error(400, "bad_request", "The request is malformed.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _api_error(403, "permission_denied", "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _api_error(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Called while Django handles the exception, so it is still the one being handled.
    if pool_exhausted(sys.exc_info()[1]):
        return _unavailable(request)
    if _is_api(request):
        # Nothing of the exception goes out; it is logged by Django's request logger.
        return _api_error(500, "server_error", "The server failed to answer; the error was logged.")
    return defaults.server_error(request)
