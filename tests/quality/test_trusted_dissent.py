"""An item a trusted annotator disagrees with is not finalised on the others' word: an expert
right against a wrong majority on a hard item is then decided by more labels or by adjudication,
not outvoted. Trusted: a fitted accuracy of at least QUALITY_DISSENT_ACCURACY, a good gold record
in the project and no suspected group."""

from __future__ import annotations

import pytest

from annotate.models import AnnotatorQuality, Item, Slot
from annotate.quality.consensus_update import Action, overlap_decision
from tests.factories import BatchFactory, ItemFactory, ProjectFactory
from tests.quality.pipeline import expert_for, label_next, stored_model

pytestmark = pytest.mark.django_db(transaction=True)


def _good_record(project, expert) -> None:
    AnnotatorQuality.objects.update_or_create(
        project=project, expert=expert, defaults={"gold_passed": 9, "gold_failed": 1}
    )


def _project():
    return ProjectFactory(
        gold_threshold=0.55, gold_min_seen=8, gold_rate=0, overlap=3, max_overlap=5, confidence_threshold=0.8
    )


@pytest.mark.parametrize("case", ["trusted", "short_record", "suspected_group", "switched_off"])
def test_a_trusted_dissent_keeps_the_item_open_then_sends_it_to_adjudication(case, settings):
    project = _project()
    first, second, dissenter, fourth, fifth = (expert_for(project) for _ in range(5))
    if case != "short_record":
        _good_record(project, dissenter)
    if case == "switched_off":
        settings.QUALITY_DISSENT_ACCURACY = 1.01
    groups = [[str(dissenter.pk), str(fifth.pk)]] if case == "suspected_group" else None
    stored_model(project, groups=groups)  # everyone right 90% of the time
    item = ItemFactory(batch=BatchFactory(project=project))
    for expert, choice in ((first, "A"), (second, "A"), (dissenter, "B")):
        label_next(expert, project, choice=choice, strength=2)
    state = Item.objects.get(pk=item.pk).state
    if case != "trusted":
        assert state == Item.State.FINAL  # two of three, 0.96 sure: final as before
        return
    assert state == Item.State.OPEN
    assert Slot.objects.filter(item=item).count() == 4  # one more label asked for
    label_next(fourth, project, choice="A", strength=2)
    assert Item.objects.get(pk=item.pk).state == Item.State.OPEN  # still dissent: up to max_overlap
    label_next(fifth, project, choice="A", strength=2)
    assert Item.objects.get(pk=item.pk).state == Item.State.ADJUDICATION


def test_the_rule_itself_is_pure():
    project = ProjectFactory.build(overlap=3, max_overlap=5, confidence_threshold=0.8)
    sure = {
        "state": Item.State.OPEN,
        "counted": 3,
        "pending_slots": 0,
        "confidence": 0.96,
        "project": project,
    }
    assert overlap_decision(**sure).action is Action.FINALISE
    assert overlap_decision(**sure, dissent=True).action is Action.ADD_SLOTS
    assert overlap_decision(**{**sure, "counted": 5}, dissent=True).action is Action.ADJUDICATE
