import logging

from celery import shared_task

from rlhf_platform.webhooks.services import webhook_attempt, webhook_deliveries_claim

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


@shared_task(ignore_result=True)
def webhook_deliver_task(delivery_id: str) -> None:
    """One attempt; on failure, the next one is scheduled with exponential backoff (the
    service has marked the delivery queued)."""
    wait = webhook_attempt(delivery_id=delivery_id)
    if wait is not None:
        webhook_deliver_task.apply_async((delivery_id,), countdown=wait)


@shared_task(ignore_result=True)
def webhook_deliver_batch_task(delivery_ids: list[str]) -> None:
    """The first attempts of several deliveries to one endpoint, one after the other in the
    order they were emitted: a transaction's deliveries go to the broker in a message per
    endpoint, not one each. A failed attempt queues its retry alone, as
    :func:`webhook_deliver_task` does. A delivery whose attempt raises, or whose retry cannot be
    queued, is logged and the others go on; it is left as a lost message leaves it, to the
    sweep: claimed by its attempt, it is due again when the claim runs out; not claimed yet (or
    its retry marked queued), it is taken as lost WEBHOOK_REQUEUE_SECONDS after it was due. So
    are the deliveries of the batch a crashed worker did not reach."""
    for delivery_id in delivery_ids:
        try:
            wait = webhook_attempt(delivery_id=delivery_id)
            if wait is not None:
                webhook_deliver_task.apply_async((delivery_id,), countdown=wait)
        except Exception:
            logger.exception("webhook delivery %s failed in its batch; left to the sweep", delivery_id)


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
