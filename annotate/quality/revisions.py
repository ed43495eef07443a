"""Revisions of a consensus already delivered final.

A final item's consensus is recomputed when labels on it are excluded (a suspension). When the
delivered answer changes (the choice, or the ranking), the change is recorded on the item's
consensus (``ItemConsensus.revisions``: what it was, what it is, when and why), audited, and the
lab gets the webhook ``item.consensus_revised``. A change of confidence alone is not a revision.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from annotate.models import Item, ItemConsensus, Project
from rlhf_platform.audit.services import audit_record
from rlhf_platform.webhooks.services import webhook_emit

REASON_SUSPENSION = "labels excluded by a suspension"


def delivered(item: Item) -> dict[str, Any]:
    """The consensus of the item as the lab sees it (empty when it has none)."""
    row = ItemConsensus.objects.filter(item_id=item.pk).first()
    if row is None:
        return {}
    return {
        "choice": row.choice,
        "strength": row.strength,
        "ranking": row.ranking,
        "confidence": round(row.confidence, 4),
        "label_count": row.label_count,
    }


def consensus_revision_record(
    *, item: Item, project: Project, was: dict[str, Any], suspension_id: Any = None
) -> dict[str, Any] | None:
    """Record the revision of a final item's consensus when its delivered answer changed from
    ``was`` (see the module's docstring). Returns the revision, or None when nothing changed."""
    now = delivered(item)
    answer = ("choice", "ranking")
    if {k: was.get(k) for k in answer} == {k: now.get(k) for k in answer}:
        return None
    revision = {
        "was": was or None,
        "now": now or None,
        "at": timezone.now().isoformat(),
        "reason": REASON_SUSPENSION if suspension_id else "labels changed",
        "suspension": str(suspension_id) if suspension_id else None,
    }
    row = ItemConsensus.objects.select_for_update().filter(item_id=item.pk).first()
    if row is not None:
        row.revisions = [*(row.revisions or []), revision]
        row.save(update_fields=["revisions"])
    audit_record(
        action="quality.consensus_revised", target=item, data={"project": str(project.pk), **revision}
    )
    webhook_emit(
        lab_id=project.lab_id,
        event="item.consensus_revised",
        data={
            "item": str(item.uid),
            "external_id": item.external_id,
            "project": str(project.pk),
            "batch": str(item.batch_id),
            **revision,
        },
    )
    return revision


def revised_items(*, project: Project, limit: int = 50) -> dict[str, Any]:
    """The project's final items whose delivered consensus was revised, most recently revised
    first: for staff, what the lab was told and why."""
    rows = (
        ItemConsensus.objects.filter(item__project=project, revisions__isnull=False)
        .exclude(revisions=[])
        .select_related("item")
    )
    results = []
    for row in rows:
        last = row.revisions[-1]
        results.append(
            {
                "item": str(row.item.uid),
                "external_id": row.item.external_id,
                "revisions": len(row.revisions),
                "was": (last.get("was") or {}).get("choice") or (last.get("was") or {}).get("ranking"),
                "now": (last.get("now") or {}).get("choice") or (last.get("now") or {}).get("ranking"),
                "at": last.get("at"),
                "reason": last.get("reason"),
                "suspension": last.get("suspension"),
            }
        )
    results.sort(key=lambda r: r["at"] or "", reverse=True)
    return {"count": len(results), "results": results[:limit]}
