"""The submit: store an expert's label exactly once, in both database variants.

The common case (the expert's own active assignment, a ``client_id`` not used before) is one
statement on PostgreSQL (:func:`submit_active_plan`); every other case, and every submit on
SQLite, takes :func:`_submit_locked`'s careful path under the assignment's row lock. A stored
label is announced with the ``label_submitted`` hook once its transaction commits
(annotate/queue/hooks.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotate.labels import label_from_display
from annotate.models import Assignment, Item, Label, Slot
from annotate.queue.hooks import label_submitted_on_commit
from annotate.queue.sql import (
    ITEM_MARK_LABELLED_SQL,
    Plan,
    Statement,
    active_assignment_from_row,
    active_assignment_sql,
    plan_run,
    submit_active_statement,
    submit_active_stored,
)
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import ExpertProfile


def access_assignment_for_expert(*, expert: ExpertProfile, assignment_id: Any) -> Assignment:
    assignment = (
        Assignment.objects.select_related("item", "project", "project__domain")
        .filter(pk=assignment_id, expert=expert)
        .first()
    )
    if assignment is None:
        raise ApplicationError("Assignment not found.", code="not_found", status_code=404)
    return assignment


def label_build(
    *, assignment: Assignment, expert: ExpertProfile, payload: dict[str, Any], client_id: str, now
) -> Label:
    """The label a submit would store, validated (400 with field errors), not yet saved."""
    client_id = (client_id or "").strip()
    if not client_id or len(client_id) > 100:
        raise ApplicationError(
            "Send a client_id (1 to 100 characters) with each submit.", code="required", field="client_id"
        )
    project, item = assignment.project, assignment.item
    canonical = label_from_display(
        schema=project.label_schema,
        payload=payload,
        shown_order=assignment.shown_order,
        responses=item.responses,
    )
    return Label(
        assignment=assignment,
        project=project,
        item=item,
        expert=expert,
        client_id=client_id,
        is_gold=assignment.is_gold,
        choice=canonical.choice,
        strength=canonical.strength,
        ranking=canonical.ranking,
        criteria=canonical.criteria,
        rationale=canonical.rationale,
        active_seconds=canonical.active_seconds,
        lease_seconds=(now - assignment.leased_at).total_seconds(),
        schema_version=project.schema_version,
        created_at=now,
    )


def assignment_submit(
    *, assignment: Assignment, expert: ExpertProfile, payload: dict[str, Any], client_id: str
) -> tuple[Label, bool]:
    """Store the expert's label. Returns (label, created). A retry with the same ``client_id``
    returns the first label; a lease that expired is accepted while its slot is still free
    and refused (409) once another expert holds it. The label is validated (400 with field
    errors) before anything is written."""
    now = timezone.now()
    label = label_build(assignment=assignment, expert=expert, payload=payload, client_id=client_id, now=now)
    stored = connection.vendor == "postgresql" and plan_run(submit_active_plan(label=label, now=now))
    if not stored:
        label, created = _submit_locked(assignment=assignment, expert=expert, label=label, now=now)
        if not created:
            return label, False
    # Run for gold too (where it changes nothing), so that a gold submit takes the same steps
    # and time as an ordinary one.
    _item_mark_labelled(item_id=assignment.item.pk)
    label_submitted_on_commit(label)
    return label, True


def submit_active_plan(*, label: Label, now) -> Plan[bool]:
    """Store ``label`` if its assignment is still this expert's active one; False otherwise
    (then :func:`_submit_locked` says what happened)."""
    sql, params = submit_active_statement(label=label, now=now)
    try:
        row = yield Statement(sql, params)
    except (IntegrityError, psycopg.IntegrityError):
        # The same client_id went with another assignment a moment ago: the careful path
        # says so.
        return False
    if row is None:
        return False
    submit_active_stored(label, now)
    return True


def submit_plan(
    *,
    assignment_id: uuid.UUID,
    expert_id: Any,
    payload: dict[str, Any],
    client_id: str,
    guard: str = "SELECT 1",
    guard_params: dict | None = None,
) -> Plan[tuple[Assignment, Label] | None]:
    """The whole common case of a submit in autocommit, for a transport that runs statements
    itself (the fast path): read the expert's active assignment (when ``guard`` returns a row),
    build and validate the label, store it, and mark the item labelled once the submit has
    committed (of two experts filling an item's last slots at once, the later sees both
    filled). None when anything else holds (no such lease, an invalid label, a reused
    ``client_id``): :func:`assignment_submit` answers that case. The caller sends
    ``label_submitted`` for the label returned."""
    row = yield Statement(
        active_assignment_sql(guard),
        {**(guard_params or {}), "assignment": assignment_id, "expert": expert_id},
    )
    if row is None:
        return None
    assignment = active_assignment_from_row(assignment_id=assignment_id, expert_id=expert_id, row=row)
    now = timezone.now()
    try:
        label = label_build(
            assignment=assignment,
            expert=ExpertProfile(pk=expert_id),
            payload=payload,
            client_id=client_id,
            now=now,
        )
    except (ApplicationError, ValidationError):
        return None  # invalid: Django's path names the fields
    stored = yield from submit_active_plan(label=label, now=now)
    if not stored:
        return None
    # Run for gold too (where it changes nothing): the same steps and time as an ordinary item.
    yield Statement(ITEM_MARK_LABELLED_SQL, {"item": assignment.item_id})
    return assignment, label


def _item_mark_labelled(*, item_id: int) -> None:
    """An ordinary item whose slots are all filled is labelled (waiting for its consensus)."""
    if connection.in_atomic_block:
        # Two experts filling an item's last slots at once would each see the other's slot
        # unfilled: the item's lock makes the second look after the first has committed.
        with transaction.atomic():
            Item.objects.select_for_update().filter(pk=item_id).values("pk").get()
            with connection.cursor() as cursor:
                cursor.execute(ITEM_MARK_LABELLED_SQL, {"item": item_id})
    else:
        # Outside a transaction each submit has committed before it looks, so the later of
        # two concurrent submits sees both slots filled: no lock is needed.
        with connection.cursor() as cursor:
            cursor.execute(ITEM_MARK_LABELLED_SQL, {"item": item_id})


@transaction.atomic
def _submit_locked(*, assignment: Assignment, expert: ExpertProfile, label: Label, now) -> tuple[Label, bool]:
    """Every case of a submit, under the assignment's row lock: a retry, a double click, an
    expired lease, a closed assignment, a client_id used elsewhere."""
    existing = Label.objects.filter(expert=expert, client_id=label.client_id).first()
    if existing is not None:
        if existing.assignment_id != assignment.pk:
            raise ApplicationError(
                "This client_id was used for another assignment.",
                code="client_id_reused",
                field="client_id",
                status_code=409,
            )
        return existing, False
    # Lock the assignment row: the sweeper, skip and a concurrent submit lock it too, so while
    # we hold it nobody can expire it, hand its slot to someone else or submit it twice.
    current = Assignment.objects.select_for_update().values("status", "expert_id").get(pk=assignment.pk)
    if current["expert_id"] != expert.pk:
        raise ApplicationError("Assignment not found.", code="not_found", status_code=404)
    status = current["status"]
    if status == Assignment.Status.SUBMITTED:
        # A double click: the other request stored the label while we waited for the lock.
        existing = Label.objects.filter(assignment_id=assignment.pk, client_id=label.client_id).first()
        if existing is not None:
            return existing, False
        raise ApplicationError(
            "This assignment was already submitted.", code="already_submitted", status_code=409
        )
    if status in (Assignment.Status.SKIPPED, Assignment.Status.RELEASED):
        raise ApplicationError(f"This assignment was {status}.", code="assignment_closed", status_code=409)

    if assignment.slot_id is not None:
        if status == Assignment.Status.EXPIRED:
            # The sweeper gave the slot back. Still free: take it again. Taken: too late.
            Slot.objects.select_for_update().filter(pk=assignment.slot_id).values("pk").get()
            taken = Assignment.objects.filter(
                slot_id=assignment.slot_id,
                status__in=[Assignment.Status.ACTIVE, Assignment.Status.SUBMITTED],
            ).exists()
            if taken:
                raise ApplicationError(
                    "Your lease expired and another expert now holds this item; your label was not needed.",
                    code="lease_expired",
                    status_code=409,
                )
        # An active assignment's slot is leased to it; nobody else can hold it.
        Slot.objects.filter(pk=assignment.slot_id).update(state=Slot.State.FILLED)

    assignment.status = Assignment.Status.SUBMITTED
    assignment.submitted_at = now
    assignment.save(update_fields=["status", "submitted_at"])
    label.save(force_insert=True)
    return label, True
