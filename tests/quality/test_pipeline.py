"""The after-submit quality step: consensus per item, finalisation, adaptive overlap up to
max_overlap, adjudication, gold grading and feedback, idempotence, the stored model."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from annotate.models import AnnotatorQuality, Item, ItemConsensus, Label, ProjectQualityModel, Slot
from annotate.quality.adjudication import item_adjudicate
from annotate.quality.services import label_quality_process, project_model_fit
from annotate.quality.tasks import label_quality_task
from annotate.signals import item_finalized
from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.core.exceptions import ApplicationError
from tests.factories import BatchFactory, ItemFactory, ProjectFactory, StaffFactory
from tests.quality.pipeline import expert_for, label_next, next_assignment, submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finalized():
    seen: list[int] = []

    def receiver(sender, item_id, project_id, **kwargs):
        seen.append(item_id)

    item_finalized.connect(receiver, dispatch_uid="test-quality-finalized")
    yield seen
    item_finalized.disconnect(dispatch_uid="test-quality-finalized")


def _project(**fields):
    fields.setdefault("gold_rate", 0)
    return ProjectFactory(**fields)


def test_agreeing_labels_make_the_item_final_after_k(finalized):
    project = _project(overlap=3, max_overlap=5)
    item = ItemFactory(batch=BatchFactory(project=project))
    experts = [expert_for(project) for _ in range(3)]
    label_next(experts[0], project, choice="A", strength=2)
    label_next(experts[1], project, choice="A", strength=3)
    item.refresh_from_db()
    assert item.state == Item.State.OPEN  # the third slot is still to come
    assert item.consensus.label_count == 2
    label_next(experts[2], project, choice="A", strength=2)
    item.refresh_from_db()
    consensus = ItemConsensus.objects.get(item=item)
    assert (consensus.method, consensus.choice, consensus.strength, consensus.label_count) == (
        "majority",
        "A",
        2,
        3,
    )
    assert consensus.confidence >= project.confidence_threshold
    assert item.state == Item.State.FINAL
    assert finalized == [item.pk]
    rows = AnnotatorQuality.objects.filter(project=project)
    assert sorted((r.labels, r.agreement_hits, r.agreement_total) for r in rows) == [(1, 1, 1)] * 3


def test_low_confidence_adds_one_slot_at_a_time_then_goes_to_adjudication(finalized):
    project = _project(overlap=2, max_overlap=4)
    item = ItemFactory(batch=BatchFactory(project=project))
    experts = [expert_for(project) for _ in range(4)]
    label_next(experts[0], project, choice="A", strength=1)
    label_next(experts[1], project, choice="B", strength=1)
    assert Slot.objects.filter(item=item).count() == 3
    assert Slot.objects.get(item=item, idx=2).state == Slot.State.OPEN
    item.refresh_from_db()
    assert item.state == Item.State.OPEN
    label_next(experts[2], project, choice="tie")
    assert Slot.objects.filter(item=item).count() == 4
    label_next(experts[3], project, choice="both_bad")
    item.refresh_from_db()
    assert item.state == Item.State.ADJUDICATION
    assert Slot.objects.filter(item=item).count() == 4  # never beyond max_overlap
    assert finalized == []
    assert next_assignment(expert_for(project), project) is None


def _item_in_adjudication(project):
    item = ItemFactory(batch=BatchFactory(project=project))
    for choice in ("A", "B"):
        label_next(expert_for(project), project, choice=choice, strength=1)
    item.refresh_from_db()
    assert item.state == Item.State.ADJUDICATION
    return item


def test_staff_adjudication_writes_the_consensus_and_finalises_with_an_audit_event(finalized):
    project = _project(overlap=2, max_overlap=2)
    item = _item_in_adjudication(project)
    staff = StaffFactory()
    consensus = item_adjudicate(
        item=item, actor=staff, decision={"choice": "B", "strength": 1}, note="B is right"
    )
    item.refresh_from_db()
    assert (consensus.method, consensus.choice, consensus.confidence) == ("adjudicated", "B", 1.0)
    assert item.state == Item.State.FINAL
    assert finalized == [item.pk]
    event = AuditEvent.objects.get(action="quality.adjudicate", target_id=str(item.pk))
    assert event.actor == staff and event.data["decision"]["choice"] == "B"
    hits = sorted(AnnotatorQuality.objects.filter(project=project).values_list("agreement_hits", flat=True))
    assert hits == [0, 1]
    with pytest.raises(ApplicationError) as error:
        item_adjudicate(item=item, actor=staff, decision={"choice": "A"})
    assert error.value.code == "not_in_adjudication"


def test_an_authority_expert_may_adjudicate_but_not_a_labeller_or_a_lower_level():
    project = _project(overlap=2, max_overlap=2)
    item = _item_in_adjudication(project)
    labeller = Label.objects.filter(item=item).first().expert
    for user, code in (
        (labeller.user, "four_eyes_own_labels"),
        (expert_for(project, level=3).user, "permission_denied"),
    ):
        with pytest.raises(ApplicationError) as error:
            item_adjudicate(item=item, actor=user, decision={"choice": "A"})
        assert error.value.code == code
    authority = expert_for(project, level=4)
    item_adjudicate(item=item, actor=authority.user, decision={"choice": "A", "strength": 2})
    assert ItemConsensus.objects.get(item=item).method == "adjudicated"


def test_a_redelivered_task_changes_nothing():
    project = _project(overlap=3)
    ItemFactory(batch=BatchFactory(project=project))
    expert = expert_for(project)
    label = label_next(expert, project, choice="A", strength=2)
    assert Label.objects.get(pk=label.pk).quality_at is not None
    # .result, not .get(): an earlier test's in-process worker leaves Celery thinking it runs in a task.
    assert label_quality_task.apply(args=[str(label.pk)]).result is False
    assert label_quality_process(label_id=label.pk) is False
    assert AnnotatorQuality.objects.get(project=project, expert=expert).labels == 1


def test_a_gold_label_is_graded_and_counted():
    project = _project(gold_rate=0.5)
    ItemFactory(
        batch=BatchFactory(project=project), gold_answer=True, gold={"choice": "A", "strength_min": 2}
    )
    ItemFactory.create_batch(40, batch=BatchFactory(project=project))
    expert = expert_for(project)
    assignment = next_assignment(expert, project)
    while assignment is not None and not assignment.is_gold:  # gold is drawn at random
        submit(assignment, expert, choice="A", strength=2)
        assignment = next_assignment(expert, project)
    label = submit(assignment, expert, choice="A", strength=1)
    label.refresh_from_db()
    assert label.gold_passed is False
    row = AnnotatorQuality.objects.get(project=project, expert=expert)
    assert (row.gold_passed, row.gold_failed, row.status) == (0, 1, AnnotatorQuality.Status.WARNED)
    assert not ItemConsensus.objects.filter(item=label.item).exists()  # gold items have no consensus


def test_the_submit_response_of_a_gold_item_has_the_shape_of_an_ordinary_one(api_client):
    # Nothing in the submit response tells the expert an item was gold, nor its answer: the
    # answer appears only in the gold review, once the item is retired from the pool.
    project = _project(gold_rate=0.5)
    gold = {"choice": "B", "strength_min": 1, "strength_max": 2, "explanation": "B answers the question."}
    ItemFactory(batch=BatchFactory(project=project), gold_answer=True, gold=gold)
    ItemFactory.create_batch(40, batch=BatchFactory(project=project))
    expert = expert_for(project)
    api_client.force_login(expert.user)
    bodies = {}
    while len(bodies) < 2:
        response = api_client.post("/api/v1/queue/next", {"project": str(project.pk)}, format="json")
        assert response.status_code == 200
        assignment = response.json()
        item = Item.objects.get(uid=assignment["item"])
        body = {"client_id": assignment["id"], "choice": "tie"}
        response = api_client.post(f"/api/v1/assignments/{assignment['id']}/submit", body, format="json")
        assert response.status_code == 201, response.json()
        bodies.setdefault(item.is_gold, response.json())
    assert sorted(bodies[True]) == sorted(bodies[False]) == ["assignment", "client_id", "created_at", "id"]
    assert "B answers" not in str(bodies[True])


def test_the_stored_model_drives_the_consensus_once_fitted():
    project = _project(overlap=3, max_overlap=3)
    experts = [expert_for(project) for _ in range(3)]
    for _ in range(4):
        ItemFactory(batch=BatchFactory(project=project))
    for expert in experts:
        while label_next(expert, project, choice="A", strength=2):
            pass
    assert project_model_fit(project_id=project.pk) is not None
    assert ProjectQualityModel.objects.get(project=project).label_count == 12
    item = ItemFactory(batch=BatchFactory(project=project))
    label_next(experts[0], project, choice="A", strength=2)
    assert ItemConsensus.objects.get(item=item).method == "dawid_skene"


@pytest.mark.postgres
def test_the_pipeline_runs_on_a_real_worker(transactional_db, celery_worker):
    assert connection.vendor == "postgresql"
    project = _project(overlap=3, max_overlap=5)
    item = ItemFactory(batch=BatchFactory(project=project))
    for _ in range(3):
        label_next(expert_for(project), project, choice="B", strength=1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        item.refresh_from_db()
        if item.state == Item.State.FINAL:
            break
        time.sleep(0.1)
    assert item.state == Item.State.FINAL
    assert ItemConsensus.objects.get(item=item).choice == "B"
    assert not Label.objects.filter(item=item, quality_at__isnull=True).exists()
