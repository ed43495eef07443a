"""Why the queue has nothing for an expert: :class:`NoWork`, and the honest answer when the
claim found nothing in a project (:func:`queue_wait_reason`).

Nothing to claim does not mean nothing to do. Work may exist and wait:

- ``waiting_for_quality``: items the expert has not labelled have all their labels in and wait
  for the after-submit quality step, which may open more slots on them (an unsure consensus);
  asked again in :data:`QUALITY_RETRY_SECONDS`;
- ``waiting_for_leases``: the open work left is leased to other experts; asked again when the
  earliest of those leases ends (at most :data:`LEASE_RETRY_MAX_SECONDS`), or in a second when
  an open slot was being claimed by someone else at that very instant;
- ``reserved_for_senior``: the open work left is extra slots of unsure items, which wait for
  annotators of the project's ``senior_level`` for a while (``Slot.reserved_until``);
  asked again when the earliest reservation ends (at most :data:`LEASE_RETRY_MAX_SECONDS`);
- ``needs_other_experts``: the project still needs labels, but only on items this expert has
  already labelled or skipped; nothing here will open for them (no retry).

A project with no unfinished item says ``queue_empty``. The reason is read only when the claim
came back empty, in one statement of indexed ``EXISTS`` and ``min`` subqueries; a successful
claim never pays for it. The DRF view and the queue's fast path (which hands an empty claim to
Django's path) answer with the same :class:`NoWork`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from annotate.models import Assignment, Item, Project, Slot
from rlhf_platform.experts.models import ExpertProfile

QUALITY_RETRY_SECONDS = 5
LEASE_RETRY_MAX_SECONDS = 300
CLAIM_RACE_RETRY_SECONDS = 1

# The queue's own reason codes (the gates register theirs in annotate.gates).
QUEUE_EMPTY = "queue_empty"
WAITING_FOR_QUALITY = "waiting_for_quality"
WAITING_FOR_LEASES = "waiting_for_leases"
NEEDS_OTHER_EXPERTS = "needs_other_experts"
RESERVED_FOR_SENIOR = "reserved_for_senior"
WAIT_REASONS = (WAITING_FOR_QUALITY, WAITING_FOR_LEASES, RESERVED_FOR_SENIOR)
QUEUE_REASONS = (QUEUE_EMPTY, *WAIT_REASONS, NEEDS_OTHER_EXPERTS)


@dataclass(frozen=True)
class NoWork:
    """Why ``assignment_next`` found nothing: a reason code, a readable message, and for work
    that waits the seconds after which asking again may find some (``Retry-After``)."""

    reason: str
    message: str
    retry_after: int | None = None


def _seconds_until(moment, now) -> int:
    return min(max(math.ceil((moment - now).total_seconds()), 1), LEASE_RETRY_MAX_SECONDS)


def takeable(slots, *, senior: bool, now):
    """``slots`` without those reserved for senior annotators at ``now``, unless ``senior``:
    the claim's rule (annotate/queue/claim.py and the statement in annotate/queue/sql.py)."""
    if senior:
        return slots
    return slots.filter(Q(reserved_until__isnull=True) | Q(reserved_until__lte=now))


def _touched_by(expert: ExpertProfile, item_ref: str) -> Exists:
    # Any assignment (labelled, skipped, expired, held) bars the expert from the item for good.
    return Exists(Assignment.objects.filter(item_id=OuterRef(item_ref), expert_id=expert.pk))


def queue_wait_reason(*, expert: ExpertProfile, project: Project, senior: bool = True) -> NoWork:
    """Why the claim in ``project`` found nothing for ``expert`` (who holds no lease there).
    ``senior``: whether the expert may take reserved slots (the claim's own rule)."""
    now = timezone.now()
    open_slots = Slot.objects.filter(project_id=project.pk, state=Slot.State.OPEN).exclude(
        _touched_by(expert, "item_id")
    )
    mine_open = takeable(open_slots, senior=senior, now=now)
    reserved_end = Slot.objects.none().values("reserved_until")
    if not senior:
        reserved_end = (
            open_slots.filter(reserved_until__gt=now).order_by("reserved_until").values("reserved_until")[:1]
        )
    quality = Item.objects.filter(project_id=project.pk, state=Item.State.LABELLED, is_gold=False).exclude(
        _touched_by(expert, "pk")
    )
    lease_end = (
        Assignment.objects.filter(project_id=project.pk, status=Assignment.Status.ACTIVE, is_gold=False)
        .exclude(expert_id=expert.pk)
        .exclude(_touched_by(expert, "item_id"))
        .order_by("expires_at")
        .values("expires_at")[:1]
    )
    # One EXISTS per state: an index condition each, never a walk over the final items.
    items = Item.objects.filter(project_id=project.pk, is_gold=False)
    row = (
        Project.objects.filter(pk=project.pk)
        .annotate(
            mine_open=Exists(mine_open),
            quality=Exists(quality),
            lease_end=Subquery(lease_end),
            reserved_end=Subquery(reserved_end),
            open_items=Exists(items.filter(state=Item.State.OPEN)),
            labelled_items=Exists(items.filter(state=Item.State.LABELLED)),
        )
        .values("mine_open", "quality", "lease_end", "reserved_end", "open_items", "labelled_items")
        .first()
    )
    if row is None:
        return NoWork(QUEUE_EMPTY, "Nothing to label right now.")
    waits = []
    if row["mine_open"]:
        waits.append(CLAIM_RACE_RETRY_SECONDS)
    if row["quality"]:
        waits.append(QUALITY_RETRY_SECONDS)
    lease_end = row["lease_end"]
    if lease_end is not None:
        waits.append(_seconds_until(lease_end, now))
    reserved = _seconds_until(row["reserved_end"], now) if row["reserved_end"] is not None else None
    if reserved is not None and (not waits or reserved < min(waits)):
        return NoWork(
            RESERVED_FOR_SENIOR,
            f"The items left are unsure ones that wait for annotators of level {project.senior_level} "
            f"or above first; checking again in {reserved} s.",
            reserved,
        )
    if waits:
        seconds = min(waits)
        if row["quality"] and seconds == QUALITY_RETRY_SECONDS:
            return NoWork(
                WAITING_FOR_QUALITY,
                "Labels just submitted are being checked and may open more items; "
                f"checking again in {seconds} s.",
                seconds,
            )
        return NoWork(
            WAITING_FOR_LEASES,
            f"Other experts are finishing the last items; checking again in {seconds} s.",
            seconds,
        )
    if row["open_items"] or row["labelled_items"]:
        return NoWork(
            NEEDS_OTHER_EXPERTS,
            "The items still open need other experts: you have labelled or skipped each of them.",
        )
    return NoWork(QUEUE_EMPTY, "Nothing to label right now.")
