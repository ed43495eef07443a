"""The claim: lease the expert's next item, in both database variants.

PostgreSQL claims in one statement (:func:`claim_plan`, ``SELECT ... FOR UPDATE SKIP LOCKED``
inside, so concurrent experts never wait on each other's rows); SQLite, whose writes are
serialised, claims with the ORM (:func:`_claim_gold`, :func:`_claim_slot`). Both take the same
steps: an unexpired lease the expert holds is handed back; otherwise a live gold item when gold
is drawn, else the first open slot the expert has not touched; the item's next slot opens.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, DateTimeField, Exists, F, OuterRef, Value, When
from django.utils import timezone

from annotate.gates import gate_lease, gate_message, gate_reads_shared
from annotate.models import Assignment, Item, Project, Slot
from annotate.queue import draws
from annotate.queue.answers import QUEUE_EMPTY, NoWork, queue_wait_reason, takeable
from annotate.queue.eligibility import (
    expert_block,
    is_senior,
    project_block,
    project_with_level,
    projects_open_to,
)
from annotate.queue.release import assignments_expire
from annotate.queue.sql import (
    GOLD_WINDOW,
    Plan,
    Statement,
    claim_params,
    claim_sql,
    claimed_assignment,
    plan_run,
)
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expertise_levels

# What the claim statement returns when the expert already holds a lease in the project.
HELD = "held"


# --- PostgreSQL: one statement ------------------------------------------------------------------


def claim_plan(
    *,
    project: Project,
    expert_id: Any,
    senior: bool = False,
    guard: str = "SELECT 1",
    guard_params: dict | None = None,
    commit_async: bool = False,
) -> Plan[Assignment | str | None]:
    """Draw gold at the project's rate and run the claim statement: the new assignment, ``HELD``
    (the expert holds a lease there) or None (nothing claimed, or ``guard`` returned no row).
    ``senior``: the expert may take reserved slots (:func:`~annotate.queue.eligibility.is_senior`).

    The first statement passes over items the quality drain holds; only when it finds nothing
    does the second wait for them. A claim thus never queues behind a drain while other work is
    open, and the last open item of a project is still served (after the drain's commit), not
    answered "retry". ``commit_async``: each statement runs as its own transaction, whose commit
    need not wait for the log's flush (annotate/queue/sql.py ``claim_sql``)."""
    params = {
        **claim_params(project=project, expert_id=expert_id, gold=draws.gold_drawn(project), senior=senior),
        **(guard_params or {}),
    }
    row = yield Statement(claim_sql(guard, skip_held_items=True, commit_async=commit_async), params)
    if row is None:
        row = yield Statement(claim_sql(guard, commit_async=commit_async), params)
    if row is None:
        return None
    if row[0] is not None:
        return HELD
    return claimed_assignment(project=project, expert_id=expert_id, assignment_id=params["id"], row=row)


def _claim_postgresql(*, project: Project, expert: ExpertProfile, senior: bool) -> Assignment | None:
    claimed = plan_run(
        claim_plan(
            project=project, expert_id=expert.pk, senior=senior, commit_async=not connection.in_atomic_block
        )
    )
    if claimed == HELD:
        return _held_lease(project=project, expert=expert)
    if claimed is not None:
        claimed.expert = expert
    return claimed


# --- SQLite: the ORM ----------------------------------------------------------------------------


def _lease(*, project: Project, expert: ExpertProfile, item: Item, slot: Slot | None) -> Assignment:
    now = timezone.now()
    return Assignment.objects.create(
        project=project,
        item=item,
        expert=expert,
        slot=slot,
        is_gold=slot is None,
        shown_order=draws.shuffled_order(len(item.responses)),
        leased_at=now,
        expires_at=now + timedelta(seconds=project.lease_seconds),
    )


def _claim_gold(*, project: Project, expert: ExpertProfile) -> Assignment | None:
    """Lease a live gold item (lab or silver) the expert has not seen, one of the least exposed,
    and count the exposure in the same transaction; the item retires at the project's cap."""
    seen = Assignment.objects.filter(item=OuterRef("pk"), expert=expert)
    window = list(
        Item.objects.filter(project=project, gold__isnull=False, gold_retired_at__isnull=True)
        .exclude(Exists(seen))
        .order_by("gold_exposures", "pk")
        .values_list("pk", "gold_exposures")[:GOLD_WINDOW]
    )
    if not window:
        return None
    least = window[0][1]
    pk = draws.choice([pk for pk, exposures in window if exposures == least])
    now = timezone.now()
    counted = Item.objects.filter(pk=pk, gold_retired_at__isnull=True).update(
        gold_exposures=F("gold_exposures") + 1,
        gold_retired_at=Case(
            When(gold_exposures__gte=project.gold_exposure_cap - 1, then=Value(now)),
            default=None,
            output_field=DateTimeField(),
        ),
    )
    if not counted:
        return None  # retired a moment ago by another claim
    item = Item.objects.get(pk=pk)
    return _lease(project=project, expert=expert, item=item, slot=None)


def _claim_slot(*, project: Project, expert: ExpertProfile, senior: bool) -> Assignment | None:
    mine = Assignment.objects.filter(item=OuterRef("item_id"), expert=expert)
    # A reserved slot waits for a senior annotator while its reservation lasts.
    slots = takeable(
        Slot.objects.filter(project_id=project.pk, state=Slot.State.OPEN), senior=senior, now=timezone.now()
    )
    slot = (
        slots.exclude(Exists(mine))
        .order_by("-idx", "-priority", "item_id")
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("item")
        .first()
    )
    if slot is None:
        return None
    Slot.objects.filter(pk=slot.pk).update(state=Slot.State.LEASED)
    # The next slot of the item opens now, so a second expert can start on it at once, and the
    # item, now one step further, is served before untouched ones.
    Slot.objects.filter(item_id=slot.item_id, idx=slot.idx + 1, state=Slot.State.WAITING).update(
        state=Slot.State.OPEN
    )
    return _lease(project=project, expert=expert, item=slot.item, slot=slot)


def _claim_orm(*, project: Project, expert: ExpertProfile, senior: bool) -> Assignment | None:
    gold = draws.gold_drawn(project)  # drawn first, as the statement's parameters are
    # An unexpired lease the expert already holds here is handed back: a double click or a
    # reload never leases a second item (the database allows one live lease per expert and
    # project; a request that lost that race finds the winner's lease here).
    held = _held_lease(project=project, expert=expert)
    if held is not None:
        return held
    with transaction.atomic():
        assignment = _claim_gold(project=project, expert=expert) if gold else None
        return assignment or _claim_slot(project=project, expert=expert, senior=senior)


# --- Both ---------------------------------------------------------------------------------------


def _held_lease(*, project: Project, expert: ExpertProfile) -> Assignment | None:
    return (
        Assignment.objects.filter(
            project=project, expert=expert, status=Assignment.Status.ACTIVE, expires_at__gt=timezone.now()
        )
        .select_related("item", "project")
        .first()
    )


def _next_in_project(*, project: Project, expert: ExpertProfile, senior: bool) -> Assignment | None:
    claim = _claim_postgresql if connection.vendor == "postgresql" else _claim_orm
    for _attempt in range(3):
        try:
            return claim(project=project, expert=expert, senior=senior)
        except (IntegrityError, psycopg.IntegrityError):
            # The same expert's other request leased a moment ago, or a lease of theirs has
            # expired without being swept yet (assignment_next sweeps and tries again).
            continue
    return None


@gate_reads_shared()
def assignment_next(
    *, expert: ExpertProfile, project: Project | None = None, level: int | None = None
) -> Assignment | NoWork:
    """Lease the expert's next item (in ``project``, or in any project open to them).
    ``level``, the expert's level in the project's domain, is read when not given."""
    if project is not None:
        if level is None:
            level = expertise_levels(expert=expert).get(project.domain.path, 0)
        levels = {project.domain.path: level}
        block = project_block(expert=expert, project=project, level=level)
        if block:
            return block
        projects = [project]
    else:
        block = expert_block(expert)
        if block:
            return block
        levels = expertise_levels(expert=expert)
        projects = projects_open_to(expert=expert, levels=levels)
        if not projects:
            return NoWork("no_eligible_project", "No active project is open to your credentials yet.")
    searched = []
    for candidate in projects:
        # A gate that decides at the instant of the lease (the budget near its end) holds its
        # lock until the lease is written.
        with gate_lease(expert=expert, project=candidate) as reason:
            if reason:
                if project is not None:
                    return NoWork(reason, gate_message(reason))
                continue
            senior = is_senior(project=candidate, level=levels.get(candidate.domain.path, 0))
            assignment = _next_in_project(project=candidate, expert=expert, senior=senior)
            if assignment is None and assignments_expire(project=candidate):
                assignment = _next_in_project(project=candidate, expert=expert, senior=senior)
            if assignment is not None:
                return assignment
            searched.append((candidate, senior))
    # Nothing claimed: say whether work waits (annotate/queue/answers.py), soonest first.
    answers = [
        queue_wait_reason(expert=expert, project=candidate, senior=senior) for candidate, senior in searched
    ]
    waiting = [answer for answer in answers if answer.retry_after is not None]
    if waiting:
        return min(waiting, key=lambda answer: answer.retry_after)
    return next(
        (answer for answer in answers if answer.reason != QUEUE_EMPTY),
        NoWork(QUEUE_EMPTY, "Nothing to label right now."),
    )


def queue_next(*, expert: ExpertProfile, project_id: Any = None) -> Assignment | NoWork:
    """:func:`assignment_next` in the project ``project_id`` (404 when there is none), or in any
    project open to the expert when it is None."""
    if not project_id:
        return assignment_next(expert=expert)
    found = project_with_level(expert=expert, project_id=project_id)
    if found is None:
        raise ApplicationError("Project not found.", code="not_found", field="project", status_code=404)
    project, level = found
    return assignment_next(expert=expert, project=project, level=level)
