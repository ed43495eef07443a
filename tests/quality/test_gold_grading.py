"""Gold grading with tolerance bands, the ranking distance, and the feedback an expert sees."""

from __future__ import annotations

import pytest

from annotate.quality.gold import gold_feedback, gold_grade, ranking_distance
from tests.factories import ItemFactory, ProjectFactory

PAIR = {"choice": "A", "strength_min": 2, "strength_max": 3, "explanation": "A cites the guideline."}


def test_pairwise_choice_must_match():
    assert gold_grade(gold=PAIR, choice="A", strength=2)
    assert not gold_grade(gold=PAIR, choice="B", strength=2)
    assert not gold_grade(gold=PAIR, choice="tie")


@pytest.mark.parametrize(
    ("strength", "passed"), [(1, False), (2, True), (3, True), (4, False), (None, False)]
)
def test_pairwise_strength_must_lie_within_the_band(strength, passed):
    assert gold_grade(gold=PAIR, choice="A", strength=strength) is passed


def test_a_missing_bound_leaves_that_side_open():
    assert gold_grade(gold={"choice": "B", "strength_min": 2}, choice="B", strength=3)
    assert not gold_grade(gold={"choice": "B", "strength_min": 2}, choice="B", strength=1)
    assert gold_grade(gold={"choice": "B"}, choice="B", strength=1)
    assert gold_grade(gold={"choice": "tie", "strength_min": 2}, choice="tie")


def test_ranking_distance_counts_reversed_pairs_once_and_one_sided_ties_half():
    gold = [["r0"], ["r1"], ["r2"]]
    assert ranking_distance(gold, gold) == 0
    assert ranking_distance([["r1"], ["r0"], ["r2"]], gold) == 1  # one neighbour swap
    assert ranking_distance([["r2"], ["r1"], ["r0"]], gold) == 3  # fully reversed
    assert ranking_distance([["r0", "r1"], ["r2"]], gold) == 0.5  # a tie the gold does not have
    assert ranking_distance([["r0", "r1", "r2"]], gold) == 1.5
    assert ranking_distance([["r1"], ["r0"]], [["r0"], ["r1"]]) == ranking_distance(
        [["r0"], ["r1"]], [["r1"], ["r0"]]
    )


def test_ranking_within_max_distance_passes():
    gold = {"ranking": [["r0"], ["r1"], ["r2"], ["r3"]], "max_distance": 1}
    assert gold_grade(gold=gold, ranking=[["r1"], ["r0"], ["r2"], ["r3"]])
    assert gold_grade(gold=gold, ranking=[["r0"], ["r1", "r2"], ["r3"]])
    assert not gold_grade(gold=gold, ranking=[["r1"], ["r0"], ["r3"], ["r2"]])
    assert not gold_grade(gold={**gold, "max_distance": 0}, ranking=[["r0"], ["r1", "r2"], ["r3"]])
    assert not gold_grade(gold=gold, ranking=None)


@pytest.mark.django_db
def test_feedback_gives_the_expected_answer_in_the_letters_shown():
    item = ItemFactory(gold_answer=True, gold=PAIR)
    # Response 0 (canonical A) was shown second, as B.
    feedback = gold_feedback(item=item, shown_order=[1, 0], passed=False)
    assert feedback == {
        "passed": False,
        "expected": {"choice": "B", "strength_min": 2, "strength_max": 3},
        "explanation": "A cites the guideline.",
    }


@pytest.mark.django_db
def test_feedback_of_a_ranking_names_letters_not_ids():
    project = ProjectFactory(ranking=True)
    item = ItemFactory(
        batch__project=project,
        gold_answer=True,
        gold={"ranking": [["r2"], ["r0", "r1"], ["r3"]], "max_distance": 1, "explanation": "why"},
    )
    feedback = gold_feedback(item=item, shown_order=[3, 2, 1, 0], passed=True)
    assert feedback["expected"] == {"ranking": [["B"], ["C", "D"], ["A"]], "max_distance": 1}
