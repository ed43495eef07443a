"""The shuffle: each assignment shows the responses in its own order, records it, and a label
given in display letters is stored against the canonical responses.

The API tests check the mapping without reading ``shown_order``: each response's text names
its canonical id, so the expected label is worked out from what the expert was shown.
"""

from __future__ import annotations

import string

import pytest
from rest_framework.test import APIClient

from annotate.labels import label_from_display
from annotate.models import Assignment, Label
from annotate.schema import schema_normalize
from tests.factories import BatchFactory, CredentialFactory, ItemFactory, ProjectFactory

pytestmark = pytest.mark.django_db

LETTERS = string.ascii_uppercase

# With 30 draws of 2 responses, both orders appear except with probability 2 * 0.5**30;
# with 10 draws of 3 or more, all are the identity with probability at most 6**-10.
PAIRWISE_DRAWS = 30
RANKING_DRAWS = 10

PAIRWISE_SCHEMA = {
    "kind": "pairwise",
    "choices": ["A", "B", "tie", "both_bad"],
    "strength": {"levels": ["slightly", "clearly", "much"]},
    "criteria": [{"key": "helpfulness", "label": "Helpfulness", "min": 1, "max": 7}],
}


def _responses(count: int) -> list[dict]:
    return [{"id": f"resp-{i}", "model": f"model-{i}", "text": f"text of resp-{i}"} for i in range(count)]


def _canonical_id(shown: dict) -> str:
    return shown["text"].removeprefix("text of ")


def _lease(project) -> tuple[APIClient, dict]:
    expert = CredentialFactory(approved=True, domain=project.domain).expert
    client = APIClient()
    client.force_login(expert.user)
    response = client.post("/api/v1/queue/next", {"project": str(project.pk)}, format="json")
    assert response.status_code == 200, response.content
    return client, response.json()


def _submit(client, body: dict, label: dict) -> Label:
    response = client.post(f"/api/v1/assignments/{body['id']}/submit", label, format="json")
    assert response.status_code == 201, response.content
    return Label.objects.get(pk=response.json()["id"])


def _assert_is_shuffle(assignment: Assignment, count: int, shown: list[dict]) -> None:
    assert sorted(assignment.shown_order) == list(range(count))
    assert [r["label"] for r in shown] == list(LETTERS[:count])
    expected_texts = [assignment.item.responses[i]["text"] for i in assignment.shown_order]
    assert [r["text"] for r in shown] == expected_texts


def test_pairwise_choice_strength_and_criteria_are_stored_against_canonical_responses():
    # Two items of 15 slots (k is at most 20): one draw per expert.
    project = ProjectFactory(
        gold_rate=0, overlap=15, max_overlap=15, label_schema=schema_normalize(PAIRWISE_SCHEMA)
    )
    ItemFactory.create_batch(2, batch=BatchFactory(project=project), responses=_responses(2))
    orders = set()
    for n in range(PAIRWISE_DRAWS):
        client, body = _lease(project)
        shown = body["responses"]
        # Half the experts prefer resp-0, half resp-1, whatever letter it was shown under.
        preferred = f"resp-{n % 2}"
        letter = next(r["label"] for r in shown if _canonical_id(r) == preferred)
        strength = 1 + n % 3
        label = _submit(
            client,
            body,
            {
                "client_id": f"c{n}",
                "choice": letter,
                "strength": strength,
                "criteria": {"A": {"helpfulness": 7}, "B": {"helpfulness": 1}},
            },
        )
        assignment = Assignment.objects.select_related("item").get(pk=body["id"])
        _assert_is_shuffle(assignment, 2, shown)
        orders.add(tuple(assignment.shown_order))
        assert label.choice == "AB"[n % 2]
        assert label.strength == strength
        assert label.criteria == {
            _canonical_id(shown[0]): {"helpfulness": 7},
            _canonical_id(shown[1]): {"helpfulness": 1},
        }
    assert orders == {(0, 1), (1, 0)}


def test_pairwise_tie_and_both_bad_are_kept_whatever_the_order():
    project = ProjectFactory(gold_rate=0, overlap=6, max_overlap=6)
    ItemFactory(batch=BatchFactory(project=project), responses=_responses(2))
    for n in range(6):
        client, body = _lease(project)
        choice = ("tie", "both_bad")[n % 2]
        label = _submit(client, body, {"client_id": f"c{n}", "choice": choice})
        assert (label.choice, label.strength) == (choice, None)


@pytest.mark.parametrize("count", range(3, 9))
def test_ranking_in_display_letters_is_stored_as_canonical_response_ids(count):
    project = ProjectFactory(gold_rate=0, ranking=True, overlap=RANKING_DRAWS, max_overlap=RANKING_DRAWS)
    ItemFactory(batch=BatchFactory(project=project), responses=_responses(count))
    identities = 0
    for n in range(RANKING_DRAWS):
        client, body = _lease(project)
        shown = body["responses"]
        letters = [r["label"] for r in shown]
        # Worst to best as shown, the first two shown tied last: every position moves.
        ranking = [[letter] for letter in reversed(letters[2:])] + [[letters[1], letters[0]]]
        ratings = {letter: {"accuracy": 1 + position % 5} for position, letter in enumerate(letters)}
        label = _submit(client, body, {"client_id": f"c{n}", "ranking": ranking, "criteria": ratings})

        assignment = Assignment.objects.select_related("item").get(pk=body["id"])
        _assert_is_shuffle(assignment, count, shown)
        identities += assignment.shown_order == list(range(count))
        id_of = {r["label"]: _canonical_id(r) for r in shown}
        assert label.ranking == [[id_of[letter] for letter in group] for group in ranking]
        assert sorted(i for group in label.ranking for i in group) == sorted(
            f"resp-{i}" for i in range(count)
        )
        assert label.criteria == {id_of[letter]: rating for letter, rating in ratings.items()}
    assert identities < RANKING_DRAWS, "every draw showed the canonical order: nothing was shuffled"


def test_shown_order_is_a_fresh_permutation_per_assignment():
    project = ProjectFactory(gold_rate=0, ranking=True, overlap=20, max_overlap=20)
    ItemFactory(batch=BatchFactory(project=project), responses=_responses(8))
    orders = []
    for _ in range(20):
        _client, body = _lease(project)
        order = Assignment.objects.get(pk=body["id"]).shown_order
        assert sorted(order) == list(range(8))
        orders.append(tuple(order))
    # 20 draws from 8! = 40,320 orders are all equal by chance with probability 40,320**-19:
    # if they are, nothing is shuffled.
    assert len(set(orders)) > 1


# --- the mapping itself, with fixed permutations ------------------------------------------------


def test_label_from_display_maps_a_pairwise_choice_through_a_swapped_order():
    schema = schema_normalize(PAIRWISE_SCHEMA)
    label = label_from_display(
        schema=schema,
        payload={
            "choice": "A",
            "strength": 3,
            "criteria": {"A": {"helpfulness": 6}, "B": {"helpfulness": 2}},
        },
        shown_order=[1, 0],
        responses=_responses(2),
    )
    # Display A is canonical response 1, i.e. canonical "B".
    assert (label.choice, label.strength) == ("B", 3)
    assert label.criteria == {"resp-1": {"helpfulness": 6}, "resp-0": {"helpfulness": 2}}


def test_label_from_display_maps_a_ranking_through_a_fixed_permutation():
    schema = schema_normalize(
        {"kind": "ranking", "criteria": [{"key": "accuracy", "label": "Accuracy", "max": 5}]}
    )
    label = label_from_display(
        schema=schema,
        payload={
            "ranking": [["A"], ["C", "D"], ["B"]],
            "criteria": {
                "A": {"accuracy": 5},
                "B": {"accuracy": 1},
                "C": {"accuracy": 3},
                "D": {"accuracy": 2},
            },
        },
        shown_order=[2, 0, 3, 1],
        responses=_responses(4),
    )
    assert label.ranking == [["resp-2"], ["resp-3", "resp-1"], ["resp-0"]]
    assert label.criteria == {
        "resp-2": {"accuracy": 5},
        "resp-0": {"accuracy": 1},
        "resp-3": {"accuracy": 3},
        "resp-1": {"accuracy": 2},
    }
