"""Reads of a lab's webhook endpoints and their delivery log, always scoped to the lab."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from rlhf_platform.accounts.models import Lab
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.webhooks.models import WebhookDelivery, WebhookEndpoint


def webhooks_for_lab(*, lab: Lab) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(lab=lab)


def access_webhook_for_lab(*, lab: Lab, webhook_id: Any) -> WebhookEndpoint:
    """The lab's endpoint, or 404 (another lab's endpoint is not found, not forbidden)."""
    endpoint = webhooks_for_lab(lab=lab).filter(pk=webhook_id).first()
    if endpoint is None:
        raise ApplicationError("Webhook not found.", code="not_found", status_code=404)
    return endpoint


def deliveries_for_lab(*, lab: Lab) -> QuerySet[WebhookDelivery]:
    """Every delivery to the lab's endpoints, each with its attempt log loaded."""
    return WebhookDelivery.objects.filter(endpoint__lab=lab).prefetch_related("attempt_log")
