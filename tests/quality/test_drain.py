"""The quality drain: labels waiting for their after-submit step are taken in batches, with
the same result as the step run label by label; a lost nudge loses nothing; one failing label
does not hold up the others."""

from __future__ import annotations

import pytest

from annotate.models import AnnotatorQuality, Item, ItemConsensus, Label
from annotate.quality import services
from annotate.quality.services import label_quality_process, labels_quality_drain
from annotate.quality.tasks import labels_quality_sweep_task
from tests.factories import BatchFactory, ItemFactory, ProjectFactory
from tests.quality.pipeline import expert_for, next_assignment, submit

pytestmark = pytest.mark.django_db(transaction=True)


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


# Gold labels in the drain: what each of three experts answers on the golds, in turn.
GOLD_SCRIPT = {
    # Warned, back to ok, warned again: a warning each time the status turns to warned.
    "warned": "FPPFPP",
    # A run of failures that crosses the suspension test's threshold, and golds after it.
    "crossing": None,  # filled in from the test's design (see _crossing)
    "careful": "PPPPPP",
}


def _crossing(project) -> str:
    from annotate.quality.cusum import design_of

    design = design_of(p0=project.gold_threshold)
    failures = -(-design.threshold // design.gold.failed)  # the failures in a row that cross
    return "PF" + "F" * failures + "PF"


def _gold_project(experts, *, domain):
    """A project whose waiting labels mix ordinary labels (items of overlap 3, all agreeing,
    so they become final and grade their labels silver) and gold labels following
    :data:`GOLD_SCRIPT`, in an interleaved submit order."""
    import datetime as dt

    from django.utils import timezone

    from tests.factories import LabelFactory

    project = ProjectFactory(gold_rate=0, overlap=3, gold_threshold=0.55, domain=domain)
    batch = BatchFactory(project=project)
    script = {**GOLD_SCRIPT, "crossing": _crossing(project)}
    rounds = max(len(answers) for answers in script.values())
    golds = [ItemFactory(batch=batch, gold_answer=True, external_id=f"g-{n}") for n in range(rounds)]
    ordinary = [ItemFactory(batch=batch, external_id=f"o-{n}") for n in range(rounds)]
    at = timezone.now() - dt.timedelta(hours=1)
    for n in range(rounds):
        for expert, answers in zip(experts, script.values(), strict=True):
            at += dt.timedelta(seconds=1)
            LabelFactory(item=ordinary[n], expert=expert, choice="A", created_at=at)
            if n < len(answers):
                at += dt.timedelta(seconds=1)
                LabelFactory(
                    item=golds[n], expert=expert, choice="A" if answers[n] == "P" else "B", created_at=at
                )
    return project


def _gold_outcome(project, experts, notices):
    """What the step leaves, comparable between two projects: times as positions in the submit
    order, experts as their index, and what each was told (in order)."""
    from annotate.models import ProjectSuspension
    from annotate.quality.services import expert_test_replay
    from rlhf_platform.accounts.notifications import user_group

    index = {expert.pk: n for n, expert in enumerate(experts)}
    users = {user_group(expert.user_id): n for n, expert in enumerate(experts)}
    labels = Label.objects.filter(project=project)
    created = {pk: n for n, pk in enumerate(labels.order_by("created_at").values_list("pk", flat=True))}
    order = {at: n for n, at in enumerate(labels.order_by("created_at").values_list("created_at", flat=True))}
    grades = sorted(
        (index[expert_id], external_id, passed)
        for expert_id, external_id, passed in labels.filter(is_gold=True).values_list(
            "expert_id", "item__external_id", "gold_passed"
        )
    )
    rows = {}
    for row in AnnotatorQuality.objects.filter(project=project):
        replay = expert_test_replay(project=project, expert_id=row.expert_id)
        # The recompute replays the test from the stored evidence in the order the step took it.
        assert (replay.value, replay.since, replay.events) == (
            row.suspend_statistic,
            row.suspend_since,
            row.suspend_events,
        )
        rows[index[row.expert_id]] = (
            row.status,
            row.labels,
            row.gold_passed,
            row.gold_failed,
            order.get(row.last_gold_passed_at),
            row.agreement_hits,
            row.agreement_total,
            row.suspend_statistic,
            order.get(row.suspend_since),
            row.suspend_events,
            row.flags,
        )
    suspensions = [
        (
            index[s.expert_id],
            s.reason,
            s.excluded_labels,
            {k: v for k, v in s.details.items() if k != "change_point"},
        )
        for s in ProjectSuspension.objects.filter(project=project).order_by("created_at")
    ]
    excluded = sorted(
        created[pk] for pk in labels.filter(excluded_from_consensus=True).values_list("pk", flat=True)
    )
    told = [
        (users.get(group, group), event["type"])
        for group, event in notices
        if event.get("project") == str(project.pk) and event["type"] != "quality.changed"
    ]
    return grades, rows, suspensions, excluded, told


@pytest.mark.parametrize("batch", [7, 60])
def test_gold_labels_in_a_batch_give_what_the_step_label_by_label_gives(no_nudges, monkeypatch, batch):
    """Gold labels go through the drain in batches, with the grades, annotator rows, warnings,
    suspensions (their evidence counted at the gold that crossed) and suspension tests that
    the step run label by label gives, in the drain's order: a page's ordinary labels, then its
    golds, each oldest first."""
    from annotate.quality import reputation, suspension

    notices: list[tuple[str, dict]] = []

    def told(group, event, **kwargs):
        notices.append((group, event))

    monkeypatch.setattr(reputation, "notify_on_commit", told)
    monkeypatch.setattr(suspension, "notify_on_commit", told)
    first = ProjectFactory()
    experts = [expert_for(first) for _ in range(3)]
    by_label = _gold_project(experts, domain=first.domain)
    batched = _gold_project(experts, domain=first.domain)

    waiting = list(Label.objects.filter(project=by_label).order_by("created_at").values_list("pk", "is_gold"))
    for start in range(0, len(waiting), batch):
        page = waiting[start : start + batch]
        for label_id in [pk for pk, is_gold in page if not is_gold] + [pk for pk, is_gold in page if is_gold]:
            assert label_quality_process(label_id=label_id)

    calls = []
    real = services.labels_gold_batch

    def gold_batch(*, label_ids):
        calls.append(label_ids)
        return real(label_ids=label_ids)

    monkeypatch.setattr(services, "labels_gold_batch", gold_batch)
    assert labels_quality_drain(batch=batch) == Label.objects.filter(project=batched).count()
    assert max(len(ids) for ids in calls) > 1  # golds went through in batches

    expected = _gold_outcome(by_label, experts, notices)
    assert _gold_outcome(batched, experts, notices) == expected
    _grades, rows, suspensions, excluded, told_ = expected
    assert [expert for expert, *_rest in suspensions] == [1]  # the crossing expert, once
    assert excluded  # its labels from the change point on
    assert (1, "quality.suspended") in told_
    warnings = [who for who, kind in told_ if kind == "quality.warning"]
    assert warnings.count(0) == 2  # the status turned to warned twice
    assert rows[0][0] == AnnotatorQuality.Status.OK  # back to ok after the last golds
    assert rows[2][0] == AnnotatorQuality.Status.OK


def test_gold_labels_whose_batch_fails_are_taken_one_by_one(no_nudges, monkeypatch):
    first = ProjectFactory()
    experts = [expert_for(first) for _ in range(3)]
    project = _gold_project(experts, domain=first.domain)

    def gold_batch_failing(*, label_ids):
        raise RuntimeError("a bug in the gold batch")

    monkeypatch.setattr(services, "labels_gold_batch", gold_batch_failing)
    assert labels_quality_drain() == Label.objects.filter(project=project).count()
    golds = Label.objects.filter(project=project, is_gold=True)
    assert not golds.filter(gold_passed__isnull=True).exists()
