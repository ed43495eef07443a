"""Registering webhook endpoints, emitting events and delivering them."""

from __future__ import annotations

import http.client
import json
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rlhf_platform.accounts.models import ApiKey, Lab
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.webhooks.models import EVENTS, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rlhf_platform.webhooks.signing import SIGNATURE_HEADER, sign
from rlhf_platform.webhooks.targets import target_parse, target_post, target_resolve

MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 10
# Sent only by ``webhook_endpoint_test``, to the one endpoint asked for: not in EVENTS, so no
# endpoint can subscribe to it and no domain action emits it.
TEST_EVENT = "webhook.test"
# The most deliveries one message carries (webhook_deliver_batch_task, one endpoint's): their
# first attempts, one after the other at up to TIMEOUT_SECONDS each, end within
# WEBHOOK_REQUEUE_SECONDS (300 s), after which the sweep takes a message's waiting deliveries
# for lost.
SEND_BATCH = 25


def _validate_url(url: str) -> str:
    target_parse(url)
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        target_resolve(url)  # its host resolves to public addresses only (SSRF)
    return url


def _validate_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ApplicationError("Choose at least one event.", code="required", field="events")
    unknown = sorted(set(map(str, events)) - set(EVENTS))
    if unknown:
        raise ApplicationError(
            f"Unknown event(s) {unknown}; choose from {list(EVENTS)}.", code="invalid_choice", field="events"
        )
    return sorted(set(events))


@transaction.atomic
def webhook_endpoint_create(
    *, lab: Lab, url: str, events: list[str], api_key: ApiKey | None = None, actor: Any = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its signing secret (shown once)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        lab=lab, url=_validate_url(url), events=_validate_events(events), secret=secret
    )
    endpoint.full_clean()
    endpoint.save()
    audit_record(
        action="webhook.create",
        target=endpoint,
        actor=actor,
        api_key=api_key,
        data={"url": endpoint.url, "events": endpoint.events},
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: list[str] | None = None,
    is_active: bool | None = None,
    api_key: ApiKey | None = None,
    actor: Any = None,
) -> WebhookEndpoint:
    if url is not None:
        endpoint.url = _validate_url(url)
    if events is not None:
        endpoint.events = _validate_events(events)
    if is_active is not None:
        endpoint.is_active = is_active
    endpoint.full_clean()
    endpoint.save()
    audit_record(
        action="webhook.update",
        target=endpoint,
        actor=actor,
        api_key=api_key,
        data={"url": endpoint.url, "events": endpoint.events, "is_active": endpoint.is_active},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(
    *, endpoint: WebhookEndpoint, api_key: ApiKey | None = None, actor: Any = None
) -> None:
    audit_record(
        action="webhook.delete", target=endpoint, actor=actor, api_key=api_key, data={"url": endpoint.url}
    )
    endpoint.delete()


def _endpoints_of(lab_id: Any) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(lab_id=lab_id, is_active=True))


def _deliveries_build(
    *, endpoints: list[WebhookEndpoint], event: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """The deliveries (unsaved) of one event to those of ``endpoints`` that subscribe to it."""
    assert event in EVENTS, event
    event_id = uuid.uuid4()
    now = timezone.now()
    payload = {"id": str(event_id), "type": event, "created": now.isoformat(), "data": data}
    return [
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            event_id=event_id,
            payload=payload,
            next_attempt_at=now,
            queued_at=now,  # sent to the broker after commit
        )
        for endpoint in endpoints
        if event in endpoint.events
    ]


def _messages(deliveries: list[WebhookDelivery]) -> list[list[str]]:
    """The deliveries' ids as the messages that send them: one per endpoint (the first
    delivery's endpoint first) and at most SEND_BATCH ids each, in the order emitted."""
    by_endpoint: dict[Any, list[str]] = {}
    for delivery in deliveries:
        by_endpoint.setdefault(delivery.endpoint_id, []).append(str(delivery.pk))
    return [
        ids[start : start + SEND_BATCH]
        for ids in by_endpoint.values()
        for start in range(0, len(ids), SEND_BATCH)
    ]


def _messages_send(messages: list[list[str]]) -> None:
    from rlhf_platform.webhooks.tasks import webhook_deliver_batch_task, webhook_deliver_task

    for ids in messages:
        if len(ids) == 1:
            webhook_deliver_task.delay(ids[0])
        else:
            webhook_deliver_batch_task.delay(ids)


def _send_on_commit(deliveries: list[WebhookDelivery]) -> None:
    """Send ``deliveries`` to the broker once the transaction commits, from one callback
    registered here: a rollback of the block this runs in (a savepoint, or the transaction)
    discards it with the rows, so a delivery is never sent for work that was undone."""
    messages = _messages(deliveries)
    if messages:
        transaction.on_commit(lambda: _messages_send(messages))


def _atomic_block() -> tuple[str, ...]:
    """The savepoints enclosing what is written now, outermost first. Two writes with the same
    ones are undone by the same rollbacks (a block without a savepoint rolls back with its
    parent), and so are on-commit callbacks registered beside them: Django drops a callback
    when a savepoint it was registered under rolls back (the connection's ``savepoint_ids``,
    which ``on_commit`` records with each callback)."""
    return tuple(sid for sid in transaction.get_connection().savepoint_ids if sid is not None)


def webhook_emit(*, lab_id: Any, event: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Record a delivery of ``event`` for each subscribed endpoint of the lab, and send them
    after the transaction commits (never inside the request that caused them). A step that
    emits many events in one transaction uses :class:`WebhookEvents`."""
    deliveries = _deliveries_build(endpoints=_endpoints_of(lab_id), event=event, data=data)
    WebhookDelivery.objects.bulk_create(deliveries)
    _send_on_commit(deliveries)
    return deliveries


class WebhookEvents:
    """The events of one transaction, emitted together, with the deliveries
    :func:`webhook_emit` would record for each: each lab's endpoints are looked up once (the
    first time the lab has an event), and the deliveries of every event are inserted with one
    statement by :meth:`flush`, which also queues their sends after commit: one message per
    endpoint for up to SEND_BATCH of its deliveries, in the order emitted. (The quality step
    emits an event per item it finalises: a message each cost its worker a broker round trip
    per item.) Only inside a transaction, and :meth:`flush` before it commits (a step that
    finalises many items flushes once, after the last).

    The events since the last flush must be emitted, and flushed, in one atomic block: their
    rows and sends go with the flush, so an event emitted in a savepoint that rolls back before
    the flush would otherwise be delivered, and one emitted outside a savepoint that the flush
    runs in would be lost with it. Either is refused (RuntimeError)."""

    def __init__(self) -> None:
        self._endpoints: dict[Any, list[WebhookEndpoint]] = {}
        self._unsaved: list[WebhookDelivery] = []
        self._block: tuple[str, ...] = ()  # the atomic block of the unsaved deliveries

    def emit(self, *, lab_id: Any, event: str, data: dict[str, Any]) -> list[WebhookDelivery]:
        if not transaction.get_connection().in_atomic_block:
            # Outside a transaction on_commit runs at once: before the row would exist.
            raise RuntimeError("WebhookEvents is for a transaction: use webhook_emit")
        self._block_check()
        endpoints = self._endpoints.get(lab_id)
        if endpoints is None:
            endpoints = self._endpoints[lab_id] = _endpoints_of(lab_id)
        deliveries = _deliveries_build(endpoints=endpoints, event=event, data=data)
        if deliveries and not self._unsaved:
            self._block = _atomic_block()
        self._unsaved.extend(deliveries)
        return deliveries

    def flush(self) -> None:
        """Insert the deliveries emitted since the last flush, in their order, and queue their
        sends after commit."""
        if self._unsaved:
            self._block_check()
            WebhookDelivery.objects.bulk_create(self._unsaved)
            _send_on_commit(self._unsaved)
            self._unsaved = []

    def _block_check(self) -> None:
        if self._unsaved and _atomic_block() != self._block:
            raise RuntimeError("WebhookEvents: emit and flush the events in one atomic block")


@transaction.atomic
def webhook_endpoint_test(
    *, endpoint: WebhookEndpoint, api_key: ApiKey | None = None, actor: Any = None
) -> WebhookDelivery:
    """Send a ``webhook.test`` event to this endpoint only (whatever it subscribes to, and even
    when paused: the lab asked for it), signed and logged like any delivery."""
    from rlhf_platform.webhooks.tasks import webhook_deliver_task

    event_id = uuid.uuid4()
    now = timezone.now()
    payload = {
        "id": str(event_id),
        "type": TEST_EVENT,
        "created": now.isoformat(),
        "data": {"webhook_id": str(endpoint.pk), "message": "A test event, sent on request."},
    }
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=TEST_EVENT,
        event_id=event_id,
        payload=payload,
        next_attempt_at=now,
        queued_at=now,
    )
    audit_record(
        action="webhook.test",
        target=endpoint,
        actor=actor,
        api_key=api_key,
        data={"delivery": str(delivery.pk)},
    )
    delivery_id = str(delivery.pk)
    transaction.on_commit(lambda: webhook_deliver_task.delay(delivery_id))
    return delivery


def _backoff_seconds(attempt: int) -> float:
    """Exponential: base, 2*base, 4*base, ... capped at an hour."""
    return min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1), 3600.0)


def webhook_attempt(*, delivery_id: Any) -> float | None:
    """Make one delivery attempt. Returns the seconds to wait before the next attempt, or
    None when there is nothing more to do (delivered, failed for good, or not due)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            # ``of=("self",)``: lock the delivery only. Without it PostgreSQL also locks the joined
            # endpoint row, and SKIP LOCKED would then skip (and drop until the sweeper) every
            # other delivery to the same endpoint while one of them is being claimed.
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None or (
            delivery.next_attempt_at and delivery.next_attempt_at > now + timedelta(seconds=1)
        ):
            return None
        # Claim the attempt: another worker that picks the same delivery now finds it not due.
        # Its message is taken: none is on the broker any more.
        number = delivery.attempts + 1
        delivery.attempts = number
        delivery.next_attempt_at = now + timedelta(seconds=TIMEOUT_SECONDS * 3)
        delivery.queued_at = None
        delivery.save(update_fields=["attempts", "next_attempt_at", "queued_at"])

    body = json.dumps(delivery.payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "rlhf-platform-webhooks/1",
        SIGNATURE_HEADER: sign(secret=delivery.endpoint.secret, body=body),
        "X-Rlhf-Event": delivery.event,
        "X-Rlhf-Delivery": str(delivery.pk),
        "X-Rlhf-Attempt": str(number),
    }
    status_code: int | None = None
    error = ""
    started = time.perf_counter()
    try:
        # Resolved and checked at each attempt (a host that resolved to a public address when it
        # was registered may resolve to a private one now), and the request goes to the very
        # addresses checked: never resolved a second time (DNS rebinding).
        target = target_resolve(delivery.endpoint.url)
        status_code = target_post(target=target, body=body, headers=headers, timeout=TIMEOUT_SECONDS)
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"  # a redirect included: never followed
    except ApplicationError as exc:
        error = f"{exc.code}: {exc.message}"[:500]
    except (OSError, http.client.HTTPException) as exc:
        error = (str(exc) or type(exc).__name__)[:500]
    duration_ms = int((time.perf_counter() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300

    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery, number=number, status_code=status_code, error=error, duration_ms=duration_ms
        )
        if ok:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
            wait = None
        elif number >= MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
            wait = None
        else:
            wait = _backoff_seconds(number)
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=wait)
            delivery.queued_at = timezone.now()  # the caller queues the retry
        delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "queued_at"])
    return wait


def webhook_deliveries_due(*, limit: int = 500) -> list[str]:
    """Pending deliveries whose time has come, queued or not."""
    return [
        str(pk)
        for pk in WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)[:limit]
    ]


def webhook_deliveries_claim(*, limit: int = 500) -> list[str]:
    """Claim, for the sweep to queue, the due deliveries that have no message on the broker:
    none was sent (the broker was down when it should have been), or the one sent is overdue
    by more than WEBHOOK_REQUEUE_SECONDS and taken as lost (a broker restart). The claim
    (``queued_at``) commits before the caller queues them, so a sweep running again, or two
    at once, queues each delivery once."""
    now = timezone.now()
    lost = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_SECONDS)
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=lost, next_attempt_at__lt=lost))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(queued_at=now)
    return [str(pk) for pk in ids]
