"""Rewards under concurrency (PostgreSQL) and through a real Celery worker."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from annotate.finalize import item_finalize
from annotate.models import Item
from rewards.ledger import ledger_balances
from rewards.models import LedgerTransaction
from rewards.selectors import BUDGET_EXHAUSTED, budget_gate, lab_budget_balance, ledger_check
from rewards.services import item_rewards
from tests.factories import ItemConsensusFactory, ItemFactory, LabelFactory
from tests.rewards.conftest import credit, expert_at, policy_for
from tests.threads import run_together


def _final_items(project, count: int, labels_each: int = 3):
    experts = [expert_at(project.domain, 1) for _ in range(labels_each)]
    items = []
    for _ in range(count):
        item = ItemFactory(batch__project=project)
        for expert in experts:
            LabelFactory(item=item, expert=expert)
        ItemConsensusFactory(item=item)
        Item.objects.filter(pk=item.pk).update(state=Item.State.FINAL, finalized_at=item.created_at)
        items.append(item)
    return items, experts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_redelivered_rewards_running_at_once_pay_each_label_once(project):
    credit(project.lab, 10_000)
    policy_for(project, base_rate=100)
    items, experts = _final_items(project, 1)
    run_together([lambda: item_rewards(item_id=items[0].pk)] * 6, what="a reward run")
    assert LedgerTransaction.objects.filter(kind="reward").count() == 3
    assert lab_budget_balance(lab_id=project.lab_id) == 10_000 - 300
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rewards_of_many_items_at_once_charge_the_one_lab_budget_exactly(project):
    credit(project.lab, 10_000)
    policy_for(project, base_rate=100)
    items, experts = _final_items(project, 8)
    run_together([lambda item=item: item_rewards(item_id=item.pk) for item in items], what="a reward run")
    assert lab_budget_balance(lab_id=project.lab_id) == 10_000 - 8 * 3 * 100
    assert all(ledger_balances(expert_id=e.pk)["payable"] == 800 for e in experts)
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db(transaction=True)
def test_a_finalised_item_is_rewarded_by_the_worker(project, celery_worker):
    credit(project.lab, 10_000)
    policy_for(project, base_rate=100)
    item = ItemFactory(batch__project=project)
    for _ in range(2):
        LabelFactory(item=item, expert=expert_at(project.domain, 1))
    ItemConsensusFactory(item=item)
    with transaction.atomic():
        item_finalize(item=item)
    deadline = time.monotonic() + 30
    while LedgerTransaction.objects.filter(kind="reward").count() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert LedgerTransaction.objects.filter(kind="reward").count() == 2
    assert lab_budget_balance(lab_id=project.lab_id) == 9_800


@pytest.mark.django_db
def test_the_budget_gate_is_a_few_indexed_queries(project, django_assert_max_num_queries):
    credit(project.lab, 10**30)
    policy_for(project, base_rate=100)
    expert = expert_at(project.domain, 1)
    assert budget_gate(expert, project) is None  # fills the commitments cache
    with django_assert_max_num_queries(2):
        assert budget_gate(expert, project) is None


@pytest.mark.django_db
def test_the_budget_gate_counts_exactly_near_exhaustion(project):
    policy_for(project, base_rate=100)  # max 200 per label
    credit(project.lab, 500)
    expert = expert_at(project.domain, 1)
    assert budget_gate(expert, project) is None
    items = [ItemFactory(batch__project=project) for _ in range(2)]
    for item in items:
        LabelFactory(item=item, expert=expert_at(project.domain, 1))  # 2 x 200 committed, cache stale
    assert budget_gate(expert, project) == BUDGET_EXHAUSTED
