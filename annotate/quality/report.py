"""The numbers behind the quality APIs and pages: a project's agreement report, its
annotators' quality, one item's labels. Reads only; the statistics are Q-MATH's functions
(``annotate.quality.agreement``, ``integrity``, ``stats``).

Agreement is measured on the labels consensus counts (not gold, not excluded by a
suspension), per criterion at the level its scale calls for (Krippendorff 2011):

==================  ============================  ==========================================
criterion           unit                          level
==================  ============================  ==========================================
``choice``          item                          nominal (A, B, tie, both_bad)
``strength``        item                          ordinal, signed: A by s -> +s, B by s -> -s,
                                                  tie -> 0; both_bad left out
``ranking``         (item, response)              ordinal: the response's group, best = 0
``criteria.<key>``  (item, response)              ordinal and interval (Likert ratings)
==================  ============================  ==========================================

The 95% interval of alpha is a bootstrap over units (``alpha_bootstrap``). Fleiss' kappa
needs the same number of raters on every item: it is computed on the items that have the
most common number of labels (at least 2), and the report says how many those are.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max, Q
from django.utils import timezone

from annotate.models import AnnotatorQuality, Item, ItemConsensus, Label, Project, ProjectSuspension
from annotate.quality.aggregation import Vote
from annotate.quality.agreement import (
    alpha_bootstrap,
    choice_value,
    fleiss_kappa,
    fleiss_table,
    krippendorff_alpha,
    reliability_matrix,
    signed_strength,
)
from annotate.quality.gold_pool import gold_pool_health
from annotate.quality.revisions import revised_items
from annotate.quality.selectors import consensus_model_summary
from annotate.schema import PAIRWISE_CHOICES
from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.experts.models import ExpertProfile

CONFIDENCE_BINS = 10
DEFAULT_BOOTSTRAP = 1000
# The agreement part is recomputed when the counted labels change, and at least this often.
AGREEMENT_CACHE_SECONDS = 3600


@dataclass(frozen=True)
class LabelRow:
    item_id: int
    worker: str
    batch_id: Any
    choice: str
    strength: int | None
    ranking: list[list[str]] | None
    criteria: dict[str, dict[str, int]]
    active_seconds: float | None


def counted_label_rows(*, project: Project) -> list[LabelRow]:
    """The labels agreement is measured on: ordinary items, not excluded from consensus."""
    rows = (
        Label.objects.filter(project=project, is_gold=False, excluded_from_consensus=False)
        .order_by("item_id", "created_at", "id")
        .values_list(
            "item_id",
            "expert_id",
            "item__batch_id",
            "choice",
            "strength",
            "ranking",
            "criteria",
            "active_seconds",
        )
    )
    return [
        LabelRow(item, str(expert), batch, choice, strength, ranking, criteria or {}, active)
        for item, expert, batch, choice, strength, ranking, criteria, active in rows.iterator(chunk_size=5000)
    ]


@dataclass(frozen=True)
class Criterion:
    name: str
    level: str
    votes: list[Vote]
    value: Callable[[Vote], Any]


def _strength_value(vote: Vote) -> float | None:
    return None if vote.strength is None else float(vote.strength)


def criteria_of(*, project: Project, rows: list[LabelRow]) -> list[Criterion]:
    """The criteria of the project's schema, each with its votes and how to read a value.

    For rankings and criteria the unit is (item, response) and a vote's ``strength`` field
    carries the value (the rank group or the rating)."""
    schema = project.label_schema
    out: list[Criterion] = []
    if schema["kind"] == "pairwise":
        votes = [
            Vote(item=r.item_id, worker=r.worker, choice=r.choice, strength=r.strength)
            for r in rows
            if r.choice
        ]
        out.append(Criterion("choice", "nominal", votes, choice_value))
        if (schema.get("strength") or {}).get("levels"):
            out.append(Criterion("strength", "ordinal", votes, signed_strength))
    else:
        ranks = [
            Vote(item=(r.item_id, rid), worker=r.worker, strength=position)
            for r in rows
            if r.ranking
            for position, group in enumerate(r.ranking)
            for rid in group
        ]
        out.append(Criterion("ranking", "ordinal", ranks, _strength_value))
    for criterion in schema.get("criteria") or []:
        key = criterion["key"]
        ratings = [
            Vote(item=(r.item_id, rid), worker=r.worker, strength=ratings[key])
            for r in rows
            for rid, ratings in r.criteria.items()
            if isinstance(ratings, dict) and ratings.get(key) is not None
        ]
        out.append(Criterion(f"criteria.{key}", "ordinal", ratings, _strength_value))
        out.append(Criterion(f"criteria.{key}", "interval", ratings, _strength_value))
    return out


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def alpha_entry(criterion: Criterion, *, n_boot: int, seed: int = 0) -> dict[str, Any]:
    units = len({v.item for v in criterion.votes})
    entry: dict[str, Any] = {
        "criterion": criterion.name,
        "level": criterion.level,
        "labels": len(criterion.votes),
        "units": units,
        "alpha": None,
        "low": None,
        "high": None,
    }
    if units < 2:
        return entry
    matrix, _workers, _items = reliability_matrix(criterion.votes, criterion.value)
    if n_boot > 0:
        alpha, low, high = alpha_bootstrap(matrix, criterion.level, n_boot=n_boot, seed=seed)
        entry.update(alpha=_finite(alpha), low=_finite(low), high=_finite(high))
    else:
        entry["alpha"] = _finite(krippendorff_alpha(matrix, criterion.level))
    return entry


def fleiss_entry(rows: list[LabelRow]) -> dict[str, Any] | None:
    """Fleiss' kappa of the pairwise choice over the items with the modal number (>= 2) of labels."""
    per_item = Counter(r.item_id for r in rows if r.choice)
    votes = [Vote(item=r.item_id, worker=r.worker, choice=r.choice) for r in rows if per_item[r.item_id] >= 2]
    counts = fleiss_table(votes, choice_value)
    if counts.shape[0] < 2:
        return None
    raters = int(counts[0].sum())
    return {
        "kappa": _finite(fleiss_kappa(counts)),
        "raters_per_item": raters,
        "items": int(counts.shape[0]),
        "items_left_out": sum(1 for n in per_item.values() if n != raters),
    }


def consensus_distribution(*, project: Project) -> dict[str, Any]:
    consensus = ItemConsensus.objects.filter(item__project=project, item__is_gold=False)
    choices = dict(
        consensus.exclude(choice="").values_list("choice").annotate(n=Count("pk")).values_list("choice", "n")
    )
    total = sum(choices.values())
    states = dict(
        Item.objects.filter(project=project, is_gold=False)
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    from annotate.quality.chart_data import confidence_histogram  # it reads this module

    return {
        "items_with_consensus": consensus.count(),
        "choice_counts": {c: choices.get(c, 0) for c in PAIRWISE_CHOICES} if choices else {},
        "choice_shares": {c: round(choices.get(c, 0) / total, 4) for c in PAIRWISE_CHOICES} if total else {},
        "states": {state: states.get(state, 0) for state in Item.State.values},
        "confidence_histogram": confidence_histogram(project=project, bins=CONFIDENCE_BINS),
    }


def low_agreement_items(
    *, project: Project, agreement_below: float, limit: int, offset: int
) -> dict[str, Any]:
    """Items whose consensus has low agreement or a confidence under the project's threshold,
    least agreed first."""
    rows = (
        ItemConsensus.objects.filter(item__project=project, item__is_gold=False)
        .filter(Q(agreement__lt=agreement_below) | Q(confidence__lt=project.confidence_threshold))
        .select_related("item")
        .order_by("agreement", "confidence", "item_id")
    )
    count = rows.count()
    page = rows[offset : offset + limit]
    return {
        "count": count,
        "limit": limit,
        "offset": offset,
        "agreement_below": agreement_below,
        "confidence_below": project.confidence_threshold,
        "results": [
            {
                "item": str(c.item.uid),
                "external_id": c.item.external_id,
                "state": c.item.state,
                "method": c.method,
                "choice": c.choice or None,
                "ranking": c.ranking,
                "confidence": round(c.confidence, 4),
                "agreement": None if c.agreement is None else round(c.agreement, 4),
                "label_count": c.label_count,
            }
            for c in page
        ],
    }


def _unit_item(unit: Any) -> Any:
    return unit[0] if isinstance(unit, tuple) else unit


def agreement_section(*, project: Project, n_boot: int) -> dict[str, Any]:
    """The agreement part of the report: the costly part (every counted label is read and the
    bootstrap resamples units), so it is cached until the counted labels change."""
    rows = counted_label_rows(project=project)
    criteria = criteria_of(project=project, rows=rows)
    batch_of = {r.item_id: r.batch_id for r in rows}
    labels_per_batch = Counter(r.batch_id for r in rows)
    headline = criteria[0]
    votes_per_batch: dict[Any, list[Vote]] = defaultdict(list)
    for vote in headline.votes:
        votes_per_batch[batch_of[_unit_item(vote.item)]].append(vote)
    per_batch = []
    for batch_id, votes in votes_per_batch.items():
        # The headline criterion per batch, without the bootstrap (batches are many and small).
        entry = alpha_entry(Criterion(headline.name, headline.level, votes, headline.value), n_boot=0)
        per_batch.append({"batch": str(batch_id), **entry, "labels": labels_per_batch[batch_id]})
    per_batch.sort(key=lambda b: b["batch"])
    return {
        "labels": len(rows),
        "items_labelled": len(batch_of),
        "annotators": len({r.worker for r in rows}),
        "bootstrap_samples": n_boot,
        "agreement": [alpha_entry(c, n_boot=n_boot) for c in criteria],
        "fleiss_kappa": fleiss_entry(rows) if project.label_schema["kind"] == "pairwise" else None,
        "per_batch": per_batch,
        "agreement_computed_at": timezone.now().isoformat(),
    }


def _agreement_cache_key(*, project: Project, n_boot: int) -> str:
    # Any new label, and any label excluded or re-included, changes the count or the time.
    state = Label.objects.filter(project=project, is_gold=False, excluded_from_consensus=False).aggregate(
        n=Count("pk"), last=Max("created_at")
    )
    last = state["last"].isoformat() if state["last"] else "-"
    return f"quality-agreement:{project.pk}:{project.schema_version}:{n_boot}:{state['n']}:{last}"


def project_report(
    *,
    project: Project,
    n_boot: int = DEFAULT_BOOTSTRAP,
    agreement_below: float = 0.6,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    key = _agreement_cache_key(project=project, n_boot=n_boot)
    agreement = cache.get(key)
    if agreement is None:
        agreement = agreement_section(project=project, n_boot=n_boot)
        cache.set(key, agreement, AGREEMENT_CACHE_SECONDS)
    return {
        "project": {"id": str(project.pk), "name": project.name, "kind": project.label_schema["kind"]},
        **agreement,
        "consensus": consensus_distribution(project=project),
        "consensus_model": consensus_model_summary(project_id=project.pk),
        "gold_pool": gold_pool_health(project=project),
        "revised_items": revised_items(project=project, limit=limit),
        "low_agreement_items": low_agreement_items(
            project=project, agreement_below=agreement_below, limit=limit, offset=offset
        ),
    }


# --- Annotators (staff only) -----------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def annotator_history(*, expert_id: Any, project_id: Any, limit: int = 10) -> list[dict[str, Any]]:
    """The audit events about the expert in this project: suspensions, appeals, decisions,
    qualifications granted or revoked, newest first."""
    from annotate.qualification.models import Qualification

    suspensions = [
        str(pk)
        for pk in ProjectSuspension.objects.filter(expert_id=expert_id, project_id=project_id).values_list(
            "pk", flat=True
        )
    ]
    qualifications = [
        str(pk) for pk in Qualification.objects.filter(expert_id=expert_id).values_list("pk", flat=True)
    ]
    events = AuditEvent.objects.filter(
        Q(target_type="annotate.projectsuspension", target_id__in=suspensions)
        | Q(target_type="qualification.qualification", target_id__in=qualifications)
        | Q(target_type="experts.expertprofile", target_id=str(expert_id))
    ).order_by("-created_at")[:limit]
    return [{"at": e.created_at.isoformat(), "action": e.action, "data": e.data} for e in events]


def annotator_report(*, project: Project, with_history: bool = True) -> list[dict[str, Any]]:
    """Per annotator of the project: gold accuracy (Beta posterior and 95% interval),
    agreement with the consensus of the others (leave-one-out), speed against the project's
    median, position bias (binomial test), the suspension test (its statistic, threshold and
    change point), flags, status and history."""
    from annotate.quality.cusum import SCALE
    from annotate.quality.integrity import (
        collusion_pairs,
        leave_one_out_agreement,
        position_bias,
        speed_flags,
        straight_lining,
    )
    from annotate.quality.reputation import project_design
    from annotate.quality.selectors import gold_standing

    rows = counted_label_rows(project=project)
    votes = [
        Vote(item=r.item_id, worker=r.worker, choice=r.choice or None, strength=r.strength)
        for r in rows
        if r.choice
    ]
    loo = leave_one_out_agreement(votes) if votes else {}
    # Pairs who agree with each other far more than their agreement with the crowd predicts.
    colluding: dict[str, list[str]] = defaultdict(list)
    for pair in collusion_pairs(votes) if votes else []:
        colluding[str(pair.worker_a)].append(str(pair.worker_b))
        colluding[str(pair.worker_b)].append(str(pair.worker_a))
    seconds: dict[str, list[float]] = defaultdict(list)
    ratings: dict[str, list[list[Any]]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for r in rows:
        counts[r.worker] += 1
        if r.active_seconds is not None:
            seconds[r.worker].append(r.active_seconds)
        if r.criteria:
            ratings[r.worker].append([v for rs in r.criteria.values() for v in (rs or {}).values()])
    project_median = _median([s for values in seconds.values() for s in values])
    # Annotators' median times against each other (log scale, robust z; integrity.speed_flags).
    speed = speed_flags({w: _median(values) for w, values in seconds.items() if values})
    quality = {str(q.expert_id): q for q in AnnotatorQuality.objects.filter(project=project)}
    threshold_nats = project_design(project).threshold / SCALE
    suspended = {
        str(pk)
        for pk in ProjectSuspension.objects.filter(project=project, active=True).values_list(
            "expert_id", flat=True
        )
    }
    experts = {
        str(e.pk): e
        for e in ExpertProfile.objects.filter(pk__in=set(quality) | set(counts)).select_related("user")
    }
    out = []
    for key, expert in sorted(experts.items(), key=lambda kv: kv[1].pseudonym):
        row = quality.get(key)
        standing = gold_standing(expert_id=expert.pk, project_id=project.pk)
        median_seconds = _median(seconds.get(key, []))
        p_bias = (
            position_bias(row.first_shown_choices, row.pairwise_labels)
            if row and row.pairwise_labels
            else None
        )
        status = "suspended" if key in suspended else (row.status if row else "ok")
        out.append(
            {
                "expert": expert.pseudonym,
                "expert_email": expert.user.email,
                "labels": row.labels if row else counts.get(key, 0),
                "gold": {
                    "passed": standing.passed,
                    "failed": standing.failed,
                    "accuracy": round(standing.mean, 4),
                    "low": round(standing.low, 4),
                    "high": round(standing.high, 4),
                },
                "suspension_test": {
                    "statistic_nats": (row.suspend_statistic if row else 0) / SCALE,
                    "threshold_nats": threshold_nats,
                    "change_point": row.suspend_since.isoformat() if row and row.suspend_since else None,
                    "evidence": row.suspend_events if row else 0,
                },
                "agreement_leave_one_out": _finite(loo.get(key)),
                "agreement_with_final": (
                    round(row.agreement_hits / row.agreement_total, 4)
                    if row and row.agreement_total
                    else None
                ),
                "median_active_seconds": _finite(median_seconds),
                "speed_vs_project_median": (
                    _finite(median_seconds / project_median) if median_seconds and project_median else None
                ),
                "speed_flagged": bool(speed[key].flagged) if key in speed else False,
                "position_bias_p": _finite(p_bias),
                "straight_lining_share": _finite(straight_lining(ratings[key])) if ratings.get(key) else None,
                "colluding_with": sorted(
                    experts[other].pseudonym for other in colluding.get(key, []) if other in experts
                ),
                "flags": list(row.flags) + (["collusion"] if colluding.get(key) else [])
                if row
                else (["collusion"] if colluding.get(key) else []),
                "status": "active" if status == "ok" else status,
                "history": annotator_history(expert_id=expert.pk, project_id=project.pk)
                if with_history
                else [],
            }
        )
    return out


# --- One item (staff only) -----------------------------------------------------------------


def item_drilldown(*, item: Item) -> dict[str, Any]:
    """An item with its labels (annotators by pseudonym), consensus, confidence and state."""
    consensus = ItemConsensus.objects.filter(item=item).first()
    labels = (
        Label.objects.filter(item=item).select_related("expert", "assignment").order_by("created_at", "id")
    )
    return {
        "item": str(item.uid),
        "project": str(item.project_id),
        "external_id": item.external_id,
        "state": item.state,
        "is_gold": item.is_gold,
        "gold": item.gold,
        "prompt": item.prompt,
        "responses": item.responses,
        "consensus": None
        if consensus is None
        else {
            "method": consensus.method,
            "choice": consensus.choice or None,
            "strength": consensus.strength,
            "ranking": consensus.ranking,
            "confidence": consensus.confidence,
            "agreement": consensus.agreement,
            "label_count": consensus.label_count,
            "posterior": consensus.posterior,
            "computed_at": consensus.computed_at.isoformat(),
        },
        "labels": [
            {
                "annotator": label.expert.pseudonym,
                "choice": label.choice or None,
                "strength": label.strength,
                "ranking": label.ranking,
                "criteria": label.criteria,
                "rationale": label.rationale,
                "active_seconds": label.active_seconds,
                "shown_order": label.assignment.shown_order,
                "excluded_from_consensus": label.excluded_from_consensus,
                "gold_passed": label.gold_passed,
                "created_at": label.created_at.isoformat(),
            }
            for label in labels
        ],
    }
