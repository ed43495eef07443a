"""Silver evidence for the suspension test: every ordinary label, set against its item's
consensus without it.

When an item becomes final, each of its counted labels is set against the posterior of the item
computed *without* it (leave-one-out, with the project's stored model) from the labels whose
presence does not depend on its answer (:func:`independent_of`: a slot opened because labels
disagreed would otherwise grade disagreeing labels more often than agreeing ones). The posterior
of the label's own answer, rounded to tenths, is its **support** (``Label.silver_support``); the
test's step follows from it (:class:`annotate.quality.cusum.SilverSteps`): an answer the others
are sure of counts for the annotator, one they are sure against counts against, and an item
they split on says little. The model weighs each annotator by their estimated accuracy and a
suspected group as one vote, so a consensus carried by a copy ring or a Sybil farm is not sure;
a label whose other labels all come from suspected groups is not graded. ``Label.silver_passed``
keeps whether the label matched the choice of that consensus (what staff and the expert see).
The grade is stored on the label, so that a recompute replays the evidence as it stood when the
item became final. Pairwise items only: a ranking item gives no silver evidence.

It also stores, on every label of the item, the item's consensus computed without that label
from all the others (``Label.loo_choice``): the rewards' right term does not count an agreement
the label itself carried for an annotator without a good gold record (rewards.policy_information).

Cost: at most two small aggregations per label of the item, once, when the item becomes final.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from annotate.models import Item, ItemConsensus, Label, Project
from annotate.quality.aggregation import DawidSkeneModel
from annotate.quality.consensus_update import (
    LABEL_COLUMNS,
    ItemInputs,
    StepWrites,
    counted_labels,
    gold_records,
    item_result,
    label_vote,
)
from annotate.quality.cusum import GRID, SILVER


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
    """The experts (as vote keys) whose agreement can vouch for a consensus (silver gold,
    :mod:`annotate.quality.gold_pool`): outside every group the fit suspects, with a good gold
    record in the project. ``records``: their gold records
    (:func:`~annotate.quality.consensus_update.gold_records`), read when not given."""
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
    writes: StepWrites | None = None,
) -> list[tuple[Any, int, datetime]]:
    """Grade the counted labels of an item that just became final, store the grades, and return
    ``(expert_id, support, created_at)`` for each label that is silver evidence, in vote order.
    With ``inputs`` nothing is read; with ``writes`` the grades are stored by its flush."""
    if consensus is None or consensus.ranking is not None:
        return []
    rows = inputs.labels if inputs is not None else list(counted_labels(item.pk).values_list(*LABEL_COLUMNS))
    if len(rows) < 2 or any(row[-1] for row in rows):
        return []
    votes = [label_vote(row[3:], None) for row in rows]
    graded: list[tuple[Any, int, datetime]] = []
    grades: dict[tuple[bool, int], list[Any]] = {}
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
        others = [votes[m] for m in without if votes[m].choice]
        # Before the project has a fitted model the labels still keep their leave-one-out
        # consensus (the rewards read it); silver grades need the model's accuracies and groups.
        if model is None or vote.choice is None or not others:
            continue
        if all(model.group_of(other.worker) is not None for other in others):
            continue  # carried by suspected groups alone
        if len(without) != len(everyone_else):
            result = item_result(item=item, votes=others, model=model)
        if not result.posterior:
            continue
        support = support_of(result.posterior, vote.choice)
        grades.setdefault((vote.choice == result.choice, support), []).append(label_id)
        graded.append((rows[n][4], support, created_at))
    if writes is not None:
        for grade, label_ids in grades.items():
            writes.silver[grade].extend(label_ids)
        for choice, label_ids in loo.items():
            writes.loo[choice].extend(label_ids)
        return graded
    for (passed, support), label_ids in grades.items():
        Label.objects.filter(pk__in=label_ids).update(silver_passed=passed, silver_support=support)
    for choice, label_ids in loo.items():
        Label.objects.filter(pk__in=label_ids).update(loo_choice=choice)
    return graded


def support_of(posterior: dict[str, float], choice: str) -> int:
    """The posterior of ``choice`` in tenths, the posterior rounded to the grid of tenths so that
    its parts sum to 10 (largest remainders first; ties by class order)."""
    classes = list(posterior)
    scaled = [max(0.0, posterior[c]) * GRID for c in classes]
    total = sum(scaled) or 1.0
    scaled = [x * GRID / total for x in scaled]
    parts = [int(x) for x in scaled]
    order = sorted(range(len(classes)), key=lambda k: (parts[k] - scaled[k], k))
    for k in order[: GRID - sum(parts)]:
        parts[k] += 1
    return parts[classes.index(choice)] if choice in posterior else 0


def silver_evidence_add(deltas: dict[Any, Any], graded: list[tuple[Any, int, datetime]]) -> None:
    """Append silver grades to the annotators' deltas (:class:`~annotate.quality.reputation.QualityDelta`)."""
    for expert_id, support, created_at in graded:
        deltas[expert_id].evidence.append((SILVER, support, created_at))
