from celery import shared_task

from annotate.ingest.services import batch_ingest


@shared_task(ignore_result=True, acks_late=True)
def batch_ingest_task(batch_id: str) -> None:
    """Ingest a queued batch. Idempotent: a redelivered task finds the batch done and stops."""
    batch_ingest(batch_id=batch_id)


@shared_task(ignore_result=True)
def assignments_expire_task() -> int:
    """Return the slots of expired leases to the pool (beat runs it every 30 s)."""
    from annotate.queue import assignments_expire

    return assignments_expire()


@shared_task(ignore_result=True)
def batches_stalled_sweep_task() -> int:
    """Fail batches whose ingest stopped without a word (beat runs it every 5 minutes)."""
    from annotate.ingest.stalled import batches_stalled_fail

    return len(batches_stalled_fail())
