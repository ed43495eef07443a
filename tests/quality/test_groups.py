"""Suspected groups: the signals (agreement e-value, submit timing, shared credential files,
shared log-in devices), the persisted groups and their idempotent detection, the one-vote
weight in the fit, and staff's one decision (four eyes, audited; confirm suspends every member
with the whole history excluded, and they can appeal)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.test import RequestFactory
from django.utils import timezone

from annotate.models import AnnotatorGroup, AnnotatorGroupMember, Label, ProjectSuspension
from annotate.quality.group_signals import timing_evidence
from annotate.quality.groups import (
    group_decide,
    group_held_expert_ids,
    project_groups_detect,
    project_groups_in_force,
)
from annotate.quality.model_fit import project_model_fit
from annotate.quality.suspension import suspension_appeal, suspension_decide
from rlhf_platform.accounts.fingerprints import login_fingerprint_record
from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.four_eyes import FourEyesError
from tests.factories import (
    BatchFactory,
    CredentialFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    StaffFactory,
)
from tests.quality.crowd import coded_crowd, crowd_signals

# --- The agreement signal -----------------------------------------------------------------


def _evidence(coded, n_workers, **kw):
    return crowd_signals(coded, n_workers, **kw)[0]


def test_a_copy_ring_sharing_enough_items_is_flagged_and_no_honest_pair_is():
    coded, ring, n = coded_crowd(3, items=1500, ring=4, experts=4, others=12)
    flagged = [p for p in _evidence(coded, n) if p.flagged]
    assert flagged, "the ring shares about 25 items a pair: it must be caught"
    assert all({p.worker_a, p.worker_b} <= ring for p in flagged)


def test_two_accurate_experts_agreeing_on_everything_they_share_are_not_flagged():
    """Many shared items, almost all agreed: their accuracies explain it."""
    coded, _, n = coded_crowd(4, items=2000, experts=2, others=4)
    evidence = {(p.worker_a, p.worker_b): p for p in _evidence(coded, n, min_log_e=-np.inf)}
    experts = evidence[(0, 1)]
    assert experts.shared > 300 and experts.agreed / experts.shared > 0.75
    assert not experts.flagged and experts.log_e < 5


def test_the_threshold_grows_with_the_pairs_tested():
    coded, _, n = coded_crowd(5, items=300)
    pairs = _evidence(coded, n, min_log_e=-np.inf)
    assert pairs[0].threshold == pytest.approx(np.log(len(pairs) / 0.01))


def test_submits_within_seconds_of_each_other_far_more_than_activity_implies_are_flagged():
    rng = np.random.default_rng(0)
    start = 1_700_000_000.0
    a = np.sort(start + rng.uniform(0, 8 * 3600, 60))
    times = {
        "a": a,
        "b": a + rng.uniform(1, 10, 60),  # one script: b right after a
        "c": np.sort(start + rng.uniform(0, 8 * 3600, 60)),  # the same hours, independently
    }
    flagged = [(t.worker_a, t.worker_b) for t in timing_evidence(times, window=30) if t.flagged]
    assert flagged == [("a", "b")]


def test_a_crowd_working_at_the_same_time_at_a_fast_pace_is_not_lockstep():
    """70 accounts, 3500 submits in 20 minutes, interleaved at random: every pair has close
    submits, as many as their shifted timelines have."""
    rng = np.random.default_rng(1)
    t = np.sort(1_700_000_000.0 + rng.uniform(0, 1200, 3500))
    who = rng.integers(0, 70, 3500)
    assert not [e for e in timing_evidence({w: t[who == w] for w in range(70)}) if e.flagged]


def test_timing_works_in_bounded_blocks_and_gives_the_same_answer(monkeypatch):
    """Submits are paired in blocks of at most PAIRS_PER_BLOCK (label, neighbour) pairs: the
    result does not depend on the block size (a burst no longer needs memory for all pairs at
    once: 50,000 labels with one timestamp asked for 18.6 GiB)."""
    from annotate.quality import group_signals

    rng = np.random.default_rng(0)
    start = 1_700_000_000.0
    a = np.sort(start + rng.uniform(0, 4 * 3600, 80))
    times = {"a": a, "b": a + rng.uniform(1, 10, 80), "c": np.sort(start + rng.uniform(0, 4 * 3600, 80))}
    whole = [(t.worker_a, t.worker_b, t.close, t.p_value) for t in timing_evidence(times, window=30)]
    monkeypatch.setattr(group_signals, "PAIRS_PER_BLOCK", 7)
    blocks = [(t.worker_a, t.worker_b, t.close, t.p_value) for t in timing_evidence(times, window=30)]
    assert blocks == whole and ("a", "b") in {(x, y) for x, y, _c, _p in whole}


def test_a_burst_where_everyone_is_close_to_everyone_skips_the_timing_signal():
    same = np.full(400, 1_700_000_000.0)  # 4,000 labels imported with one timestamp
    times = {w: same for w in range(10)}
    assert timing_evidence(times, window=30, max_close_pairs=1_000_000) == []


# --- Detection over the database --------------------------------------------------------


def _login(expert, address: str, agent: str = "Browser/1.0"):
    request = RequestFactory().post("/login/", REMOTE_ADDR=address, HTTP_USER_AGENT=agent)
    return login_fingerprint_record(request=request, user=expert.user)


def _labelled(project, n_experts: int, items: int = 3):
    """Experts with a credential in the project's domain, each with a label on shared items."""
    batch = BatchFactory(project=project)
    item_list = [ItemFactory(batch=batch, slots=n_experts) for _ in range(items)]
    experts = [CredentialFactory(approved=True, domain=project.domain).expert for _ in range(n_experts)]
    for expert in experts:
        for item in item_list:
            LabelFactory(item=item, expert=expert, choice="A")
    return experts, item_list


@pytest.mark.django_db
def test_accounts_logging_in_from_one_device_form_one_persisted_group_idempotently():
    project = ProjectFactory()
    experts, _ = _labelled(project, 5)
    for expert in experts[:3]:
        _login(expert, "192.0.2.7")
    _login(experts[3], "192.0.2.7", agent="Other/2.0")  # same network, another device: no edge
    _login(experts[4], "198.51.100.1")

    assert project_groups_detect(project=project) == {"created": 1, "grown": 0, "merged": 0}
    group = AnnotatorGroup.objects.get(project=project)
    assert group.status == "suspected" and group.signals == ["fingerprint"]
    assert {m.expert_id for m in group.members.all()} == {e.pk for e in experts[:3]}
    assert all(m.labels_at_flag == 3 for m in group.members.all())
    edge = group.evidence["edges"][0]["signals"]["fingerprint"]
    assert len(edge["devices"][0]) == 16 and "192.0.2.7" not in str(group.evidence)
    updated = group.updated_at

    assert project_groups_detect(project=project) == {"created": 0, "grown": 0, "merged": 0}
    group.refresh_from_db()
    assert group.updated_at == updated and AnnotatorGroup.objects.filter(project=project).count() == 1
    assert AuditEvent.objects.filter(action="quality.group_detected", target_id=str(group.pk)).count() == 1


@pytest.mark.django_db
def test_a_shared_credential_file_links_accounts_and_a_new_account_grows_the_group():
    project = ProjectFactory()
    experts, items = _labelled(project, 4)
    for expert in experts[:2]:
        expert.credentials.update(evidence_sha256="ab" * 32)
    project_groups_detect(project=project)
    group = AnnotatorGroup.objects.get(project=project)
    assert group.signals == ["credential"] and group.members.count() == 2

    experts[2].credentials.update(evidence_sha256="ab" * 32)
    assert project_groups_detect(project=project)["grown"] == 1
    group.refresh_from_db()
    assert group.members.count() == 3
    assert AnnotatorGroup.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_a_device_shared_by_more_accounts_than_the_limit_is_a_network_not_a_person(settings):
    settings.QUALITY_GROUP_DEVICE_MAX_ACCOUNTS = 3
    project = ProjectFactory()
    experts, _ = _labelled(project, 4)
    for expert in experts:
        _login(expert, "192.0.2.9")
    project_groups_detect(project=project)
    assert not AnnotatorGroup.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_groups_are_per_project_and_only_annotators_of_the_project_count():
    project, other = ProjectFactory(), ProjectFactory()
    experts, _ = _labelled(project, 2)
    outsider = CredentialFactory(approved=True, domain=project.domain).expert
    for expert in [*experts, outsider]:
        _login(expert, "192.0.2.1")
    project_groups_detect(project=project)
    project_groups_detect(project=other)
    group = AnnotatorGroup.objects.get()
    assert group.project_id == project.pk
    assert outsider.pk not in {m.expert_id for m in group.members.all()}


@pytest.mark.django_db
def test_the_fit_counts_a_persisted_group_as_one_vote_and_runs_the_detection():
    project = ProjectFactory()
    experts, _ = _labelled(project, 4)
    for expert in experts[:3]:
        _login(expert, "192.0.2.3")
    row = project_model_fit(project_id=project.pk)
    groups = row.parameters["meta"]["groups"]
    assert sorted(groups[0]) == sorted(str(e.pk) for e in experts[:3])
    assert project_groups_in_force(project_id=project.pk) == [sorted(str(e.pk) for e in experts[:3])]


# --- Decision -------------------------------------------------------------------------------


def _suspected(project, n: int = 3):
    experts, items = _labelled(project, n + 1)
    for expert in experts[:n]:
        _login(expert, "192.0.2.5")
    project_groups_detect(project=project)
    return AnnotatorGroup.objects.get(project=project), experts, items


@pytest.mark.django_db(transaction=True)
def test_confirming_suspends_every_member_with_their_whole_history_excluded_and_they_can_appeal():
    project = ProjectFactory()
    group, experts, _ = _suspected(project)
    old = LabelFactory(
        item=ItemFactory(batch=BatchFactory(project=project)),
        expert=experts[0],
        created_at=timezone.now() - dt.timedelta(days=300),
    )
    reviewer = StaffFactory()
    group = group_decide(group=group, actor=reviewer, decision="confirm", note="One person, three accounts.")
    assert group.status == "confirmed" and group.decided_by == reviewer
    suspensions = ProjectSuspension.objects.filter(project=project, active=True, reason="group")
    assert {s.expert_id for s in suspensions} == {e.pk for e in experts[:3]}
    assert Label.objects.get(pk=old.pk).excluded_from_consensus
    assert not Label.objects.filter(
        project=project, expert__in=experts[:3], excluded_from_consensus=False
    ).exists()
    assert not Label.objects.filter(expert=experts[3], excluded_from_consensus=True).exists()
    event = AuditEvent.objects.get(action="quality.group_confirm")
    assert event.data["members"] == sorted(str(e.pk) for e in experts[:3])
    assert group_held_expert_ids(project_id=project.pk) == set()  # decided: no longer held

    suspension = suspensions.get(expert=experts[0])
    suspension_appeal(suspension=suspension, expert=experts[0], text="This is my only account, honestly.")
    suspension_decide(suspension=suspension, actor=StaffFactory(), decision="reinstate")
    assert not Label.objects.filter(
        expert=experts[0], excluded_from_consensus=True, item__state="open"
    ).exists()


@pytest.mark.django_db
def test_clearing_ends_the_hold_and_the_pairs_are_not_regrouped_on_the_same_evidence():
    project = ProjectFactory()
    group, experts, _ = _suspected(project)
    assert group_held_expert_ids(project_id=project.pk) == {e.pk for e in experts[:3]}
    group_decide(group=group, actor=StaffFactory(), decision="clear", note="A shared office.")
    assert group_held_expert_ids(project_id=project.pk) == set()
    assert AuditEvent.objects.filter(action="quality.group_clear").count() == 1
    project_groups_detect(project=project)
    assert list(AnnotatorGroup.objects.filter(project=project).values_list("status", flat=True)) == [
        "cleared"
    ]
    assert project_groups_in_force(project_id=project.pk) == []


@pytest.mark.django_db
def test_a_member_cannot_decide_on_their_own_group_and_a_decision_is_made_once():
    project = ProjectFactory()
    group, experts, _ = _suspected(project)
    member = experts[0].user
    member.is_staff, member.staff_role = True, "reviewer"
    member.save()
    with pytest.raises(FourEyesError):
        group_decide(group=group, actor=member, decision="clear")
    group_decide(group=group, actor=StaffFactory(), decision="clear")
    with pytest.raises(ApplicationError) as exc:
        group_decide(group=group, actor=StaffFactory(), decision="confirm", note="Changed my mind here.")
    assert exc.value.code == "already_decided"


@pytest.mark.django_db
def test_a_confirmation_needs_a_reason_and_only_reviewers_decide():
    project = ProjectFactory()
    group, experts, _ = _suspected(project)
    with pytest.raises(ApplicationError) as exc:
        group_decide(group=group, actor=StaffFactory(), decision="confirm", note="")
    assert exc.value.field == "note"
    with pytest.raises(ApplicationError) as exc:
        group_decide(group=group, actor=experts[3].user, decision="clear")
    assert exc.value.code == "permission_denied"
    assert AnnotatorGroupMember.objects.filter(group=group).count() == 3
