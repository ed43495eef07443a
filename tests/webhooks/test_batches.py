"""The deliveries of one transaction go to the broker together: one message per endpoint and
up to SEND_BATCH of its deliveries, in the order they were emitted. A rolled-back savepoint
sends none of its own; a delivery whose attempt fails in a batch is left to the sweep, as a
lost single message leaves it.

Messages are counted where Celery publishes them (``Task.apply_async``), whichever task sends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from celery.app.task import Task
from django.db import transaction
from django.utils import timezone

from rlhf_platform.webhooks import services, tasks
from rlhf_platform.webhooks.models import WebhookDelivery
from rlhf_platform.webhooks.services import (
    SEND_BATCH,
    WebhookEvents,
    webhook_emit,
    webhook_endpoint_create,
)
from tests.webhooks.receiver import Receiver, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

DELIVER_TASKS = {tasks.webhook_deliver_task.name, tasks.webhook_deliver_batch_task.name}


@dataclass
class Messages:
    """The webhook messages sent to the broker, each as the list of its delivery ids. With
    ``run`` off they are only recorded (no worker takes them)."""

    run: bool = True
    sent: list[list[str]] = field(default_factory=list)

    def ids(self) -> list[str]:
        return [delivery_id for message in self.sent for delivery_id in message]


def _record(monkeypatch, *, run: bool = True) -> Messages:
    recorded = Messages(run=run)
    publish = Task.apply_async

    def apply_async(task, args=None, kwargs=None, **options):
        if task.name not in DELIVER_TASKS:
            return publish(task, args, kwargs, **options)
        [ids] = args
        recorded.sent.append([str(i) for i in ids] if isinstance(ids, list) else [str(ids)])
        return publish(task, args, kwargs, **options) if recorded.run else None

    monkeypatch.setattr(Task, "apply_async", apply_async)
    return recorded


@pytest.fixture
def messages(monkeypatch) -> Messages:
    return _record(monkeypatch)


def _register(lab, receiver: Receiver, events=("item.finalized", "batch.completed")):
    endpoint, secret = webhook_endpoint_create(lab=lab, url=receiver.url, events=list(events))
    receiver.secret = secret
    return endpoint


def _received(receiver: Receiver) -> list[str]:
    return [receipt.headers["X-Rlhf-Delivery"] for receipt in receiver.receipts]


def _emitted(lab, count: int) -> list[str]:
    """The ids of ``count`` item.finalized deliveries emitted and committed in one transaction."""
    with transaction.atomic():
        events = WebhookEvents()
        deliveries = [
            delivery
            for n in range(count)
            for delivery in events.emit(lab_id=lab.pk, event="item.finalized", data={"item": f"i-{n}"})
        ]
        events.flush()
    return [str(delivery.pk) for delivery in deliveries]


def test_a_transaction_sends_one_message_per_batch_of_an_endpoints_deliveries(
    lab, make_receiver, messages, celery_worker
):
    many, one = make_receiver([200]), make_receiver([200])
    _register(lab, many)
    _register(lab, one, events=("batch.completed",))

    with transaction.atomic():
        events = WebhookEvents()
        emitted = [
            delivery
            for n in range(59)
            for delivery in events.emit(lab_id=lab.pk, event="item.finalized", data={"item": f"i-{n}"})
        ]
        emitted += events.emit(lab_id=lab.pk, event="batch.completed", data={"batch": "b-1"})
        events.flush()
        assert messages.sent == []  # nothing leaves before commit

    to_many = [str(d.pk) for d in emitted if d.endpoint.url == many.url]
    to_one = [str(d.pk) for d in emitted if d.endpoint.url == one.url]
    assert len(to_many) == 60 and len(to_one) == 1
    # 4 messages for 61 deliveries: 25, 25 and 10 to the first endpoint, in the order emitted.
    assert messages.sent == [to_many[:25], to_many[25:50], to_many[50:], to_one]
    wait_until(lambda: len(many.receipts) == 60 and len(one.receipts) == 1)
    assert sorted(_received(many)) == sorted(to_many)  # each once
    assert _received(one) == to_one
    assert all(receipt.signature_ok for receipt in many.receipts + one.receipts)
    delivered = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DELIVERED, attempts=1)
    assert delivered.count() == 61
    assert not WebhookDelivery.objects.filter(queued_at__isnull=False).exists()


def test_a_rolled_back_savepoint_sends_none_of_its_deliveries_and_the_rest_go(lab, make_receiver, messages):
    receiver = make_receiver([200])
    _register(lab, receiver)

    with transaction.atomic():
        events = WebhookEvents()
        kept = [
            delivery
            for n in range(3)
            for delivery in events.emit(lab_id=lab.pk, event="item.finalized", data={"item": f"k-{n}"})
        ]
        events.flush()
        with pytest.raises(RuntimeError), transaction.atomic():
            for n in range(2):
                events.emit(lab_id=lab.pk, event="item.finalized", data={"item": f"undone-{n}"})
            events.flush()
            webhook_emit(lab_id=lab.pk, event="batch.completed", data={"batch": "undone"})
            raise RuntimeError("the step's savepoint rolls back")
        kept += events.emit(lab_id=lab.pk, event="batch.completed", data={"batch": "kept"})
        events.flush()

    kept_ids = [str(d.pk) for d in kept]
    assert messages.sent == [kept_ids[:3], kept_ids[3:]]
    assert _received(receiver) == kept_ids  # eager: sent in order, on commit
    assert sorted(map(str, WebhookDelivery.objects.values_list("pk", flat=True))) == sorted(kept_ids)


@pytest.mark.parametrize("flush_outside", [True, False], ids=["emitted-in-savepoint", "flushed-in-savepoint"])
def test_events_must_be_emitted_and_flushed_in_one_atomic_block(lab, make_receiver, messages, flush_outside):
    # Emitted in a savepoint that rolls back, then flushed outside it: the event was undone and
    # must not be delivered. Emitted outside, flushed in a savepoint that rolls back: the rows
    # and sends would go with it. Both are refused rather than done half.
    receiver = make_receiver([200])
    _register(lab, receiver)

    with pytest.raises(RuntimeError, match="one atomic block"), transaction.atomic():
        events = WebhookEvents()
        if flush_outside:
            with pytest.raises(ValueError), transaction.atomic():
                events.emit(lab_id=lab.pk, event="item.finalized", data={"item": "undone"})
                raise ValueError("the step's savepoint rolls back")
            events.flush()
        else:
            events.emit(lab_id=lab.pk, event="item.finalized", data={"item": "i-1"})
            with transaction.atomic():
                events.flush()

    assert not WebhookDelivery.objects.exists()
    assert messages.sent == [] and receiver.receipts == []


def test_events_in_blocks_without_a_savepoint_of_their_own_flush_with_their_transaction(lab, messages):
    # item_finalize within a step: atomic(savepoint=False) rolls back with the step's transaction.
    webhook_endpoint_create(lab=lab, url="http://127.0.0.1:9/hook", events=["item.finalized"])
    messages.run = False

    with transaction.atomic():
        events = WebhookEvents()
        for n in range(3):
            with transaction.atomic(savepoint=False):
                events.emit(lab_id=lab.pk, event="item.finalized", data={"item": f"i-{n}"})
        events.flush()

    assert [len(message) for message in messages.sent] == [3]


def _later(ids: list[str], *, claimed: bool) -> None:
    """Time passes for the deliveries ``ids``: a claim runs out, or a message (never taken) is
    overdue by more than WEBHOOK_REQUEUE_SECONDS."""
    past = timezone.now() - timedelta(minutes=10)
    if claimed:
        WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=past)
    else:
        WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=past, queued_at=past)


@pytest.mark.parametrize("where", ["before-its-claim", "after-its-claim"])
def test_a_delivery_whose_attempt_raises_does_not_stop_its_batch_and_the_sweep_queues_it_once(
    lab, make_receiver, messages, monkeypatch, settings, where
):
    settings.WEBHOOK_REQUEUE_SECONDS = 300
    receiver = make_receiver([200])
    _register(lab, receiver)
    messages.run = False
    ids = _emitted(lab, 3)
    assert messages.sent == [ids]
    broken = ids[1]
    fault = {broken}  # cleared once the batch has run
    if where == "before-its-claim":
        attempt = tasks.webhook_attempt

        def failing_attempt(*, delivery_id):
            if str(delivery_id) in fault:
                raise RuntimeError("database went away")
            return attempt(delivery_id=delivery_id)

        monkeypatch.setattr(tasks, "webhook_attempt", failing_attempt)
    else:
        post = services.target_post

        def failing_post(*, target, body, headers, timeout):
            if headers["X-Rlhf-Delivery"] in fault:
                raise ValueError("a bug in the sender")
            return post(target=target, body=body, headers=headers, timeout=timeout)

        monkeypatch.setattr(services, "target_post", failing_post)

    tasks.webhook_deliver_batch_task(ids)
    fault.clear()
    messages.sent.clear()

    assert _received(receiver) == [ids[0], ids[2]]
    assert WebhookDelivery.objects.get(pk=broken).status == WebhookDelivery.Status.PENDING
    assert [tasks.webhook_sweep_task() for _ in range(2)] == [0, 0]  # not yet taken for lost
    _later([broken], claimed=where == "after-its-claim")
    assert [tasks.webhook_sweep_task() for _ in range(3)] == [1, 0, 0]
    assert messages.sent == [[broken]]
    tasks.webhook_deliver_task(broken)
    assert sorted(_received(receiver)) == sorted(ids)


def test_the_deliveries_a_dying_batch_did_not_reach_are_queued_once_by_the_sweep(
    lab, make_receiver, messages, monkeypatch, settings
):
    # The worker dies during the second attempt (SystemExit is no Exception: nothing catches it).
    settings.WEBHOOK_REQUEUE_SECONDS = 300
    receiver = make_receiver([200])
    _register(lab, receiver)
    messages.run = False
    ids = _emitted(lab, 4)
    attempt = tasks.webhook_attempt

    def dying_attempt(*, delivery_id):
        if str(delivery_id) == ids[1]:
            raise SystemExit("worker killed")
        return attempt(delivery_id=delivery_id)

    monkeypatch.setattr(tasks, "webhook_attempt", dying_attempt)
    with pytest.raises(SystemExit):
        tasks.webhook_deliver_batch_task(ids)
    monkeypatch.setattr(tasks, "webhook_attempt", attempt)
    messages.sent.clear()

    assert _received(receiver) == ids[:1]
    assert tasks.webhook_sweep_task() == 0  # their message might still be on its way
    _later(ids[1:], claimed=False)
    assert [tasks.webhook_sweep_task() for _ in range(3)] == [3, 0, 0]
    assert sorted(messages.ids()) == sorted(ids[1:])


def test_a_quality_drain_sends_an_endpoints_deliveries_a_batch_to_a_message(messages):
    """The drain of bench.quality_drain's waiting labels (600, pages of 200), the lab with one
    endpoint subscribed to every event: a message for each page's SEND_BATCH deliveries (136
    deliveries were 136 messages when each was sent alone)."""
    from annotate.quality.services import labels_quality_drain
    from bench.quality_drain import setup

    messages.run = False
    setup(labels=600, annotators=30, spread=100, seed=5, webhooks=1)
    assert labels_quality_drain(batch=200) == 600

    deliveries = [str(pk) for pk in WebhookDelivery.objects.values_list("pk", flat=True)]
    assert len(deliveries) > 100
    assert sorted(messages.ids()) == sorted(deliveries)  # each in one message
    assert max(map(len, messages.sent)) == SEND_BATCH
    assert len(messages.sent) <= math.ceil(len(deliveries) / SEND_BATCH) + 3  # 3 pages
