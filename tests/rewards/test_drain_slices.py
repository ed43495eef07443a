"""The periodic reward drains (holdbacks, adjustments, clawbacks) work in time-boxed slices
(TASK_SLICE_SECONDS) that go on from where the last one stopped, posting each move once."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from annotate.models import ItemConsensus
from rewards import holdbacks, tasks
from rewards.holdbacks import holdbacks_settle, reward_adjustments_slice
from rewards.models import LedgerTransaction
from rewards.selectors import ledger_check
from tests.rewards.conftest import credit, expert_at
from tests.rewards.test_information_policy import _crowd_item, _info_policy, _rewarded

pytestmark = pytest.mark.django_db


def test_holdbacks_settle_in_slices_from_where_the_last_stopped(project, django_capture_on_commit_callbacks):
    _rewarded(project, django_capture_on_commit_callbacks)
    later = timezone.now() + dt.timedelta(hours=2)

    # four rewards settle (two held nothing); a slice already over makes one move each
    first = holdbacks_settle(now=later, until=time.monotonic())
    assert (first["release"], first["resume_after"] is not None) == (1, True)
    slices, after = [first], first["resume_after"]
    while after is not None:
        slices.append(holdbacks_settle(now=later, after_id=after, until=time.monotonic()))
        after = slices[-1]["resume_after"]
    assert [s["release"] for s in slices] == [1, 1, 1, 1]
    assert holdbacks_settle(now=later)["release"] == 0
    assert LedgerTransaction.objects.filter(kind="holdback_release").count() == 4
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


def test_a_full_page_of_holdbacks_goes_on_after_its_last(project, django_capture_on_commit_callbacks):
    _rewarded(project, django_capture_on_commit_callbacks)
    later = timezone.now() + dt.timedelta(hours=2)

    page = holdbacks_settle(now=later, limit=1)
    assert page["release"] == 1 and page["resume_after"] is not None
    assert holdbacks_settle(now=later, limit=1, after_id=page["resume_after"])["release"] == 1


def test_the_adjustments_task_queues_its_next_slice_until_every_reward_was_seen(
    project, django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.TASK_SLICE_SECONDS = 0  # every slice ends after its first reward
    _info_policy(project, score_prior=0)
    credit(project.lab, 10**9)
    expert = expert_at(project.domain, 3)
    for answer in ("B", "A"):
        _crowd_item(
            project, [answer], experts=[expert], consensus=answer, capture=django_capture_on_commit_callbacks
        )
    item, _labels = _crowd_item(
        project,
        ["A", "B"],
        experts=[expert, expert_at(project.domain, 3)],
        consensus="B",
        capture=django_capture_on_commit_callbacks,
    )
    ItemConsensus.objects.filter(item=item).update(
        choice="A", revisions=[{"was": {"choice": "B"}, "now": {"choice": "A"}, "reason": "adjudicated"}]
    )
    slices = []

    def counted(**kwargs):
        result = reward_adjustments_slice(**kwargs)
        slices.append(result)
        return result

    monkeypatch.setattr(holdbacks, "reward_adjustments_slice", counted)
    tasks.reward_adjustments_task.delay()  # eager: each slice runs the next one it queues

    assert [count for count, _resume in slices] == [1, 1]
    assert slices[-1][1] is None
    assert LedgerTransaction.objects.filter(kind="reward_adjustment").count() == 2
    tasks.reward_adjustments_task.delay()
    assert LedgerTransaction.objects.filter(kind="reward_adjustment").count() == 2  # once each
