"""Labs and staff make exams and read attempts; staff revoke qualifications (audited); a
domain exam qualifies for the projects of its domain and below."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from annotate.qualification.models import Exam, Qualification
from annotate.qualification.selectors import qualification_gate
from annotate.qualification.services import exam_answer_submit, exam_attempt_start, exam_question_current
from rlhf_platform.audit.models import AuditEvent
from tests.factories import (
    AssignmentFactory,
    CredentialFactory,
    DomainFactory,
    ItemFactory,
    ProjectFactory,
    item_payload,
    make_api_key,
)

pytestmark = pytest.mark.django_db


def _pass(exam, expert):
    """Answer every question of a fresh attempt with its gold choice."""
    attempt, _ = exam_attempt_start(exam=exam, expert=expert)
    for n in range(attempt.total):
        answer = exam_question_current(attempt=attempt)
        gold = answer.question.gold["choice"]
        letter = gold if gold not in ("A", "B") else "AB"[answer.shown_order.index("AB".index(gold))]
        payload = {"choice": letter}
        if letter in ("A", "B"):
            payload["strength"] = answer.question.gold.get("strength_min", 2)
        exam_answer_submit(answer=answer, expert=expert, payload=payload, client_id=f"c{n}-{attempt.pk}")
    attempt.refresh_from_db()
    return attempt


def test_lab_makes_an_exam_from_its_projects_gold_items(lab_client, project, golds):
    response = lab_client.post(
        f"/api/v1/projects/{project.pk}/exams",
        {"name": "Entry exam", "pass_mark": 0.5, "max_questions": 2},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["question_count"] == 3
    assert body["max_questions"] == 2
    assert body["domain"] == project.domain.path
    exam = Exam.objects.get(pk=body["id"])
    assert AuditEvent.objects.filter(action="exam.create", target_id=str(exam.pk)).exists()
    listed = lab_client.get(f"/api/v1/projects/{project.pk}/exams").json()["results"]
    assert [row["id"] for row in listed] == [str(exam.pk)]


def test_a_new_exam_replaces_the_active_one(lab_client, project, golds, exam):
    response = lab_client.post(
        f"/api/v1/projects/{project.pk}/exams",
        {"name": "Second", "gold_item_ids": [golds[0].external_id]},
        format="json",
    )
    assert response.status_code == 201
    exam.refresh_from_db()
    assert exam.is_active is False
    assert Exam.objects.get(is_active=True, project=project).name == "Second"


def test_lab_makes_an_exam_from_items_it_sends(lab_client, project):
    items = [
        item_payload("q1", gold={"choice": "A", "strength_min": 1, "strength_max": 2}),
        item_payload("q2", gold={"choice": "tie"}),
    ]
    response = lab_client.post(
        f"/api/v1/projects/{project.pk}/exams", {"name": "Sent", "items": items}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["question_count"] == 2


def test_exam_items_without_gold_or_invalid_are_refused_by_field(lab_client, project):
    items = [item_payload("q1"), item_payload("q2", responses=3, gold={"choice": "A"})]
    response = lab_client.post(
        f"/api/v1/projects/{project.pk}/exams", {"name": "Bad", "items": items}, format="json"
    )
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"items.0.gold", "items.1.responses"}


def test_unknown_gold_item_ids_are_refused(lab_client, project, golds):
    response = lab_client.post(
        f"/api/v1/projects/{project.pk}/exams", {"name": "x", "gold_item_ids": ["nope"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "gold_item_ids"
    assert response.json()["errors"][0]["code"] == "unknown_gold_item"


def test_a_project_without_gold_items_cannot_make_an_exam_from_them(lab_client, project):
    response = lab_client.post(f"/api/v1/projects/{project.pk}/exams", {"name": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "no_gold_items"


def test_lab_gets_404_for_another_labs_project_exams(lab_client, golds):
    theirs = ProjectFactory()
    assert lab_client.get(f"/api/v1/projects/{theirs.pk}/exams").status_code == 404
    assert (
        lab_client.post(f"/api/v1/projects/{theirs.pk}/exams", {"name": "x"}, format="json").status_code
        == 404
    )


def test_making_an_exam_needs_the_write_scope(project, golds):
    _key, raw = make_api_key(project.lab, scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.post(f"/api/v1/projects/{project.pk}/exams", {"name": "x"}, format="json")
    assert response.status_code == 403


def test_lab_lists_attempts_with_pseudonyms_only(lab_client, exam, expert):
    _pass(exam, expert)
    response = lab_client.get(f"/api/v1/lab/exams/{exam.pk}/attempts")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["expert"], r["passed"]) for r in rows] == [(expert.pseudonym, True)]
    assert expert.user.email not in response.content.decode()


def test_lab_gets_404_for_another_labs_exam_attempts(lab_client, exam):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(ProjectFactory().lab)[1]}")
    assert other.get(f"/api/v1/lab/exams/{exam.pk}/attempts").status_code == 404
    assert lab_client.get(f"/api/v1/lab/exams/{uuid.uuid4()}/attempts").status_code == 404


def test_staff_list_attempts_with_email(staff_client, exam, expert):
    _pass(exam, expert)
    rows = staff_client.get(f"/api/v1/staff/exams/{exam.pk}/attempts").json()["results"]
    assert rows[0]["expert_email"] == expert.user.email


def test_staff_revoke_a_qualification_and_the_gate_closes_again(
    staff_client, staff_user, exam, expert, project
):
    _pass(exam, expert)
    qualification = Qualification.objects.get(expert=expert)
    assert qualification_gate(expert, project) is None
    lease = AssignmentFactory(item=ItemFactory(project=project, batch__project=project), expert=expert)
    response = staff_client.post(
        f"/api/v1/staff/qualifications/{qualification.pk}/revoke", {"reason": "Shared answers"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["revoked_at"] is not None
    assert qualification_gate(expert, project) == "not_qualified"
    event = AuditEvent.objects.get(action="qualification.revoke", target_id=str(qualification.pk))
    assert event.actor == staff_user
    assert event.data["reason"] == "Shared answers"
    lease.refresh_from_db()
    assert lease.expires_at <= event.created_at
    again = staff_client.post(
        f"/api/v1/staff/qualifications/{qualification.pk}/revoke", {"reason": "again"}, format="json"
    )
    assert again.status_code == 409


def test_a_revoked_expert_may_take_the_exam_again(exam, expert, project):
    from annotate.qualification.services import qualification_revoke

    _pass(exam, expert)
    qualification_revoke(qualification=Qualification.objects.get(expert=expert), actor=None, reason="re-test")
    assert _pass(exam, expert).passed is True
    assert qualification_gate(expert, project) is None
    assert Qualification.objects.filter(expert=expert).count() == 2


def test_staff_list_qualifications_filtered(staff_client, exam, expert):
    _pass(exam, expert)
    rows = staff_client.get(
        "/api/v1/staff/qualifications", {"expert": expert.pseudonym, "valid": "true"}
    ).json()
    assert [r["expert"] for r in rows["results"]] == [expert.pseudonym]


def test_a_domain_exam_qualifies_for_projects_of_the_domain_and_below(staff_client, lab):
    medicine = DomainFactory(slug="medicine")
    cardiology = DomainFactory(slug="cardiology", parent=medicine)
    expert = CredentialFactory(domain=cardiology, approved=True).expert
    items = [item_payload("d1", gold={"choice": "B"}), item_payload("d2", gold={"choice": "both_bad"})]
    response = staff_client.post(
        "/api/v1/staff/exams", {"name": "Medicine", "domain": "medicine", "items": items}, format="json"
    )
    assert response.status_code == 201, response.content
    exam = Exam.objects.get(pk=response.json()["id"])
    heart = ProjectFactory(lab=lab, domain=cardiology, requires_qualification=True)
    other = ProjectFactory(lab=lab, domain=DomainFactory(slug="law"), requires_qualification=True)
    assert qualification_gate(expert, heart) == "not_qualified"
    _pass(exam, expert)
    assert qualification_gate(expert, heart) is None
    assert qualification_gate(expert, other) == "qualification_unavailable"  # no law exam at all


def test_a_subdomain_exam_does_not_qualify_for_the_parent_domain(lab):
    from annotate.qualification.services import exam_create

    medicine = DomainFactory(slug="medicine")
    cardiology = DomainFactory(slug="cardiology", parent=medicine)
    expert = CredentialFactory(domain=cardiology, approved=True).expert
    exam = exam_create(domain=cardiology, name="Heart", items=[item_payload("h1", gold={"choice": "A"})])
    _pass(exam, expert)
    general = ProjectFactory(lab=lab, domain=medicine, requires_qualification=True)
    assert qualification_gate(expert, general) == "qualification_unavailable"  # no exam covers medicine
    exam_create(domain=medicine, name="Medicine", items=[item_payload("m1", gold={"choice": "A"})])
    assert qualification_gate(expert, general) == "not_qualified"


def test_a_domain_exam_needs_items(staff_client):
    DomainFactory(slug="medicine")
    response = staff_client.post("/api/v1/staff/exams", {"name": "x", "domain": "medicine"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "items"
