"""``recompute_quality`` rebuilds a project from its labels and agrees with the label-by-label
pipeline; a second run changes nothing."""

from __future__ import annotations

import random

import pytest
from django.core.management import call_command

from annotate.models import AnnotatorQuality, Item, ItemConsensus, Label, ProjectSuspension, Slot
from annotate.quality.services import project_quality_recompute
from tests.factories import BatchFactory, ItemFactory, ProjectFactory
from tests.quality.pipeline import expert_for, next_assignment, submit

pytestmark = pytest.mark.django_db(transaction=True)


def _snapshot(project) -> dict:
    consensus = {
        row.item_id: (
            row.method,
            row.choice,
            row.strength,
            row.ranking,
            round(row.confidence, 9),
            row.agreement if row.agreement is None else round(row.agreement, 9),
            row.label_count,
            None if row.posterior is None else {k: round(v, 9) for k, v in row.posterior.items()},
        )
        for row in ItemConsensus.objects.filter(item__project=project)
    }
    quality = {
        row.expert_id: (
            row.labels,
            row.gold_passed,
            row.gold_failed,
            row.last_gold_passed_at,
            row.agreement_hits,
            row.agreement_total,
            round(row.active_seconds_sum, 6),
            row.active_seconds_count,
            row.pairwise_labels,
            row.first_shown_choices,
            row.flags,
            row.status,
            row.suspend_statistic,
            row.suspend_since,
            row.suspend_events,
        )
        for row in AnnotatorQuality.objects.filter(project=project)
    }
    return {
        "consensus": consensus,
        "quality": quality,
        "items": dict(Item.objects.filter(project=project).values_list("pk", "state")),
        "slots": sorted(Slot.objects.filter(project=project).values_list("item_id", "idx", "state")),
        "labels": sorted(
            (str(pk), passed, silver, excluded)
            for pk, passed, silver, excluded in Label.objects.filter(project=project).values_list(
                "pk", "gold_passed", "silver_passed", "excluded_from_consensus"
            )
        ),
        "suspended": sorted(
            str(e)
            for e in ProjectSuspension.objects.filter(project=project, active=True).values_list(
                "expert_id", flat=True
            )
        ),
    }


def _crowd_run(project, *, ranking: bool, seed: int = 7) -> None:
    """Eight experts (one a spammer) label the project through the queue, label by label."""
    rng = random.Random(seed)
    experts = [expert_for(project) for _ in range(8)]
    spammer = experts[-1]
    active = list(experts)
    while active:
        for expert in list(active):
            assignment = next_assignment(expert, project)
            if assignment is None:
                active.remove(expert)
                continue
            item = assignment.item
            right = rng.random() < (0.8 if expert is not spammer else 0.0 if item.is_gold else 0.3)
            if ranking:
                ids = [r["id"] for r in item.responses]
                order = ids if right else rng.sample(ids, len(ids))
                submit(assignment, expert, ranking=[[rid] for rid in order])
            else:
                truth = item.gold["choice"] if item.is_gold else "A"
                choice = truth if right else rng.choice(["B", "tie", "both_bad"])
                submit(assignment, expert, choice=choice, strength=2 if choice in ("A", "B") else None)


def _wipe_derived(project) -> None:
    ItemConsensus.objects.filter(item__project=project).delete()
    AnnotatorQuality.objects.filter(project=project).update(
        labels=0,
        gold_passed=0,
        gold_failed=0,
        last_gold_passed_at=None,
        agreement_hits=0,
        agreement_total=0,
        suspend_statistic=0,
        suspend_since=None,
        suspend_events=0,
    )
    Label.objects.filter(project=project).update(gold_passed=None)


@pytest.mark.parametrize("ranking", [False, True], ids=["pairwise", "ranking"])
def test_recompute_gives_what_the_label_by_label_pipeline_gave(ranking, settings):
    # A test that suspends on this small crowd's evidence (10 golds): one annotator, alpha 0.2.
    settings.QUALITY_SUSPEND_DESIGN_SIZE = 1
    settings.QUALITY_SUSPEND_ALPHA = 0.2
    settings.QUALITY_SUSPEND_HORIZON = 50
    project = ProjectFactory(
        ranking=ranking, overlap=3, max_overlap=4, gold_rate=0.5, gold_threshold=0.7, gold_min_seen=3
    )
    batch = BatchFactory(project=project)
    # Enough ordinary work that every annotator, the spammer included, is drawn most of the ten
    # golds (the queue draws gold at random at gold_rate): with 16 items a spammer drew 3 or
    # fewer golds in about one run in fifteen, too few to cross the threshold.
    ItemFactory.create_batch(32, batch=batch)
    for _ in range(10):
        gold = (
            {"ranking": [["r0"], ["r1"], ["r2"], ["r3"]], "max_distance": 1} if ranking else {"choice": "A"}
        )
        ItemFactory(batch=batch, gold_answer=True, gold=gold)
    _crowd_run(project, ranking=ranking)
    incremental = _snapshot(project)
    assert incremental["consensus"] and any(state == "final" for state in incremental["items"].values())
    if not ranking:
        assert incremental["suspended"], "the spammer should have been suspended"

    _wipe_derived(project)
    project_quality_recompute(project_id=project.pk, refit=False)
    assert _snapshot(project) == incremental

    project_quality_recompute(project_id=project.pk, refit=False)  # idempotent
    assert _snapshot(project) == incremental


def test_the_command_refits_the_model_and_is_idempotent(capsys):
    project = ProjectFactory(overlap=3, max_overlap=4, gold_rate=0.25, gold_min_seen=3)
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(12, batch=batch)
    for _ in range(4):
        ItemFactory(batch=batch, gold_answer=True, gold={"choice": "A"})
    _crowd_run(project, ranking=False, seed=3)
    call_command("recompute_quality", "--project", str(project.pk))
    first = _snapshot(project)
    assert {row[0] for row in first["consensus"].values()} == {"dawid_skene"}
    assert '"items": 12' in capsys.readouterr().out
    call_command("recompute_quality", "--project", str(project.pk))
    assert _snapshot(project) == first
