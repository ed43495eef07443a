"""The operations, written once for both clients: each yields :class:`Call` and
:class:`Sleep` and returns typed data (see ``_core.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from rlhf_client._bodies import UploadBody
from rlhf_client._core import Call, Op, Sleep
from rlhf_client.errors import BatchFailed, WaitTimeout
from rlhf_client.models import (
    BatchState,
    CancelResult,
    DryRunReport,
    Item,
    Lab,
    Page,
    Project,
    UploadProgress,
)

T = TypeVar("T")

EXPORT_FORMATS = ("raw", "consensus", "dpo", "reward", "ranking")
TRAINING_FORMATS = ("dpo", "reward", "ranking")


def lab() -> Op[Lab]:
    reply = yield Call("lab")
    return Lab.from_dict(reply.data)


def get(endpoint: str, path: Mapping[str, str], parse: Callable[[Any], T]) -> Op[T]:
    reply = yield Call(endpoint, path=path)
    return parse(reply.data)


def page(
    endpoint: str,
    path: Mapping[str, str],
    query: Mapping[str, Any],
    cursor: str | None,
    parse: Callable[[Any], T],
) -> Op[Page[T]]:
    """One page of a cursor-paginated list (``{next, previous, results}``)."""
    reply = yield Call(endpoint, path=path, query={**query, "cursor": cursor})
    data = reply.data
    next_url = data.get("next") if isinstance(data, Mapping) else None
    next_cursor = parse_qs(urlsplit(next_url).query).get("cursor", [None])[0] if next_url else None
    results = data["results"] if isinstance(data, Mapping) else data
    return Page([parse(row) for row in results], next_cursor)


def project_create(fields: Mapping[str, Any]) -> Op[Project]:
    reply = yield Call("projects.create", json=dict(fields))
    return Project.from_dict(reply.data)


def project_update(project_id: str, fields: Mapping[str, Any]) -> Op[Project]:
    reply = yield Call("projects.update", path={"project_id": project_id}, json=dict(fields))
    return Project.from_dict(reply.data)


def upload(
    project_id: str,
    body: UploadBody,
    *,
    on_duplicate: str,
    priority: int,
    idempotency_key: str | None,
    dry_run: bool,
) -> Op[BatchState | DryRunReport]:
    """One POST of the whole body; a retry (429, a dropped connection) resends it with the same
    Idempotency-Key, so the server stores it once."""
    query: dict[str, Any] = {"on_duplicate": on_duplicate, "priority": priority}
    headers: dict[str, str] = {}
    if dry_run:
        query["dry_run"] = True
    else:
        key = idempotency_key or body.idempotency_key(on_duplicate=on_duplicate, priority=priority)
        headers["Idempotency-Key"] = key
    reply = yield Call(
        "batches.upload", path={"project_id": project_id}, query=query, body=body, headers=headers
    )
    if dry_run:
        return DryRunReport.from_dict(reply.data)
    replayed = reply.headers.get("idempotent-replayed", "").lower() == "true"
    return BatchState.from_dict(reply.data, replayed=replayed)


def batch_cancel(batch_id: str) -> Op[CancelResult]:
    reply = yield Call("batches.cancel", path={"batch_id": batch_id})
    return CancelResult.from_dict(reply.data)


def batch_wait(
    batch_id: str,
    *,
    timeout: float | None,
    poll: float,
    max_poll: float,
    on_progress: Callable[[BatchState], None] | None,
) -> Op[BatchState]:
    """Poll the batch until it is ingested (returned) or failed (:class:`BatchFailed`), waiting
    ``poll`` seconds at first and half as long again each time up to ``max_poll``. A 429 on a
    poll is waited out as its ``Retry-After`` says (the shared retry step)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = poll
    while True:
        reply = yield Call("batches.get", path={"batch_id": batch_id})
        state = BatchState.from_dict(reply.data)
        if on_progress is not None:
            on_progress(state)
        if state.status == "ingested":
            return state
        if state.status == "failed":
            raise BatchFailed(state)
        if deadline is not None and time.monotonic() + delay > deadline:
            raise WaitTimeout(f"batch {batch_id} is still {state.status} after {timeout} s")
        yield Sleep(delay)
        delay = min(delay * 1.5, max_poll)


def export_call(project_id: str, export_format: str, file_format: str, filters: Mapping[str, Any]) -> Call:
    """The export request (streamed): ``filters`` are the export's other query parameters."""
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"format is one of {', '.join(EXPORT_FORMATS)}")
    query = {"format": export_format, "file_format": file_format, **filters}
    return Call("export", path={"project_id": project_id}, query=query, stream=True)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "projects": Project.from_dict,
    "batches": BatchState.from_dict,
    "items": Item.from_dict,
    "uploads": UploadProgress.from_dict,
}
