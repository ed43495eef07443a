"""The projects API: creating, validating the label schema, changing settings and status, lists
and lab isolation."""

from __future__ import annotations

import copy
import re

import pytest
from rest_framework.test import APIClient

from annotate.models import Project
from annotate.schema import DEFAULT_SCHEMA, schema_normalize
from tests.factories import (
    BatchFactory,
    DomainFactory,
    ExpertProfileFactory,
    ItemFactory,
    LabelFactory,
    LabFactory,
    ProjectFactory,
    make_api_key,
)

pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/projects"


def _create(client: APIClient, domain, **fields):
    return client.post(PROJECTS, {"name": "Cardiology pairs", "domain": domain.path, **fields}, format="json")


def _patch(client: APIClient, project_id, **fields):
    return client.patch(f"{PROJECTS}/{project_id}", fields, format="json")


def _errors(response) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in response.json()["errors"]]


def _criterion(key: str, **fields) -> dict:
    return {"key": key, "label": key.title(), "min": 1, "max": 5, **fields}


# --- create -----------------------------------------------------------------------------------


def test_create_without_schema_stores_the_normalised_default(lab_client, lab, domain):
    response = _create(lab_client, domain)

    assert response.status_code == 201, response.json()
    body = response.json()
    project = Project.objects.get(pk=body["id"])
    assert project.lab == lab
    assert project.label_schema == schema_normalize(DEFAULT_SCHEMA)
    assert body["label_schema"] == project.label_schema
    assert (body["status"], body["overlap"], body["max_overlap"], body["schema_version"]) == (
        "draft",
        3,
        5,
        1,
    )
    assert body["domain"] == domain.path


def test_create_pairwise_schema_writes_every_default_out(lab_client, domain):
    schema = {
        "kind": "pairwise",
        "choices": ["A", "B", "tie"],
        "strength": {"levels": ["slightly", "much"]},
        "criteria": [{"key": "honesty", "label": "Honesty", "max": 7}],
    }

    response = _create(lab_client, domain, label_schema=schema)

    assert response.status_code == 201, response.json()
    assert Project.objects.get(pk=response.json()["id"]).label_schema == {
        "kind": "pairwise",
        "choices": ["A", "B", "tie"],
        "strength": {"levels": ["slightly", "much"]},
        "criteria": [{"key": "honesty", "label": "Honesty", "min": 1, "max": 7, "description": ""}],
        "rationale": {"mode": "optional", "min_length": 0},
    }


def test_create_ranking_schema_stores_ties_allowed_and_rationale(lab_client, domain):
    schema = {
        "kind": "ranking",
        "ranking": {"ties_allowed": False},
        "criteria": [_criterion("accuracy", description="Facts are right.")],
        "rationale": {"mode": "required", "min_length": 30},
    }

    response = _create(lab_client, domain, label_schema=schema, overlap=5, max_overlap=7, status="active")

    assert response.status_code == 201, response.json()
    project = Project.objects.get(pk=response.json()["id"])
    assert project.label_schema == {
        "kind": "ranking",
        "ranking": {"ties_allowed": False},
        "criteria": [
            {"key": "accuracy", "label": "Accuracy", "min": 1, "max": 5, "description": "Facts are right."}
        ],
        "rationale": {"mode": "required", "min_length": 30},
    }
    assert (project.status, project.overlap, project.max_overlap) == ("active", 5, 7)


def test_create_cannot_start_paused_or_archived(lab_client, domain):
    response = _create(lab_client, domain, status="paused")

    assert response.status_code == 400
    assert _errors(response) == [("status", "invalid_choice")]
    assert not Project.objects.exists()


PAIRWISE = {"kind": "pairwise"}


@pytest.mark.parametrize(
    ("schema", "field", "code"),
    [
        ({"kind": "triplet"}, "label_schema.kind", "invalid_choice"),
        ({}, "label_schema.kind", "invalid_choice"),
        (["pairwise"], "label_schema", "invalid"),
        ({**PAIRWISE, "choices": ["A", "B", "maybe"]}, "label_schema.choices", "invalid_choice"),
        ({**PAIRWISE, "choices": ["A", "tie"]}, "label_schema.choices", "required"),
        ({**PAIRWISE, "choices": ["A", "B", "A"]}, "label_schema.choices", "duplicate"),
        ({**PAIRWISE, "choices": "A,B"}, "label_schema.choices", "invalid"),
        ({**PAIRWISE, "strength": {"levels": ["only"]}}, "label_schema.strength.levels", "invalid"),
        ({**PAIRWISE, "strength": {"levels": list("abcdefgh")}}, "label_schema.strength.levels", "invalid"),
        ({**PAIRWISE, "strength": {"levels": ["a", " "]}}, "label_schema.strength.levels", "invalid"),
        ({**PAIRWISE, "strength": {"levels": ["a", "b"], "x": 1}}, "label_schema.strength", "unknown_field"),
        (
            {**PAIRWISE, "criteria": [_criterion("accuracy"), _criterion("accuracy")]},
            "label_schema.criteria.1.key",
            "duplicate",
        ),
        ({**PAIRWISE, "criteria": [_criterion("Accuracy!")]}, "label_schema.criteria.0.key", "invalid"),
        ({**PAIRWISE, "criteria": [_criterion("9lives")]}, "label_schema.criteria.0.key", "invalid"),
        (
            {**PAIRWISE, "criteria": [_criterion("accuracy", max=11)]},
            "label_schema.criteria.0.max",
            "invalid",
        ),
        (
            {**PAIRWISE, "criteria": [_criterion("accuracy", min=5, max=5)]},
            "label_schema.criteria.0.max",
            "invalid",
        ),
        (
            {**PAIRWISE, "criteria": [_criterion("accuracy", min=-1)]},
            "label_schema.criteria.0.max",
            "invalid",
        ),
        (
            {**PAIRWISE, "criteria": [_criterion("accuracy", max="7")]},
            "label_schema.criteria.0.max",
            "invalid",
        ),
        (
            {**PAIRWISE, "criteria": [_criterion("accuracy", label="")]},
            "label_schema.criteria.0.label",
            "required",
        ),
        (
            {**PAIRWISE, "criteria": [_criterion("accuracy", weight=2)]},
            "label_schema.criteria.0.weight",
            "unknown_field",
        ),
        (
            {**PAIRWISE, "criteria": [_criterion(f"c{i}") for i in range(13)]},
            "label_schema.criteria",
            "max_length",
        ),
        ({**PAIRWISE, "criteria": {"accuracy": 5}}, "label_schema.criteria", "invalid"),
        ({**PAIRWISE, "rationale": {"mode": "sometimes"}}, "label_schema.rationale.mode", "invalid_choice"),
        ({**PAIRWISE, "rationale": {"min_length": -1}}, "label_schema.rationale.min_length", "invalid"),
        ({**PAIRWISE, "rationale": {"mode": "off", "max": 3}}, "label_schema.rationale", "invalid"),
        ({**PAIRWISE, "colour": "blue"}, "label_schema.colour", "unknown_field"),
        ({**PAIRWISE, "ranking": {"ties_allowed": True}}, "label_schema.ranking", "invalid"),
        ({"kind": "ranking", "choices": ["A", "B"]}, "label_schema.choices", "invalid"),
        ({"kind": "ranking", "strength": {"levels": ["a", "b"]}}, "label_schema.strength", "invalid"),
        ({"kind": "ranking", "ranking": {"ties_allowed": "yes"}}, "label_schema.ranking", "invalid"),
    ],
)
def test_invalid_schema_is_refused_naming_the_field(lab_client, domain, schema, field, code):
    response = _create(lab_client, domain, label_schema=schema)

    assert response.status_code == 400, response.json()
    assert (field, code) in _errors(response)
    assert all(message for message in (e["message"] for e in response.json()["errors"]))
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"overlap": 0}, "overlap"),
        ({"overlap": 21}, "overlap"),
        ({"max_overlap": 21}, "max_overlap"),
        ({"gold_rate": -0.1}, "gold_rate"),
        ({"gold_rate": 0.51}, "gold_rate"),
        ({"lease_seconds": 59}, "lease_seconds"),
        ({"lease_seconds": 86401}, "lease_seconds"),
        ({"min_level": 0}, "min_level"),
        ({"min_level": 5}, "min_level"),
        ({"name": ""}, "name"),
    ],
)
def test_out_of_range_settings_are_refused_naming_the_field(lab_client, domain, fields, field):
    response = _create(lab_client, domain, **fields)

    assert response.status_code == 400
    assert field in {f for f, _code in _errors(response)}
    assert not Project.objects.exists()


def test_max_overlap_below_overlap_is_refused_naming_the_field(lab_client, domain):
    response = _create(lab_client, domain, overlap=4, max_overlap=3)

    assert response.status_code == 400
    assert _errors(response) == [("max_overlap", "invalid")]
    assert not Project.objects.exists()


def test_lowering_max_overlap_below_overlap_is_refused_naming_the_field(lab_client, lab):
    project = ProjectFactory(lab=lab, overlap=3, max_overlap=5)

    response = _patch(lab_client, project.pk, max_overlap=2)

    assert response.status_code == 400
    assert _errors(response) == [("max_overlap", "invalid")]
    project.refresh_from_db()
    assert project.max_overlap == 5


def test_settings_at_their_bounds_are_accepted(lab_client, domain):
    response = _create(
        lab_client, domain, overlap=20, max_overlap=20, gold_rate=0.5, lease_seconds=60, min_level=4
    )

    assert response.status_code == 201, response.json()
    project = Project.objects.get(pk=response.json()["id"])
    assert (
        project.overlap,
        project.max_overlap,
        project.gold_rate,
        project.lease_seconds,
        project.min_level,
    ) == (
        20,
        20,
        0.5,
        60,
        4,
    )


def test_unknown_domain_is_refused(lab_client, db):
    response = lab_client.post(PROJECTS, {"name": "P", "domain": "astrology/tarot"}, format="json")

    assert response.status_code == 400
    assert _errors(response) == [("domain", "does_not_exist")]


def test_closed_domain_is_refused(lab_client, domain):
    domain.is_active = False
    domain.save()

    response = _create(lab_client, domain)

    assert response.status_code == 400
    assert _errors(response) == [("domain", "inactive")]


def test_read_only_key_cannot_create_a_project(lab, domain):
    _key, raw = make_api_key(lab, scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = _create(client, domain)

    assert response.status_code == 403
    assert not Project.objects.exists()


# --- status -----------------------------------------------------------------------------------


def test_status_moves_draft_active_paused_active_archived(lab_client, domain):
    project_id = _create(lab_client, domain).json()["id"]

    for status in ("active", "paused", "active", "archived"):
        response = _patch(lab_client, project_id, status=status)
        assert response.status_code == 200, (status, response.json())
        assert response.json()["status"] == status
        assert Project.objects.get(pk=project_id).status == status


@pytest.mark.parametrize("target", ["draft", "active", "paused"])
def test_archived_project_cannot_change_status(lab_client, lab, target):
    project = ProjectFactory(lab=lab, status=Project.Status.ARCHIVED)

    response = _patch(lab_client, project.pk, status=target)

    assert response.status_code == 409
    assert _errors(response) == [("status", "invalid_transition")]
    project.refresh_from_db()
    assert project.status == "archived"


@pytest.mark.parametrize(("start", "target"), [("draft", "paused"), ("active", "draft"), ("paused", "draft")])
def test_status_cannot_skip_or_go_back(lab_client, lab, start, target):
    project = ProjectFactory(lab=lab, status=start)

    response = _patch(lab_client, project.pk, status=target)

    assert response.status_code == 409
    assert _errors(response) == [("status", "invalid_transition")]


# --- settings once items exist ----------------------------------------------------------------


def test_overlap_can_change_before_any_item(lab_client, lab):
    project = ProjectFactory(lab=lab, overlap=3, max_overlap=5)

    response = _patch(lab_client, project.pk, overlap=7)

    assert response.status_code == 200, response.json()
    project.refresh_from_db()
    assert (project.overlap, project.max_overlap) == (7, 7)


def test_overlap_is_locked_once_items_exist(lab_client, lab):
    project = ProjectFactory(lab=lab, overlap=3)
    ItemFactory(batch=BatchFactory(project=project))

    response = _patch(lab_client, project.pk, overlap=4)

    assert response.status_code == 409
    assert _errors(response) == [("overlap", "overlap_locked")]
    project.refresh_from_db()
    assert project.overlap == 3


def test_same_overlap_is_not_a_change_once_items_exist(lab_client, lab):
    project = ProjectFactory(lab=lab, overlap=3)
    ItemFactory(batch=BatchFactory(project=project))

    response = _patch(lab_client, project.pk, overlap=3, name="Renamed")

    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Renamed"


def test_schema_kind_can_change_before_any_item(lab_client, lab):
    project = ProjectFactory(lab=lab)

    response = _patch(lab_client, project.pk, label_schema={"kind": "ranking"})

    assert response.status_code == 200, response.json()
    project.refresh_from_db()
    assert project.label_schema["kind"] == "ranking"
    assert project.schema_version == 2


def test_schema_kind_is_locked_once_items_exist(lab_client, lab):
    project = ProjectFactory(lab=lab)
    ItemFactory(batch=BatchFactory(project=project))

    response = _patch(lab_client, project.pk, label_schema={"kind": "ranking"})

    assert response.status_code == 409
    assert _errors(response) == [("label_schema.kind", "schema_in_use")]
    project.refresh_from_db()
    assert (project.label_schema["kind"], project.schema_version) == ("pairwise", 1)


@pytest.fixture
def labelled_project(lab):
    """A pairwise project (choices A, B, tie; 3 strength levels; criterion accuracy 1..5) with one
    label: tie, strength 3, accuracy 5 on response r0."""
    schema = schema_normalize(
        {
            "kind": "pairwise",
            "choices": ["A", "B", "tie"],
            "strength": {"levels": ["slightly", "clearly", "much"]},
            "criteria": [_criterion("accuracy")],
        }
    )
    project = ProjectFactory(lab=lab, label_schema=schema)
    item = ItemFactory(batch=BatchFactory(project=project))
    LabelFactory(
        item=item, expert=ExpertProfileFactory(), choice="tie", strength=3, criteria={"r0": {"accuracy": 5}}
    )
    return project


def _schema_with(project: Project, **changes) -> dict:
    schema = copy.deepcopy(project.label_schema)
    schema.update(changes)
    return schema


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"choices": ["A", "B"]}, id="removing-a-used-choice"),
        pytest.param(
            {"strength": {"levels": ["slightly", "much"]}}, id="shrinking-the-scale-below-a-used-level"
        ),
        pytest.param({"strength": None}, id="dropping-the-strength-scale"),
        pytest.param({"criteria": []}, id="removing-a-rated-criterion"),
        pytest.param({"criteria": [_criterion("accuracy", max=4)]}, id="narrowing-below-a-used-rating"),
    ],
)
def test_schema_change_that_would_invalidate_labels_is_refused(lab_client, labelled_project, changes):
    project = labelled_project
    before = copy.deepcopy(project.label_schema)

    response = _patch(lab_client, project.pk, label_schema=_schema_with(project, **changes))

    assert response.status_code == 409, response.json()
    assert _errors(response) == [("label_schema", "schema_in_use")]
    project.refresh_from_db()
    assert project.label_schema == before
    assert project.schema_version == 1


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            {"criteria": [_criterion("accuracy"), _criterion("harmlessness")]}, id="adding-a-criterion"
        ),
        pytest.param({"choices": ["A", "B", "tie", "both_bad"]}, id="adding-a-choice"),
        pytest.param({"strength": {"levels": ["a", "b", "c", "d"]}}, id="growing-the-scale"),
        pytest.param({"rationale": {"mode": "required", "min_length": 10}}, id="requiring-a-rationale"),
    ],
)
def test_compatible_schema_change_is_accepted_and_bumps_the_version(lab_client, labelled_project, changes):
    project = labelled_project
    schema = _schema_with(project, **changes)

    response = _patch(lab_client, project.pk, label_schema=schema)

    assert response.status_code == 200, response.json()
    assert response.json()["schema_version"] == 2
    project.refresh_from_db()
    assert project.label_schema == schema_normalize(schema)
    assert project.schema_version == 2


def test_resending_the_same_schema_does_not_bump_the_version(lab_client, labelled_project):
    project = labelled_project

    response = _patch(lab_client, project.pk, label_schema=project.label_schema)

    assert response.status_code == 200
    assert response.json()["schema_version"] == 1


def test_invalid_schema_on_update_is_refused_naming_the_field(lab_client, lab):
    project = ProjectFactory(lab=lab)

    response = _patch(lab_client, project.pk, label_schema={"kind": "pairwise", "choices": ["A"]})

    assert response.status_code == 400
    assert ("label_schema.choices", "required") in _errors(response)


# --- guidelines -------------------------------------------------------------------------------


def test_guidelines_html_has_no_script_or_javascript_link(lab_client, domain):
    guidelines = (
        "# Rules\n\nPrefer **correct** answers.\n\n<script>alert('x')</script>\n\n"
        "[click me](javascript:alert(1)) and [docs](https://example.org/guide)\n\n"
        '<img src=x onerror="alert(2)">'
    )

    response = _create(lab_client, domain, guidelines=guidelines)

    assert response.status_code == 201, response.json()
    body = response.json()
    html = body["guidelines_html"]
    assert body["guidelines"] == guidelines
    assert "<strong>correct</strong>" in html
    assert 'href="https://example.org/guide"' in html
    tags = re.findall(r"<[a-z][^>]*>", html.lower())
    assert not [tag for tag in tags if tag.startswith(("<script", "<img"))]
    assert not [tag for tag in tags if "javascript:" in tag or "onerror" in tag]
    assert "&lt;script&gt;" in html  # shown as text, never run


# --- lists ------------------------------------------------------------------------------------


def _names(response) -> set[str]:
    assert response.status_code == 200, response.json()
    return {p["name"] for p in response.json()["results"]}


def test_list_filters_by_status_and_domain(lab_client, lab):
    cardiology, oncology = DomainFactory(slug="cardiology"), DomainFactory(slug="oncology")
    ProjectFactory(lab=lab, name="heart active", domain=cardiology, status="active")
    ProjectFactory(lab=lab, name="heart paused", domain=cardiology, status="paused")
    ProjectFactory(lab=lab, name="tumour active", domain=oncology, status="active")
    ProjectFactory(name="other lab active", domain=cardiology, status="active")

    assert _names(lab_client.get(PROJECTS)) == {"heart active", "heart paused", "tumour active"}
    assert _names(lab_client.get(PROJECTS, {"status": "active"})) == {"heart active", "tumour active"}
    assert _names(lab_client.get(PROJECTS, {"domain": "cardiology"})) == {"heart active", "heart paused"}
    assert _names(lab_client.get(PROJECTS, {"status": "paused", "domain": "oncology"})) == set()


def test_list_refuses_an_unknown_status_filter(lab_client, lab):
    ProjectFactory(lab=lab)

    response = lab_client.get(PROJECTS, {"status": "finished"})

    assert response.status_code == 400


def test_list_pages_with_a_working_next_cursor(lab_client, lab):
    for i in range(3):
        ProjectFactory(lab=lab, name=f"p{i}")

    seen: list[str] = []
    response = lab_client.get(PROJECTS, {"page_size": 1})
    pages = 0
    while True:
        assert response.status_code == 200
        body = response.json()
        assert len(body["results"]) == 1
        seen.extend(p["name"] for p in body["results"])
        pages += 1
        if not body["next"]:
            break
        assert "cursor=" in body["next"]
        response = lab_client.get(body["next"])
    assert pages == 3
    assert sorted(seen) == ["p0", "p1", "p2"]


# --- isolation --------------------------------------------------------------------------------


@pytest.fixture
def other_lab_project():
    other = LabFactory()
    project = ProjectFactory(lab=other, name="Secret")
    batch = BatchFactory(project=project)
    return project, batch


def test_another_labs_key_gets_404_on_a_project(lab_client, other_lab_project):
    project, _batch = other_lab_project

    get = lab_client.get(f"{PROJECTS}/{project.pk}")
    patch = _patch(lab_client, project.pk, name="Mine now", status="archived")

    assert get.status_code == 404
    assert patch.status_code == 404
    project.refresh_from_db()
    assert (project.name, project.status) == ("Secret", "active")
    assert _names(lab_client.get(PROJECTS)) == set()


def test_another_labs_key_gets_404_on_its_batches(lab_client, other_lab_project):
    project, batch = other_lab_project

    listing = lab_client.get(f"{PROJECTS}/{project.pk}/batches")
    upload = lab_client.post(
        f"{PROJECTS}/{project.pk}/batches",
        data=b'{"external_id": "x"}\n',
        content_type="application/x-ndjson",
    )
    detail = lab_client.get(f"/api/v1/batches/{batch.pk}")

    assert (listing.status_code, upload.status_code, detail.status_code) == (404, 404, 404)
    assert project.batches.count() == 1
