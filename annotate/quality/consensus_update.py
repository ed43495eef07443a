"""The consensus of one item, and what follows from it (finalise, one more annotator, or
adjudication). Shared by the after-submit step and ``recompute_quality``, so that both decide
alike from the same labels.

Adaptive overlap, as a rule of the item's labels only (not of their order):

- while a slot of the item is open, waiting or leased: wait for its label;
- at least ``k`` labels counted and confidence >= ``project.confidence_threshold``: final;
- except that an item a trusted annotator disagrees with is not finalised on the others' word
  (:func:`trusted_dissent`: more labels, then adjudication);
- otherwise, ``max_overlap`` labels counted: adjudication (staff or top-level experts);
- otherwise one more slot (or as many as bring the counted labels back to ``k`` when labels
  were excluded by a suspension).

Labels excluded from consensus are kept but not counted.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from annotate.finalize import item_finalize
from annotate.models import AnnotatorQuality, Item, ItemConsensus, Label, Project, ProjectQualityModel, Slot
from annotate.quality.aggregation import DawidSkeneModel, ItemResult, Vote, item_consensus
from annotate.quality.gold import ranking_distance
from rlhf_platform.accounts.notifications import STAFF_GROUP, notify_on_commit

ADJUDICATED = "adjudicated"

# The columns of a label that consensus reads, in the order every caller fetches them.
VOTE_COLUMNS = ("item_id", "expert_id", "choice", "strength", "ranking")
# One order everywhere: the same votes in the same order give bit-identical posteriors.
VOTE_ORDER = ("item_id", "created_at", "id")


def label_vote(row: Sequence[Any], index_of_id: dict[str, int] | None) -> Vote:
    """A :class:`Vote` from a row of :data:`VOTE_COLUMNS` (ranking ids -> canonical indexes)."""
    item_id, expert_id, choice, strength, ranking = row
    if ranking:
        groups = tuple(tuple(sorted(index_of_id[str(rid)] for rid in group)) for group in ranking)
        return Vote(item=item_id, worker=str(expert_id), ranking=groups)
    return Vote(item=item_id, worker=str(expert_id), choice=choice or None, strength=strength)


def index_of_ids(responses: list[dict[str, Any]]) -> dict[str, int]:
    return {str(response["id"]): index for index, response in enumerate(responses)}


def counted_labels(item_id: int):
    """The labels consensus counts for an item: not excluded, not gold (an item promoted to silver
    gold also holds gold labels, which never count), in :data:`VOTE_ORDER`."""
    return Label.objects.filter(item_id=item_id, excluded_from_consensus=False, is_gold=False).order_by(
        *VOTE_ORDER
    )


# --- the project's fitted model, cached per process by its fit time --------------------------

_model_cache: dict[Any, tuple[datetime, DawidSkeneModel]] = {}


def project_model(project_id: Any) -> DawidSkeneModel | None:
    """The project's stored Dawid-Skene model, or None before its first fit."""
    fitted = (
        ProjectQualityModel.objects.filter(project_id=project_id).values_list("fitted_at", flat=True).first()
    )
    if fitted is None:
        return None
    cached = _model_cache.get(project_id)
    if cached and cached[0] == fitted:
        return cached[1]
    row = ProjectQualityModel.objects.get(project_id=project_id)
    model = DawidSkeneModel.from_json(row.parameters)
    _model_cache[project_id] = (row.fitted_at, model)
    return model


# --- consensus -------------------------------------------------------------------------------


def result_consensus(*, item: Item, result: ItemResult) -> ItemConsensus:
    """An unsaved :class:`ItemConsensus` row from an aggregation result (ranking indexes -> ids)."""
    ranking = None
    if result.ranking is not None:
        ids = [response["id"] for response in item.responses]
        ranking = [[ids[index] for index in group] for group in result.ranking]
    return ItemConsensus(
        item_id=item.pk,
        method=result.method,
        choice=result.choice or "",
        strength=result.strength,
        ranking=ranking,
        confidence=min(1.0, max(0.0, float(result.confidence))),
        agreement=result.agreement,
        label_count=result.label_count,
        posterior=result.posterior,
        computed_at=timezone.now(),
    )


def item_result(*, item: Item, votes: list[Vote], model: DawidSkeneModel | None) -> ItemResult:
    return item_consensus(votes, n_responses=len(item.responses), model=model)


def item_consensus_refresh(*, item: Item, model: DawidSkeneModel | None) -> ItemConsensus | None:
    """Recompute and store the consensus of one item from its counted labels. An adjudicated
    consensus is a staff decision and stays; an item without counted labels has none."""
    current = ItemConsensus.objects.filter(item_id=item.pk).first()
    if current is not None and current.method == ADJUDICATED:
        return current
    index = index_of_ids(item.responses)
    votes = [label_vote(row, index) for row in counted_labels(item.pk).values_list(*VOTE_COLUMNS)]
    if not votes:
        ItemConsensus.objects.filter(item_id=item.pk).delete()
        return None
    row = result_consensus(item=item, result=item_result(item=item, votes=votes, model=model))
    if current is not None:
        row.revisions = current.revisions  # the record of revisions outlives the recomputation
    row.save(force_insert=current is None)
    return row


# --- what follows ----------------------------------------------------------------------------


class Action(enum.Enum):
    WAIT = "wait"
    FINALISE = "finalise"
    ADD_SLOTS = "add_slots"
    ADJUDICATE = "adjudicate"
    NONE = "none"  # final or in adjudication already


@dataclass(frozen=True)
class Decision:
    action: Action
    slots: int = 0


def overlap_decision(
    *,
    state: str,
    counted: int,
    pending_slots: int,
    confidence: float | None,
    project: Project,
    labels: int | None = None,
    dissent: bool = False,
) -> Decision:
    """The adaptive-overlap rule (see the module's docstring). Pure. ``counted``: the item's
    independent votes; ``labels``: its counted labels (default ``counted``), which
    ``max_overlap`` caps; ``dissent``: a trusted annotator disagrees with the consensus, which
    then does not finalise."""
    labels = counted if labels is None else labels
    if state in (Item.State.FINAL, Item.State.ADJUDICATION, Item.State.CANCELLED):
        return Decision(Action.NONE)
    if pending_slots > 0:
        return Decision(Action.WAIT)
    sure = confidence is not None and confidence >= project.confidence_threshold
    if counted >= project.overlap and sure and not dissent:
        return Decision(Action.FINALISE)
    if labels >= project.max_overlap:
        return Decision(Action.ADJUDICATE)
    return Decision(Action.ADD_SLOTS, min(max(1, project.overlap - counted), project.max_overlap - labels))


def slots_add(*, item: Item, count: int, project: Project | None = None) -> None:
    """Open ``count`` more slots on the item (idx after the last), and reopen the item. With
    ``project`` (the unsure item's extra slots) they are reserved for senior annotators for the
    project's ``contested_hold_seconds`` (``Slot.reserved_until``, annotate/queue/eligibility.py
    ``is_senior``), unless everyone who may label the project is senior."""
    top = Slot.objects.filter(item_id=item.pk).aggregate(top=Max("idx"))["top"]
    start = -1 if top is None else top
    reserved_until = None
    hold = project.contested_hold_seconds if project is not None else 0
    if hold > 0 and project.min_level < project.senior_level:
        reserved_until = timezone.now() + timedelta(seconds=hold)
    Slot.objects.bulk_create(
        Slot(
            item_id=item.pk,
            project_id=item.project_id,
            idx=start + 1 + n,
            priority=item.priority,
            state="open",
            reserved_until=reserved_until,
        )
        for n in range(count)
    )
    Item.objects.filter(pk=item.pk, state=Item.State.LABELLED).update(state=Item.State.OPEN)


def label_agrees(label_row: Sequence[Any], consensus: ItemConsensus) -> bool:
    """Whether one label (``choice``, ``ranking``) matches the item's consensus."""
    choice, ranking = label_row
    if consensus.ranking is not None and ranking:
        return ranking_distance(ranking, consensus.ranking) == 0
    return bool(choice) and choice == consensus.choice


def agreement_deltas(*, item_id: int, consensus: ItemConsensus) -> dict[Any, list[int]]:
    """For each expert with a counted label on a final item: [1 if it matches else 0, 1]."""
    deltas: dict[Any, list[int]] = {}
    for expert_id, choice, ranking in counted_labels(item_id).values_list("expert_id", "choice", "ranking"):
        deltas[expert_id] = [int(label_agrees((choice, ranking), consensus)), 1]
    return deltas


def independent_count(expert_ids: Iterable[Any], model: DawidSkeneModel | None) -> int:
    """How many independent votes the labels of ``expert_ids`` are: the members of one suspected
    group (``model.group_of``) count once. A group that fills an item's slots is one vote, so the
    item does not reach its overlap on the group's word alone and gets more slots (until
    ``max_overlap``, then adjudication)."""
    units = set()
    for expert_id in expert_ids:
        group = model.group_of(str(expert_id)) if model is not None else None
        units.add(("group", group) if group is not None else ("expert", str(expert_id)))
    return len(units)


def trusted_dissent(
    *, project: Project, consensus: Any, votes: Sequence[tuple[Any, str]], model: DawidSkeneModel | None
) -> bool:
    """Whether a trusted annotator disagrees with the item's consensus: one whose fitted accuracy
    is at least ``QUALITY_DISSENT_ACCURACY``, who is in no suspected group and whose gold record in
    the project is good (the record that vouches for a silver grade). On a hard item two
    non-experts who agree on a wrong answer can outweigh an expert in the vote; such an item is not
    finalised on their word but gets more labels and, at ``max_overlap``, adjudication. ``votes``
    are the item's counted ``(expert_id, choice)``; pairwise choices only."""
    threshold = settings.QUALITY_DISSENT_ACCURACY
    if model is None or consensus is None or getattr(consensus, "ranking", None) or not consensus.choice:
        return False
    if threshold > 1:
        return False
    candidates = {
        str(expert_id)
        for expert_id, choice in votes
        if choice
        and choice != consensus.choice
        and model.group_of(str(expert_id)) is None
        and model.worker_accuracy(str(expert_id)) >= threshold
    }
    if not candidates:
        return False
    from annotate.quality.silver import gold_record_is_good  # silver imports this module

    rows = AnnotatorQuality.objects.filter(project_id=project.pk, expert_id__in=candidates).values_list(
        "gold_passed", "gold_failed"
    )
    return any(gold_record_is_good(passed=passed, failed=failed, project=project) for passed, failed in rows)


def pending_slot_count(item_id: int) -> int:
    return Slot.objects.filter(item_id=item_id).exclude(state=Slot.State.FILLED).count()


def item_act(
    *,
    item: Item,
    project: Project,
    consensus: ItemConsensus | None,
    model: DawidSkeneModel | None = None,
) -> tuple[Decision, dict[Any, list[int]]]:
    """Take the adaptive-overlap decision for one item (locked by the caller), counting its
    labels as independent votes (:func:`independent_count`; ``max_overlap`` still counts every
    label). Returns the decision and, when the item became final, the agreement of each
    labeller with it."""
    votes = list(counted_labels(item.pk).values_list("expert_id", "choice"))
    experts = [expert_id for expert_id, _choice in votes]
    facts = {
        "state": item.state,
        "counted": independent_count(experts, model),
        "labels": len(experts),
        "pending_slots": pending_slot_count(item.pk),
        "confidence": consensus.confidence if consensus is not None else None,
        "project": project,
    }
    decision = overlap_decision(**facts)
    if decision.action is Action.FINALISE and trusted_dissent(
        project=project, consensus=consensus, votes=votes, model=model
    ):
        decision = overlap_decision(**facts, dissent=True)
    deltas: dict[Any, list[int]] = {}
    if decision.action is Action.FINALISE:
        if item_finalize(item=item):
            item.state = Item.State.FINAL
            deltas = agreement_deltas(item_id=item.pk, consensus=consensus)
    elif decision.action is Action.ADJUDICATE:
        Item.objects.filter(pk=item.pk).exclude(state=Item.State.FINAL).update(state=Item.State.ADJUDICATION)
        item.state = Item.State.ADJUDICATION
        notify_on_commit(
            STAFF_GROUP,
            {"type": "quality.adjudication_needed", "item": str(item.uid), "project": str(project.pk)},
        )
    elif decision.action is Action.ADD_SLOTS:
        slots_add(item=item, count=decision.slots, project=project)
        item.state = Item.State.OPEN
    return decision, deltas


def items_locked(item_ids: Iterable[int]) -> Iterable[Item]:
    """Each item re-read under its row lock (the caller holds a transaction per item)."""
    for item_id in item_ids:
        item = Item.objects.select_for_update().filter(pk=item_id).first()
        if item is not None:
            yield item
