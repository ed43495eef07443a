"""Gold that does not leak: exposure caps and retirement, the least exposed drawn first, the gold
review (answers only once retired), the aggregate accuracy, silver gold, and pool health."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from annotate import queue
from annotate.models import AnnotatorQuality, Assignment, Item, ItemConsensus, Label
from annotate.progress import project_progress
from annotate.quality.consensus_update import counted_labels
from annotate.quality.gold_pool import (
    GOLD_ACCURACY_MIN_GRADED,
    gold_accuracy,
    gold_pool_health,
    gold_review,
    silver_promote,
    silver_withdraw,
)
from annotate.quality.report import project_report
from tests.factories import BatchFactory, ItemFactory, ProjectFactory
from tests.quality.pipeline import expert_for, next_assignment, submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def always_gold(monkeypatch):
    """Every draw of the queue is a gold draw (the project's rate is only its probability)."""
    monkeypatch.setattr(queue._random, "random", lambda: 0.0)


def _gold_project(*, golds: int, ordinary: int = 0, **fields):
    project = ProjectFactory(gold_rate=0.5, **fields)
    batch = BatchFactory(project=project)
    gold = [
        ItemFactory(batch=batch, gold_answer=True, gold={"choice": "B", "explanation": "B is right."})
        for _ in range(golds)
    ]
    ItemFactory.create_batch(ordinary, batch=batch)
    return project, gold


def test_a_gold_item_is_served_to_at_most_the_cap_then_retired(always_gold):
    project, gold = _gold_project(golds=2, gold_exposure_cap=3)
    served = []
    for _ in range(8):
        expert = expert_for(project)
        assignment = next_assignment(expert, project)
        if assignment is not None:
            assert assignment.is_gold
            served.append(assignment.item_id)
            submit(assignment, expert, choice="B")
    assert sorted(served) == sorted([gold[0].pk] * 3 + [gold[1].pk] * 3)  # 6 served, then none
    for item in Item.objects.filter(pk__in=[g.pk for g in gold]):
        assert item.gold_exposures == 3
        assert item.gold_retired_at is not None
    assert gold_pool_health(project=project)["live"] == 0


def test_the_claim_draws_one_of_the_least_exposed(always_gold):
    project, gold = _gold_project(golds=3, gold_exposure_cap=12)
    for item, exposures in zip(gold, (5, 0, 2), strict=True):
        Item.objects.filter(pk=item.pk).update(gold_exposures=exposures)
    first = next_assignment(expert_for(project), project)
    assert first.item_id == gold[1].pk
    second = next_assignment(expert_for(project), project)
    assert second.item_id == gold[1].pk  # 1 exposure now, still below the 2 and the 5
    assert Item.objects.get(pk=gold[1].pk).gold_exposures == 2


def test_the_exposure_is_counted_even_when_the_lease_is_skipped(always_gold):
    project, gold = _gold_project(golds=1, gold_exposure_cap=1)
    expert = expert_for(project)
    assignment = next_assignment(expert, project)
    queue.assignment_skip(assignment=assignment, expert=expert, reason="outside my expertise")
    item = Item.objects.get(pk=gold[0].pk)
    assert item.gold_exposures == 1 and item.gold_retired_at is not None
    assert next_assignment(expert_for(project), project) is None


def test_a_retired_item_is_never_served_as_gold(always_gold):
    project, gold = _gold_project(golds=2, ordinary=3)
    Item.objects.filter(pk=gold[0].pk).update(gold_retired_at=timezone.now())
    for _ in range(4):
        assignment = next_assignment(expert_for(project), project)
        assert assignment.item_id != gold[0].pk
    assert not Assignment.objects.filter(item=gold[0]).exists()


def test_the_gold_review_shows_an_answer_only_once_the_item_is_retired(always_gold, api_client):
    project, gold = _gold_project(golds=1, gold_exposure_cap=2)
    expert = expert_for(project)
    assignment = next_assignment(expert, project)
    submit(assignment, expert, choice="A")
    api_client.force_login(expert.user)
    body = api_client.get("/api/v1/queue/gold-review").json()
    assert body["results"] == []  # still live: served to 1 of 2
    page = api_client.get("/label/gold-review/")
    assert page.status_code == 200 and b"B is right." not in page.content

    next_assignment(expert_for(project), project)  # the second exposure retires it
    body = api_client.get("/api/v1/queue/gold-review").json()
    [entry] = body["results"]
    assert entry["item"] == str(gold[0].uid)
    assert entry["passed"] is False
    assert entry["expected"]["choice"] == "AB"[assignment.shown_order.index(1)]  # in the letters shown
    assert entry["explanation"] == "B is right."
    page = api_client.get("/label/gold-review/")
    assert b"B is right." in page.content


def test_no_gold_review_when_the_project_does_not_show_gold_answers(always_gold):
    project, _gold = _gold_project(golds=1, gold_exposure_cap=1, gold_feedback=False)
    expert = expert_for(project)
    submit(next_assignment(expert, project), expert, choice="B")
    assert gold_review(expert=expert) == []


def test_gold_accuracy_is_shown_only_from_enough_graded_golds_and_a_day_late(always_gold):
    project, _gold = _gold_project(golds=GOLD_ACCURACY_MIN_GRADED)
    expert = expert_for(project)
    tomorrow = timezone.now() + dt.timedelta(days=1)
    for n in range(GOLD_ACCURACY_MIN_GRADED):
        submit(next_assignment(expert, project), expert, choice="B" if n % 2 else "A")
        # Today's golds do not count yet: a change right after a submit would point at the item.
        assert gold_accuracy(expert=expert)["accuracy"] is None
        accuracy = gold_accuracy(expert=expert, now=tomorrow)
        if n + 1 < GOLD_ACCURACY_MIN_GRADED:
            assert accuracy["accuracy"] is None and accuracy["graded"] is None
    assert (accuracy["graded"], accuracy["accuracy"]) == (10, 0.5)


def test_pool_health_is_in_the_quality_report(always_gold):
    project, gold = _gold_project(golds=3, gold_exposure_cap=2)
    Item.objects.filter(pk=gold[0].pk).update(gold_exposures=2, gold_retired_at=timezone.now())
    Item.objects.filter(pk=gold[1].pk).update(gold_exposures=1)
    pool = project_report(project=project, n_boot=10)["gold_pool"]
    assert (pool["total"], pool["live"], pool["retired"], pool["exposures"]) == (3, 2, 1, 3)
    assert (pool["lab"], pool["silver"], pool["exposure_cap"], pool["exposures_left"]) == (3, 0, 2, 3)


# --- silver gold ---------------------------------------------------------------------------------


def _final_item_with_labels(project, experts, choice="A"):
    item = ItemFactory(batch=BatchFactory(project=project))
    for expert in experts:
        assignment = next_assignment(expert, project)
        assert assignment.item_id == item.pk
        submit(assignment, expert, choice=choice)
        AnnotatorQuality.objects.update_or_create(
            project=project, expert=expert, defaults={"gold_passed": 20, "gold_failed": 0}
        )
    item.refresh_from_db()
    return item


def _model(groups=None):
    groups = groups or {}
    return SimpleNamespace(group_of=lambda worker: groups.get(worker))


def _sure(choice="A", confidence=0.99):
    return SimpleNamespace(choice=choice, ranking=None, confidence=confidence)


def test_a_sure_vouched_consensus_is_promoted_to_silver_gold_and_served_to_others_only():
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=3)
    ItemFactory(batch=BatchFactory(project=project), gold_answer=True)  # lab gold: room for silver
    experts = [expert_for(project) for _ in range(3)]
    item = _final_item_with_labels(project, experts)
    progress_before = project_progress(project=project)
    consensus_before = list(ItemConsensus.objects.filter(item=item).values())
    counted_before = list(counted_labels(item.pk).values_list("pk", flat=True))

    assert silver_promote(item=item, project=project, consensus=_sure(), model=_model())
    item.refresh_from_db()
    assert (item.gold_source, item.gold["choice"], item.is_gold) == ("silver", "A", False)

    project.gold_rate = 0.5
    project.save(update_fields=["gold_rate"])
    queue._random.random = lambda: 0.0
    try:
        for expert in experts:  # they labelled it: never served it as gold
            assignment = next_assignment(expert, project)
            assert assignment is None or assignment.item_id != item.pk
        newcomer = expert_for(project)
        served = []
        assignment = next_assignment(newcomer, project)
        while assignment is not None:
            served.append(assignment.item_id)
            label = submit(assignment, newcomer, choice="B")
            assignment = next_assignment(newcomer, project)
    finally:
        del queue._random.random
    assert item.pk in served
    gold_label = Label.objects.get(item=item, expert=newcomer)
    assert gold_label.is_gold and gold_label.gold_passed is False  # graded against the consensus
    # The item's own labels, consensus and the project's counts are unchanged.
    assert list(counted_labels(item.pk).values_list("pk", flat=True)) == counted_before
    assert list(ItemConsensus.objects.filter(item=item).values()) == consensus_before
    after = project_progress(project=project)
    assert after["items"] == progress_before["items"]
    assert after["labels"]["ordinary"] == progress_before["labels"]["ordinary"]
    assert label is not None


@pytest.mark.parametrize(
    ("consensus", "groups", "reason"),
    [
        (_sure(confidence=0.9), {}, "not sure enough"),
        (SimpleNamespace(choice="", ranking=[[0], [1]], confidence=1.0), {}, "a ranking"),
        (_sure(), "first", "an agreeing label from a suspected group"),
    ],
)
def test_no_promotion_when_the_consensus_does_not_qualify(consensus, groups, reason):
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=3)
    ItemFactory(batch=BatchFactory(project=project), gold_answer=True)
    experts = [expert_for(project) for _ in range(3)]
    item = _final_item_with_labels(project, experts)
    if groups == "first":
        groups = {str(experts[0].pk): 0}
    assert not silver_promote(item=item, project=project, consensus=consensus, model=_model(groups)), reason
    assert Item.objects.get(pk=item.pk).gold is None


def test_no_promotion_without_a_vouching_gold_record():
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=3)
    ItemFactory(batch=BatchFactory(project=project), gold_answer=True)
    experts = [expert_for(project) for _ in range(3)]
    item = _final_item_with_labels(project, experts)
    AnnotatorQuality.objects.filter(project=project).update(gold_passed=1, gold_failed=9)
    assert not silver_promote(item=item, project=project, consensus=_sure(), model=_model())


def test_silver_stays_within_its_share_of_the_pool(settings):
    settings.QUALITY_SILVER_GOLD_MAX_SHARE = 0.5
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=3)
    ItemFactory(batch=BatchFactory(project=project), gold_answer=True)  # one lab gold item
    first = _final_item_with_labels(project, [expert_for(project) for _ in range(3)])
    second = _final_item_with_labels(project, [expert_for(project) for _ in range(3)])
    assert silver_promote(item=first, project=project, consensus=_sure(), model=_model())
    assert not silver_promote(item=second, project=project, consensus=_sure(), model=_model())
    assert gold_pool_health(project=project)["silver"] == 1


def test_a_silver_item_whose_consensus_is_revised_is_withdrawn_from_pool_and_review(always_gold):
    project = ProjectFactory(gold_rate=0.5, overlap=3, max_overlap=3, gold_exposure_cap=1)
    ItemFactory(batch=BatchFactory(project=project), gold_answer=True)
    Item.objects.filter(project=project, is_gold=True).update(gold_retired_at=timezone.now())
    experts = [expert_for(project) for _ in range(3)]
    project.gold_rate = 0
    project.save(update_fields=["gold_rate"])
    item = _final_item_with_labels(project, experts)
    assert silver_promote(item=item, project=project, consensus=_sure(), model=_model())
    project.gold_rate = 0.5
    project.save(update_fields=["gold_rate"])
    newcomer = expert_for(project)
    assignment = next_assignment(newcomer, project)
    assert assignment.item_id == item.pk
    submit(assignment, newcomer, choice="A")
    assert [entry["item"] for entry in gold_review(expert=newcomer)] == [str(item.uid)]  # retired at 1

    item.refresh_from_db()
    assert silver_withdraw(item=item, project=project, reason="consensus revised")
    assert gold_review(expert=newcomer) == []
    assert gold_pool_health(project=project)["live"] == 0
    assert next_assignment(expert_for(project), project) is None
