"""Finalising items, and what follows: the ``item_finalized`` signal and the lab's webhooks
(``item.finalized``, then ``batch.completed`` and ``project.completed`` when the last item of a
batch or project is final)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from annotate.models import Batch, Item, Project
from annotate.signals import item_finalized
from rlhf_platform.webhooks.services import webhook_emit

_NOT_DONE = (Item.State.OPEN, Item.State.LABELLED, Item.State.ADJUDICATION)


@transaction.atomic
def item_finalize(*, item: Item) -> bool:
    """Mark an ordinary item final (the quality step calls this once its consensus is
    confident, or staff after adjudication). Returns False when it already was: the
    notifications go out once."""
    # Lock the project, then the batch (always in this order): finalisations of one batch wait
    # for each other, so the last one sees every other item final and announces completion
    # exactly once, even when two items finish at the same moment. FOR NO KEY UPDATE: the rows
    # that reference the project (labels, assignments, ...) take FOR KEY SHARE on it when they
    # are inserted, and must neither wait for a finalisation nor deadlock with one.
    project = Project.objects.select_for_update(no_key=True).only("id", "lab_id").get(pk=item.project_id)
    Batch.objects.select_for_update(no_key=True).only("id").get(pk=item.batch_id)
    updated = (
        Item.objects.filter(pk=item.pk, is_gold=False)
        .exclude(state=Item.State.FINAL)
        .update(state=Item.State.FINAL, finalized_at=timezone.now())
    )
    if not updated:
        return False
    item_id, project_id = item.pk, project.pk
    transaction.on_commit(lambda: item_finalized.send(sender=Item, item_id=item_id, project_id=project_id))
    webhook_emit(
        lab_id=project.lab_id,
        event="item.finalized",
        data={
            "item": str(item.uid),
            "external_id": item.external_id,
            "project": str(project_id),
            "batch": str(item.batch_id),
        },
    )
    ordinary = Item.objects.filter(is_gold=False)
    if not ordinary.filter(batch_id=item.batch_id, state__in=_NOT_DONE).exists():
        webhook_emit(
            lab_id=project.lab_id,
            event="batch.completed",
            data={"batch": str(item.batch_id), "project": str(project_id)},
        )
    if not ordinary.filter(project_id=project_id, state__in=_NOT_DONE).exists():
        webhook_emit(lab_id=project.lab_id, event="project.completed", data={"project": str(project_id)})
    return True
