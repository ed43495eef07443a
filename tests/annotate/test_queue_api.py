"""The expert's labelling API: next, submit, extend, skip, report, and who gets nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.gates import gate_register, gate_unregister
from annotate.models import Assignment, ItemReport, Label, Project, Slot
from annotate.queue import assignments_expire
from annotate.rendering import prompt_html, render_markdown
from annotate.schema import schema_normalize
from rlhf_platform.experts.models import Credential
from tests.factories import (
    BatchFactory,
    CredentialFactory,
    ExpertProfileFactory,
    ItemFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.django_db

NEXT = "/api/v1/queue/next"


def _client_for(expert) -> APIClient:
    client = APIClient()
    client.force_login(expert.user)
    return client


def _expert_for(project, *, level: int = 3, **credential):
    return CredentialFactory(approved=True, domain=project.domain, level=level, **credential).expert


def _project_with_items(count: int = 3, **fields) -> Project:
    project = ProjectFactory(**{"gold_rate": 0, **fields})
    ItemFactory.create_batch(count, batch=BatchFactory(project=project))
    return project


def _next(client, project=None):
    body = {"project": str(project.pk)} if project is not None else {}
    return client.post(NEXT, body, format="json")


def _leased(client, project) -> dict:
    response = _next(client, project)
    assert response.status_code == 200, response.content
    return response.json()


def _submit(client, assignment_id, body):
    return client.post(f"/api/v1/assignments/{assignment_id}/submit", body, format="json")


def _errors(response) -> dict[str, str]:
    return {e["field"]: e["code"] for e in response.json()["errors"]}


# --- next ------------------------------------------------------------------------------------


def test_next_returns_the_comparison_lettered_without_model_names():
    project = _project_with_items(1, guidelines="# Be careful")
    expert = _expert_for(project)
    body = _leased(_client_for(expert), project)
    assignment = Assignment.objects.get(expert=expert)
    item = assignment.item
    assert body["id"] == str(assignment.pk)
    assert body["item"] == str(item.uid)
    assert body["prompt"] == item.prompt
    assert body["label_schema"] == project.label_schema
    assert body["project"] == {
        "id": str(project.pk),
        "name": project.name,
        "guidelines_url": f"/api/v1/queue/projects/{project.pk}/guidelines",
    }
    assert body["status"] == "active"
    assert body["lease_seconds"] == project.lease_seconds
    assert body["expires_at"]
    shown = [item.responses[i]["text"] for i in assignment.shown_order]
    assert body["responses"] == [
        {"label": "A", "text": shown[0], "html": render_markdown(shown[0])},
        {"label": "B", "text": shown[1], "html": render_markdown(shown[1])},
    ]
    assert body["prompt_html"] == prompt_html(item.prompt)
    text = json.dumps(body)
    for response in item.responses:
        assert response["model"] not in text
        assert f'"{response["id"]}"' not in text


def test_next_twice_over_the_api_returns_the_same_lease():
    project = _project_with_items(3)
    expert = _expert_for(project)
    client = _client_for(expert)
    first, second = _leased(client, project), _leased(client, project)
    assert first["id"] == second["id"]
    assert Assignment.objects.filter(expert=expert).count() == 1


def test_next_without_a_project_finds_work_in_an_open_project():
    project = _project_with_items(1)
    body = _next(_client_for(_expert_for(project))).json()
    assert body["project"]["id"] == str(project.pk)


def test_next_for_an_unknown_project_is_404():
    project = _project_with_items(1)
    client = _client_for(_expert_for(project))
    response = client.post(NEXT, {"project": "00000000-0000-0000-0000-000000000000"}, format="json")
    assert response.status_code == 404


def test_next_on_an_empty_queue_is_204_queue_empty():
    project = _project_with_items(0)
    response = _next(_client_for(_expert_for(project)), project)
    assert response.status_code == 204
    assert response["Queue-Reason"] == "queue_empty"


def test_a_person_without_an_expert_profile_is_refused(staff_client):
    response = staff_client.post(NEXT, {}, format="json")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "not_expert"


def test_queue_needs_a_logged_in_person(api_client):
    assert api_client.post(NEXT, {}, format="json").status_code in (401, 403)


# --- who gets nothing ------------------------------------------------------------------------


def _refused_with(client, project=None) -> str:
    response = _next(client, project)
    assert response.status_code == 204, response.content
    assert response["Queue-Reason-Message"]
    assert not Assignment.objects.exists()
    return response["Queue-Reason"]


def test_expert_without_a_credential_gets_nothing():
    project = _project_with_items(1)
    client = _client_for(ExpertProfileFactory())
    assert _refused_with(client, project) == "no_credential"
    assert _refused_with(client) == "no_eligible_project"


def test_expert_with_a_credential_only_under_review_gets_nothing():
    project = _project_with_items(1)
    expert = CredentialFactory(domain=project.domain).expert  # submitted, not approved
    assert _refused_with(_client_for(expert), project) == "no_credential"


def test_expert_below_the_projects_level_gets_nothing():
    project = _project_with_items(1, min_level=4)
    client = _client_for(_expert_for(project, level=3))
    assert _refused_with(client, project) == "level_too_low"
    assert _refused_with(client) == "no_eligible_project"


def test_expert_whose_credential_has_expired_gets_nothing():
    project = _project_with_items(1)
    yesterday = timezone.now().date() - dt.timedelta(days=1)
    lapsed = _expert_for(project, expires_on=yesterday)  # approved, but past its date
    assert _refused_with(_client_for(lapsed), project) == "no_credential"
    marked = CredentialFactory(expired=True, domain=project.domain).expert  # the job has run
    assert marked.credentials.get().status == Credential.Status.EXPIRED
    assert _refused_with(_client_for(marked), project) == "no_credential"


def test_suspended_expert_gets_nothing():
    project = _project_with_items(1)
    expert = _expert_for(project)
    expert.suspended_at = timezone.now()
    expert.save(update_fields=["suspended_at"])
    client = _client_for(expert)
    assert _refused_with(client, project) == "suspended"
    assert _refused_with(client) == "suspended"


@pytest.mark.parametrize("status", [Project.Status.DRAFT, Project.Status.PAUSED, Project.Status.ARCHIVED])
def test_project_that_is_not_active_gives_nothing(status):
    project = _project_with_items(1, status=status)
    client = _client_for(_expert_for(project))
    assert _refused_with(client, project) == "project_not_active"
    assert _refused_with(client) == "no_eligible_project"


@pytest.fixture
def exam_gate():
    """A gate as the quality app registers one: experts with a listed id are not qualified."""
    unqualified: set[int] = set()
    gate_register(
        "test_exam",
        lambda expert, project: "test_not_examined" if expert.pk in unqualified else None,
        messages={"test_not_examined": "Take the test exam first."},
    )
    yield unqualified
    gate_unregister("test_exam")


def test_a_registered_gate_refuses_with_its_reason(exam_gate):
    project = _project_with_items(2)
    blocked, allowed = _expert_for(project), _expert_for(project)
    exam_gate.add(blocked.pk)
    response = _next(_client_for(blocked), project)
    assert response.status_code == 204
    assert response["Queue-Reason"] == "test_not_examined"
    assert response["Queue-Reason-Message"] == "Take the test exam first."  # the sentence it registered
    assert _next(_client_for(blocked)).headers["Queue-Reason"] == "no_eligible_project"
    assert _next(_client_for(allowed), project).status_code == 200


def test_queue_projects_lists_only_projects_open_to_the_expert():
    open_project = _project_with_items(0)
    expert = _expert_for(open_project)
    ProjectFactory(domain=open_project.domain, min_level=4)  # level too low
    ProjectFactory(domain=open_project.domain, status=Project.Status.PAUSED)
    ProjectFactory()  # another domain
    response = _client_for(expert).get("/api/v1/queue/projects")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [str(open_project.pk)]


# --- submit -----------------------------------------------------------------------------------


def test_submit_stores_a_label_and_answers_201():
    project = _project_with_items(1)
    expert = _expert_for(project)
    client = _client_for(expert)
    assignment = _leased(client, project)
    response = _submit(client, assignment["id"], {"client_id": "c1", "choice": "tie", "active_seconds": 12})
    assert response.status_code == 201, response.content
    label = Label.objects.get()
    assert response.json()["id"] == str(label.pk)
    assert response.json()["assignment"] == assignment["id"]
    assert (label.choice, label.client_id, label.active_seconds) == ("tie", "c1", 12.0)
    assert label.lease_seconds >= 0
    assert Assignment.objects.get().status == Assignment.Status.SUBMITTED


def test_double_click_with_the_same_client_id_returns_the_same_label():
    project = _project_with_items(1)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    body = {"client_id": "click", "choice": "tie"}
    first, second = _submit(client, assignment["id"], body), _submit(client, assignment["id"], body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Label.objects.count() == 1


def test_client_id_reused_on_another_assignment_is_409():
    project = _project_with_items(2)
    client = _client_for(_expert_for(project))
    first = _leased(client, project)
    assert _submit(client, first["id"], {"client_id": "once", "choice": "tie"}).status_code == 201
    second = _leased(client, project)
    assert second["id"] != first["id"]
    response = _submit(client, second["id"], {"client_id": "once", "choice": "tie"})
    assert response.status_code == 409
    assert _errors(response) == {"client_id": "client_id_reused"}
    assert Label.objects.count() == 1


def test_submit_on_someone_elses_assignment_is_404():
    project = _project_with_items(1)
    owner_assignment = _leased(_client_for(_expert_for(project)), project)
    intruder = _client_for(_expert_for(project))
    response = _submit(intruder, owner_assignment["id"], {"client_id": "x", "choice": "tie"})
    assert response.status_code == 404
    assert intruder.get(f"/api/v1/assignments/{owner_assignment['id']}").status_code == 404
    assert not Label.objects.exists()


def test_submit_after_skip_is_409():
    project = _project_with_items(1)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    skip = client.post(
        f"/api/v1/assignments/{assignment['id']}/skip", {"reason": "not my field"}, format="json"
    )
    assert skip.status_code == 204
    response = _submit(client, assignment["id"], {"client_id": "c1", "choice": "tie"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "assignment_closed"
    assert not Label.objects.exists()


def test_submit_without_a_client_id_is_400():
    project = _project_with_items(1)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    response = _submit(client, assignment["id"], {"choice": "tie"})
    assert response.status_code == 400
    assert "client_id" in _errors(response)


def test_late_submit_after_the_slot_was_taken_is_409_lease_expired():
    project = _project_with_items(1, overlap=1)
    late = _client_for(_expert_for(project))
    assignment = _leased(late, project)
    assignments_expire(now=timezone.now() + dt.timedelta(seconds=project.lease_seconds + 1))
    taker = _leased(_client_for(_expert_for(project)), project)
    assert (
        Assignment.objects.get(pk=taker["id"]).slot_id == Assignment.objects.get(pk=assignment["id"]).slot_id
    )
    response = _submit(late, assignment["id"], {"client_id": "late", "choice": "tie"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "lease_expired"
    assert not Label.objects.exists()


def test_late_submit_while_the_slot_is_free_is_accepted():
    project = _project_with_items(1, overlap=1)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    assignments_expire(now=timezone.now() + dt.timedelta(seconds=project.lease_seconds + 1))
    response = _submit(client, assignment["id"], {"client_id": "late", "choice": "tie"})
    assert response.status_code == 201
    assert Label.objects.count() == 1


# --- submit validation -------------------------------------------------------------------------

STRENGTH_SCHEMA = {
    "kind": "pairwise",
    "choices": ["A", "B", "tie", "both_bad"],
    "strength": {"levels": ["slightly", "clearly", "much"]},
    "criteria": [{"key": "helpfulness", "label": "Helpfulness", "min": 1, "max": 7}],
    "rationale": {"mode": "optional", "min_length": 10},
}
GOOD_CRITERIA = {"A": {"helpfulness": 5}, "B": {"helpfulness": 2}}


@pytest.fixture
def strength_assignment():
    """(client, assignment id) for a pairwise project with a 3-level scale, a criterion and
    an optional rationale of at least 10 characters."""
    project = _project_with_items(1, label_schema=schema_normalize(STRENGTH_SCHEMA))
    client = _client_for(_expert_for(project))
    return client, _leased(client, project)["id"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"criteria": GOOD_CRITERIA}, {"choice": "invalid_choice"}),
        ({"choice": "C", "criteria": GOOD_CRITERIA}, {"choice": "invalid_choice"}),
        ({"choice": "A", "criteria": GOOD_CRITERIA}, {"strength": "required"}),
        ({"choice": "A", "strength": 4, "criteria": GOOD_CRITERIA}, {"strength": "invalid"}),
        ({"choice": "A", "strength": 0, "criteria": GOOD_CRITERIA}, {"strength": "invalid"}),
        ({"choice": "A", "strength": "2", "criteria": GOOD_CRITERIA}, {"strength": "invalid"}),
        ({"choice": "tie", "strength": 2, "criteria": GOOD_CRITERIA}, {"strength": "invalid"}),
        (
            {"choice": "A", "strength": 2, "criteria": GOOD_CRITERIA, "colour": "red"},
            {"colour": "unknown_field"},
        ),
        ({"choice": "A", "strength": 2}, {"criteria.A": "required", "criteria.B": "required"}),
        ({"choice": "A", "strength": 2, "criteria": {"A": {"helpfulness": 5}}}, {"criteria.B": "required"}),
        (
            {"choice": "A", "strength": 2, "criteria": {"A": {"helpfulness": 8}, "B": {"helpfulness": 0}}},
            {"criteria.A.helpfulness": "invalid", "criteria.B.helpfulness": "invalid"},
        ),
        (
            {"choice": "A", "strength": 2, "criteria": {**GOOD_CRITERIA, "C": {"helpfulness": 1}}},
            {"criteria.C": "invalid"},
        ),
        (
            {"choice": "A", "strength": 2, "criteria": GOOD_CRITERIA, "rationale": "short"},
            {"rationale": "too_short"},
        ),
        ({"choice": "A", "strength": 2, "criteria": GOOD_CRITERIA, "rationale": 5}, {"rationale": "invalid"}),
        (
            {"choice": "A", "strength": 2, "criteria": GOOD_CRITERIA, "active_seconds": -1},
            {"active_seconds": "invalid"},
        ),
        (
            {"choice": "A", "strength": 2, "criteria": GOOD_CRITERIA, "ranking": [["A"], ["B"]]},
            {"ranking": "invalid"},
        ),
    ],
)
def test_pairwise_label_against_the_schema_is_400_with_field_errors(strength_assignment, body, expected):
    client, assignment_id = strength_assignment
    response = _submit(client, assignment_id, {"client_id": "c1", **body})
    assert response.status_code == 400, response.content
    assert _errors(response) == expected
    assert not Label.objects.exists()
    assert Assignment.objects.get(pk=assignment_id).status == Assignment.Status.ACTIVE


def test_a_corrected_label_after_a_400_is_stored(strength_assignment):
    client, assignment_id = strength_assignment
    assert _submit(client, assignment_id, {"client_id": "c1", "choice": "A"}).status_code == 400
    body = {
        "client_id": "c1",
        "choice": "A",
        "strength": 3,
        "criteria": GOOD_CRITERIA,
        "rationale": "Clearer and right.",
    }
    response = _submit(client, assignment_id, body)
    assert response.status_code == 201, response.content
    label = Label.objects.get()
    assert label.strength == 3
    assert label.rationale == "Clearer and right."


@pytest.mark.parametrize(
    ("rationale", "body", "expected"),
    [
        ({"mode": "required", "min_length": 0}, {}, {"rationale": "required"}),
        ({"mode": "required", "min_length": 20}, {"rationale": "Too short."}, {"rationale": "required"}),
        ({"mode": "optional", "min_length": 20}, {"rationale": "Too short."}, {"rationale": "too_short"}),
        ({"mode": "off", "min_length": 0}, {"rationale": "Not wanted here."}, {"rationale": "invalid"}),
    ],
)
def test_rationale_rules_are_enforced(rationale, body, expected):
    schema = schema_normalize({"kind": "pairwise", "rationale": rationale})
    project = _project_with_items(1, label_schema=schema)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    response = _submit(client, assignment["id"], {"client_id": "c1", "choice": "tie", **body})
    assert response.status_code == 400
    assert _errors(response) == expected


def test_required_rationale_long_enough_is_accepted():
    schema = schema_normalize({"kind": "pairwise", "rationale": {"mode": "required", "min_length": 20}})
    project = _project_with_items(1, label_schema=schema)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    body = {"client_id": "c1", "choice": "tie", "rationale": "  Both answers are equally right.  "}
    assert _submit(client, assignment["id"], body).status_code == 201
    assert Label.objects.get().rationale == "Both answers are equally right."


@pytest.fixture
def ranking_assignment():
    """(client, assignment id) for a ranking of 4 responses with an accuracy criterion."""
    project = _project_with_items(1, ranking=True)
    client = _client_for(_expert_for(project))
    return client, _leased(client, project)["id"]


RANK_CRITERIA = {letter: {"accuracy": 3} for letter in "ABCD"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"criteria": RANK_CRITERIA}, {"ranking": "invalid"}),
        ({"ranking": [["A"], ["B"], ["C"]], "criteria": RANK_CRITERIA}, {"ranking": "invalid"}),
        ({"ranking": [["A"], ["B"], ["C"], ["C"]], "criteria": RANK_CRITERIA}, {"ranking": "invalid"}),
        ({"ranking": [["A"], ["B"], ["C"], ["E"]], "criteria": RANK_CRITERIA}, {"ranking": "invalid"}),
        ({"ranking": ["A", "B", "C", "D"], "criteria": RANK_CRITERIA}, {"ranking": "invalid"}),
        ({"ranking": [["A"], [], ["B", "C", "D"]], "criteria": RANK_CRITERIA}, {"ranking": "invalid"}),
        (
            {"ranking": [["A", "B", "C", "D"]], "choice": "A", "criteria": RANK_CRITERIA},
            {"choice": "invalid"},
        ),
        (
            {"ranking": [["A", "B", "C", "D"]], "criteria": {**RANK_CRITERIA, "D": {"accuracy": 6}}},
            {"criteria.D.accuracy": "invalid"},
        ),
        (
            {
                "ranking": [["A", "B", "C", "D"]],
                "criteria": {**RANK_CRITERIA, "D": {"accuracy": 3, "tone": 2}},
            },
            {"criteria.D.tone": "unknown_field"},
        ),
    ],
)
def test_ranking_label_against_the_schema_is_400_with_field_errors(ranking_assignment, body, expected):
    client, assignment_id = ranking_assignment
    response = _submit(client, assignment_id, {"client_id": "c1", **body})
    assert response.status_code == 400, response.content
    assert _errors(response) == expected
    assert not Label.objects.exists()


def test_ranking_without_ties_refuses_a_tie():
    schema = schema_normalize({"kind": "ranking", "ranking": {"ties_allowed": False}})
    project = _project_with_items(1, label_schema=schema)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    response = _submit(client, assignment["id"], {"client_id": "c1", "ranking": [["A", "B"], ["C"], ["D"]]})
    assert response.status_code == 400
    assert _errors(response) == {"ranking": "invalid"}


# --- extend, skip, report ----------------------------------------------------------------------


def test_extend_pushes_expires_at():
    project = _project_with_items(1)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    soon = timezone.now() + dt.timedelta(seconds=10)
    Assignment.objects.filter(pk=assignment["id"]).update(expires_at=soon)
    response = client.post(f"/api/v1/assignments/{assignment['id']}/extend", format="json")
    assert response.status_code == 200
    assert response.json()["id"] == assignment["id"]
    assert Assignment.objects.get(pk=assignment["id"]).expires_at > soon + dt.timedelta(seconds=600)


def test_extend_after_the_expiry_sweep_is_409():
    project = _project_with_items(1)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    assignments_expire(now=timezone.now() + dt.timedelta(seconds=project.lease_seconds + 1))
    response = client.post(f"/api/v1/assignments/{assignment['id']}/extend", format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "lease_expired"


def test_skip_frees_the_slot_and_the_item_never_comes_back_to_that_expert():
    project = _project_with_items(1)
    skipper = _client_for(_expert_for(project))
    assignment = _leased(skipper, project)
    response = skipper.post(
        f"/api/v1/assignments/{assignment['id']}/skip", {"reason": "conflict"}, format="json"
    )
    assert response.status_code == 204
    stored = Assignment.objects.get(pk=assignment["id"])
    assert (stored.status, stored.closed_reason) == ("skipped", "conflict")
    assert stored.slot.state == Slot.State.OPEN
    assert _next(skipper, project).headers["Queue-Reason"] == "needs_other_experts"
    other = _leased(_client_for(_expert_for(project)), project)
    assert other["item"] == assignment["item"]


def test_skip_without_a_reason_is_400():
    project = _project_with_items(1)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    response = client.post(f"/api/v1/assignments/{assignment['id']}/skip", {}, format="json")
    assert response.status_code == 400
    assert "reason" in _errors(response)
    assert Assignment.objects.get(pk=assignment["id"]).status == Assignment.Status.ACTIVE


def test_report_creates_an_item_report_and_releases_the_item():
    project = _project_with_items(1)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    response = client.post(
        f"/api/v1/assignments/{assignment['id']}/report",
        {"reason": "harmful", "details": "Gives dangerous dosing advice."},
        format="json",
    )
    assert response.status_code == 201
    report = ItemReport.objects.get()
    assert response.json() == {"id": str(report.pk)}
    assert (report.reason, report.details) == ("harmful", "Gives dangerous dosing advice.")
    assert str(report.item.uid) == assignment["item"]
    stored = Assignment.objects.get(pk=assignment["id"])
    assert stored.status == Assignment.Status.SKIPPED
    assert stored.slot.state == Slot.State.OPEN


def test_report_with_an_unknown_reason_is_400():
    project = _project_with_items(1)
    client = _client_for(_expert_for(project))
    assignment = _leased(client, project)
    response = client.post(
        f"/api/v1/assignments/{assignment['id']}/report", {"reason": "dull"}, format="json"
    )
    assert response.status_code == 400
    assert _errors(response) == {"reason": "invalid_choice"}
    assert not ItemReport.objects.exists()


def test_skip_extend_and_report_of_someone_elses_assignment_are_404():
    project = _project_with_items(1)
    assignment = _leased(_client_for(_expert_for(project)), project)
    intruder = _client_for(_expert_for(project))
    base = f"/api/v1/assignments/{assignment['id']}"
    assert intruder.post(f"{base}/skip", {"reason": "mine now"}, format="json").status_code == 404
    assert intruder.post(f"{base}/extend", format="json").status_code == 404
    assert intruder.post(f"{base}/report", {"reason": "other"}, format="json").status_code == 404
    assert Assignment.objects.get(pk=assignment["id"]).status == Assignment.Status.ACTIVE


# --- gold looks like any other item ------------------------------------------------------------


def _shape(value):
    """The keys of a JSON value, recursively (values ignored)."""
    if isinstance(value, dict):
        return {key: _shape(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_shape(child) for child in value]
    return type(value).__name__


def test_gold_assignment_has_exactly_the_shape_of_an_ordinary_one():
    project = ProjectFactory(gold_rate=0.5)
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(10, batch=batch)
    ItemFactory.create_batch(10, batch=batch, gold_answer=True)
    seen: dict[bool, dict] = {}
    # Each fresh expert draws gold with probability 0.5: 40 experts miss one kind with
    # probability 2 * 0.5**40.
    for _ in range(40):
        body = _leased(_client_for(_expert_for(project)), project)
        seen.setdefault(Assignment.objects.get(pk=body["id"]).is_gold, body)
        if len(seen) == 2:
            break
    gold, ordinary = seen[True], seen[False]
    assert _shape(gold) == _shape(ordinary)
    assert "gold" not in json.dumps(gold).lower()
