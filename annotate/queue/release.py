"""Giving a lease back: heartbeat (extend), skip, report, the sweep of expired leases, and
:func:`assignment_release`, which every one of them (and the per-project suspension) uses."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from annotate.models import Assignment, Item, ItemReport, Project, Slot
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import ExpertProfile

REPORT_REASONS = ("harmful", "broken", "wrong_domain", "unanswerable", "duplicate", "other")


def _lock_own(assignment: Assignment, expert: ExpertProfile, *related: str) -> Assignment:
    """The assignment re-read under a row lock, or 404 when it is not this expert's."""
    # Only the assignment's own row is locked (of=self), whatever is read along with it: a lock
    # on the shared project row would serialise, and deadlock, every expert of the project.
    query = Assignment.objects.select_for_update(of=("self",))
    if related:  # select_related() with no names would follow, and join, every foreign key
        query = query.select_related(*related)
    locked = query.get(pk=assignment.pk)
    if locked.expert_id != expert.pk:
        raise ApplicationError("Assignment not found.", code="not_found", status_code=404)
    return locked


@transaction.atomic
def assignment_extend(*, assignment: Assignment, expert: ExpertProfile) -> Assignment:
    """Heartbeat: push the lease's expiry to a full lease length from now."""
    assignment = _lock_own(assignment, expert, "project")
    if assignment.status != Assignment.Status.ACTIVE:
        raise ApplicationError(
            f"This assignment is {assignment.status}; it cannot be extended.",
            code="lease_expired" if assignment.status == Assignment.Status.EXPIRED else "assignment_closed",
            status_code=409,
        )
    assignment.expires_at = timezone.now() + timedelta(seconds=assignment.project.lease_seconds)
    assignment.save(update_fields=["expires_at"])
    return assignment


def assignment_release(*, assignment: Assignment, status: str, reason: str) -> None:
    """Close ``assignment`` with ``status`` (skipped, released, expired) and ``reason``, and give
    its slot back to the pool (or close it, when the item's batch was cancelled). The caller
    holds the assignment's row lock, in a transaction."""
    # Only an active assignment holds its slot. An expired one gave it back when it expired,
    # and the slot may be leased to another expert since: reopening it would hand it out twice.
    held_slot_id = assignment.slot_id if assignment.status == Assignment.Status.ACTIVE else None
    assignment.status = status
    assignment.closed_reason = reason[:500]
    assignment.save(update_fields=["status", "closed_reason"])
    if held_slot_id is not None:
        # The slot of an item whose batch was cancelled (annotate/batches.py) closes instead.
        held = Slot.objects.filter(pk=held_slot_id, state=Slot.State.LEASED)
        held.filter(item__state=Item.State.CANCELLED).update(state=Slot.State.CLOSED)
        Slot.objects.filter(pk=held_slot_id, state=Slot.State.LEASED).update(state=Slot.State.OPEN)


@transaction.atomic
def assignment_skip(*, assignment: Assignment, expert: ExpertProfile, reason: str) -> Assignment:
    """Give the item back; its slot returns to the pool and the expert never gets it again."""
    assignment = _lock_own(assignment, expert)
    if assignment.status not in (Assignment.Status.ACTIVE, Assignment.Status.EXPIRED):
        raise ApplicationError(
            f"This assignment is {assignment.status}.", code="assignment_closed", status_code=409
        )
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Say why you skip (e.g. 'outside my expertise').", code="required", field="reason"
        )
    assignment_release(assignment=assignment, status=Assignment.Status.SKIPPED, reason=reason)
    return assignment


@transaction.atomic
def assignment_report(
    *, assignment: Assignment, expert: ExpertProfile, reason: str, details: str = ""
) -> ItemReport:
    """Report a problem in the item's content; the assignment is released like a skip."""
    if reason not in REPORT_REASONS:
        raise ApplicationError(
            f"reason is one of {list(REPORT_REASONS)}.", code="invalid_choice", field="reason"
        )
    assignment = _lock_own(assignment, expert)
    report = ItemReport.objects.create(
        assignment=assignment, item_id=assignment.item_id, reason=reason, details=details[:5000]
    )
    if assignment.status in (Assignment.Status.ACTIVE, Assignment.Status.EXPIRED):
        assignment_release(
            assignment=assignment, status=Assignment.Status.SKIPPED, reason=f"reported: {reason}"
        )
    return report


def assignments_expire(*, project: Project | None = None, now=None, limit: int = 1000) -> int:
    """Expire leases past their time and return their slots to the pool. Idempotent."""
    now = now or timezone.now()
    due = Assignment.objects.filter(status=Assignment.Status.ACTIVE, expires_at__lte=now)
    if project is not None:
        due = due.filter(project=project)
    count = 0
    with transaction.atomic():
        for assignment in due.select_for_update(skip_locked=True).order_by("expires_at")[:limit]:
            assignment_release(
                assignment=assignment, status=Assignment.Status.EXPIRED, reason="lease expired"
            )
            count += 1
    return count
