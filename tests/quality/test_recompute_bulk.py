"""The bulk recompute of a pairwise project gives, item for item and bit for bit, the consensus the
label-by-label path gives (item_consensus_refresh), under either method of a stored model (with a
suspected group whose votes share one weight, strengths that disagree, labels without a choice or
strength, an excluded label, an adjudicated item), and without a model; and one item's consensus
is the same alone as among many."""

from __future__ import annotations

import random

import numpy as np
import pytest

from annotate.models import Item, ItemConsensus, Label, ProjectQualityModel
from annotate.quality.aggregation import PAIRWISE_CLASSES, DawidSkeneModel, Vote, item_consensus
from annotate.quality.consensus_update import item_consensus_refresh, project_model
from annotate.quality.services import project_quality_recompute
from tests.factories import BatchFactory, ItemConsensusFactory, ItemFactory, LabelFactory, ProjectFactory
from tests.quality.pipeline import expert_for

pytestmark = pytest.mark.django_db(transaction=True)


def _model(project, experts, *, method: str | None) -> DawidSkeneModel | None:
    """A stored model with a different confusion per annotator (one unseen by the fit) and the
    last two annotators as a suspected group."""
    if method is None:
        return None
    rng = np.random.default_rng(3)
    confusion = {}
    for expert in experts[:-1]:
        m = rng.random((4, 4)) + np.eye(4) * rng.uniform(0.5, 4.0)
        confusion[str(expert.pk)] = m / m.sum(axis=1, keepdims=True)
    model = DawidSkeneModel(
        classes=PAIRWISE_CLASSES,
        priors=np.array([0.4, 0.35, 0.15, 0.1]),
        confusion=confusion,
        default_confusion=np.full((4, 4), 0.25),
        meta={"method": method, "groups": [[str(experts[-2].pk), str(experts[-1].pk)]]},
    )
    ProjectQualityModel.objects.create(project=project, parameters=model.to_json(), label_count=100)
    return project_model(project.pk)


def _crowd(project, experts, rng: random.Random) -> list[Item]:
    batch = BatchFactory(project=project)
    items = [ItemFactory(batch=batch, slots=8) for _ in range(24)]
    gold = ItemFactory(batch=batch, gold_answer=True)
    for item in [*items[1:], gold]:
        for expert in rng.sample(experts, rng.randint(1, 5)):
            choice = rng.choice(
                ["A", "A", "B", "tie", "both_bad", ""] if item is items[3] else PAIRWISE_CLASSES
            )
            strength = rng.choice([1, 2, 3, None]) if choice in ("A", "B") else None
            LabelFactory(item=item, expert=expert, choice=choice, strength=strength)
    # one item without a choice at all, one whose only labels are excluded, one adjudicated
    for expert in experts[:2]:
        LabelFactory(item=items[0], expert=expert, choice="", strength=None)
    Label.objects.filter(item=items[1]).update(excluded_from_consensus=True)
    ItemConsensusFactory(item=items[2], method="adjudicated", choice="tie", confidence=1.0)
    return items


def _rows(project) -> dict:
    return {
        row.item_id: (
            row.method,
            row.choice,
            row.strength,
            row.ranking,
            row.confidence,
            row.agreement,
            row.label_count,
            row.posterior,
        )
        for row in ItemConsensus.objects.filter(item__project=project)
    }


@pytest.mark.parametrize(
    "method", ["dawid_skene", "majority", None], ids=["ds", "weighted-majority", "no-model"]
)
def test_bulk_consensus_equals_the_label_by_label_consensus_bit_for_bit(method):
    rng = random.Random(11)
    project = ProjectFactory(overlap=3, max_overlap=5)
    experts = [expert_for(project) for _ in range(7)]
    model = _model(project, experts, method=method)
    items = _crowd(project, experts, rng)
    for item in Item.objects.filter(project=project, is_gold=False).order_by("pk"):
        item_consensus_refresh(item=item, model=model)
    by_item = _rows(project)
    assert by_item[items[2].pk][0] == "adjudicated" and items[1].pk not in by_item
    assert by_item[items[0].pk][0] == "none"
    assert len({row[4] for row in by_item.values()}) > 5  # the crowd disagrees
    ItemConsensus.objects.filter(item__project=project).exclude(method="adjudicated").delete()
    ItemConsensusFactory(item=items[1], method="majority", choice="A")  # stale: goes

    project_quality_recompute(project_id=project.pk, refit=False)
    assert _rows(project) == by_item


def test_one_item_alone_and_among_many_get_the_same_bits():
    rng = np.random.default_rng(5)
    confusion = {}
    for w in range(6):
        m = rng.random((4, 4)) + np.eye(4) * 2
        confusion[f"w{w}"] = m / m.sum(axis=1, keepdims=True)
    model = DawidSkeneModel(
        classes=PAIRWISE_CLASSES,
        priors=np.array([0.3, 0.3, 0.2, 0.2]),
        confusion=confusion,
        default_confusion=np.full((4, 4), 0.25),
        meta={"groups": [["w4", "w5"]]},
    )
    votes = [
        Vote(
            item=i,
            worker=f"w{w}",
            choice=PAIRWISE_CLASSES[int(rng.integers(4))],
            strength=int(rng.integers(1, 4)),
        )
        for i in range(300)
        for w in rng.choice(7, size=int(rng.integers(1, 6)), replace=False)
    ]
    for meta_method in ("dawid_skene", "majority"):
        model.meta["method"] = meta_method
        from annotate.quality.aggregation import choice_consensus_arrays

        workers = sorted({v.worker for v in votes})
        found = choice_consensus_arrays(
            np.array([v.item for v in votes]),
            np.array([workers.index(v.worker) for v in votes]),
            workers,
            np.array([PAIRWISE_CLASSES.index(v.choice) for v in votes]),
            np.array([v.strength for v in votes]),
            300,
            model=model,
        )
        for i in range(300):
            alone = item_consensus([v for v in votes if v.item == i], n_responses=2, model=model)
            assert alone.posterior == dict(zip(PAIRWISE_CLASSES, found.posterior[i].tolist(), strict=True))
            assert alone.choice == PAIRWISE_CLASSES[found.choice[i]]
            assert alone.confidence == found.confidence[i]
            assert alone.agreement == found.agreement[i]
            assert alone.strength == (None if np.isnan(found.strength[i]) else found.strength[i])


def test_a_project_without_labels_recomputes_to_nothing():
    project = ProjectFactory()
    ItemFactory.create_batch(3, batch=BatchFactory(project=project))
    report = project_quality_recompute(project_id=project.pk, refit=True)
    assert report["items"] == 0 and report["annotators"] == 0
    assert not ItemConsensus.objects.filter(item__project=project).exists()
