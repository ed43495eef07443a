"""Finalising items, and what follows: the ``item_finalized`` signal and the lab's webhooks
(``item.finalized``, then ``batch.completed`` and ``project.completed`` when the last item of a
batch or project is final)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from annotate.models import Batch, Item, Project
from annotate.signals import item_finalized
from rlhf_platform.webhooks.services import WebhookEvents

_NOT_DONE = (Item.State.OPEN, Item.State.LABELLED, Item.State.ADJUDICATION)


@dataclass
class Finalisations:
    """The items one step finalises in one transaction (the quality step's batch): their
    project and batch rows are locked once each, in the order the first of their items comes,
    and :meth:`close` (after the last of them) announces the batches and projects they
    completed and sends ``item_finalized`` for all of them from one callback after commit."""

    labs: dict[Any, Any] = field(default_factory=dict)  # locked projects: project id -> lab id
    batches: set[Any] = field(default_factory=set)  # locked batches
    done: list[tuple[Any, Any]] = field(default_factory=list)  # (item id, project id) finalised
    touched: dict[Any, Any] = field(default_factory=dict)  # batch id -> project id, in order
    webhooks: WebhookEvents = field(default_factory=WebhookEvents)

    def close(self) -> None:
        """Announce completions (once for each batch, then once for each project) and queue
        the ``item_finalized`` signals, in the transaction that finalised the items."""
        completed: dict[Any, Any] = {}
        for batch_id, project_id in self.touched.items():
            if not _work_left(batch_id=batch_id):
                lab_id = self.labs[project_id]
                self.webhooks.emit(
                    lab_id=lab_id,
                    event="batch.completed",
                    data={"batch": str(batch_id), "project": str(project_id)},
                )
                completed[project_id] = lab_id
        for project_id, lab_id in completed.items():
            if not _work_left(project_id=project_id):
                self.webhooks.emit(
                    lab_id=lab_id, event="project.completed", data={"project": str(project_id)}
                )
        self.webhooks.flush()
        if self.done:
            done = list(self.done)
            transaction.on_commit(lambda: _finalized_send(done))
        self.touched, self.done = {}, []


def _finalized_send(done: list[tuple[Any, Any]]) -> None:
    """``item_finalized`` for each item, after the transaction that finalised them committed.
    The receivers of one transaction's items run in one transaction of their own, so that what
    they leave to its commit goes together (the rewards mark the items due with one insert)."""
    with transaction.atomic():
        for item_id, project_id in done:
            item_finalized.send(sender=Item, item_id=item_id, project_id=project_id)


def item_finalize(*, item: Item, step: Finalisations | None = None) -> bool:
    """Mark an ordinary item final (the quality step calls this once its consensus is
    confident, or staff after adjudication). Returns False when it already was: the
    notifications go out once. Within a ``step`` (:class:`Finalisations`), the project and
    batch locks taken for an earlier item are not taken again, and the completions and the
    signal wait for :meth:`Finalisations.close`."""
    if step is not None:
        # Inside the step's transaction, which rolls back as a whole: no savepoint of its own.
        with transaction.atomic(savepoint=False):
            return _item_finalize(item=item, step=step)
    with transaction.atomic():
        alone = Finalisations()
        finalised = _item_finalize(item=item, step=alone)
        alone.close()
        return finalised


def _item_finalize(*, item: Item, step: Finalisations) -> bool:
    # Lock the project, then the batch (always in this order): finalisations of one batch wait
    # for each other, so the last one sees every other item final and announces completion
    # exactly once, even when two items finish at the same moment. FOR NO KEY UPDATE: the rows
    # that reference the project (labels, assignments, ...) take FOR KEY SHARE on it when they
    # are inserted, and must neither wait for a finalisation nor deadlock with one.
    if item.project_id not in step.labs:
        project = Project.objects.select_for_update(no_key=True).only("id", "lab_id").get(pk=item.project_id)
        step.labs[project.pk] = project.lab_id
    if item.batch_id not in step.batches:
        Batch.objects.select_for_update(no_key=True).only("id").get(pk=item.batch_id)
        step.batches.add(item.batch_id)
    updated = (
        Item.objects.filter(pk=item.pk, is_gold=False)
        .exclude(state=Item.State.FINAL)
        .update(state=Item.State.FINAL, finalized_at=timezone.now())
    )
    if not updated:
        return False
    item_id, project_id = item.pk, item.project_id
    step.webhooks.emit(
        lab_id=step.labs[project_id],
        event="item.finalized",
        data={
            "item": str(item.uid),
            "external_id": item.external_id,
            "project": str(project_id),
            "batch": str(item.batch_id),
        },
    )
    step.done.append((item_id, project_id))
    step.touched.setdefault(item.batch_id, project_id)
    return True


def _work_left(**where) -> bool:
    """Whether an ordinary item of the batch (or project) is not final yet.

    PostgreSQL's planner believes most items match (they do while a batch is young) and, for
    LIMIT 1, prefers a sequential scan that "stops at the first match"; once a batch is mostly
    final it reads every finished item first: 10 to 40 ms at 130,000 items, growing with the
    table, on every finalisation. The (batch_id, state) and (project_id, state) indexes answer
    in 0.3 to 0.5 ms, so sequential scans are off for this one statement (SET LOCAL: inside
    item_finalize's transaction, and reset right after)."""
    unfinished = Item.objects.filter(is_gold=False, state__in=_NOT_DONE, **where)
    if connection.vendor != "postgresql":
        return unfinished.exists()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        try:
            return unfinished.exists()
        finally:
            cursor.execute("SET LOCAL enable_seqscan TO DEFAULT")
