from celery import shared_task

from rlhf_platform.webhooks.services import webhook_attempt, webhook_deliveries_due


@shared_task(ignore_result=True)
def webhook_deliver_task(delivery_id: str) -> None:
    """One attempt; on failure, the next one is scheduled with exponential backoff."""
    wait = webhook_attempt(delivery_id=delivery_id)
    if wait is not None:
        webhook_deliver_task.apply_async((delivery_id,), countdown=wait)


@shared_task(ignore_result=True)
def webhook_sweep_task() -> int:
    """Re-send deliveries that are due but whose task was lost (a worker died, a broker restarted)."""
    due = webhook_deliveries_due()
    for delivery_id in due:
        webhook_deliver_task.delay(delivery_id)
    return len(due)
