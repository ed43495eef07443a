"""The budget gate under a crowd (PostgreSQL): 64 experts leasing and submitting at once, items
finalised as their labels arrive, some rewards posted at once and the rest left queued, never
spend more of a lab's budget than it holds (the stated margin is 0: docs/rewards.md)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import pytest
from django.db import IntegrityError, connection, transaction

from annotate.finalize import item_finalize
from annotate.models import Item, Label
from annotate.queue import NoWork, assignment_next, assignment_submit
from annotate.queue.answers import QUEUE_REASONS
from rewards.models import LedgerTransaction
from rewards.policy import policy_max_reward
from rewards.selectors import BUDGET_EXHAUSTED, lab_budget_balance, ledger_check
from rewards.services import item_rewards
from rlhf_platform.celery_app import app
from tests.factories import ItemConsensusFactory, ItemFactory
from tests.rewards.conftest import credit, expert_at, policy_for
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EXPERTS = 64
BUDGET_LABELS = 30
ITEMS = 40  # 120 slots: the budget, not the work, runs out
K = 3
MARGIN = 0  # the overdraw the gate allows, in maximum rewards (docs/rewards.md)
DEADLINE_SECONDS = 120


@pytest.fixture(autouse=True)
def _a_connection_per_expert():
    """Each expert thread holds its own connection: the settings' pool is swapped for one as
    large as the crowd during the test, and put back after."""
    options = connection.settings_dict["OPTIONS"]
    previous = options.get("pool")
    if not previous:
        yield
        return
    connection.close()
    connection.close_pool()
    options["pool"] = {
        **(previous if isinstance(previous, dict) else {}),
        "min_size": 1,
        "max_size": EXPERTS + 2,
    }
    yield
    connection.close()
    connection.close_pool()
    options["pool"] = previous


@pytest.fixture
def _reward_tasks_stay_queued():
    """The rewards task is sent to the broker and left there (no worker runs): a final item
    whose reward is not yet posted, as between a finalisation and the worker's turn."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = previous
    app.control.purge()


@dataclass
class Tally:
    submitted: int = 0
    refused_for_budget: int = 0


def _finalise(item_id: int, *, labels_needed: int = 0) -> bool:
    """The quality step's part, in short: an item with enough labels gets a consensus that
    agrees with every label (so each label earns the maximum reward) and is finalised."""
    with transaction.atomic():
        item = Item.objects.select_for_update().get(pk=item_id)
        if item.state == Item.State.FINAL or Label.objects.filter(item_id=item_id).count() < labels_needed:
            return False
        try:
            with transaction.atomic():
                ItemConsensusFactory(item=item, choice="A", strength=2.0, confidence=0.95)
        except IntegrityError:
            pass
        return item_finalize(item=item)


def _expert_loop(expert, project) -> Tally:
    tally, rng = Tally(), random.Random()
    deadline = time.monotonic() + DEADLINE_SECONDS
    empty_in_a_row = 0
    while time.monotonic() < deadline:
        result = assignment_next(expert=expert, project=project)
        if isinstance(result, NoWork):
            if result.reason == BUDGET_EXHAUSTED:
                tally.refused_for_budget += 1
                return tally
            assert result.reason in QUEUE_REASONS, result
            empty_in_a_row += 1
            if empty_in_a_row > 20:
                return tally
            time.sleep(0.01)
            continue
        empty_in_a_row = 0
        assignment_submit(
            assignment=result,
            expert=expert,
            # The first response is better, wherever the expert's screen shows it.
            payload={"choice": "A" if result.shown_order[0] == 0 else "B", "strength": 2},
            client_id=str(result.pk),
        )
        tally.submitted += 1
        if _finalise(result.item_id, labels_needed=K) and rng.random() < 0.5:
            item_rewards(item_id=result.item_id)  # a worker that got to it at once
    raise AssertionError(f"expert {expert.pk} still working after {DEADLINE_SECONDS} s")


@pytest.mark.usefixtures("_reward_tasks_stay_queued")
def test_64_experts_at_once_never_overdraw_a_30_label_budget(project):
    assert connection.vendor == "postgresql"
    project.overlap = K
    project.save(update_fields=["overlap"])
    policy = policy_for(project, base_rate=1000)
    max_reward = policy_max_reward(policy)  # 2000: a level-4 expert in full agreement
    credit(project.lab, BUDGET_LABELS * max_reward)
    for _ in range(ITEMS):
        ItemFactory(batch__project=project, slots=K)
    experts = [expert_at(project.domain, 4) for _ in range(EXPERTS)]

    tallies = run_together(
        [lambda e=e: _expert_loop(e, project) for e in experts],
        timeout=DEADLINE_SECONDS + 30,
        what="an expert",
    )

    # The end of the day: every item with labels finalised, every reward posted.
    for item_id in set(Label.objects.filter(project=project).values_list("item_id", flat=True)):
        _finalise(item_id)
        item_rewards(item_id=item_id)

    labels = Label.objects.filter(project=project, is_gold=False).count()
    rewards = LedgerTransaction.objects.filter(kind="reward", project=project)
    balance = lab_budget_balance(lab_id=project.lab_id)
    print(
        f"\nlabels={labels} rewards={rewards.count()} balance={balance} "
        f"overdraw_labels={max(0, -balance) / max_reward:g} "
        f"submitted={sum(t.submitted for t in tallies)} refused={sum(t.refused_for_budget for t in tallies)}"
    )
    assert rewards.count() == labels  # every label paid, each the maximum
    assert all(int(txn.amount) == max_reward for txn in rewards)
    assert labels >= BUDGET_LABELS - MARGIN  # the budget was spent, not hoarded
    assert balance >= -MARGIN * max_reward
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


def test_the_fast_path_remembers_no_budget_verdict_near_the_end_of_the_budget(project):
    from tests.annotate.test_queue_fast_path import Expert, Server

    project.overlap = 1
    project.save(update_fields=["overlap"])
    max_reward = policy_max_reward(policy_for(project, base_rate=1000))
    credit(project.lab, 3 * max_reward)  # three labels: well inside the exact zone
    for _ in range(5):
        ItemFactory(batch__project=project, slots=1)
    expert = expert_at(project.domain, 4)
    with Server() as server:
        client = Expert(server, expert.user)
        for _ in range(3):
            served = server.app.served
            status, _headers, body = client.next(project)
            assert status == 200
            assert server.app.served == served  # Django's path leased it, under the budget's lock
            assert client.submit(body["id"])[0] == 201
        status, headers, _body = client.next(project)
        assert status == 204 and headers["queue-reason"] == BUDGET_EXHAUSTED


def test_the_fast_path_still_serves_a_project_far_from_the_end_of_its_budget(project):
    from tests.annotate.test_queue_fast_path import Expert, Server

    max_reward = policy_max_reward(policy_for(project, base_rate=1000))
    credit(project.lab, 10**6 * max_reward)
    for _ in range(3):
        ItemFactory(batch__project=project)
    expert = expert_at(project.domain, 4)
    with Server() as server:
        client = Expert(server, expert.user)
        status, _headers, body = client.next(project)
        assert status == 200
        assert client.submit(body["id"])[0] == 201
        served = server.app.served
        assert client.next(project)[0] == 200
        assert server.app.served == served + 1  # the eligibility remembered: no trip to Django
