"""Typed errors from the server's JSON error bodies.

Every error the API answers has one shape::

    {"errors": [{"field": "responses", "code": "too_short", "message": "...", "line": 2}], ...}

``field`` is ``None`` for an error about the whole request; ``line`` is present on the line
errors of an upload. :func:`error_from_response` picks the class by status (and, for an
upload refused for its lines, :class:`UploadRejected`).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorDetail:
    """One error of a response: what (``code``, ``message``), where (``field``, ``line``)."""

    code: str
    message: str
    field: str | None = None
    line: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorDetail:
        line = data.get("line")
        return cls(
            code=str(data.get("code") or "error"),
            message=str(data.get("message") or ""),
            field=data.get("field"),
            line=int(line) if isinstance(line, int) else None,
        )

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field {self.field}")
        prefix = f"{', '.join(where)}: " if where else ""
        return f"{prefix}{self.code}: {self.message}"


class RlhfError(Exception):
    """The base of every error this client raises."""


class ApiError(RlhfError):
    """The server answered with an error status. ``errors`` holds every error of its body; the
    first one's ``code``, ``field`` and ``line`` are on the exception itself."""

    def __init__(
        self,
        status: int,
        errors: list[ErrorDetail],
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        error_count: int | None = None,
    ) -> None:
        self.status = status
        self.errors = errors or [ErrorDetail(code="http_error", message=f"HTTP {status}")]
        self.body = body
        self.headers = dict(headers or {})
        self.error_count = error_count if error_count is not None else len(self.errors)
        first = self.errors[0]
        self.code, self.field, self.line, self.message = first.code, first.field, first.line, first.message
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = self.error_count - min(len(self.errors), 5)
        super().__init__(f"HTTP {status}: {shown}" + (f" (and {more} more)" if more > 0 else ""))


class BadRequest(ApiError):
    """400: a bad field, query parameter or line."""


class UploadRejected(BadRequest):
    """400 on an upload: the body had invalid lines; nothing was stored. ``batch`` is the failed
    batch as the server answered it; ``errors`` the line errors (the first 1,000)."""

    @property
    def batch(self) -> Mapping[str, Any]:
        return self.body.get("batch", {}) if isinstance(self.body, Mapping) else {}


class AuthenticationError(ApiError):
    """401: no API key, or one that is unknown or revoked."""


class PermissionDenied(ApiError):
    """403: the key lacks the scope (``read`` or ``write``) the operation needs."""


class NotFound(ApiError):
    """404: no such object of this lab."""


class Conflict(ApiError):
    """409: the object's state does not allow it (e.g. a batch still ingesting)."""


class PayloadTooLarge(ApiError):
    """413: the body (or a Parquet export) is larger than the server's limit."""


class UnsupportedMediaType(ApiError):
    """415: neither JSON nor JSON Lines."""


class IdempotencyKeyReused(ApiError):
    """422: the Idempotency-Key was used before for another body."""


class RateLimited(ApiError):
    """429, once the client's retries are spent. ``retry_after`` is in seconds."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers)


class ServerError(ApiError):
    """5xx."""


class BatchFailed(RlhfError):
    """The batch being waited on failed (its ``errors`` name each bad line and field)."""

    def __init__(self, batch: Any) -> None:
        self.batch = batch
        self.errors: list[ErrorDetail] = list(batch.errors)
        shown = "; ".join(str(e) for e in self.errors[:5]) or "no error detail"
        super().__init__(f"batch {batch.id} failed: {shown}")


class WaitTimeout(RlhfError, TimeoutError):
    """The batch did not finish within the time given to ``wait``."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: IdempotencyKeyReused,
    429: RateLimited,
}


def error_from_response(status: int, body: Any, headers: Mapping[str, str]) -> ApiError:
    """The typed error for an error answer (``body`` the decoded JSON, or text)."""
    raw = body.get("errors") if isinstance(body, Mapping) else None
    errors = (
        [ErrorDetail.from_dict(e) for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []
    )
    if not errors and isinstance(body, str) and body.strip():
        errors = [ErrorDetail(code="http_error", message=body.strip()[:500])]
    count = body.get("error_count") if isinstance(body, Mapping) else None
    if status == 400 and isinstance(body, Mapping) and "batch" in body:
        batch = body["batch"]
        count = batch.get("error_count") if isinstance(batch, Mapping) else count
        return UploadRejected(status, errors, body=body, headers=headers, error_count=count)
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return cls(
        status, errors, body=body, headers=headers, error_count=count if isinstance(count, int) else None
    )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date), else ``RateLimit-Reset``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    reset = lowered.get("ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset))
        except ValueError:
            return None
    return None
