"""The asynchronous client: drives the same operations (``_ops.py``) over ``httpx.AsyncClient``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, cast

import httpx

from rlhf_client import _ops
from rlhf_client._bodies import ItemSource, upload_body
from rlhf_client._core import Call, Core, Op, Sleep
from rlhf_client._export import ExportFilters, export_suffix, load_dataset, scratch_file
from rlhf_client._sync import DEFAULT_TIMEOUT, as_batch
from rlhf_client.models import BatchState, CancelResult, DryRunReport, Item, Lab, Project, UploadProgress

if TYPE_CHECKING:
    import datasets  # type: ignore[import-not-found, unused-ignore]

T = TypeVar("T")


@dataclass(frozen=True)
class AsyncBatch(BatchState):
    """A batch, with what can be done to it (awaitable)."""

    client: AsyncClient | None = field(default=None, repr=False, compare=False)

    def _client(self) -> AsyncClient:
        assert self.client is not None
        return self.client

    async def refresh(self) -> AsyncBatch:
        return await self._client().batch(self.id)

    async def wait(
        self,
        *,
        timeout: float | None = None,
        poll: float = 0.2,
        max_poll: float = 5.0,
        on_progress: Callable[[BatchState], None] | None = None,
    ) -> AsyncBatch:
        return await self._client().wait_batch(
            self.id, timeout=timeout, poll=poll, max_poll=max_poll, on_progress=on_progress
        )

    async def cancel(self) -> CancelResult:
        return await self._client().cancel_batch(self.id)


class AsyncClient:
    """:class:`rlhf_client.Client` for asyncio: the same methods, awaited (``export`` is an
    async iterator)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._core = Core(api_key=api_key, base_url=base_url, max_retries=max_retries)
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._http.headers.update(self._core.headers)

    # -- driving ---------------------------------------------------------------------------

    async def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            request = self._core.request(call, self._http)
            try:
                response = await self._http.send(request, stream=call.stream)
            except httpx.TransportError:
                wait = self._core.retry_wait(call, attempt, None)
                if wait is None:
                    raise
            else:
                wait = self._core.retry_wait(call, attempt, response)
                if wait is None:
                    if response.status_code >= 400:
                        await response.aread()
                        await response.aclose()
                        self._core.check(response)
                    return response
                await response.aclose()
            await asyncio.sleep(wait)
            attempt += 1

    async def _run(self, op: Op[T]) -> T:
        try:
            step = next(op)
            while True:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    step = op.send(None)
                else:
                    step = op.send(self._core.reply(await self._send(step)))
        except StopIteration as done:
            return cast(T, done.value)

    async def _list(
        self, endpoint: str, path: Mapping[str, str], query: Mapping[str, Any], parse: Callable[[Any], T]
    ) -> AsyncIterator[T]:
        cursor: str | None = None
        while True:
            page = await self._run(_ops.page(endpoint, path, query, cursor, parse))
            for row in page.results:
                yield row
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    @asynccontextmanager
    async def _stream(self, call: Call) -> AsyncIterator[httpx.Response]:
        response = await self._send(call)
        try:
            yield response
        finally:
            await response.aclose()

    # -- the lab and its projects ------------------------------------------------------------

    async def lab(self) -> Lab:
        return await self._run(_ops.lab())

    def projects(
        self, *, status: str | None = None, domain: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[Project]:
        query = {"status": status, "domain": domain, "page_size": page_size}
        return self._list("projects.list", {}, query, Project.from_dict)

    async def project(self, project_id: str) -> Project:
        return await self._run(_ops.get("projects.get", {"project_id": str(project_id)}, Project.from_dict))

    async def create_project(self, *, name: str, domain: str, **fields: Any) -> Project:
        return await self._run(_ops.project_create({"name": name, "domain": domain, **fields}))

    async def update_project(self, project_id: str, **fields: Any) -> Project:
        return await self._run(_ops.project_update(str(project_id), fields))

    async def progress(self, project_id: str) -> dict[str, Any]:
        return await self._run(_ops.get("projects.progress", {"project_id": str(project_id)}, dict))

    # -- batches ------------------------------------------------------------------------------

    async def upload(
        self,
        project_id: str,
        items: ItemSource,
        *,
        on_duplicate: str = "error",
        priority: int = 0,
        idempotency_key: str | None = None,
    ) -> AsyncBatch:
        """See :meth:`rlhf_client.Client.upload`. The body is prepared (spooled and hashed)
        before the request, in this thread."""
        with upload_body(items) as body:
            op = _ops.upload(
                str(project_id),
                body,
                on_duplicate=on_duplicate,
                priority=priority,
                idempotency_key=idempotency_key,
                dry_run=False,
            )
            state = await self._run(op)
        assert isinstance(state, BatchState)
        return as_batch(state, AsyncBatch, self)

    async def dry_run(
        self, project_id: str, items: ItemSource, *, on_duplicate: str = "error"
    ) -> DryRunReport:
        with upload_body(items) as body:
            op = _ops.upload(
                str(project_id),
                body,
                on_duplicate=on_duplicate,
                priority=0,
                idempotency_key=None,
                dry_run=True,
            )
            report = await self._run(op)
        assert isinstance(report, DryRunReport)
        return report

    async def batch(self, batch_id: str) -> AsyncBatch:
        state = await self._run(_ops.get("batches.get", {"batch_id": str(batch_id)}, BatchState.from_dict))
        return as_batch(state, AsyncBatch, self)

    async def batches(self, project_id: str, *, status: str | None = None) -> AsyncIterator[AsyncBatch]:
        path = {"project_id": str(project_id)}
        async for state in self._list("batches.list", path, {"status": status}, BatchState.from_dict):
            yield as_batch(state, AsyncBatch, self)

    async def wait_batch(
        self,
        batch_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.2,
        max_poll: float = 5.0,
        on_progress: Callable[[BatchState], None] | None = None,
    ) -> AsyncBatch:
        op = _ops.batch_wait(
            str(batch_id), timeout=timeout, poll=poll, max_poll=max_poll, on_progress=on_progress
        )
        return as_batch(await self._run(op), AsyncBatch, self)

    async def cancel_batch(self, batch_id: str) -> CancelResult:
        return await self._run(_ops.batch_cancel(str(batch_id)))

    async def upload_progress(self, project_id: str, idempotency_key: str) -> UploadProgress:
        path = {"project_id": str(project_id), "idempotency_key": idempotency_key}
        return await self._run(_ops.get("uploads.get", path, UploadProgress.from_dict))

    # -- items --------------------------------------------------------------------------------

    def items(
        self,
        project_id: str,
        *,
        state: str | None = None,
        batch: str | None = None,
        external_id: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Item]:
        query = {"state": state, "batch": batch, "external_id": external_id, "page_size": page_size}
        return self._list("items.list", {"project_id": str(project_id)}, query, Item.from_dict)

    async def item(self, project_id: str, external_id: str) -> Item:
        path = {"project_id": str(project_id), "external_id": external_id}
        return await self._run(_ops.get("items.get", path, Item.from_dict))

    # -- exports ------------------------------------------------------------------------------

    async def export(
        self, project_id: str, format: str = "dpo", **filters: Unpack[ExportFilters]
    ) -> AsyncIterator[dict[str, Any]]:
        call = _ops.export_call(str(project_id), format, "jsonl", filters)
        async with self._stream(call) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)

    async def download_export(
        self,
        project_id: str,
        path: str | Path,
        format: str = "dpo",
        file_format: str = "jsonl",
        **filters: Unpack[ExportFilters],
    ) -> Path:
        call = _ops.export_call(str(project_id), format, export_suffix(file_format), filters)
        target = Path(path)
        async with self._stream(call) as response:
            with target.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
        return target

    async def to_datasets(
        self,
        project_id: str,
        format: str = "dpo",
        file_format: str = "parquet",
        **filters: Unpack[ExportFilters],
    ) -> datasets.Dataset:
        with scratch_file(file_format) as path:
            await self.download_export(project_id, path, format, file_format, **filters)
            return await asyncio.to_thread(load_dataset, path, file_format)

    # -- lifetime -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
