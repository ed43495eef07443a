"""Reads of the quality pipeline's rows that several callers need (quality APIs and pages,
rewards through ``Label.gold_passed`` only, the queue's gate)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet, Sum

from annotate.models import AnnotatorQuality, Item, ProjectQualityModel, ProjectSuspension
from annotate.quality.reputation import GoldStanding, standing_of

__all__ = [
    "GoldStanding",
    "adjudication_items",
    "annotator_quality_rows",
    "consensus_model_summary",
    "gold_standing",
    "suspension_active",
    "suspensions_for_expert",
    "suspensions_pending_appeal",
]


def annotator_quality_rows(
    *, expert_id: Any = None, project_id: Any = None, domain_path: str | None = None
) -> QuerySet[AnnotatorQuality]:
    """Annotator rows filtered by expert, project, and/or domain (the domain and its subdomains)."""
    rows = AnnotatorQuality.objects.all()
    if expert_id is not None:
        rows = rows.filter(expert_id=expert_id)
    if project_id is not None:
        rows = rows.filter(project_id=project_id)
    if domain_path:
        rows = rows.filter(
            Q(project__domain__path=domain_path) | Q(project__domain__path__startswith=f"{domain_path}/")
        )
    return rows


def gold_standing(*, expert_id: Any, project_id: Any = None, domain_path: str | None = None) -> GoldStanding:
    """An expert's gold accuracy as a Beta(1, 1) posterior with its 95% credible interval: in one
    project, in a domain (all its projects, subdomains included), or overall. Counts every gold
    graded (the suspension rule itself counts golds since the last reinstatement)."""
    totals = annotator_quality_rows(
        expert_id=expert_id, project_id=project_id, domain_path=domain_path
    ).aggregate(passed=Sum("gold_passed"), failed=Sum("gold_failed"))
    return standing_of(totals["passed"] or 0, totals["failed"] or 0)


def suspension_active(*, expert_id: Any, project_id: Any) -> ProjectSuspension | None:
    return ProjectSuspension.objects.filter(expert_id=expert_id, project_id=project_id, active=True).first()


def suspensions_for_expert(*, expert_id: Any) -> QuerySet[ProjectSuspension]:
    return (
        ProjectSuspension.objects.filter(expert_id=expert_id)
        .select_related("project")
        .order_by("-created_at")
    )


def suspensions_pending_appeal() -> QuerySet[ProjectSuspension]:
    return (
        ProjectSuspension.objects.filter(appeal=ProjectSuspension.Appeal.PENDING, active=True)
        .select_related("project", "expert", "expert__user")
        .order_by("appealed_at")
    )


def adjudication_items(*, project_id: Any = None, not_labelled_by: Any = None) -> QuerySet[Item]:
    """Items waiting for adjudication, oldest first, with their consensus; ``not_labelled_by``
    (a user) leaves out the items that person labelled (four eyes: they may not decide them)."""
    items = Item.objects.filter(state=Item.State.ADJUDICATION)
    if project_id is not None:
        items = items.filter(project_id=project_id)
    if not_labelled_by is not None:
        items = items.exclude(labels__expert__user_id=not_labelled_by.pk)
    return items.select_related("project", "consensus").order_by("created_at", "pk")


def consensus_model_summary(*, project_id: Any) -> dict[str, Any] | None:
    """How the project's items are decided, for its report: the method the last fit chose
    (``dawid_skene`` or ``majority``), the held-out gold log-likelihood and accuracy of both, the
    gold items and labels the fit saw, and how many suspected groups count as one vote. None
    before the first fit (items are then decided by majority vote among unknown accounts)."""
    row = ProjectQualityModel.objects.filter(project_id=project_id).first()
    if row is None:
        return None
    meta = (row.parameters or {}).get("meta") or {}
    held_out = meta.get("held_out") or {}
    groups = meta.get("groups") or []
    return {
        "method": row.method,
        "fitted_at": row.fitted_at.isoformat(),
        "label_count": row.label_count,
        "fit_seconds": round(row.fit_seconds, 3),
        "gold_items": meta.get("gold_items", 0),
        "held_out": {
            "log_likelihood": held_out.get("scores") or {},
            "accuracy": held_out.get("accuracy") or {},
            "gold_items": held_out.get("gold_items", 0),
            "folds": held_out.get("folds", 0),
            "reason": held_out.get("reason", ""),
        },
        "suspected_groups": len(groups),
        "suspected_group_sizes": sorted((len(g) for g in groups), reverse=True),
    }
