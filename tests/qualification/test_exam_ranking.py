"""A ranking exam: answers in shown letters, graded on the canonical ranking within the gold
answer's max_distance (the queue's gold grading)."""

from __future__ import annotations

import pytest

from annotate.qualification.services import (
    exam_answer_submit,
    exam_attempt_start,
    exam_create,
    exam_question_current,
)
from tests.factories import CredentialFactory, ItemFactory, ProjectFactory

pytestmark = pytest.mark.django_db

GOLD = {"ranking": [["r0"], ["r1"], ["r2"], ["r3"]], "max_distance": 1}


@pytest.fixture
def setup(domain):
    project = ProjectFactory(domain=domain, ranking=True, requires_qualification=True)
    ItemFactory(batch__project=project, is_gold=True, gold=GOLD)
    exam = exam_create(project=project, name="Rank", pass_mark=1.0, retry_delay_seconds=0)
    expert = CredentialFactory(domain=domain, approved=True).expert
    return exam, expert


def _answer(exam, expert, canonical_order: list[str]):
    attempt, _ = exam_attempt_start(exam=exam, expert=expert)
    answer = exam_question_current(attempt=attempt)
    ids = [r["id"] for r in answer.question.responses]
    letter_of = {ids[index]: "ABCD"[position] for position, index in enumerate(answer.shown_order)}
    payload = {
        "ranking": [[letter_of[rid]] for rid in canonical_order],
        "criteria": {letter: {"accuracy": 3} for letter in "ABCD"},
    }
    answer, _ = exam_answer_submit(answer=answer, expert=expert, payload=payload, client_id=str(attempt.pk))
    attempt.refresh_from_db()
    return answer, attempt


def test_a_ranking_one_swap_away_passes_and_is_stored_canonically(setup):
    exam, expert = setup
    answer, attempt = _answer(exam, expert, ["r1", "r0", "r2", "r3"])
    assert answer.ranking == [["r1"], ["r0"], ["r2"], ["r3"]]
    assert answer.correct is True
    assert attempt.passed is True


def test_a_ranking_two_swaps_away_fails(setup):
    exam, expert = setup
    answer, attempt = _answer(exam, expert, ["r1", "r0", "r3", "r2"])
    assert answer.correct is False
    assert attempt.passed is False
