"""Rewards of a corrected label: posted when its item becomes final, from the corrected value;
and no correction once a reward exists."""

from __future__ import annotations

import pytest

from annotate.label_revisions import label_revise
from annotate.models import Item
from rewards.models import LedgerTransaction
from rewards.services import reward_reference
from rlhf_platform.core.exceptions import ApplicationError
from tests.factories import LabelFactory
from tests.rewards.conftest import TOKEN, credit, expert_at, finalise, policy_for

pytestmark = pytest.mark.django_db


def test_the_reward_pays_the_corrected_value_and_then_nothing_can_change_it(
    project, item, django_capture_on_commit_callbacks
):
    policy_for(project)
    credit(project.lab, 100 * TOKEN)
    label = LabelFactory(
        item=item, expert=expert_at(project.domain, 3), choice="B", strength=2, assignment__shown_order=[0, 1]
    )
    label_revise(label=label, expert=label.expert, payload={"choice": "A", "strength": 2})

    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)

    reward = LedgerTransaction.objects.get(reference=reward_reference(label.pk))
    assert reward.data["agreement"] == "full"
    assert reward.amount == 1_500_000_000_000_000_000  # 1 token x 1.5 (level 3) x 1.0 (full)
    # Even if the item were reopened, a label with a reward stays as it was paid.
    Item.objects.filter(pk=item.pk).update(state=Item.State.LABELLED)
    with pytest.raises(ApplicationError) as caught:
        label_revise(label=label, expert=label.expert, payload={"choice": "B", "strength": 2})
    assert caught.value.code == "label_closed"
