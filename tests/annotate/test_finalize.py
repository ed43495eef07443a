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


@pytest.mark.django_db(transaction=True)
def test_a_step_finalising_many_items_looks_up_the_labs_endpoints_once(received, monkeypatch):
    """The quality step's batch: its webhooks are the deliveries that finalising the items one
    at a time records (the same events, endpoints and order), with one look-up of the lab's
    endpoints and one insert; they are sent after commit, in the same order for each endpoint,
    with one message for each endpoint's deliveries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotate.finalize import Finalisations
    from rlhf_platform.webhooks import tasks
    from rlhf_platform.webhooks.models import WebhookEndpoint

    sent: list[list[str]] = []  # the messages, each the ids of its deliveries
    monkeypatch.setattr(tasks.webhook_deliver_task, "delay", lambda delivery_id: sent.append([delivery_id]))
    monkeypatch.setattr(tasks.webhook_deliver_batch_task, "delay", sent.append)

    def project_with_endpoints():
        project = ProjectFactory()
        for url in ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b"):
            webhook_endpoint_create(lab=project.lab, url=url, events=EVENTS)
        webhook_endpoint_create(lab=project.lab, url="http://127.0.0.1:9/c", events=["batch.completed"])
        batch = BatchFactory(project=project)
        return [ItemFactory(batch=batch, external_id=f"x-{n}") for n in range(3)]

    def sends():
        """What was sent to each endpoint, in order: (event, item); and how many messages.
        Then forgotten."""
        ids = [delivery_id for message in sent for delivery_id in message]
        rows = {
            str(pk): (url.rsplit("/", 1)[1], event, data.get("external_id"))
            for pk, event, url, data in WebhookDelivery.objects.filter(pk__in=ids).values_list(
                "pk", "event", "endpoint__url", "payload__data"
            )
        }
        to: dict[str, list] = {}
        for delivery_id in ids:
            endpoint, event, item = rows[delivery_id]
            to.setdefault(endpoint, []).append((event, item))
        messages = len(sent)
        sent.clear()
        return to, messages

    for item in project_with_endpoints():
        with transaction.atomic():
            item_finalize(item=item)
    one_at_a_time, _messages = sends()

    items = project_with_endpoints()
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        step = Finalisations()
        for item in items:
            item_finalize(item=item, step=step)
        step.close()
        assert sent == []  # nothing leaves before commit
    together, messages = sends()

    assert together == one_at_a_time
    finalized = [("item.finalized", f"x-{n}") for n in range(3)]
    completed = [("batch.completed", None), ("project.completed", None)]
    assert together == {"a": finalized + completed, "b": finalized + completed, "c": completed[:1]}
    assert messages == 3  # one for each endpoint
    endpoints = connection.ops.quote_name(WebhookEndpoint._meta.db_table)
    deliveries = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    sql = [query["sql"] for query in queries.captured_queries]
    assert sum(f"FROM {endpoints}" in statement for statement in sql) == 1
    assert sum(statement.startswith(f"INSERT INTO {deliveries}") for statement in sql) == 1
    assert len(received) == 6  # item_finalized, after commit, for the items of both ways
