"""Progress of a project or of one batch: where its items are, how many labels are in, how
fast they come and when the work should be done.

Each figure group is one aggregate query with conditional counts (items, labels, slots), so
the cost does not depend on the number of items beyond what the database scans once::

    {
      "items": {"total": 120, "ordinary": 110, "gold": 10,
                "by_state": {"open": 80, "labelled": 10, "final": 18, "adjudication": 2}},
      "labels": {"total": 330, "ordinary": 300, "gold": 30},
      "slots": {"filled": 300, "total": 330},
      "throughput": {"window_seconds": 3600, "labels": 42, "ordinary_labels": 40},
      "eta_seconds": 2700,
      "agreement": null,
      "as_of": "2025-01-01T12:00:00+00:00"
    }

``by_state`` counts ordinary items only: gold items are served without end and never become
final, so counting them would keep a finished project "open" forever; they are counted
apart in ``gold``. ``slots`` are the ordinary items' places for independent labels (``k`` per
item, more where adaptive overlap added some); a slot is filled once its label is in.
``eta_seconds`` is the remaining (unfilled) slots divided by the rate of ordinary labels over
the last hour (gold labels fill no slot): ``0`` when nothing remains, ``null`` when nothing
remains to extrapolate from (no ordinary label in the last hour). ``agreement`` is ``null``
until the quality step computes it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from annotate.models import Batch, Item, Label, Project, Slot

THROUGHPUT_WINDOW = dt.timedelta(hours=1)


def project_progress(*, project: Project, now: dt.datetime | None = None) -> dict[str, Any]:
    """The progress of every item of ``project``."""
    return _progress(
        items=Item.objects.filter(project=project),
        labels=Label.objects.filter(project=project),
        slots=Slot.objects.filter(project=project),
        now=now,
    )


def batch_progress(*, batch: Batch, now: dt.datetime | None = None) -> dict[str, Any]:
    """The progress of the items of one batch (same shape as :func:`project_progress`)."""
    return _progress(
        items=Item.objects.filter(batch=batch),
        labels=Label.objects.filter(item__batch=batch),
        slots=Slot.objects.filter(item__batch=batch),
        now=now,
    )


def eta_seconds(*, remaining_slots: int, ordinary_labels_in_window: int) -> int | None:
    """Seconds until ``remaining_slots`` are filled at the rate of the last window."""
    if remaining_slots <= 0:
        return 0
    if ordinary_labels_in_window <= 0:
        return None
    return math.ceil(remaining_slots * THROUGHPUT_WINDOW.total_seconds() / ordinary_labels_in_window)


def _progress(
    *, items: QuerySet[Item], labels: QuerySet[Label], slots: QuerySet[Slot], now: dt.datetime | None
) -> dict[str, Any]:
    now = now or timezone.now()
    window_start = now - THROUGHPUT_WINDOW
    ordinary = Q(is_gold=False)

    item_counts = items.aggregate(
        total=Count("pk"),
        gold=Count("pk", filter=Q(is_gold=True)),
        **{f"state_{state}": Count("pk", filter=ordinary & Q(state=state)) for state in Item.State.values},
    )
    label_counts = labels.aggregate(
        total=Count("pk"),
        gold=Count("pk", filter=Q(is_gold=True)),
        window=Count("pk", filter=Q(created_at__gte=window_start)),
        ordinary_window=Count("pk", filter=ordinary & Q(created_at__gte=window_start)),
    )
    slot_counts = slots.aggregate(
        total=Count("pk", filter=~Q(state=Slot.State.CLOSED)),  # closed: the batch was cancelled
        filled=Count("pk", filter=Q(state=Slot.State.FILLED)),
    )

    return {
        "items": {
            "total": item_counts["total"],
            "ordinary": item_counts["total"] - item_counts["gold"],
            "gold": item_counts["gold"],
            "by_state": {state: item_counts[f"state_{state}"] for state in Item.State.values},
        },
        "labels": {
            "total": label_counts["total"],
            "ordinary": label_counts["total"] - label_counts["gold"],
            "gold": label_counts["gold"],
        },
        "slots": {"filled": slot_counts["filled"], "total": slot_counts["total"]},
        "throughput": {
            "window_seconds": int(THROUGHPUT_WINDOW.total_seconds()),
            "labels": label_counts["window"],
            "ordinary_labels": label_counts["ordinary_window"],
        },
        "eta_seconds": eta_seconds(
            remaining_slots=slot_counts["total"] - slot_counts["filled"],
            ordinary_labels_in_window=label_counts["ordinary_window"],
        ),
        # Filled in by the quality step (agreement over the items' labels).
        "agreement": None,
        "as_of": now,
    }
