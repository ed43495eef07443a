"""A suspected group is one vote toward an item's overlap: a group that fills an item's slots does
not make it final on its own word; the item gets more slots, and once ``max_overlap`` labels are
spent it goes to adjudication."""

from __future__ import annotations

import pytest

from annotate.models import Item, ItemConsensus, Slot
from annotate.quality.consensus_update import Action, independent_count, overlap_decision
from tests.factories import BatchFactory, ItemFactory, ProjectFactory
from tests.quality.pipeline import expert_for, label_next, stored_model

pytestmark = pytest.mark.django_db(transaction=True)


def _project():
    return ProjectFactory(gold_rate=0, overlap=3, max_overlap=5, confidence_threshold=0.8)


def test_a_group_filling_an_items_slots_is_one_vote_and_the_item_waits_for_outsiders():
    project = _project()
    group = [expert_for(project) for _ in range(3)]
    outsiders = [expert_for(project) for _ in range(2)]
    stored_model(project, groups=[[str(e.pk) for e in group]])
    item = ItemFactory(batch=BatchFactory(project=project))
    for expert in group:
        label_next(expert, project, choice="B", strength=2)
    item.refresh_from_db()
    assert item.state != Item.State.FINAL  # three labels, one independent vote
    assert Slot.objects.filter(item=item).count() == 5  # two more slots, up to max_overlap
    for expert in outsiders:
        label_next(expert, project, choice="A", strength=2)
    item.refresh_from_db()
    # Five labels spent, three independent votes split B against A twice: the group's B does
    # not carry the item.
    consensus = ItemConsensus.objects.get(item=item)
    assert not (item.state == Item.State.FINAL and consensus.choice == "B")


def test_without_a_group_the_same_three_labels_make_the_item_final():
    project = _project()
    experts = [expert_for(project) for _ in range(3)]
    stored_model(project)
    item = ItemFactory(batch=BatchFactory(project=project))
    for expert in experts:
        label_next(expert, project, choice="B", strength=2)
    item.refresh_from_db()
    assert item.state == Item.State.FINAL
    assert Slot.objects.filter(item=item).count() == 3


def test_independent_count_and_the_decision():
    model = stored_model(ProjectFactory(), groups=[["1", "2", "3"]])
    assert independent_count([1, 2, 3], model) == 1
    assert independent_count([1, 2, 4], model) == 2
    assert independent_count([1, 2, 4], None) == 3
    project = _project()
    sure = {"state": Item.State.LABELLED, "pending_slots": 0, "confidence": 0.99, "project": project}
    assert overlap_decision(counted=1, labels=3, **sure) == overlap_decision(counted=1, labels=3, **sure)
    assert overlap_decision(counted=1, labels=3, **sure).action is Action.ADD_SLOTS
    assert overlap_decision(counted=1, labels=3, **sure).slots == 2
    assert overlap_decision(counted=2, labels=5, **sure).action is Action.ADJUDICATE
    assert overlap_decision(counted=3, labels=5, **sure).action is Action.FINALISE
