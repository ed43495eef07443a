"""The client against a live server: projects, streamed uploads from a generator, a file and a
DataFrame, waiting on progress, items, cancel, exports into ``datasets``."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from annotate.models import Batch, Item, ItemConsensus
from tests.client.conftest import records

pytestmark = pytest.mark.django_db(transaction=True)


def _finalize(project_id, *, choice: str = "A") -> int:
    """What labelling ends in, written directly (the labelling itself is not the client's):
    each item final with a consensus."""
    items = list(Item.objects.filter(project_id=project_id).only("pk"))
    now = timezone.now()
    ItemConsensus.objects.bulk_create(
        [
            ItemConsensus(
                item=item, method="majority", choice=choice, confidence=0.9, agreement=1.0, label_count=3
            )
            for item in items
        ],
        batch_size=2000,
    )
    return Item.objects.filter(project_id=project_id).update(state=Item.State.FINAL, finalized_at=now)


def test_ten_thousand_items_upload_wait_and_export_into_datasets(client, project):
    seen: list[str] = []
    batch = client.upload(project.id, records(10_000))
    assert batch.status == "queued"  # larger than the inline limit: a worker ingests it (202)
    assert batch.bytes_total > 1 << 20 and batch.idempotency_key.startswith("sha256-")

    done = batch.wait(timeout=120, on_progress=lambda state: seen.append(state.status))
    assert done.status == "ingested" and seen[-1] == "ingested"
    assert done.items_created == 10_000 and done.lines_total == 10_000
    assert done.bytes_processed == done.bytes_total and done.fraction_done == 1.0
    assert Item.objects.filter(project_id=project.id).count() == 10_000

    # The same body again is the same upload (the key is made from it): no second batch.
    again = client.upload(project.id, records(10_000))
    assert again.replayed and again.id == batch.id
    assert Batch.objects.filter(project_id=project.id).count() == 1

    item = client.item(project.id, "item-04321")
    assert item.state == "open" and item.metadata == {"n": 4321} and item.batch == batch.id

    assert _finalize(project.id) == 10_000
    dataset = client.to_datasets(project.id, "dpo")
    assert dataset.num_rows == 10_000
    assert set(dataset.column_names) == {"prompt", "chosen", "rejected"}
    assert {name: feature.dtype for name, feature in dataset.features.items()} == {
        "prompt": "string",
        "chosen": "string",
        "rejected": "string",
    }
    rows = {row["chosen"]: row for row in dataset}
    assert rows["Answer A to 4321."] == {
        "prompt": "Question 4321: which answer is right? ✓ 问题",
        "chosen": "Answer A to 4321.",
        "rejected": "Answer B to 4321.",
    }


def test_export_rows_stream_as_json_lines_with_the_filters_sent(client, project):
    client.upload(project.id, records(30)).wait(timeout=60)
    _finalize(project.id, choice="B")
    rows = list(client.export(project.id, "dpo", include="metadata", form="conversational"))
    assert len(rows) == 30
    first = min(rows, key=lambda row: row["external_id"])
    assert first["external_id"] == "item-00000"
    assert first["chosen"] == [{"role": "assistant", "content": "Answer B to 0."}]
    assert first["prompt"] == [{"role": "user", "content": "Question 0: which answer is right? ✓ 问题"}]
    consensus = client.to_datasets(project.id, "consensus", file_format="jsonl")
    assert consensus.num_rows == 30 and set(consensus["state"]) == {"final"}


def test_upload_from_a_file_and_a_dataframe(client, project, tmp_path):
    pandas = pytest.importorskip("pandas")
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records(5)), encoding="utf-8")
    from_file = client.upload(project.id, path)
    assert from_file.status == "ingested" and from_file.items_created == 5  # small: ingested inline (201)

    frame = pandas.DataFrame(list(records(4, start=100)))
    frame.loc[0, "metadata"] = None  # a missing cell leaves the key out
    from_frame = client.upload(project.id, frame)
    assert from_frame.wait().items_created == 4
    assert client.item(project.id, "item-00100").metadata == {}
    assert client.item(project.id, "item-00101").metadata == {"n": 101}

    array = tmp_path / "items.json"
    array.write_text(json.dumps(list(records(2, start=200))), encoding="utf-8")
    assert client.upload(project.id, array).items_created == 2


def test_items_by_state_and_batch_and_lookup_of_an_external_id_with_a_slash(client, project):
    first = client.upload(project.id, records(3, prefix="a/b é")).wait()
    client.upload(project.id, records(2, prefix="c")).wait()
    listed = list(client.items(project.id, batch=first.id, page_size=2))  # two pages and one
    assert [item.external_id for item in listed] == ["a/b é-00000", "a/b é-00001", "a/b é-00002"]
    assert client.item(project.id, "a/b é-00001").id == listed[1].id
    assert len(list(client.items(project.id, state="open"))) == 5
    assert [i.external_id for i in client.items(project.id, external_id="c-00001")] == ["c-00001"]


def test_cancel_a_batch_and_repeat(client, project):
    batch = client.upload(project.id, records(4)).wait()
    result = batch.cancel()
    assert (result.batch, result.items_cancelled, result.items_kept, result.newly_cancelled) == (
        batch.id,
        4,
        0,
        4,
    )
    assert client.cancel_batch(batch.id).newly_cancelled == 0
    assert batch.refresh().cancelled_at is not None
    assert {item.state for item in client.items(project.id)} == {"cancelled"}


def test_projects_list_get_update_and_the_lab(client, project, lab_key):
    assert client.lab().id == str(lab_key[0].pk)
    assert [p.id for p in client.projects()] == [project.id]
    assert client.project(project.id).name == "Triage"
    updated = client.update_project(project.id, export_form="conversational")
    assert updated.export_form == "conversational"
    assert [p.id for p in client.projects(status=project.status)] == [project.id]
    assert list(client.projects(status="archived")) == []


def test_a_dry_run_writes_nothing_and_batches_are_listed(client, project):
    report = client.dry_run(project.id, records(7))
    assert report.valid and report.items == 7 and report.lines == 7
    assert not Item.objects.exists() and not Batch.objects.exists()
    batch = client.upload(project.id, records(7)).wait()
    assert [b.id for b in client.batches(project.id)] == [batch.id]
    progress = client.upload_progress(project.id, batch.idempotency_key)
    assert progress.state == "ingested" and progress.batch == batch.id
    assert client.progress(project.id)
