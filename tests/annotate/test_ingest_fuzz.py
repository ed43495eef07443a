"""Property-based JSON Lines uploads: odd and malformed bodies are refused line by line, valid
ones are taken whole, and nothing is ever half-written.

Each example is a body of lines drawn from valid records (with any Unicode text) and broken
ones (invalid UTF-8, lines over the item limit, nesting past ``JSON_MAX_DEPTH``, missing
fields, wrong types, unknown fields, not JSON, an ``external_id`` repeated in the body or
already in the project), with blank lines, CRLF endings and a byte order mark mixed in. The
checks: never a 5xx; a body whose records are all valid is 201 and adds exactly its items;
any other is 400, reports the first bad line, names only bad lines with the field and code
each one's fault gives, and leaves the project's items and slots as they were. The run is
bounded and deterministic (``INGEST_FUZZ_MAX_EXAMPLES``, default 60: about 15 s).
"""

from __future__ import annotations

import itertools
import json
import os
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.models import Item, Slot
from tests.factories import ItemFactory, ProjectFactory, item_payload

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("INGEST_FUZZ_MAX_EXAMPLES", 60))
ITEM_LIMIT = 8192  # the item limit while fuzzing (16 MiB in production): a huge line is cheap
EXISTING_ID = "already-here"
_uploads = itertools.count()

# Text a record may hold: any code point but a lone surrogate and NUL (refused, tested elsewhere).
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=40)


def _line(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


# Each kind: (line bytes, expected) from (external_id, draw); expected is None for a valid
# record, else (field, codes) of the error that line must get.
def _valid(eid, draw):
    record = item_payload(eid, metadata={"note": draw(TEXT)})
    record["prompt"] = draw(TEXT) + " " + record["prompt"]
    record["responses"][1]["text"] = draw(TEXT)
    return _line(record), None


def _missing(eid, draw):
    field = draw(st.sampled_from(["external_id", "prompt", "responses"]))
    record = item_payload(eid)
    del record[field]
    return _line(record), (field, {"required"})


WRONG = {"external_id": 17, "prompt": 3.5, "responses": "r0,r1", "metadata": ["a"], "gold": "A"}


def _wrong_type(eid, draw):
    field = draw(st.sampled_from(sorted(WRONG)))
    return _line(item_payload(eid, **{field: WRONG[field]})), (field, {"invalid_type"})


def _unknown(eid, draw):
    return _line(item_payload(eid, colour="red")), ("colour", {"unknown_field"})


def _bad_utf8(eid, draw):
    raw = _line(item_payload(eid))
    cut = raw.index(b"Answer")
    return raw[:cut] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82"])) + raw[
        cut:
    ], (
        None,
        {"parse_error"},
    )


def _not_json(eid, draw):
    junk = draw(st.binary(max_size=30).filter(lambda b: b"\n" not in b))
    return b"#" + junk, (None, {"parse_error"})


def _not_an_object(eid, draw):
    return draw(st.sampled_from([b"[]", b"null", b"42", b'"text"', b"true"])), (None, {"invalid_type"})


def _huge(eid, draw):
    return _line(item_payload(eid, prompt="x" * (ITEM_LIMIT + draw(st.integers(1, 3000))))), (
        None,
        {"too_large"},
    )


def _deep(eid, draw):
    depth = draw(st.integers(70, 400))
    raw = _line(item_payload(eid))
    return raw[:-1] + b', "metadata": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}", (
        None,
        {"json_too_deep"},
    )


def _existing(eid, draw):
    return _line(item_payload(EXISTING_ID)), ("external_id", {"duplicate"})


BROKEN = [_missing, _wrong_type, _unknown, _bad_utf8, _not_json, _not_an_object, _huge, _deep]


@st.composite
def bodies(draw):
    """(body, {line number: expected}, {line number: expected only once the records are valid},
    records) for one upload."""
    upload = next(_uploads)
    kinds = draw(
        st.lists(
            st.sampled_from(["valid"] * 6 + ["broken", "blank", "duplicate", "existing"]),
            min_size=1,
            max_size=12,
        )
    )
    lines: list[bytes] = []
    bad: dict[int, tuple] = {}
    late: dict[int, tuple] = {}  # found by the ingest, which runs only once the reading found none
    valid_ids: list[str] = []
    for index, kind in enumerate(kinds):
        number = len(lines) + 1
        eid = f"u{upload}-{index}-" + draw(st.sampled_from(["a", "é", "数据", "مرحبا", "🙂"]))
        if kind == "blank":
            lines.append(draw(st.sampled_from([b"", b"   ", b"\t"])))
        elif kind == "valid" or (kind == "duplicate" and not valid_ids):
            raw, _ = _valid(eid, draw)
            lines.append(raw)
            valid_ids.append(eid)
        elif kind == "duplicate":  # found by the reading, with the other bad lines
            lines.append(_line(item_payload(draw(st.sampled_from(valid_ids)))))
            bad[number] = ("external_id", {"duplicate"})
        elif kind == "existing":
            raw, expected = _existing(eid, draw)
            lines.append(raw)
            # The project's own item is found by the ingest; a second one by the reading.
            (bad if EXISTING_ID in valid_ids else late)[number] = expected
            valid_ids.append(EXISTING_ID)
        else:
            raw, expected = draw(st.sampled_from(BROKEN))(eid, draw)
            lines.append(raw)
            bad[number] = expected
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    body = ending.join(lines) + draw(st.sampled_from([ending, b""]))
    if draw(st.booleans()):
        body = b"\xef\xbb\xbf" + body
    records = sum(1 for number, raw in enumerate(lines, 1) if raw.strip() and number not in bad)
    return body, bad, late, records


@pytest.fixture
def project(lab):
    project = ProjectFactory(lab=lab, overlap=2)
    ItemFactory(project=project, external_id=EXISTING_ID)
    return project


@given(upload=bodies())
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
def test_odd_json_lines_are_refused_by_line_or_taken_whole(lab_client, project, upload):
    body, bad, late, records = upload
    items, slots = Item.objects.filter(project=project).count(), Slot.objects.filter(project=project).count()
    with (
        mock.patch("annotate.ingest.records.MAX_ITEM_BYTES", ITEM_LIMIT),
        mock.patch("annotate.ingest.validate.MAX_ITEM_BYTES", ITEM_LIMIT),
    ):
        response = lab_client.post(
            f"/api/v1/projects/{project.pk}/batches", data=body, content_type="application/x-ndjson"
        )
    assert response.status_code < 500, response.content[:500]
    answer = response.json()

    expected = bad or late
    if not expected and records:
        assert response.status_code == 201, answer
        assert answer["items_created"] == records
        assert Item.objects.filter(project=project).count() == items + records
        return

    assert response.status_code == 400, answer
    assert Item.objects.filter(project=project).count() == items
    assert Slot.objects.filter(project=project).count() == slots
    errors = answer["errors"]
    assert errors, answer
    if not expected:  # nothing but blank lines
        assert [e["code"] for e in errors] == ["empty"]
        return
    if not bad:  # refused by the ingest: some of the repeated external_ids, by line
        assert {e["line"] for e in errors} <= set(late), (errors, late)
        assert all((e["field"], e["code"]) == ("external_id", "duplicate") for e in errors), errors
        return
    assert min(e["line"] for e in errors) == min(expected), (errors, expected)
    for error in errors:
        assert error["line"] in expected, (error, expected)
        field, codes = expected[error["line"]]
        assert (error["field"], error["code"]) in {(field, code) for code in codes}, (error, expected)
        assert error["message"]
    if len(body) < ITEM_LIMIT and not any(expected[n][1] & {"too_large"} for n in expected):
        # Every bad line is reported (the reading stops at a line over the limit).
        assert {e["line"] for e in errors} == set(expected), (errors, expected)
