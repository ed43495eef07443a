"""Helpers of the quality pipeline's tests: experts who may label a project, and labels given
through the real queue (next + submit), answered in canonical terms."""

from __future__ import annotations

import numpy as np

from annotate.models import Assignment, Label, ProjectQualityModel
from annotate.quality.aggregation import DawidSkeneModel
from annotate.queue import assignment_next, assignment_submit
from tests.factories import CredentialFactory

_client_ids = iter(range(10**9))


def stored_model(project, *, groups=None, accuracy: float = 0.9) -> DawidSkeneModel:
    """A fitted model stored for the project: every annotator right with ``accuracy`` (wrong
    answers uniform), equal priors, and the suspected ``groups`` (lists of expert ids as text)."""
    classes = ("A", "B", "tie", "both_bad")
    wrong = (1 - accuracy) / 3
    confusion = np.full((4, 4), wrong) + np.eye(4) * (accuracy - wrong)
    model = DawidSkeneModel(
        classes=classes,
        priors=np.full(4, 0.25),
        confusion={},
        default_confusion=confusion,
        meta={"groups": groups or []},
    )
    ProjectQualityModel.objects.create(project=project, parameters=model.to_json(), label_count=100)
    return model


def expert_for(project, *, level: int = 3):
    return CredentialFactory(approved=True, domain=project.domain, level=level).expert


def display_choice(assignment: Assignment, canonical: str) -> str:
    """The letter the expert must press to mean canonical ``A``/``B`` (others unchanged)."""
    if canonical not in ("A", "B"):
        return canonical
    return "AB"[assignment.shown_order.index("AB".index(canonical))]


def display_ranking(assignment: Assignment, ranking_ids: list[list[str]]) -> list[list[str]]:
    ids = [r["id"] for r in assignment.item.responses]
    letter = {assignment.shown_order[p]: "ABCDEFGH"[p] for p in range(len(assignment.shown_order))}
    return [[letter[ids.index(rid)] for rid in group] for group in ranking_ids]


def next_assignment(expert, project) -> Assignment | None:
    result = assignment_next(expert=expert, project=project)
    return result if isinstance(result, Assignment) else None


def submit(
    assignment: Assignment, expert, *, choice: str = "A", strength: int | None = 2, ranking=None
) -> Label:
    """Submit a label given in canonical terms (choice A = response 0; ranking of response ids)."""
    if ranking is not None:
        payload = {"ranking": display_ranking(assignment, ranking)}
    else:
        payload = {"choice": display_choice(assignment, choice)}
        if choice in ("A", "B") and strength is not None:
            payload["strength"] = strength
    criteria = assignment.project.label_schema.get("criteria") or []
    if criteria:
        letters = "ABCDEFGH"[: len(assignment.shown_order)]
        payload["criteria"] = {x: {c["key"]: c.get("min", 1) for c in criteria} for x in letters}
    label, created = assignment_submit(
        assignment=assignment, expert=expert, payload=payload, client_id=f"c-{next(_client_ids)}"
    )
    assert created
    return label


def label_next(expert, project, **answer) -> Label | None:
    """Lease the expert's next item and answer it; None when the queue has nothing."""
    assignment = next_assignment(expert, project)
    if assignment is None:
        return None
    return submit(assignment, expert, **answer)
