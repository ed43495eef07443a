"""Finalising items: the item_finalized hook and the completion webhooks."""

from __future__ import annotations

import pytest
from django.db import transaction

from annotate.finalize import item_finalize
from annotate.models import Item
from annotate.signals import item_finalized
from rlhf_platform.webhooks.models import WebhookDelivery
from rlhf_platform.webhooks.services import webhook_endpoint_create
from tests.factories import BatchFactory, ItemFactory, ProjectFactory

EVENTS = ["item.finalized", "batch.completed", "project.completed"]


@pytest.fixture
def received():
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    item_finalized.connect(receiver)
    yield calls
    item_finalized.disconnect(receiver)


def _events():
    return list(WebhookDelivery.objects.order_by("created_at", "event").values_list("event", flat=True))


@pytest.mark.django_db(transaction=True)
def test_last_item_of_a_batch_announces_batch_then_project_completion_once(received):
    project = ProjectFactory()
    webhook_endpoint_create(lab=project.lab, url="http://127.0.0.1:9/hook", events=EVENTS)
    first, second = BatchFactory(project=project), BatchFactory(project=project)
    items_first = [ItemFactory(batch=first) for _ in range(2)]
    item_second = ItemFactory(batch=second)
    ItemFactory(batch=first, gold_answer=True)  # gold items never hold completion back

    with transaction.atomic():
        assert item_finalize(item=items_first[0]) is True
    assert _events().count("batch.completed") == 0

    with transaction.atomic():
        item_finalize(item=items_first[1])
    events = _events()
    assert events.count("item.finalized") == 2
    assert events.count("batch.completed") == 1
    assert events.count("project.completed") == 0

    with transaction.atomic():
        item_finalize(item=item_second)
    events = _events()
    assert events.count("batch.completed") == 2
    assert events.count("project.completed") == 1
    completed = WebhookDelivery.objects.filter(event="batch.completed").order_by("created_at")
    assert [d.payload["data"]["batch"] for d in completed] == [str(first.pk), str(second.pk)]

    assert [call["item_id"] for call in received] == [items_first[0].pk, items_first[1].pk, item_second.pk]
    assert Item.objects.get(pk=item_second.pk).state == Item.State.FINAL
    assert Item.objects.get(pk=item_second.pk).finalized_at is not None


@pytest.mark.django_db(transaction=True)
def test_finalising_twice_notifies_once(received):
    item = ItemFactory()
    webhook_endpoint_create(lab=item.project.lab, url="http://127.0.0.1:9/hook", events=["item.finalized"])
    with transaction.atomic():
        assert item_finalize(item=item) is True
    with transaction.atomic():
        assert item_finalize(item=item) is False
    assert len(received) == 1
    assert _events() == ["item.finalized"]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_finalisation_sends_nothing(received):
    item = ItemFactory()
    webhook_endpoint_create(lab=item.project.lab, url="http://127.0.0.1:9/hook", events=["item.finalized"])

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        item_finalize(item=item)
        raise Abort
    assert received == []
    assert _events() == []
    assert Item.objects.get(pk=item.pk).state == Item.State.OPEN


@pytest.mark.django_db
def test_gold_items_are_never_finalised():
    gold = ItemFactory(gold_answer=True)
    assert item_finalize(item=gold) is False
    assert Item.objects.get(pk=gold.pk).state == Item.State.OPEN


@pytest.mark.django_db
def test_the_completion_check_leaves_the_planner_settings_as_it_found_them():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    batch = BatchFactory()
    items = [ItemFactory(batch=batch) for _ in range(2)]
    with transaction.atomic():
        with connection.cursor() as cursor:
            item_finalize(item=items[0])  # work left: the check ran and found an open item
            cursor.execute("SHOW enable_seqscan")
            assert cursor.fetchone()[0] == "on"
            item_finalize(item=items[1])  # the last one: batch and project checks both ran
            cursor.execute("SHOW enable_seqscan")
            assert cursor.fetchone()[0] == "on"
