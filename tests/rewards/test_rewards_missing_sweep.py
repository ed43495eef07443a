"""The sweep of final items whose rewards are missing: a reward task lost with the broker (the
item became final, its on-commit message never ran) is queued again, and the labels are paid
once; items that should not be paid are never queued."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotate.finalize import item_finalize
from annotate.models import Item
from rewards.models import LedgerTransaction
from rewards.selectors import items_missing_rewards
from rewards.services import reward_reference
from rewards.tasks import rewards_missing_sweep_task
from tests.factories import ItemConsensusFactory, ItemFactory, LabelFactory, ProjectFactory
from tests.rewards.conftest import credit, expert_at, policy_for

LATER = dt.timedelta(minutes=5)


def _final_without_its_task(project, django_capture_on_commit_callbacks):
    """An item made final whose on-commit reward task is dropped, as a broker outage drops it."""
    item = ItemFactory(batch__project=project, slots=2)
    labels = [LabelFactory(item=item, expert=expert_at(project.domain, 3), choice="A") for _ in range(2)]
    ItemConsensusFactory(item=item, choice="A", strength=2.0, confidence=0.9)
    with django_capture_on_commit_callbacks(execute=False):
        item_finalize(item=item)
    item.refresh_from_db()
    assert item.state == Item.State.FINAL
    return item, labels


@pytest.mark.django_db
def test_a_final_item_whose_reward_task_was_lost_is_queued_again_and_paid_once(
    project, django_capture_on_commit_callbacks
):
    policy_for(project)
    credit(project.lab, 10**21)
    item, labels = _final_without_its_task(project, django_capture_on_commit_callbacks)
    refs = [reward_reference(label.pk) for label in labels]
    assert not LedgerTransaction.objects.filter(reference__in=refs).exists()
    assert items_missing_rewards() == []  # within the grace period, its own task may still run
    assert items_missing_rewards(now=timezone.now() + LATER) == [item.pk]

    later = timezone.now() + LATER
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: later)
        assert rewards_missing_sweep_task() == 1  # eager Celery: the reward task runs now
        assert rewards_missing_sweep_task() == 0
    assert LedgerTransaction.objects.filter(reference__in=refs).count() == 2


@pytest.mark.django_db
def test_items_that_pay_nothing_are_never_queued(django_capture_on_commit_callbacks):
    unpaid = ProjectFactory(gold_rate=0)  # no reward policy
    _final_without_its_task(unpaid, django_capture_on_commit_callbacks)
    assert items_missing_rewards(now=timezone.now() + LATER) == []
    assert items_missing_rewards(now=timezone.now() + dt.timedelta(days=8)) == []  # past the horizon
