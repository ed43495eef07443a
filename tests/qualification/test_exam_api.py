"""An expert takes a project's qualification exam through the API: pass -> the queue serves;
fail -> a retry delay; the gate's reason in queue/next; no answer leaks."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from annotate.models import Assignment
from annotate.qualification.models import ExamAttempt, ExamQuestion, Qualification
from annotate.qualification.services import EXAM_REASON
from rlhf_platform.audit.models import AuditEvent
from tests.factories import ItemFactory, LabelFactory
from tests.qualification.conftest import right_answer, wrong_answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(expert, api_client):
    api_client.force_login(expert.user)
    return api_client


def _take(client, exam, answer) -> dict:
    """Start an attempt and answer every question with ``answer``; the final attempt JSON."""
    start = client.post(f"/api/v1/exams/{exam.pk}/attempts")
    assert start.status_code == 201, start.content
    attempt_id = start.json()["id"]
    while True:
        response = client.get(f"/api/v1/exam-attempts/{attempt_id}/question")
        if response.status_code == 204:
            break
        question = response.json()
        stored = ExamQuestion.objects.get(answers__pk=question["id"])
        payload = answer(question, stored.gold, stored.responses)
        sent = client.post(
            f"/api/v1/exam-questions/{question['id']}/answer",
            {"client_id": str(uuid.uuid4()), **payload},
            format="json",
        )
        assert sent.status_code == 201, sent.content
    return client.get(f"/api/v1/exam-attempts/{attempt_id}").json()


def test_unqualified_expert_gets_204_with_the_not_qualified_reason(client, project, exam):
    ItemFactory(project=project, batch__project=project)
    response = client.post("/api/v1/queue/next", {"project": str(project.pk)}, format="json")
    assert response.status_code == 204
    assert response.headers["Queue-Reason"] == "not_qualified"
    assert (
        response.headers["Queue-Reason-Message"]
        == "This project asks you to pass its qualification exam first."
    )


def test_project_without_qualification_requirement_serves_without_exam(client, project):
    project.requires_qualification = False
    project.save()
    ItemFactory(project=project, batch__project=project)
    assert client.post("/api/v1/queue/next", {"project": str(project.pk)}, format="json").status_code == 200


def test_exam_is_listed_for_an_eligible_expert(client, exam):
    rows = client.get("/api/v1/exams").json()["results"]
    assert [row["id"] for row in rows] == [str(exam.pk)]
    assert rows[0]["qualified"] is False
    assert rows[0]["question_count"] == 3


def test_exam_is_not_open_to_an_expert_without_a_credential_in_the_domain(api_client, exam):
    from tests.factories import ExpertProfileFactory

    outsider = ExpertProfileFactory()
    api_client.force_login(outsider.user)
    assert api_client.get("/api/v1/exams").json()["results"] == []
    assert api_client.post(f"/api/v1/exams/{exam.pk}/attempts").status_code == 404


def test_passing_the_exam_grants_qualification_and_the_queue_then_serves(client, expert, project, exam):
    ItemFactory(project=project, batch__project=project)
    result = _take(client, exam, right_answer)
    assert result["passed"] is True
    assert result["score"] == 1.0
    assert result["correct"] == 3
    assert result["retry_at"] is None
    qualification = Qualification.objects.get(expert=expert, project=project)
    assert AuditEvent.objects.filter(action="qualification.grant", target_id=str(qualification.pk)).exists()
    response = client.post("/api/v1/queue/next", {"project": str(project.pk)}, format="json")
    assert response.status_code == 200
    assert client.get("/api/v1/exams").json()["results"][0]["qualified"] is True


def test_a_qualified_expert_cannot_start_the_exam_again(client, exam):
    _take(client, exam, right_answer)
    response = client.post(f"/api/v1/exams/{exam.pk}/attempts")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "already_qualified"


def test_failing_enforces_the_retry_delay_with_429(client, expert, project, exam):
    result = _take(client, exam, wrong_answer)
    assert result["passed"] is False
    assert result["score"] == 0.0
    assert result["retry_at"] is not None
    assert not Qualification.objects.filter(expert=expert).exists()
    refused = client.post(f"/api/v1/exams/{exam.pk}/attempts")
    assert refused.status_code == 429
    body = refused.json()
    assert body["errors"][0]["code"] == "retry_too_soon"
    assert body["retry_at"] == result["retry_at"]
    assert client.post("/api/v1/queue/next", {"project": str(project.pk)}, format="json").status_code == 204


def test_a_retry_is_accepted_once_the_delay_is_over(client, exam):
    _take(client, exam, wrong_answer)
    ExamAttempt.objects.update(
        finished_at=timezone.now() - dt.timedelta(seconds=exam.retry_delay_seconds + 1)
    )
    assert _take(client, exam, right_answer)["passed"] is True


def test_two_of_three_right_passes_a_pass_mark_of_sixty_percent(client, exam):
    answers = iter([right_answer, right_answer, wrong_answer])
    result = _take(client, exam, lambda q, g, r: next(answers)(q, g, r))
    assert result["correct"] == 2
    assert result["passed"] is True


def test_strength_outside_the_gold_band_is_wrong(client, exam):
    def answer(question, gold, responses):
        payload = right_answer(question, gold, responses)
        if gold.get("strength_max") == 3:
            payload["strength"] = 1  # the band is 2..3
        return payload

    result = _take(client, exam, answer)
    assert result["correct"] == 2


def test_the_question_looks_like_an_assignment_and_hides_the_answer(client, exam):
    attempt_id = client.post(f"/api/v1/exams/{exam.pk}/attempts").json()["id"]
    question = client.get(f"/api/v1/exam-attempts/{attempt_id}/question").json()
    assert [r["label"] for r in question["responses"]] == ["A", "B"]
    assert set(question["responses"][0]) == {"label", "text", "html"}
    assert question["label_schema"]["kind"] == "pairwise"
    assert "gold" not in question and "strength_min" not in str(question)
    # Asking again shows the same question in the same order.
    assert client.get(f"/api/v1/exam-attempts/{attempt_id}/question").json() == question


def test_an_answer_retry_with_the_same_client_id_is_not_a_second_answer(client, exam):
    attempt_id = client.post(f"/api/v1/exams/{exam.pk}/attempts").json()["id"]
    question = client.get(f"/api/v1/exam-attempts/{attempt_id}/question").json()
    url = f"/api/v1/exam-questions/{question['id']}/answer"
    assert client.post(url, {"client_id": "c1", "choice": "tie"}, format="json").status_code == 201
    assert client.post(url, {"client_id": "c1", "choice": "tie"}, format="json").status_code == 200
    again = client.post(url, {"client_id": "c2", "choice": "tie"}, format="json")
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "already_answered"


def test_an_invalid_answer_names_its_field(client, exam):
    attempt_id = client.post(f"/api/v1/exams/{exam.pk}/attempts").json()["id"]
    question = client.get(f"/api/v1/exam-attempts/{attempt_id}/question").json()
    response = client.post(
        f"/api/v1/exam-questions/{question['id']}/answer", {"client_id": "c", "choice": "C"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "choice"


def test_starting_twice_resumes_the_open_attempt(client, exam):
    first = client.post(f"/api/v1/exams/{exam.pk}/attempts")
    second = client.post(f"/api/v1/exams/{exam.pk}/attempts")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


def test_another_experts_attempt_is_not_found(api_client, client, exam, domain):
    from tests.factories import CredentialFactory

    attempt_id = client.post(f"/api/v1/exams/{exam.pk}/attempts").json()["id"]
    other = CredentialFactory(domain=domain, approved=True).expert
    api_client.force_login(other.user)
    assert api_client.get(f"/api/v1/exam-attempts/{attempt_id}/question").status_code == 404


def test_exam_questions_are_never_served_as_gold_to_the_same_expert(client, expert, project, exam):
    project.gold_rate = 0.5
    project.save()
    _take(client, exam, right_answer)
    gold_ids = {item.pk for item in project.items.filter(is_gold=True)}
    closed = Assignment.objects.filter(expert=expert, closed_reason=EXAM_REASON)
    assert set(closed.values_list("item_id", flat=True)) == gold_ids
    # Only gold items in the project, all met in the exam: nothing is left for this expert.
    for _ in range(10):
        response = client.post("/api/v1/queue/next", {"project": str(project.pk)}, format="json")
        assert response.status_code == 204
        assert response.headers["Queue-Reason"] == "queue_empty"


def test_an_attempt_leaves_out_gold_items_the_expert_met_in_the_queue(expert, project, golds, exam):
    from annotate.qualification.services import exam_attempt_start

    LabelFactory(item=golds[0], expert=expert)
    attempt, _created = exam_attempt_start(exam=exam, expert=expert)
    asked = set(
        ExamQuestion.objects.filter(pk__in=attempt.question_ids).values_list("source_item", flat=True)
    )
    assert asked == {golds[1].pk, golds[2].pk}
    assert attempt.total == 2


def test_a_project_requiring_a_qualification_no_exam_offers_says_so(client, project, exam):
    exam.is_active = False  # closed by staff: nobody can qualify now
    exam.save(update_fields=["is_active"])
    ItemFactory(project=project, batch__project=project)
    response = client.post("/api/v1/queue/next", {"project": str(project.pk)}, format="json")
    assert response.status_code == 204
    assert response.headers["Queue-Reason"] == "qualification_unavailable"
    assert "no exam for it is open yet" in response.headers["Queue-Reason-Message"]
