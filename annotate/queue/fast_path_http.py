"""The HTTP side of the queue's fast path: what Django's middleware and DRF would do to the two
requests it answers, done here with Django's own code, and the check that nothing else is
configured that it would skip.

Every entry of ``settings.MIDDLEWARE`` and every throttle class of the two API views must be in
:data:`APPLIED_MIDDLEWARE` / :data:`APPLIED_THROTTLES`, which say how the fast path applies it
(or why it has no effect on these requests). Anything else makes :func:`fast_path_check` raise
``ImproperlyConfigured`` when the fast path starts: a new middleware or throttle is either
taught to the fast path (and listed here) or the fast path is turned off (``QUEUE_FAST_PATH``).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve
from rest_framework.settings import api_settings

from rlhf_platform.core.security_headers import ContentSecurityPolicyMiddleware

NEXT_PATH = "/api/v1/queue/next"
SUBMIT_EXAMPLE_PATH = "/api/v1/assignments/00000000-0000-0000-0000-000000000000/submit"

APPLIED_MIDDLEWARE: dict[str, str] = {
    "django.middleware.security.SecurityMiddleware": (
        "a plain-http request when SECURE_SSL_REDIRECT is on goes to Django; its response headers "
        "are added (render)"
    ),
    "rlhf_platform.core.security_headers.ContentSecurityPolicyMiddleware": "its header is added (render)",
    "rlhf_platform.core.middleware.StaticFilesMiddleware": "serves STATIC_URL only, never these paths",
    "rlhf_platform.core.text.QueryTextMiddleware": "a request with a query string goes to Django",
    "django.contrib.sessions.middleware.SessionMiddleware": (
        "the session row (key, expiry) is checked in every statement; a session Django must save "
        "goes to Django"
    ),
    "django.middleware.common.CommonMiddleware": "the two paths are exact: no slash or host rewriting",
    "django.middleware.csrf.CsrfViewMiddleware": "Django's own check (csrf_passes)",
    "django.contrib.auth.middleware.AuthenticationMiddleware": (
        "Django's get_user on a session's first request, then the user's activity and auth hash "
        "in every statement"
    ),
    "rlhf_platform.core.sessions.SessionTimeoutMiddleware": (
        "the session's log-in and last-seen times are kept with it: past the absolute maximum, or "
        "due for its refresh (once a minute), the request goes to Django"
    ),
    "rlhf_platform.core.query_params.UnknownQueryParameterMiddleware": (
        "a request with a query string goes to Django"
    ),
    "django.contrib.messages.middleware.MessageMiddleware": "the two API views neither read nor add messages",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "its header is added (render)",
}

APPLIED_THROTTLES: dict[str, str] = {
    "rlhf_platform.core.lab_api.ApiKeyRateThrottle": "counts API-key requests, which go to Django",
}


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def fast_path_check() -> None:
    """Refuse to serve (``ImproperlyConfigured``) when a middleware or an API throttle is
    configured that the fast path does not apply itself."""
    unknown = [path for path in settings.MIDDLEWARE if path not in APPLIED_MIDDLEWARE]
    throttles = {_dotted(cls) for cls in api_settings.DEFAULT_THROTTLE_CLASSES}
    for path in (NEXT_PATH, SUBMIT_EXAMPLE_PATH):
        try:
            view = resolve(path).func
        except Resolver404:
            continue
        view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
        throttles.update(_dotted(cls) for cls in getattr(view_class, "throttle_classes", ()))
    unknown += sorted(name for name in throttles if name not in APPLIED_THROTTLES)
    if unknown:
        raise ImproperlyConfigured(
            "The queue's fast path (annotate/queue/fast_path.py) would answer next and submit "
            f"without applying {', '.join(unknown)}. Teach it to apply them and list them in "
            "annotate/queue/fast_path_http.py (APPLIED_MIDDLEWARE, APPLIED_THROTTLES), or set "
            "QUEUE_FAST_PATH=false."
        )


def host_allowed(request) -> bool:
    try:
        request.get_host()  # ALLOWED_HOSTS
    except DisallowedHost:
        return False
    return True


def csrf_passes(request) -> bool:
    """The CSRF check DRF's SessionAuthentication makes (Django's own middleware)."""
    check = CsrfViewMiddleware(lambda _request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {}) is None


def _made(request) -> HttpResponse:
    return request.queue_fast_response


# Django's own header middleware, in settings.MIDDLEWARE's order, around the response made here.
_headers = SecurityMiddleware(ContentSecurityPolicyMiddleware(XFrameOptionsMiddleware(_made)))


def render(request, status: int, payload: dict) -> HttpResponse:
    """DRF's JSONRenderer's output (compact, unicode kept) and headers, then the headers
    Django's middleware would add."""
    content = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    response = HttpResponse(content, status=status, content_type="application/json")
    response["Vary"] = "Cookie"
    response["Allow"] = "POST, OPTIONS"
    response["Content-Length"] = str(len(content))
    request.queue_fast_response = response
    return _headers(request)


async def read_body(receive, limit: int) -> tuple[bytes, bool]:
    """The request body, and whether it was read whole (not over ``limit``)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def replay(body: bytes, complete: bool, receive):
    """A ``receive`` that hands Django the body already read, then the rest of the stream."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replayed
