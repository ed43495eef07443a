"""The request/response layer both clients share (no I/O of its own).

An operation is a generator (see ``_ops.py``) that yields :class:`Call` (send this request)
and :class:`Sleep` (wait this long) and returns its result; ``Client`` and ``AsyncClient``
only drive it, each with its own I/O. This module builds each request from the endpoint
table, decides when an answer is retried (429 and 503 after ``Retry-After``, a connection
error on an idempotent request) and turns answers into data or typed errors.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from rlhf_client._bodies import UploadBody
from rlhf_client.endpoints import ENDPOINTS, Endpoint
from rlhf_client.errors import RlhfError, error_from_response, retry_after_seconds

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
BASE_URL_ENV = "RLHF_BASE_URL"
API_KEY_ENV = "RLHF_API_KEY"
RETRIED_STATUSES = (429, 503)
USER_AGENT = "rlhf-client/0.1"


@dataclass(frozen=True)
class Call:
    """One request: an endpoint of the table, its path parameters, query and body."""

    endpoint: str
    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    body: UploadBody | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    stream: bool = False


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    data: Any


# What an operation is sent back: a Reply for a Call, None after a Sleep.
Op = Generator[Call | Sleep, Any, T]


def query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    return str(value)


class Core:
    """Settings and the pure steps of every request."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        max_retries: int = 5,
        max_retry_wait: float = 60.0,
    ) -> None:
        api_key = api_key or os.environ.get(API_KEY_ENV, "")
        if not api_key:
            raise RlhfError(f"No API key: pass api_key= or set {API_KEY_ENV}.")
        self.base_url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait

    def endpoint(self, call: Call) -> Endpoint:
        return ENDPOINTS[call.endpoint]

    def url(self, call: Call) -> str:
        endpoint = self.endpoint(call)
        values = {name: quote(str(value), safe="") for name, value in call.path.items()}
        return self.base_url + endpoint.path.format(**values)

    def params(self, call: Call) -> dict[str, str]:
        endpoint = self.endpoint(call)
        unknown = sorted(set(call.query) - set(endpoint.query))
        if unknown:
            raise RlhfError(f"{call.endpoint} takes no query parameter {unknown[0]!r}.")
        return {name: query_value(value) for name, value in call.query.items() if value is not None}

    def request(self, call: Call, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        endpoint = self.endpoint(call)
        headers = dict(call.headers)
        content: Any = None
        if call.body is not None:
            headers["Content-Type"] = call.body.content_type
            headers["Content-Length"] = str(call.body.size)
            is_async = isinstance(client, httpx.AsyncClient)
            content = call.body.achunks() if is_async else call.body.chunks()
        elif call.json is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(call.json).encode()
        return client.build_request(
            endpoint.method, self.url(call), params=self.params(call), headers=headers, content=content
        )

    def retry_wait(self, call: Call, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before sending ``call`` again, or None to stop (``response`` None:
        the connection failed)."""
        if attempt >= self.max_retries:
            return None
        backoff = min(self.max_retry_wait, 0.5 * 2**attempt) * (0.5 + random.random() / 2)  # noqa: S311
        if response is None:
            return backoff if self.endpoint(call).idempotent or "Idempotency-Key" in call.headers else None
        if response.status_code not in RETRIED_STATUSES:
            return None
        told = retry_after_seconds(response.headers)
        if told is None:
            return backoff if response.status_code == 429 else None
        return min(told, self.max_retry_wait)

    def reply(self, response: httpx.Response) -> Reply:
        """The answer's data, or its typed error (the body must have been read)."""
        data: Any = None
        if response.content:
            content_type = response.headers.get("content-type", "")
            if "json" in content_type and "ndjson" not in content_type:
                data = response.json()
            else:
                data = response.text
        if response.status_code >= 400:
            raise error_from_response(response.status_code, data, response.headers)
        return Reply(response.status_code, response.headers, data)

    def check(self, response: httpx.Response) -> None:
        """For a streamed answer: raise its typed error (its body read by the caller)."""
        if response.status_code >= 400:
            self.reply(response)
