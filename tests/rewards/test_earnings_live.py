"""The expert's progress and earnings, live: today's counts and earnings as the labelling page
shows them, and the push of the new totals, in tokens, to the expert whose reward was posted
(after commit; never to anyone else, never for a rolled-back posting)."""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction
from django.test import Client
from django.utils import timezone

from annotate.finalize import item_finalize
from rewards.live import earnings_event, expert_progress
from rewards.services import item_rewards, label_clawback
from rlhf_platform.accounts import notifications
from rlhf_platform.accounts.notifications import user_group
from rlhf_platform.asgi import application
from tests.factories import ItemConsensusFactory, ItemFactory, LabelFactory
from tests.platform.test_notifications_websocket import PATH, TIMEOUT, _session_headers
from tests.platform.websocket_client import WebsocketClient
from tests.rewards.conftest import TOKEN, credit, expert_at, finalise, policy_for


@pytest.fixture
def pushed(monkeypatch):
    sent = []
    monkeypatch.setattr(notifications, "_send", lambda group, event: sent.append((group, event)))
    return sent


@pytest.mark.django_db
def test_progress_counts_todays_labels_their_pace_and_the_earnings(
    project, django_capture_on_commit_callbacks
):
    policy_for(project)
    credit(project.lab, 100 * TOKEN)
    expert = expert_at(project.domain, 3)  # 1 token x 1.5
    now = timezone.now()
    item = ItemFactory(batch__project=project)
    LabelFactory(item=item, expert=expert, choice="A", strength=2, active_seconds=20)
    LabelFactory(item=ItemFactory(batch__project=project), expert=expert, active_seconds=40)
    LabelFactory(
        item=ItemFactory(batch__project=project),
        expert=expert,
        active_seconds=500,
        created_at=now - dt.timedelta(days=2),
    )
    assert expert_progress(expert_id=expert.pk) == {
        "labels_today": 2,
        "seconds_per_label": 30.0,
        "earned": 0,
        "earned_today": 0,
    }
    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)
    progress = expert_progress(expert_id=expert.pk)
    assert progress["earned"] == progress["earned_today"] == 1_500_000_000_000_000_000
    # Tomorrow, today's earnings start again from 0; the total stays.
    tomorrow = expert_progress(expert_id=expert.pk, now=now + dt.timedelta(days=1))
    assert (tomorrow["earned"], tomorrow["earned_today"], tomorrow["labels_today"]) == (
        progress["earned"],
        0,
        0,
    )
    assert earnings_event(progress) == {
        "type": "earnings.updated",
        "earned": "1.50",
        "earned_today": "1.50",
        "labels_today": 2,
        "seconds_per_label": 30.0,
    }


@pytest.mark.django_db
def test_a_posted_reward_and_its_clawback_are_pushed_to_that_expert_after_commit(
    project, item, pushed, django_capture_on_commit_callbacks
):
    policy_for(project)
    credit(project.lab, 100 * TOKEN)
    paid = LabelFactory(item=item, expert=expert_at(project.domain, 3), choice="A", strength=2)
    unpaid = LabelFactory(item=item, expert=expert_at(project.domain, 1), choice="B", strength=2)
    pushed.clear()  # the budget credit's staff broadcast
    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)
    events = {group: event for group, event in pushed if event["type"] == "earnings.updated"}
    # The expert who earned nothing had no money move: nothing to tick.
    assert set(events) == {user_group(paid.expert.user_id)}
    assert events[user_group(paid.expert.user_id)]["earned"] == "1.50"
    assert user_group(unpaid.expert.user_id) not in events

    pushed.clear()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            label_clawback(label_id=paid.pk, reason="audit")
            assert pushed == []  # not before the commit
    assert pushed == [
        (
            user_group(paid.expert.user_id),
            {
                "type": "earnings.updated",
                "earned": "0.00",
                "earned_today": "0.00",
                "labels_today": 1,
                "seconds_per_label": 30.0,
            },
        )
    ]


@pytest.mark.django_db
def test_a_rolled_back_posting_pushes_nothing(project, item, pushed, django_capture_on_commit_callbacks):
    policy_for(project)
    credit(project.lab, 100 * TOKEN)
    LabelFactory(item=item, expert=expert_at(project.domain, 3), choice="A", strength=2)
    ItemConsensusFactory(item=item, choice="A", strength=2.0, confidence=0.9)
    pushed.clear()

    with django_capture_on_commit_callbacks():
        item_finalize(item=item)  # its hook (the rewards task) is not run: posted by hand below
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            assert item_rewards(item_id=item.pk)
            raise RuntimeError
    assert [event for _, event in pushed if event["type"] == "earnings.updated"] == []


@pytest.mark.django_db(transaction=True)
def test_the_reward_reaches_the_experts_own_socket_and_no_other(project, item):
    policy_for(project)
    credit(project.lab, 100 * TOKEN)
    earner = expert_at(project.domain, 3)
    bystander = expert_at(project.domain, 3)
    LabelFactory(item=item, expert=earner, choice="A", strength=2)
    LabelFactory(item=ItemFactory(batch__project=project), expert=bystander, choice="A", strength=2)
    ItemConsensusFactory(item=item, choice="A", strength=2.0, confidence=0.9)

    def finalise_now():
        with transaction.atomic():
            assert item_finalize(item=item)

    earner_headers, bystander_headers = _session_headers(earner.user), _session_headers(bystander.user)

    async def scenario():
        mine = WebsocketClient(application, PATH, headers=earner_headers)
        theirs = WebsocketClient(application, PATH, headers=bystander_headers)
        assert (await mine.connect(timeout=TIMEOUT))[0]
        assert (await theirs.connect(timeout=TIMEOUT))[0]
        await sync_to_async(finalise_now)()  # commit -> rewards task (eager) -> push on its commit
        message = await mine.receive_json_from(timeout=TIMEOUT)
        silent = await theirs.receive_nothing(timeout=0.5)
        await mine.disconnect()
        await theirs.disconnect()
        return message, silent

    message, silent = async_to_sync(scenario)()
    assert message == {
        "type": "earnings.updated",
        "earned": "1.50",
        "earned_today": "1.50",
        "labels_today": 1,
        "seconds_per_label": 30.0,
    }
    assert silent is True


@pytest.mark.django_db
def test_the_labelling_page_and_its_fragment_show_todays_counts_and_earnings(
    project, item, django_capture_on_commit_callbacks
):
    policy_for(project)
    credit(project.lab, 100 * TOKEN)
    expert = expert_at(project.domain, 3)
    LabelFactory(item=item, expert=expert, choice="A", strength=2, active_seconds=42)
    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)
    client = Client()
    client.force_login(expert.user)
    page = client.get("/label/").content.decode()
    assert 'id="live-progress"' in page and "js/earnings_live.js" in page
    fragment = client.get("/earnings/today/").content.decode()
    assert '<strong id="progress-labels-today">1</strong>' in fragment
    assert "42 s per label" in fragment
    assert '<strong id="progress-earned-today">1.50</strong>' in fragment
    assert '<span id="progress-earned">1.50</span> tokens in all' in fragment
    assert "1500000000000000000" not in fragment  # base units stay in the API
    statement = client.get("/earnings/").content.decode()
    assert 'id="balances"' in statement and 'id="statement-section"' in statement
    assert "js/earnings_live.js" in statement
    staff_only = Client()
    assert staff_only.get("/earnings/today/").status_code in (302, 403)
