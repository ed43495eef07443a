"""The sweep queues a due delivery once, however often it runs (the claim on ``queued_at``).

Broker publishes are counted where the task module makes them (``webhook_deliver_task.delay``).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from rlhf_platform.webhooks import tasks
from rlhf_platform.webhooks.models import WebhookDelivery
from rlhf_platform.webhooks.services import webhook_attempt, webhook_emit
from tests.factories import WebhookDeliveryFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(monkeypatch):
    """Counts the messages the sweep sends to the broker, by delivery (none is sent)."""
    sent: Counter = Counter()
    lock = threading.Lock()

    def delay(delivery_id):
        with lock:
            sent[str(delivery_id)] += 1

    monkeypatch.setattr(tasks.webhook_deliver_task, "delay", delay)
    return sent


def test_repeated_sweeps_queue_each_due_delivery_once(published):
    endpoint = WebhookEndpointFactory()
    lost = WebhookDeliveryFactory.create_batch(7, endpoint=endpoint)  # no message on the broker
    now = timezone.now()
    queued = WebhookDeliveryFactory.create_batch(3, endpoint=endpoint, queued_at=now)  # waiting
    later = WebhookDeliveryFactory(endpoint=endpoint, next_attempt_at=now + timedelta(minutes=5))
    WebhookDeliveryFactory(endpoint=endpoint, status=WebhookDelivery.Status.DELIVERED)

    counts = [tasks.webhook_sweep_task() for _ in range(5)]

    assert counts == [7, 0, 0, 0, 0]
    assert published == Counter({str(d.pk): 1 for d in lost})
    assert not set(published) & {str(d.pk) for d in [*queued, later]}


def test_a_full_sweep_queues_the_next_sweep_rather_than_running_on(published, monkeypatch):
    monkeypatch.setattr(tasks, "SWEEP_BATCH", 4)
    sweeps = []
    monkeypatch.setattr(tasks.webhook_sweep_task, "delay", lambda: sweeps.append(1))
    WebhookDeliveryFactory.create_batch(6, endpoint=WebhookEndpointFactory())

    assert tasks.webhook_sweep_task() == 4
    assert sweeps == [1]
    assert tasks.webhook_sweep_task() == 2
    assert sweeps == [1]
    assert sum(published.values()) == 6


def test_a_long_overdue_message_is_taken_as_lost_and_queued_again_once(published, settings):
    settings.WEBHOOK_REQUEUE_SECONDS = 300
    now = timezone.now()
    overdue = WebhookDeliveryFactory(
        queued_at=now - timedelta(minutes=20), next_attempt_at=now - timedelta(minutes=10)
    )
    recent = WebhookDeliveryFactory(
        queued_at=now - timedelta(minutes=20), next_attempt_at=now - timedelta(minutes=1)
    )

    for _ in range(3):
        tasks.webhook_sweep_task()

    assert published == Counter({str(overdue.pk): 1})
    assert WebhookDelivery.objects.get(pk=recent.pk).queued_at == recent.queued_at


def test_an_emitted_event_is_queued_by_the_emit_and_not_by_the_sweep(published, lab, monkeypatch):
    WebhookEndpointFactory(lab=lab)
    with transaction.atomic():
        [delivery] = webhook_emit(lab_id=lab.pk, event="batch.completed", data={})
    assert published == Counter({str(delivery.pk): 1})  # on commit

    for _ in range(3):
        tasks.webhook_sweep_task()

    assert published == Counter({str(delivery.pk): 1})


def test_a_failed_attempt_marks_its_retry_queued_and_a_taken_message_clears_it(published, monkeypatch):
    from rlhf_platform.webhooks import services

    def refuse(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(services, "target_resolve", refuse)
    delivery = WebhookDeliveryFactory(queued_at=timezone.now())

    wait = webhook_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert wait is not None and delivery.attempts == 1
    assert delivery.queued_at is not None  # the retry the task sends with its countdown
    # Due again (the retry's message is on its way): the sweep leaves it to that message.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    tasks.webhook_sweep_task()
    assert published == Counter()


@pytest.mark.postgres
def test_concurrent_sweeps_queue_each_due_delivery_once(published):
    deliveries = WebhookDeliveryFactory.create_batch(40, endpoint=WebhookEndpointFactory())
    start = threading.Barrier(4)
    errors = []

    def sweep():
        try:
            start.wait(timeout=10)
            for _ in range(3):
                tasks.webhook_sweep_task()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert published == Counter({str(d.pk): 1 for d in deliveries})
