"""The quality drain task works in time-boxed slices (TASK_SLICE_SECONDS) and queues itself
again while labels wait, with the result of the label-by-label step."""

from __future__ import annotations

import time

import pytest

from annotate.models import Label
from annotate.quality import services, tasks
from annotate.quality.services import label_quality_process, labels_quality_drain
from tests.factories import ProjectFactory
from tests.quality.pipeline import expert_for
from tests.quality.test_drain import _labelled_project, _outcome

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_drain_stops_after_the_batch_that_ends_its_slice(no_nudges):  # noqa: F811
    first = ProjectFactory()
    experts = [expert_for(first) for _ in range(3)]
    _labelled_project(experts, domain=first.domain, items=4, seed=2)
    waiting = Label.objects.filter(quality_at__isnull=True).count()
    assert waiting > 4

    assert labels_quality_drain(batch=2, until=time.monotonic()) == 2
    assert Label.objects.filter(quality_at__isnull=True).count() == waiting - 2


def test_drain_slices_queue_the_next_and_give_the_label_by_label_result(
    no_nudges,  # noqa: F811
    monkeypatch,
    settings,
):
    settings.TASK_SLICE_SECONDS = 0  # every slice ends after its first batch
    slices = []

    def in_batches_of_ten(**kwargs):
        done = services.labels_quality_drain(batch=10, **kwargs)
        slices.append(done)
        return done

    monkeypatch.setattr(tasks, "labels_quality_drain", in_batches_of_ten)
    first = ProjectFactory()
    experts = [expert_for(first) for _ in range(6)]
    by_label = _labelled_project(experts, domain=first.domain, items=12, seed=7)
    sliced = _labelled_project(experts, domain=first.domain, items=12, seed=7)
    for label in Label.objects.filter(project=by_label).order_by("created_at"):
        assert label_quality_process(label_id=label.pk)

    tasks.labels_quality_drain_task.delay()  # eager: each slice runs the next one it queues

    assert slices == [10, 10, 10, 6, 0]  # 36 labels; the last slice finds none and stops
    assert not Label.objects.filter(quality_at__isnull=True).exists()
    assert _outcome(sliced, experts) == _outcome(by_label, experts)


def test_an_items_refresh_goes_on_in_a_new_task_when_its_slice_is_over(monkeypatch, settings):
    settings.TASK_SLICE_SECONDS = 0  # every slice ends after its first item
    refreshed = []

    def refresh(*, item_ids, suspension_id):
        refreshed.append((item_ids, suspension_id))
        return len(item_ids)

    monkeypatch.setattr(tasks, "items_quality_refresh", refresh)
    queued = []
    real_delay = tasks.items_quality_refresh_task.delay
    monkeypatch.setattr(
        tasks.items_quality_refresh_task, "delay", lambda *args: (queued.append(args), real_delay(*args))
    )

    assert tasks.items_quality_refresh_task(["3", "1", "2"], "s-1") == 1

    assert refreshed == [([3], "s-1"), ([1], "s-1"), ([2], "s-1")]  # each once, in order
    assert queued == [([1, 2], "s-1"), ([2], "s-1")]
