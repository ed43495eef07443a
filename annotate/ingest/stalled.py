"""Batches whose ingest stopped: failed with a reason instead of "ingesting" for ever.

An ingest that raises records its own failure (``batch_ingest``). One whose process died (a
crash, an out-of-memory kill, a deploy during an inline ingest) cannot: the batch stays
``ingesting`` and nothing else would ever touch it. A beat task sweeps those: a batch
ingesting for longer than ``BATCH_STALLED_SECONDS`` without progress is failed with the code
``stalled``. Nothing of it was written (the write is one transaction), so the lab uploads it
again. A batch whose row is locked is being written by a live ingest and is left alone;
progress is the start of the ingest or its last progress write (every few thousand lines).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotate.ingest.services import batch_lines_processed, batch_progressed_at
from annotate.models import Batch, BatchChunk

logger = logging.getLogger(__name__)

SWEEP_LIMIT = 100  # batches per sweep; the next sweep takes the rest


def batches_stalled_fail(*, stalled_seconds: float | None = None) -> list[Batch]:
    """Fail every ingesting batch without progress for ``stalled_seconds`` (default:
    ``BATCH_STALLED_SECONDS``). Returns the batches failed."""
    seconds = settings.BATCH_STALLED_SECONDS if stalled_seconds is None else stalled_seconds
    cutoff = timezone.now() - timedelta(seconds=seconds)
    candidates = Batch.objects.filter(status=Batch.Status.INGESTING, started_at__lte=cutoff).order_by(
        "started_at"
    )[:SWEEP_LIMIT]
    failed = []
    for candidate in candidates:
        progressed = batch_progressed_at(batch=candidate)
        if progressed is not None and progressed > cutoff:
            continue
        with transaction.atomic():
            # SKIP LOCKED: a locked row is held by an ingest that is writing right now.
            locked = (
                Batch.objects.select_for_update(skip_locked=True)
                .filter(pk=candidate.pk, status=Batch.Status.INGESTING)
                .first()
            )
            if locked is None:
                continue
            lines = batch_lines_processed(batch=locked)
            locked.status = Batch.Status.FAILED
            locked.errors = [
                {
                    "line": 0,
                    "field": None,
                    "code": "stalled",
                    "message": (
                        f"The ingest stopped making progress for {int(seconds)} seconds (its worker "
                        "stopped); nothing was written. Upload the batch again."
                    ),
                }
            ]
            locked.error_count = 1
            locked.lines_processed = lines
            locked.finished_at = timezone.now()
            locked.save(update_fields=["status", "errors", "error_count", "lines_processed", "finished_at"])
            BatchChunk.objects.filter(batch=locked).delete()
        logger.warning("batch %s failed as stalled after %s s without progress", locked.pk, int(seconds))
        failed.append(locked)
    return failed
