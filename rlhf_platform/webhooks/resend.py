"""Sending a delivery again on the lab's request (the console's delivery log).

A delivered or failed delivery goes back to pending and is queued for one more attempt, signed
and logged like the others; its payload and event id are the first ones, so a receiver that
keeps the ids it has handled can tell a resend from a new event. A resend that fails is not
retried again (the delivery has used its attempts): the lab resends it once more if it wants.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from rlhf_platform.accounts.roles import Action, action_require
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.webhooks.models import WebhookDelivery


@transaction.atomic
def webhook_delivery_resend(*, delivery: WebhookDelivery, actor: Any) -> WebhookDelivery:
    """Queue one more attempt of ``delivery``; 409 while it is still pending (its own retries
    are under way)."""
    from rlhf_platform.webhooks.tasks import webhook_deliver_task

    action_require(actor, Action.LAB_SETTINGS_MANAGE)
    locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if locked.status == WebhookDelivery.Status.PENDING:
        raise ApplicationError(
            "This delivery is still pending: its next attempt is already scheduled.",
            code="delivery_pending",
            status_code=409,
        )
    now = timezone.now()
    previous = locked.status
    locked.status = WebhookDelivery.Status.PENDING
    locked.next_attempt_at = now
    locked.queued_at = now  # sent to the broker below, after commit
    locked.delivered_at = None
    locked.save(update_fields=["status", "next_attempt_at", "queued_at", "delivered_at"])
    audit_record(
        action="webhook.resend",
        target=locked,
        actor=actor,
        data={"endpoint": str(locked.endpoint_id), "event": locked.event, "was": previous},
    )
    delivery_id = str(locked.pk)
    transaction.on_commit(lambda: webhook_deliver_task.delay(delivery_id))
    return locked
