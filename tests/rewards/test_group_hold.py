"""Rewards of a suspected group's members are held: nothing is posted for their labels while
the group is undecided; clearing it posts them (once) in the decision's transaction;
confirming it excludes their labels, claws back what was paid before the group was flagged,
and pays nothing more."""

from __future__ import annotations

import pytest

from annotate.models import AnnotatorGroup, AnnotatorGroupMember, Label
from annotate.quality.groups import group_decide
from rewards.models import LedgerTransaction
from rewards.services import clawback_reference, clawbacks_reconcile, item_rewards, reward_reference
from tests.factories import ItemFactory, LabelFactory, StaffFactory
from tests.rewards.conftest import credit, expert_at, finalise, policy_for

pytestmark = pytest.mark.django_db


def _group(project, *experts) -> AnnotatorGroup:
    group = AnnotatorGroup.objects.create(project=project, signals=["fingerprint"])
    for expert in experts:
        AnnotatorGroupMember.objects.create(group=group, project=project, expert=expert)
    return group


def _posted(label) -> bool:
    return LedgerTransaction.objects.filter(reference=reward_reference(label.pk)).exists()


@pytest.fixture
def crowd(project):
    credit(project.lab, 100_000)
    policy_for(project, base_rate=1000)
    return [expert_at(project.domain, 1) for _ in range(3)]


def test_a_suspected_members_label_earns_nothing_until_the_group_is_cleared(
    project, crowd, django_capture_on_commit_callbacks
):
    one, two, honest = crowd
    group = _group(project, one, two)
    item = ItemFactory(batch__project=project)
    held = [LabelFactory(item=item, expert=e, choice="A", strength=2) for e in (one, two)]
    paid = LabelFactory(item=item, expert=honest, choice="A", strength=2)
    finalise(item, django_capture_on_commit_callbacks)
    assert _posted(paid) and not any(_posted(label) for label in held)
    item_rewards(item_id=item.pk)  # a retry of the item's task still holds them
    assert not any(_posted(label) for label in held)

    group_decide(group=group, actor=StaffFactory(), decision="clear", note="Two colleagues.")
    assert all(_posted(label) for label in held)
    amounts = {
        int(LedgerTransaction.objects.get(reference=reward_reference(x.pk)).amount) for x in [*held, paid]
    }
    assert len(amounts) == 1 and amounts.pop() > 0
    item_rewards(item_id=item.pk)
    assert LedgerTransaction.objects.filter(kind="reward", label__item=item).count() == 3


def test_another_projects_group_does_not_hold_the_expert_here(
    project, crowd, django_capture_on_commit_callbacks
):
    from tests.factories import ProjectFactory

    one, two, _ = crowd
    _group(ProjectFactory(), one, two)
    item = ItemFactory(batch__project=project)
    label = LabelFactory(item=item, expert=one, choice="A", strength=2)
    finalise(item, django_capture_on_commit_callbacks)
    assert _posted(label)


def test_confirming_a_group_claws_back_what_was_paid_before_it_was_flagged_and_pays_nothing_more(
    project, crowd, django_capture_on_commit_callbacks
):
    one, two, _ = crowd
    early = ItemFactory(batch__project=project)
    early_label = LabelFactory(item=early, expert=one, choice="A", strength=2)
    finalise(early, django_capture_on_commit_callbacks)
    assert _posted(early_label)

    group = _group(project, one, two)
    late = ItemFactory(batch__project=project)
    late_label = LabelFactory(item=late, expert=one, choice="A", strength=2)
    with django_capture_on_commit_callbacks(execute=False):
        group_decide(group=group, actor=StaffFactory(), decision="confirm", note="One person, two accounts.")
    assert Label.objects.get(pk=early_label.pk).excluded_from_consensus
    assert clawbacks_reconcile() == 1
    assert LedgerTransaction.objects.filter(reference=clawback_reference(early_label.pk)).exists()
    finalise(late, django_capture_on_commit_callbacks)
    assert not _posted(late_label)
