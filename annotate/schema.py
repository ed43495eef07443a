"""The label schema of a project: what a label holds, validated when the project is saved.

::

    {
      "kind": "pairwise",                      # 2 responses; or "ranking": 3 to 8 responses
      "choices": ["A", "B", "tie", "both_bad"],  # pairwise: which answers are allowed (A, B required)
      "strength": {"levels": ["slightly", "clearly", "much"]},  # pairwise, optional: ordinal scale
      "ranking": {"ties_allowed": true},       # ranking only
      "criteria": [                            # per-response Likert ratings, optional
        {"key": "helpfulness", "label": "Helpfulness", "min": 1, "max": 7, "description": "..."}
      ],
      "rationale": {"mode": "optional", "min_length": 20}   # off | optional | required
    }

A label's strength is the 1-based position in ``strength.levels``. A gold answer is
``{"choice": "A", "strength_min": 2, "strength_max": 3, "explanation": "..."}`` for pairwise,
``{"ranking": [["r1"], ["r2", "r3"]], "max_distance": 1}`` for ranking (groups of tied responses,
best first; the distance is the number of discordant pairs allowed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PAIRWISE_CHOICES = ("A", "B", "tie", "both_bad")
RATIONALE_MODES = ("off", "optional", "required")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

DEFAULT_SCHEMA: dict[str, Any] = {
    "kind": "pairwise",
    "choices": ["A", "B", "tie", "both_bad"],
    "strength": {"levels": ["slightly better", "clearly better", "much better"]},
    "criteria": [],
    "rationale": {"mode": "optional", "min_length": 0},
}


@dataclass(frozen=True)
class SchemaError:
    field: str
    code: str
    message: str


def schema_validate(schema: Any) -> list[SchemaError]:
    """Every problem with a label schema, each naming its field (``label_schema.<path>``)."""
    errors: list[SchemaError] = []

    def err(path: str, code: str, message: str) -> None:
        errors.append(SchemaError(f"label_schema.{path}" if path else "label_schema", code, message))

    if not isinstance(schema, dict):
        err("", "invalid", "The label schema must be an object.")
        return errors
    known = {"kind", "choices", "strength", "ranking", "criteria", "rationale"}
    for key in sorted(set(schema) - known):
        err(key, "unknown_field", "Unknown field.")
    kind = schema.get("kind")
    if kind not in ("pairwise", "ranking"):
        err("kind", "invalid_choice", "kind must be 'pairwise' (2 responses) or 'ranking' (3 to 8).")
        return errors

    if kind == "pairwise":
        choices = schema.get("choices", list(PAIRWISE_CHOICES))
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            err("choices", "invalid", "choices must be a list of strings.")
        else:
            unknown = [c for c in choices if c not in PAIRWISE_CHOICES]
            if unknown:
                err(
                    "choices",
                    "invalid_choice",
                    f"Unknown choice(s) {unknown}; allowed: {list(PAIRWISE_CHOICES)}.",
                )
            if "A" not in choices or "B" not in choices:
                err("choices", "required", "choices must include 'A' and 'B'.")
            if len(set(choices)) != len(choices):
                err("choices", "duplicate", "choices are listed twice.")
        strength = schema.get("strength")
        if strength is not None:
            levels = strength.get("levels") if isinstance(strength, dict) else None
            if isinstance(strength, dict) and set(strength) - {"levels"}:
                err("strength", "unknown_field", "strength has only 'levels'.")
            if (
                not isinstance(levels, list)
                or not 2 <= len(levels) <= 7
                or not all(isinstance(level, str) and level.strip() for level in levels)
            ):
                err(
                    "strength.levels",
                    "invalid",
                    "strength.levels must be 2 to 7 non-empty names, weakest first.",
                )
        if "ranking" in schema:
            err("ranking", "invalid", "ranking applies only to kind 'ranking'.")
    else:
        for key in ("choices", "strength"):
            if key in schema:
                err(key, "invalid", f"{key} applies only to kind 'pairwise'.")
        ranking = schema.get("ranking", {"ties_allowed": True})
        if (
            not isinstance(ranking, dict)
            or set(ranking) - {"ties_allowed"}
            or not isinstance(ranking.get("ties_allowed", True), bool)
        ):
            err("ranking", "invalid", 'ranking is {"ties_allowed": true|false}.')

    criteria = schema.get("criteria", [])
    if not isinstance(criteria, list):
        err("criteria", "invalid", "criteria must be a list.")
        criteria = []
    if len(criteria) > 12:
        err("criteria", "max_length", "At most 12 criteria.")
    seen: set[str] = set()
    for i, criterion in enumerate(criteria):
        path = f"criteria.{i}"
        if not isinstance(criterion, dict):
            err(path, "invalid", "A criterion is an object {key, label, min, max, description}.")
            continue
        for key in sorted(set(criterion) - {"key", "label", "min", "max", "description"}):
            err(f"{path}.{key}", "unknown_field", "Unknown field.")
        key = criterion.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            err(f"{path}.key", "invalid", "key is lower-case letters, digits and _, starting with a letter.")
        elif key in seen:
            err(f"{path}.key", "duplicate", f"Criterion {key!r} is defined twice.")
        else:
            seen.add(key)
        if not isinstance(criterion.get("label"), str) or not criterion["label"].strip():
            err(f"{path}.label", "required", "Give the criterion a label.")
        low, high = criterion.get("min", 1), criterion.get("max")
        if (
            not isinstance(low, int)
            or isinstance(low, bool)
            or not isinstance(high, int)
            or isinstance(high, bool)
        ):
            err(f"{path}.max", "invalid", "min and max are integers.")
        elif not (0 <= low < high <= 10):
            err(f"{path}.max", "invalid", "Need 0 <= min < max <= 10.")
        if "description" in criterion and not isinstance(criterion["description"], str):
            err(f"{path}.description", "invalid", "description is text.")

    rationale = schema.get("rationale", {"mode": "optional", "min_length": 0})
    if not isinstance(rationale, dict) or set(rationale) - {"mode", "min_length"}:
        err("rationale", "invalid", 'rationale is {"mode": off|optional|required, "min_length": n}.')
    else:
        if rationale.get("mode", "optional") not in RATIONALE_MODES:
            err("rationale.mode", "invalid_choice", f"mode is one of {list(RATIONALE_MODES)}.")
        min_length = rationale.get("min_length", 0)
        if not isinstance(min_length, int) or isinstance(min_length, bool) or not 0 <= min_length <= 5000:
            err("rationale.min_length", "invalid", "min_length is an integer from 0 to 5000.")
    return errors


def schema_normalize(schema: dict[str, Any]) -> dict[str, Any]:
    """A valid schema with every default written out, so that stored schemas are explicit."""
    out: dict[str, Any] = {"kind": schema["kind"]}
    if schema["kind"] == "pairwise":
        out["choices"] = list(schema.get("choices", PAIRWISE_CHOICES))
        out["strength"] = schema.get("strength")
    else:
        out["ranking"] = {"ties_allowed": schema.get("ranking", {}).get("ties_allowed", True)}
    out["criteria"] = [
        {
            "key": c["key"],
            "label": c["label"],
            "min": c.get("min", 1),
            "max": c["max"],
            "description": c.get("description", ""),
        }
        for c in schema.get("criteria", [])
    ]
    rationale = schema.get("rationale", {})
    out["rationale"] = {
        "mode": rationale.get("mode", "optional"),
        "min_length": rationale.get("min_length", 0),
    }
    return out


def response_count_range(schema: dict[str, Any]) -> tuple[int, int]:
    return (2, 2) if schema["kind"] == "pairwise" else (3, 8)


def label_fits_schema(schema: dict[str, Any], label: Any) -> list[str]:
    """Why a stored label (canonical form) would be invalid under ``schema``; empty if valid.

    Used to refuse a schema change that would invalidate labels already collected: a value
    outside the new scale, a choice no longer allowed, a criterion that no longer exists.
    """
    problems: list[str] = []
    if schema["kind"] == "pairwise":
        if label.choice not in schema.get("choices", PAIRWISE_CHOICES):
            problems.append(f"choice {label.choice!r} is not allowed")
        strength = schema.get("strength")
        if label.strength is not None and (
            not strength or not 1 <= label.strength <= len(strength["levels"])
        ):
            problems.append(f"strength {label.strength} is outside the scale")
    else:
        if label.ranking is None:
            problems.append("no ranking")
        elif not schema.get("ranking", {}).get("ties_allowed", True) and any(
            len(g) > 1 for g in label.ranking
        ):
            problems.append("the ranking has ties")
    criteria = {c["key"]: c for c in schema.get("criteria", [])}
    for ratings in (label.criteria or {}).values():
        for key, value in ratings.items():
            criterion = criteria.get(key)
            if criterion is None:
                problems.append(f"criterion {key!r} no longer exists")
            elif not criterion.get("min", 1) <= value <= criterion["max"]:
                problems.append(
                    f"rating {value} of {key!r} is outside {criterion.get('min', 1)}..{criterion['max']}"
                )
    # Not checked: a rationale or criterion made required later. Older labels then hold less,
    # not something the new schema cannot read; new submissions must meet it.
    return problems
