"""The training exports (dpo, reward, ranking): TRL's columns only, one form per file, final
items only by default, metadata on request, margins from strength, and Parquet with the same
rows as JSON Lines."""

from __future__ import annotations

import io
import json
from urllib.parse import urlencode

import pyarrow.parquet as pq
import pytest
from asgiref.sync import async_to_sync
from django.http import StreamingHttpResponse
from django.test import AsyncClient, override_settings

from annotate.exports import prompt_text
from annotate.models import Item
from tests.factories import BatchFactory, ItemConsensusFactory, ItemFactory, ProjectFactory

pytestmark = pytest.mark.django_db

CHAT = [
    {"role": "system", "content": "You are a cardiologist."},
    {"role": "user", "content": "Is this ECG normal?"},
]
FINAL = Item.State.FINAL


def download(client, project, **params) -> tuple[StreamingHttpResponse, bytes]:
    response = client.get(f"/api/v1/projects/{project.pk}/export?{urlencode(params)}")
    assert response.status_code == 200, getattr(response, "content", b"")[:500]
    return response, b"".join(response.streaming_content)


def rows(client, project, **params) -> list[dict]:
    _response, content = download(client, project, **params)
    return [json.loads(line) for line in content.splitlines()]


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab, name="Triage")


@pytest.fixture
def batch(project):
    return BatchFactory(project=project)


def final_item(batch, *, choice="A", strength=None, prompt="Which answer is better?", **consensus):
    item = ItemFactory(batch=batch, prompt=prompt, state=FINAL)
    ItemConsensusFactory(item=item, choice=choice, strength=strength, **consensus)
    return item


# --- dpo --------------------------------------------------------------------------------------


def test_dpo_rows_are_exactly_trls_columns_following_the_consensus(lab_client, project, batch):
    items = {choice: final_item(batch, choice=choice) for choice in ("A", "B", "tie", "both_bad")}
    ItemFactory(batch=batch, state=FINAL)  # no consensus: no pair
    a, b = items["A"], items["B"]
    assert rows(lab_client, project, format="dpo") == [
        {"prompt": a.prompt, "chosen": a.responses[0]["text"], "rejected": a.responses[1]["text"]},
        {"prompt": b.prompt, "chosen": b.responses[1]["text"], "rejected": b.responses[0]["text"]},
    ]


def test_training_formats_take_final_items_only_unless_asked(lab_client, project, batch):
    final = final_item(batch)
    unfinished = {}
    for state in (Item.State.OPEN, Item.State.LABELLED, Item.State.ADJUDICATION):
        unfinished[state] = ItemFactory(batch=batch, state=state)
        ItemConsensusFactory(item=unfinished[state], confidence=0.6)
    for export_format in ("dpo", "reward", "ranking"):
        default = rows(lab_client, project, format=export_format, include="metadata")
        assert [row["external_id"] for row in default] == [final.external_id], export_format
        every = rows(lab_client, project, format=export_format, include="metadata", include_unfinished="true")
        assert {row["external_id"] for row in every} == {
            final.external_id,
            *(item.external_id for item in unfinished.values()),
        }, export_format


def test_min_confidence_has_no_default_for_final_items_and_filters_when_given(lab_client, project, batch):
    for confidence in (0.55, 0.95):
        final_item(batch, confidence=confidence)

    def confidences(**params):
        return sorted(row["confidence"] for row in rows(lab_client, project, include="metadata", **params))

    assert confidences(format="dpo") == [0.55, 0.95]
    assert confidences(format="dpo", min_confidence="0.9") == [0.95]
    assert confidences(format="reward", min_confidence="1") == []


def test_include_metadata_adds_the_ids_and_the_consensus_after_trls_columns(lab_client, project, batch):
    item = final_item(batch, choice="B", confidence=0.9, agreement=0.75)
    [row] = rows(lab_client, project, format="dpo", include="metadata")
    assert list(row) == [
        "prompt",
        "chosen",
        "rejected",
        "external_id",
        "uid",
        "batch",
        "chosen_id",
        "rejected_id",
        "confidence",
        "agreement",
        "method",
    ]
    assert row["external_id"] == item.external_id
    assert (row["uid"], row["batch"]) == (str(item.uid), str(batch.pk))
    assert (row["chosen_id"], row["rejected_id"]) == ("r1", "r0")
    assert (row["confidence"], row["agreement"], row["method"]) == (0.9, 0.75, "majority")


def test_gold_items_only_with_include_gold(lab_client, project, batch):
    gold = ItemFactory(batch=batch, gold_answer=True)
    ItemConsensusFactory(item=gold)
    assert rows(lab_client, project, format="dpo") == []
    with_gold = rows(lab_client, project, format="dpo", include_gold="true", include="metadata")
    assert [row["external_id"] for row in with_gold] == [gold.external_id]


def test_dpo_expands_a_ranking_with_a_tie_into_pairs_across_groups(lab_client, lab):
    project = ProjectFactory(lab=lab, ranking=True)
    item = ItemFactory(batch=BatchFactory(project=project), state=FINAL)
    ItemConsensusFactory(item=item, ranking=[["r2"], ["r0", "r3"], ["r1"]])
    lines = rows(lab_client, project, format="dpo", include="metadata")
    # Every (better, worse) pair across groups; r0 and r3 are tied: no pair between them.
    pairs = [(line["chosen_id"], line["rejected_id"]) for line in lines]
    assert pairs == [("r2", "r0"), ("r2", "r3"), ("r2", "r1"), ("r0", "r1"), ("r3", "r1")]
    text = {r["id"]: r["text"] for r in item.responses}
    for line in lines:
        assert (line["chosen"], line["rejected"]) == (text[line["chosen_id"]], text[line["rejected_id"]])


# --- one form per file ------------------------------------------------------------------------


def test_standard_form_renders_chat_prompts_to_strings(lab_client, project, batch):
    """The lab's file mixed strings and message lists in one column (ArrowInvalid in datasets
    3.6): in the standard form every column is a string."""
    text = final_item(batch, prompt="Plain question?")
    chat = final_item(batch, prompt=CHAT)
    single = final_item(batch, prompt=[{"role": "user", "content": "Only a user turn."}])
    lines = rows(lab_client, project, format="dpo")
    assert [line["prompt"] for line in lines] == [
        "Plain question?",
        "system: You are a cardiologist.\n\nuser: Is this ECG normal?",
        "Only a user turn.",
    ]
    for line, item in zip(lines, (text, chat, single), strict=True):
        assert (line["chosen"], line["rejected"]) == (item.responses[0]["text"], item.responses[1]["text"])


def test_conversational_form_turns_string_prompts_into_one_user_message(lab_client, project, batch):
    text = final_item(batch, prompt="Plain question?")
    chat = final_item(batch, prompt=CHAT)
    lines = rows(lab_client, project, format="dpo", form="conversational")
    assert [line["prompt"] for line in lines] == [[{"role": "user", "content": "Plain question?"}], CHAT]
    for line, item in zip(lines, (text, chat), strict=True):
        assert line["chosen"] == [{"role": "assistant", "content": item.responses[0]["text"]}]
        assert line["rejected"] == [{"role": "assistant", "content": item.responses[1]["text"]}]


def test_the_projects_export_form_is_the_default_and_form_overrides_it(lab_client, lab):
    project = ProjectFactory(lab=lab, export_form="conversational")
    item = final_item(BatchFactory(project=project), prompt="Q?")
    [conversational] = rows(lab_client, project, format="dpo")
    assert conversational["prompt"] == [{"role": "user", "content": "Q?"}]
    [standard] = rows(lab_client, project, format="dpo", form="standard")
    assert standard == {
        "prompt": "Q?",
        "chosen": item.responses[0]["text"],
        "rejected": item.responses[1]["text"],
    }


def test_the_export_form_is_a_project_setting_of_the_api(lab_client, project):
    url = f"/api/v1/projects/{project.pk}"
    assert lab_client.get(url).json()["export_form"] == "standard"
    response = lab_client.patch(url, {"export_form": "conversational"}, format="json")
    assert response.status_code == 200 and response.json()["export_form"] == "conversational"
    response = lab_client.patch(url, {"export_form": "chat"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "export_form"


def test_prompt_text_renders_each_message_with_its_role():
    assert prompt_text("As is.") == "As is."
    assert prompt_text([{"role": "user", "content": "Hi"}]) == "Hi"
    assert prompt_text([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yes?"}]) == (
        "user: Hi\n\nassistant: Yes?"
    )


# --- reward -----------------------------------------------------------------------------------


def test_reward_rows_hold_prompt_and_response_with_a_margin_from_strength(lab_client, project, batch):
    """The default schema has 3 strength levels: strength 3 is margin 1, 1 is 1/3, 2.5 (a
    median between levels) 5/6, none 0."""
    items = [
        final_item(batch, choice="A", strength=3),
        final_item(batch, choice="B", strength=1, prompt=CHAT),
        final_item(batch, choice="A", strength=2.5),
        final_item(batch, choice="A", strength=None),
        final_item(batch, choice="tie", strength=None),
    ]
    lines = rows(lab_client, project, format="reward")
    assert len(lines) == 4
    first, second = items[0], items[1]
    assert lines[0] == {
        "chosen": f"{first.prompt}\n\n{first.responses[0]['text']}",
        "rejected": f"{first.prompt}\n\n{first.responses[1]['text']}",
        "margin": 1.0,
    }
    rendered = "system: You are a cardiologist.\n\nuser: Is this ECG normal?"
    assert lines[1]["chosen"] == f"{rendered}\n\n{second.responses[1]['text']}"
    assert [line["margin"] for line in lines] == pytest.approx([1.0, 1 / 3, 5 / 6, 0.0])


def test_reward_conversational_form_appends_the_response_as_the_assistants_turn(lab_client, project, batch):
    item = final_item(batch, choice="B", prompt=CHAT, strength=2)
    [line] = rows(lab_client, project, format="reward", form="conversational")
    assert line == {
        "chosen": [*CHAT, {"role": "assistant", "content": item.responses[1]["text"]}],
        "rejected": [*CHAT, {"role": "assistant", "content": item.responses[0]["text"]}],
        "margin": pytest.approx(2 / 3),
    }


def test_reward_margin_of_a_ranking_is_the_group_distance(lab_client, lab):
    project = ProjectFactory(lab=lab, ranking=True)
    item = ItemFactory(batch=BatchFactory(project=project), state=FINAL)
    ItemConsensusFactory(item=item, ranking=[["r2"], ["r0", "r3"], ["r1"]])
    lines = rows(lab_client, project, format="reward", include="metadata")
    margins = {(line["chosen_id"], line["rejected_id"]): line["margin"] for line in lines}
    assert margins == {
        ("r2", "r0"): 0.5,
        ("r2", "r3"): 0.5,
        ("r2", "r1"): 1.0,
        ("r0", "r1"): 0.5,
        ("r3", "r1"): 0.5,
    }


# --- ranking ----------------------------------------------------------------------------------


def test_ranking_rows_list_completions_best_first_with_shared_ranks_for_ties(lab_client, lab):
    project = ProjectFactory(lab=lab, ranking=True)
    item = ItemFactory(batch=BatchFactory(project=project), state=FINAL)
    ItemConsensusFactory(item=item, ranking=[["r2"], ["r0", "r3"], ["r1"]])
    text = {r["id"]: r["text"] for r in item.responses}
    assert rows(lab_client, project, format="ranking") == [
        {
            "prompt": item.prompt,
            "completions": [text["r2"], text["r0"], text["r3"], text["r1"]],
            "ranks": [1, 2, 2, 3],
        }
    ]
    [with_ids] = rows(lab_client, project, format="ranking", include="metadata", form="conversational")
    assert with_ids["completion_ids"] == ["r2", "r0", "r3", "r1"]
    assert with_ids["completions"][0] == [{"role": "assistant", "content": text["r2"]}]


def test_ranking_of_pairwise_items_is_a_ranking_of_two(lab_client, project, batch):
    b = final_item(batch, choice="B")
    tie = final_item(batch, choice="tie")
    final_item(batch, choice="both_bad")  # orders nothing: left out
    lines = rows(lab_client, project, format="ranking")
    assert lines == [
        {
            "prompt": b.prompt,
            "completions": [b.responses[1]["text"], b.responses[0]["text"]],
            "ranks": [1, 2],
        },
        {"prompt": tie.prompt, "completions": [r["text"] for r in tie.responses], "ranks": [1, 1]},
    ]


# --- parquet ----------------------------------------------------------------------------------


@pytest.mark.parametrize("export_format", ["dpo", "reward", "ranking"])
@pytest.mark.parametrize("form", ["standard", "conversational"])
def test_parquet_holds_the_same_rows_as_json_lines(lab_client, project, batch, export_format, form):
    final_item(batch, prompt="Plain, with émoji 🙂 and 中文?", strength=2)
    final_item(batch, prompt=CHAT, choice="B", strength=None)
    params = {"format": export_format, "form": form, "include": "metadata"}
    expected = rows(lab_client, project, **params)
    response, content = download(lab_client, project, file_format="parquet", **params)
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(content))
    assert table.column_names == list(expected[0])
    assert table.to_pylist() == expected


def test_an_empty_parquet_export_still_has_its_columns(lab_client, project):
    _response, content = download(lab_client, project, format="reward", file_format="parquet")
    table = pq.read_table(io.BytesIO(content))
    assert table.num_rows == 0
    assert table.column_names == ["chosen", "rejected", "margin"]


def test_a_parquet_export_past_the_limit_is_413_with_a_json_error(lab_client, project, batch):
    for _ in range(3):
        final_item(batch)
    with override_settings(EXPORT_PARQUET_MAX_BYTES=100):
        response = lab_client.get(f"/api/v1/projects/{project.pk}/export?format=dpo&file_format=parquet")
    assert response.status_code == 413
    assert not isinstance(response, StreamingHttpResponse)
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == ("file_format", "export_too_large")


def test_under_asgi_a_parquet_export_streams_from_its_file(lab_key, project, batch):
    _lab, _key, raw = lab_key
    for _ in range(3):
        final_item(batch)

    async def fetch():
        response = await AsyncClient().get(
            f"/api/v1/projects/{project.pk}/export",
            {"format": "dpo", "file_format": "parquet"},
            headers={"Authorization": f"Bearer {raw}"},
        )
        assert response.is_async
        return response, b"".join([piece async for piece in response.streaming_content])

    response, content = async_to_sync(fetch)()
    assert response.status_code == 200
    assert pq.read_table(io.BytesIO(content)).num_rows == 3


def test_parquet_row_groups_are_bounded_by_rows_and_by_text(lab_client, project, batch, monkeypatch):
    from annotate.exports import parquet

    for _ in range(5):
        final_item(batch)
    expected = rows(lab_client, project, format="dpo")
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 2)
    _response, content = download(lab_client, project, format="dpo", file_format="parquet")
    assert pq.ParquetFile(io.BytesIO(content)).metadata.num_row_groups == 3  # 2 + 2 + 1
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 1000)
    monkeypatch.setattr(parquet, "ROW_GROUP_CHARS", 1)  # every row past it: a group each
    _response, content = download(lab_client, project, format="dpo", file_format="parquet")
    assert pq.ParquetFile(io.BytesIO(content)).metadata.num_row_groups == 5
    assert pq.read_table(io.BytesIO(content)).to_pylist() == expected
