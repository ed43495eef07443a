"""Rewards for final items: the formula by hand, policy versions, idempotency, clawbacks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotate.models import Item, Label
from annotate.signals import item_finalized
from rewards.ledger import ledger_balances
from rewards.models import LedgerTransaction
from rewards.selectors import lab_budget_balance, ledger_check
from rewards.services import clawbacks_reconcile, label_clawback, reward_reference
from rlhf_platform.audit.models import AuditEvent
from tests.factories import ItemFactory, LabelFactory
from tests.rewards.conftest import TOKEN, credit, expert_at, finalise, policy_for


def _reward(label) -> LedgerTransaction:
    return LedgerTransaction.objects.get(reference=reward_reference(label.pk))


@pytest.mark.django_db
def test_each_agreement_class_and_level_earns_the_amount_computed_by_hand(
    project, item, django_capture_on_commit_callbacks
):
    policy_for(project)
    credit(project.lab, 100 * TOKEN)
    agrees = LabelFactory(item=item, expert=expert_at(project.domain, 3), choice="A", strength=2)
    adjacent = LabelFactory(item=item, expert=expert_at(project.domain, 2), choice="A", strength=3)
    contradicts = LabelFactory(item=item, expert=expert_at(project.domain, 4), choice="B", strength=2)

    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)

    # 1 token x 1.5 (level 3) x 1.0 (full)
    assert _reward(agrees).amount == 1_500_000_000_000_000_000
    assert _reward(agrees).data["agreement"] == "full"
    # 1 token x 1.25 (level 2) x 0.5 (partial: same choice, next strength)
    assert _reward(adjacent).amount == 625_000_000_000_000_000
    assert _reward(adjacent).data["agreement"] == "partial"
    # contradicts: nothing, but the statement still says why
    assert _reward(contradicts).amount == 0
    assert _reward(contradicts).data["agreement"] == "none"
    assert not _reward(contradicts).entries.exists()
    assert ledger_balances(expert_id=agrees.expert_id)["payable"] == 1_500_000_000_000_000_000
    assert lab_budget_balance(lab_id=project.lab_id) == 100 * TOKEN - 2_125_000_000_000_000_000
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db
def test_a_tie_next_to_a_slight_preference_is_adjacent_and_next_to_a_clear_one_contradicts(
    project, django_capture_on_commit_callbacks
):
    policy_for(project, base_rate=1000)
    slight, clear = ItemFactory(batch__project=project), ItemFactory(batch__project=project)
    expert = expert_at(project.domain, 1)
    tie_slight = LabelFactory(item=slight, expert=expert, choice="tie", strength=None)
    tie_clear = LabelFactory(item=clear, expert=expert, choice="tie", strength=None)
    finalise(slight, django_capture_on_commit_callbacks, choice="B", strength=1.0)
    finalise(clear, django_capture_on_commit_callbacks, choice="B", strength=3.0)
    assert (_reward(tie_slight).data["agreement"], _reward(tie_slight).amount) == ("partial", 500)
    assert (_reward(tie_clear).data["agreement"], _reward(tie_clear).amount) == ("none", 0)


@pytest.mark.django_db
def test_a_consensus_below_the_confidence_threshold_pays_everyone_the_partial_weight(
    project, item, django_capture_on_commit_callbacks
):
    policy_for(project, base_rate=1000, consensus_min_confidence_bp=8000)
    label = LabelFactory(item=item, expert=expert_at(project.domain, 1), choice="B", strength=2)
    finalise(item, django_capture_on_commit_callbacks, choice="A", confidence=0.6)
    assert (_reward(label).data["agreement"], _reward(label).amount) == ("unresolved", 500)


@pytest.mark.django_db
def test_ranking_labels_are_classed_by_the_pairs_they_order_like_the_consensus(
    django_capture_on_commit_callbacks,
):
    from tests.factories import ProjectFactory

    project = ProjectFactory(ranking=True, gold_rate=0)
    policy_for(project, base_rate=1000)
    item = ItemFactory(batch__project=project)  # responses r0..r3
    same = LabelFactory(
        item=item, expert=expert_at(project.domain, 1), ranking=[["r0"], ["r1"], ["r2"], ["r3"]]
    )
    one_swap = LabelFactory(
        item=item, expert=expert_at(project.domain, 1), ranking=[["r1"], ["r0"], ["r2"], ["r3"]]
    )
    reversed_ = LabelFactory(
        item=item, expert=expert_at(project.domain, 1), ranking=[["r3"], ["r2"], ["r1"], ["r0"]]
    )
    from tests.factories import ItemConsensusFactory

    ItemConsensusFactory(item=item, ranking=[["r0"], ["r1"], ["r2"], ["r3"]], confidence=0.95)
    from annotate.finalize import item_finalize

    with django_capture_on_commit_callbacks(execute=True):
        item_finalize(item=item)
    assert [_reward(x).data["agreement"] for x in (same, one_swap, reversed_)] == ["full", "partial", "none"]
    assert [_reward(x).amount for x in (same, one_swap, reversed_)] == [1000, 500, 0]


@pytest.mark.django_db
@pytest.mark.parametrize(("passed", "expected"), [(3, 0), (4, 1000)])
def test_a_failing_gold_window_withholds_the_reward(
    project, item, django_capture_on_commit_callbacks, passed, expected
):
    policy_for(project, base_rate=1000, gold_window=5, gold_min_seen=5, gold_min_accuracy_bp=7000)
    expert = expert_at(project.domain, 1)
    start = timezone.now() - dt.timedelta(hours=1)
    for i in range(5):
        gold_item = ItemFactory(batch__project=project, gold_answer=True)
        LabelFactory(
            item=gold_item, expert=expert, gold_passed=i < passed, created_at=start + dt.timedelta(minutes=i)
        )
    # a later gold, graded after the label, is not in the label's window
    LabelFactory(item=ItemFactory(batch__project=project, gold_answer=True), expert=expert, gold_passed=True)
    label = LabelFactory(item=item, expert=expert, created_at=start + dt.timedelta(minutes=10))
    finalise(item, django_capture_on_commit_callbacks)
    reward = _reward(label)
    assert reward.amount == expected
    assert reward.data["gold"]["seen"] == 5 and reward.data["gold"]["passed"] == passed
    assert reward.data["gold_factor"] == (1 if expected else 0)


@pytest.mark.django_db
def test_too_few_graded_golds_do_not_withhold_the_reward(project, item, django_capture_on_commit_callbacks):
    policy_for(project, base_rate=1000, gold_min_seen=5)
    expert = expert_at(project.domain, 1)
    for _ in range(4):
        LabelFactory(
            item=ItemFactory(batch__project=project, gold_answer=True),
            expert=expert,
            gold_passed=False,
            created_at=timezone.now() - dt.timedelta(hours=1),
        )
    label = LabelFactory(item=item, expert=expert)
    finalise(item, django_capture_on_commit_callbacks)
    assert _reward(label).amount == 1000


@pytest.mark.django_db
def test_min_reward_lifts_a_small_nonzero_reward_but_not_a_zero(
    project, item, django_capture_on_commit_callbacks
):
    policy_for(project, base_rate=10, min_reward=7)
    low = LabelFactory(item=item, expert=expert_at(project.domain, 1), choice="A", strength=1)  # 10 x 0.5 = 5
    wrong = LabelFactory(item=item, expert=expert_at(project.domain, 1), choice="B")
    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)
    assert _reward(low).amount == 7
    assert _reward(wrong).amount == 0


@pytest.mark.django_db
def test_gold_labels_and_excluded_labels_earn_nothing_and_a_project_without_policy_pays_nothing(
    project, item, django_capture_on_commit_callbacks
):
    policy_for(project, base_rate=1000)
    excluded = LabelFactory(item=item, expert=expert_at(project.domain, 1), excluded_from_consensus=True)
    finalise(item, django_capture_on_commit_callbacks)
    assert not LedgerTransaction.objects.filter(label=excluded).exists()

    from tests.factories import ProjectFactory

    unpaid = ProjectFactory(domain=project.domain)
    other = ItemFactory(batch__project=unpaid)
    LabelFactory(item=other, expert=expert_at(project.domain, 1))
    finalise(other, django_capture_on_commit_callbacks)
    assert not LedgerTransaction.objects.filter(project=unpaid).exists()


@pytest.mark.django_db
def test_a_new_policy_version_applies_only_to_items_finalised_after_it(
    project, django_capture_on_commit_callbacks
):
    v1 = policy_for(project, base_rate=1000)
    first, second = ItemFactory(batch__project=project), ItemFactory(batch__project=project)
    early = LabelFactory(item=first, expert=expert_at(project.domain, 1))
    late = LabelFactory(item=second, expert=expert_at(project.domain, 1))  # labelled before v2 too
    finalise(first, django_capture_on_commit_callbacks)
    v2 = policy_for(project, base_rate=3000)
    scheduled = policy_for(project, base_rate=9000, effective_from=timezone.now() + dt.timedelta(days=1))
    finalise(second, django_capture_on_commit_callbacks)

    assert (v1.version, v2.version, scheduled.version) == (1, 2, 3)
    assert (_reward(early).amount, _reward(early).data["policy_version"]) == (1000, 1)
    assert (_reward(late).amount, _reward(late).data["policy_version"]) == (3000, 2)
    # re-running the reward of the first item does not recompute it under v2
    item_finalized.send(sender=Item, item_id=first.pk, project_id=project.pk)
    assert _reward(early).amount == 1000


@pytest.mark.django_db
def test_a_policy_cannot_start_in_the_past(project):
    from rlhf_platform.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError) as refused:
        policy_for(project, effective_from=timezone.now() - dt.timedelta(days=1))
    assert refused.value.code == "in_the_past"


@pytest.mark.django_db
def test_a_redelivered_item_finalized_pays_each_label_once(project, item, django_capture_on_commit_callbacks):
    policy_for(project, base_rate=1000)
    labels = [LabelFactory(item=item, expert=expert_at(project.domain, 1)) for _ in range(3)]
    finalise(item, django_capture_on_commit_callbacks)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            item_finalized.send(sender=Item, item_id=item.pk, project_id=project.pk)
    assert LedgerTransaction.objects.filter(kind="reward").count() == 3
    assert sum(ledger_balances(expert_id=label.expert_id)["payable"] for label in labels) == 3000


@pytest.mark.django_db
def test_pending_shows_the_most_unfinalised_labels_can_earn(project, item):
    policy_for(project, base_rate=1000)
    expert = expert_at(project.domain, 2)
    LabelFactory(item=item, expert=expert)
    LabelFactory(item=ItemFactory(batch__project=project), expert=expert)
    assert ledger_balances(expert_id=expert.pk) == {
        "pending": 2500,
        "held": 0,
        "payable": 0,
        "in_flight": 0,
        "paid": 0,
    }


@pytest.mark.django_db
def test_a_label_excluded_after_its_reward_is_clawed_back_by_new_entries_once(
    project, item, django_capture_on_commit_callbacks
):
    credit(project.lab, 10_000)
    policy_for(project, base_rate=1000)
    label = LabelFactory(item=item, expert=expert_at(project.domain, 1))
    finalise(item, django_capture_on_commit_callbacks)
    assert lab_budget_balance(lab_id=project.lab_id) == 9000

    Label.objects.filter(pk=label.pk).update(excluded_from_consensus=True)
    assert clawbacks_reconcile() == 1
    assert clawbacks_reconcile() == 0
    clawback = LedgerTransaction.objects.get(kind="clawback", label_id=label.pk)
    assert sorted(int(e.amount) for e in clawback.entries.all()) == [-1000, 1000]
    assert _reward(label).amount == 1000  # the reward itself is untouched
    assert ledger_balances(expert_id=label.expert_id)["payable"] == 0
    assert lab_budget_balance(lab_id=project.lab_id) == 10_000
    assert AuditEvent.objects.filter(action="reward.clawback").count() == 1
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db
def test_a_clawback_of_a_paid_reward_leaves_a_debt_set_off_against_later_rewards(
    project, django_capture_on_commit_callbacks
):
    from rewards.ledger import ledger_payout_reserve, ledger_payout_settle

    policy_for(project, base_rate=1000)
    expert = expert_at(project.domain, 1)
    first, second = ItemFactory(batch__project=project), ItemFactory(batch__project=project)
    paid = LabelFactory(item=first, expert=expert)
    finalise(first, django_capture_on_commit_callbacks)
    ledger_payout_reserve(expert_id=expert.pk, amount=1000, reference="run")
    ledger_payout_settle(reference="run")
    label_clawback(label_id=paid.pk, reason="audit found copied rationale")
    assert ledger_balances(expert_id=expert.pk)["payable"] == -1000
    LabelFactory(item=second, expert=expert)
    finalise(second, django_capture_on_commit_callbacks)
    assert ledger_balances(expert_id=expert.pk)["payable"] == 0
