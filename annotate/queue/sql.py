"""The queue's PostgreSQL statements, and the plans that run them.

A plan is a generator that yields :class:`Statement` s and receives each one's first row (or,
thrown in, its error), then returns its result. The engine writes each plan once; Django's path
runs it on Django's connection (:func:`plan_run`), the ASGI fast path on its own async pool
(annotate/queue/fast_path.py), so both run the very same statements and build their results
with the same code.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Generator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, transaction

from annotate.models import Assignment, Item, Label, Project

T = TypeVar("T")

# The gold claim draws among the first GOLD_WINDOW live gold items the expert has not seen, in
# the order of the pool's partial index (least exposed first, then id), one at random among
# the least exposed of them: exposure spreads evenly over the pool and the claim reads a
# bounded slice of one index, however large the pool.
GOLD_WINDOW = 64


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: dict[str, Any]


Plan = Generator[Statement, "tuple | None", T]


def plan_run(plan: Plan[T]) -> T:
    """Run ``plan`` on Django's connection: each statement bare in autocommit, or in a savepoint
    inside a caller's transaction (an error thrown into the plan leaves that transaction usable)."""
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            statement = plan.throw(error) if error is not None else plan.send(send)
        except StopIteration as done:
            return done.value
        send, error = None, None
        try:
            with _one_statement(), connection.cursor() as cursor:
                cursor.execute(statement.sql, statement.params)
                send = cursor.fetchone() if cursor.description else None
        except Exception as exc:  # handed to the plan, which decides
            error = exc


# The same claim as the ORM variant (annotate/queue/claim.py, gold included), in one round
# trip: unless the expert already holds an unexpired lease in the project (then that one is
# returned: a double click or a reload never leases a second item), take one of the least
# exposed live gold items the expert has not seen when ``gold`` is drawn (counting the
# exposure, and retiring the item at the project's cap, under the item's row lock), or else the
# first open slot the expert has not touched (the partial index slot_open_queue serves the
# ORDER BY) and may take (a slot reserved for senior annotators only while its reservation
# lasts: annotate/queue/eligibility.py is_senior), skipping rows other transactions hold; lease
# it, open the item's next slot, and insert the assignment with the responses in a random order.
# Data-modifying CTEs all run to completion, once, so the statement is atomic on its own.
# ``guard`` is a query that returns a row when the expert may have work now: the queue's fast
# path (annotate.queue.fast_path) re-checks there what must hold at this very instant (its
# session, the expert, the project, the gates' recheck_sql); Django's path has checked already
# and passes ``SELECT 1``.
#
# With ``skip_held_items`` the slot's item is skipped too while another transaction holds it
# FOR UPDATE (the quality drain, taking the item's labels): the key-share lock taken here is the
# one the assignment's foreign key needs anyway, so the claim does not wait at that check until
# the drain commits. Other claims and submits take compatible locks and are not skipped. The
# item just labelled heads the queue (its next slot), so that is where claims met the drain.
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
    SELECT s.id, s.item_id, s.idx FROM annotate_slot s{item_join}
    WHERE s.project_id = %(project)s AND s.state = 'open'
      AND (%(senior)s OR s.reserved_until IS NULL OR s.reserved_until <= now())
      AND EXISTS (SELECT 1 FROM guard) AND NOT EXISTS (SELECT 1 FROM held) AND NOT EXISTS (SELECT 1 FROM gold)
      AND NOT EXISTS (
          SELECT 1 FROM annotate_assignment a WHERE a.item_id = s.item_id AND a.expert_id = %(expert)s
      )
    ORDER BY s.idx DESC, s.priority DESC, s.item_id
    LIMIT 1
    {slot_lock}
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


# A lease need not outlive a database crash. With ``commit_async`` the claim's guard sets its own
# transaction's ``synchronous_commit`` to off (``set_config(..., true)``: for this transaction
# only; every write of the statement needs the guard's row, so the setting is in place before
# the commit), and the commit returns without waiting for the write-ahead log to reach the disk,
# which was most of a claim's time in PostgreSQL under load. What a crash can cost: the leases
# (and gold exposures) of the last fraction of a second, each whole, as if never claimed; the
# database stays consistent. Nothing durable can depend on a lost lease: the log is flushed in
# order, so the synchronous commit of a label flushes the lease it was submitted on. An expert
# whose lease was lost gets 404 on submit; the labelling page says so and loads the next item.
# Only for a statement that is its own transaction: inside a caller's transaction the setting
# would reach the caller's other writes, so Django's path passes it only in autocommit.
_ASYNC_COMMIT_GUARD = "SELECT 1 FROM ({guard}) g WHERE set_config('synchronous_commit', 'off', true) = 'off'"


def claim_sql(guard: str = "SELECT 1", *, skip_held_items: bool = False, commit_async: bool = False) -> str:
    """The claim statement with ``guard``; with ``skip_held_items`` it passes over an item
    another transaction holds FOR UPDATE instead of waiting for it (see above); with
    ``commit_async`` its commit does not wait for the log's flush (above: only when the
    statement runs as its own transaction)."""
    if commit_async:
        guard = _ASYNC_COMMIT_GUARD.format(guard=guard)
    if skip_held_items:
        return _CLAIM_SQL.format(
            guard=guard,
            item_join=" JOIN annotate_item si ON si.id = s.item_id",
            slot_lock="FOR UPDATE OF s SKIP LOCKED FOR KEY SHARE OF si SKIP LOCKED",
        )
    return _CLAIM_SQL.format(guard=guard, item_join="", slot_lock="FOR UPDATE SKIP LOCKED")


def claim_params(*, project: Project, expert_id: Any, gold: bool, senior: bool = False) -> dict[str, Any]:
    """The claim statement's parameters. ``senior``: the expert may take the slots reserved for
    the project's ``senior_level`` (:func:`annotate.queue.eligibility.is_senior`)."""
    return {
        "project": project.pk,
        "expert": expert_id,
        "gold": gold,
        "senior": senior,
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
    fields = Label._meta.concrete_fields
    values = {
        f"v{n}": field.get_db_prep_save(getattr(label, field.attname), connection)
        for n, field in enumerate(fields)
    }
    sql = _submit_active_sql(connection.vendor)
    params = {
        "assignment": label.assignment_id,
        "expert": label.expert_id,
        "client_id": label.client_id,
        "now": now,
        **values,
    }
    return sql, params


@functools.cache
def _submit_active_sql(vendor: str) -> str:
    """The statement's text, the same for every label of a database vendor: built once, since
    the columns' types cost more to look up than the statement takes to run."""
    fields = Label._meta.concrete_fields
    return _SUBMIT_ACTIVE_SQL.format(
        columns=", ".join(connection.ops.quote_name(f.column) for f in fields),
        values=", ".join(f"%(v{n})s::{_cast(field)}" for n, field in enumerate(fields)),
    )


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


# An ordinary item whose slots are all filled is labelled (waiting for its consensus).
ITEM_MARK_LABELLED_SQL = """
UPDATE annotate_item SET state = 'labelled'
WHERE id = %(item)s AND state = 'open' AND NOT is_gold
  AND NOT EXISTS (SELECT 1 FROM annotate_slot s WHERE s.item_id = annotate_item.id AND s.state <> 'filled')
"""


# The fast path's submit reads the assignment it is given, with what a label needs, only when it
# is this expert's active one and ``guard`` (the session's check) returns a row.
_ACTIVE_ASSIGNMENT_SQL = """
SELECT a.is_gold, a.shown_order, a.leased_at, a.item_id, i.uid, i.responses, i.gold, i.is_gold,
       p.id, p.name, p.label_schema, p.schema_version, p.gold_feedback, p.lease_seconds
FROM annotate_assignment a
JOIN annotate_item i ON i.id = a.item_id
JOIN annotate_project p ON p.id = a.project_id
WHERE a.id = %(assignment)s AND a.expert_id = %(expert)s AND a.status = 'active'
  AND EXISTS ({guard}
  )
"""


def active_assignment_sql(guard: str = "SELECT 1") -> str:
    return _ACTIVE_ASSIGNMENT_SQL.format(guard=guard)


def active_assignment_from_row(*, assignment_id: uuid.UUID, expert_id: Any, row: tuple) -> Assignment:
    """The assignment (its item and project, what a label needs) from ``active_assignment_sql``'s row."""
    (
        is_gold,
        shown_order,
        leased_at,
        item_id,
        uid,
        responses,
        gold,
        item_is_gold,
        project_id,
        name,
        label_schema,
        schema_version,
        gold_feedback,
        lease_seconds,
    ) = row
    project = Project(
        id=project_id,
        name=name,
        label_schema=decode_json(label_schema),
        schema_version=schema_version,
        gold_feedback=gold_feedback,
        lease_seconds=lease_seconds,
    )
    item = Item(
        id=item_id,
        uid=uid,
        project=project,
        responses=decode_json(responses),
        gold=decode_json(gold),
        is_gold=item_is_gold,
    )
    return Assignment(
        id=assignment_id,
        project=project,
        item=item,
        expert_id=expert_id,
        is_gold=is_gold,
        shown_order=decode_json(shown_order),
        leased_at=leased_at,
        status=Assignment.Status.ACTIVE,
    )
