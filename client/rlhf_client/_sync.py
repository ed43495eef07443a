"""The synchronous client: drives the shared operations (``_ops.py``) over ``httpx.Client``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, cast

import httpx

from rlhf_client import _ops
from rlhf_client._bodies import ItemSource, upload_body
from rlhf_client._core import Call, Core, Op, Sleep
from rlhf_client._export import ExportFilters, export_suffix, load_dataset, scratch_file
from rlhf_client.models import BatchState, CancelResult, DryRunReport, Item, Lab, Project, UploadProgress

if TYPE_CHECKING:
    import datasets  # type: ignore[import-not-found, unused-ignore]

T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)


@dataclass(frozen=True)
class Batch(BatchState):
    """A batch, with what can be done to it."""

    client: Client | None = field(default=None, repr=False, compare=False)

    def _client(self) -> Client:
        assert self.client is not None
        return self.client

    def refresh(self) -> Batch:
        return self._client().batch(self.id)

    def wait(
        self,
        *,
        timeout: float | None = None,
        poll: float = 0.2,
        max_poll: float = 5.0,
        on_progress: Callable[[BatchState], None] | None = None,
    ) -> Batch:
        """Until the batch is ingested (returns it) or failed (raises ``BatchFailed``)."""
        return self._client().wait_batch(
            self.id, timeout=timeout, poll=poll, max_poll=max_poll, on_progress=on_progress
        )

    def cancel(self) -> CancelResult:
        return self._client().cancel_batch(self.id)


B = TypeVar("B", bound=BatchState)


def as_batch(state: BatchState, cls: Callable[..., B], client: Any) -> B:
    return cls(**{f.name: getattr(state, f.name) for f in fields(BatchState)}, client=client)


class Client:
    """The lab API with a lab's API key (``api_key`` or ``$RLHF_API_KEY``) on ``base_url``
    (or ``$RLHF_BASE_URL``). 429 and 503 answers are retried after their ``Retry-After``."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._core = Core(api_key=api_key, base_url=base_url, max_retries=max_retries)
        self._http = http_client or httpx.Client(timeout=timeout)
        self._http.headers.update(self._core.headers)

    # -- driving ---------------------------------------------------------------------------

    def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            request = self._core.request(call, self._http)
            try:
                response = self._http.send(request, stream=call.stream)
            except httpx.TransportError:
                wait = self._core.retry_wait(call, attempt, None)
                if wait is None:
                    raise
            else:
                wait = self._core.retry_wait(call, attempt, response)
                if wait is None:
                    if response.status_code >= 400:
                        response.read()
                        response.close()
                        self._core.check(response)
                    return response
                response.close()
            time.sleep(wait)
            attempt += 1

    def _run(self, op: Op[T]) -> T:
        try:
            step = next(op)
            while True:
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                    step = op.send(None)
                else:
                    step = op.send(self._core.reply(self._send(step)))
        except StopIteration as done:
            return cast(T, done.value)

    def _list(
        self, endpoint: str, path: Mapping[str, str], query: Mapping[str, Any], parse: Callable[[Any], T]
    ) -> Iterator[T]:
        cursor: str | None = None
        while True:
            page = self._run(_ops.page(endpoint, path, query, cursor, parse))
            yield from page.results
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    @contextmanager
    def _stream(self, call: Call) -> Iterator[httpx.Response]:
        response = self._send(call)
        try:
            yield response
        finally:
            response.close()

    # -- the lab and its projects ------------------------------------------------------------

    def lab(self) -> Lab:
        return self._run(_ops.lab())

    def projects(
        self, *, status: str | None = None, domain: str | None = None, page_size: int | None = None
    ) -> Iterator[Project]:
        query = {"status": status, "domain": domain, "page_size": page_size}
        return self._list("projects.list", {}, query, Project.from_dict)

    def project(self, project_id: str) -> Project:
        return self._run(_ops.get("projects.get", {"project_id": str(project_id)}, Project.from_dict))

    def create_project(self, *, name: str, domain: str, **fields: Any) -> Project:
        return self._run(_ops.project_create({"name": name, "domain": domain, **fields}))

    def update_project(self, project_id: str, **fields: Any) -> Project:
        return self._run(_ops.project_update(str(project_id), fields))

    def progress(self, project_id: str) -> dict[str, Any]:
        return self._run(_ops.get("projects.progress", {"project_id": str(project_id)}, dict))

    # -- batches ------------------------------------------------------------------------------

    def upload(
        self,
        project_id: str,
        items: ItemSource,
        *,
        on_duplicate: str = "error",
        priority: int = 0,
        idempotency_key: str | None = None,
    ) -> Batch:
        """Stream ``items`` (a path, a generator of dicts or a DataFrame) as one batch. The
        Idempotency-Key is made from the body unless given. Raises ``UploadRejected`` naming
        each bad line and field; ``batch.wait()`` follows a batch a worker ingests."""
        with upload_body(items) as body:
            op = _ops.upload(
                str(project_id),
                body,
                on_duplicate=on_duplicate,
                priority=priority,
                idempotency_key=idempotency_key,
                dry_run=False,
            )
            state = self._run(op)
        assert isinstance(state, BatchState)
        return as_batch(state, Batch, self)

    def dry_run(self, project_id: str, items: ItemSource, *, on_duplicate: str = "error") -> DryRunReport:
        """Validate ``items`` as an upload would, writing nothing."""
        with upload_body(items) as body:
            op = _ops.upload(
                str(project_id),
                body,
                on_duplicate=on_duplicate,
                priority=0,
                idempotency_key=None,
                dry_run=True,
            )
            report = self._run(op)
        assert isinstance(report, DryRunReport)
        return report

    def batch(self, batch_id: str) -> Batch:
        state = self._run(_ops.get("batches.get", {"batch_id": str(batch_id)}, BatchState.from_dict))
        return as_batch(state, Batch, self)

    def batches(self, project_id: str, *, status: str | None = None) -> Iterator[Batch]:
        for state in self._list(
            "batches.list", {"project_id": str(project_id)}, {"status": status}, BatchState.from_dict
        ):
            yield as_batch(state, Batch, self)

    def wait_batch(
        self,
        batch_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.2,
        max_poll: float = 5.0,
        on_progress: Callable[[BatchState], None] | None = None,
    ) -> Batch:
        op = _ops.batch_wait(
            str(batch_id), timeout=timeout, poll=poll, max_poll=max_poll, on_progress=on_progress
        )
        return as_batch(self._run(op), Batch, self)

    def cancel_batch(self, batch_id: str) -> CancelResult:
        return self._run(_ops.batch_cancel(str(batch_id)))

    def upload_progress(self, project_id: str, idempotency_key: str) -> UploadProgress:
        path = {"project_id": str(project_id), "idempotency_key": idempotency_key}
        return self._run(_ops.get("uploads.get", path, UploadProgress.from_dict))

    # -- items --------------------------------------------------------------------------------

    def items(
        self,
        project_id: str,
        *,
        state: str | None = None,
        batch: str | None = None,
        external_id: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Item]:
        query = {"state": state, "batch": batch, "external_id": external_id, "page_size": page_size}
        return self._list("items.list", {"project_id": str(project_id)}, query, Item.from_dict)

    def item(self, project_id: str, external_id: str) -> Item:
        path = {"project_id": str(project_id), "external_id": external_id}
        return self._run(_ops.get("items.get", path, Item.from_dict))

    # -- exports ------------------------------------------------------------------------------

    def export(
        self, project_id: str, format: str = "dpo", **filters: Unpack[ExportFilters]
    ) -> Iterator[dict[str, Any]]:
        """The export's rows as dicts, streamed from its JSON Lines."""
        call = _ops.export_call(str(project_id), format, "jsonl", filters)
        with self._stream(call) as response:
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def download_export(
        self,
        project_id: str,
        path: str | Path,
        format: str = "dpo",
        file_format: str = "jsonl",
        **filters: Unpack[ExportFilters],
    ) -> Path:
        """Write the export to ``path`` as it streams; returns the path."""
        call = _ops.export_call(str(project_id), format, export_suffix(file_format), filters)
        target = Path(path)
        with self._stream(call) as response, target.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
        return target

    def to_datasets(
        self,
        project_id: str,
        format: str = "dpo",
        file_format: str = "parquet",
        **filters: Unpack[ExportFilters],
    ) -> datasets.Dataset:
        """The export as a Hugging Face ``datasets.Dataset`` (typed columns from Parquet)."""
        with scratch_file(file_format) as path:
            self.download_export(project_id, path, format, file_format, **filters)
            return load_dataset(path, file_format)

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
