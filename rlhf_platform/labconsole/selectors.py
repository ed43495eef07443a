"""Reads of the console's home: every listed project's progress in two grouped queries (items by
state, slots filled and open), the same figures as :func:`annotate.progress.project_progress`
without its three queries per project."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, Q

from annotate.models import Item, Project, Slot


def projects_progress(*, projects: list[Project]) -> dict[Any, dict[str, Any]]:
    """``{project id: {"items", "final", "final_percent", "slots_filled", "slots_total",
    "slots_percent"}}`` for ``projects``; ordinary items only, closed slots left out."""
    ids = [p.pk for p in projects]
    states: dict[Any, dict[str, int]] = defaultdict(dict)
    for project_id, state, n in (
        Item.objects.filter(project_id__in=ids, is_gold=False)
        .order_by()
        .values_list("project_id", "state")
        .annotate(n=Count("pk"))
    ):
        states[project_id][state] = n
    slots = {
        project_id: (filled, total)
        for project_id, filled, total in Slot.objects.filter(project_id__in=ids)
        .order_by()
        .values("project_id")
        .annotate(
            filled=Count("pk", filter=Q(state=Slot.State.FILLED)),
            total=Count("pk", filter=~Q(state=Slot.State.CLOSED)),
        )
        .values_list("project_id", "filled", "total")
    }
    out = {}
    for project_id in ids:
        items = sum(states[project_id].values())
        final = states[project_id].get(Item.State.FINAL, 0)
        filled, total = slots.get(project_id, (0, 0))
        out[project_id] = {
            "items": items,
            "final": final,
            "final_percent": round(100 * final / items) if items else 0,
            "slots_filled": filled,
            "slots_total": total,
            "slots_percent": round(100 * filled / total) if total else 0,
        }
    return out
