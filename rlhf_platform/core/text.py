"""Text the database can store: no U+0000 and no lone UTF-16 surrogate.

PostgreSQL refuses U+0000 in ``text`` and ``jsonb``; a lone surrogate (``"\\ud800"`` in JSON
decodes to one) cannot be encoded as UTF-8 by either database driver. Both used to reach the
database and come back as a server error. They are refused where input enters instead:

- JSON, form and multipart bodies of the API, by the parsers in :mod:`rlhf_platform.core.parsers`
  (every key and value, however deep, so ``JSONField`` payloads such as a label's rationale are
  covered too);
- query strings of every request, by :class:`QueryTextMiddleware`;
- batch records, by the ingest validator (:mod:`annotate.ingest.validate`).

Django's form fields refuse U+0000 themselves, and Django decodes form and query bytes with
replacement characters, so a lone surrogate can only arrive through JSON.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpResponseBadRequest, JsonResponse

from rlhf_platform.core.middleware import HybridMiddleware

__all__ = ["BadText", "QueryTextMiddleware", "bad_text_in", "text_problem"]

_BAD = re.compile("[\x00\ud800-\udfff]")

MESSAGES = {
    "null_characters_not_allowed": "Text cannot hold the NUL character (U+0000).",
    "surrogate_characters_not_allowed": "Text cannot hold a lone UTF-16 surrogate (U+D800 to U+DFFF).",
}


class BadText(Exception):
    """Text no database column can hold, at ``field`` (dotted path; None for the whole body)."""

    def __init__(self, field: str | None, code: str) -> None:
        super().__init__(MESSAGES[code])
        self.field = field
        self.code = code
        self.message = MESSAGES[code]


def text_problem(value: str) -> str | None:
    """The error code for a string the database cannot hold, or None when it is fine."""
    found = _BAD.search(value)
    if found is None:
        return None
    return "null_characters_not_allowed" if found.group() == "\x00" else "surrogate_characters_not_allowed"


def bad_text_in(value: Any, path: str | None = None) -> BadText | None:
    """The first bad text in a decoded JSON value (dicts, lists, strings), or None.

    The field is the dotted path of the string (``links.0.url``); a key holding bad text names
    the object it is a key of.
    """
    if isinstance(value, str):
        code = text_problem(value)
        return None if code is None else BadText(path, code)
    if isinstance(value, dict):
        for key, child in value.items():
            key = str(key)
            code = text_problem(key)
            if code is not None:
                return BadText(path, code)
            found = bad_text_in(child, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, child in enumerate(value):
            found = bad_text_in(child, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def bad_text_in_querydict(data) -> BadText | None:
    """The first bad text in a ``QueryDict`` (query string or form fields)."""
    for key, values in data.lists():
        code = text_problem(key)
        if code is None:
            code = next((c for c in map(text_problem, values) if c is not None), None)
        if code is not None:
            return BadText(key if text_problem(key) is None else None, code)
    return None


class QueryTextMiddleware(HybridMiddleware):
    """Refuses a query string holding U+0000 with a 400 naming the parameter.

    A filter such as ``?domain=%00`` would otherwise reach PostgreSQL and fail there. Under
    ``/api/`` the answer has the API's error shape. Sync and async capable: the check is pure
    Python, so it adds no thread hop to the async middleware chain.
    """

    def sync_call(self, request):
        refused = self._refusal(request)
        return refused if refused is not None else self.get_response(request)

    async def async_call(self, request):
        refused = self._refusal(request)
        return refused if refused is not None else await self.get_response(request)

    @staticmethod
    def _refusal(request):
        query = request.META.get("QUERY_STRING", "")
        if "%00" not in query and "\x00" not in query:
            return None  # the common case: nothing to decode
        found = bad_text_in_querydict(request.GET)
        if found is None:
            return None
        if request.path.startswith("/api/"):
            body = {"errors": [{"field": found.field, "code": found.code, "message": found.message}]}
            return JsonResponse(body, status=400)
        return HttpResponseBadRequest(found.message)
