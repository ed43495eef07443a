"""Reads for the expert's own labels (``/me/labels/``, ``GET /api/v1/me/labels``): what they
labelled, in the letters they saw, whether each label can still be corrected, and the item's
consensus once it is final.

What is never shown here (docs/quality.md, "Gold that does not leak"):

- whether a label was a gold label, or its grade: a gold label reads like an ordinary label whose
  item is not final yet ("awaiting consensus"), and can be corrected on the same terms. Once its
  item is retired from the gold pool, the row links to the gold review, which shows it anyway;
- the consensus of an item not final, or of a final item that is in the live gold pool (an
  ordinary item promoted to silver gold): it is the answer other experts are being checked on,
  so it waits for the item's retirement ("final; its consensus is shown later").
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from annotate.label_revisions import MAX_REVISIONS, day_end, label_is_open
from annotate.labels import LETTERS
from annotate.models import Item, ItemConsensus, Label, Project
from annotate.quality.consensus_update import label_agrees
from rlhf_platform.experts.models import ExpertProfile

PAGE_SIZE = 25


def labels_of_expert(*, expert: ExpertProfile, project_id: Any = None) -> QuerySet[Label]:
    """The expert's labels, newest first, with their item, project and number of corrections."""
    labels = (
        Label.objects.filter(expert=expert)
        .select_related("item", "project", "assignment")
        .annotate(revision_count=Count("revisions"))
        .order_by("-created_at", "-pk")
    )
    if project_id is not None:
        labels = labels.filter(project_id=project_id)
    return labels


def projects_labelled_by(*, expert: ExpertProfile) -> QuerySet[Project]:
    ids = Label.objects.filter(expert=expert).values("project_id").distinct()
    return Project.objects.filter(pk__in=ids).order_by("name")


def value_in_letters(*, label: Any, shown_order: list[int], responses: list[dict]) -> dict[str, Any]:
    """A label's (or a revision's) value as the expert gave it: in the letters they saw."""
    letter_of_index = {index: LETTERS[position] for position, index in enumerate(shown_order)}
    letter_of_id = {str(r["id"]): letter_of_index[i] for i, r in enumerate(responses) if i in letter_of_index}
    choice = label.choice
    if choice in ("A", "B"):
        choice = letter_of_index.get("AB".index(choice), choice)
    ranking = None
    if label.ranking:
        ranking = [sorted(letter_of_id.get(str(rid), "?") for rid in group) for group in label.ranking]
    criteria = {
        letter_of_id.get(str(rid), "?"): dict(ratings)
        for rid, ratings in (getattr(label, "criteria", None) or {}).items()
    }
    return {
        "choice": choice,
        "strength": label.strength,
        "ranking": ranking,
        "criteria": dict(sorted(criteria.items())),
        "rationale": getattr(label, "rationale", ""),
    }


def value_words(value: dict[str, Any], schema: dict[str, Any]) -> str:
    """A value in a few words: "B better (clearly)", "tie", "B > A = C"."""
    if value.get("ranking"):
        return " > ".join(" = ".join(group) for group in value["ranking"])
    choice = value.get("choice") or ""
    words = {"tie": "tie", "both_bad": "both bad"}.get(choice, f"{choice} better" if choice else "none")
    levels = (schema.get("strength") or {}).get("levels") or []
    strength = value.get("strength")
    if strength and 1 <= strength <= len(levels):
        words += f" ({levels[strength - 1]})"
    return words


def _consensus_in_letters(consensus: ItemConsensus, *, shown_order: list[int], responses: list[dict]) -> dict:
    return value_in_letters(label=consensus, shown_order=shown_order, responses=responses) | {
        "strength": None
    }


def label_row(label: Label, *, now=None) -> dict[str, Any]:
    """One label as the expert may see it (see the module's docstring)."""
    item, project = label.item, label.project
    shown_order = label.assignment.shown_order
    value = value_in_letters(label=label, shown_order=shown_order, responses=item.responses)
    revisions = getattr(label, "revision_count", None)
    if revisions is None:
        revisions = label.revisions.count()
    row: dict[str, Any] = {
        "label": label,
        "assignment": str(label.assignment_id),
        "item": str(item.uid),
        "project": project,
        "value": value,
        "answer": value_words(value, project.label_schema),
        "created_at": label.created_at,
        "revisions": revisions,
        "revisions_left": max(MAX_REVISIONS - revisions, 0),
        "open": label_is_open(label=label, item=item, revisions=revisions, now=now),
        "open_until": day_end(label.created_at),
        "status": "awaiting",
        "consensus": None,
        "agreed": None,
        "gold_review": False,
    }
    if label.is_gold:
        row["gold_review"] = item.gold_retired_at is not None and project.gold_feedback
        return row
    if item.state != Item.State.FINAL:
        row["status"] = {
            Item.State.ADJUDICATION: "adjudication",
            Item.State.CANCELLED: "cancelled",
        }.get(item.state, "awaiting")
        return row
    if item.gold is not None and item.gold_retired_at is None:
        row["status"] = "final_later"
        return row
    consensus = ItemConsensus.objects.filter(item_id=item.pk).first()
    row["status"] = "final"
    if consensus is not None:
        shown = _consensus_in_letters(consensus, shown_order=shown_order, responses=item.responses)
        row["consensus"] = value_words(shown, project.label_schema)
        if not label.excluded_from_consensus:
            row["agreed"] = label_agrees((label.choice, label.ranking), consensus)
    return row


def label_history(label: Label) -> list[dict[str, Any]]:
    """The values the label held before its corrections, oldest first, in the letters shown."""
    shown_order, responses = label.assignment.shown_order, label.item.responses
    return [
        {
            "number": revision.number,
            "answer": value_words(
                value_in_letters(label=revision, shown_order=shown_order, responses=responses),
                label.project.label_schema,
            ),
            "valued_at": revision.valued_at,
            "replaced_at": revision.created_at,
        }
        for revision in label.revisions.order_by("number")
    ]
