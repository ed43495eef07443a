"""Silver evidence for the suspension test: ordinary labels scored against a sure consensus.

When an item becomes final, each of its counted labels is scored against the consensus of the
item computed *without* it (leave-one-out, with the project's stored model) from the labels whose
presence does not depend on its answer (:func:`independent_of`: a slot opened because labels
disagreed would otherwise grade disagreeing labels more often than agreeing ones). The label is silver
evidence only when that consensus is very sure (posterior of its choice at least
``QUALITY_SUSPEND_SILVER_CONFIDENCE``) and vouched for: at least one label agreeing with it comes
from an annotator outside every group the fit suspects whose gold record in the project is good
(at least ``gold_min_seen`` golds, posterior mean at least ``gold_threshold``). A consensus carried
by a copy ring or a Sybil farm alone (sure, and wrong most of the time) is then no evidence
against the honest annotators who disagree with it. The grade
is stored on the label (``Label.silver_passed``), so that a recompute replays the evidence as it
stood when the item became final. Pairwise items only: a ranking item gives no silver evidence.

It also stores, on every label of the item, the item's consensus computed without that label
from all the others (``Label.loo_choice``): the rewards' right term does not count an agreement
the label itself carried for an annotator without a good gold record (rewards.policy_information).

Cost: at most two small aggregations per label of the item, once, when the item becomes final.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from annotate.models import Item, ItemConsensus, Label, Project
from annotate.quality.aggregation import DawidSkeneModel
from annotate.quality.consensus_update import (
    EXPERT,
    LABEL_COLUMNS,
    ItemInputs,
    StepWrites,
    counted_labels,
    gold_records,
    item_result,
    label_vote,
)
from annotate.quality.cusum import SILVER


def gold_record_is_good(*, passed: int, failed: int, project: Project) -> bool:
    """A good gold record in the project: at least ``gold_min_seen`` graded golds with a
    posterior mean (Beta(1, 1)) of at least ``gold_threshold``."""
    seen = passed + failed
    return seen >= project.gold_min_seen and (passed + 1) / (seen + 2) >= project.gold_threshold


def _vouching(
    *,
    project: Project,
    expert_ids: list[Any],
    model: DawidSkeneModel,
    records: dict[str, tuple[int, int]] | None = None,
) -> set[str]:
    """The experts (as vote keys) whose agreement can vouch for a consensus (see the module).
    ``records``: their gold records (:func:`~annotate.quality.consensus_update.gold_records`),
    read when not given."""
    if records is None:
        records = gold_records(project_id=project.pk, expert_ids=expert_ids)
    vouching = set()
    for expert in {str(expert_id) for expert_id in expert_ids}:
        if expert not in records:
            continue
        passed, failed = records[expert]
        good = gold_record_is_good(passed=passed, failed=failed, project=project)
        if good and model.group_of(expert) is None:
            vouching.add(expert)
    return vouching


def independent_of(rows: list[tuple], n: int, *, overlap: int) -> list[int]:
    """The indexes of the labels whose presence does not depend on label ``n``'s answer: those
    given before it, and those in the item's first ``overlap`` slots (which exist whatever
    anyone answers). A slot opened later was opened because earlier labels disagreed, so a label
    that disagrees brings more labels and a surer consensus without it: scoring it against those
    would grade disagreeing labels more often than agreeing ones. ``rows`` hold ``(id,
    created_at, slot idx, ...)`` in vote order."""
    _id, created_at, _idx, *_rest = rows[n]
    return [
        m
        for m, (_other, other_at, idx, *_) in enumerate(rows)
        if m != n and (other_at < created_at or (idx is not None and idx < overlap))
    ]


def silver_grades(
    *,
    item: Item,
    project: Project,
    consensus: ItemConsensus | None,
    model: DawidSkeneModel | None,
    inputs: ItemInputs | None = None,
    records: dict[str, tuple[int, int]] | None = None,
    writes: StepWrites | None = None,
) -> list[tuple[Any, bool, datetime]]:
    """Grade the counted labels of an item that just became final, store the grades, and return
    ``(expert_id, passed, created_at)`` for each label that is silver evidence, in vote order.
    With ``inputs`` and ``records`` nothing is read; with ``writes`` the grades are stored by
    its flush."""
    if consensus is None or consensus.ranking is not None:
        return []
    rows = inputs.labels if inputs is not None else list(counted_labels(item.pk).values_list(*LABEL_COLUMNS))
    if len(rows) < 2 or any(row[-1] for row in rows):
        return []
    votes = [label_vote(row[3:], None) for row in rows]
    # Before the project has a fitted model the labels still keep their leave-one-out consensus
    # (the rewards read it); silver grades need the model's groups for the vouching.
    vouching = (
        set()
        if model is None
        else _vouching(
            project=project, expert_ids=[row[EXPERT] for row in rows], model=model, records=records
        )
    )
    sure = settings.QUALITY_SUSPEND_SILVER_CONFIDENCE
    graded: list[tuple[Any, bool, datetime]] = []
    by_grade: dict[bool, list[Any]] = {True: [], False: []}
    loo: dict[str, list[Any]] = {}
    for n, (label_id, created_at, _idx, *_rest) in enumerate(rows):
        vote = votes[n]
        everyone_else = [votes[m] for m in range(len(rows)) if m != n]
        without = independent_of(rows, n, overlap=project.overlap)
        if vote.choice is not None and any(other.choice for other in everyone_else):
            pivot = item_result(item=item, votes=everyone_else, model=model)
            if pivot.choice:
                loo.setdefault(pivot.choice, []).append(label_id)
            if len(without) == len(everyone_else):
                result = pivot
        others = [votes[m] for m in without]
        if model is None or vote.choice is None or not any(other.choice for other in others):
            continue
        if len(without) != len(everyone_else):
            result = item_result(item=item, votes=others, model=model)
        if result.choice is None or result.confidence < sure:
            continue
        if not any(other.choice == result.choice and other.worker in vouching for other in others):
            continue  # not vouched for: carried by suspected groups or poor gold records alone
        passed = vote.choice == result.choice
        by_grade[passed].append(label_id)
        graded.append((rows[n][4], passed, created_at))
    if writes is not None:
        for passed, label_ids in by_grade.items():
            writes.silver[passed].extend(label_ids)
        for choice, label_ids in loo.items():
            writes.loo[choice].extend(label_ids)
        return graded
    for passed, label_ids in by_grade.items():
        if label_ids:
            Label.objects.filter(pk__in=label_ids).update(silver_passed=passed)
    for choice, label_ids in loo.items():
        Label.objects.filter(pk__in=label_ids).update(loo_choice=choice)
    return graded


def silver_evidence_add(deltas: dict[Any, Any], graded: list[tuple[Any, bool, datetime]]) -> None:
    """Append silver grades to the annotators' deltas (:class:`~annotate.quality.reputation.QualityDelta`)."""
    for expert_id, passed, created_at in graded:
        deltas[expert_id].evidence.append((SILVER, passed, created_at))
