"""The queue's honest answers when the claim finds nothing (annotate/queue/answers.py): work that
waits for the quality step or for other experts' leases is said to wait, with Retry-After; a
finished project is ``queue_empty``. SQLite and PostgreSQL alike; the fast path's parity at the end
(PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from annotate.models import Assignment, Item, Slot
from annotate.quality.services import labels_quality_drain
from annotate.queue import NoWork, assignment_next, assignment_submit
from annotate.queue.answers import (
    LEASE_RETRY_MAX_SECONDS,
    QUALITY_RETRY_SECONDS,
    queue_wait_reason,
)
from tests.factories import BatchFactory, CredentialFactory, ItemFactory, ProjectFactory


def _expert_for(project):
    return CredentialFactory(approved=True, domain=project.domain, level=3).expert


def _next(expert, project):
    return assignment_next(expert=expert, project=project)


def _label(expert, project, choice: str, client_id: str) -> Assignment:
    assignment = _next(expert, project)
    assert isinstance(assignment, Assignment), assignment
    assignment_submit(
        assignment=assignment,
        expert=expert,
        payload={"choice": choice, "strength": 3},
        client_id=client_id,
    )
    return assignment


def _api_next(expert, project):
    client = Client()
    client.force_login(expert.user)
    return client.post("/api/v1/queue/next", {"project": str(project.pk)}, content_type="application/json")


@pytest.mark.django_db
def test_labels_waiting_for_the_quality_step_are_a_wait_then_the_extra_slot_is_offered():
    # Two labels that disagree leave the consensus unsure: the quality step adds a slot.
    project = ProjectFactory(gold_rate=0, overlap=2, max_overlap=4, confidence_threshold=0.99)
    item = ItemFactory(batch=BatchFactory(project=project))
    a, b = _label(_expert_for(project), project, "A", "a"), _label(_expert_for(project), project, "B", "b")
    assert a.item_id == b.item_id == item.pk
    item.refresh_from_db()
    assert item.state == Item.State.LABELLED  # the drain has not run (nothing commits in a test)

    third = _expert_for(project)
    waiting = _next(third, project)
    assert waiting == NoWork("waiting_for_quality", waiting.message, QUALITY_RETRY_SECONDS)
    response = _api_next(third, project)
    assert response.status_code == 204
    assert response["Queue-Reason"] == "waiting_for_quality"
    assert response["Retry-After"] == str(QUALITY_RETRY_SECONDS)
    # Those who labelled it will not get the extra slot: nothing to wait for.
    assert queue_wait_reason(expert=a.expert, project=project).reason == "needs_other_experts"

    assert labels_quality_drain() == 2
    assert Slot.objects.filter(item=item, state=Slot.State.OPEN).exists()
    offered = _next(third, project)
    assert isinstance(offered, Assignment) and offered.item_id == item.pk


@pytest.mark.django_db
def test_work_leased_to_others_is_a_wait_until_the_earliest_lease_ends():
    project = ProjectFactory(gold_rate=0, overlap=1, lease_seconds=120)
    first, second = ItemFactory.create_batch(2, project=project, batch=BatchFactory(project=project))
    holders = [_next(_expert_for(project), project) for _ in range(2)]
    assert {holder.item_id for holder in holders} == {first.pk, second.pk}

    late = _expert_for(project)
    waiting = _next(late, project)
    assert waiting.reason == "waiting_for_leases"
    assert 118 <= waiting.retry_after <= 120  # the lease just taken: 120 s
    # The earliest of the leases counts.
    Assignment.objects.filter(pk=holders[1].pk).update(expires_at=timezone.now() + dt.timedelta(seconds=30))
    response = _api_next(late, project)
    assert response.status_code == 204 and response["Queue-Reason"] == "waiting_for_leases"
    assert 28 <= int(response["Retry-After"]) <= 30
    assert "finishing the last items" in response["Queue-Reason-Message"]
    # A long lease: asked again at most every few minutes.
    Assignment.objects.filter(project=project).update(expires_at=timezone.now() + dt.timedelta(hours=5))
    assert _next(late, project).retry_after == LEASE_RETRY_MAX_SECONDS

    # Once a lease has ended, its item is offered.
    Assignment.objects.filter(pk=holders[0].pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    offered = _next(late, project)
    assert isinstance(offered, Assignment) and offered.item_id == holders[0].item_id


@pytest.mark.django_db
def test_a_lease_on_an_item_the_expert_labelled_is_no_reason_to_wait():
    project = ProjectFactory(gold_rate=0, overlap=2)
    ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    _label(expert, project, "A", "a")
    _next(_expert_for(project), project)  # another expert holds the item's last slot
    answer = _next(expert, project)
    assert answer.reason == "needs_other_experts" and answer.retry_after is None
    assert "Retry-After" not in _api_next(expert, project)


@pytest.mark.django_db
def test_a_finished_project_is_queue_empty():
    project = ProjectFactory(gold_rate=0, overlap=1)
    done = ItemFactory(batch=BatchFactory(project=project))
    hard = ItemFactory(batch=BatchFactory(project=project))
    ItemFactory(batch=BatchFactory(project=project), gold_answer=True)  # a gold item stays open
    expert = _expert_for(project)
    _label(expert, project, "A", "a")
    _label(_expert_for(project), project, "B", "b")
    Item.objects.filter(pk=done.pk).update(state=Item.State.FINAL)
    Item.objects.filter(pk=hard.pk).update(state=Item.State.ADJUDICATION)  # staff's, not experts'
    # Gold only at rate 0 here, so the open gold item is never served as work.
    for who in (expert, _expert_for(project)):
        answer = _next(who, project)
        assert answer == NoWork("queue_empty", "Nothing to label right now.")
        response = _api_next(who, project)
        assert response["Queue-Reason"] == "queue_empty" and "Retry-After" not in response


@pytest.mark.django_db
def test_without_a_project_the_soonest_wait_of_the_expert_s_projects_is_answered():
    slow = ProjectFactory(gold_rate=0, overlap=1, lease_seconds=600)
    ItemFactory(batch=BatchFactory(project=slow))
    domain_expert = _expert_for(slow)
    _next(_expert_for(slow), slow)
    fast = ProjectFactory(gold_rate=0, overlap=1, lease_seconds=60, domain=slow.domain)
    ItemFactory(batch=BatchFactory(project=fast))
    _next(_expert_for(fast), fast)
    answer = assignment_next(expert=domain_expert)
    assert answer.reason == "waiting_for_leases" and 58 <= answer.retry_after <= 60


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_fast_path_and_django_s_path_give_the_same_wait_answer(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the fast path runs on PostgreSQL")
    import annotate.queue.fast_path as queue_fast
    from tests.annotate.test_queue_fast_path import Expert, Server

    monkeypatch.setattr(queue_fast, "_labels_submitted", lambda labels: None)
    project = ProjectFactory(gold_rate=0, overlap=1, lease_seconds=120)
    ItemFactory(batch=BatchFactory(project=project))
    holder, late = _expert_for(project), _expert_for(project)
    with Server() as server:
        status, _headers, body = Expert(server, holder.user).next(project)
        assert status == 200
        status, fast, _body = Expert(server, late.user).next(project)
        django = _api_next(late, project)
        assert status == django.status_code == 204
        assert fast["queue-reason"] == django["Queue-Reason"] == "waiting_for_leases"
        assert abs(int(fast["retry-after"]) - int(django["Retry-After"])) <= 1
        # The same sentence (its count of seconds may differ by the second between the asks).
        assert re.sub(r"\d+", "N", fast["queue-reason-message"]) == re.sub(
            r"\d+", "N", django["Queue-Reason-Message"]
        )

        # The holder's label ends the project: queue_empty on both paths, without Retry-After.
        status, _headers, _stored = Expert(server, holder.user).submit(body["id"])
        assert status == 201
        Item.objects.filter(project=project).update(state=Item.State.FINAL)
        status, fast, _body = Expert(server, late.user).next(project)
        django = _api_next(late, project)
        assert status == django.status_code == 204
        assert fast["queue-reason"] == django["Queue-Reason"] == "queue_empty"
        assert "retry-after" not in fast and "Retry-After" not in django
