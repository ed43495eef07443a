"""Checking a submitted label against the project's schema and mapping it back from the
order the expert saw (A, B, C, ...) to the item's canonical responses."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

LETTERS = string.ascii_uppercase[:8]


@dataclass
class CanonicalLabel:
    choice: str = ""
    strength: int | None = None
    ranking: list[list[str]] | None = None
    criteria: dict[str, dict[str, int]] = field(default_factory=dict)
    rationale: str = ""
    active_seconds: float | None = None


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[ValidationError]] = {}

    def add(self, name: str, code: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(ValidationError(message, code=code))

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def label_from_display(
    *,
    schema: dict[str, Any],
    payload: dict[str, Any],
    shown_order: list[int],
    responses: list[dict[str, Any]],
) -> CanonicalLabel:
    """Validate ``payload`` (in display letters) and return it in canonical terms.

    ``shown_order[p]`` is the canonical index of the response shown at position ``p``
    (letter ``LETTERS[p]``). Pairwise choices are canonical ``A``/``B`` (responses 0 and 1);
    rankings and criteria are keyed by the responses' own ids.
    """
    errors = _Errors()
    allowed = {"choice", "strength", "ranking", "criteria", "rationale", "active_seconds"}
    for key in sorted(set(payload) - allowed):
        errors.add(key, "unknown_field", "Unknown field.")
    letters = LETTERS[: len(shown_order)]
    to_id = {letters[p]: responses[shown_order[p]]["id"] for p in range(len(shown_order))}
    label = CanonicalLabel()

    if schema["kind"] == "pairwise":
        choice = payload.get("choice")
        choices = schema.get("choices", [])
        if choice not in choices:
            errors.add("choice", "invalid_choice", f"choice is one of {choices}.")
        elif choice in ("A", "B"):
            # Display letter -> canonical response index -> canonical letter.
            label.choice = "AB"[shown_order[letters.index(choice)]]
        else:
            label.choice = choice
        levels = (schema.get("strength") or {}).get("levels") or []
        strength = payload.get("strength")
        if levels and choice in ("A", "B"):
            if strength is None:
                errors.add("strength", "required", f"Say how much better: 1 to {len(levels)}.")
            elif not _is_int(strength) or not 1 <= strength <= len(levels):
                errors.add("strength", "invalid", f"strength is an integer from 1 to {len(levels)}.")
            else:
                label.strength = strength
        elif strength is not None:
            errors.add("strength", "invalid", "strength applies only to a choice of A or B on a scale.")
        if "ranking" in payload:
            errors.add("ranking", "invalid", "This project asks for a choice, not a ranking.")
    else:
        ranking = payload.get("ranking")
        if (
            not isinstance(ranking, list)
            or not ranking
            or not all(
                isinstance(group, list) and group and all(isinstance(x, str) for x in group)
                for group in ranking
            )
        ):
            errors.add(
                "ranking",
                "invalid",
                'ranking is a list of groups of letters, best first: [["B"], ["A", "C"]].',
            )
        else:
            flat = [letter for group in ranking for letter in group]
            if sorted(flat) != sorted(letters):
                errors.add("ranking", "invalid", f"Place every response exactly once: {list(letters)}.")
            elif not schema.get("ranking", {}).get("ties_allowed", True) and any(len(g) > 1 for g in ranking):
                errors.add("ranking", "invalid", "This project does not allow ties.")
            else:
                label.ranking = [[to_id[letter] for letter in group] for group in ranking]
        for key in ("choice", "strength"):
            if payload.get(key) is not None:
                errors.add(key, "invalid", "This project asks for a ranking.")

    criteria = schema.get("criteria") or []
    given = payload.get("criteria", {}) if criteria else payload.get("criteria")
    if criteria:
        if not isinstance(given, dict):
            errors.add(
                "criteria", "required", "Rate every response on every criterion: {letter: {key: rating}}."
            )
        else:
            for letter in sorted(set(given) - set(letters)):
                errors.add(f"criteria.{letter}", "invalid", f"No response {letter!r}.")
            for letter in letters:
                ratings = given.get(letter)
                if not isinstance(ratings, dict):
                    errors.add(f"criteria.{letter}", "required", f"Rate response {letter}.")
                    continue
                keys = {c["key"] for c in criteria}
                for key in sorted(set(ratings) - keys):
                    errors.add(f"criteria.{letter}.{key}", "unknown_field", "Unknown criterion.")
                out: dict[str, int] = {}
                for criterion in criteria:
                    key, low, high = criterion["key"], criterion.get("min", 1), criterion["max"]
                    value = ratings.get(key)
                    if not _is_int(value) or not low <= value <= high:
                        errors.add(f"criteria.{letter}.{key}", "invalid", f"Rate {key} from {low} to {high}.")
                    else:
                        out[key] = value
                label.criteria[to_id[letter]] = out
    elif given:
        errors.add("criteria", "invalid", "This project has no criteria.")

    rationale_rule = schema.get("rationale") or {"mode": "optional", "min_length": 0}
    rationale = payload.get("rationale", "")
    if rationale is None:
        rationale = ""
    if not isinstance(rationale, str):
        errors.add("rationale", "invalid", "rationale is text.")
    elif rationale_rule["mode"] == "off" and rationale.strip():
        errors.add("rationale", "invalid", "This project does not take a rationale.")
    elif len(rationale) > 20_000:
        errors.add("rationale", "too_long", "At most 20,000 characters.")
    else:
        needed = rationale_rule.get("min_length", 0)
        if rationale_rule["mode"] == "required" and len(rationale.strip()) < max(needed, 1):
            errors.add(
                "rationale", "required", f"Explain your judgement (at least {max(needed, 1)} characters)."
            )
        elif rationale.strip() and len(rationale.strip()) < needed:
            errors.add("rationale", "too_short", f"A rationale is at least {needed} characters.")
        label.rationale = rationale.strip()

    active = payload.get("active_seconds")
    if active is not None:
        if (
            isinstance(active, bool)
            or not isinstance(active, (int, float))
            or not math.isfinite(active)
            or not (0 <= active <= 86_400)
        ):
            errors.add("active_seconds", "invalid", "active_seconds is a number of seconds from 0 to 86,400.")
        else:
            label.active_seconds = float(active)

    errors.raise_if_any()
    return label
