"""The suspension test in the pipeline: an adaptive spammer's banked passes do not protect it,
silver evidence (each label against its item's posterior without it, from labels that do not
depend on its answer and not from suspected groups alone) feeds the test, and a
suspension excludes every label from the change point on, final items included: their consensus
is recomputed and, when the delivered answer changes, the revision is recorded and the lab told."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from annotate.models import (
    AnnotatorQuality,
    Item,
    ItemConsensus,
    Label,
    ProjectSuspension,
    Slot,
)
from annotate.quality.aggregation import Vote
from annotate.quality.consensus_update import item_result, project_model
from annotate.quality.cusum import design_of
from annotate.quality.services import label_quality_process, project_quality_recompute
from annotate.quality.silver import silver_grades, support_of
from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.webhooks.models import WebhookDelivery
from rlhf_platform.webhooks.services import webhook_endpoint_create
from tests.factories import BatchFactory, ItemFactory, LabelFactory, ProjectFactory, StaffFactory
from tests.quality.pipeline import expert_for, label_next, stored_model

pytestmark = pytest.mark.django_db(transaction=True)

GOLD = {"choice": "A", "strength_min": 2, "strength_max": 3}


def _gold(expert, project, *, passed: bool, at):
    item = ItemFactory(batch=BatchFactory(project=project), gold_answer=True, gold=GOLD)
    label = LabelFactory(item=item, expert=expert, choice="A" if passed else "B", strength=2, created_at=at)
    assert label_quality_process(label_id=label.pk)
    return label


def _ordinary(expert, project, *, at, choice="A", item=None):
    item = item or ItemFactory(batch=BatchFactory(project=project))
    label = LabelFactory(item=item, expert=expert, choice=choice, strength=2, created_at=at)
    assert label_quality_process(label_id=label.pk)
    return label


def _suspension(expert):
    return ProjectSuspension.objects.filter(expert=expert, active=True).first()


def test_an_adaptive_spammer_with_banked_passes_is_suspended_as_fast_as_a_fresh_one():
    project = ProjectFactory(gold_threshold=0.55, gold_min_seen=8, gold_rate=0)
    adaptive = expert_for(project)
    start = timezone.now() - dt.timedelta(days=1)
    careful = [_ordinary(adaptive, project, at=start + dt.timedelta(minutes=2 * n)) for n in range(5)]
    for n in range(40):  # careful for 40 golds: passes banked under a lifetime rule
        _gold(adaptive, project, passed=True, at=start + dt.timedelta(minutes=2 * n + 1))
    switch = start + dt.timedelta(hours=2)
    design = design_of(p0=0.55)
    misses, spam = 0, []
    while _suspension(adaptive) is None:
        assert misses < 200, "never suspended"
        at = switch + dt.timedelta(minutes=2 * misses)
        _gold(adaptive, project, passed=False, at=at)
        spam.append(_ordinary(adaptive, project, choice="B", at=at + dt.timedelta(seconds=30)))
        misses += 1
    # The passes bought nothing: exactly the misses a fresh account needs.
    assert misses == -(-design.threshold // design.gold.failed)
    suspension = _suspension(adaptive)
    assert suspension.details["change_point"] == switch.isoformat()
    assert suspension.details["alpha"] == pytest.approx(0.05 / 100)
    # Every spam label given before the suspension is excluded, the careful ones count.
    spam = spam[:-1]  # the last was given after it (its step found the suspension)
    assert all(Label.objects.get(pk=label.pk).excluded_from_consensus for label in spam)
    assert not any(Label.objects.get(pk=label.pk).excluded_from_consensus for label in careful)


def test_an_item_becoming_final_grades_its_labels_against_the_consensus_without_them():
    project = ProjectFactory(
        gold_threshold=0.55, gold_min_seen=2, gold_rate=0, overlap=3, max_overlap=5, confidence_threshold=0.8
    )
    first, second, odd = expert_for(project), expert_for(project), expert_for(project)
    for expert in (first, second):  # a good gold record: their agreement vouches for a consensus
        _record(project, expert, passed=2)
    stored_model(project)
    item = ItemFactory(batch=BatchFactory(project=project))
    labels = [
        label_next(expert, project, choice=choice, strength=2)
        for expert, choice in ((first, "A"), (second, "A"), (odd, "B"))
    ]
    assert Item.objects.get(pk=item.pk).state == Item.State.FINAL
    stored = [Label.objects.get(pk=label.pk) for label in labels]
    # Without ``first`` (or ``second``) the consensus is a 1:1 split: their answers have half the
    # posterior; without ``odd`` it is a sure A, and ``odd`` said B.
    assert [label.silver_support for label in stored] == [5, 5, 0]
    assert stored[2].silver_passed is False
    # every label also keeps the consensus without it (the rewards' right term reads it)
    assert stored[2].loo_choice == "A"
    design = design_of(p0=0.55)
    odd_row = AnnotatorQuality.objects.get(project=project, expert=odd)
    assert (odd_row.suspend_events, odd_row.suspend_statistic) == (1, design.silver.step(0))
    assert design.silver.step(0) == design.gold.failed  # as much as a missed gold
    assert odd_row.suspend_since == stored[2].created_at
    first_row = AnnotatorQuality.objects.get(project=project, expert=first)
    assert (first_row.suspend_events, first_row.suspend_statistic) == (1, 0)  # a half-sure pass


def test_labels_in_slots_opened_because_of_a_disagreement_are_not_evidence_against_it(settings):
    """A disagreeing label brings more labels (the item escalates), so the consensus without it
    is surer than without an agreeing one: scored against those, disagreeing labels would be
    graded far more often than agreeing ones, and honest annotators would look worse than they
    are. A label is scored only against labels given before it or in the item's first slots."""
    # every annotator here is trusted, so their dissent would hold the item open (tested in
    # test_trusted_dissent.py); this test needs it final
    settings.QUALITY_DISSENT_ACCURACY = 1.01
    project = ProjectFactory(
        gold_threshold=0.55, gold_min_seen=2, gold_rate=0, overlap=3, max_overlap=5, confidence_threshold=0.8
    )
    experts = [expert_for(project) for _ in range(4)]
    for expert in experts:
        _record(project, expert, passed=2)
    stored_model(project)
    item = ItemFactory(batch=BatchFactory(project=project))
    answers = ("A", "B", "tie", "A")
    labels = [
        label_next(expert, project, choice=choice, strength=2)
        for expert, choice in zip(experts, answers, strict=True)
    ]
    item.refresh_from_db()
    assert item.state == Item.State.FINAL and Slot.objects.filter(item=item).count() > 3  # escalated
    supports = [Label.objects.get(pk=label.pk).silver_support for label in labels]
    model = project_model(project.pk)

    def support(answer: str, others: tuple[str, ...]) -> int:
        votes = [Vote(item=item.pk, worker=str(n), choice=c) for n, c in enumerate(others)]
        return support_of(item_result(item=item, votes=votes, model=model).posterior, answer)

    # Each of the first three faces the labels before it and the first three slots: the A faces
    # B and tie. With the fourth label (an A, from a slot opened because they disagreed) it would
    # face A, B and tie and have more support.
    assert supports[:3] == [
        support("A", ("B", "tie")),
        support("B", ("A", "tie")),
        support("tie", ("A", "B")),
    ]
    assert support("A", ("B", "tie")) < support("A", ("B", "tie", "A"))
    assert supports[3] == support("A", ("A", "B", "tie"))  # the fourth faces every label before it


def _record(project, expert, *, passed: int, failed: int = 0) -> None:
    AnnotatorQuality.objects.update_or_create(
        project=project, expert=expert, defaults={"gold_passed": passed, "gold_failed": failed}
    )


@pytest.mark.parametrize("case", ["independent", "suspected_pair"])
def test_a_consensus_carried_by_a_suspected_group_alone_is_no_evidence(case):
    project = ProjectFactory(gold_threshold=0.55, gold_min_seen=8, gold_rate=0)
    first, second, odd = expert_for(project), expert_for(project), expert_for(project)
    grouped = case == "suspected_pair"
    groups = [[str(first.pk), str(second.pk)]] if grouped else None
    model = stored_model(project, groups=groups, accuracy=0.99)
    item = ItemFactory(batch=BatchFactory(project=project))
    for expert, choice in ((first, "A"), (second, "A"), (odd, "B")):
        LabelFactory(item=item, expert=expert, choice=choice, strength=2)
    consensus = ItemConsensus(item=item, choice="A", confidence=0.99, label_count=3)
    graded = {
        expert_id: support
        for expert_id, support, _at in silver_grades(
            item=item, project=project, consensus=consensus, model=model
        )
    }
    # The pair's labels face ``odd`` (outside the group) and each other: graded either way.
    assert first.pk in graded and second.pk in graded
    if case == "independent":
        assert graded[odd.pk] == 0  # two sure A's without it, and it said B
    else:
        assert odd.pk not in graded  # the two A's are one suspected group's word


def test_a_suspension_revises_a_final_items_consensus_and_tells_the_lab():
    project = ProjectFactory(gold_threshold=0.55, gold_rate=0, overlap=2, max_overlap=4)
    webhook_endpoint_create(lab=project.lab, url="http://127.0.0.1:9/hook", events=["item.consensus_revised"])
    spammer, honest = expert_for(project), expert_for(project)
    start = timezone.now() - dt.timedelta(hours=1)
    kept = ItemFactory(batch=BatchFactory(project=project), state=Item.State.FINAL)
    before = LabelFactory(item=kept, expert=spammer, choice="B", strength=2, created_at=start)
    _gold(spammer, project, passed=False, at=start + dt.timedelta(minutes=1))  # the change point
    final = ItemFactory(batch=BatchFactory(project=project), state=Item.State.FINAL)
    spam = LabelFactory(
        item=final, expert=spammer, choice="B", strength=2, created_at=start + dt.timedelta(minutes=2)
    )
    LabelFactory(
        item=final, expert=honest, choice="A", strength=2, created_at=start + dt.timedelta(minutes=3)
    )
    # The consensus delivered to the lab when the item became final: the spammer's answer.
    ItemConsensus.objects.create(
        item=final, method="majority", choice="B", strength=2, confidence=0.9, label_count=2
    )
    n = 0
    while _suspension(spammer) is None:
        assert n < 100, "never suspended"
        _gold(spammer, project, passed=False, at=start + dt.timedelta(minutes=10 + n))
        n += 1
    suspension = _suspension(spammer)

    assert Label.objects.get(pk=spam.pk).excluded_from_consensus
    assert not Label.objects.get(pk=before.pk).excluded_from_consensus  # before the change point
    item = Item.objects.get(pk=final.pk)
    assert item.state == Item.State.FINAL  # stays final; its consensus is revised
    consensus = ItemConsensus.objects.get(item=final)
    assert (consensus.choice, consensus.label_count) == ("A", 1)
    [revision] = consensus.revisions
    assert revision["was"]["choice"] == "B" and revision["now"]["choice"] == "A"
    assert revision["suspension"] == str(suspension.pk) and revision["reason"]
    assert revision["at"]
    [delivery] = WebhookDelivery.objects.filter(event="item.consensus_revised")
    data = delivery.payload["data"]
    assert data["item"] == str(final.uid) and data["was"]["choice"] == "B" and data["now"]["choice"] == "A"
    assert data["suspension"] == str(suspension.pk)
    assert AuditEvent.objects.filter(action="quality.consensus_revised", target_id=str(final.pk)).exists()
    assert AuditEvent.objects.get(action="quality.suspend").data["final_items"] == 1
    # Staff see it on the project's quality page.
    staff = Client()
    staff.force_login(StaffFactory())
    page = staff.get(f"/staff/quality/projects/{project.pk}/").content.decode()
    assert "Revised consensus (1)" in page and 'id="revised-items"' in page
    row = page[page.index('id="revised-items"') :]
    assert final.external_id in row and "labels excluded by a suspension" in row
    # A later recomputation of the item keeps its record of revisions.
    from annotate.quality.services import items_quality_refresh

    items_quality_refresh(item_ids=[final.pk])
    assert len(ItemConsensus.objects.get(item=final).revisions) == 1
    assert WebhookDelivery.objects.filter(event="item.consensus_revised").count() == 1


def test_recompute_replays_gold_and_silver_evidence_to_the_same_test_states_and_suspensions(settings):
    settings.QUALITY_SUSPEND_DESIGN_SIZE, settings.QUALITY_SUSPEND_ALPHA = 1, 0.3
    settings.QUALITY_SUSPEND_HORIZON = 30
    project = ProjectFactory(
        gold_threshold=0.55, gold_min_seen=2, gold_rate=0, overlap=3, max_overlap=5, confidence_threshold=0.8
    )
    first, second, odd = expert_for(project), expert_for(project), expert_for(project)
    for expert in (first, second):
        _record(project, expert, passed=2)
    stored_model(project)
    ItemFactory.create_batch(6, batch=BatchFactory(project=project))
    at = timezone.now()
    for n in range(6):
        if _suspension(odd) is None:
            _gold(odd, project, passed=n % 3 == 0, at=at + dt.timedelta(seconds=n))
        for expert, choice in ((first, "A"), (second, "A"), (odd, "B")):
            label_next(expert, project, choice=choice, strength=2)
    assert Label.objects.filter(expert=odd, silver_passed=False).exists()
    assert _suspension(odd) is not None  # gold and silver evidence together

    def states():
        return {
            row.expert_id: (row.suspend_statistic, row.suspend_since, row.suspend_events)
            for row in AnnotatorQuality.objects.filter(project=project)
        }

    incremental = states()
    AnnotatorQuality.objects.filter(project=project).update(
        suspend_statistic=0, suspend_since=None, suspend_events=0
    )
    project_quality_recompute(project_id=project.pk, refit=False)
    assert states() == incremental


def test_labels_keep_their_leave_one_out_consensus_before_the_project_has_a_fitted_model():
    """The rewards' right term reads ``loo_choice`` (the consensus without the label) to tell an
    agreement the label carried itself. Items that become final before the first fit must keep
    it too, or a pivotal vote there counts as right for anyone."""
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=5, confidence_threshold=0.5)
    experts = [expert_for(project) for _ in range(3)]
    item = ItemFactory(batch=BatchFactory(project=project))
    labels = [
        label_next(expert, project, choice=choice, strength=2)
        for expert, choice in zip(experts, ("A", "A", "B"), strict=True)
    ]
    assert Item.objects.get(pk=item.pk).state == Item.State.FINAL
    stored = [Label.objects.get(pk=label.pk) for label in labels]
    # without the B label the others say A; without either A label, a 1:1 split decided by the
    # aggregation's tie rule: stored either way, never left empty
    assert stored[2].loo_choice == "A"
    assert all(label.loo_choice for label in stored)
    assert all(label.silver_passed is None for label in stored)  # no silver grade without a model
