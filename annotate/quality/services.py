"""The quality pipeline: what happens after each submit, the periodic model fit, and the full
recompute of a project.

After a submit (:func:`label_quality_process`, run by a Celery task on commit) only what the
label touches is updated, under the item's row lock:

1. a gold label is graded (``Label.gold_passed``);
2. an ordinary label's item gets its consensus recomputed from its own labels, with the
   project's stored Dawid-Skene model when one was fitted, and the adaptive-overlap decision
   (:mod:`annotate.quality.consensus_update`);
3. the annotator's :class:`~annotate.models.AnnotatorQuality` row is updated by deltas (and the
   rows of the other labellers of an item that became final, for their agreement);
4. when an item became final, its labels' silver grades (:mod:`annotate.quality.silver`);
5. the suspension test takes each graded gold and silver grade, in order, and the warn/suspend
   rules follow (:mod:`annotate.quality.reputation`, :mod:`annotate.quality.cusum`).

``Label.quality_at`` is set in the same transaction, so a redelivered task changes nothing.

The project-wide fit (:func:`~annotate.quality.model_fit.project_model_fit`: Dawid-Skene anchored
on gold, level priors, suspected groups counted once, the method chosen on held-out gold) runs in
a periodic task and stores its parameters; the per-item step only reads them.
:func:`project_quality_recompute` rebuilds a project from its labels with the same functions; on
the same stored model it gives the same rows as the label-by-label path.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from annotate.finalize import Finalisations
from annotate.models import (
    AnnotatorQuality,
    Item,
    ItemConsensus,
    Label,
    Project,
    ProjectQualityModel,
    ProjectSuspension,
)
from annotate.quality.aggregation import DawidSkeneModel
from annotate.quality.consensus_update import (
    ADJUDICATED,
    EXPERT,
    VOTE_COLUMNS,
    VOTE_ORDER,
    Action,
    StepWrites,
    agreement_deltas,
    gold_records,
    index_of_ids,
    item_act,
    item_consensus_refresh,
    item_result,
    items_inputs,
    items_locked,
    label_agrees,
    label_vote,
    overlap_decision,
    project_model,
    result_consensus,
    slots_add,
)
from annotate.quality.cusum import GOLD, SILVER, State
from annotate.quality.gold import gold_grade, label_gold_grade
from annotate.quality.gold_pool import silver_promote, silver_withdraw
from annotate.quality.model_fit import project_model_fit
from annotate.quality.recompute import (
    CONSENSUS_COLUMNS,
    agreement_counts,
    consensus_bulk,
    consensus_upsert,
    label_counters,
)
from annotate.quality.reputation import (
    QualityDelta,
    deltas_apply,
    deltas_apply_in_turn,
    gold_rules_apply,
    label_delta,
    project_design,
    quality_flags,
    rule_standing,
    should_suspend,
    standing_of,
)
from annotate.quality.silver import silver_evidence_add, silver_grades
from rlhf_platform.core.slices import slice_over

CHUNK = 20_000
ACTIONS_PER_TRANSACTION = 200
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConsensusView:
    """What the recompute keeps of each item's consensus (a few dozen bytes, not a model row):
    enough for the decision and for agreement."""

    choice: str
    ranking: list | None
    confidence: float


def _view(row: ItemConsensus) -> ConsensusView:
    return ConsensusView(choice=row.choice, ranking=row.ranking, confidence=row.confidence)


def _add_agreement(deltas: dict[Any, QualityDelta], agreement: dict[Any, list[int]]) -> None:
    for expert_id, (hits, total) in agreement.items():
        deltas[expert_id].agreement_hits += hits
        deltas[expert_id].agreement_total += total


# --- after each submit -----------------------------------------------------------------------


@transaction.atomic
def label_quality_process(*, label_id: Any) -> bool:
    """The after-submit step for one label (see the module's docstring). Returns False when the
    label is gone or was already processed (idempotent)."""
    label = Label.objects.select_related("project", "assignment").filter(pk=label_id).first()
    if label is None:
        return False
    # The item's row lock serialises the quality steps of one item (and the queue's last-slot
    # check): two labels of an item never compute its consensus from each other's half state.
    item = Item.objects.select_for_update().get(pk=label.item_id)
    if not Label.objects.filter(pk=label.pk, quality_at__isnull=True).update(quality_at=timezone.now()):
        return False
    project = label.project
    passed = None
    if label.is_gold and item.gold:
        passed = label_gold_grade(label, item.gold)
        Label.objects.filter(pk=label.pk).update(gold_passed=passed)
    deltas: dict[Any, QualityDelta] = defaultdict(QualityDelta)
    label_delta(
        deltas[label.expert_id],
        passed=passed,
        created_at=label.created_at,
        choice=label.choice,
        active_seconds=label.active_seconds,
        shown_order=label.assignment.shown_order,
    )
    if not label.is_gold and not label.excluded_from_consensus:
        _item_update(item=item, project=project, deltas=deltas, model=project_model(project.pk))
    # The rows' rules (warn, suspend) run in deltas_apply for every annotator with new evidence.
    deltas_apply(project_id=project.pk, deltas=deltas)
    return True


def labels_quality_drain(*, limit: int = 20_000, batch: int = 200, until: float | None = None) -> int:
    """The after-submit step for labels still waiting for it, oldest first, at most ``limit``,
    a page of ``batch`` labels at a time: its ordinary labels in one transaction
    (:func:`labels_quality_batch`), then its gold labels in another (:func:`labels_gold_batch`:
    the gold rules judge after each, as label by label). When a batch fails its labels are
    taken one by one (:func:`label_quality_process`); a label whose step fails is logged and
    left for the next drain, so one bad label never holds up the others. With ``until``
    (rlhf_platform/core/slices.py) it stops after the batch that ends the slice. Returns how
    many labels were processed."""
    done, failed = 0, set()
    while done < limit:
        want = min(batch, limit - done)
        waiting = list(
            Label.objects.filter(quality_at__isnull=True)
            .exclude(pk__in=failed)
            .order_by("created_at")
            .values_list("pk", "is_gold")[:want]
        )
        before = done
        ordinary = [pk for pk, is_gold in waiting if not is_gold]
        golds = [pk for pk, is_gold in waiting if is_gold]
        singles: dict[str, list] = {}
        for kind, step, label_ids in (
            ("ordinary", labels_quality_batch, ordinary),
            ("gold", labels_gold_batch, golds),
        ):
            if not label_ids:
                continue
            try:
                done += step(label_ids=label_ids)
            except Exception:
                logger.exception("quality step of a batch failed; its labels are taken one by one")
                singles[kind] = label_ids
        for label_id in singles.get("gold", []) + singles.get("ordinary", []):
            try:
                done += label_quality_process(label_id=label_id)
            except Exception:
                logger.exception("quality step of label %s failed; left for the next drain", label_id)
                failed.add(label_id)
        # The last page, or one that another drain holds (its labels are skipped, not awaited).
        if len(waiting) < want or done == before or slice_over(until):
            break
    return done


def _items_locked(pending: QuerySet[Label]) -> QuerySet[Item]:
    """The items of the waiting labels ``pending``, locked in id order when read (the caller reads
    the rows or the columns it needs). A batch takes its items first, then their labels, as the
    one-label step does: every write to a label (the mark, silver grades, the leave-one-out
    consensus of an item's other labels) happens under its item's lock. (Claiming the labels first
    and then waiting for their items deadlocked with a drain that held one of those items and
    wrote its labels.) On PostgreSQL an item another transaction holds is skipped, not waited for:
    its labels stay for the next drain (each submit nudges one, and the beat sweeps); SQLite
    serialises writers."""
    locking = Item.objects.select_for_update(
        **({"skip_locked": True} if connection.vendor == "postgresql" else {})
    )
    return locking.filter(pk__in=set(pending.values_list("item_id", flat=True))).order_by("pk")


# What a batch reads of each label it claims, before the columns only one kind needs.
_CLAIM_FIELDS = (
    "pk",
    "project_id",
    "item_id",
    "expert_id",
    "created_at",
    "choice",
    "active_seconds",
    "assignment__shown_order",
)


def _labels_claim(
    pending: QuerySet[Label], *, item_ids: Iterable[Any], order: tuple[str, ...], extra: tuple[str, ...]
) -> list[tuple]:
    """The waiting labels ``pending`` of the locked items ``item_ids``, read again under their
    locks (another drain may have taken some since they were listed), ordered by ``order``, each
    a tuple of ``_CLAIM_FIELDS`` then ``extra``; they are marked processed (``quality_at``) now.
    Empty when none is left, and then nothing is written."""
    labels = list(
        pending.filter(item_id__in=list(item_ids)).order_by(*order).values_list(*_CLAIM_FIELDS, *extra)
    )
    if labels:
        Label.objects.filter(pk__in=[label[0] for label in labels]).update(quality_at=timezone.now())
    return labels


@transaction.atomic
def labels_quality_batch(*, label_ids: list[Any]) -> int:
    """The after-submit step for many ordinary labels in one transaction, with the same result
    as :func:`label_quality_process` label by label: each item touched gets its consensus and
    decision once, from all its labels; each annotator's row gets the sum of its deltas. Gold
    labels are left to :func:`labels_gold_batch`. Returns how many labels were processed."""
    pending = Label.objects.filter(pk__in=label_ids, quality_at__isnull=True, is_gold=False)
    items = {item.pk: item for item in _items_locked(pending)}
    labels = _labels_claim(
        pending,
        item_ids=items,
        order=("created_at",),
        extra=("excluded_from_consensus",),
    )
    if not labels:
        return 0
    projects = {
        project.pk: project for project in Project.objects.filter(pk__in={label[1] for label in labels})
    }
    deltas: dict[Any, dict[Any, QualityDelta]] = defaultdict(lambda: defaultdict(QualityDelta))
    touched: dict[int, Any] = {}
    for _pk, project_id, item_id, expert_id, created_at, choice, active_seconds, shown, excluded in labels:
        label_delta(
            deltas[project_id][expert_id],
            passed=None,
            created_at=created_at,
            choice=choice,
            active_seconds=active_seconds,
            shown_order=json.loads(shown) if isinstance(shown, str) else shown,
        )
        if not excluded:
            touched[item_id] = project_id
    by_project: dict[Any, list[Item]] = defaultdict(list)
    for item_id in sorted(touched):
        by_project[touched[item_id]].append(items[item_id])
    for project_id, project_items in by_project.items():
        _items_update(
            items=project_items,
            project=projects[project_id],
            deltas=deltas[project_id],
            model=project_model(project_id),
        )
    for project_id in sorted(deltas, key=str):
        deltas_apply(project_id=project_id, deltas=deltas[project_id])
    return len(labels)


@transaction.atomic
def labels_gold_batch(*, label_ids: list[Any]) -> int:
    """The after-submit step for many gold labels in one transaction, with the result of
    :func:`label_quality_process` run for each in turn, oldest first: each is graded and marked
    under its item's lock, and the annotators' rows take the labels one after the other, the
    suspension test and the gold rules judging after each
    (:func:`~annotate.quality.reputation.deltas_apply_in_turn`). Their ``quality_at`` is the
    moment of this step, after the evidence of an ordinary batch run before it (the order the
    recompute replays). Returns how many labels were processed."""
    pending = Label.objects.filter(pk__in=label_ids, quality_at__isnull=True, is_gold=True)
    gold_of = dict(_items_locked(pending).values_list("pk", "gold"))
    labels = _labels_claim(
        pending,
        item_ids=gold_of,
        order=("created_at", "pk"),
        extra=("strength", "ranking"),
    )
    if not labels:
        return 0
    grades: dict[bool, list[Any]] = {True: [], False: []}
    steps = []
    for pk, project_id, item_id, expert_id, created_at, choice, seconds, shown, strength, ranking in labels:
        passed = None
        gold = gold_of[item_id]
        if gold:
            passed = gold_grade(gold=gold, choice=choice, strength=strength, ranking=ranking)
            grades[passed].append(pk)
        delta = QualityDelta()
        label_delta(
            delta,
            passed=passed,
            created_at=created_at,
            choice=choice,
            active_seconds=seconds,
            shown_order=json.loads(shown) if isinstance(shown, str) else shown,
        )
        steps.append((project_id, expert_id, delta))
    for passed, pks in grades.items():
        if pks:
            Label.objects.filter(pk__in=pks).update(gold_passed=passed)
    deltas_apply_in_turn(steps=steps)
    return len(labels)


def _item_update(
    *, item: Item, project: Project, deltas: dict[Any, QualityDelta], model: DawidSkeneModel | None
) -> None:
    _items_update(items=[item], project=project, deltas=deltas, model=model)


def _items_update(
    *, items: list[Item], project: Project, deltas: dict[Any, QualityDelta], model: DawidSkeneModel | None
) -> None:
    """Each item's consensus, decision, agreement, silver grades and silver gold, in the given
    order (the items locked by the caller, in id order), as for one item at a time: what the
    items' steps read (their counted labels, consensus rows, slots, the labellers' gold
    records) is read for all of them at once, and their consensus rows and label grades are
    written together at the end (:class:`~annotate.quality.consensus_update.StepWrites`); none
    of these depends on another item's step. The items that become final share their project
    and batch locks and their completion checks (:class:`~annotate.finalize.Finalisations`)."""
    inputs = items_inputs(item.pk for item in items)
    records = gold_records(
        project_id=project.pk,
        expert_ids=(row[EXPERT] for given in inputs.values() for row in given.labels),
    )
    writes = StepWrites()
    finalisations = Finalisations()
    pool: dict[str, int] = {}
    for item in items:
        given = inputs[item.pk]
        consensus = item_consensus_refresh(item=item, model=model, inputs=given, writes=writes)
        _decision, agreement = item_act(
            item=item,
            project=project,
            consensus=consensus,
            model=model,
            inputs=given,
            records=records,
            finalisations=finalisations,
            writes=writes,
        )
        _add_agreement(deltas, agreement)
        if agreement:  # the item became final
            graded = silver_grades(
                item=item, project=project, consensus=consensus, model=model, inputs=given, writes=writes
            )
            silver_evidence_add(deltas, graded)
            silver_promote(
                item=item,
                project=project,
                consensus=consensus,
                model=model,
                inputs=given,
                records=records,
                pool=pool,
            )
    finalisations.close()
    writes.flush()


def _agreement_revise(*, item: Item, was: dict[str, Any], deltas: dict[Any, QualityDelta]) -> None:
    """A final item's consensus was recomputed: its counted labels' agreement moves from the
    consensus it had to the one it has (the labels just excluded left theirs at suspension)."""
    now = ItemConsensus.objects.filter(item_id=item.pk).first()
    before = ConsensusView(choice=was.get("choice", ""), ranking=was.get("ranking"), confidence=0.0)
    labels = (
        Label.objects.filter(item_id=item.pk, excluded_from_consensus=False, is_gold=False)
        .order_by(*VOTE_ORDER)
        .values_list("expert_id", "choice", "ranking")
    )
    for expert_id, choice, ranking in labels:
        old = bool(was) and label_agrees((choice, ranking), before)
        new = now is not None and label_agrees((choice, ranking), now)
        deltas[expert_id].agreement_hits += int(new) - int(old)
        deltas[expert_id].agreement_total += int(now is not None) - int(bool(was))


def items_quality_refresh(*, item_ids: list[int], suspension_id: Any = None) -> int:
    """Recompute the consensus and decision of each item (after labels were excluded or
    restored), one transaction per item. A final item stays final; when its delivered consensus
    changes (:func:`~annotate.quality.revisions.consensus_revision_record`), the revision is
    recorded and the lab notified. Returns how many items were refreshed."""
    from annotate.quality.revisions import consensus_revision_record, delivered

    done = 0
    for item_id in item_ids:
        with transaction.atomic():
            for item in items_locked([item_id]):
                if item.is_gold:
                    continue
                project = Project.objects.get(pk=item.project_id)
                was = delivered(item) if item.state == Item.State.FINAL else None
                deltas: dict[Any, QualityDelta] = defaultdict(QualityDelta)
                _item_update(item=item, project=project, deltas=deltas, model=project_model(project.pk))
                if was is not None:
                    _agreement_revise(item=item, was=was, deltas=deltas)
                deltas_apply(project_id=project.pk, deltas=deltas)
                if was is not None:
                    revision = consensus_revision_record(
                        item=item, project=project, was=was, suspension_id=suspension_id
                    )
                    if revision is not None:
                        silver_withdraw(item=item, project=project, reason="consensus revised")
                done += 1
    return done


# --- the project's model ---------------------------------------------------------------------


def projects_needing_fit(*, min_new_labels: int) -> list[Any]:
    """Active pairwise projects with at least ``min_new_labels`` labels since their last fit."""
    due = []
    for project in Project.objects.filter(status=Project.Status.ACTIVE).only("id", "label_schema"):
        if project.label_schema.get("kind") != "pairwise":
            continue
        fitted = (
            ProjectQualityModel.objects.filter(project=project).values_list("fitted_at", flat=True).first()
        )
        labels = Label.objects.filter(project=project, is_gold=False)
        if fitted is not None:
            labels = labels.filter(created_at__gt=fitted)
        if labels[: max(1, min_new_labels)].count() >= max(1, min_new_labels):
            due.append(project.pk)
    return due


# --- recompute -------------------------------------------------------------------------------


def _ordinary_rows(project_id: Any) -> Iterator[tuple]:
    query = (
        Label.objects.filter(project_id=project_id, is_gold=False, excluded_from_consensus=False)
        .order_by(*VOTE_ORDER)
        .values_list(*VOTE_COLUMNS)
    )
    return query.iterator(chunk_size=CHUNK)


def _grouped(rows: Iterator[tuple]) -> Iterator[tuple[int, list[tuple]]]:
    current, group = None, []
    for row in rows:
        if row[0] != current:
            if group:
                yield current, group
            current, group = row[0], []
        group.append(row)
    if group:
        yield current, group


def _consensus_recompute(*, project: Project, model: DawidSkeneModel | None) -> Any:
    """Every ordinary item's consensus from its counted labels, written in bulk. Returns the
    rows by item id (adjudicated ones as they are)."""
    adjudicated = {
        row.item_id: row for row in ItemConsensus.objects.filter(item__project=project, method=ADJUDICATED)
    }
    kept = {item_id: _view(row) for item_id, row in adjudicated.items()}
    if project.label_schema.get("kind") == "pairwise":

        def single(item_id: int) -> ConsensusView | None:
            row = item_consensus_refresh(item=Item.objects.get(pk=item_id), model=model)
            return None if row is None else _view(row)

        table = consensus_bulk(project=project, model=model, kept=kept, single=single)
        _consensus_orphans_delete(project)
        return table
    responses_of: dict[int, list] = {}
    ranking = project.label_schema.get("kind") == "ranking"
    results: dict[int, ConsensusView] = dict(kept)
    batch: list[ItemConsensus] = []

    def flush() -> None:
        consensus_upsert(tuple(getattr(row, column) for column in CONSENSUS_COLUMNS) for row in batch)
        batch.clear()

    group_iter = _grouped(_ordinary_rows(project.pk))
    for item_id, rows in group_iter:
        if item_id in adjudicated:
            continue
        if ranking and item_id not in responses_of:
            # Ranking items are few per recompute chunk; fetch their responses on demand.
            responses_of.update(
                Item.objects.filter(project=project, is_gold=False, pk__gte=item_id)
                .order_by("pk")
                .values_list("pk", "responses")[:1000]
            )
        responses = responses_of.pop(item_id, None) if ranking else [{"id": "0"}, {"id": "1"}]
        stub = Item(pk=item_id, responses=responses)
        index = index_of_ids(responses) if ranking else None
        votes = [label_vote(row, index) for row in rows]
        row = result_consensus(item=stub, result=item_result(item=stub, votes=votes, model=model))
        results[item_id] = _view(row)
        batch.append(row)
        if len(batch) >= 20_000:
            flush()
    flush()
    _consensus_orphans_delete(project)
    return results


def _consensus_orphans_delete(project: Project) -> None:
    """Items whose labels were all excluded have no consensus."""
    # NOT EXISTS (an anti-join), not NOT IN: over a million labels PostgreSQL cannot hash the
    # NOT IN list in work_mem and would rescan it for every row.
    counted = Label.objects.filter(item_id=OuterRef("item_id"), excluded_from_consensus=False)
    ItemConsensus.objects.filter(item__project=project).exclude(method=ADJUDICATED).exclude(
        Exists(counted)
    ).delete()


def _actions_recompute(*, project: Project, consensus: Any, model: DawidSkeneModel | None) -> dict[str, int]:
    """The adaptive-overlap decision for every item not final or in adjudication."""
    counts: dict[str, int] = defaultdict(int)
    open_items = (
        Item.objects.filter(project=project, is_gold=False)
        .exclude(state__in=[Item.State.FINAL, Item.State.ADJUDICATION])
        .values_list("pk", flat=True)
    )
    item_ids = list(open_items.order_by("pk"))
    # A few hundred items per transaction, locked in id order like every step that locks several
    # (one commit per item cost more than the decisions).
    for start in range(0, len(item_ids), ACTIONS_PER_TRANSACTION):
        with transaction.atomic():
            chunk = item_ids[start : start + ACTIONS_PER_TRANSACTION]
            locked = [
                item
                for item in Item.objects.select_for_update().filter(pk__in=chunk).order_by("pk")
                # (not those changed since they were listed)
                if not item.is_gold and item.state not in (Item.State.FINAL, Item.State.ADJUDICATION)
            ]
            # The decisions' inputs read once for the chunk, its finalisations announced together.
            inputs = items_inputs(item.pk for item in locked)
            records = gold_records(
                project_id=project.pk,
                expert_ids=(row[EXPERT] for given in inputs.values() for row in given.labels),
            )
            finalisations = Finalisations()
            for item in locked:
                decision, _agreement = item_act(
                    item=item,
                    project=project,
                    consensus=consensus.get(item.pk),
                    model=model,
                    inputs=inputs[item.pk],
                    records=records,
                    finalisations=finalisations,
                )
                counts[decision.action.value] += 1
            finalisations.close()
    return dict(counts)


def _annotators_recompute(*, project: Project, consensus: Any) -> int:
    """Every annotator row rebuilt from the labels the after-submit step has taken into account
    (``quality_at`` set); reinstatement baselines and suspensions are kept."""
    if project.label_schema.get("kind") == "pairwise":
        deltas = _deltas_aggregated(project)
    else:
        deltas = _deltas_replayed(project, consensus)
    return _annotator_rows_write(project=project, deltas=deltas)


def _deltas_aggregated(project: Project) -> dict[Any, QualityDelta]:
    """The annotators' counters of a pairwise project as SQL aggregates (the sums
    :func:`label_delta` adds up label by label)."""
    deltas: dict[Any, QualityDelta] = defaultdict(QualityDelta)
    for expert_id, counters in label_counters(project=project).items():
        delta = deltas[expert_id]
        for name, value in counters.items():
            setattr(delta, name, value)
        delta.active_seconds_sum = float(delta.active_seconds_sum or 0.0)
    for expert_id, (hits, total) in agreement_counts(project=project).items():
        deltas[expert_id].agreement_hits = hits
        deltas[expert_id].agreement_total = total
    return deltas


def _deltas_replayed(project: Project, consensus: Any) -> dict[Any, QualityDelta]:
    """The annotators' counters label by label (ranking projects: agreement is a ranking distance)."""
    deltas: dict[Any, QualityDelta] = defaultdict(QualityDelta)
    rows = (
        Label.objects.filter(project_id=project.pk, quality_at__isnull=False)
        .order_by(*VOTE_ORDER)
        .values_list(
            "expert_id", "gold_passed", "created_at", "choice", "active_seconds", "assignment__shown_order"
        )
    )
    for expert_id, passed, created_at, choice, active_seconds, shown_order in rows.iterator(chunk_size=CHUNK):
        if isinstance(shown_order, str):
            shown_order = json.loads(shown_order)
        label_delta(
            deltas[expert_id],
            passed=passed,
            created_at=created_at,
            choice=choice,
            active_seconds=active_seconds,
            shown_order=shown_order,
        )
    final = (
        Label.objects.filter(
            project_id=project.pk, is_gold=False, excluded_from_consensus=False, item__state=Item.State.FINAL
        )
        .order_by(*VOTE_ORDER)
        .values_list("item_id", "expert_id", "choice", "ranking")
    )
    for item_id, expert_id, choice, ranking in final.iterator(chunk_size=CHUNK):
        row = consensus.get(item_id)
        if row is None:
            continue
        deltas[expert_id].agreement_hits += int(label_agrees((choice, ranking), row))
        deltas[expert_id].agreement_total += 1
    return deltas


def _annotator_rows_write(*, project: Project, deltas: dict[Any, QualityDelta]) -> int:
    tests = _tests_replay(project=project)
    existing = {row.expert_id: row for row in AnnotatorQuality.objects.filter(project=project)}
    suspended = set(
        ProjectSuspension.objects.filter(project=project, active=True).values_list("expert_id", flat=True)
    )
    now = timezone.now()
    with transaction.atomic():  # one commit for the rows, not one per annotator
        for expert_id in sorted(set(deltas) | set(existing), key=str):
            _annotator_row_write(
                project=project,
                row=existing.get(expert_id) or AnnotatorQuality(project=project, expert_id=expert_id),
                delta=deltas.get(expert_id) or QualityDelta(),
                test=tests.get(expert_id) or State(),
                suspended=expert_id in suspended,
                now=now,
            )
    return len(deltas)


def _annotator_row_write(
    *, project: Project, row: AnnotatorQuality, delta: QualityDelta, test: State, suspended: bool, now: Any
) -> None:
    row.labels = delta.labels
    row.gold_passed = delta.gold_passed
    row.gold_failed = delta.gold_failed
    row.last_gold_passed_at = delta.last_gold_passed_at
    row.agreement_hits = delta.agreement_hits
    row.agreement_total = delta.agreement_total
    row.active_seconds_sum = delta.active_seconds_sum
    row.active_seconds_count = delta.active_seconds_count
    row.pairwise_labels = delta.pairwise_labels
    row.first_shown_choices = delta.first_shown_choices
    row.flags = quality_flags(row)
    row.suspend_statistic, row.suspend_since, row.suspend_events = test.value, test.since, test.events
    standing = rule_standing(row)
    if suspended:
        row.status = AnnotatorQuality.Status.SUSPENDED
    elif standing.seen and standing.mean < project.gold_threshold:
        row.status = AnnotatorQuality.Status.WARNED
    else:
        row.status = AnnotatorQuality.Status.OK
    row.updated_at = now
    row.save()
    if not suspended and should_suspend(row, project):
        with transaction.atomic():
            gold_rules_apply(row=row, project=project)


def evidence_streams(*, project: Project, expert_id: Any = None) -> dict[Any, list[tuple]]:
    """Every annotator's suspension evidence since their last reinstatement, in the order the
    after-submit step took it: a gold when its step ran (``quality_at``), silver grades when
    their item became final (``finalized_at``). Each piece is ``(taken at, kind, outcome,
    label created at)``, ``kind`` gold (outcome: passed) or silver (outcome: support). With
    ``expert_id``, that annotator's only."""
    who = {} if expert_id is None else {"expert_id": expert_id}
    reinstated: dict[Any, Any] = {}
    for expert_id, decided_at in ProjectSuspension.objects.filter(
        project=project, appeal=ProjectSuspension.Appeal.REINSTATED, decided_at__isnull=False, **who
    ).values_list("expert_id", "decided_at"):
        reinstated[expert_id] = max(decided_at, reinstated.get(expert_id, decided_at))
    events: dict[Any, list[tuple]] = defaultdict(list)
    golds = Label.objects.filter(
        project=project, is_gold=True, gold_passed__isnull=False, quality_at__isnull=False, **who
    ).values_list("expert_id", "quality_at", "created_at", "id", "gold_passed")
    for expert_id, at, created_at, label_id, passed in golds.iterator(chunk_size=CHUNK):
        events[expert_id].append((at, 0, created_at, str(label_id), GOLD, passed))
    silver = Label.objects.filter(
        project=project, silver_support__isnull=False, item__finalized_at__isnull=False, **who
    ).values_list("expert_id", "item__finalized_at", "item_id", "created_at", "id", "silver_support")
    for expert_id, at, item_id, created_at, label_id, support in silver.iterator(chunk_size=CHUNK):
        events[expert_id].append((at, item_id, created_at, str(label_id), SILVER, support))
    streams: dict[Any, list[tuple]] = {}
    for expert_id, rows in events.items():
        since = reinstated.get(expert_id)
        streams[expert_id] = [
            (at, kind, outcome, created_at)
            for at, _item, created_at, _label, kind, outcome in sorted(rows, key=lambda r: r[:4])
            if since is None or at > since
        ]
    return streams


def _tests_replay(*, project: Project, expert_id: Any = None) -> dict[Any, State]:
    """Every annotator's suspension test replayed from the stored evidence
    (:func:`evidence_streams`). Like the step, the replay stops at the first crossing, so it
    suspends whom the step suspended, with the same change point (steps of one annotator that
    ran concurrently may be ordered differently by a few milliseconds). With ``expert_id``, that
    annotator's test only (a corrected gold label, annotate/label_revisions.py)."""
    design = project_design(project)
    states: dict[Any, State] = {}
    for annotator, stream in evidence_streams(project=project, expert_id=expert_id).items():
        state = State()
        for _at, kind, outcome, created_at in stream:
            if state.crossed(design):
                break
            state.add(design=design, kind=kind, outcome=outcome, created_at=created_at)
        states[annotator] = state
    return states


def project_quality_recompute(*, project_id: Any, refit: bool = True) -> dict[str, Any]:
    """Recompute a project from scratch: the Dawid-Skene fit (unless ``refit`` is False: the
    stored model is used), every gold grade, every item's consensus and decision, every
    annotator row. Idempotent: a second run changes nothing. Items already final stay final
    (their labels were paid for), and adjudicated consensus stays."""
    started = time.perf_counter()
    project = Project.objects.get(pk=project_id)
    report: dict[str, Any] = {"project": str(project.pk)}
    phases: dict[str, float] = {}
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(now - mark, 3)
        mark = now

    if refit:
        fitted = project_model_fit(project_id=project.pk)
        report["model_labels"] = fitted.label_count if fitted else 0
    model = project_model(project.pk)
    phase("fit")

    graded = 0
    gold_rows = Label.objects.filter(project=project, is_gold=True).values_list(
        "pk", "choice", "strength", "ranking", "gold_passed", "item__gold"
    )
    changes: dict[bool, list] = {True: [], False: []}
    for pk, choice, strength, ranking, passed, gold in gold_rows.iterator(chunk_size=CHUNK):
        if not gold:
            continue
        from annotate.quality.gold import gold_grade

        grade = gold_grade(gold=gold, choice=choice, strength=strength, ranking=ranking)
        graded += 1
        if grade != passed:
            changes[grade].append(pk)
    for grade, pks in changes.items():
        for start in range(0, len(pks), 5000):
            Label.objects.filter(pk__in=pks[start : start + 5000]).update(gold_passed=grade)
    report["gold_graded"] = graded
    phase("gold")

    consensus = _consensus_recompute(project=project, model=model)
    report["items"] = len(consensus)
    phase("consensus")
    report["actions"] = _actions_recompute(project=project, consensus=consensus, model=model)
    phase("actions")
    report["annotators"] = _annotators_recompute(project=project, consensus=consensus)
    phase("annotators")
    report["seconds"] = round(time.perf_counter() - started, 3)
    report["phase_seconds"] = phases
    return report


def expert_test_replay(*, project: Project, expert_id: Any) -> State:
    """One annotator's suspension test replayed from the stored evidence (see
    :func:`_tests_replay`)."""
    return _tests_replay(project=project, expert_id=expert_id).get(expert_id) or State()


__all__ = [
    "Action",
    "agreement_deltas",
    "items_quality_refresh",
    "label_quality_process",
    "overlap_decision",
    "project_model_fit",
    "project_quality_recompute",
    "projects_needing_fit",
    "slots_add",
    "standing_of",
]
