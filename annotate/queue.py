"""The assignment queue: hand each expert the right next item, collect exactly k independent
labels per item, never lose or duplicate one.

Guarantees held by the database, not only this code:
- one assignment per (item, expert), so one label per (item, expert) and no gold item twice;
- one live or submitted assignment per slot, and an ordinary item has k slots: no item ever
  holds more than k live or submitted ordinary assignments;
- the claim of a slot is ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent
  experts never wait on each other's rows (on SQLite, writes are serialised instead).
"""

from __future__ import annotations

import json
import random
import uuid
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

import psycopg
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, DateTimeField, Exists, F, OuterRef, Value, When
from django.utils import timezone

from annotate.gates import gate_lease, gate_message, gate_reason
from annotate.labels import label_from_display
from annotate.models import Assignment, Item, ItemReport, Label, Project, Slot
from annotate.quality.tasks import labels_quality_nudge_on_commit
from annotate.queue_answers import NoWork, queue_wait_reason
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import Domain, ExpertProfile
from rlhf_platform.experts.selectors import expertise_levels

_random = random.SystemRandom()

REPORT_REASONS = ("harmful", "broken", "wrong_domain", "unanswerable", "duplicate", "other")


# --- Eligibility ----------------------------------------------------------------------------


def _expert_block(expert: ExpertProfile) -> NoWork | None:
    if not expert.user.is_active:
        return NoWork("inactive", "This account is not active.")
    if expert.suspended_at is not None:
        return NoWork("suspended", "Your account is suspended from labelling.")
    return None


def project_block(
    *,
    expert: ExpertProfile,
    project: Project,
    levels: dict[str, int] | None = None,
    level: int | None = None,
) -> NoWork | None:
    """Why ``expert`` may not work on ``project`` now, or None. ``level`` (the expert's level
    in the project's domain) or ``levels`` (all of them) are read when not given."""
    block = _expert_block(expert)
    if block:
        return block
    if project.status != Project.Status.ACTIVE:
        return NoWork("project_not_active", f"The project is {project.status}.")
    if level is None:
        levels = expertise_levels(expert=expert) if levels is None else levels
        level = levels.get(project.domain.path, 0)
    if level == 0:
        return NoWork("no_credential", f"You need an approved credential in {project.domain.name}.")
    if level < project.min_level:
        return NoWork("level_too_low", f"This project needs level {project.min_level}; yours is {level}.")
    reason = gate_reason(expert=expert, project=project)
    if reason:
        return NoWork(reason, gate_message(reason))
    return None


# The project, its domain and the expert's level there in one statement without the ORM's query
# compiler (which cost more than the query itself on this hot path). The level is
# expertise_level()'s: the highest approved credential in force in the project's domain or below
# it (substr, not LIKE: a domain path may hold LIKE's wildcard "_").
_PROJECT_WITH_LEVEL_SQL = """
SELECT p.*, d.id AS domain__id, d.slug AS domain__slug, d.name AS domain__name,
       d.parent_id AS domain__parent_id, d.path AS domain__path,
       (SELECT max(c.level) FROM experts_credential c JOIN experts_domain cd ON cd.id = c.domain_id
        WHERE c.expert_id = %s AND c.status = 'approved' AND (c.expires_on IS NULL OR c.expires_on >= %s)
          AND (cd.path = d.path OR substr(cd.path, 1, length(d.path) + 1) = d.path || '/')) AS expert_level
FROM annotate_project p JOIN experts_domain d ON d.id = p.domain_id
WHERE p.id = %s
"""


def _uuid(value: Any) -> uuid.UUID | None:
    return value if value is None or isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def project_with_level(*, expert: ExpertProfile, project_id: Any) -> tuple[Project, int] | None:
    """The project (its domain loaded) and the expert's level in its domain, or None."""
    try:
        project_uuid = _uuid(project_id)
    except ValueError:
        return None
    params = [
        ExpertProfile._meta.pk.get_db_prep_value(expert.pk, connection),
        connection.ops.adapt_datefield_value(timezone.now().date()),
        Project._meta.pk.get_db_prep_value(project_uuid, connection),
    ]
    project = next(iter(Project.objects.raw(_PROJECT_WITH_LEVEL_SQL, params)), None)
    if project is None:
        return None
    domain = Domain.from_db(
        connection.alias,
        ["id", "slug", "name", "parent_id", "path"],
        [
            _uuid(project.domain__id),
            project.domain__slug,
            project.domain__name,
            _uuid(project.domain__parent_id),
            project.domain__path,
        ],
    )
    project.domain = domain
    return project, project.expert_level or 0


def projects_open_to(*, expert: ExpertProfile) -> list[Project]:
    """Active projects the expert may work on, oldest first."""
    levels = expertise_levels(expert=expert)
    candidates = (
        Project.objects.filter(status=Project.Status.ACTIVE, domain__path__in=list(levels))
        .select_related("domain")
        .order_by("created_at")
    )
    return [p for p in candidates if project_block(expert=expert, project=p, levels=levels) is None]


# --- Leasing --------------------------------------------------------------------------------


def _shuffled_order(count: int) -> list[int]:
    order = list(range(count))
    _random.shuffle(order)
    return order


def _lease(*, project: Project, expert: ExpertProfile, item: Item, slot: Slot | None) -> Assignment:
    now = timezone.now()
    assignment = Assignment.objects.create(
        project=project,
        item=item,
        expert=expert,
        slot=slot,
        is_gold=slot is None,
        shown_order=_shuffled_order(len(item.responses)),
        leased_at=now,
        expires_at=now + timedelta(seconds=project.lease_seconds),
    )
    return assignment


# The gold claim draws among the first GOLD_WINDOW live gold items the expert has not seen, in
# the order of the pool's partial index (least exposed first, then id), one at random among
# the least exposed of them: exposure spreads evenly over the pool and the claim reads a
# bounded slice of one index, however large the pool.
GOLD_WINDOW = 64


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
    pk = _random.choice([pk for pk, exposures in window if exposures == least])
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


def _claim_slot(*, project: Project, expert: ExpertProfile) -> Assignment | None:
    mine = Assignment.objects.filter(item=OuterRef("item_id"), expert=expert)
    slot = (
        Slot.objects.filter(project_id=project.pk, state=Slot.State.OPEN)
        .exclude(Exists(mine))
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


# The same claim as the ORM path above (gold included), in one round trip: unless the expert
# already holds an unexpired lease in the project (then that one is returned: a double click or
# a reload never leases a second item), take one of the least exposed live gold items the expert
# has not seen when ``gold`` is drawn (counting the exposure, and retiring the item at the
# project's cap, under the item's row lock), or else the first open slot the expert has not
# touched (the partial index slot_open_queue serves the ORDER BY), skipping rows other
# transactions hold; lease it, open the item's next slot, and insert the assignment with the
# responses in a random order.
# Data-modifying CTEs all run to completion, once, so the statement is atomic on its own.
# ``guard`` is a query that returns a row when the expert may have work now: the queue's fast
# path (annotate.queue_fast) re-checks there what must hold at this very instant; Django's path
# has checked already and passes ``SELECT 1``.
_CLAIM_SQL = """
WITH guard AS ({guard}
), held AS (
    SELECT a.id FROM annotate_assignment a
    WHERE a.project_id = %(project)s AND a.expert_id = %(expert)s AND a.status = 'active'
      AND a.expires_at > now()
), gold_window AS (
    SELECT i.id, i.gold_exposures FROM annotate_item i
    WHERE %(gold)s AND i.project_id = %(project)s AND i.gold IS NOT NULL AND i.gold_retired_at IS NULL
      AND EXISTS (SELECT 1 FROM guard) AND NOT EXISTS (SELECT 1 FROM held)
      AND NOT EXISTS (
          SELECT 1 FROM annotate_assignment a WHERE a.item_id = i.id AND a.expert_id = %(expert)s
      )
    ORDER BY i.gold_exposures, i.id
    LIMIT %(window)s
), gold AS (
    SELECT i.id FROM annotate_item i
    WHERE i.id IN (
        SELECT w.id FROM gold_window w
        WHERE w.gold_exposures = (SELECT min(m.gold_exposures) FROM gold_window m)
    )
      AND i.gold_retired_at IS NULL
    ORDER BY random()
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), exposed AS (
    UPDATE annotate_item i SET gold_exposures = i.gold_exposures + 1,
        gold_retired_at = CASE WHEN i.gold_exposures + 1 >= %(cap)s THEN now() END
    FROM gold WHERE i.id = gold.id
), picked AS (
    SELECT s.id, s.item_id, s.idx FROM annotate_slot s
    WHERE s.project_id = %(project)s AND s.state = 'open'
      AND EXISTS (SELECT 1 FROM guard) AND NOT EXISTS (SELECT 1 FROM held) AND NOT EXISTS (SELECT 1 FROM gold)
      AND NOT EXISTS (
          SELECT 1 FROM annotate_assignment a WHERE a.item_id = s.item_id AND a.expert_id = %(expert)s
      )
    ORDER BY s.idx DESC, s.priority DESC, s.item_id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE annotate_slot s SET state = 'leased' FROM picked WHERE s.id = picked.id
    RETURNING s.id, s.item_id, s.idx
), opened AS (
    UPDATE annotate_slot s SET state = 'open' FROM leased
    WHERE s.item_id = leased.item_id AND s.idx = leased.idx + 1 AND s.state = 'waiting'
), claimed AS (
    SELECT leased.item_id, leased.id AS slot_id, false AS is_gold FROM leased
    UNION ALL
    SELECT gold.id, NULL::bigint, true FROM gold
), inserted AS (
    INSERT INTO annotate_assignment
        (id, project_id, item_id, expert_id, slot_id, is_gold, shown_order, status, leased_at, expires_at,
         closed_reason)
    SELECT %(id)s, %(project)s, c.item_id, %(expert)s, c.slot_id, c.is_gold,
           (SELECT jsonb_agg(g ORDER BY random())
            FROM generate_series(0, jsonb_array_length(i.responses) - 1) AS g),
           'active', now(), now() + make_interval(secs => %(lease)s), ''
    FROM claimed c JOIN annotate_item i ON i.id = c.item_id
    RETURNING item_id, slot_id, is_gold, shown_order, leased_at, expires_at
)
SELECT NULL AS held_id, inserted.item_id, inserted.slot_id, inserted.is_gold, inserted.shown_order,
       inserted.leased_at, inserted.expires_at, i.uid, i.prompt, i.responses, i.gold
FROM inserted JOIN annotate_item i ON i.id = inserted.item_id
UNION ALL
SELECT held.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM held
"""


def claim_sql(guard: str = "SELECT 1") -> str:
    """The claim statement with ``guard`` (see above)."""
    return _CLAIM_SQL.format(guard=guard)


def claim_params(*, project: Project, expert_id: Any, gold: bool) -> dict[str, Any]:
    return {
        "project": project.pk,
        "expert": expert_id,
        "gold": gold,
        "id": uuid.uuid4(),
        "lease": project.lease_seconds,
        "cap": project.gold_exposure_cap,
        "window": GOLD_WINDOW,
    }


def claimed_assignment(*, project: Project, expert_id: Any, assignment_id: Any, row: tuple) -> Assignment:
    """The assignment (and its item) the claim statement inserted, from its result row,
    without another query."""
    _held, item_id, slot_id, is_gold, shown_order, leased_at, expires_at, uid, prompt, responses, gold = row
    item = Item(
        id=item_id,
        uid=uid,
        project=project,
        prompt=decode_json(prompt),
        responses=decode_json(responses),
        is_gold=is_gold,
        gold=decode_json(gold),
    )
    assignment = Assignment(
        id=assignment_id,
        project=project,
        item=item,
        expert_id=expert_id,
        slot_id=slot_id,
        is_gold=is_gold,
        shown_order=decode_json(shown_order),
        status=Assignment.Status.ACTIVE,
        leased_at=leased_at,
        expires_at=expires_at,
    )
    # Both rows exist: a later save() must UPDATE them, not INSERT a second row with this id.
    for instance in (item, assignment):
        instance._state.adding = False
        instance._state.db = connection.alias
    return assignment


def _one_statement():
    """Where a single statement that may fail with an IntegrityError runs: bare in autocommit (it
    is atomic on its own), or in a savepoint inside a caller's transaction, which the error would
    otherwise break."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def decode_json(value: Any) -> Any:
    """A JSON column read by a raw cursor: Django's connections hand jsonb over as text."""
    return json.loads(value) if isinstance(value, str) else value


def _claim_postgresql(*, project: Project, expert: ExpertProfile, gold: bool) -> Assignment | None:
    params = claim_params(project=project, expert_id=expert.pk, gold=gold)
    with _one_statement(), connection.cursor() as cursor:
        cursor.execute(claim_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    if row[0] is not None:
        return _held_lease(project=project, expert=expert)
    assignment = claimed_assignment(project=project, expert_id=expert.pk, assignment_id=params["id"], row=row)
    assignment.expert = expert
    return assignment


def _held_lease(*, project: Project, expert: ExpertProfile) -> Assignment | None:
    return (
        Assignment.objects.filter(
            project=project, expert=expert, status=Assignment.Status.ACTIVE, expires_at__gt=timezone.now()
        )
        .select_related("item", "project")
        .first()
    )


def _next_in_project(*, project: Project, expert: ExpertProfile) -> Assignment | None:
    for _attempt in range(3):
        gold = bool(project.gold_rate) and _random.random() < project.gold_rate
        try:
            if connection.vendor == "postgresql":
                # One statement hands back the lease the expert holds, or claims an item.
                return _claim_postgresql(project=project, expert=expert, gold=gold)
            # An unexpired lease the expert already holds here is handed back: a double click or
            # a reload never leases a second item (the database allows one live lease per expert
            # and project; a request that lost that race finds the winner's lease here).
            held = _held_lease(project=project, expert=expert)
            if held is not None:
                return held
            with transaction.atomic():
                assignment = _claim_gold(project=project, expert=expert) if gold else None
                if assignment is None:
                    assignment = _claim_slot(project=project, expert=expert)
                return assignment
        except (IntegrityError, psycopg.IntegrityError):
            # The same expert's other request leased a moment ago, or a lease of theirs has
            # expired without being swept yet (assignment_next sweeps and tries again).
            continue
    return None


def assignment_next(
    *, expert: ExpertProfile, project: Project | None = None, level: int | None = None
) -> Assignment | NoWork:
    """Lease the expert's next item (in ``project``, or in any project open to them).
    ``level``, the expert's level in the project's domain, is read when not given."""
    if project is not None:
        block = project_block(expert=expert, project=project, level=level)
        if block:
            return block
        projects = [project]
    else:
        block = _expert_block(expert)
        if block:
            return block
        projects = projects_open_to(expert=expert)
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
            assignment = _next_in_project(project=candidate, expert=expert)
            if assignment is None and assignments_expire(project=candidate):
                assignment = _next_in_project(project=candidate, expert=expert)
            if assignment is not None:
                return assignment
            searched.append(candidate)
    # Nothing claimed: say whether work waits (annotate.queue_answers), soonest first.
    answers = [queue_wait_reason(expert=expert, project=candidate) for candidate in searched]
    waiting = [answer for answer in answers if answer.retry_after is not None]
    if waiting:
        return min(waiting, key=lambda answer: answer.retry_after)
    return next(
        (answer for answer in answers if answer.reason != "queue_empty"),
        NoWork("queue_empty", "Nothing to label right now."),
    )


# --- Working on an assignment ----------------------------------------------------------------


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
    stored = connection.vendor == "postgresql" and _submit_active_postgresql(label=label, now=now)
    if not stored:
        label, created = _submit_locked(assignment=assignment, expert=expert, label=label, now=now)
        if not created:
            return label, False
    # Run for gold too (where it changes nothing), so that a gold submit takes the same steps
    # and time as an ordinary one.
    _item_mark_labelled(item_id=assignment.item.pk)
    labels_quality_nudge_on_commit()
    return label, True


# The common case of a submit in one statement: the expert's own active assignment, with a
# client_id not used before. The assignment row is locked (a sweeper, a skip or a second submit
# waits, and finds it submitted); its slot is filled, it is marked submitted and the label is
# inserted, all or nothing. Anything else (a retry, an expired or closed assignment, a reused
# client_id) finds no row here and takes _submit_locked's careful path.
_SUBMIT_ACTIVE_SQL = """
WITH a AS (
    SELECT id, slot_id FROM annotate_assignment
    WHERE id = %(assignment)s AND expert_id = %(expert)s AND status = 'active'
      AND NOT EXISTS (SELECT 1 FROM annotate_label WHERE expert_id = %(expert)s AND client_id = %(client_id)s)
    FOR UPDATE
), filled AS (
    UPDATE annotate_slot s SET state = 'filled' FROM a WHERE s.id = a.slot_id
), submitted AS (
    UPDATE annotate_assignment x SET status = 'submitted', submitted_at = %(now)s FROM a WHERE x.id = a.id
    RETURNING x.id
)
INSERT INTO annotate_label ({columns}) SELECT {values} FROM submitted
RETURNING id
"""


def submit_active_statement(*, label: Label, now) -> tuple[str, dict[str, Any]]:
    """The one-statement submit of ``label`` and its parameters. Every column, with the values
    Django itself would insert (defaults and later fields included), so that this statement
    never falls behind the model; each value cast to its column's type, so that the statement
    also runs with server-side binding (the fast path's prepared statements)."""
    fields = list(Label._meta.concrete_fields)
    values = {
        f"v{n}": field.get_db_prep_save(getattr(label, field.attname), connection)
        for n, field in enumerate(fields)
    }
    sql = _SUBMIT_ACTIVE_SQL.format(
        columns=", ".join(connection.ops.quote_name(f.column) for f in fields),
        values=", ".join(f"%(v{n})s::{_cast(field)}" for n, field in enumerate(fields)),
    )
    params = {
        "assignment": label.assignment_id,
        "expert": label.expert_id,
        "client_id": label.client_id,
        "now": now,
        **values,
    }
    return sql, params


def _cast(field) -> str:
    kind = field.db_type(connection)
    return "bigint" if kind == "bigserial" else kind.split("(")[0] if kind.startswith("varchar") else kind


def submit_active_stored(label: Label, now) -> None:
    """Mark ``label`` and its assignment as the submit statement left them."""
    label._state.adding = False
    label._state.db = connection.alias
    assignment = label.assignment
    assignment.status = Assignment.Status.SUBMITTED
    assignment.submitted_at = now


def _submit_active_postgresql(*, label: Label, now) -> bool:
    """Store ``label`` if its assignment is still this expert's active one; False otherwise."""
    sql, params = submit_active_statement(label=label, now=now)
    try:
        with _one_statement(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    except (IntegrityError, psycopg.IntegrityError):
        # The same client_id went with another assignment a moment ago: the careful path
        # says so.
        return False
    if row is None:
        return False
    submit_active_stored(label, now)
    return True


# An ordinary item whose slots are all filled is labelled (waiting for its consensus).
ITEM_MARK_LABELLED_SQL = """
UPDATE annotate_item SET state = 'labelled'
WHERE id = %(item)s AND state = 'open' AND NOT is_gold
  AND NOT EXISTS (SELECT 1 FROM annotate_slot s WHERE s.item_id = annotate_item.id AND s.state <> 'filled')
"""


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


def _release(assignment: Assignment, status: str, reason: str) -> None:
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
    _release(assignment, Assignment.Status.SKIPPED, reason)
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
        _release(assignment, Assignment.Status.SKIPPED, f"reported: {reason}")
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
            _release(assignment, Assignment.Status.EXPIRED, "lease expired")
            count += 1
    return count
