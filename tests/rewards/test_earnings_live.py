"""The expert's progress and earnings, live: today's counts and earnings as the labelling page
shows them, and the push of the new totals, in tokens, to the expert whose reward was posted
(after commit; never to anyone else, never for a rolled-back posting)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.finalize import item_finalize
from rewards.ledger import (
    expert_account,
    lab_budget_account,
    ledger_payout_reserve,
    ledger_post,
    ledger_post_many,
    treasury_account,
)
from rewards.live import earnings_event, expert_progress, experts_progress
from rewards.models import LedgerAccount
from rewards.services import item_rewards, label_clawback
from rlhf_platform.accounts import notifications
from rlhf_platform.accounts.notifications import user_group
from rlhf_platform.asgi import application
from tests.factories import (
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    LabFactory,
)
from tests.platform.test_notifications_websocket import PATH, TIMEOUT, _session_headers
from tests.platform.websocket_client import WebsocketClient
from tests.rewards.conftest import TOKEN, credit, expert_at, finalise, policy_for


class RecordingLayer:
    """A channel layer that keeps what is sent to it, and the event loop each send ran in."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.loops: list[asyncio.AbstractEventLoop] = []

    async def group_send(self, group: str, message: dict) -> None:
        self.loops.append(asyncio.get_running_loop())
        self.sent.append((group, message["event"]))


@pytest.fixture
def layer(monkeypatch):
    layer = RecordingLayer()
    monkeypatch.setattr(notifications, "get_channel_layer", lambda: layer)
    return layer


@pytest.fixture
def pushed(layer):
    return layer.sent


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


@pytest.mark.django_db
def test_the_progress_of_many_experts_at_once_is_each_ones_progress(
    project, django_capture_on_commit_callbacks
):
    policy_for(project)
    credit(project.lab, 100 * TOKEN)
    now = timezone.now()
    yesterday = now - dt.timedelta(days=1)
    paid, clawed, held, idle = (expert_at(project.domain, level) for level in (3, 1, 2, 4))
    # paid: two labels today and one yesterday, rewarded; part of it reserved for a payout
    item = ItemFactory(batch__project=project)
    LabelFactory(item=item, expert=paid, choice="A", strength=2, active_seconds=20)
    LabelFactory(item=ItemFactory(batch__project=project), expert=paid, active_seconds=45)
    LabelFactory(
        item=ItemFactory(batch__project=project), expert=paid, active_seconds=90, created_at=yesterday
    )
    # clawed: labelled yesterday, rewarded today, then clawed back
    clawed_label = LabelFactory(
        item=item, expert=clawed, choice="A", strength=2, active_seconds=70, created_at=yesterday
    )
    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)
    label_clawback(label_id=clawed_label.pk, reason="audit")
    ledger_payout_reserve(expert_id=paid.pk, amount=TOKEN // 2, reference="part")
    # held: one label today without a reported time; a reward with a held share, and money on
    # their account from transactions about another expert and about nobody (not today's earnings)
    LabelFactory(item=ItemFactory(batch__project=project), expert=held, active_seconds=None)
    budget = lab_budget_account(lab_id=project.lab_id)
    payable, held_back = (
        expert_account(kind=kind, expert_id=held.pk)
        for kind in (LedgerAccount.Kind.ANNOTATOR, LedgerAccount.Kind.HELD)
    )
    ledger_post(
        kind="reward", reference="held", legs=[(budget, -5), (payable, 3), (held_back, 2)], expert_id=held.pk
    )
    ledger_post(
        kind="reward_adjustment", reference="theirs", legs=[(budget, -7), (payable, 7)], expert_id=paid.pk
    )
    ledger_post(kind="reward_adjustment", reference="nobodys", legs=[(budget, -11), (payable, 11)])

    experts = [paid.pk, clawed.pk, held.pk, idle.pk]
    for when in (now, yesterday, now + dt.timedelta(days=1)):
        assert experts_progress(expert_ids=experts, now=when) == {
            expert_id: expert_progress(expert_id=expert_id, now=when) for expert_id in experts
        }
    progress = experts_progress(expert_ids=experts)
    assert (progress[paid.pk]["labels_today"], progress[paid.pk]["seconds_per_label"]) == (2, 32.5)
    assert progress[paid.pk]["earned"] == progress[paid.pk]["earned_today"] == 3 * TOKEN // 2
    assert progress[clawed.pk] == {
        "labels_today": 0,
        "seconds_per_label": None,
        "earned": 0,
        "earned_today": 0,
    }
    assert progress[held.pk] == {
        "labels_today": 1,
        "seconds_per_label": None,
        "earned": 23,
        "earned_today": 5,
    }
    assert progress[idle.pk] == {"labels_today": 0, "seconds_per_label": None, "earned": 0, "earned_today": 0}
    # Ids given as text are answered under the same text.
    assert experts_progress(expert_ids=[str(held.pk)]) == {str(held.pk): progress[held.pk]}
    assert experts_progress(expert_ids=[]) == {}


def _pay_each(experts) -> None:
    """One posting (``ledger_post_many``) paying each expert a token out of a lab's budget."""
    lab = LabFactory()
    budget = lab_budget_account(lab_id=lab.pk)
    total = len(experts) * TOKEN
    ledger_post(
        kind="budget_credit",
        reference=f"credit:{lab.pk}",
        legs=[(treasury_account(), -total), (budget, total)],
    )
    payable = LedgerAccount.Kind.ANNOTATOR
    ledger_post_many(
        [
            {
                "kind": "reward",
                "reference": f"reward:{expert.pk}",
                "legs": [(budget, -TOKEN), (expert_account(kind=payable, expert_id=expert.pk), TOKEN)],
                "expert_id": expert.pk,
            }
            for expert in experts
        ]
    )


def _push_queries(n: int, layer: RecordingLayer, capture) -> int:
    """The queries of the push after a posting that paid ``n`` experts (each with a label
    today); every one of them gets their event."""
    experts = [ExpertProfileFactory() for _ in range(n)]
    for expert in experts:
        LabelFactory(expert=expert, active_seconds=12)
    with capture() as callbacks:
        _pay_each(experts)
    layer.sent.clear()
    with CaptureQueriesContext(connection) as queries, capture(execute=True):
        for callback in callbacks:
            callback()
    assert sorted(group for group, _ in layer.sent) == sorted(user_group(e.user_id) for e in experts)
    assert {event["earned"] for _, event in layer.sent} == {"1.00"}
    return len(queries)


@pytest.mark.django_db
def test_the_push_after_a_posting_costs_the_same_queries_and_one_event_loop_for_any_number_of_experts(
    layer, django_capture_on_commit_callbacks
):
    assert _push_queries(1, layer, django_capture_on_commit_callbacks) <= 4
    layer.loops.clear()
    assert _push_queries(8, layer, django_capture_on_commit_callbacks) <= 4
    # The eight events went out from one event loop: one connection to the channel layer.
    assert len(layer.loops) == 8 and len({id(loop) for loop in layer.loops}) == 1
