"""Every class of error in an uploaded batch comes back as ``{line, field, code, message}``, and
what passes is stored exactly as it was sent."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from annotate.models import Batch, BatchChunk, Item, Slot
from annotate.schema import schema_normalize
from rlhf_platform.core.json_depth import json_depth_exceeds
from tests.factories import BatchFactory, ItemFactory, ProjectFactory, item_payload, ndjson_body

pytestmark = pytest.mark.django_db

NDJSON = "application/x-ndjson"


def _upload(client: APIClient, project, body: bytes, *, content_type: str = NDJSON, query: str = ""):
    url = f"/api/v1/projects/{project.pk}/batches" + (f"?{query}" if query else "")
    return client.post(url, data=body, content_type=content_type)


def _line_errors(response) -> list[tuple[int, str | None, str]]:
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert all(set(e) == {"line", "field", "code", "message"} and e["message"] for e in errors), errors
    return [(e["line"], e["field"], e["code"]) for e in errors]


def _assert_nothing_written(project) -> None:
    assert not Item.objects.filter(project=project).exists()
    assert not Slot.objects.filter(project=project).exists()
    assert not BatchChunk.objects.exists()


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab, overlap=3)


@pytest.fixture
def ranking_project(lab):
    return ProjectFactory(lab=lab, ranking=True)


def _good(n: int) -> list[dict]:
    return [item_payload(f"ok-{i}") for i in range(n)]


# --- one record -------------------------------------------------------------------------------


def test_malformed_json_line_is_a_parse_error(lab_client, project):
    body = ndjson_body([item_payload("a"), b'{"external_id": "b", "prompt": ', item_payload("c")])

    response = _upload(lab_client, project, body)

    assert _line_errors(response) == [(2, None, "parse_error")]
    _assert_nothing_written(project)
    batch = Batch.objects.get()
    assert (batch.status, batch.error_count, batch.lines_total) == ("failed", 1, 3)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"external_id": 17}, "external_id"),
        ({"prompt": 3.5}, "prompt"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"responses": "r0,r1"}, "responses"),
        (
            {"responses": [{"id": "r0", "text": 5}, {"id": "r1", "text": "fine"}]},
            "responses.0.text",
        ),
        (
            {"responses": [{"id": "r0", "text": "fine"}, {"id": "r1", "text": "fine", "model": None}]},
            "responses.1.model",
        ),
        ({"prompt": [{"role": "user", "content": ["x"]}]}, "prompt.0.content"),
    ],
)
def test_wrong_type_names_the_dotted_field(lab_client, project, changes, field):
    body = ndjson_body([item_payload("a"), {**item_payload("b"), **changes}])

    response = _upload(lab_client, project, body)

    assert _line_errors(response) == [(2, field, "invalid_type")]
    _assert_nothing_written(project)


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"prompt": "p", "responses": [{"id": "r0", "text": "x"}, {"id": "r1", "text": "y"}]}, "external_id"),
        ({"external_id": "a", "responses": [{"id": "r0", "text": "x"}, {"id": "r1", "text": "y"}]}, "prompt"),
        ({"external_id": "a", "prompt": "p"}, "responses"),
        (
            {"external_id": "a", "prompt": "p", "responses": [{"id": "r0", "text": "x"}, {"id": "r1"}]},
            "responses.1.text",
        ),
        (
            {
                "external_id": "a",
                "prompt": [{"content": "hi"}],
                "responses": [{"id": "r0", "text": "x"}, {"id": "r1", "text": "y"}],
            },
            "prompt.0.role",
        ),
    ],
)
def test_missing_required_field_is_named(lab_client, project, record, field):
    response = _upload(lab_client, project, ndjson_body([record]))

    assert _line_errors(response) == [(1, field, "required")]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "blue"}, "colour"),
        (
            {"responses": [{"id": "r0", "text": "x", "score": 1}, {"id": "r1", "text": "y"}]},
            "responses.0.score",
        ),
        ({"prompt": [{"role": "user", "content": "hi", "name": "bob"}]}, "prompt.0.name"),
    ],
)
def test_unknown_field_is_named(lab_client, project, changes, field):
    response = _upload(lab_client, project, ndjson_body([item_payload("a", **changes)]))

    assert _line_errors(response) == [(1, field, "unknown_field")]


def test_one_response_is_too_short(lab_client, project):
    response = _upload(lab_client, project, ndjson_body([item_payload("a", responses=1)]))

    assert _line_errors(response) == [(1, "responses", "too_short")]


def test_nine_responses_are_too_long(lab_client, ranking_project):
    response = _upload(lab_client, ranking_project, ndjson_body([item_payload("a", responses=9)]))

    assert _line_errors(response) == [(1, "responses", "too_long")]


def test_three_responses_in_a_pairwise_project_are_the_wrong_count(lab_client, project):
    response = _upload(lab_client, project, ndjson_body([item_payload("a", responses=3)]))

    assert _line_errors(response) == [(1, "responses", "wrong_count")]


def test_two_responses_in_a_ranking_project_are_the_wrong_count(lab_client, ranking_project):
    body = ndjson_body([item_payload("a", responses=4), item_payload("b", responses=2)])

    response = _upload(lab_client, ranking_project, body)

    assert _line_errors(response) == [(2, "responses", "wrong_count")]


def test_duplicate_response_ids_are_refused(lab_client, project):
    responses = [{"id": "same", "text": "x"}, {"id": "same", "text": "y"}]

    response = _upload(lab_client, project, ndjson_body([item_payload("a", responses=responses)]))

    assert _line_errors(response) == [(1, "responses", "duplicate_id")]


def test_unknown_chat_role_is_refused(lab_client, project):
    prompt = [{"role": "user", "content": "hi"}, {"role": "wizard", "content": "abracadabra"}]

    response = _upload(lab_client, project, ndjson_body([item_payload("a", prompt=prompt)]))

    assert _line_errors(response) == [(1, "prompt.1.role", "invalid_choice")]


@pytest.mark.parametrize("prompt", ["", []])
def test_empty_prompt_is_too_short(lab_client, project, prompt):
    response = _upload(lab_client, project, ndjson_body([item_payload("a", prompt=prompt)]))

    assert _line_errors(response) == [(1, "prompt", "too_short")]


@pytest.mark.parametrize("external_id", ["tab\there", "new\nline", "nul\x00", "bell\x07", "del\x7f"])
def test_external_id_with_control_characters_is_refused(lab_client, project, external_id):
    response = _upload(lab_client, project, ndjson_body([item_payload(external_id)]))

    assert _line_errors(response) == [(1, "external_id", "invalid")]


def test_empty_or_overlong_external_id_is_refused(lab_client, project):
    body = ndjson_body([item_payload(""), item_payload("x" * 201), item_payload("x" * 200)])

    response = _upload(lab_client, project, body)

    assert _line_errors(response) == [(1, "external_id", "too_short"), (2, "external_id", "too_long")]


def test_a_line_reports_all_its_own_problems(lab_client, project):
    record = item_payload(
        "bad\tid",
        prompt=[{"role": "robot", "content": "hi"}],
        responses=[{"id": "r", "text": "1"}, {"id": "r", "text": "2"}, {"id": "s", "text": "3"}],
    )

    response = _upload(lab_client, project, ndjson_body([record]))

    assert sorted(_line_errors(response)) == [
        (1, "external_id", "invalid"),
        (1, "prompt.0.role", "invalid_choice"),
        (1, "responses", "duplicate_id"),
        (1, "responses", "wrong_count"),
    ]


# --- duplicates -------------------------------------------------------------------------------


def test_duplicate_external_id_inside_the_batch_is_refused_on_its_second_line(lab_client, project):
    body = ndjson_body([item_payload("a"), item_payload("b"), item_payload("a")])

    response = _upload(lab_client, project, body)

    assert _line_errors(response) == [(3, "external_id", "duplicate")]
    _assert_nothing_written(project)


def test_duplicate_inside_the_batch_is_skipped_with_on_duplicate_skip(lab_client, project):
    body = ndjson_body([item_payload("a"), item_payload("b"), item_payload("a", prompt="second copy")])

    response = _upload(lab_client, project, body, query="on_duplicate=skip")

    assert response.status_code == 201, response.json()
    assert (response.json()["items_created"], response.json()["items_skipped"]) == (2, 1)
    assert Item.objects.get(project=project, external_id="a").prompt == "Question a?"


def test_item_already_in_the_project_is_a_duplicate(lab_client, project):
    ItemFactory(batch=BatchFactory(project=project), external_id="old-2")
    body = ndjson_body([item_payload("new-1"), item_payload("old-2"), item_payload("new-3")])

    response = _upload(lab_client, project, body)

    assert _line_errors(response) == [(2, "external_id", "duplicate")]
    assert set(Item.objects.filter(project=project).values_list("external_id", flat=True)) == {"old-2"}
    batch = Batch.objects.get(project=project, status="failed")
    assert batch.error_count == 1
    assert not Slot.objects.filter(item__batch=batch).exists()


def test_item_already_in_the_project_is_skipped_and_counted_with_on_duplicate_skip(lab_client, project):
    old = ItemFactory(batch=BatchFactory(project=project), external_id="old-2", prompt="original")
    body = ndjson_body([item_payload("new-1"), item_payload("old-2"), item_payload("new-3")])

    response = _upload(lab_client, project, body, query="on_duplicate=skip")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["items_created"], body["items_skipped"]) == ("ingested", 2, 1)
    old.refresh_from_db()
    assert (old.prompt, old.batch_id) == ("original", old.batch_id)
    assert Item.objects.filter(batch_id=body["id"]).count() == 2
    assert Slot.objects.filter(item__batch_id=body["id"]).count() == 2 * 3


@pytest.mark.parametrize("on_duplicate", ["error", "skip"])
def test_existing_external_id_with_backslashes_and_unicode_is_recognised(lab_client, project, on_duplicate):
    # Rows are staged in COPY text format, where a backslash is an escape: the look-up of
    # existing ids must compare the original text.
    tricky = 'dir\\sub\\N "quoted" é 🫀'
    assert _upload(lab_client, project, ndjson_body([item_payload(tricky)])).status_code == 201

    response = _upload(
        lab_client,
        project,
        ndjson_body([item_payload("fresh"), item_payload(tricky)]),
        query=f"on_duplicate={on_duplicate}",
    )

    if on_duplicate == "error":
        assert _line_errors(response) == [(2, "external_id", "duplicate")]
    else:
        assert response.status_code == 201, response.json()
        assert (response.json()["items_created"], response.json()["items_skipped"]) == (1, 1)
    assert Item.objects.filter(project=project, external_id=tricky).count() == 1


def test_same_external_id_in_another_project_is_not_a_duplicate(lab_client, lab, project):
    ItemFactory(batch=BatchFactory(project=ProjectFactory(lab=lab)), external_id="shared")

    response = _upload(lab_client, project, ndjson_body([item_payload("shared")]))

    assert response.status_code == 201, response.json()


def test_unknown_on_duplicate_mode_is_refused(lab_client, project):
    response = _upload(lab_client, project, ndjson_body([item_payload("a")]), query="on_duplicate=overwrite")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "on_duplicate"
    assert not Batch.objects.exists()


# --- gold answers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "field"),
    [
        ({"choice": "C"}, "gold.choice"),
        ({"choice": "both_bad"}, "gold.choice"),  # not among this project's choices
        ({}, "gold.choice"),
        ({"choice": "A", "strength_min": 4}, "gold.strength_min"),
        ({"choice": "A", "strength_min": 0}, "gold.strength_min"),
        ({"choice": "A", "strength_max": 2.5}, "gold.strength_max"),
        ({"choice": "A", "strength_min": True}, "gold.strength_min"),
        ({"choice": "A", "strength_min": 3, "strength_max": 2}, "gold.strength_max"),
        ({"choice": "A", "explanation": 7}, "gold.explanation"),
        ({"choice": "A", "ranking": [["r0"], ["r1"]]}, "gold.ranking"),
    ],
)
def test_invalid_pairwise_gold_answer_is_refused(lab_client, lab, gold, field):
    schema = schema_normalize(
        {"kind": "pairwise", "choices": ["A", "B", "tie"], "strength": {"levels": ["a", "b", "c"]}}
    )
    project = ProjectFactory(lab=lab, label_schema=schema)

    response = _upload(lab_client, project, ndjson_body([item_payload("g", gold=gold)]))

    errors = _line_errors(response)
    assert [(line, f) for line, f, _code in errors] == [(1, field)]


def test_gold_strength_needs_a_strength_scale(lab_client, lab):
    project = ProjectFactory(lab=lab, label_schema=schema_normalize({"kind": "pairwise", "strength": None}))

    response = _upload(
        lab_client, project, ndjson_body([item_payload("g", gold={"choice": "A", "strength_min": 1})])
    )

    assert _line_errors(response) == [(1, "gold.strength_min", "invalid")]


def test_valid_pairwise_gold_item_is_stored_without_slots(lab_client, project):
    gold = {"choice": "B", "strength_min": 2, "strength_max": 3, "explanation": "B cites the trial."}
    body = ndjson_body([item_payload("g", gold=gold), item_payload("o")])

    response = _upload(lab_client, project, body)

    assert response.status_code == 201, response.json()
    item = Item.objects.get(external_id="g")
    assert (item.is_gold, item.gold) == (True, gold)
    assert not Slot.objects.filter(item=item).exists()
    assert Item.objects.get(external_id="o").is_gold is False


RANKED = [["r0"], ["r1", "r2"], ["r3"]]


@pytest.mark.parametrize(
    ("gold", "field"),
    [
        ({"ranking": [["r0"], ["r1"], ["r2"]]}, "gold.ranking"),  # r3 missing
        ({"ranking": [["r0"], ["r1"], ["r2"], ["r3"], ["r0"]]}, "gold.ranking"),  # r0 twice
        ({"ranking": [["r0"], ["r1"], ["r2"], ["zz"]]}, "gold.ranking"),  # unknown id
        ({"ranking": [["r0"], [], ["r1", "r2", "r3"]]}, "gold.ranking"),  # empty group
        ({"ranking": "r0>r1>r2>r3"}, "gold.ranking"),
        ({"ranking": RANKED, "max_distance": -1}, "gold.max_distance"),
        ({"ranking": RANKED, "max_distance": 1.5}, "gold.max_distance"),
        ({"ranking": RANKED, "choice": "A"}, "gold.choice"),
    ],
)
def test_invalid_ranking_gold_answer_is_refused(lab_client, ranking_project, gold, field):
    body = ndjson_body([item_payload("g", responses=4, gold=gold)])

    response = _upload(lab_client, ranking_project, body)

    assert [(line, f) for line, f, _code in _line_errors(response)] == [(1, field)]


def test_ranking_gold_with_ties_is_refused_when_the_project_allows_none(lab_client, lab):
    schema = schema_normalize({"kind": "ranking", "ranking": {"ties_allowed": False}})
    project = ProjectFactory(lab=lab, label_schema=schema)
    tied = item_payload("tied", responses=4, gold={"ranking": RANKED})
    strict = item_payload("strict", responses=4, gold={"ranking": [["r3"], ["r2"], ["r1"], ["r0"]]})

    response = _upload(lab_client, project, ndjson_body([strict, tied]))

    assert _line_errors(response) == [(2, "gold.ranking", "invalid")]


def test_ranking_gold_with_ties_is_stored_when_allowed(lab_client, ranking_project):
    gold = {"ranking": RANKED, "max_distance": 1}

    response = _upload(lab_client, ranking_project, ndjson_body([item_payload("g", responses=4, gold=gold)]))

    assert response.status_code == 201, response.json()
    assert Item.objects.get(external_id="g").gold == gold


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prompt": "before\x00after"}, "prompt"),
        (
            {"prompt": [{"role": "user", "content": "hi"}, {"role": "user", "content": "\x00"}]},
            "prompt.1.content",
        ),
        ({"responses": [{"id": "r0", "text": "x"}, {"id": "r1", "text": "y\x00"}]}, "responses.1.text"),
        (
            {"responses": [{"id": "r0", "text": "x", "model": "m\x00"}, {"id": "r1", "text": "y"}]},
            "responses.0.model",
        ),
        ({"metadata": {"notes": ["fine", "nul\x00"]}}, "metadata.notes.1"),
        ({"metadata": {"k\x00ey": 1}}, "metadata"),
        ({"gold": {"choice": "A", "explanation": "\x00"}}, "gold.explanation"),
    ],
)
@pytest.mark.parametrize("content_type", [NDJSON, "application/json"])
def test_text_with_a_nul_character_is_refused_naming_the_field(
    lab_client, project, changes, field, content_type
):
    # PostgreSQL's jsonb cannot store U+0000: without this check the write failed with a 500
    # and left the batch "ingesting" for ever.
    records = [item_payload("a"), item_payload("b", **changes)]
    body = ndjson_body(records) if content_type == NDJSON else json.dumps(records).encode()

    response = _upload(lab_client, project, body, content_type=content_type)

    assert _line_errors(response) == [(2, field, "invalid")]
    assert Batch.objects.get().status == "failed"
    _assert_nothing_written(project)


def test_invalid_utf8_line_is_a_parse_error(lab_client, project):
    # msgspec raises UnicodeDecodeError (not DecodeError) for it: it used to be a 500.
    bad = json.dumps(item_payload("b")).encode().replace(b"Question", b"Qu\xff\xfestion")
    body = ndjson_body([item_payload("a"), bad])

    response = _upload(lab_client, project, body)

    assert _line_errors(response) == [(2, None, "parse_error")]
    assert Batch.objects.get().status == "failed"


def test_invalid_utf8_in_a_json_array_is_a_parse_error(lab_client, project):
    body = json.dumps([item_payload("a"), item_payload("b")]).encode().replace(b"Question b", b"\xff\xfe")

    response = _upload(lab_client, project, body, content_type="application/json")

    assert [(f, code) for _line, f, code in _line_errors(response)] == [(None, "parse_error")]
    assert Batch.objects.get().status == "failed"


# --- the body as a whole ----------------------------------------------------------------------


def test_json_body_that_is_not_an_array_is_a_parse_error(lab_client, project):
    response = _upload(
        lab_client, project, json.dumps(item_payload("a")).encode(), content_type="application/json"
    )

    assert _line_errors(response) == [(1, None, "parse_error")]
    _assert_nothing_written(project)


def test_truncated_json_array_is_a_parse_error_after_the_last_whole_element(lab_client, project):
    whole = json.dumps([item_payload("a"), item_payload("b")])
    body = (whole[:-1] + ', {"external_id": "c", "prompt": "unfinish').encode()

    response = _upload(lab_client, project, body, content_type="application/json")

    assert _line_errors(response) == [(3, None, "parse_error")]
    _assert_nothing_written(project)


def test_json_array_errors_name_the_element_position(lab_client, project):
    records = [
        item_payload("a"),
        item_payload("b", responses=1),
        item_payload("c"),
        item_payload("d", colour=1),
    ]

    response = _upload(lab_client, project, json.dumps(records).encode(), content_type="application/json")

    assert _line_errors(response) == [(2, "responses", "too_short"), (4, "colour", "unknown_field")]


def test_json_array_with_a_non_object_element_is_refused_at_its_position(lab_client, project):
    body = json.dumps([item_payload("a"), "just a string"]).encode()

    response = _upload(lab_client, project, body, content_type="application/json; charset=utf-8")

    assert _line_errors(response) == [(2, None, "invalid_type")]


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("depth", [70, 5_000, 100_000])
def test_json_array_element_nested_too_deep_is_refused_at_its_position(lab_client, project, depth, dry_run):
    # Served by uvicorn the request guard refuses such a body whole; anywhere else (the test
    # client, the lab console's form) the reader names the element. 5,000 levels used to reach
    # msgspec's encoder and end in a RecursionError (a 500).
    deep = json.dumps(item_payload("b"))[:-1] + ', "metadata": ' + _nested(depth) + "}"
    first, last = json.dumps(item_payload("a")), json.dumps(item_payload("c"))
    body = f"[{first},\n{deep}, {last}]".encode()

    response = _upload(
        lab_client, project, body, content_type="application/json", query="dry_run=1" if dry_run else ""
    )

    if dry_run:
        assert response.status_code == 200, response.content[:300]
        report = response.json()
        assert not report["valid"] and report["items"] == 0
        errors = [(e["line"], e["field"], e["code"]) for e in report["errors"]]
    else:
        errors = _line_errors(response)
    assert errors == [(2, None, "json_too_deep")]
    _assert_nothing_written(project)


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("depth", [3_000, 100_000])
def test_json_array_nested_too_deep_as_a_whole_is_refused_at_its_first_element(
    lab_client, project, depth, dry_run
):
    # The array itself nesting past the limit: its first element is what goes too deep. At
    # 100,000 levels ijson's prefixes alone took more memory than the machine has; 3,000 came
    # back as invalid_type.
    body = b"[" * depth + b"]" * depth

    response = _upload(
        lab_client, project, body, content_type="application/json", query="dry_run=1" if dry_run else ""
    )

    assert response.status_code == (200 if dry_run else 400), response.content[:300]
    [error] = response.json()["errors"]
    assert (error["line"], error["field"], error["code"]) == (1, None, "json_too_deep")
    assert "64" in error["message"]
    _assert_nothing_written(project)


def test_a_json_array_nested_to_the_limit_is_taken(lab_client, project):
    # The body may nest JSON_MAX_DEPTH levels, the array's own included.
    record = item_payload("a", metadata={"a": json.loads(_nested(61))})
    body = json.dumps([record]).encode()
    assert json_depth_exceeds(body, 63) and not json_depth_exceeds(body, 64)

    response = _upload(lab_client, project, body, content_type="application/json")

    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("content_type", ["text/csv", "text/plain", "application/xml", "application/jsonx"])
def test_unsupported_content_type_is_refused_with_415(lab_client, project, content_type):
    response = _upload(lab_client, project, ndjson_body([item_payload("a")]), content_type=content_type)

    assert response.status_code == 415
    assert response.json()["errors"][0]["code"] == "unsupported_media_type"
    assert not Batch.objects.exists()


def test_empty_body_is_refused_and_leaves_no_batch(lab_client, project):
    response = _upload(lab_client, project, b"")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "empty"
    assert not Batch.objects.exists()
    assert not BatchChunk.objects.exists()


@pytest.mark.parametrize(("body", "content_type"), [(b"\n\n  \n", NDJSON), (b"[]", "application/json")])
def test_body_without_any_item_fails_the_batch(lab_client, project, body, content_type):
    response = _upload(lab_client, project, body, content_type=content_type)

    assert _line_errors(response) == [(1, None, "empty")]


def test_errors_are_capped_at_1000_with_the_true_total(lab_client, project, settings):
    settings.BATCH_INLINE_MAX_BYTES = 10 << 20
    body = ndjson_body([item_payload(f"bad-{i}", responses=1) for i in range(1500)])

    response = _upload(lab_client, project, body)

    errors = _line_errors(response)
    assert len(errors) == 1000
    assert errors[0] == (1, "responses", "too_short")
    assert errors[-1] == (1000, "responses", "too_short")
    batch = response.json()["batch"]
    assert (batch["error_count"], batch["lines_total"], batch["status"]) == (1500, 1500, "failed")
    assert Batch.objects.get().error_count == 1500


def test_ndjson_line_numbers_count_blank_lines(lab_client, project):
    body = (
        json.dumps(item_payload("a")).encode()
        + b"\n\n"
        + json.dumps(item_payload("b", responses=1)).encode()
        + b"\n   \n\n"
        + json.dumps(item_payload("c", colour=1)).encode()
        + b"\n\n"
    )

    response = _upload(lab_client, project, body)

    assert _line_errors(response) == [(3, "responses", "too_short"), (6, "colour", "unknown_field")]


def test_ndjson_with_crlf_and_no_final_newline_is_read_line_by_line(lab_client, project):
    lines = [json.dumps(item_payload("a")), "", json.dumps(item_payload("b")), json.dumps(item_payload("c"))]
    body = "\r\n".join(lines).encode()

    response = _upload(lab_client, project, body)

    assert response.status_code == 201, response.json()
    assert response.json()["items_created"] == 3
    assert response.json()["lines_total"] == 3


# --- what passes is stored exactly ------------------------------------------------------------

TRICKY = [
    "Quotes \" and ' and backslashes \\ \\\\ \\n \\t \\N \\u0000 \\\\\\u0000 (not NUL)",
    "Tabs\tand\nnewlines\r\nand a trailing backslash \\",
    "Unicode: café, 日本語, עברית, emoji 🧪🫀, combining é, zero-width\u200bspace",
    "Control-ish text: \x01\x1f and DEL \x7f",
    '{"looks": "like json"}',
]


@pytest.mark.parametrize("content_type", [NDJSON, "application/json"])
def test_texts_and_chat_prompts_round_trip_exactly(lab_client, project, content_type):
    records = [
        item_payload(
            'chat \\ "é" 🫀',
            prompt=[
                {"role": "system", "content": TRICKY[0]},
                {"role": "user", "content": TRICKY[1]},
                {"role": "assistant", "content": TRICKY[2]},
                {"role": "user", "content": ""},
            ],
            responses=[
                {"id": "r\\0", "model": 'm/1 "q"', "text": TRICKY[3]},
                {"id": "r\t1", "model": "", "text": TRICKY[4]},
            ],
            metadata={"source": TRICKY[1], "nested": {"list": [1, 2.5, None, True, "\\"]}, "ü": "ß"},
        ),
        item_payload("plain", prompt=TRICKY[2] + TRICKY[0]),
    ]
    if content_type == NDJSON:
        body = b"\n".join(json.dumps(r, ensure_ascii=False).encode() for r in records)
    else:
        body = json.dumps(records, ensure_ascii=False).encode()

    response = _upload(lab_client, project, body, content_type=content_type)

    assert response.status_code == 201, response.json()
    for record in records:
        item = Item.objects.get(project=project, external_id=record["external_id"])
        assert item.prompt == record["prompt"]
        assert item.responses == record["responses"]
        assert item.metadata == record["metadata"] if "metadata" in record else item.metadata == {}


def test_response_without_model_is_stored_with_an_empty_model(lab_client, project):
    record = item_payload("a", responses=[{"id": "x", "text": "one"}, {"id": "y", "text": "two"}])

    response = _upload(lab_client, project, ndjson_body([record]))

    assert response.status_code == 201, response.json()
    assert Item.objects.get().responses == [
        {"id": "x", "text": "one", "model": ""},
        {"id": "y", "text": "two", "model": ""},
    ]
