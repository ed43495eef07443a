"""Grading gold labels against their expected answer, with tolerance bands.

- Pairwise: the choice must match; when the gold answer gives ``strength_min`` and/or
  ``strength_max`` and the choice is A or B, the label's strength must lie in
  ``[strength_min, strength_max]`` (a missing bound is open).
- Ranking: the label's ranking may differ from the expected one by at most ``max_distance``
  (default 0) under :func:`ranking_distance`.

The answer an expert sees once the item is retired from the gold pool (:func:`gold_feedback`,
in the gold review of annotate/quality/gold_pool.py; never in the submit response) is given in
the letters they saw, so that the shuffle of the responses is undone for them, not revealed.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from annotate.labels import LETTERS


def _positions(ranking: list[list[Any]]) -> dict[str, int]:
    return {str(rid): group for group, members in enumerate(ranking) for rid in members}


def ranking_distance(a: list[list[Any]], b: list[list[Any]]) -> float:
    """Kendall tau distance between two weak orders (groups of tied ids, best first), with ties.

    Over every unordered pair of responses: 0 when both rankings order it the same way (or
    both tie it), 1 when they order it oppositely, and 0.5 when one ties it and the other does
    not (the "tie penalty" 1/2 of Fagin et al., "Comparing and aggregating rankings with
    ties", PODS 2004, which keeps the distance a metric). So swapping two neighbours costs 1,
    merging or splitting a pair costs 0.5. Ids missing from either ranking are ignored.
    """
    pa, pb = _positions(a), _positions(b)
    ids = sorted(set(pa) & set(pb))
    distance = 0.0
    for x, y in combinations(ids, 2):
        da = (pa[x] > pa[y]) - (pa[x] < pa[y])
        db = (pb[x] > pb[y]) - (pb[x] < pb[y])
        if da == db:
            continue
        distance += 1.0 if da and db else 0.5
    return distance


def gold_grade(
    *,
    gold: dict[str, Any],
    choice: str = "",
    strength: int | None = None,
    ranking: list[list[Any]] | None = None,
) -> bool:
    """Whether a label (in canonical terms) is within the gold answer's tolerance bands."""
    if "ranking" in gold:
        if not ranking:
            return False
        return ranking_distance(ranking, gold["ranking"]) <= float(gold.get("max_distance") or 0)
    if choice != gold.get("choice"):
        return False
    low, high = gold.get("strength_min"), gold.get("strength_max")
    if choice in ("A", "B") and (low is not None or high is not None):
        if strength is None:
            return False
        if low is not None and strength < low:
            return False
        if high is not None and strength > high:
            return False
    return True


def label_gold_grade(label: Any, gold: dict[str, Any]) -> bool:
    """:func:`gold_grade` of a stored :class:`~annotate.models.Label`."""
    return gold_grade(gold=gold, choice=label.choice, strength=label.strength, ranking=label.ranking)


def gold_feedback(*, item: Any, shown_order: list[int], passed: bool | None) -> dict[str, Any]:
    """The expected answer of a gold item in the letters the expert saw, with its explanation.

    ``shown_order[p]`` is the canonical index of the response shown at position ``p``.
    """
    gold = item.gold or {}
    letter_of_index = {index: LETTERS[position] for position, index in enumerate(shown_order)}
    expected: dict[str, Any] = {}
    if "ranking" in gold:
        index_of_id = {str(r["id"]): i for i, r in enumerate(item.responses)}
        expected["ranking"] = [
            sorted(letter_of_index[index_of_id[str(rid)]] for rid in group) for group in gold["ranking"]
        ]
        expected["max_distance"] = gold.get("max_distance") or 0
    else:
        choice = gold.get("choice")
        expected["choice"] = letter_of_index["AB".index(choice)] if choice in ("A", "B") else choice
        for key in ("strength_min", "strength_max"):
            if gold.get(key) is not None:
                expected[key] = gold[key]
    return {"passed": passed, "expected": expected, "explanation": gold.get("explanation", "")}
