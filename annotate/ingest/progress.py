"""An upload's progress, kept in the cache: a batch is written in one transaction that others
cannot see until it commits, so the bytes received (while the body streams in, under the
upload's Idempotency-Key) and the lines and bytes read by the ingest (every ``PROGRESS_EVERY``
lines) live in the cache meanwhile."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache

from annotate.models import Batch, Project


def _progress_key(batch_id: Any) -> str:
    return f"batch-progress:{batch_id}"


def _heartbeat_key(batch_id: Any) -> str:
    return f"batch-heartbeat:{batch_id}"


def _bytes_key(batch_id: Any) -> str:
    return f"batch-bytes:{batch_id}"


def batch_progressed_at(*, batch: Batch) -> datetime | None:
    """When an ingesting batch last showed progress: its start, or its last progress write
    (every ``PROGRESS_EVERY`` lines, in the cache)."""
    beat = cache.get(_heartbeat_key(batch.pk))
    beat_at = datetime.fromtimestamp(beat, tz=UTC) if beat is not None else None
    return max(filter(None, (batch.started_at, beat_at)), default=None)


def batch_bytes_processed(*, batch: Batch) -> int:
    """Bytes of the body read so far by the ingest (in the cache while it runs, at most
    ``PROGRESS_EVERY`` lines behind); all of them once the batch is ingested or failed, none
    while it waits for a worker."""
    if batch.status == Batch.Status.INGESTING:
        return min(batch.size_bytes, cache.get(_bytes_key(batch.pk), 0))
    if batch.status == Batch.Status.QUEUED:
        return 0
    return batch.size_bytes


def batch_lines_processed(*, batch: Batch) -> int:
    """Lines read so far. While a batch is ingesting its count lives in the cache (the
    writing transaction is not visible to readers until it commits)."""
    if batch.status == Batch.Status.INGESTING:
        return max(batch.lines_processed, cache.get(_progress_key(batch.pk), 0))
    return batch.lines_processed


def _receipt_key(project_id: Any, idempotency_key: str) -> str:
    return f"batch-receiving:{project_id}:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"


class _Receipt:
    """The bytes of an upload received so far, in the cache, under its Idempotency-Key."""

    def __init__(self, project: Project, idempotency_key: str, batch: Batch, expected: int | None) -> None:
        self.key = _receipt_key(project.pk, idempotency_key) if idempotency_key else None
        self.batch_id = str(batch.pk)
        self.expected = expected
        self.update(0)

    def update(self, received: int) -> None:
        if self.key is not None:
            value = {"batch": self.batch_id, "bytes_received": received, "bytes_total": self.expected}
            cache.set(self.key, value, 3600)

    def close(self) -> None:
        if self.key is not None:
            cache.delete(self.key)


def batch_receipt_progress(*, project: Project, idempotency_key: str) -> dict[str, Any] | None:
    """An upload under way with this Idempotency-Key: ``{batch, bytes_received, bytes_total}``
    (``bytes_total`` the Content-Length, ``None`` when the request had none); else None."""
    return cache.get(_receipt_key(project.pk, idempotency_key))
