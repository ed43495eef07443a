"""Many experts at once on real PostgreSQL: exactly k labels per item, none lost, none twice.

Each simulated expert is a thread with its own database connection (Django opens one per
thread), so leases and submits race as they do between server processes; every thread
closes its connection when it ends.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from annotate.models import Assignment, Item, Label, Project, Slot
from annotate.queue import NoWork, assignment_next, assignment_skip, assignment_submit, assignments_expire
from annotate.queue.answers import QUEUE_REASONS
from rlhf_platform.core.exceptions import ApplicationError
from tests.factories import BatchFactory, CredentialFactory, ProjectFactory
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EXPERTS = 32
ITEMS = 500
K = 3
# Fewer items where experts also skip and walk away: the same races, in less time.
VARIANT_ITEMS = 300
# Only a guard against a hang (the run takes some 30 s): a thread still busy after this fails.
DEADLINE_SECONDS = 300


def _project_with_items(count: int) -> Project:
    """``count`` pairwise items of k slots, written in bulk as ingest writes them."""
    # max_overlap = k: a split the consensus is unsure of goes to adjudication rather than to a
    # (k+1)th annotator, so every item ends with exactly k labels whatever the answers.
    project = ProjectFactory(gold_rate=0, overlap=K, max_overlap=K)
    batch = BatchFactory(project=project)
    responses = [
        {"id": "r0", "model": "m0", "text": "First."},
        {"id": "r1", "model": "m1", "text": "Second."},
    ]
    items = Item.objects.bulk_create(
        Item(
            project=project,
            batch=batch,
            external_id=f"item-{n}",
            prompt=f"Question {n}?",
            responses=responses,
        )
        for n in range(count)
    )
    Slot.objects.bulk_create(
        Slot(
            item=item,
            project=project,
            idx=idx,
            state=Slot.State.OPEN if idx == 0 else Slot.State.WAITING,
        )
        for item in items
        for idx in range(K)
    )
    return project


@pytest.fixture(autouse=True)
def _a_connection_per_expert():
    """Each expert thread holds its own connection for its whole run. The settings' pool
    (DB_POOL_MAX, fewer connections than experts) is swapped for one as large as the crowd
    during the test, and put back after."""
    options = connection.settings_dict["OPTIONS"]
    previous = options.get("pool")
    if not previous:
        yield
        return
    connection.close()  # back to the settings' pool, which then closes
    connection.close_pool()
    options["pool"] = {
        **(previous if isinstance(previous, dict) else {}),
        "min_size": 1,
        "max_size": EXPERTS + 2,  # and the test's own connection
    }
    yield
    connection.close()
    connection.close_pool()
    options["pool"] = previous


def _experts(project: Project, count: int) -> list:
    return [CredentialFactory(approved=True, domain=project.domain).expert for _ in range(count)]


@dataclass
class Tally:
    """What one simulated expert saw."""

    submitted: list = field(default_factory=list)  # label ids of successful submits
    skipped: int = 0
    abandoned: int = 0
    retries_on_empty: int = 0
    refusals: list = field(default_factory=list)


def _work_left_for(expert, project: Project) -> bool:
    """Could this expert still get work here? Open or waiting slots of items they have not
    touched. Leased slots do not count: their holder fills them (or, abandoned, they wait for
    the sweep)."""
    return (
        Slot.objects.filter(project=project, state__in=[Slot.State.OPEN, Slot.State.WAITING])
        .exclude(item__assignments__expert=expert)
        .exists()
    )


def _expert_loop(expert, project: Project, *, skip_rate: float = 0.0, abandon_rate: float = 0.0) -> Tally:
    """Next + submit until the queue is empty for this expert.

    "queue_empty" (or a wait) can be momentary: SKIP LOCKED passes over a slot another expert's
    transaction holds for the few milliseconds of its claim. A client that is told the queue
    is empty while work it could do remains asks again, as the browser's poll does.
    """
    tally = Tally()
    rng = random.Random()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        result = assignment_next(expert=expert, project=project)
        if isinstance(result, NoWork):
            # Empty, or work that waits for a lease, the quality step or other experts.
            assert result.reason in QUEUE_REASONS, result
            if not _work_left_for(expert, project):
                return tally
            tally.retries_on_empty += 1
            time.sleep(0.005)
            continue
        roll = rng.random()
        if roll < abandon_rate:
            tally.abandoned += 1  # closes the tab with the lease still live, and leaves
            return tally
        if roll < abandon_rate + skip_rate:
            assignment_skip(assignment=result, expert=expert, reason="not my field")
            tally.skipped += 1
            continue
        try:
            label, created = assignment_submit(
                assignment=result,
                expert=expert,
                payload={"choice": rng.choice("AB"), "strength": rng.randint(1, 3)},
                client_id=f"{result.pk}",
            )
        except ApplicationError as exc:
            tally.refusals.append(exc.code)
            continue
        assert created
        tally.submitted.append(label.pk)
    raise AssertionError(f"expert {expert.pk} still working after {DEADLINE_SECONDS} s")


def _run_in_threads(calls: list[Callable]) -> list:
    return run_together(calls, timeout=DEADLINE_SECONDS + 30, what="an expert")


def _assert_every_item_labelled_exactly_k_times(project: Project, tallies: list[Tally], items: int) -> None:
    submitted = [label_id for tally in tallies for label_id in tally.submitted]
    # No label lost: every successful submit is a stored label, and nothing else is.
    assert len(submitted) == len(set(submitted)) == items * K
    assert set(Label.objects.filter(project=project).values_list("pk", flat=True)) == set(submitted)
    per_item = dict(
        Label.objects.filter(project=project).values("item").annotate(n=Count("pk")).values_list("item", "n")
    )
    assert len(per_item) == items
    assert set(per_item.values()) == {K}
    # Nobody twice on an item (the constraint holds it; the count shows it).
    pairs = Label.objects.filter(project=project).values_list("item_id", "expert_id")
    assert len(set(pairs)) == items * K
    # Every item has its k labels: labelled, final when the quality step found the consensus
    # confident, or waiting for adjudication when it did not.
    states = set(Item.objects.filter(project=project).values_list("state", flat=True))
    assert states <= {Item.State.LABELLED, Item.State.FINAL, Item.State.ADJUDICATION}
    assert Slot.objects.filter(project=project).count() == items * K
    assert set(Slot.objects.filter(project=project).values_list("state", flat=True)) == {Slot.State.FILLED}
    submitted_assignments = Assignment.objects.filter(project=project, status=Assignment.Status.SUBMITTED)
    assert submitted_assignments.count() == items * K
    assert not Assignment.objects.filter(project=project, status=Assignment.Status.ACTIVE).exists()


def test_32_experts_on_500_items_label_each_exactly_3_times():
    assert connection.vendor == "postgresql"
    project = _project_with_items(ITEMS)
    experts = _experts(project, EXPERTS)
    tallies = _run_in_threads([lambda e=e: _expert_loop(e, project) for e in experts])
    # Nobody was refused a submit: with leases of 15 minutes none expired.
    assert [code for tally in tallies for code in tally.refusals] == []
    # The work was shared, not done by one thread while the others waited.
    assert sum(1 for tally in tallies if tally.submitted) > EXPERTS // 2
    _assert_every_item_labelled_exactly_k_times(project, tallies, ITEMS)


def test_experts_who_skip_and_abandon_leases_still_leave_exactly_3_labels_per_item():
    project = _project_with_items(VARIANT_ITEMS)
    experts = _experts(project, EXPERTS)
    tallies = _run_in_threads(
        [lambda e=e: _expert_loop(e, project, skip_rate=0.05, abandon_rate=0.01) for e in experts]
    )
    skipped = sum(tally.skipped for tally in tallies)
    abandoned = sum(tally.abandoned for tally in tallies)
    assert skipped > 0
    # An abandoned lease holds its slot until it expires.
    live = Assignment.objects.filter(project=project, status=Assignment.Status.ACTIVE).count()
    assert live == abandoned
    if abandoned:
        assert Label.objects.filter(project=project).count() < VARIANT_ITEMS * K

    # Time passes: the sweep frees the abandoned slots, and the experts come back.
    later = timezone.now() + dt.timedelta(seconds=project.lease_seconds + 1)
    assert assignments_expire(now=later) == abandoned
    assert not Assignment.objects.filter(project=project, status=Assignment.Status.ACTIVE).exists()
    second_round = _run_in_threads([lambda e=e: _expert_loop(e, project, skip_rate=0.05) for e in experts])

    tallies = tallies + second_round
    assert Assignment.objects.filter(project=project, status=Assignment.Status.SKIPPED).count() == sum(
        tally.skipped for tally in tallies
    )
    assert Assignment.objects.filter(project=project, status=Assignment.Status.EXPIRED).count() == abandoned
    _assert_every_item_labelled_exactly_k_times(project, tallies, VARIANT_ITEMS)


def test_double_click_submitting_twice_at_once_stores_one_label_and_answers_both():
    project = _project_with_items(20)
    expert = _experts(project, 1)[0]
    for round_ in range(10):
        assignment = assignment_next(expert=expert, project=project)
        assert isinstance(assignment, Assignment)

        def click(a=assignment, n=round_):
            return assignment_submit(
                assignment=a, expert=expert, payload={"choice": "tie"}, client_id=f"click-{n}"
            )

        (first, first_created), (second, second_created) = _run_in_threads([click, click])
        assert first.pk == second.pk
        assert sorted([first_created, second_created]) == [False, True]
        assert Label.objects.filter(assignment=assignment).count() == 1


def test_the_same_expert_asking_for_next_twice_at_once_never_gets_the_same_item_twice():
    project = _project_with_items(50)
    expert = _experts(project, 1)[0]
    for _ in range(10):
        results = _run_in_threads([lambda: assignment_next(expert=expert, project=project)] * 2)
        assert all(isinstance(r, Assignment) for r in results)
        for assignment in {r.pk: r for r in results}.values():
            assignment_submit(
                assignment=assignment, expert=expert, payload={"choice": "tie"}, client_id=str(assignment.pk)
            )
    pairs = Assignment.objects.filter(expert=expert).values_list("item_id", flat=True)
    assert len(pairs) == len(set(pairs))
