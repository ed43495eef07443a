"""The queue's services: leases, their order, expiry, extend, skip, report, gold draws.

Everything here runs on SQLite and PostgreSQL alike; the races themselves are in
``test_queue_concurrency.py``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotate.models import Assignment, Item, ItemReport, Label, Slot
from annotate.queue import (
    NoWork,
    assignment_extend,
    assignment_next,
    assignment_report,
    assignment_skip,
    assignment_submit,
    assignments_expire,
)
from annotate.tasks import assignments_expire_task
from rlhf_platform.core.exceptions import ApplicationError
from tests.factories import (
    AssignmentFactory,
    BatchFactory,
    CredentialFactory,
    ItemFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.django_db

TIE = {"choice": "tie"}  # a valid pairwise label that needs no strength


def _expert_for(project, *, level: int = 3):
    return CredentialFactory(approved=True, domain=project.domain, level=level).expert


def _next(expert, project) -> Assignment:
    result = assignment_next(expert=expert, project=project)
    assert isinstance(result, Assignment), result
    return result


def _submit(assignment, expert, client_id: str, payload: dict | None = None) -> Label:
    label, created = assignment_submit(
        assignment=assignment, expert=expert, payload=payload or TIE, client_id=client_id
    )
    assert created
    return label


def _after_lease(project, seconds: int = 1) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=project.lease_seconds + seconds)


# --- next ------------------------------------------------------------------------------------


def test_next_twice_returns_the_same_live_lease():
    project = ProjectFactory(gold_rate=0)
    ItemFactory.create_batch(3, batch=BatchFactory(project=project))
    expert = _expert_for(project)
    first = _next(expert, project)
    second = _next(expert, project)
    assert second.pk == first.pk
    assert Assignment.objects.filter(expert=expert).count() == 1
    assert Slot.objects.filter(project=project, state=Slot.State.LEASED).count() == 1


def test_next_leases_a_slot_and_opens_the_items_next_slot():
    project = ProjectFactory(gold_rate=0, overlap=3)
    item = ItemFactory(batch=BatchFactory(project=project))
    assignment = _next(_expert_for(project), project)
    assert assignment.item_id == item.pk
    assert not assignment.is_gold
    states = dict(Slot.objects.filter(item=item).values_list("idx", "state"))
    assert states == {0: "leased", 1: "open", 2: "waiting"}
    assert assignment.slot.idx == 0
    lease = (assignment.expires_at - assignment.leased_at).total_seconds()
    assert lease == project.lease_seconds


def test_item_closest_to_completion_is_served_first():
    project = ProjectFactory(gold_rate=0, overlap=3)
    batch = BatchFactory(project=project)
    fresh = ItemFactory(batch=batch)  # older, but untouched
    advanced = ItemFactory(batch=batch)
    AssignmentFactory(item=advanced, status=Assignment.Status.SUBMITTED)
    AssignmentFactory(item=advanced, status=Assignment.Status.SUBMITTED)
    assert _next(_expert_for(project), project).item_id == advanced.pk
    assert _next(_expert_for(project), project).item_id == fresh.pk


def test_higher_batch_priority_is_served_first_among_equally_advanced_items():
    project = ProjectFactory(gold_rate=0)
    low = ItemFactory(batch=BatchFactory(project=project, priority=0), priority=0)
    high = ItemFactory(batch=BatchFactory(project=project, priority=5), priority=5)
    assert high.pk > low.pk  # so the order is not simply the oldest first
    assert _next(_expert_for(project), project).item_id == high.pk


def test_oldest_item_is_served_first_among_equals():
    project = ProjectFactory(gold_rate=0)
    batch = BatchFactory(project=project)
    older, _newer = ItemFactory(batch=batch), ItemFactory(batch=batch)
    assert _next(_expert_for(project), project).item_id == older.pk


def test_nobody_is_served_an_item_they_already_labelled():
    project = ProjectFactory(gold_rate=0, overlap=3)
    item = ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    _submit(_next(expert, project), expert, "c1")
    result = assignment_next(expert=expert, project=project)
    # The item still needs labels, from others: not an empty queue, and nothing to wait for.
    assert result == NoWork("needs_other_experts", result.message)
    assert Slot.objects.get(item=item, idx=1).state == Slot.State.OPEN


def test_k_labels_fill_every_slot_and_mark_the_item_labelled():
    project = ProjectFactory(gold_rate=0, overlap=3)
    item = ItemFactory(batch=BatchFactory(project=project))
    for n in range(3):
        expert = _expert_for(project)
        assignment = _next(expert, project)
        assert assignment.item_id == item.pk
        item.refresh_from_db()
        assert item.state == Item.State.OPEN
        _submit(assignment, expert, f"c{n}")
    item.refresh_from_db()
    assert item.state == Item.State.LABELLED
    assert set(Slot.objects.filter(item=item).values_list("state", flat=True)) == {"filled"}
    # The quality step has not run (nothing is committed in a test): it may still open a slot.
    fourth = assignment_next(expert=_expert_for(project), project=project)
    assert isinstance(fourth, NoWork) and fourth.reason == "waiting_for_quality"


def test_next_without_a_project_draws_from_a_project_open_to_the_expert():
    project = ProjectFactory(gold_rate=0)
    ItemFactory(batch=BatchFactory(project=project))
    closed = ProjectFactory(gold_rate=0)  # another domain: not open to this expert
    ItemFactory(batch=BatchFactory(project=closed))
    result = assignment_next(expert=_expert_for(project))
    assert isinstance(result, Assignment)
    assert result.project_id == project.pk


# --- lease expiry ------------------------------------------------------------------------------


def test_expired_lease_slot_goes_to_the_next_expert_and_late_submit_is_refused():
    # k = 1: the item has a single slot, so the second expert can only get the first one's.
    project = ProjectFactory(gold_rate=0, overlap=1)
    item = ItemFactory(batch=BatchFactory(project=project))
    late, prompt = _expert_for(project), _expert_for(project)
    first = _next(late, project)
    assert isinstance(assignment_next(expert=prompt, project=project), NoWork)

    assert assignments_expire(now=_after_lease(project)) == 1
    first.refresh_from_db()
    assert first.status == Assignment.Status.EXPIRED
    assert Slot.objects.get(pk=first.slot_id).state == Slot.State.OPEN

    second = _next(prompt, project)
    assert second.slot_id == first.slot_id
    with pytest.raises(ApplicationError) as refused:
        assignment_submit(assignment=first, expert=late, payload=TIE, client_id="late")
    assert (refused.value.code, refused.value.status_code) == ("lease_expired", 409)
    assert not Label.objects.filter(expert=late).exists()

    _submit(second, prompt, "on-time")
    item.refresh_from_db()
    assert item.state == Item.State.LABELLED
    assert Label.objects.filter(item=item).count() == 1


def test_late_submit_is_accepted_while_the_slot_is_still_free():
    project = ProjectFactory(gold_rate=0, overlap=1)
    item = ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    assignments_expire(now=_after_lease(project))
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.EXPIRED

    label = _submit(assignment, expert, "late-but-useful")
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.SUBMITTED
    assert label.item_id == item.pk
    assert Slot.objects.get(pk=assignment.slot_id).state == Slot.State.FILLED
    item.refresh_from_db()
    assert item.state == Item.State.LABELLED
    assert isinstance(assignment_next(expert=_expert_for(project), project=project), NoWork)


def test_submit_on_a_lease_past_expiry_before_the_sweep_is_accepted():
    project = ProjectFactory(gold_rate=0, overlap=1)
    ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    _submit(assignment, expert, "just-late")
    assert Slot.objects.get(pk=assignment.slot_id).state == Slot.State.FILLED


def test_expired_lease_is_not_handed_back_and_its_item_never_returns_to_that_expert():
    project = ProjectFactory(gold_rate=0, overlap=3)
    batch = BatchFactory(project=project)
    first_item, second_item = ItemFactory(batch=batch), ItemFactory(batch=batch)
    expert = _expert_for(project)
    first = _next(expert, project)
    assert first.item_id == first_item.pk
    assignments_expire(now=_after_lease(project))
    again = _next(expert, project)
    assert again.pk != first.pk
    assert again.item_id == second_item.pk


def test_assignments_expire_leaves_live_leases_alone_and_is_idempotent():
    project = ProjectFactory(gold_rate=0)
    batch = BatchFactory(project=project)
    stale = AssignmentFactory(item=ItemFactory(batch=batch), leased_at=timezone.now() - dt.timedelta(hours=1))
    live = AssignmentFactory(item=ItemFactory(batch=batch))
    assert assignments_expire() == 1
    assert assignments_expire() == 0
    stale.refresh_from_db()
    live.refresh_from_db()
    assert (stale.status, live.status) == ("expired", "active")
    assert stale.closed_reason == "lease expired"
    assert Slot.objects.get(pk=stale.slot_id).state == Slot.State.OPEN
    assert Slot.objects.get(pk=live.slot_id).state == Slot.State.LEASED


def test_assignments_expire_task_returns_expired_slots_to_the_pool():
    project = ProjectFactory(gold_rate=0, overlap=1)
    stale = AssignmentFactory(
        item=ItemFactory(batch=BatchFactory(project=project)),
        leased_at=timezone.now() - dt.timedelta(hours=1),
    )
    assignments_expire_task.delay()
    stale.refresh_from_db()
    assert stale.status == Assignment.Status.EXPIRED
    assert Slot.objects.get(pk=stale.slot_id).state == Slot.State.OPEN
    assert _next(_expert_for(project), project).slot_id == stale.slot_id


def test_next_sweeps_expired_leases_itself_when_the_queue_looks_empty():
    """Between two runs of the beat task, an expired lease must not block the queue."""
    project = ProjectFactory(gold_rate=0, overlap=1)
    ItemFactory(batch=BatchFactory(project=project))
    stale = AssignmentFactory(
        item=Item.objects.get(project=project), leased_at=timezone.now() - dt.timedelta(hours=1)
    )
    taken = _next(_expert_for(project), project)
    assert taken.slot_id == stale.slot_id
    stale.refresh_from_db()
    assert stale.status == Assignment.Status.EXPIRED


# --- extend ------------------------------------------------------------------------------------


def test_extend_pushes_the_expiry_to_a_full_lease_from_now():
    project = ProjectFactory(gold_rate=0, lease_seconds=600)
    ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    soon = timezone.now() + dt.timedelta(seconds=30)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=soon)
    before = timezone.now()
    extended = assignment_extend(assignment=assignment, expert=expert)
    assert extended.expires_at >= before + dt.timedelta(seconds=600)
    assignment.refresh_from_db()
    assert assignment.expires_at == extended.expires_at


def test_extend_after_the_expiry_sweep_is_refused():
    project = ProjectFactory(gold_rate=0)
    ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    assignments_expire(now=_after_lease(project))
    with pytest.raises(ApplicationError) as refused:
        assignment_extend(assignment=assignment, expert=expert)
    assert (refused.value.code, refused.value.status_code) == ("lease_expired", 409)


def test_extend_of_someone_elses_assignment_is_not_found():
    project = ProjectFactory(gold_rate=0)
    ItemFactory(batch=BatchFactory(project=project))
    assignment = _next(_expert_for(project), project)
    with pytest.raises(ApplicationError) as refused:
        assignment_extend(assignment=assignment, expert=_expert_for(project))
    assert refused.value.status_code == 404


# --- skip and report --------------------------------------------------------------------------


def test_skip_frees_the_slot_and_the_expert_never_gets_that_item_again():
    project = ProjectFactory(gold_rate=0, overlap=3)
    item = ItemFactory(batch=BatchFactory(project=project))
    skipper = _expert_for(project)
    assignment = _next(skipper, project)
    assignment_skip(assignment=assignment, expert=skipper, reason="outside my expertise")
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.SKIPPED
    assert assignment.closed_reason == "outside my expertise"
    assert Slot.objects.get(pk=assignment.slot_id).state == Slot.State.OPEN

    result = assignment_next(expert=skipper, project=project)
    assert isinstance(result, NoWork) and result.reason == "needs_other_experts"
    other = _next(_expert_for(project), project)
    assert other.item_id == item.pk


def test_skip_needs_a_reason():
    project = ProjectFactory(gold_rate=0)
    ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    with pytest.raises(ApplicationError) as refused:
        assignment_skip(assignment=assignment, expert=expert, reason="  ")
    assert (refused.value.field, refused.value.code) == ("reason", "required")
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.ACTIVE


def test_submit_after_skip_is_refused():
    project = ProjectFactory(gold_rate=0)
    ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    assignment_skip(assignment=assignment, expert=expert, reason="conflict of interest")
    with pytest.raises(ApplicationError) as refused:
        assignment_submit(assignment=assignment, expert=expert, payload=TIE, client_id="c1")
    assert (refused.value.code, refused.value.status_code) == ("assignment_closed", 409)
    assert not Label.objects.exists()


def test_skipping_an_expired_lease_leaves_the_next_holders_slot_leased():
    # k = 1: the slot of the expired lease is taken by a second expert before the first one
    # skips; the skip must not reopen a slot it no longer holds.
    project = ProjectFactory(gold_rate=0, overlap=1)
    batch = BatchFactory(project=project)
    contested, spare = ItemFactory(batch=batch), ItemFactory(batch=batch)
    first_expert, holder, third = _expert_for(project), _expert_for(project), _expert_for(project)
    first = _next(first_expert, project)
    assert first.item_id == contested.pk
    assignments_expire(now=_after_lease(project))
    held = _next(holder, project)
    assert held.slot_id == first.slot_id

    assignment_skip(assignment=first, expert=first_expert, reason="came back too late")
    assert Slot.objects.get(pk=held.slot_id).state == Slot.State.LEASED
    # The third expert gets the spare item, not a slot someone holds.
    assert _next(third, project).item_id == spare.pk
    _submit(held, holder, "holder")
    assert Label.objects.filter(item=contested).count() == 1


def test_report_creates_an_item_report_and_releases_the_assignment():
    project = ProjectFactory(gold_rate=0)
    item = ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    report = assignment_report(
        assignment=assignment, expert=expert, reason="broken", details="Response B is cut off."
    )
    assert ItemReport.objects.get() == report
    assert (report.item_id, report.reason, report.details) == (item.pk, "broken", "Response B is cut off.")
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.SKIPPED
    assert assignment.closed_reason == "reported: broken"
    assert Slot.objects.get(pk=assignment.slot_id).state == Slot.State.OPEN
    assert isinstance(assignment_next(expert=expert, project=project), NoWork)


def test_report_with_an_unknown_reason_is_refused():
    project = ProjectFactory(gold_rate=0)
    ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    with pytest.raises(ApplicationError) as refused:
        assignment_report(assignment=assignment, expert=expert, reason="boring")
    assert (refused.value.field, refused.value.code) == ("reason", "invalid_choice")
    assert not ItemReport.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.ACTIVE


# --- submit ------------------------------------------------------------------------------------


def test_submit_stores_the_server_lease_time_and_the_client_active_time():
    project = ProjectFactory(gold_rate=0)
    ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    Assignment.objects.filter(pk=assignment.pk).update(leased_at=timezone.now() - dt.timedelta(seconds=90))
    assignment.refresh_from_db()
    label = _submit(assignment, expert, "c1", {"choice": "tie", "active_seconds": 42.5})
    assert label.active_seconds == 42.5
    assert 90 <= label.lease_seconds < 120
    assert label.schema_version == project.schema_version


def test_retry_with_the_same_client_id_returns_the_first_label():
    project = ProjectFactory(gold_rate=0)
    ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    first = _submit(assignment, expert, "same")
    again, created = assignment_submit(
        assignment=assignment, expert=expert, payload={"choice": "both_bad"}, client_id="same"
    )
    assert not created
    assert again.pk == first.pk
    assert Label.objects.get().choice == "tie"


def test_second_submit_with_another_client_id_is_refused():
    project = ProjectFactory(gold_rate=0)
    ItemFactory(batch=BatchFactory(project=project))
    expert = _expert_for(project)
    assignment = _next(expert, project)
    _submit(assignment, expert, "first")
    with pytest.raises(ApplicationError) as refused:
        assignment_submit(assignment=assignment, expert=expert, payload=TIE, client_id="second")
    assert (refused.value.code, refused.value.status_code) == ("already_submitted", 409)
    assert Label.objects.count() == 1


# --- gold --------------------------------------------------------------------------------------

GOLD_DRAWS_PER_EXPERT = 20
GOLD_EXPERTS = 50  # 1,000 draws in all
GOLD_RATE = 0.2
# sigma = sqrt(0.2 * 0.8 / 1000) = 0.0126; 0.05 is 4 sigma, a false failure about once in
# 15,000 runs (3 sigma would fail once in 370 runs of CI).
GOLD_TOLERANCE = 0.05


def test_gold_share_matches_the_rate_and_nobody_sees_a_gold_item_twice():
    # 40 gold items: an expert draws about 4 gold items in 20 draws, so the pool never runs dry
    # (a dry pool would fall back to ordinary items and bias the share down).
    project = ProjectFactory(gold_rate=GOLD_RATE, overlap=20, max_overlap=20)
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(60, batch=batch)  # 1,200 ordinary slots for 1,000 draws
    ItemFactory.create_batch(40, batch=batch, gold_answer=True)
    draws = []
    for n in range(GOLD_EXPERTS):
        expert = _expert_for(project)
        for d in range(GOLD_DRAWS_PER_EXPERT):
            assignment = _next(expert, project)
            draws.append(assignment)
            _submit(assignment, expert, f"{n}-{d}")

    assert len(draws) == 1000
    gold = [a for a in draws if a.is_gold]
    share = len(gold) / len(draws)
    assert abs(share - GOLD_RATE) <= GOLD_TOLERANCE, share
    assert all(a.item.is_gold for a in gold)
    assert all(not a.item.is_gold for a in draws if not a.is_gold)
    # Nobody twice on a gold item (and, for that matter, on any item).
    pairs = [(a.expert_id, a.item_id) for a in draws]
    assert len(set(pairs)) == len(pairs)
    # Gold takes no slot and fills none: the filled slots are exactly the ordinary labels.
    assert Assignment.objects.filter(is_gold=True, slot__isnull=False).count() == 0
    ordinary = len(draws) - len(gold)
    assert Slot.objects.filter(project=project, state=Slot.State.FILLED).count() == ordinary
    assert Label.objects.filter(project=project, is_gold=True).count() == len(gold)
    assert set(Item.objects.filter(is_gold=True).values_list("state", flat=True)) == {"open"}


def test_gold_is_not_drawn_when_the_rate_is_zero():
    project = ProjectFactory(gold_rate=0)
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(7, batch=batch)  # 21 slots
    ItemFactory.create_batch(5, batch=batch, gold_answer=True)
    for _ in range(20):
        assert not _next(_expert_for(project), project).is_gold


def test_an_expert_who_saw_every_gold_item_still_gets_ordinary_work():
    project = ProjectFactory(gold_rate=0.5)
    batch = BatchFactory(project=project)
    gold = ItemFactory(batch=batch, gold_answer=True)
    ItemFactory.create_batch(10, batch=batch)
    expert = _expert_for(project)
    AssignmentFactory(item=gold, expert=expert, status=Assignment.Status.SUBMITTED)
    for n in range(10):
        assignment = _next(expert, project)
        assert not assignment.is_gold
        _submit(assignment, expert, f"c{n}")
