"""Gold rules: warn, suspend when the suspension test crosses, what a suspension does (gate, leases,
excluded labels kept), and the appeal decided by staff, all audited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotate.models import AnnotatorQuality, Assignment, Item, ItemConsensus, Label, ProjectSuspension, Slot
from annotate.quality.cusum import State, design_of
from annotate.quality.selectors import gold_standing
from annotate.quality.services import label_quality_process
from annotate.queue import NoWork, assignment_next
from rlhf_platform.audit.models import AuditEvent
from tests.factories import (
    AssignmentFactory,
    BatchFactory,
    DomainFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    StaffFactory,
)
from tests.quality.pipeline import expert_for

pytestmark = pytest.mark.django_db(transaction=True)

GOLD = {"choice": "A", "strength_min": 2, "strength_max": 3}


def _gold(expert, project, *, passed: bool, at=None):
    """A gold label of ``expert`` through the after-submit step (passed or missed)."""
    item = ItemFactory(batch=BatchFactory(project=project), gold_answer=True, gold=GOLD)
    label = LabelFactory(
        item=item, expert=expert, choice="A" if passed else "B", strength=2, created_at=at or timezone.now()
    )
    assert label_quality_process(label_id=label.pk)
    return label


def _ordinary(expert, project, *, choice="A", at=None, item=None):
    item = item or ItemFactory(batch=BatchFactory(project=project))
    label = LabelFactory(item=item, expert=expert, choice=choice, strength=2, created_at=at or timezone.now())
    assert label_quality_process(label_id=label.pk)
    return label


def _misses_to_suspend(project) -> int:
    design = design_of(p0=project.gold_threshold)
    return -(-design.threshold // design.gold.failed)


def test_the_test_suspends_after_a_run_of_misses_and_passes_bring_it_back_to_zero():
    project = ProjectFactory.build(gold_threshold=0.7, gold_min_seen=5)
    design = design_of(p0=project.gold_threshold)
    at = timezone.now()
    state = State()
    for _ in range(_misses_to_suspend(project) - 1):
        state.add(design=design, kind="gold", outcome=False, created_at=at)
    assert not state.crossed(design)
    state.add(design=design, kind="gold", outcome=True, created_at=at)
    state.add(design=design, kind="gold", outcome=True, created_at=at)
    assert state.value < design.threshold - design.gold.failed
    # Misses scattered among passes at the good accuracy never add up.
    state = State()
    for n in range(300):
        state.add(design=design, kind="gold", outcome=n % 10 < 7, created_at=at)
        assert not state.crossed(design)


def test_one_unlucky_miss_warns_but_never_suspends():
    project = ProjectFactory(gold_threshold=0.7, gold_min_seen=5, gold_rate=0)
    expert = expert_for(project)
    for _ in range(4):
        _gold(expert, project, passed=True)
    _gold(expert, project, passed=False)
    row = AnnotatorQuality.objects.get(project=project, expert=expert)
    assert (row.gold_passed, row.gold_failed, row.status) == (4, 1, "ok")  # posterior mean 5/7 = 0.71
    _gold(expert, project, passed=False)
    row.refresh_from_db()
    assert row.status == AnnotatorQuality.Status.WARNED  # mean 5/8 < 0.7: a warning only
    assert not ProjectSuspension.objects.exists()


def test_a_spammer_is_suspended_leases_released_and_labels_from_the_change_point_excluded_but_kept():
    project = ProjectFactory(gold_threshold=0.7, gold_min_seen=5, gold_rate=0, overlap=3, max_overlap=5)
    spammer, honest = expert_for(project), expert_for(project)
    start = timezone.now() - dt.timedelta(hours=1)
    before = _ordinary(spammer, project, at=start)
    _gold(spammer, project, passed=True, at=start + dt.timedelta(minutes=1))
    after_pass = _ordinary(spammer, project, choice="B", at=start + dt.timedelta(minutes=2))
    # The first miss starts the excursion that will cross: the estimated change point.
    change_point = start + dt.timedelta(minutes=3)
    _gold(spammer, project, passed=False, at=change_point)
    spam = _ordinary(spammer, project, choice="B", at=start + dt.timedelta(minutes=4))
    _ordinary(honest, project, item=spam.item, at=start + dt.timedelta(minutes=5))
    final_item = ItemFactory(batch=BatchFactory(project=project), state=Item.State.FINAL)
    on_final = LabelFactory(item=final_item, expert=spammer, created_at=start + dt.timedelta(minutes=6))
    lease_item = ItemFactory(batch=BatchFactory(project=project))
    lease = AssignmentFactory(item=lease_item, expert=spammer)
    assert Slot.objects.get(pk=lease.slot_id).state == Slot.State.LEASED
    misses = _misses_to_suspend(project)
    for n in range(misses + 2):
        _gold(spammer, project, passed=False, at=start + dt.timedelta(minutes=10 + n))
        if ProjectSuspension.objects.filter(expert=spammer, active=True).exists():
            break
    suspension = ProjectSuspension.objects.get(expert=spammer, project=project, active=True)
    assert suspension.reason == "gold_accuracy"
    assert (suspension.details["passed"], suspension.details["failed"]) == (1, misses)
    assert suspension.details["test"] == "cusum"
    assert suspension.details["statistic_nats"] >= suspension.details["threshold_nats"]
    assert suspension.details["change_point"] == change_point.isoformat()
    # Leases released, their slot back in the pool.
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.RELEASED
    assert Slot.objects.get(pk=lease.slot_id).state == Slot.State.OPEN
    # Every label from the change point on, open and final items alike: excluded, kept. Those
    # before it (even after the last pass) count.
    assert Label.objects.get(pk=spam.pk).excluded_from_consensus
    assert Label.objects.get(pk=on_final.pk).excluded_from_consensus
    assert not Label.objects.get(pk=after_pass.pk).excluded_from_consensus
    assert not Label.objects.get(pk=before.pk).excluded_from_consensus
    assert suspension.excluded_labels == 2
    # The item's consensus no longer counts the spammer.
    consensus = ItemConsensus.objects.get(item=spam.item)
    assert (consensus.label_count, consensus.choice) == (1, "A")
    # Stopped at once: the gate.
    result = assignment_next(expert=spammer, project=project)
    assert isinstance(result, NoWork) and result.reason == "suspended_in_project"
    assert AnnotatorQuality.objects.get(project=project, expert=spammer).status == "suspended"
    event = AuditEvent.objects.get(action="quality.suspend", target_id=str(suspension.pk))
    assert event.data["excluded_labels"] == 2 and event.data["released_leases"] == 1
    assert event.data["final_items"] == 1


def _suspended(project):
    expert = expert_for(project)
    _gold(expert, project, passed=False)
    excluded = _ordinary(expert, project, choice="B")
    for _ in range(_misses_to_suspend(project) - 1):
        _gold(expert, project, passed=False)
    suspension = ProjectSuspension.objects.get(expert=expert, project=project, active=True)
    return expert, suspension, excluded


def test_appeal_then_reinstatement_lifts_the_suspension_restores_labels_and_is_audited(api_client):
    project = ProjectFactory(gold_threshold=0.7, gold_min_seen=5, gold_rate=0, overlap=3)
    ItemFactory(batch=BatchFactory(project=project))
    expert, suspension, excluded = _suspended(project)
    assert Label.objects.get(pk=excluded.pk).excluded_from_consensus

    api_client.force_login(expert.user)
    mine = api_client.get("/api/v1/quality/suspensions").json()["results"]
    assert [row["id"] for row in mine] == [str(suspension.pk)]
    short = api_client.post(
        f"/api/v1/quality/suspensions/{suspension.pk}/appeal", {"text": "no"}, format="json"
    )
    assert short.status_code == 400 and short.json()["errors"][0]["field"] == "text"
    text = "The gold items on dosage were ambiguous; see the guideline section 3."
    response = api_client.post(
        f"/api/v1/quality/suspensions/{suspension.pk}/appeal", {"text": text}, format="json"
    )
    assert response.status_code == 200 and response.json()["appeal"] == "pending"
    again = api_client.post(
        f"/api/v1/quality/suspensions/{suspension.pk}/appeal", {"text": text}, format="json"
    )
    assert again.status_code == 409

    forbidden = api_client.post(
        f"/api/v1/staff/suspensions/{suspension.pk}/decide", {"decision": "reinstate"}, format="json"
    )
    assert forbidden.status_code == 403
    staff = StaffFactory()
    api_client.force_login(staff)
    pending = api_client.get("/api/v1/staff/suspensions?appeal=pending").json()["results"]
    assert [row["id"] for row in pending] == [str(suspension.pk)]
    response = api_client.post(
        f"/api/v1/staff/suspensions/{suspension.pk}/decide",
        {"decision": "reinstate", "note": "Ambiguous golds, removed."},
        format="json",
    )
    assert response.status_code == 200 and response.json()["active"] is False
    assert not Label.objects.get(pk=excluded.pk).excluded_from_consensus
    assert ItemConsensus.objects.get(item=excluded.item).label_count == 1
    assert not isinstance(assignment_next(expert=expert, project=project), NoWork)
    row = AnnotatorQuality.objects.get(project=project, expert=expert)
    assert row.status == "ok" and row.gold_failed_at_reinstatement == _misses_to_suspend(project)
    assert (row.suspend_statistic, row.suspend_since, row.suspend_events) == (0, None, 0)
    # The test restarts from 0: one more miss does not suspend again at once.
    _gold(expert, project, passed=False)
    assert not ProjectSuspension.objects.filter(expert=expert, active=True).exists()
    actions = list(
        AuditEvent.objects.filter(target_id=str(suspension.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["quality.suspend", "quality.appeal", "quality.reinstate"]
    event = AuditEvent.objects.get(action="quality.reinstate")
    assert event.actor == staff


def test_an_upheld_appeal_keeps_the_suspension():
    from annotate.quality.suspension import suspension_appeal, suspension_decide

    project = ProjectFactory(gold_threshold=0.7, gold_min_seen=5, gold_rate=0)
    expert, suspension, _excluded = _suspended(project)
    suspension_appeal(suspension=suspension, expert=expert, text="I disagree with the gold answers here.")
    suspension = suspension_decide(
        suspension=suspension, actor=StaffFactory(), decision="uphold", note="Clear misses."
    )
    assert suspension.active and suspension.appeal == "upheld"
    result = assignment_next(expert=expert, project=project)
    assert isinstance(result, NoWork) and result.reason == "suspended_in_project"
    assert AuditEvent.objects.filter(action="quality.uphold", target_id=str(suspension.pk)).exists()


def test_a_suspension_in_one_project_leaves_the_others_open():
    domain = DomainFactory()
    project, other = (
        ProjectFactory(gold_threshold=0.7, gold_min_seen=5, gold_rate=0, domain=domain),
        ProjectFactory(gold_threshold=0.7, gold_min_seen=5, gold_rate=0, domain=domain),
    )
    ItemFactory(batch=BatchFactory(project=other))
    expert, _suspension, _excluded = _suspended(project)
    assert isinstance(assignment_next(expert=expert, project=other), Assignment)


def test_gold_standing_per_project_and_per_domain():
    parent = DomainFactory(slug="medicine")
    child = DomainFactory(slug="cardiology", parent=parent)
    project_a = ProjectFactory(gold_threshold=0.7, gold_min_seen=5, gold_rate=0, domain=parent)
    project_b = ProjectFactory(gold_threshold=0.7, gold_min_seen=5, gold_rate=0, domain=child)
    expert = expert_for(project_a)
    for passed in (True, True, False):
        _gold(expert, project_a, passed=passed)
    for passed in (True, True):
        _gold(expert, project_b, passed=passed)
    one = gold_standing(expert_id=expert.pk, project_id=project_a.pk)
    assert (one.passed, one.failed) == (2, 1)
    assert one.mean == pytest.approx(3 / 5) and one.low < one.mean < one.high
    assert (gold_standing(expert_id=expert.pk, domain_path="medicine").passed) == 4
    assert (gold_standing(expert_id=expert.pk, domain_path="medicine/cardiology").passed) == 2
    assert gold_standing(expert_id=expert.pk).seen == 5
