"""AsyncClient against the live server: the same operations, awaited."""

from __future__ import annotations

import asyncio

import pytest
from rlhf_client import AsyncClient, NotFound, UploadRejected

from tests.client.conftest import records
from tests.client.test_client_live import _finalize

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_async_upload_waited_on_listed_exported_and_cancelled(live_url, lab_key, domain):
    async def flow(client: AsyncClient) -> dict:
        project = await client.create_project(name="Async", domain=domain.path, overlap=1)
        batch = await client.upload(project.id, records(300))
        progress: list[str] = []
        done = await batch.wait(timeout=60, on_progress=lambda state: progress.append(state.status))
        listed = [item.external_id async for item in client.items(project.id, page_size=120)]
        found = await client.item(project.id, "item-00299")
        with pytest.raises(NotFound):
            await client.item(project.id, "item-00300")
        bad = [*records(1, start=400), {"external_id": "x", "prompt": "?", "responses": []}]
        with pytest.raises(UploadRejected) as rejected:
            await client.upload(project.id, bad)
        projects = [p.id async for p in client.projects()]
        batches = [b.id async for b in client.batches(project.id)]
        return {
            "project": project,
            "done": done,
            "progress": progress,
            "listed": listed,
            "found": found,
            "rejected": rejected.value,
            "projects": projects,
            "batches": batches,
        }

    async def run() -> dict:
        async with AsyncClient(api_key=lab_key[2], base_url=live_url) as client:
            return await flow(client)

    result = asyncio.run(run())
    project, done = result["project"], result["done"]
    assert done.status == "ingested" and done.items_created == 300 and result["progress"][-1] == "ingested"
    assert result["listed"] == [f"item-{n:05d}" for n in range(300)]
    assert result["found"].metadata == {"n": 299}
    assert (result["rejected"].line, result["rejected"].field) == (2, "responses")
    assert result["projects"] == [project.id]
    assert len(result["batches"]) == 2  # the failed one is kept with its errors

    _finalize(project.id)

    async def export() -> tuple[list[dict], int, int]:
        async with AsyncClient(api_key=lab_key[2], base_url=live_url) as client:
            rows = [row async for row in client.export(project.id, "reward")]
            dataset = await client.to_datasets(project.id, "dpo", file_format="jsonl")
            cancelled = await (await client.batch(done.id)).cancel()
            return rows, dataset.num_rows, cancelled.items_kept

    rows, dataset_rows, kept = asyncio.run(export())
    assert len(rows) == 300 and set(rows[0]) == {"chosen", "rejected", "margin"}
    assert dataset_rows == 300
    assert kept == 300  # final items are kept: they are labelled
