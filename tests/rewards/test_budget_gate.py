"""The queue's budget gate: no item is leased that the lab's budget could not pay."""

from __future__ import annotations

import pytest

from annotate.models import Assignment
from annotate.queue import NoWork, assignment_next
from tests.rewards.conftest import credit, expert_at, policy_for


@pytest.fixture
def paid_project(project):
    from tests.factories import ItemFactory

    policy_for(project, base_rate=1000)  # the most one label earns: 1000 x 2.0 (level 4) x 1.0 = 2000
    for _ in range(3):
        ItemFactory(batch__project=project)
    return project


@pytest.mark.django_db
def test_an_empty_budget_stops_the_queue(paid_project):
    result = assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project)
    assert isinstance(result, NoWork) and result.reason == "budget_exhausted"


@pytest.mark.django_db
def test_the_budget_refusal_tells_the_expert_what_to_do(paid_project):
    result = assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project)
    assert result.message == (
        "This project's budget cannot pay for more labels right now. "
        "Label in another project, or check again later: the lab may add to it."
    )


@pytest.mark.django_db
def test_work_already_handed_out_counts_against_the_budget(paid_project):
    credit(paid_project.lab, 3000)  # one maximum reward (2000) fits, two do not
    first = assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project)
    assert isinstance(first, Assignment)
    second = assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project)
    assert isinstance(second, NoWork) and second.reason == "budget_exhausted"

    credit(paid_project.lab, 1000)  # now 4000: room for the second
    assert isinstance(
        assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project), Assignment
    )


@pytest.mark.django_db
def test_a_project_without_a_policy_is_not_gated(project):
    from tests.factories import ItemFactory

    ItemFactory(batch__project=project)
    assert isinstance(assignment_next(expert=expert_at(project.domain, 2), project=project), Assignment)


def _lease_and_submit(project, expert):
    from annotate.queue import assignment_submit

    assignment = assignment_next(expert=expert, project=project)
    assert isinstance(assignment, Assignment)
    assignment_submit(
        assignment=assignment, expert=expert, payload={"choice": "A", "strength": 2}, client_id="c1"
    )
    return assignment


@pytest.mark.django_db
def test_a_final_item_whose_reward_is_not_yet_posted_still_counts(
    paid_project, django_capture_on_commit_callbacks
):
    from annotate.finalize import item_finalize
    from annotate.models import Item
    from tests.factories import ItemConsensusFactory

    credit(paid_project.lab, 3000)  # one maximum reward (2000) fits, two do not

    assignment = _lease_and_submit(paid_project, expert_at(paid_project.domain, 2))
    item = Item.objects.get(pk=assignment.item_id)
    ItemConsensusFactory(item=item)
    with django_capture_on_commit_callbacks(execute=False):  # the rewards task stays queued
        item_finalize(item=item)
    second = assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project)
    assert isinstance(second, NoWork) and second.reason == "budget_exhausted"


@pytest.mark.django_db
def test_a_lease_that_expired_but_may_still_be_submitted_still_counts(paid_project):
    from datetime import timedelta

    from django.utils import timezone

    from annotate.queue import assignments_expire

    credit(paid_project.lab, 3000)
    first = assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project)
    Assignment.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert assignments_expire(project=paid_project) == 1
    # Its expert may still submit while the slot is free: the slot stays committed.
    second = assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project)
    assert isinstance(second, NoWork) and second.reason == "budget_exhausted"


def _budget_reads(queries) -> int:
    """Reads of the policy in force and of the lab budget's balance among ``queries``."""
    reads = ('SELECT "rewards_rewardpolicy"."id"', 'SELECT "rewards_ledgeraccount"."balance"')
    return sum(1 for q in queries if q["sql"].lstrip().startswith(reads))


@pytest.mark.django_db
@pytest.mark.parametrize("funds, open_for_claim", [(10_000_000, True), (3000, False)])
def test_one_eligibility_decision_reads_the_budget_once(paid_project, funds, open_for_claim):
    """The budget gate and its lease guard share one read of the policy and the balance per
    decision (they read the same rows a moment apart). The verdicts stay: far from the end the
    fast path may remember the project; near it (the guard must decide at the lease) it may not.
    The fast path reads the budget in the project's part of the eligibility (once per project
    for all its experts), never in the expert's."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotate.queue.eligibility import project_gates_open, project_open_for_claim

    credit(paid_project.lab, funds)
    expert = expert_at(paid_project.domain, 2)
    with CaptureQueriesContext(connection) as queries:
        found = project_open_for_claim(expert_id=expert.pk, project_id=paid_project.pk)
    assert found is not None and _budget_reads(queries.captured_queries) == 0
    with CaptureQueriesContext(connection) as queries:
        assert project_gates_open(project_id=paid_project.pk) is open_for_claim
    assert _budget_reads(queries.captured_queries) == 2  # the policy and the balance, once each
    # Django's path decides with the same shared read, and near the end still leases under the guard.
    with CaptureQueriesContext(connection) as queries:
        assert isinstance(assignment_next(expert=expert, project=paid_project), Assignment)
    assert _budget_reads(queries.captured_queries) == (2 if open_for_claim else 3)  # + the locked read


@pytest.mark.django_db
def test_one_caller_recounts_the_commitments_past_half_their_time_and_the_others_keep_them(
    paid_project, monkeypatch, settings
):
    """The cached commitments serve for REWARDS_COMMITMENTS_CACHE_SECONDS. Past half of that, the
    first reader counts again while the others keep the value, still within its time: experts
    whose eligibility reloads together do not all count at once."""
    import time

    from django.core.cache import cache

    from rewards import selectors

    settings.REWARDS_COMMITMENTS_CACHE_SECONDS = 5
    credit(paid_project.lab, 10_000_000)
    counts = []
    real = selectors.lab_commitments
    monkeypatch.setattr(selectors, "lab_commitments", lambda **kw: counts.append(1) or real(**kw))

    assert selectors.budget_zone(project=paid_project)[0] == selectors.FAR
    assert len(counts) == 1  # nothing cached: counted
    for _ in range(3):
        assert selectors.budget_zone(project=paid_project)[0] == selectors.FAR
    assert len(counts) == 1  # a fresh value serves everyone

    key = selectors._commitments_cache_key(paid_project.lab_id)
    committed, _ = cache.get(key)
    cache.set(key, (committed, time.time() - 3), 2)  # past half its time, still valid
    for _ in range(3):
        assert selectors.budget_zone(project=paid_project)[0] == selectors.FAR
        assert selectors.budget_zone(project=paid_project, count=False)[0] == selectors.FAR
    assert len(counts) == 2  # one recount for all of them
    assert selectors.commitments_cached(lab_id=paid_project.lab_id)[1] < 1  # the value is fresh again


@pytest.mark.django_db
def test_a_count_cached_by_the_earlier_version_does_not_break_the_gate(paid_project):
    """During a rolling deploy both versions share the cache; the earlier one cached a bare count
    under ``rewards:commitments:<lab>``."""
    from django.core.cache import cache

    from rewards import selectors

    credit(paid_project.lab, 10_000_000)
    cache.set(f"rewards:commitments:{paid_project.lab_id}", 123, 5)
    assert selectors.budget_zone(project=paid_project)[0] == selectors.FAR
    assert cache.get(f"rewards:commitments:{paid_project.lab_id}") == 123  # left to the earlier version
