"""Django's error views, answering in the API's error shape under ``/api/``.

DRF renders the errors its views raise; these cover what happens outside a DRF view: a path
that matches no route (a project id that is no UUID included), an exception that escaped a
view (500), a request Django refused before any view (400, 403). Pages keep Django's HTML.
Wired in ``rlhf_platform/urls.py`` as ``handler400`` ... ``handler500``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"errors": [{"field": None, "code": code, "message": message}]}, status=status)


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
    if _is_api(request):
        # Nothing of the exception goes out; it is logged by Django's request logger.
        return _api_error(500, "server_error", "The server failed to answer; the error was logged.")
    return defaults.server_error(request)
