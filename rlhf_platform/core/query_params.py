"""Unknown query parameters are refused under ``/api/``.

The OpenAPI schema (drf-spectacular) is the one list of what each operation accepts: its
query parameters come from the views' filter serializers, ``extend_schema(parameters=...)``
and the pagination classes (``cursor``, ``page_size``; see
:class:`rlhf_platform.core.openapi.PlatformAutoSchema`). :class:`UnknownQueryParameterMiddleware`
reads that list once per process, when the application is made, and answers a request that
carries any other parameter with a 400 in the API's error shape, one error per unknown
parameter::

    {"errors": [{"field": "stat", "code": "unknown_field", "message": "Unknown query parameter ..."}]}

so a typo (``?stat=final`` for ``?state=final``) is refused instead of silently ignored, and
what the schema documents is what the server accepts. The check runs before the view (and
before authentication): its answer depends only on the route and the parameter names.
Operations not in the schema (the schema and docs views themselves) are not checked; neither
is ``OPTIONS``. ``HEAD`` is checked as ``GET``.
"""

from __future__ import annotations

import functools
from collections import defaultdict

from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve

from rlhf_platform.core.middleware import HybridMiddleware

API_PREFIX = "/api/"


@functools.cache
def documented_query_parameters() -> dict[tuple[type, str], frozenset[str]]:
    """``{(view class, METHOD): {query parameter names}}`` for every operation of the schema."""
    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator()
    schema = generator.get_schema(request=None, public=True)
    found: dict[tuple[type, str], set[str]] = defaultdict(set)
    for path, _regex, method, callback in generator.endpoints:
        operation = schema["paths"].get(path, {}).get(method.lower())
        if operation is None:
            continue
        names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        found[(callback.cls, method.upper())] |= names
    return {key: frozenset(names) for key, names in found.items()}


def unknown_query_parameters(view_class: type, method: str, names) -> list[str] | None:
    """The names the operation does not document, sorted; ``None`` when it is not in the schema."""
    allowed = documented_query_parameters().get((view_class, method))
    if allowed is None:
        return None
    return sorted(name for name in set(names) if name not in allowed)


def unknown_parameter_response(unknown: list[str], allowed: frozenset[str]) -> JsonResponse:
    accepted = ", ".join(sorted(allowed)) if allowed else "none"
    return JsonResponse(
        {
            "errors": [
                {
                    "field": name,
                    "code": "unknown_field",
                    "message": f"Unknown query parameter '{name}'; this operation accepts: {accepted}.",
                }
                for name in unknown
            ]
        },
        status=400,
    )


class UnknownQueryParameterMiddleware(HybridMiddleware):
    """Before the view: resolves the route only for an ``/api/`` request with a query string.

    The parameter list is built when the middleware is made, that is when the application is
    (``get_asgi_application``, ``get_wsgi_application``, before a server takes connections):
    building it imports every view and generates the schema, about 2 s, which the first
    ``/api/`` request with a query string would otherwise wait for (under ASGI, with the event
    loop blocked for every other request)."""

    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        documented_query_parameters()

    def sync_call(self, request: HttpRequest):
        return refusal(request) or self.get_response(request)

    async def async_call(self, request: HttpRequest):
        return refusal(request) or await self.get_response(request)


def refusal(request: HttpRequest) -> JsonResponse | None:
    """The 400 for a request with an undocumented query parameter; ``None`` otherwise."""
    if not request.path.startswith(API_PREFIX) or not request.GET or request.method == "OPTIONS":
        return None
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return None  # answered by the API's JSON 404
    view_class = getattr(match.func, "cls", None)
    if view_class is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    unknown = unknown_query_parameters(view_class, method, request.GET.keys())
    if not unknown:
        return None
    return unknown_parameter_response(unknown, documented_query_parameters()[(view_class, method)])
