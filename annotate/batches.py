"""Cancelling a batch: its unlabelled items leave the queue, its labelled ones are kept.

What a cancel does, in one transaction under the batch's row lock:

- an ordinary item still ``open`` that nobody has started (no ``filled`` or ``leased`` slot)
  becomes ``cancelled``, and its ``waiting`` and ``open`` slots become ``closed``: the queue
  offers only ``open`` slots (its ORM path and its one-statement SQL path alike), so it is never
  offered again, and the quality step takes no decision on it (no slots added, never final);
- an item with a label or a live lease (``labelled``, ``final``, ``adjudication``, or ``open``
  with a filled or leased slot) is kept as it is and goes on to its consensus, so that the
  expert holding a lease is paid for the label as usual (rewards go to final items). A claim
  that leased a slot while the cancel ran is found after the slots are closed, and its item
  is restored;
- the batch's gold items leave the gold pool (retired); those never answered become
  ``cancelled``.

Idempotent: cancelling a cancelled batch changes nothing and answers the same. A batch still
being received or ingested cannot be cancelled yet (409); a failed batch has no items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from annotate.models import Batch, Item, Label, Slot
from rlhf_platform.accounts.models import ApiKey
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError


@dataclass(frozen=True)
class BatchCancellation:
    batch: Batch
    cancelled_at: datetime
    items_cancelled: int  # items of the batch in the cancelled state
    items_kept: int  # items that had a label: they go on to their consensus
    newly_cancelled: int  # by this call (0 when the batch was cancelled already)


def _counts(batch: Batch) -> tuple[int, int]:
    counts = Item.objects.filter(batch=batch).aggregate(
        total=Count("pk"), cancelled=Count("pk", filter=Q(state=Item.State.CANCELLED))
    )
    return counts["cancelled"], counts["total"] - counts["cancelled"]


def _restore_started(batch: Batch) -> int:
    leased = Slot.objects.filter(item_id=OuterRef("pk"), state__in=[Slot.State.FILLED, Slot.State.LEASED])
    raced = list(
        Item.objects.filter(batch=batch, state=Item.State.CANCELLED, is_gold=False)
        .filter(Exists(leased))
        .values_list("pk", flat=True)
    )
    for item_id in raced:
        Slot.objects.filter(item_id=item_id, state=Slot.State.CLOSED).update(state=Slot.State.WAITING)
        first = Slot.objects.filter(item_id=item_id, state=Slot.State.WAITING).order_by("idx").first()
        if first is not None:
            Slot.objects.filter(pk=first.pk).update(state=Slot.State.OPEN)
        Item.objects.filter(pk=item_id).update(state=Item.State.OPEN)
    return len(raced)


def batch_cancel(*, batch: Batch, actor: Any = None) -> BatchCancellation:
    """Cancel ``batch`` (see the module's docstring). ``actor``: the lab's ``ApiKey`` or the
    person who asked; the audit row names it."""
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        if locked.cancelled_at is not None:
            cancelled, kept = _counts(locked)
            return BatchCancellation(locked, locked.cancelled_at, cancelled, kept, 0)
        if locked.status in (Batch.Status.QUEUED, Batch.Status.INGESTING):
            raise ApplicationError(
                f"The batch is {locked.status}: cancel it once it is ingested.",
                code="batch_not_ingested",
                status_code=409,
            )
        now = timezone.now()
        started = [Slot.State.FILLED, Slot.State.LEASED]
        labelled = Slot.objects.filter(item_id=OuterRef("pk"), state__in=started)
        newly = (
            Item.objects.filter(batch=locked, state=Item.State.OPEN, is_gold=False)
            .exclude(Exists(labelled))
            .update(state=Item.State.CANCELLED)
        )
        answered = Exists(Label.objects.filter(item_id=OuterRef("pk")))
        newly += (
            Item.objects.filter(batch=locked, state=Item.State.OPEN, is_gold=True)
            .exclude(answered)
            .update(state=Item.State.CANCELLED)
        )
        closed = Slot.objects.filter(
            item__batch=locked,
            item__state=Item.State.CANCELLED,
            state__in=[Slot.State.WAITING, Slot.State.OPEN],
        ).update(state=Slot.State.CLOSED)
        # A claim that committed while the two statements above ran leased a slot of an item
        # just cancelled; the slots are locked or closed now, so no other claim can: restore
        # those items as they were (kept, as started).
        newly -= _restore_started(locked)
        retired = Item.objects.filter(batch=locked, gold__isnull=False, gold_retired_at__isnull=True).update(
            gold_retired_at=now
        )
        locked.cancelled_at = now
        locked.save(update_fields=["cancelled_at"])
        cancelled, kept = _counts(locked)
        audit_record(
            action="batch.cancel",
            target=locked,
            actor=None if isinstance(actor, ApiKey) else actor,
            api_key=actor if isinstance(actor, ApiKey) else None,
            data={
                "project": str(locked.project_id),
                "items_cancelled": newly,
                "items_kept": kept,
                "slots_closed": closed,
                "gold_retired": retired,
            },
        )
    return BatchCancellation(locked, now, cancelled, kept, newly)
