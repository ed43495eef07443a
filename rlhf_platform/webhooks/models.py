"""Webhook endpoints a lab registers, and the log of every delivery and attempt."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from rlhf_platform.accounts.models import Lab

EVENTS = (
    "batch.ingested",
    "batch.completed",
    "item.finalized",
    "item.consensus_revised",
    "project.completed",
)


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    # Kept in clear: the platform must sign with it. Shown to the lab once, at creation.
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list, help_text=f"Subset of {list(EVENTS)}.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["lab", "-created_at"], name="webhook_lab_created")]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event sent to one endpoint, retried until delivered or out of attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    event_id = models.UUIDField(help_text="Same for every endpoint that receives this event.")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When the message for the next attempt went to the broker; cleared when a worker takes it.
    # The sweep queues a due delivery only when this is empty (or the message is long overdue:
    # WEBHOOK_REQUEUE_SECONDS), so a delivery is on the broker at most once at a time.
    queued_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_created"),
            # The minute sweep reads the pending deliveries that are due, out of every one ever made.
            models.Index(
                fields=["next_attempt_at"], name="delivery_pending_due", condition=models.Q(status="pending")
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="delivery_once_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_unique"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"
