"""The record formats: ``raw`` (one row per label) and ``consensus`` (one row per item)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from annotate.exports.common import (
    CHUNK_SIZE,
    CONSENSUS_FIELDS,
    ExportFilters,
    filtered_items,
    item_consensus,
)
from annotate.models import Item, Label, Project
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expertise_level

# --- raw --------------------------------------------------------------------------------------


def raw_labels(*, project: Project, filters: ExportFilters) -> QuerySet[Label]:
    labels = Label.objects.filter(project=project)
    if filters.batch is not None:
        labels = labels.filter(item__batch=filters.batch)
    if filters.since is not None:
        labels = labels.filter(created_at__gte=filters.since)
    # ``only`` keeps the expert's row to its pseudonym: nothing else about a person is read.
    return (
        labels.select_related("item", "expert", "assignment")
        .only(
            "id",
            "is_gold",
            "choice",
            "strength",
            "ranking",
            "criteria",
            "rationale",
            "active_seconds",
            "lease_seconds",
            "schema_version",
            "excluded_from_consensus",
            "created_at",
            "item__uid",
            "item__external_id",
            "item__batch_id",
            "item__responses",
            "expert__pseudonym",
            "assignment__shown_order",
        )
        .order_by("created_at", "id")
    )


def raw_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    levels = (project.label_schema.get("strength") or {}).get("levels") or []
    expert_levels: dict[Any, int] = {}  # one look-up per expert per export

    def level_of(expert: ExpertProfile) -> int:
        if expert.pk not in expert_levels:
            expert_levels[expert.pk] = expertise_level(expert=expert, domain=project.domain)
        return expert_levels[expert.pk]

    for label in raw_labels(project=project, filters=filters).iterator(chunk_size=CHUNK_SIZE):
        item = label.item
        ids = [response["id"] for response in item.responses]
        strength = label.strength
        yield {
            "label_id": label.pk,
            "external_id": item.external_id,
            "item_uid": item.uid,
            "batch": item.batch_id,
            "is_gold": label.is_gold,
            "annotator": label.expert.pseudonym,
            "annotator_level": level_of(label.expert),
            "choice": label.choice or None,
            "ranking": label.ranking,
            "strength": strength,
            "strength_level": levels[strength - 1] if strength and strength <= len(levels) else None,
            "criteria": [
                {"response": rid, "criterion": key, "rating": rating}
                for rid in ids
                for key, rating in (label.criteria.get(rid) or {}).items()
            ],
            "rationale": label.rationale,
            "active_seconds": label.active_seconds,
            "lease_seconds": label.lease_seconds,
            "shown_order": [ids[index] for index in label.assignment.shown_order],
            "excluded_from_consensus": label.excluded_from_consensus,
            "schema_version": label.schema_version,
            "created_at": label.created_at,
        }


# --- consensus --------------------------------------------------------------------------------


def consensus_items(*, project: Project, filters: ExportFilters) -> QuerySet[Item]:
    # A correlated count rather than a GROUP BY over items and their JSON columns.
    label_count = (
        Label.objects.filter(item=OuterRef("pk"))
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        filtered_items(project=project, filters=filters)
        .annotate(labels_stored=Coalesce(Subquery(label_count, output_field=IntegerField()), Value(0)))
        .only("id", "uid", "external_id", "batch_id", "is_gold", "state", "finalized_at", *CONSENSUS_FIELDS)
    )


def consensus_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    for item in consensus_items(project=project, filters=filters).iterator(chunk_size=CHUNK_SIZE):
        consensus = item_consensus(item)
        row: dict[str, Any] = {
            "external_id": item.external_id,
            "uid": item.uid,
            "batch": item.batch_id,
            "is_gold": item.is_gold,
            "state": item.state,
            "label_count": item.labels_stored,
            "finalized_at": item.finalized_at,
            "consensus": None,
            "confidence": None,
            "agreement": None,
            "method": None,
            "consensus_label_count": None,
            "computed_at": None,
        }
        if consensus is not None:
            row.update(
                consensus={
                    "choice": consensus.choice or None,
                    "strength": consensus.strength,
                    "ranking": consensus.ranking,
                },
                confidence=consensus.confidence,
                agreement=consensus.agreement,
                method=consensus.method,
                consensus_label_count=consensus.label_count,
                computed_at=consensus.computed_at,
            )
        yield row
