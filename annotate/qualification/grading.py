"""Grading an answer against a gold answer, with the tolerance bands of the label schema
(``annotate/schema.py``):

- pairwise: the choice must match; when the gold gives ``strength_min``/``strength_max`` and
  the choice is A or B, the strength must lie in that band (inclusive);
- ranking: at most ``max_distance`` (default 0) discordant pairs of responses. A pair is
  discordant when its relation (better, tied, worse) differs between the answer and the gold:
  a reversed pair and a tie on one side only each count once.

Exams and gold audits in the queue grade alike: this is the one grading function.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any


def ranking_distance(answer: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> int:
    """Discordant pairs between two rankings (groups of tied ids, best first) of the same ids."""
    rank_a = {rid: i for i, group in enumerate(answer) for rid in group}
    rank_g = {rid: i for i, group in enumerate(gold) for rid in group}
    ids = sorted(rank_g)
    discordant = 0
    for x, y in combinations(ids, 2):
        a = rank_a.get(x, len(answer)) - rank_a.get(y, len(answer))
        g = rank_g[x] - rank_g[y]
        if (a > 0) - (a < 0) != (g > 0) - (g < 0):
            discordant += 1
    return discordant


def grade_answer(
    *,
    gold: dict[str, Any],
    choice: str = "",
    strength: int | None = None,
    ranking: Sequence[Sequence[str]] | None = None,
) -> bool:
    """True when the canonical answer is within the gold answer's tolerance."""
    if "ranking" in gold:
        if not ranking:
            return False
        return ranking_distance(ranking, gold["ranking"]) <= int(gold.get("max_distance", 0) or 0)
    if choice != gold.get("choice"):
        return False
    if choice in ("A", "B"):
        low, high = gold.get("strength_min"), gold.get("strength_max")
        if low is not None and (strength is None or strength < low):
            return False
        if high is not None and (strength is None or strength > high):
            return False
    return True
