"""Exports as JSON Lines: every line of the record formats (raw, consensus) checked against what
is stored; filters, errors, tenancy and streaming for every format. The training formats are in
test_exports_training.py, loading with HF datasets in test_exports_datasets.py."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.http import StreamingHttpResponse
from django.test import AsyncClient
from django.utils import timezone

from annotate.exports import EXPORT_FORMATS, FILE_FORMATS, TRAINING_FORMATS
from annotate.models import Assignment, Item, Label, Slot
from annotate.schema import DEFAULT_SCHEMA, schema_normalize
from tests.factories import (
    BatchFactory,
    CredentialFactory,
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    make_api_key,
)

pytestmark = pytest.mark.django_db

PAIRWISE_SCHEMA = schema_normalize(
    {
        **DEFAULT_SCHEMA,
        "criteria": [{"key": "helpfulness", "label": "Helpfulness", "min": 1, "max": 7}],
    }
)


def export(client, project, **params):
    """The export's response and its lines, each parsed (the last line ends with a newline)."""
    query = urlencode({"format": "raw", **params})
    response = client.get(f"/api/v1/projects/{project.pk}/export?{query}")
    assert response.status_code == 200, getattr(response, "content", b"")[:500]
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/x-ndjson"
    content = b"".join(response.streaming_content)
    assert content == b"" or content.endswith(b"\n")
    return response, content, [json.loads(line) for line in content.splitlines()]


def _label(item, expert, **kwargs):
    return LabelFactory(item=item, expert=expert, **kwargs)


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab, name="Cardio triage", overlap=3, label_schema=PAIRWISE_SCHEMA)


@pytest.fixture
def experts(project):
    """Three experts: one at level 3 in the project's domain, one at level 4 in a domain
    below it, one with no credential."""
    first, second, third = (ExpertProfileFactory() for _ in range(3))
    CredentialFactory(expert=first, domain=project.domain, approved=True, level=3)
    CredentialFactory(expert=second, domain=project.domain, approved=True, level=2)
    return first, second, third


@pytest.fixture
def pairwise_labels(project, experts):
    """Two ordinary items and a gold item, with labels of every kind of content."""
    batch = BatchFactory(project=project)
    first, second, third = experts
    one, two = ItemFactory(batch=batch), ItemFactory(batch=batch)
    gold = ItemFactory(batch=batch, gold_answer=True)
    labels = [
        _label(
            one,
            first,
            choice="A",
            strength=3,
            rationale="Response 0 cites the guideline.",
            criteria={"r0": {"helpfulness": 6}, "r1": {"helpfulness": 2}},
            active_seconds=41.5,
            lease_seconds=55.25,
            assignment__shown_order=[1, 0],
        ),
        _label(one, second, choice="tie", strength=None, excluded_from_consensus=True),
        _label(one, third, choice="B", strength=1, active_seconds=None),
        _label(two, first, choice="both_bad", strength=None, assignment__shown_order=[0, 1]),
        _label(gold, second, choice="A", strength=2),
    ]
    return batch, [one, two, gold], labels


def _expected_raw(label: Label, level: int) -> dict:
    item = label.item
    ids = [response["id"] for response in item.responses]
    levels = item.project.label_schema["strength"]["levels"]
    return {
        "label_id": str(label.pk),
        "external_id": item.external_id,
        "item_uid": str(item.uid),
        "batch": str(item.batch_id),
        "is_gold": item.is_gold,
        "annotator": label.expert.pseudonym,
        "annotator_level": level,
        "choice": label.choice or None,
        "ranking": label.ranking,
        "strength": label.strength,
        "strength_level": levels[label.strength - 1] if label.strength else None,
        "criteria": [
            {"response": rid, "criterion": key, "rating": rating}
            for rid in ids
            for key, rating in label.criteria.get(rid, {}).items()
        ],
        "rationale": label.rationale,
        "active_seconds": label.active_seconds,
        "lease_seconds": label.lease_seconds,
        "shown_order": [ids[i] for i in label.assignment.shown_order],
        "excluded_from_consensus": label.excluded_from_consensus,
        "schema_version": label.schema_version,
    }


def _no_personal_data(content: bytes, experts) -> None:
    text = content.decode()
    for expert in experts:
        assert expert.user.email not in text
        assert str(expert.user.pk) not in text
        assert str(expert.pk) not in text
        assert expert.user.full_name not in text
    assert "@" not in text


# --- raw --------------------------------------------------------------------------------------


def test_raw_export_has_one_line_per_label_matching_the_stored_label(
    lab_client, project, experts, pairwise_labels
):
    _batch, _items, labels = pairwise_labels
    response, content, lines = export(lab_client, project, format="raw")
    assert len(lines) == len(labels) == Label.objects.filter(project=project).count()
    levels = {experts[0].pk: 3, experts[1].pk: 2, experts[2].pk: 0}
    stored = {
        str(label.pk): label
        for label in Label.objects.select_related("item__project", "expert", "assignment")
    }
    for line in lines:
        label = stored.pop(line["label_id"])
        created_at = line.pop("created_at")
        assert dt.datetime.fromisoformat(created_at) == label.created_at
        assert line == _expected_raw(label, levels[label.expert_id])
    assert not stored, "every label has its line"
    _no_personal_data(content, experts)


def test_raw_export_shows_choices_strength_names_and_display_order(lab_client, project, pairwise_labels):
    _response, _content, lines = export(lab_client, project, format="raw")
    first = next(line for line in lines if line["rationale"])
    assert first["choice"] == "A"
    assert first["strength"] == 3
    assert first["strength_level"] == "much better"
    assert first["shown_order"] == ["r1", "r0"]  # response 1 was shown as A
    # One rating a row (a list of the same structs whatever the responses' ids: typed in datasets).
    assert first["criteria"] == [
        {"response": "r0", "criterion": "helpfulness", "rating": 6},
        {"response": "r1", "criterion": "helpfulness", "rating": 2},
    ]
    assert {line["choice"] for line in lines} == {"A", "B", "tie", "both_bad"}
    assert [line["excluded_from_consensus"] for line in lines].count(True) == 1
    assert [line["is_gold"] for line in lines].count(True) == 1


def test_raw_export_of_a_ranking_project_names_responses_by_canonical_id(lab_client, lab):
    project = ProjectFactory(lab=lab, ranking=True)
    item = ItemFactory(batch=BatchFactory(project=project))
    expert = ExpertProfileFactory()
    label = _label(
        item,
        expert,
        ranking=[["r2"], ["r0", "r3"], ["r1"]],
        criteria={"r2": {"accuracy": 5}},
        assignment__shown_order=[2, 0, 3, 1],
    )
    _response, content, lines = export(lab_client, project, format="raw")
    assert len(lines) == 1
    line = lines[0]
    assert line["label_id"] == str(label.pk)
    assert line["choice"] is None
    assert line["strength"] is None and line["strength_level"] is None
    assert line["ranking"] == [["r2"], ["r0", "r3"], ["r1"]]
    assert line["shown_order"] == ["r2", "r0", "r3", "r1"]
    assert line["criteria"] == [{"response": "r2", "criterion": "accuracy", "rating": 5}]
    assert line["annotator"] == expert.pseudonym
    assert line["annotator_level"] == 0
    _no_personal_data(content, [expert])


def test_raw_export_looks_up_each_experts_level_once(
    lab_client, project, experts, django_assert_max_num_queries
):
    batch = BatchFactory(project=project)
    for _ in range(10):
        item = ItemFactory(batch=batch)
        for expert in experts:
            _label(item, expert)
    # The key's look-up and last-used time, the project, the labels, a level per expert.
    with django_assert_max_num_queries(7):
        _response, _content, lines = export(lab_client, project, format="raw")
    assert len(lines) == 30


# --- consensus --------------------------------------------------------------------------------


def test_consensus_fields_are_null_before_consensus_exists(lab_client, project, pairwise_labels):
    _batch, (one, two, _gold), _labels = pairwise_labels
    _response, _content, lines = export(lab_client, project, format="consensus")
    assert [line["external_id"] for line in lines] == [one.external_id, two.external_id]
    for line, item, count in zip(lines, (one, two), (3, 1), strict=True):
        assert line["uid"] == str(item.uid)
        assert line["batch"] == str(item.batch_id)
        assert line["label_count"] == count
        assert line["state"] == "open"
        for field in (
            "consensus",
            "confidence",
            "agreement",
            "method",
            "consensus_label_count",
            "computed_at",
        ):
            assert line[field] is None, field


def test_consensus_export_reports_the_stored_consensus(lab_client, project, pairwise_labels):
    _batch, (one, two, gold), _labels = pairwise_labels
    consensus = ItemConsensusFactory(
        item=one,
        method="dawid_skene",
        choice="A",
        strength=2.4,
        confidence=0.93,
        agreement=0.61,
        label_count=2,
    )
    _response, _content, lines = export(lab_client, project, format="consensus")
    by_id = {line["external_id"]: line for line in lines}
    assert set(by_id) == {one.external_id, two.external_id}
    line = by_id[one.external_id]
    assert line["consensus"] == {"choice": "A", "strength": 2.4, "ranking": None}
    assert line["confidence"] == 0.93
    assert line["agreement"] == 0.61
    assert line["method"] == "dawid_skene"
    assert line["label_count"] == 3  # every stored label, the excluded one too
    assert line["consensus_label_count"] == 2
    assert dt.datetime.fromisoformat(line["computed_at"]) == consensus.computed_at
    assert by_id[two.external_id]["consensus"] is None

    _response, _content, with_gold = export(lab_client, project, format="consensus", include_gold="true")
    assert {line["external_id"] for line in with_gold} == {one.external_id, two.external_id, gold.external_id}
    assert next(line for line in with_gold if line["is_gold"])["label_count"] == 1


def test_consensus_export_with_min_confidence_leaves_out_items_without_consensus(lab_client, project):
    batch = BatchFactory(project=project)
    low, high, _none = (ItemFactory(batch=batch) for _ in range(3))
    ItemConsensusFactory(item=low, confidence=0.4)
    ItemConsensusFactory(item=high, confidence=0.8)
    _response, _content, lines = export(lab_client, project, format="consensus", min_confidence="0.5")
    assert [line["external_id"] for line in lines] == [high.external_id]
    _response, _content, lines = export(lab_client, project, format="consensus")
    assert len(lines) == 3


# --- filters ----------------------------------------------------------------------------------


def test_since_filters_labels_by_creation_and_items_by_consensus_or_finalization(
    lab_client, project, experts
):
    batch = BatchFactory(project=project)
    now = timezone.now()
    old_item, new_item, finalized_item = (ItemFactory(batch=batch) for _ in range(3))
    old = _label(old_item, experts[0], created_at=now - dt.timedelta(days=2))
    new = _label(new_item, experts[0], created_at=now - dt.timedelta(hours=1))
    ItemConsensusFactory(item=old_item, computed_at=now - dt.timedelta(days=2))
    ItemConsensusFactory(item=new_item, computed_at=now - dt.timedelta(hours=1))
    ItemConsensusFactory(item=finalized_item, computed_at=now - dt.timedelta(days=3))
    Item.objects.filter(pk=finalized_item.pk).update(finalized_at=now - dt.timedelta(minutes=5))
    Item.objects.filter(batch=batch).update(state=Item.State.FINAL)  # training formats: final items
    since = (now - dt.timedelta(days=1)).isoformat()

    _r, _c, raw = export(lab_client, project, format="raw", since=since)
    assert [line["label_id"] for line in raw] == [str(new.pk)]
    assert str(old.pk) not in _c.decode()
    for export_format in ("consensus", "dpo", "reward", "ranking"):
        params = {"include": "metadata"} if export_format != "consensus" else {}
        _r, _c, lines = export(lab_client, project, format=export_format, since=since, **params)
        assert sorted(line["external_id"] for line in lines) == sorted(
            [new_item.external_id, finalized_item.external_id]
        ), export_format
    # A label created exactly at ``since`` is in ("at or after").
    _r, _c, at = export(lab_client, project, format="raw", since=new.created_at.isoformat())
    assert [line["label_id"] for line in at] == [str(new.pk)]


def test_since_with_an_unencoded_plus_in_its_offset_is_understood(lab_client, project, experts):
    item = ItemFactory(batch=BatchFactory(project=project))
    _label(item, experts[0])
    since = (timezone.now() - dt.timedelta(hours=1)).replace(microsecond=0).isoformat()  # ...+00:00
    response = lab_client.get(f"/api/v1/projects/{project.pk}/export?format=raw&since={since}")
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content).splitlines()) == 1


def test_batch_filter_keeps_one_batch_in_every_format(lab_client, project, experts):
    first, second = BatchFactory(project=project), BatchFactory(project=project)
    mine, theirs = ItemFactory(batch=first, state="final"), ItemFactory(batch=second, state="final")
    for item in (mine, theirs):
        _label(item, experts[0])
        ItemConsensusFactory(item=item)
    for export_format in EXPORT_FORMATS:
        params = {"include": "metadata"} if export_format in TRAINING_FORMATS else {}
        _r, content, lines = export(lab_client, project, format=export_format, batch=str(first.pk), **params)
        assert len(lines) == 1, export_format
        assert lines[0]["external_id"] == mine.external_id
        assert lines[0]["batch"] == str(first.pk)
        assert theirs.external_id.encode() not in content


def test_a_batch_of_another_project_or_lab_is_not_found(lab_client, lab, project):
    other_project = BatchFactory(project=ProjectFactory(lab=lab))
    other_lab = BatchFactory()
    for batch_id in (other_project.pk, other_lab.pk, uuid.uuid4()):
        response = lab_client.get(f"/api/v1/projects/{project.pk}/export?format=raw&batch={batch_id}")
        assert response.status_code == 404
        assert response.json()["errors"] == [
            {"field": "batch", "code": "not_found", "message": "Batch not found."}
        ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "format"),
        ("format=xml", "format"),
        ("format=raw&since=yesterday", "since"),
        ("format=dpo&min_confidence=1.5", "min_confidence"),
        ("format=dpo&min_confidence=-0.1", "min_confidence"),
        ("format=dpo&min_confidence=nan", "min_confidence"),
        ("format=dpo&min_confidence=high", "min_confidence"),
        ("format=raw&batch=42", "batch"),
        ("format=consensus&include_gold=maybe", "include_gold"),
        ("format=raw&limit=10", "limit"),
        ("format=dpo&dry_run=1", "dry_run"),
        ("format=dpo&file_format=csv", "file_format"),
        ("format=dpo&form=chat", "form"),
        ("format=dpo&include=everything", "include"),
        ("format=dpo&include=", "include"),
        ("format=reward&include_unfinished=maybe", "include_unfinished"),
        ("format=raw&form=standard", "form"),
        ("format=consensus&include=metadata", "include"),
        ("format=raw&include_unfinished=true", "include_unfinished"),
    ],
)
def test_bad_filter_values_are_400_naming_the_field(lab_client, project, query, field):
    response = lab_client.get(f"/api/v1/projects/{project.pk}/export?{query}")
    assert response.status_code == 400
    assert not isinstance(response, StreamingHttpResponse)
    assert field in [error["field"] for error in response.json()["errors"]]


def test_unknown_parameters_are_refused_naming_each_one(lab_client, project):
    """A lab that writes ``dry_run=1`` or ``min_conf=0.9`` is told, not given the whole export."""
    response = lab_client.get(f"/api/v1/projects/{project.pk}/export?format=dpo&min_conf=0.9&dry_run=1")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        ("dry_run", "unknown_field"),
        ("min_conf", "unknown_field"),
    ]
    assert "'dry_run'" in errors[0]["message"] and "min_confidence" in errors[0]["message"]


def test_training_parameters_on_a_record_format_are_refused_as_not_applicable(lab_client, project):
    response = lab_client.get(
        f"/api/v1/projects/{project.pk}/export?format=raw&form=standard&include=metadata"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(error["field"], error["code"]) for error in errors] == [
        ("form", "not_applicable"),
        ("include", "not_applicable"),
    ]


# --- tenancy, headers, streaming --------------------------------------------------------------


def test_another_labs_key_gets_404_for_export(api_client, project, pairwise_labels):
    _key, raw = make_api_key(ProjectFactory().lab)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for export_format, file_format in itertools.product(EXPORT_FORMATS, FILE_FORMATS):
        response = api_client.get(
            f"/api/v1/projects/{project.pk}/export?format={export_format}&file_format={file_format}"
        )
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "not_found"


def test_export_is_an_attachment_named_for_project_and_format(lab_client, project):
    response, content, lines = export(lab_client, project, format="consensus")
    assert lines == [] and content == b""
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="cardio-triage-consensus-')
    assert disposition.endswith('.jsonl"')
    response = lab_client.get(f"/api/v1/projects/{project.pk}/export?format=dpo&file_format=parquet")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="cardio-triage-dpo-')
    assert disposition.endswith('.parquet"')


def _bulk_labels(project, items_count: int, experts) -> int:
    """``items_count`` items, each labelled by every expert, written in bulk."""
    batch = BatchFactory(project=project)
    responses = [{"id": "r0", "model": "m", "text": "yes"}, {"id": "r1", "model": "m", "text": "no"}]
    items = Item.objects.bulk_create(
        Item(project=project, batch=batch, external_id=f"bulk-{i}", prompt="Q?", responses=responses)
        for i in range(items_count)
    )
    items = list(Item.objects.filter(batch=batch).order_by("id"))
    slots = Slot.objects.bulk_create(
        Slot(item=item, project=project, idx=idx, state=Slot.State.FILLED)
        for item in items
        for idx in range(len(experts))
    )
    slots = list(Slot.objects.filter(item__batch=batch).order_by("item_id", "idx"))
    now = timezone.now()
    assignments = [
        Assignment(
            project=project,
            item=item,
            expert=expert,
            slot=slots[i * len(experts) + j],
            shown_order=[1, 0],
            status=Assignment.Status.SUBMITTED,
            expires_at=now,
            submitted_at=now,
        )
        for i, item in enumerate(items)
        for j, expert in enumerate(experts)
    ]
    Assignment.objects.bulk_create(assignments, batch_size=1000)
    Label.objects.bulk_create(
        (
            Label(
                assignment=assignment,
                project=project,
                item_id=assignment.item_id,
                expert=assignment.expert,
                client_id=f"bulk-{assignment.pk}",
                choice="B",
                strength=1,
                lease_seconds=12.0,
                schema_version=1,
                created_at=now,
            )
            for assignment in assignments
        ),
        batch_size=1000,
    )
    return len(assignments)


def test_a_few_thousand_labels_stream_in_pieces(lab_client, project, experts):
    total = _bulk_labels(project, 1200, experts)
    assert total == 3600
    query = urlencode({"format": "raw"})
    response = lab_client.get(f"/api/v1/projects/{project.pk}/export?{query}")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    pieces = list(response.streaming_content)
    assert len(pieces) > 1, "written in pieces, not as one body"
    lines = [json.loads(line) for piece in pieces for line in piece.splitlines()]
    assert all(piece.endswith(b"\n") for piece in pieces), "every piece ends with a whole line"
    assert len(lines) == total
    assert {line["label_id"] for line in lines} == {
        str(pk) for pk in Label.objects.values_list("pk", flat=True)
    }
    assert {line["annotator"] for line in lines} == {expert.pseudonym for expert in experts}
    assert all(line["shown_order"] == ["r1", "r0"] for line in lines)
    assert [line["external_id"] for line in lines].count("bulk-0") == 3


def test_under_asgi_the_export_streams_asynchronously(lab_key, project, experts):
    """Django's ASGI handler would turn a synchronous iterator into a list: the view hands it
    an asynchronous one."""
    _lab, _key, raw = lab_key
    total = _bulk_labels(project, 400, experts)

    async def fetch():
        response = await AsyncClient().get(
            f"/api/v1/projects/{project.pk}/export",
            {"format": "raw"},
            headers={"Authorization": f"Bearer {raw}"},
        )
        assert response.is_async
        return response, [piece async for piece in response.streaming_content]

    response, pieces = async_to_sync(fetch)()
    assert response.status_code == 200
    assert len(pieces) > 1
    lines = [json.loads(line) for piece in pieces for line in piece.splitlines()]
    assert len(lines) == total
