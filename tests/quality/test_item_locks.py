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


def test_a_label_of_an_item_in_a_running_drain_commits_after_the_drain(no_nudges, monkeypatch):
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=3)
    item = ItemFactory(batch=BatchFactory(project=project))
    first, second = expert_for(project), expert_for(project)
    submit(next_assignment(first, project), first, choice="A")
    assignment = next_assignment(second, project)
    assert assignment is not None and assignment.item_id == item.pk

    locked, go = threading.Event(), threading.Event()
    claim = services._labels_claim

    def claim_then_hold(*args, **kwargs):
        rows = claim(*args, **kwargs)
        locked.set()
        assert go.wait(timeout=30)
        return rows

    monkeypatch.setattr(services, "_labels_claim", claim_then_hold)
    drained: list = []
    drain = _in_thread(labels_quality_drain, drained)
    assert locked.wait(timeout=30), "the drain never took its item"
    submitted: list = []
    submitting = _in_thread(lambda: submit(assignment, second, choice="A"), submitted)
    time.sleep(1.0)
    assert submitted == [], "the label committed while the drain held its item"
    go.set()
    drain.join(timeout=30)
    submitting.join(timeout=30)
    assert drained == [1]  # first's label; second's waits for the next drain
    assert not isinstance(submitted[0], BaseException), submitted[0]
    waiting = Label.objects.filter(item=item, quality_at__isnull=True)
    assert list(waiting.values_list("expert_id", flat=True)) == [second.pk]
