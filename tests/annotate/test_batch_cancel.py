"""Cancelling a batch: unlabelled items leave the queue (ORM path on SQLite, the one-statement
claim on PostgreSQL), labelled ones are kept, idempotent, audited; through the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotate.batches import _restore_started, batch_cancel
from annotate.models import Assignment, Batch, Item, Slot
from annotate.progress import batch_progress
from annotate.quality.consensus_update import Action, overlap_decision
from annotate.queue import NoWork, assignment_next, assignment_submit, assignments_expire
from rlhf_platform.audit.models import AuditEvent
from tests.factories import (
    AssignmentFactory,
    BatchFactory,
    CredentialFactory,
    ItemFactory,
    LabelFactory,
    LabFactory,
    ProjectFactory,
    make_api_key,
)

pytestmark = pytest.mark.django_db


def _expert_for(project):
    return CredentialFactory(approved=True, domain=project.domain, level=3).expert


def _state(item) -> str:
    item.refresh_from_db()
    return item.state


def _slots(item) -> list[str]:
    return list(Slot.objects.filter(item=item).order_by("idx").values_list("state", flat=True))


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab, gold_rate=0, overlap=3)


def test_unlabelled_items_leave_the_queue_and_labelled_ones_are_kept(project):
    batch = BatchFactory(project=project)
    fresh = ItemFactory(batch=batch, external_id="fresh")
    started = ItemFactory(batch=batch, external_id="started")
    LabelFactory(item=started)
    final = ItemFactory(batch=batch, external_id="final")
    Item.objects.filter(pk=final.pk).update(state=Item.State.FINAL)
    gold = ItemFactory(batch=batch, external_id="gold", gold_answer=True)
    answered_gold = ItemFactory(batch=batch, external_id="answered-gold", gold_answer=True)
    LabelFactory(item=answered_gold)
    other_batch_item = ItemFactory(batch=BatchFactory(project=project), external_id="other")

    result = batch_cancel(batch=batch, actor=None)

    assert (result.items_cancelled, result.items_kept, result.newly_cancelled) == (2, 3, 2)
    assert _state(fresh) == _state(gold) == "cancelled"
    assert _slots(fresh) == ["closed", "closed", "closed"]
    assert _state(started) == "open" and _slots(started) == ["filled", "open", "waiting"]
    assert _state(final) == "final"
    assert _state(answered_gold) == "open"
    assert not Item.objects.filter(batch=batch, gold__isnull=False, gold_retired_at__isnull=True).exists()
    assert _state(other_batch_item) == "open" and _slots(other_batch_item)[0] == "open"
    batch.refresh_from_db()
    assert batch.cancelled_at == result.cancelled_at
    event = AuditEvent.objects.get(action="batch.cancel")
    assert event.target_id == str(batch.pk)
    assert event.data["items_cancelled"] == 2 and event.data["slots_closed"] == 3


def test_the_queue_never_offers_a_cancelled_item(project):
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(3, batch=batch)
    kept = ItemFactory(batch=BatchFactory(project=project), external_id="kept")
    batch_cancel(batch=batch, actor=None)

    offered = [assignment_next(expert=_expert_for(project), project=project) for _ in range(4)]

    items = [a.item_id for a in offered if isinstance(a, Assignment)]
    assert items == [kept.pk, kept.pk, kept.pk]
    assert isinstance(offered[3], NoWork)


def test_cancelled_gold_items_are_not_served_as_gold(lab):
    project = ProjectFactory(lab=lab, gold_rate=0.5)
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(2, batch=batch, gold_answer=True)
    batch_cancel(batch=batch, actor=None)

    for _ in range(4):
        result = assignment_next(expert=_expert_for(project), project=project)
        assert isinstance(result, NoWork), result


def test_an_item_under_a_lease_is_kept_and_its_label_counts(project):
    batch = BatchFactory(project=project)
    item = ItemFactory(batch=batch)
    untouched = ItemFactory(batch=batch)
    expert = _expert_for(project)
    lease = assignment_next(expert=expert, project=project)
    assert lease.item_id == item.pk

    result = batch_cancel(batch=batch, actor=None)
    label, created = assignment_submit(
        assignment=lease, expert=expert, payload={"choice": "tie"}, client_id="x"
    )

    assert (result.items_cancelled, result.items_kept) == (1, 1)
    assert _state(untouched) == "cancelled"
    assert created and _state(item) == "open"
    assert _slots(item) == ["filled", "open", "waiting"]


def test_an_item_a_claim_leased_during_the_cancel_is_restored(project):
    batch = BatchFactory(project=project)
    raced = ItemFactory(batch=batch)
    Item.objects.filter(pk=raced.pk).update(state=Item.State.CANCELLED)
    Slot.objects.filter(item=raced, idx=0).update(state=Slot.State.LEASED)
    Slot.objects.filter(item=raced, idx__gt=0).update(state=Slot.State.CLOSED)

    assert _restore_started(batch) == 1

    assert _state(raced) == "open"
    assert _slots(raced) == ["leased", "open", "waiting"]


def test_a_lease_ending_on_a_cancelled_item_closes_its_slot(project):
    batch = BatchFactory(project=project)
    lease = AssignmentFactory(item=ItemFactory(batch=batch), expert=_expert_for(project))
    Item.objects.filter(pk=lease.item_id).update(state=Item.State.CANCELLED)

    assignments_expire(project=project, now=timezone.now() + dt.timedelta(days=2))

    assert _slots(lease.item)[0] == "closed"
    decision = overlap_decision(
        state="cancelled", counted=1, pending_slots=0, confidence=None, project=project
    )
    assert decision.action is Action.NONE  # no slots added, never final


def test_cancel_is_idempotent(project):
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(2, batch=batch)
    first = batch_cancel(batch=batch, actor=None)

    second = batch_cancel(batch=batch, actor=None)

    assert (second.cancelled_at, second.items_cancelled, second.newly_cancelled) == (first.cancelled_at, 2, 0)
    assert AuditEvent.objects.filter(action="batch.cancel").count() == 1


def test_progress_counts_cancelled_items_and_no_closed_slot_as_remaining(project):
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(2, batch=batch)
    batch_cancel(batch=batch, actor=None)

    progress = batch_progress(batch=batch)

    assert progress["items"]["by_state"]["cancelled"] == 2
    assert progress["slots"] == {"filled": 0, "total": 0}
    assert progress["eta_seconds"] == 0


# --- API ---------------------------------------------------------------------------------------


def test_the_api_cancels_and_repeats_the_answer(lab_client, lab_key, project):
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(2, batch=batch)

    first = lab_client.post(f"/api/v1/batches/{batch.pk}/cancel")
    again = lab_client.post(f"/api/v1/batches/{batch.pk}/cancel")
    detail = lab_client.get(f"/api/v1/batches/{batch.pk}").json()

    assert first.status_code == again.status_code == 200, first.json()
    assert first.json()["items_cancelled"] == 2 and first.json()["newly_cancelled"] == 2
    assert again.json()["newly_cancelled"] == 0
    assert detail["cancelled_at"] == first.json()["cancelled_at"]
    assert AuditEvent.objects.get(action="batch.cancel").actor_api_key_id == lab_key[1].pk
    listed = lab_client.get(f"/api/v1/projects/{project.pk}/items?state=cancelled").json()["results"]
    assert len(listed) == 2


def test_a_batch_still_ingesting_cannot_be_cancelled(lab_client, project):
    batch = BatchFactory(project=project, status=Batch.Status.INGESTING)

    response = lab_client.post(f"/api/v1/batches/{batch.pk}/cancel")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "batch_not_ingested"


def test_another_labs_batch_and_a_read_key_are_refused(api_client, lab, project):
    theirs = BatchFactory(project=ProjectFactory(lab=LabFactory()))
    ItemFactory(batch=theirs)
    mine = BatchFactory(project=project)
    _, writer = make_api_key(lab)
    _, reader = make_api_key(lab, scopes=["read"])

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {writer}")
    assert api_client.post(f"/api/v1/batches/{theirs.pk}/cancel").status_code == 404
    assert api_client.post(f"/api/v1/batches/{mine.pk}/cancel?force=1").status_code == 400
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert api_client.post(f"/api/v1/batches/{mine.pk}/cancel").status_code == 403
    assert not Item.objects.filter(state="cancelled").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_fast_path_never_offers_a_cancelled_item(monkeypatch):
    import annotate.queue.fast_path as queue_fast
    from tests.annotate.test_queue_fast_path import Expert, Server

    monkeypatch.setattr(queue_fast, "_labels_submitted", lambda labels: None)
    project = ProjectFactory(gold_rate=0, overlap=1)
    ItemFactory.create_batch(3, batch=(cancelled := BatchFactory(project=project)))
    kept = ItemFactory(batch=BatchFactory(project=project))
    batch_cancel(batch=cancelled, actor=None)
    with Server() as server:
        first = Expert(server, _expert_for(project).user)
        second = Expert(server, _expert_for(project).user)
        status, _headers, body = first.next(project)
        assert status == 200 and server.app.served == 1
        assert body["item"] == str(kept.uid)
        status, headers, _body = second.next(project)
        assert status == 204, headers
    assert not Assignment.objects.filter(item__batch=cancelled).exists()
