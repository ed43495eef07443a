"""The rewards drain: the items a quality drain finalised are posted together (rewards.drain),
with the same ledger rows as the per-item path, once, and all or nothing per group."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import rewards.posting as posting
from annotate.finalize import item_finalize
from annotate.models import Item, Label
from rewards import tasks
from rewards.drain import rewards_due_drain, rewards_due_mark
from rewards.models import LedgerTransaction, RewardDue
from rewards.policy import gold_window, gold_windows
from rewards.selectors import lab_budget_balance, lab_commitments, ledger_check
from rewards.services import item_rewards, reward_reference
from rlhf_platform.experts.selectors import expertise_level, expertise_levels_in_domain
from tests.factories import ItemConsensusFactory, ItemFactory, LabelFactory
from tests.rewards.conftest import credit, expert_at, policy_for
from tests.threads import run_together

ANSWERS = ("A", "B", "A", "tie", "A", "B", "both_bad", "A")


def _policy(project, kind: str):
    if kind == "information":
        return policy_for(project, base_rate=10_000, kind="information", score_window=4, score_prior=1)
    return policy_for(project, base_rate=100)


def _final_items(project, count: int) -> list[Item]:
    """Items labelled by three of four experts of different levels, each with its consensus,
    final one second apart (in the order a per-item worker would take them)."""
    experts = [expert_at(project.domain, level) for level in (1, 2, 3, 4)]
    start = timezone.now() + dt.timedelta(seconds=1)
    items = []
    for n in range(count):
        item = ItemFactory(batch__project=project, slots=3)
        for k in range(3):
            LabelFactory(item=item, expert=experts[(n + k) % 4], choice=ANSWERS[(n + k) % len(ANSWERS)])
        ItemConsensusFactory(item=item, choice=ANSWERS[n % len(ANSWERS)], strength=2.0, confidence=0.9)
        final_at = start + dt.timedelta(seconds=n)
        Item.objects.filter(pk=item.pk).update(state=Item.State.FINAL, finalized_at=final_at)
        items.append(item)
    return items


def _rewards() -> list[tuple]:
    """Every reward with its amounts, statement data and entries (accounts by kind and owner)."""
    rows = []
    for txn in LedgerTransaction.objects.filter(kind="reward").order_by("reference"):
        entries = sorted(
            (e.account.kind, str(e.account.expert_id), str(e.account.lab_id), int(e.amount))
            for e in txn.entries.select_related("account")
        )
        rows.append((txn.reference, int(txn.amount), str(txn.expert_id), txn.label_id, txn.data, entries))
    return rows


class _Undo(Exception):
    pass


class WorkerKilled(BaseException):
    """The worker dies mid-batch (not an error the drain could handle)."""


def _per_item_rows(items: list[Item]) -> list[tuple]:
    """The rewards the per-item path posts (an item's task each, in finalisation order), rolled
    back afterwards."""
    rows: list[tuple] = []
    try:
        with transaction.atomic():
            for item in items:
                item_rewards(item_id=item.pk)
            rows = _rewards()
            raise _Undo
    except _Undo:
        pass
    assert not LedgerTransaction.objects.filter(kind="reward").exists()
    return rows


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["agreement", "information"])
def test_a_drain_posts_the_same_rewards_as_the_per_item_path(project, kind):
    _policy(project, kind)
    credit(project.lab, 10**12)
    items = _final_items(project, 9)
    expected = _per_item_rows(items)
    assert len(expected) == 27 and any(row[1] for row in expected)
    if kind == "information":  # later rewards read the earlier ones (the peer window)
        assert any(row[4]["peer"]["window"] > 0 for row in expected)

    rewards_due_mark(item_ids=[item.pk for item in reversed(items)])
    assert rewards_due_drain(size=4) == (9, False)  # three groups: 4, 4, 1
    assert _rewards() == expected
    assert not RewardDue.objects.exists()
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db
def test_items_finalised_together_queue_one_drain_and_a_redelivered_drain_posts_nothing(
    project, django_capture_on_commit_callbacks, monkeypatch
):
    _policy(project, "agreement")
    credit(project.lab, 10**6)
    items = [ItemFactory(batch__project=project, slots=2) for _ in range(5)]
    for item in items:
        for _ in range(2):
            LabelFactory(item=item, expert=expert_at(project.domain, 1))
        ItemConsensusFactory(item=item)
    queued = []
    monkeypatch.setattr(tasks.rewards_due_drain_task, "delay", lambda: queued.append(1))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():  # a quality drain
        for item in items:
            item_finalize(item=item)
    assert len(queued) == 1  # one message for the burst, not one per item
    assert RewardDue.objects.count() == 5
    assert lab_commitments(lab_id=project.lab_id) == 10 * 200  # due labels count until posted

    assert tasks.rewards_due_drain_task() == 5
    assert LedgerTransaction.objects.filter(kind="reward").count() == 10
    assert lab_budget_balance(lab_id=project.lab_id) == 10**6 - 10 * 100
    assert lab_commitments(lab_id=project.lab_id) == 0
    rewards_due_mark(item_ids=[item.pk for item in items])  # marked again, and redelivered
    assert tasks.rewards_due_drain_task() == 5
    assert tasks.rewards_due_drain_task() == 0
    assert LedgerTransaction.objects.filter(kind="reward").count() == 10
    assert lab_budget_balance(lab_id=project.lab_id) == 10**6 - 10 * 100


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["agreement", "information"])
def test_a_crash_mid_batch_leaves_no_item_half_posted_and_the_rerun_completes(project, kind, monkeypatch):
    _policy(project, kind)
    credit(project.lab, 10**12)
    items = _final_items(project, 6)
    expected = _per_item_rows(items)
    rewards_due_mark(item_ids=[item.pk for item in items])
    real, calls = posting.ledger_post_many, []

    def dies_on_the_second_call(postings):
        calls.append(len(postings))
        if len(calls) == 2:  # agreement: the second group; information: the group's second item
            raise WorkerKilled
        return real(postings)

    monkeypatch.setattr(posting, "ledger_post_many", dies_on_the_second_call)
    with pytest.raises(WorkerKilled):
        rewards_due_drain(size=3)
    monkeypatch.undo()
    due = set(RewardDue.objects.values_list("item_id", flat=True))
    for item in items:
        rewarded = LedgerTransaction.objects.filter(kind="reward", label__item=item).count()
        assert rewarded == (0 if item.pk in due else 3)
    assert len(due) == (3 if kind == "agreement" else 6)
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}

    assert rewards_due_drain(size=3) == (len(due), False)
    assert _rewards() == expected
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db
def test_a_failing_item_does_not_hold_up_the_others(project, monkeypatch):
    _policy(project, "agreement")
    credit(project.lab, 10**6)
    items = _final_items(project, 4)
    rewards_due_mark(item_ids=[item.pk for item in items])
    bad = Label.objects.filter(item=items[1]).values_list("pk", flat=True).first()
    real = posting._reward_posting

    def refuses_one(*, label, **kwargs):
        if label.pk == bad:
            raise ValueError("a corrupt label")
        return real(label=label, **kwargs)

    monkeypatch.setattr(posting, "_reward_posting", refuses_one)
    assert rewards_due_drain(size=10) == (4, False)
    assert LedgerTransaction.objects.filter(kind="reward").count() == 9
    assert not LedgerTransaction.objects.filter(reference=reward_reference(bad)).exists()
    assert not RewardDue.objects.exists()  # the missing-rewards sweep marks the item again


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_drains_running_at_once_post_each_reward_once(project):
    _policy(project, "agreement")
    credit(project.lab, 10**6)
    items = _final_items(project, 24)
    rewards_due_mark(item_ids=[item.pk for item in items])
    drains = [lambda: rewards_due_drain(size=3)] * 4
    singles = [lambda item=item: item_rewards(item_id=item.pk) for item in items[::5]]  # old tasks
    run_together(drains + singles, what="a rewards drain")
    assert sum(result[0] for result in run_together(drains, what="a rewards drain")) == 0
    rewards = LedgerTransaction.objects.filter(kind="reward")
    assert rewards.count() == rewards.values("label_id").distinct().count() == 72
    spent = sum(int(amount) for amount in rewards.values_list("amount", flat=True))
    assert lab_budget_balance(lab_id=project.lab_id) == 10**6 - spent
    assert not RewardDue.objects.exists()
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_group_locks_the_lab_budget_once_not_once_per_item(project):
    _policy(project, "agreement")
    credit(project.lab, 10**6)
    items = _final_items(project, 10)
    rewards_due_mark(item_ids=[item.pk for item in items])
    with CaptureQueriesContext(connection) as queries:
        assert rewards_due_drain(size=10) == (10, False)
    account_locks = [
        q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"] and "ledgeraccount" in q["sql"]
    ]
    assert len(account_locks) == 2  # the group's lock, and the posting's own (already held)
    assert LedgerTransaction.objects.filter(kind="reward").count() == 30


@pytest.mark.django_db
def test_a_groups_gold_windows_and_levels_are_those_read_label_by_label(project):
    policy = policy_for(project, base_rate=100, gold_window=3, gold_min_seen=2)
    experts = [expert_at(project.domain, level) for level in (1, 3)]
    start = timezone.now() - dt.timedelta(hours=1)
    labels = []
    for n in range(12):
        for e, expert in enumerate(experts):
            at = start + dt.timedelta(minutes=n, seconds=e)
            if n % 3 != 2:
                gold_item = ItemFactory(batch__project=project, gold_answer=True)
                LabelFactory(item=gold_item, expert=expert, gold_passed=(n + e) % 4 != 0, created_at=at)
            else:
                item = ItemFactory(batch__project=project)
                labels.append(LabelFactory(item=item, expert=expert, created_at=at))
    windows = gold_windows(labels=labels, policy=policy)
    assert windows == {label.pk: gold_window(label=label, policy=policy) for label in labels}
    assert {w["seen"] for w in windows.values()} == {2, 3}
    assert {w["passes"] for w in windows.values()} == {True, False}
    levels = expertise_levels_in_domain(expert_ids=[e.pk for e in experts], domain=project.domain)
    assert (
        levels
        == {e.pk: expertise_level(expert=e, domain=project.domain) for e in experts}
        == {
            experts[0].pk: 1,
            experts[1].pk: 3,
        }
    )
