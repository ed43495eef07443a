"""Unsure items go to senior annotators first: the extra slots the quality step opens on an item
whose consensus is unsure are reserved for annotators of the project's ``senior_level``
for ``contested_hold_seconds``; others are told the work waits (``reserved_for_senior`` with
Retry-After) and take the slot once the reservation ends. SQLite and PostgreSQL alike (the claim
is the ORM on one, one statement on the other); the fast path's parity at the end."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from annotate.models import Assignment, Item, Slot
from annotate.quality.services import labels_quality_drain
from annotate.queue import NoWork, assignment_next, assignment_submit
from tests.factories import BatchFactory, CredentialFactory, ItemFactory, ProjectFactory


def _expert(project, level: int):
    return CredentialFactory(approved=True, domain=project.domain, level=level).expert


def _label(expert, project, choice: str, client_id: str) -> Assignment:
    assignment = assignment_next(expert=expert, project=project)
    assert isinstance(assignment, Assignment), assignment
    assignment_submit(
        assignment=assignment, expert=expert, payload={"choice": choice, "strength": 3}, client_id=client_id
    )
    return assignment


def _unsure_item(project):
    """An item whose two labels (level 2) disagree: the quality step opens an extra slot."""
    item = ItemFactory(batch=BatchFactory(project=project))
    _label(_expert(project, 2), project, "A", "a")
    _label(_expert(project, 2), project, "B", "b")
    labels_quality_drain()  # (already run after the commits where each submit commits)
    assert Item.objects.get(pk=item.pk).state == Item.State.OPEN
    return item


def _project(**overrides):
    settings = {"gold_rate": 0, "overlap": 2, "max_overlap": 4, "confidence_threshold": 0.99}
    return ProjectFactory(**{**settings, **overrides})


@pytest.mark.django_db
def test_an_unsure_items_extra_slot_waits_for_a_senior_annotator_then_for_anyone():
    project = _project(senior_level=3, contested_hold_seconds=600)
    item = _unsure_item(project)
    extra = Slot.objects.get(item=item, state=Slot.State.OPEN)
    assert extra.idx == 2
    assert 590 <= (extra.reserved_until - timezone.now()).total_seconds() <= 600

    junior = _expert(project, 2)
    waiting = assignment_next(expert=junior, project=project)
    assert waiting == NoWork("reserved_for_senior", waiting.message, 300)  # asked again at most every 300 s
    assert "level 3" in waiting.message
    client = Client()
    client.force_login(junior.user)
    response = client.post(
        "/api/v1/queue/next", {"project": str(project.pk)}, content_type="application/json"
    )
    assert response.status_code == 204
    assert response["Queue-Reason"] == "reserved_for_senior" and response["Retry-After"] == "300"

    senior = _expert(project, 3)
    offered = assignment_next(expert=senior, project=project)
    assert isinstance(offered, Assignment) and offered.item_id == item.pk


@pytest.mark.django_db
def test_once_the_reservation_ends_anyone_may_take_the_slot():
    project = _project(senior_level=4, contested_hold_seconds=60)
    item = _unsure_item(project)
    junior = _expert(project, 3)
    waiting = assignment_next(expert=junior, project=project)
    assert waiting.reason == "reserved_for_senior" and 58 <= waiting.retry_after <= 60
    Slot.objects.filter(item=item).update(reserved_until=timezone.now() - dt.timedelta(seconds=1))
    offered = assignment_next(expert=junior, project=project)
    assert isinstance(offered, Assignment) and offered.item_id == item.pk


@pytest.mark.django_db
def test_a_junior_annotator_takes_unreserved_work_before_waiting():
    project = _project(senior_level=3, contested_hold_seconds=600)
    _unsure_item(project)
    fresh = ItemFactory(batch=BatchFactory(project=project))
    offered = assignment_next(expert=_expert(project, 2), project=project)
    assert isinstance(offered, Assignment) and offered.item_id == fresh.pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "reserved"),
    [
        ({"contested_hold_seconds": 0}, False),  # no wait
        ({"senior_level": 2, "min_level": 2}, False),  # everyone who may label is senior
        ({"senior_level": 3, "min_level": 2}, True),
    ],
)
def test_no_reservation_when_the_project_asks_for_none_or_everyone_is_senior(overrides, reserved):
    project = _project(**overrides)
    item = _unsure_item(project)
    extra = Slot.objects.get(item=item, state=Slot.State.OPEN)
    assert (extra.reserved_until is not None) is reserved


@pytest.mark.django_db
def test_the_first_slots_of_an_item_are_never_reserved():
    project = _project(senior_level=4, contested_hold_seconds=600)
    item = ItemFactory(batch=BatchFactory(project=project))
    assert not Slot.objects.filter(item=item, reserved_until__isnull=False).exists()
    offered = assignment_next(expert=_expert(project, 1), project=project)
    assert isinstance(offered, Assignment) and offered.item_id == item.pk
    assert Item.objects.get(pk=item.pk).state == Item.State.OPEN


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_fast_path_applies_the_reservation_as_django_s_path_does(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the fast path runs on PostgreSQL")
    import annotate.queue.fast_path as queue_fast
    from tests.annotate.test_queue_fast_path import Expert, Server

    monkeypatch.setattr(queue_fast, "_labels_submitted", lambda labels: None)
    project = _project(senior_level=3, contested_hold_seconds=600)
    item = _unsure_item(project)
    junior, senior = _expert(project, 2), _expert(project, 3)
    with Server() as server:
        status, headers, _body = Expert(server, junior.user).next(project)
        assert status == 204 and headers["queue-reason"] == "reserved_for_senior"
        status, _headers, body = Expert(server, senior.user).next(project)
        assert status == 200 and body["item"] == str(item.uid)
