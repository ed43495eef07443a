"""The quality drain: labels waiting for their after-submit step are taken in batches, with
the same result as the step run label by label; a lost nudge loses nothing; one failing label
does not hold up the others."""

from __future__ import annotations

import pytest

from annotate.apps import QUALITY_LABEL_HOOK, quality_on_label_submitted
from annotate.models import AnnotatorQuality, Item, ItemConsensus, Label
from annotate.quality import services
from annotate.quality.services import label_quality_process, labels_quality_drain
from annotate.quality.tasks import labels_quality_sweep_task
from annotate.queue import label_submitted
from tests.factories import BatchFactory, ItemFactory, ProjectFactory
from tests.quality.pipeline import expert_for, next_assignment, submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def no_nudges():
    """Submits store labels without starting the quality step: they wait, as they do when the
    worker is busy."""
    label_submitted.disconnect(dispatch_uid=QUALITY_LABEL_HOOK)
    yield
    label_submitted.connect(quality_on_label_submitted, dispatch_uid=QUALITY_LABEL_HOOK)


def _labelled_project(experts, *, domain, items: int, seed: int):
    """A project whose items get labels from ``experts`` through the real queue: agreeing on
    most items, split on some (those go on to more slots or to adjudication)."""
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=4, confidence_threshold=0.9, domain=domain)
    batch = BatchFactory(project=project)
    for n in range(items):
        ItemFactory(batch=batch, external_id=f"d-{n}")
    split = {f"d-{n}" for n in range(0, items, 4)}
    for _round in range(6):
        for expert in experts:
            assignment = next_assignment(expert, project)
            if assignment is None:
                continue
            # A split item gets A, B, A: 2 to 1, short of the project's confidence threshold.
            # (The queue's assignment carries only what the expert sees of its item.)
            external_id = Item.objects.values_list("external_id", flat=True).get(pk=assignment.item_id)
            second = Label.objects.filter(item_id=assignment.item_id).count() == 1
            choice = "B" if external_id in split and second else "A"
            submit(assignment, expert, choice=choice, strength=1 + seed % 3)
    return project


def _outcome(project, experts):
    consensus = {
        c.item.external_id: (c.method, c.choice, c.strength, round(c.confidence, 9), c.label_count)
        for c in ItemConsensus.objects.filter(item__project=project).select_related("item")
    }
    states = dict(Item.objects.filter(project=project).values_list("external_id", "state"))
    index = {expert.pk: n for n, expert in enumerate(experts)}
    annotators = {
        index[row.expert_id]: (row.labels, row.agreement_hits, row.agreement_total, row.active_seconds_count)
        for row in AnnotatorQuality.objects.filter(project=project)
    }
    return consensus, states, annotators


def test_the_batched_drain_gives_what_the_label_by_label_step_gives(no_nudges):
    first = ProjectFactory()  # the experts' domain, shared by both projects below
    experts = [expert_for(first) for _ in range(6)]
    by_label = _labelled_project(experts, domain=first.domain, items=12, seed=7)
    batched = _labelled_project(experts, domain=first.domain, items=12, seed=7)
    for label_id in (
        Label.objects.filter(project=by_label).order_by("created_at").values_list("pk", flat=True)
    ):
        assert label_quality_process(label_id=label_id)
    waiting = Label.objects.filter(project=batched, quality_at__isnull=True).count()
    assert waiting == 36
    assert labels_quality_drain(batch=10) == waiting  # several batches
    assert _outcome(batched, experts) == _outcome(by_label, experts)
    assert not Label.objects.filter(quality_at__isnull=True).exists()
    finals = Item.objects.filter(project=batched, state=Item.State.FINAL).count()
    assert 0 < finals < 12  # some items became final, the split ones went on


def test_a_label_whose_step_fails_is_left_for_later_and_the_rest_go_through(no_nudges, monkeypatch):
    experts_project = ProjectFactory()
    experts = [expert_for(experts_project) for _ in range(3)]
    project = _labelled_project(experts, domain=experts_project.domain, items=3, seed=1)
    broken = Label.objects.filter(project=project).order_by("created_at").first()
    real_batch = services.labels_quality_batch
    real_single = services.label_quality_process

    def batch_failing(*, label_ids):
        raise RuntimeError("a bug in the batch")

    def single_failing_for_one(*, label_id):
        if label_id == broken.pk:
            raise RuntimeError("a bug for this label")
        return real_single(label_id=label_id)

    monkeypatch.setattr(services, "labels_quality_batch", batch_failing)
    monkeypatch.setattr(services, "label_quality_process", single_failing_for_one)
    assert labels_quality_drain() == 8
    assert list(Label.objects.filter(quality_at__isnull=True).values_list("pk", flat=True)) == [broken.pk]
    # Fixed (the next deployment): the next drain, here the periodic sweep, takes it.
    monkeypatch.setattr(services, "labels_quality_batch", real_batch)
    monkeypatch.setattr(services, "label_quality_process", real_single)
    labels_quality_sweep_task.delay()
    assert not Label.objects.filter(quality_at__isnull=True).exists()


def test_a_broker_that_is_down_does_not_fail_the_submit(monkeypatch):
    from django.core.cache import cache

    from annotate.quality import tasks
    from tests.quality.pipeline import label_next

    def broker_down():
        raise ConnectionError("broker unreachable")

    cache.delete(tasks.DRAIN_PENDING_KEY)
    monkeypatch.setattr(tasks.labels_quality_drain_task, "delay", broker_down)
    project = ProjectFactory(gold_rate=0, overlap=3)
    ItemFactory(batch=BatchFactory(project=project))
    label = label_next(expert_for(project), project, choice="A", strength=2)
    assert Label.objects.get(pk=label.pk).quality_at is None  # stored, waiting for a drain
    assert cache.get(tasks.DRAIN_PENDING_KEY) is None  # the next submit nudges again
    monkeypatch.undo()
    labels_quality_sweep_task.delay()
    assert Label.objects.get(pk=label.pk).quality_at is not None
