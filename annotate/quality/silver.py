"""Silver evidence for the suspension test: ordinary labels scored against a sure consensus.

When an item becomes final, each of its counted labels is scored against the consensus of the
item computed *without* it (leave-one-out, with the project's stored model). The label is silver
evidence only when that consensus is very sure (posterior of its choice at least
``QUALITY_SUSPEND_SILVER_CONFIDENCE``) and not carried by a suspected group alone (at least one
label agreeing with it comes from an annotator outside every group the fit suspects). The grade
is stored on the label (``Label.silver_passed``), so that a recompute replays the evidence as it
stood when the item became final. Pairwise items only: a ranking item gives no silver evidence.

Cost: at most one small aggregation per label of the item, once, when the item becomes final.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from annotate.models import Item, ItemConsensus, Label
from annotate.quality.aggregation import DawidSkeneModel
from annotate.quality.consensus_update import VOTE_COLUMNS, counted_labels, item_result, label_vote
from annotate.quality.cusum import SILVER


def silver_grades(
    *, item: Item, consensus: ItemConsensus | None, model: DawidSkeneModel | None
) -> list[tuple[Any, bool, datetime]]:
    """Grade the counted labels of an item that just became final, store the grades, and return
    ``(expert_id, passed, created_at)`` for each label that is silver evidence, in vote order."""
    if consensus is None or consensus.ranking is not None or model is None:
        return []
    rows = list(counted_labels(item.pk).values_list("id", "created_at", *VOTE_COLUMNS))
    if len(rows) < 2 or any(row[-1] for row in rows):
        return []
    votes = [label_vote(row[2:], None) for row in rows]
    sure = settings.QUALITY_SUSPEND_SILVER_CONFIDENCE
    graded: list[tuple[Any, bool, datetime]] = []
    by_grade: dict[bool, list[Any]] = {True: [], False: []}
    for n, (label_id, created_at, *_rest) in enumerate(rows):
        vote = votes[n]
        others = votes[:n] + votes[n + 1 :]
        if vote.choice is None or not any(other.choice for other in others):
            continue
        result = item_result(item=item, votes=others, model=model)
        if result.choice is None or result.confidence < sure:
            continue
        agreeing = [other for other in others if other.choice == result.choice]
        if all(model.group_of(other.worker) is not None for other in agreeing):
            continue  # carried by suspected groups alone
        passed = vote.choice == result.choice
        by_grade[passed].append(label_id)
        graded.append((rows[n][3], passed, created_at))
    for passed, label_ids in by_grade.items():
        if label_ids:
            Label.objects.filter(pk__in=label_ids).update(silver_passed=passed)
    return graded


def silver_evidence_add(deltas: dict[Any, Any], graded: list[tuple[Any, bool, datetime]]) -> None:
    """Append silver grades to the annotators' deltas (:class:`~annotate.quality.reputation.QualityDelta`)."""
    for expert_id, passed, created_at in graded:
        deltas[expert_id].evidence.append((SILVER, passed, created_at))
