"""The project fit over stored labels (annotate/quality/model_fit.py): gold anchors it, levels give
its priors, the collusion signal is computed with it, the method is chosen on held-out gold and
stored for staff, and the per-submit step decides items with it."""

from __future__ import annotations

import random

import numpy as np
import pytest
from django.test import Client

from annotate.models import Item, ProjectQualityModel
from annotate.quality.aggregation import PAIRWISE_CLASSES, UNKNOWN_ACCURACY, DawidSkeneModel
from annotate.quality.consensus_model import one_coin_matrix
from annotate.quality.consensus_update import project_model
from annotate.quality.services import project_model_fit
from tests.factories import BatchFactory, ItemFactory, LabelFactory, ProjectFactory, StaffFactory
from tests.quality.pipeline import expert_for, label_next

CHOICES = PAIRWISE_CLASSES


def _wrong(rng: random.Random, truth: str) -> str:
    return rng.choice([c for c in CHOICES if c != truth])


def _items(project, n: int, *, gold: bool, rng: random.Random, slots: int = 5) -> list[tuple[Item, str]]:
    batch = BatchFactory(project=project)
    out = []
    for _ in range(n):
        truth = rng.choice(("A", "B"))
        if gold:
            item = ItemFactory(batch=batch, is_gold=True, gold={"choice": truth})
        else:
            item = ItemFactory(batch=batch, slots=slots)
        out.append((item, truth))
    return out


def _contrarian_project():
    """One honest level-4 annotator and three level-2 ones who, independently, pick the worse
    response 80% of the time (a majority without gold), on 40 items and 24 gold items."""
    rng = random.Random(7)
    project = ProjectFactory(gold_rate=0)
    honest = expert_for(project, level=4)
    contrarians = [expert_for(project, level=2) for _ in range(3)]
    items = _items(project, 40, gold=False, rng=rng) + _items(project, 24, gold=True, rng=rng)
    for item, truth in items:
        other = "B" if truth == "A" else "A"
        LabelFactory(item=item, expert=honest, choice=truth if rng.random() < 0.9 else _wrong(rng, truth))
        for expert in contrarians:
            LabelFactory(item=item, expert=expert, choice=other if rng.random() < 0.8 else truth)
    return project, honest, contrarians


@pytest.mark.django_db
def test_the_fit_clamps_gold_uses_levels_and_stores_the_method_with_its_held_out_scores():
    project, honest, contrarians = _contrarian_project()
    row = project_model_fit(project_id=project.pk)
    assert row.label_count == 64 * 4
    model = DawidSkeneModel.from_json(row.parameters)
    assert model.worker_accuracy(str(honest.pk)) > 0.7
    assert all(model.worker_accuracy(str(c.pk)) < 0.35 for c in contrarians)
    held_out = model.meta["held_out"]
    assert row.method == model.method == held_out["method"]
    assert held_out["gold_items"] == 24
    assert set(held_out["scores"]) == {"dawid_skene", "majority"}
    assert model.meta["gold_items"] == 24
    assert model.meta["levels"] == {str(honest.pk): 4, **{str(c.pk): 2 for c in contrarians}}
    # an account the fit has not seen counts as unknown, not as the crowd's average
    assert model.worker_accuracy("someone-new") == pytest.approx(UNKNOWN_ACCURACY)


@pytest.mark.django_db
def test_staff_see_the_method_and_its_held_out_scores(staff_client):
    project, _, _ = _contrarian_project()
    url = f"/api/v1/staff/projects/{project.pk}/quality"
    assert staff_client.get(url, {"n_boot": 0}).json()["consensus_model"] is None
    row = project_model_fit(project_id=project.pk)
    shown = staff_client.get(url, {"n_boot": 0}).json()["consensus_model"]
    assert shown["method"] == row.method
    assert shown["gold_items"] == 24
    assert set(shown["held_out"]["log_likelihood"]) == {"dawid_skene", "majority"}
    assert shown["held_out"]["folds"] == 5
    page = Client()
    page.force_login(StaffFactory())
    html = page.get(f"/staff/quality/projects/{project.pk}/").content.decode()
    assert "Consensus model" in html
    assert 'id="held-out-scores"' in html


@pytest.mark.django_db
def test_the_fit_stores_a_copying_pair_as_a_suspected_group():
    rng = random.Random(3)
    project = ProjectFactory(gold_rate=0)
    honest = [expert_for(project) for _ in range(5)]
    copiers = [expert_for(project) for _ in range(2)]
    for item, truth in _items(project, 40, gold=False, rng=rng, slots=7):
        for expert in honest:
            LabelFactory(
                item=item, expert=expert, choice=truth if rng.random() < 0.85 else _wrong(rng, truth)
            )
        copied = rng.choice(CHOICES)
        for expert in copiers:
            LabelFactory(item=item, expert=expert, choice=copied)
    row = project_model_fit(project_id=project.pk)
    groups = row.parameters["meta"]["groups"]
    assert groups == [sorted(str(c.pk) for c in copiers)]
    assert row.parameters["meta"]["flagged_pairs"] == 1


def _stored_model(project, accuracies: dict[str, float], groups: list[list[str]]) -> None:
    k = len(CHOICES)
    model = DawidSkeneModel(
        classes=CHOICES,
        priors=np.array([0.45, 0.45, 0.07, 0.03]),
        confusion={w: one_coin_matrix(a, k) for w, a in accuracies.items()},
        default_confusion=one_coin_matrix(UNKNOWN_ACCURACY, k),
        meta={"method": "dawid_skene", "groups": groups},
    )
    ProjectQualityModel.objects.create(project=project, parameters=model.to_json(), label_count=100)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("suspected", [False, True])
def test_a_two_to_one_split_carried_by_a_suspected_pair_does_not_finalise(suspected):
    project = ProjectFactory(gold_rate=0, overlap=3, max_overlap=5)
    item = ItemFactory(batch=BatchFactory(project=project))
    pair = [expert_for(project), expert_for(project)]
    third = expert_for(project)
    ids = [str(e.pk) for e in (*pair, third)]
    _stored_model(project, dict.fromkeys(ids, 0.95), [sorted(ids[:2])] if suspected else [])
    assert project_model(project.pk).method == "dawid_skene"
    label_next(pair[0], project, choice="A", strength=2)
    label_next(pair[1], project, choice="A", strength=2)
    label_next(third, project, choice="B", strength=2)
    item.refresh_from_db()
    if suspected:
        assert item.consensus.confidence < project.confidence_threshold
        assert item.state != Item.State.FINAL
        assert item.slots.count() == 4  # one more annotator asked
    else:
        assert item.consensus.confidence >= project.confidence_threshold
        assert item.state == Item.State.FINAL
