"""The first thing every HTTP request meets: limits on its body, before anything reads it.

Django's ASGI handler reads the whole body (spooled to a temporary file) before any middleware
or view runs, so a size check in a view comes after the disk has been filled, and a JSON
parser that a deep body crashes has already been reached. This ASGI middleware stands in
front of everything (the queue's fast path included) and:

- refuses a ``Content-Length`` over the path's limit at once, without reading (413);
- counts a streamed (chunked) body as it arrives and stops it at the limit (413);
- scans every body that is not a form for JSON nesting deeper than ``JSON_MAX_DEPTH`` as it
  streams (400), so that no parser ever sees one;
- gives the body a deadline: ``REQUEST_BODY_TIMEOUT_SECONDS`` plus the time the body takes at
  ``REQUEST_BODY_MIN_RATE`` bytes per second, and refuses a client that dribbles (408);
- puts back the recursion limit if an import raised it (see :mod:`rlhf_platform.core.runtime`).

Limits are by path: the batch upload (the API's and the lab console's) takes
``BATCH_MAX_BYTES``, credential evidence ``EVIDENCE_MAX_BYTES`` (plus the form around the file),
everything else
``REQUEST_MAX_BYTES``. When a body is refused part way, the application behind is told that
the client went away (``http.disconnect``: Django then answers nothing) and the refusal is
sent from here. Slow headers are the server's to time out (:mod:`rlhf_platform.serve`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from django.conf import settings

from rlhf_platform.core.json_depth import JsonDepthScanner
from rlhf_platform.core.runtime import cap_recursion_limit

__all__ = ["RequestGuard", "body_limit"]

FORM_TYPES = (b"multipart/form-data", b"application/x-www-form-urlencoded")


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


BATCH_UPLOAD = re.compile(r"^(/api/v1/projects/[^/]+/batches|/labs/[^/]+/projects/[^/]+/upload)/?$")
EVIDENCE_UPLOAD = re.compile(r"^(/api/v1/me/credentials|/credentials/new)/?$")
FORM_SLACK = 1 << 20  # the multipart form's other fields and boundaries, around an evidence file


def body_limit(path: str) -> int:
    """The largest body accepted on ``path``, in bytes."""
    if BATCH_UPLOAD.match(path):
        return settings.BATCH_MAX_BYTES
    if EVIDENCE_UPLOAD.match(path):
        return settings.EVIDENCE_MAX_BYTES + FORM_SLACK
    return settings.REQUEST_MAX_BYTES


class RequestGuard:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cap_recursion_limit()
        limit = body_limit(scope["path"])
        headers = dict(scope.get("headers") or [])
        try:
            declared = _declared_length(headers.get(b"content-length"))
        except _Refused as refused:
            return await _refuse(scope, send, refused)
        if declared is not None and declared > limit:
            return await _refuse(scope, send, _too_large(limit))
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        body = _GuardedBody(receive, limit=limit, scan=content_type not in FORM_TYPES, declared=declared)
        started = False

        async def guarded_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, body.receive, guarded_send)
        if body.refused is not None and not started:
            await _refuse(scope, send, body.refused)


class _GuardedBody:
    """The application's ``receive``: the body's chunks, counted, scanned and timed."""

    def __init__(self, receive, *, limit: int, scan: bool, declared: int | None) -> None:
        self._receive = receive
        self._limit = limit
        self._scanner = JsonDepthScanner(settings.JSON_MAX_DEPTH) if scan else None
        self._started = time.monotonic()
        self._received = 0
        self._complete = False
        self.refused: _Refused | None = None

    async def receive(self):
        if self.refused is not None:
            return {"type": "http.disconnect"}
        if self._complete:
            return await self._receive()  # after the body: Django listens for the disconnect
        try:
            message = await self._next_message()
            if message["type"] == "http.request":
                self._check(message.get("body", b""))
                self._complete = not message.get("more_body", False)
            return message
        except _Refused as refused:
            self.refused = refused
            return {"type": "http.disconnect"}

    async def _next_message(self):
        allowed = settings.REQUEST_BODY_TIMEOUT_SECONDS + self._received / settings.REQUEST_BODY_MIN_RATE
        remaining = self._started + allowed - time.monotonic()
        if remaining <= 0:
            raise _Refused(408, "request_timeout", "The request body arrived too slowly.")
        try:
            return await asyncio.wait_for(self._receive(), timeout=remaining)
        except TimeoutError:
            raise _Refused(408, "request_timeout", "The request body arrived too slowly.")

    def _check(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self._limit:
            raise _too_large(self._limit)
        if self._scanner is not None and not self._scanner.feed(chunk):
            raise _Refused(
                400,
                "json_too_deep",
                f"The JSON body nests deeper than {settings.JSON_MAX_DEPTH} levels.",
            )


def _declared_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit():
        raise _Refused(400, "invalid_content_length", "The Content-Length header is not a number.")
    return int(value)


def _too_large(limit: int) -> _Refused:
    return _Refused(413, "request_too_large", f"The request body is larger than {limit:,} bytes.")


async def _refuse(scope, send, refused: _Refused) -> None:
    if scope["path"].startswith("/api/"):
        content_type = b"application/json"
        body = json.dumps({"errors": [{"field": None, "code": refused.code, "message": refused.message}]})
    else:
        content_type = b"text/plain; charset=utf-8"
        body = refused.message
    payload = body.encode()
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(payload)).encode()),
        # The rest of the body is not read: the connection cannot carry another request.
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
