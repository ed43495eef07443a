"""Reads that more than one caller needs."""

from __future__ import annotations

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from annotate.models import Batch, Item, Label, Project
from rlhf_platform.accounts.models import Lab
from rlhf_platform.core.exceptions import ApplicationError


def projects_for_lab(*, lab: Lab) -> QuerySet[Project]:
    return Project.objects.filter(lab=lab).select_related("domain")


def access_project_for_lab(*, lab: Lab, project_id) -> Project:
    """The lab's project, or 404 (another lab's project is not found, not forbidden)."""
    project = projects_for_lab(lab=lab).filter(pk=project_id).first()
    if project is None:
        raise ApplicationError("Project not found.", code="not_found", status_code=404)
    return project


def access_batch_for_lab(*, lab: Lab, batch_id) -> Batch:
    batch = Batch.objects.select_related("project").filter(project__lab=lab, pk=batch_id).first()
    if batch is None:
        raise ApplicationError("Batch not found.", code="not_found", status_code=404)
    return batch


_label_count = (
    Label.objects.filter(item_id=OuterRef("pk"))
    .order_by()
    .values("item_id")
    .annotate(n=Count("pk"))
    .values("n")
)


def items_for_project(*, project: Project) -> QuerySet[Item]:
    """The project's items with their label count and consensus (the gold answer left out)."""
    return (
        Item.objects.filter(project=project)
        .select_related("consensus")
        # A subquery per returned row (label_item index), not a join grouped over the project.
        .annotate(label_count=Coalesce(Subquery(_label_count), 0))
        .defer("gold")
    )
