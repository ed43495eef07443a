"""A label of an item that a running quality drain holds commits only after the drain.

The drain locks the items of a batch (``FOR UPDATE``) for the whole transaction and reads their
labels and slots in separate statements. A label committed between those reads would give a
decision on an inconsistent view: two labels and no pending slot, so one slot more than the
project's ``max_overlap``. What keeps it out is the label's foreign-key check on its item, a
key-share lock that waits for the drain's ``FOR UPDATE``. ``FOR NO KEY UPDATE`` would not make it
wait, and overfilled items (tests/annotate/test_queue_concurrency.py), so the lock mode is part
of the drain's correctness (docs/performance.md)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from annotate.models import Label
from annotate.quality import services
from annotate.quality.services import labels_quality_drain
from tests.factories import BatchFactory, ItemFactory, ProjectFactory
from tests.quality.pipeline import expert_for, next_assignment, submit

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connections['default'].vendor != 'postgresql'", reason="row locks: PostgreSQL"),
]


def _in_thread(call, results: list) -> threading.Thread:
    def run() -> None:
        try:
            results.append(call())
        except BaseException as exc:  # reported by the test
            results.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class HeldDrain:
    """A quality drain in a thread, held right after it locked its items until :meth:`release`."""

    def __init__(self, monkeypatch) -> None:
        self.locked, self.go, self.drained = threading.Event(), threading.Event(), []
        claim = services._labels_claim

        def claim_then_hold(*args, **kwargs):
            rows = claim(*args, **kwargs)
            self.locked.set()
            assert self.go.wait(timeout=30)
            return rows

        monkeypatch.setattr(services, "_labels_claim", claim_then_hold)
        self.thread = _in_thread(labels_quality_drain, self.drained)
        assert self.locked.wait(timeout=30), "the drain never took its item"

    def release(self) -> list:
        self.go.set()
        self.thread.join(timeout=30)
        return self.drained


def test_a_label_of_an_item_in_a_running_drain_commits_after_the_drain(no_nudges, monkeypatch):
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=3)
    item = ItemFactory(batch=BatchFactory(project=project))
    first, second = expert_for(project), expert_for(project)
    submit(next_assignment(first, project), first, choice="A")
    assignment = next_assignment(second, project)
    assert assignment is not None and assignment.item_id == item.pk

    drain = HeldDrain(monkeypatch)
    submitted: list = []
    submitting = _in_thread(lambda: submit(assignment, second, choice="A"), submitted)
    time.sleep(1.0)
    assert submitted == [], "the label committed while the drain held its item"
    drained = drain.release()
    submitting.join(timeout=30)
    assert drained == [1]  # first's label; second's waits for the next drain
    assert not isinstance(submitted[0], BaseException), submitted[0]
    waiting = Label.objects.filter(item=item, quality_at__isnull=True)
    assert list(waiting.values_list("expert_id", flat=True)) == [second.pk]


def test_a_claim_skips_an_item_a_running_drain_holds_instead_of_waiting(no_nudges, monkeypatch):
    """The next slot of an item just labelled heads the queue, and the drain holds that item
    while it takes the label: a claim leases another item's slot at once, where it used to wait
    at the assignment's foreign-key check until the drain committed."""
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=3)
    batch = BatchFactory(project=project)
    held, other = ItemFactory(batch=batch), ItemFactory(batch=batch)
    first, second = expert_for(project), expert_for(project)
    assignment = next_assignment(first, project)
    assert assignment.item_id == held.pk
    submit(assignment, first, choice="A")  # held's second slot opens and heads the queue

    drain = HeldDrain(monkeypatch)
    claimed: list = []
    claiming = _in_thread(lambda: next_assignment(second, project), claimed)
    claiming.join(timeout=5)
    finished = not claiming.is_alive()
    drained = drain.release()
    claiming.join(timeout=30)
    assert finished, "the claim waited for the drain"
    assert not isinstance(claimed[0], BaseException), claimed[0]
    assert claimed[0].item_id == other.pk
    assert drained == [1]
    # Once the drain is done, the held item's slot is taken as before.
    third = expert_for(project)
    assert next_assignment(third, project).item_id == held.pk


def test_a_claim_whose_only_open_item_a_drain_holds_waits_for_it_and_leases_it(no_nudges, monkeypatch):
    """Skipping the drain's item must not turn the last open work into "nothing to label": when
    the skipping claim finds nothing, the claim waits for the drain's commit and leases it."""
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=3)
    held = ItemFactory(batch=BatchFactory(project=project))
    first, second = expert_for(project), expert_for(project)
    submit(next_assignment(first, project), first, choice="A")

    drain = HeldDrain(monkeypatch)
    claimed: list = []
    claiming = _in_thread(lambda: next_assignment(second, project), claimed)
    claiming.join(timeout=1.0)
    assert claiming.is_alive(), "the claim did not wait for the drain's item"
    assert drain.release() == [1]
    claiming.join(timeout=30)
    assert not isinstance(claimed[0], BaseException), claimed[0]
    assert claimed[0] is not None and claimed[0].item_id == held.pk
