from celery import shared_task

from rlhf_platform.webhooks.services import webhook_attempt, webhook_deliveries_claim

SWEEP_BATCH = 500


@shared_task(ignore_result=True)
def webhook_deliver_task(delivery_id: str) -> None:
    """One attempt; on failure, the next one is scheduled with exponential backoff (the
    service has marked the delivery queued)."""
    wait = webhook_attempt(delivery_id=delivery_id)
    if wait is not None:
        webhook_deliver_task.apply_async((delivery_id,), countdown=wait)


@shared_task(ignore_result=True)
def webhook_sweep_task() -> int:
    """Beat, every minute: queue the due deliveries that have no message on the broker (lost
    with a worker or a broker restart), each once. A full batch queues the next sweep at once
    rather than holding the worker."""
    claimed = webhook_deliveries_claim(limit=SWEEP_BATCH)
    for delivery_id in claimed:
        webhook_deliver_task.delay(delivery_id)
    if len(claimed) == SWEEP_BATCH:
        webhook_sweep_task.delay()
    return len(claimed)
