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
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from annotate.finalize import Finalisations, item_finalize
from annotate.models import AnnotatorQuality, Item, ItemConsensus, Label, Project, ProjectQualityModel, Slot
from annotate.quality.aggregation import DawidSkeneModel, ItemResult, Vote, item_consensus
from annotate.quality.gold import ranking_distance
from annotate.quality.recompute import CONSENSUS_COLUMNS
from annotate.queue.eligibility import is_senior
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


# --- what the step reads of its items, for many items at once ---------------------------------

# The columns of a counted label the step reads: its id, submit time and slot, then the vote.
LABEL_COLUMNS = ("id", "created_at", "assignment__slot__idx", *VOTE_COLUMNS)
EXPERT, CHOICE = 4, 5  # positions in LABEL_COLUMNS


@dataclass
class ItemInputs:
    """What the after-submit step reads of one item (locked by the caller): its stored
    consensus, its counted labels (:data:`LABEL_COLUMNS`, in :data:`VOTE_ORDER`), and its
    slots not filled and highest slot index."""

    consensus: ItemConsensus | None = None
    labels: list[tuple] = field(default_factory=list)
    pending_slots: int = 0
    top_slot: int | None = None


def items_inputs(item_ids: Iterable[int]) -> dict[int, ItemInputs]:
    """The :class:`ItemInputs` of each item, in three queries whatever their number."""
    ids = list(dict.fromkeys(item_ids))
    inputs = {item_id: ItemInputs() for item_id in ids}
    for row in ItemConsensus.objects.filter(item_id__in=ids):
        inputs[row.item_id].consensus = row
    labels = (
        Label.objects.filter(item_id__in=ids, excluded_from_consensus=False, is_gold=False)
        .order_by(*VOTE_ORDER)
        .values_list(*LABEL_COLUMNS)
    )
    for row in labels:
        inputs[row[3]].labels.append(row)
    slots = (
        Slot.objects.filter(item_id__in=ids)
        .order_by()
        .values("item_id")
        .annotate(pending=Count("pk", filter=~Q(state=Slot.State.FILLED)), top=Max("idx"))
        .values_list("item_id", "pending", "top")
    )
    for item_id, pending, top in slots:
        inputs[item_id].pending_slots, inputs[item_id].top_slot = pending, top
    return inputs


def gold_records(*, project_id: Any, expert_ids: Iterable[Any]) -> dict[str, tuple[int, int]]:
    """``(gold_passed, gold_failed)`` of each of these experts in the project, by expert id as
    text (the vote's worker key); an expert without a row has none."""
    rows = AnnotatorQuality.objects.filter(
        project_id=project_id, expert_id__in=list(dict.fromkeys(expert_ids))
    ).values_list("expert_id", "gold_passed", "gold_failed")
    return {str(expert_id): (passed, failed) for expert_id, passed, failed in rows}


@dataclass
class StepWrites:
    """Writes of the step gathered over the items of a batch and done together by
    :meth:`flush`: consensus rows (inserted or replaced, their record of revisions kept), items
    whose consensus is gone, and the labels' silver grades and leave-one-out choices. Nothing
    the step reads later in the same batch depends on them."""

    consensus: list[ItemConsensus] = field(default_factory=list)
    consensus_gone: list[int] = field(default_factory=list)
    silver: dict[tuple[bool, int], list[Any]] = field(default_factory=lambda: defaultdict(list))
    loo: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    slots: list[Slot] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)

    def flush(self) -> None:
        if self.slots:
            Slot.objects.bulk_create(self.slots)
        if self.reopened:
            Item.objects.filter(pk__in=self.reopened, state=Item.State.LABELLED).update(state=Item.State.OPEN)
        if self.consensus_gone:
            ItemConsensus.objects.filter(item_id__in=self.consensus_gone).delete()
        if self.consensus:
            ItemConsensus.objects.bulk_create(
                self.consensus,
                update_conflicts=True,
                unique_fields=["item"],
                update_fields=[f for f in CONSENSUS_FIELDS if f != "item"],
            )
        for (passed, support), label_ids in self.silver.items():
            Label.objects.filter(pk__in=label_ids).update(silver_passed=passed, silver_support=support)
        for choice, label_ids in self.loo.items():
            Label.objects.filter(pk__in=label_ids).update(loo_choice=choice)
        self.consensus, self.consensus_gone = [], []
        self.silver, self.loo = defaultdict(list), defaultdict(list)
        self.slots, self.reopened = [], []


# Every column of a consensus row the step computes (the record of revisions outlives it), as
# model fields: the recompute's columns.
CONSENSUS_FIELDS = tuple("item" if column == "item_id" else column for column in CONSENSUS_COLUMNS)


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


def item_consensus_refresh(
    *,
    item: Item,
    model: DawidSkeneModel | None,
    inputs: ItemInputs | None = None,
    writes: StepWrites | None = None,
) -> ItemConsensus | None:
    """Recompute and store the consensus of one item from its counted labels. An adjudicated
    consensus is a staff decision and stays; an item without counted labels has none. With
    ``inputs`` (:func:`items_inputs`) nothing is read; with ``writes`` the row is stored by
    :meth:`StepWrites.flush`."""
    if inputs is None:
        inputs = items_inputs([item.pk])[item.pk]
    current = inputs.consensus
    if current is not None and current.method == ADJUDICATED:
        return current
    index = index_of_ids(item.responses)
    votes = [label_vote(row[3:], index) for row in inputs.labels]
    if not votes:
        if writes is None:
            ItemConsensus.objects.filter(item_id=item.pk).delete()
        else:
            writes.consensus_gone.append(item.pk)
        return None
    row = result_consensus(item=item, result=item_result(item=item, votes=votes, model=model))
    if current is not None:
        row.revisions = current.revisions  # the record of revisions outlives the recomputation
    if writes is None:
        row.save(force_insert=current is None)
    else:
        writes.consensus.append(row)
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


_UNREAD = object()


def slots_add(
    *,
    item: Item,
    count: int,
    top: Any = _UNREAD,
    project: Project | None = None,
    writes: StepWrites | None = None,
) -> None:
    """Open ``count`` more slots on the item (idx after the last: ``top``, read when not
    given), and reopen the item. With ``project`` (the unsure item's extra slots) they are
    reserved for senior annotators for the project's ``contested_hold_seconds``
    (``Slot.reserved_until``, annotate/queue/eligibility.py ``is_senior``), unless everyone who
    may label the project is senior. With ``writes`` the slots are created and the item
    reopened by its flush, with those of the batch's other items."""
    if top is _UNREAD:
        top = Slot.objects.filter(item_id=item.pk).aggregate(top=Max("idx"))["top"]
    start = -1 if top is None else top
    reserved_until = None
    hold = project.contested_hold_seconds if project is not None else 0
    if hold > 0 and not is_senior(project=project, level=project.min_level):
        reserved_until = timezone.now() + timedelta(seconds=hold)
    slots = [
        Slot(
            item_id=item.pk,
            project_id=item.project_id,
            idx=start + 1 + n,
            priority=item.priority,
            state="open",
            reserved_until=reserved_until,
        )
        for n in range(count)
    ]
    if writes is not None:
        writes.slots.extend(slots)
        writes.reopened.append(item.pk)
        return
    Slot.objects.bulk_create(slots)
    Item.objects.filter(pk=item.pk, state=Item.State.LABELLED).update(state=Item.State.OPEN)


def label_agrees(label_row: Sequence[Any], consensus: ItemConsensus) -> bool:
    """Whether one label (``choice``, ``ranking``) matches the item's consensus."""
    choice, ranking = label_row
    if consensus.ranking is not None and ranking:
        return ranking_distance(ranking, consensus.ranking) == 0
    return bool(choice) and choice == consensus.choice


def agreement_deltas(
    *, item_id: int, consensus: ItemConsensus, labels: list[tuple] | None = None
) -> dict[Any, list[int]]:
    """For each expert with a counted label on a final item: [1 if it matches else 0, 1].
    ``labels``: the item's counted labels (:data:`LABEL_COLUMNS`), read when not given."""
    if labels is None:
        labels = list(counted_labels(item_id).values_list(*LABEL_COLUMNS))
    deltas: dict[Any, list[int]] = {}
    for row in labels:
        deltas[row[EXPERT]] = [int(label_agrees((row[CHOICE], row[-1]), consensus)), 1]
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
    *,
    project: Project,
    consensus: Any,
    votes: Sequence[tuple[Any, str]],
    model: DawidSkeneModel | None,
    records: dict[str, tuple[int, int]] | None = None,
) -> bool:
    """Whether a trusted annotator disagrees with the item's consensus: one whose fitted accuracy
    is at least ``QUALITY_DISSENT_ACCURACY``, who is in no suspected group and whose gold record in
    the project is good (the record that vouches for a silver grade). On a hard item two
    non-experts who agree on a wrong answer can outweigh an expert in the vote; such an item is not
    finalised on their word but gets more labels and, at ``max_overlap``, adjudication. ``votes``
    are the item's counted ``(expert_id, choice)``; pairwise choices only. ``records``: the
    experts' gold records (:func:`gold_records`), read when not given."""
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

    if records is None:
        records = gold_records(project_id=project.pk, expert_ids=candidates)
    return any(
        gold_record_is_good(passed=passed, failed=failed, project=project)
        for passed, failed in (records[expert] for expert in candidates if expert in records)
    )


def pending_slot_count(item_id: int) -> int:
    return Slot.objects.filter(item_id=item_id).exclude(state=Slot.State.FILLED).count()


def item_act(
    *,
    item: Item,
    project: Project,
    consensus: ItemConsensus | None,
    model: DawidSkeneModel | None = None,
    inputs: ItemInputs | None = None,
    records: dict[str, tuple[int, int]] | None = None,
    finalisations: Finalisations | None = None,
    writes: StepWrites | None = None,
) -> tuple[Decision, dict[Any, list[int]]]:
    """Take the adaptive-overlap decision for one item (locked by the caller), counting its
    labels as independent votes (:func:`independent_count`; ``max_overlap`` still counts every
    label). Returns the decision and, when the item became final, the agreement of each
    labeller with it. ``inputs`` (:func:`items_inputs`) and ``records`` (:func:`gold_records`)
    are read when not given; a finalisation joins ``finalisations`` when given (its caller
    closes it), and extra slots join ``writes`` when given (its caller flushes it)."""
    if inputs is None:
        inputs = items_inputs([item.pk])[item.pk]
    votes = [(row[EXPERT], row[CHOICE]) for row in inputs.labels]
    experts = [expert_id for expert_id, _choice in votes]
    facts = {
        "state": item.state,
        "counted": independent_count(experts, model),
        "labels": len(experts),
        "pending_slots": inputs.pending_slots,
        "confidence": consensus.confidence if consensus is not None else None,
        "project": project,
    }
    decision = overlap_decision(**facts)
    if decision.action is Action.FINALISE and trusted_dissent(
        project=project, consensus=consensus, votes=votes, model=model, records=records
    ):
        decision = overlap_decision(**facts, dissent=True)
    deltas: dict[Any, list[int]] = {}
    if decision.action is Action.FINALISE:
        if item_finalize(item=item, step=finalisations):
            item.state = Item.State.FINAL
            deltas = agreement_deltas(item_id=item.pk, consensus=consensus, labels=inputs.labels)
    elif decision.action is Action.ADJUDICATE:
        Item.objects.filter(pk=item.pk).exclude(state=Item.State.FINAL).update(state=Item.State.ADJUDICATION)
        item.state = Item.State.ADJUDICATION
        notify_on_commit(
            STAFF_GROUP,
            {"type": "quality.adjudication_needed", "item": str(item.uid), "project": str(project.pk)},
        )
    elif decision.action is Action.ADD_SLOTS:
        slots_add(item=item, count=decision.slots, top=inputs.top_slot, project=project, writes=writes)
        item.state = Item.State.OPEN
    return decision, deltas


def items_locked(item_ids: Iterable[int]) -> Iterable[Item]:
    """Each item re-read under its row lock (the caller holds a transaction per item)."""
    for item_id in item_ids:
        item = Item.objects.select_for_update().filter(pk=item_id).first()
        if item is not None:
            yield item
