"""Delivery to a real HTTP receiver on 127.0.0.1: signed, retried with backoff, logged.

These tests commit (``transaction=True``) so that ``on_commit`` sends the deliveries. Those that
take ``celery_worker`` run against a real worker on Redis when REDIS_URL is set, eagerly
otherwise.
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone

from rlhf_platform.webhooks import services
from rlhf_platform.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rlhf_platform.webhooks.services import (
    webhook_attempt,
    webhook_deliveries_due,
    webhook_emit,
    webhook_endpoint_create,
    webhook_endpoint_update,
)
from tests.factories import LabFactory
from tests.webhooks.receiver import Receiver, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _register(lab, receiver: Receiver, events=("batch.completed",)):
    endpoint, secret = webhook_endpoint_create(lab=lab, url=receiver.url, events=list(events))
    receiver.secret = secret
    return endpoint


def _emit(lab, event: str = "batch.completed", data: dict | None = None) -> list[WebhookDelivery]:
    with transaction.atomic():
        return webhook_emit(lab_id=lab.pk, event=event, data=data or {"batch_id": "b-1"})


def _settled(delivery: WebhookDelivery) -> WebhookDelivery:
    """The delivery once it is no longer pending (delivered or failed for good)."""
    wait_until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status != WebhookDelivery.Status.PENDING)
    return WebhookDelivery.objects.get(pk=delivery.pk)


def _attempt_codes(delivery: WebhookDelivery) -> list[int | None]:
    return list(WebhookAttempt.objects.filter(delivery=delivery).values_list("status_code", flat=True))


def test_an_emitted_event_is_delivered_once_signed_with_event_and_delivery_headers(lab, make_receiver):
    receiver = make_receiver([200])
    _register(lab, receiver)

    [delivery] = _emit(lab, data={"batch_id": "b-1", "items": 3})

    delivery = _settled(delivery)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.delivered_at is not None
    [receipt] = receiver.receipts
    assert receipt.signature_ok
    assert receipt.headers["X-Rlhf-Event"] == "batch.completed"
    assert receipt.headers["X-Rlhf-Delivery"] == str(delivery.pk)
    assert receipt.headers["Content-Type"] == "application/json"
    body = receipt.json
    assert set(body) == {"id", "type", "created", "data"}
    assert body["id"] == str(delivery.event_id)
    assert body["type"] == "batch.completed"
    assert body["data"] == {"batch_id": "b-1", "items": 3}
    assert _attempt_codes(delivery) == [200]


def test_a_rolled_back_emit_sends_nothing(lab, make_receiver):
    receiver = make_receiver([200])
    _register(lab, receiver)

    with pytest.raises(RuntimeError), transaction.atomic():
        webhook_emit(lab_id=lab.pk, event="batch.completed", data={})
        raise RuntimeError("the action that caused the event failed")

    assert not WebhookDelivery.objects.exists()
    assert receiver.receipts == []


def test_a_receiver_failing_twice_then_accepting_gets_one_delivery_and_three_logged_attempts(
    lab, make_receiver, celery_worker
):
    receiver = make_receiver([500, 500, 200])
    _register(lab, receiver)

    [delivery] = _emit(lab)

    delivery = _settled(delivery)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 3
    assert _attempt_codes(delivery) == [500, 500, 200]
    assert len(receiver.successes) == 1
    assert [r.answered for r in receiver.receipts] == [500, 500, 200]
    assert all(r.signature_ok for r in receiver.receipts)
    # The same delivery each time (a receiver deduplicates on it), numbered attempts.
    assert {r.headers["X-Rlhf-Delivery"] for r in receiver.receipts} == {str(delivery.pk)}
    assert [r.headers["X-Rlhf-Attempt"] for r in receiver.receipts] == ["1", "2", "3"]
    assert len({r.body for r in receiver.receipts}) == 1


def test_a_receiver_that_always_fails_leaves_the_delivery_failed_after_max_attempts(
    lab, make_receiver, celery_worker, monkeypatch
):
    monkeypatch.setattr(services, "MAX_ATTEMPTS", 3)
    receiver = make_receiver([503])
    _register(lab, receiver)

    [delivery] = _emit(lab)

    delivery = _settled(delivery)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.next_attempt_at is None
    assert _attempt_codes(delivery) == [503, 503, 503]
    assert len(receiver.receipts) == 3
    # Nothing more: neither a late task nor the sweeper sends it again.
    assert str(delivery.pk) not in webhook_deliveries_due()
    assert webhook_attempt(delivery_id=delivery.pk) is None
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 3
    assert len(receiver.receipts) == 3


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(lab, make_receiver, monkeypatch):
    monkeypatch.setattr(services, "MAX_ATTEMPTS", 1)
    receiver = make_receiver([302, 200])  # the redirect points back at this receiver
    _register(lab, receiver)

    [delivery] = _emit(lab)

    delivery = _settled(delivery)
    assert delivery.status == WebhookDelivery.Status.FAILED
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.status_code == 302
    assert attempt.error == "HTTP 302"
    assert len(receiver.receipts) == 1


def test_an_unreachable_receiver_is_logged_without_a_status_code(lab, make_receiver, monkeypatch):
    monkeypatch.setattr(services, "MAX_ATTEMPTS", 1)
    receiver = make_receiver([200])
    receiver.url = "http://127.0.0.1:9/closed/"  # the discard port: nobody listens there
    _register(lab, receiver)

    [delivery] = _emit(lab)

    delivery = _settled(delivery)
    assert delivery.status == WebhookDelivery.Status.FAILED
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.status_code is None
    assert attempt.error


def test_only_the_labs_active_endpoints_subscribed_to_the_event_receive_it(lab, make_receiver):
    subscribed = make_receiver()
    other_event = make_receiver()
    paused = make_receiver()
    other_lab = make_receiver()
    wanted = _register(lab, subscribed, events=("batch.completed", "item.finalized"))
    _register(lab, other_event, events=("item.finalized",))
    webhook_endpoint_update(endpoint=_register(lab, paused), is_active=False)
    _register(LabFactory(), other_lab)

    deliveries = _emit(lab)

    assert [d.endpoint_id for d in deliveries] == [wanted.pk]
    assert _settled(deliveries[0]).status == WebhookDelivery.Status.DELIVERED
    assert WebhookDelivery.objects.count() == 1
    assert len(subscribed.receipts) == 1
    assert other_event.receipts == paused.receipts == other_lab.receipts == []


def test_one_event_has_one_id_across_the_endpoints_that_receive_it(lab, make_receiver):
    first, second = make_receiver(), make_receiver()
    _register(lab, first)
    _register(lab, second)

    deliveries = _emit(lab)

    for delivery in deliveries:
        _settled(delivery)
    assert first.receipts[0].json["id"] == second.receipts[0].json["id"]
    assert first.receipts[0].headers["X-Rlhf-Delivery"] != second.receipts[0].headers["X-Rlhf-Delivery"]
    assert first.receipts[0].signature_ok and second.receipts[0].signature_ok


def test_a_target_that_has_become_private_is_refused_at_delivery(lab, make_receiver, settings, monkeypatch):
    # Registered while private targets were allowed; by the time of delivery they are not (as
    # when a public host's DNS is pointed at a private address after registration).
    monkeypatch.setattr(services, "MAX_ATTEMPTS", 1)
    receiver = make_receiver([200])
    _register(lab, receiver)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False

    [delivery] = _emit(lab)

    delivery = _settled(delivery)
    assert delivery.status == WebhookDelivery.Status.FAILED
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.status_code is None
    assert attempt.error.startswith("private_target")
    assert receiver.receipts == []


def test_an_attempt_for_an_unknown_or_finished_delivery_does_nothing(lab, make_receiver):
    receiver = make_receiver([200])
    _register(lab, receiver)
    [delivery] = _emit(lab)
    _settled(delivery)

    assert webhook_attempt(delivery_id=uuid.uuid4()) is None
    assert webhook_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.receipts) == 1
    assert json.loads(receiver.receipts[0].body)["type"] == "batch.completed"


@pytest.mark.postgres
def test_a_delivery_is_attempted_while_its_endpoint_row_is_locked(lab, make_receiver):
    # A worker claiming another delivery to this endpoint, or a PATCH of the endpoint, holds a
    # lock on the endpoint row; the claim (SELECT ... FOR UPDATE SKIP LOCKED) must lock only the
    # delivery, or it would skip this one and leave it to the sweeper.
    receiver = make_receiver([200])
    endpoint = _register(lab, receiver)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="batch.completed",
        event_id=uuid.uuid4(),
        payload={"id": "x", "type": "batch.completed", "created": "", "data": {}},
        next_attempt_at=timezone.now(),
    )
    outcome: dict = {}

    def attempt_in_another_connection():
        try:
            outcome["wait"] = webhook_attempt(delivery_id=delivery.pk)
        finally:
            connection.close()

    with transaction.atomic():
        WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        worker = threading.Thread(target=attempt_in_another_connection)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive()

    assert WebhookDelivery.objects.get(pk=delivery.pk).status == WebhookDelivery.Status.DELIVERED
    assert len(receiver.receipts) == 1
