"""Correcting one's own label (annotate/label_revisions.py): who may, until when, what the history
keeps, and that quality (consensus, agreement, gold grades) follows the latest value."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from annotate.label_revisions import MAX_REVISIONS, label_revise
from annotate.models import (
    AnnotatorQuality,
    Item,
    ItemConsensus,
    Label,
    LabelRevision,
    Project,
    ProjectSuspension,
)
from annotate.quality.services import label_quality_process
from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.core.exceptions import ApplicationError
from tests.factories import BatchFactory, ExpertProfileFactory, ItemFactory, LabelFactory, ProjectFactory
from tests.quality.pipeline import expert_for, next_assignment, stored_model, submit
from tests.threads import run_together

pytestmark = pytest.mark.django_db


def _revise(label, choice, strength=2, expert=None):
    payload = {"choice": choice}
    if choice in ("A", "B"):
        payload["strength"] = strength
    return label_revise(label=label, expert=expert or label.expert, payload=payload)


def _refused(label, code, **kwargs):
    with pytest.raises(ApplicationError) as caught:
        _revise(label, kwargs.pop("choice", "B"), **kwargs)
    assert caught.value.code == code
    return caught.value


@pytest.fixture
def label():
    # shown in canonical order, so display letters are canonical letters
    return LabelFactory(choice="A", strength=2, assignment__shown_order=[0, 1])


def test_the_author_corrects_and_the_history_keeps_every_earlier_value(label):
    given_at = label.created_at
    _revise(label, "B", 1)
    _revise(label, "tie")
    label.refresh_from_db()
    assert (label.choice, label.strength) == ("tie", None)
    history = list(LabelRevision.objects.filter(label=label).order_by("number"))
    assert [(r.number, r.choice, r.strength) for r in history] == [(1, "A", 2), (2, "B", 1)]
    assert history[0].valued_at == given_at
    assert history[1].valued_at == history[0].created_at
    assert AuditEvent.objects.filter(action="annotate.label_revised").count() == 2


def test_the_history_is_append_only(label):
    _revise(label, "B")
    revision = LabelRevision.objects.get(label=label)
    revision.choice = "A"
    with pytest.raises(ValueError):
        revision.save()
    with pytest.raises(ValueError):
        revision.delete()


def test_someone_else_gets_not_found(label):
    error = _refused(label, "not_found", expert=ExpertProfileFactory())
    assert error.status_code == 404
    assert Label.objects.get(pk=label.pk).choice == "A"


def test_letters_are_the_ones_the_expert_saw():
    label = LabelFactory(choice="A", strength=2, assignment__shown_order=[1, 0])
    _revise(label, "A", 3)  # display A is canonical B
    label.refresh_from_db()
    assert (label.choice, label.strength) == ("B", 3)


def test_the_value_is_validated_against_the_schema_and_an_unchanged_one_refused(label):
    with pytest.raises(ValidationError) as caught:
        label_revise(label=label, expert=label.expert, payload={"choice": "C"})
    assert "choice" in caught.value.error_dict
    with pytest.raises(ValidationError) as caught:
        label_revise(label=label, expert=label.expert, payload={"choice": "B"})
    assert "strength" in caught.value.error_dict
    _refused(label, "unchanged", choice="A", strength=2)
    assert not LabelRevision.objects.exists()


def test_at_most_max_revisions(label):
    for n in range(MAX_REVISIONS):
        _revise(label, "B" if n % 2 == 0 else "A")
    error = _refused(label, "revision_limit", choice="tie")
    assert error.status_code == 409
    assert LabelRevision.objects.filter(label=label).count() == MAX_REVISIONS


@pytest.mark.parametrize("state", [Item.State.FINAL, Item.State.ADJUDICATION, Item.State.CANCELLED])
def test_closed_once_the_item_is_settled(label, state):
    Item.objects.filter(pk=label.item_id).update(state=state)
    error = _refused(label, "label_closed")
    assert error.status_code == 409


def test_closed_after_the_day_it_was_given():
    yesterday = timezone.now() - dt.timedelta(days=1)
    label = LabelFactory(choice="A", created_at=yesterday, assignment__shown_order=[0, 1])
    _refused(label, "label_closed")


def test_a_suspended_expert_is_refused(label):
    ProjectSuspension.objects.create(project=label.project, expert=label.expert, reason="staff")
    error = _refused(label, "suspended")
    assert error.status_code == 403


def test_a_label_before_a_lifted_suspension_is_closed(label):
    ProjectSuspension.objects.create(
        project=label.project, expert=label.expert, reason="staff", active=False, appeal="reinstated"
    )
    _refused(label, "label_closed")


@pytest.mark.django_db(transaction=True)
def test_consensus_and_agreement_use_the_latest_value():
    project = ProjectFactory(overlap=3, max_overlap=3, gold_rate=0)
    stored_model(project, accuracy=0.9)
    ItemFactory(batch=BatchFactory(project=project))
    first, second, third = (expert_for(project) for _ in range(3))
    submit(next_assignment(first, project), first, choice="A")
    wrong = submit(next_assignment(second, project), second, choice="B")
    item = Item.objects.get(pk=wrong.item_id)
    assert ItemConsensus.objects.get(item=item).confidence < 0.6  # a split
    row = AnnotatorQuality.objects.get(project=project, expert=second)
    pairwise_before = row.pairwise_labels

    shown = wrong.assignment.shown_order
    label_revise(label=wrong, expert=second, payload={"choice": "AB"[shown.index(0)], "strength": 2})

    consensus = ItemConsensus.objects.get(item=item)
    assert (consensus.choice, consensus.label_count) == ("A", 2)
    assert consensus.confidence > 0.9
    submit(next_assignment(third, project), third, choice="A")
    item.refresh_from_db()
    assert item.state == Item.State.FINAL
    row.refresh_from_db()
    assert (row.labels, row.agreement_hits, row.agreement_total) == (1, 1, 1)
    assert row.pairwise_labels == pairwise_before
    # final now: closed
    _refused(Label.objects.get(pk=wrong.pk), "label_closed", choice="tie")


def _gold_label(*, choice):
    project = ProjectFactory(gold_threshold=0.8)
    item = ItemFactory(project=project, batch__project=project, is_gold=True, gold={"choice": "A"})
    label = LabelFactory(item=item, choice=choice, strength=2, assignment__shown_order=[0, 1])
    label_quality_process(label_id=label.pk)
    label.refresh_from_db()
    return label


def test_a_gold_label_is_regraded_on_its_latest_value_without_running_the_rules():
    label = _gold_label(choice="B")
    row = AnnotatorQuality.objects.get(project=label.project, expert=label.expert)
    assert (label.gold_passed, row.gold_passed, row.gold_failed) == (False, 0, 1)
    status_before = row.status
    assert row.suspend_statistic > 0

    _revise(label, "A")

    label.refresh_from_db()
    row.refresh_from_db()
    assert label.gold_passed is True
    assert (row.gold_passed, row.gold_failed) == (1, 0)
    assert row.last_gold_passed_at == label.created_at
    assert row.suspend_statistic == 0  # the test replayed on the passed grade
    assert row.status == status_before  # the standing moves only at the next evidence
    assert LabelRevision.objects.get(label=label).gold_passed is False


def test_a_gold_label_of_a_retired_item_is_closed_when_the_review_shows_its_answer():
    label = _gold_label(choice="B")
    Item.objects.filter(pk=label.item_id).update(gold_retired_at=timezone.now())
    _refused(label, "label_closed", choice="A")
    # without gold answers shown, nothing tells the answer: it stays open like any label
    Project.objects.filter(pk=label.project_id).update(gold_feedback=False)
    _revise(Label.objects.get(pk=label.pk), "A")


def test_a_gold_label_on_a_final_silver_item_stays_open_like_any_open_label():
    project = ProjectFactory()
    item = ItemFactory(project=project, batch__project=project, gold={"choice": "A"}, gold_source="silver")
    Item.objects.filter(pk=item.pk).update(state=Item.State.FINAL)
    label = LabelFactory(item=item, is_gold=True, choice="B", assignment__is_gold=True, assignment__slot=None)
    _revise(label, "A")
    assert Label.objects.get(pk=label.pk).choice == "A"


@pytest.mark.django_db(transaction=True)
def test_concurrent_corrections_of_one_label_are_serialised():
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    label = LabelFactory(choice="A", strength=2, assignment__shown_order=[0, 1])
    for choice in ("B", "A"):
        _revise(label, choice)

    def attempt(choice):
        def call():
            try:
                _revise(Label.objects.get(pk=label.pk), choice)
                return "ok"
            except ApplicationError as exc:
                return exc.code

        return call

    results = run_together([attempt("tie"), attempt("both_bad")], what="a correction")
    assert sorted(results) == ["ok", "revision_limit"]
    assert LabelRevision.objects.filter(label=label).count() == MAX_REVISIONS
    assert sorted(LabelRevision.objects.filter(label=label).values_list("number", flat=True)) == [1, 2, 3]
