"""Progress of a project and of a batch: items by state, labels, slots, throughput, ETA."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotate.models import Assignment, Item, Slot
from annotate.progress import batch_progress, project_progress
from tests.factories import (
    AssignmentFactory,
    BatchFactory,
    ExpertProfileFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    make_api_key,
)

pytestmark = pytest.mark.django_db

ALL_STATES = {"open", "labelled", "final", "adjudication", "cancelled"}


def _label(item, *, ago: dt.timedelta = dt.timedelta(minutes=5)):
    return LabelFactory(item=item, expert=ExpertProfileFactory(), created_at=timezone.now() - ago)


@pytest.fixture
def situation(lab):
    """k=3; four ordinary items and one gold item in one batch:

    - item 1: three labels (one of them two hours old), final;
    - item 2: one label, open;
    - item 3: no label, one active lease, open;
    - item 4: no label, needs adjudication (counted, no label needed by the ETA);
    - a gold item with one gold label.
    """
    project = ProjectFactory(lab=lab, overlap=3)
    batch = BatchFactory(project=project)
    items = [ItemFactory(batch=batch) for _ in range(4)]
    gold = ItemFactory(batch=batch, gold_answer=True)
    _label(items[0])
    _label(items[0])
    _label(items[0], ago=dt.timedelta(hours=2))
    _label(items[1])
    AssignmentFactory(item=items[2])
    _label(gold)
    Item.objects.filter(pk=items[0].pk).update(state=Item.State.FINAL)
    Item.objects.filter(pk=items[3].pk).update(state=Item.State.ADJUDICATION)
    return project, batch, items, gold


def test_project_progress_counts_items_labels_and_slots(situation):
    project, _batch, _items, _gold = situation
    progress = project_progress(project=project)
    assert progress["items"] == {
        "total": 5,
        "ordinary": 4,
        "gold": 1,
        "by_state": {"open": 2, "labelled": 0, "final": 1, "adjudication": 1, "cancelled": 0},
    }
    assert progress["labels"] == {"total": 5, "ordinary": 4, "gold": 1}
    assert progress["slots"] == {"filled": 4, "total": 12}
    assert progress["throughput"] == {"window_seconds": 3600, "labels": 4, "ordinary_labels": 3}
    assert progress["agreement"] is None


def test_eta_is_remaining_slots_at_last_hours_rate_of_ordinary_labels(situation):
    project, *_ = situation
    # 12 - 4 = 8 slots remain; 3 ordinary labels in the last hour -> 8 / (3 / 3600 s).
    assert project_progress(project=project)["eta_seconds"] == 9600


def test_eta_is_null_when_no_label_came_in_the_last_hour(lab):
    project = ProjectFactory(lab=lab, overlap=2)
    item = ItemFactory(project=project, batch=BatchFactory(project=project))
    _label(item, ago=dt.timedelta(hours=3))
    progress = project_progress(project=project)
    assert progress["slots"] == {"filled": 1, "total": 2}
    assert progress["throughput"]["ordinary_labels"] == 0
    assert progress["eta_seconds"] is None


def test_eta_is_zero_when_every_slot_is_filled(lab):
    project = ProjectFactory(lab=lab, overlap=1)
    item = ItemFactory(batch=BatchFactory(project=project))
    _label(item, ago=dt.timedelta(hours=3))
    assert project_progress(project=project)["eta_seconds"] == 0


def test_gold_labels_do_not_speed_up_the_eta(lab):
    project = ProjectFactory(lab=lab, overlap=2)
    batch = BatchFactory(project=project)
    ItemFactory(batch=batch)
    for _ in range(5):
        _label(ItemFactory(batch=batch, gold_answer=True))
    progress = project_progress(project=project)
    assert progress["throughput"] == {"window_seconds": 3600, "labels": 5, "ordinary_labels": 0}
    assert progress["eta_seconds"] is None


def test_an_empty_project_has_every_state_with_zero(lab):
    progress = project_progress(project=ProjectFactory(lab=lab))
    assert progress["items"]["by_state"] == dict.fromkeys(ALL_STATES, 0)
    assert set(progress["items"]["by_state"]) == set(Item.State.values)
    assert progress["labels"] == {"total": 0, "ordinary": 0, "gold": 0}
    assert progress["slots"] == {"filled": 0, "total": 0}
    assert progress["eta_seconds"] == 0


def test_batch_progress_counts_only_that_batchs_items(situation):
    project, batch, _items, _gold = situation
    other = BatchFactory(project=project)
    _label(ItemFactory(batch=other))
    mine = batch_progress(batch=batch)
    theirs = batch_progress(batch=other)
    assert mine["items"]["total"] == 5
    assert mine["labels"]["total"] == 5
    assert mine["slots"] == {"filled": 4, "total": 12}
    assert theirs["items"]["by_state"] == {
        "open": 1,
        "labelled": 0,
        "final": 0,
        "adjudication": 0,
        "cancelled": 0,
    }
    assert theirs["labels"] == {"total": 1, "ordinary": 1, "gold": 0}
    assert theirs["slots"] == {"filled": 1, "total": 3}
    assert theirs["eta_seconds"] == 2 * 3600
    assert project_progress(project=project)["labels"]["total"] == 6


def test_expired_and_active_leases_leave_slots_unfilled(lab):
    project = ProjectFactory(lab=lab, overlap=2)
    item = ItemFactory(batch=BatchFactory(project=project))
    AssignmentFactory(item=item)
    assert Slot.objects.filter(item=item, state=Slot.State.LEASED).count() == 1
    assert Assignment.objects.count() == 1
    assert project_progress(project=project)["slots"] == {"filled": 0, "total": 2}


def test_progress_takes_one_query_per_figure_group(situation, django_assert_num_queries):
    project, batch, *_ = situation
    with django_assert_num_queries(3):
        project_progress(project=project)
    with django_assert_num_queries(3):
        batch_progress(batch=batch)


def test_progress_endpoint_shows_the_projects_progress(situation, lab_client):
    project, *_ = situation
    response = lab_client.get(f"/api/v1/projects/{project.pk}/progress")
    assert response.status_code == 200
    body = response.json()
    assert body["items"]["by_state"] == {
        "open": 2,
        "labelled": 0,
        "final": 1,
        "adjudication": 1,
        "cancelled": 0,
    }
    assert body["items"]["gold"] == 1
    assert body["labels"] == {"total": 5, "ordinary": 4, "gold": 1}
    assert body["slots"] == {"filled": 4, "total": 12}
    assert body["throughput"]["labels"] == 4
    assert body["eta_seconds"] == 9600
    assert body["agreement"] is None
    assert body["as_of"]


def test_batch_detail_shows_the_batchs_progress(situation, lab_client):
    _project, batch, *_ = situation
    response = lab_client.get(f"/api/v1/batches/{batch.pk}")
    assert response.status_code == 200
    progress = response.json()["progress"]
    assert progress["items"]["by_state"] == {
        "open": 2,
        "labelled": 0,
        "final": 1,
        "adjudication": 1,
        "cancelled": 0,
    }
    assert progress["slots"] == {"filled": 4, "total": 12}
    assert progress["eta_seconds"] == 9600
    assert progress["agreement"] is None


def test_another_labs_key_gets_404_for_progress(situation, api_client):
    project, *_ = situation
    _key, raw = make_api_key(ProjectFactory().lab)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api_client.get(f"/api/v1/projects/{project.pk}/progress")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
