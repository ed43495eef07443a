"""An annotator's quality in a project, updated label by label, and the gold rules.

Gold accuracy is a Beta posterior (uniform prior Beta(1, 1)) with an equal-tailed 95% credible
interval (:func:`annotate.quality.stats.beta_interval`), shown to staff and the expert. Rules:

- **warn** (a notification to the expert) when the posterior mean of the golds since the last
  reinstatement falls below the project's ``gold_threshold``;
- **suspend** from the project when the suspension test crosses its threshold
  (:mod:`annotate.quality.cusum`: Page's CUSUM of the log-likelihood ratio of gold and silver
  evidence, good accuracy ``p0`` = the project's ``gold_threshold``, a stated false-suspension
  probability). The test is updated after every piece of evidence (a graded gold; a silver
  grade when an item becomes final), its state kept on the annotator's row: each step is O(1).

A reinstatement resets the test and the warning's counts (``*_at_reinstatement``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, Q
from django.utils import timezone

from annotate.models import AnnotatorQuality, Label, Project, ProjectSuspension
from annotate.quality.aggregation import pairwise_classes
from annotate.quality.cusum import GOLD, GRID, SCALE, Design, State, design_of
from annotate.quality.live import quality_changed_on_commit
from annotate.quality.stats import beta_interval
from rlhf_platform.accounts.notifications import notify_on_commit, user_group

# Position bias is flagged when the binomial test of "picked the response shown first" against
# 1/2 gives p below this, over at least POSITION_BIAS_MIN_LABELS choices of A or B.
POSITION_BIAS_P = 0.001
POSITION_BIAS_MIN_LABELS = 20


@dataclass
class QualityDelta:
    """What one step adds to an annotator's row (all counters; applied with row locks)."""

    labels: int = 0
    gold_passed: int = 0
    gold_failed: int = 0
    last_gold_passed_at: datetime | None = None
    agreement_hits: int = 0
    agreement_total: int = 0
    active_seconds_sum: float = 0.0
    active_seconds_count: int = 0
    pairwise_labels: int = 0
    first_shown_choices: int = 0
    # Evidence for the suspension test, in the order it arrived: (kind, outcome, label created_at),
    # the outcome a gold grade (passed) or a silver label's support (annotate/quality/cusum.py).
    evidence: list[tuple[str, bool | int, datetime]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def first_shown_choice(*, choice: str, shown_order: list[int] | None) -> bool | None:
    """Whether a canonical A/B choice picked the response shown first; None for other choices."""
    if choice not in ("A", "B") or not shown_order:
        return None
    return shown_order[0] == "AB".index(choice)


def label_delta(
    delta: QualityDelta,
    *,
    passed: bool | None,
    created_at: datetime,
    choice: str,
    active_seconds: float | None,
    shown_order: list[int] | None,
) -> None:
    """Add one label to ``delta``."""
    delta.labels += 1
    if passed is not None:
        delta.evidence.append((GOLD, passed, created_at))
    if passed is True:
        delta.gold_passed += 1
        if delta.last_gold_passed_at is None or created_at > delta.last_gold_passed_at:
            delta.last_gold_passed_at = created_at
    elif passed is False:
        delta.gold_failed += 1
    if active_seconds is not None:
        delta.active_seconds_sum += float(active_seconds)
        delta.active_seconds_count += 1
    first = first_shown_choice(choice=choice, shown_order=shown_order)
    if first is not None:
        delta.pairwise_labels += 1
        delta.first_shown_choices += int(first)


def quality_flags(row: AnnotatorQuality) -> list[str]:
    """Flags derived from the row's own counters (project-wide signals such as speed against
    the project's median are computed by the quality report, not per submit)."""
    from annotate.quality.integrity import position_bias

    flags = []
    if row.pairwise_labels >= POSITION_BIAS_MIN_LABELS:
        p_value = position_bias(row.first_shown_choices, row.pairwise_labels)
        if p_value is not None and p_value < POSITION_BIAS_P:
            flags.append("position_bias")
    return flags


# What :func:`deltas_apply` changes on a row (written with one UPDATE for all the rows).
DELTA_FIELDS = (
    "labels",
    "gold_passed",
    "gold_failed",
    "last_gold_passed_at",
    "agreement_hits",
    "agreement_total",
    "active_seconds_sum",
    "active_seconds_count",
    "pairwise_labels",
    "first_shown_choices",
    "flags",
    "suspend_statistic",
    "suspend_since",
    "suspend_events",
    "updated_at",
)


def deltas_apply(*, project_id: Any, deltas: dict[Any, QualityDelta]) -> dict[Any, AnnotatorQuality]:
    """Add the deltas to the annotators' rows, locking them in expert-id order with one query
    (two steps that touch the same annotators never wait on each other in a cycle), feed their
    evidence to the suspension test, write them with one UPDATE, and apply the gold rules to
    the rows that got evidence."""
    if not deltas:
        return {}
    now = timezone.now()
    project = None
    if any(delta.evidence for delta in deltas.values()):
        project = Project.objects.get(pk=project_id)
    locked = _rows_locked(project_id=project_id, expert_ids=list(deltas))
    rows: dict[Any, AnnotatorQuality] = {}
    for expert_id in sorted(deltas, key=str):
        row = locked[expert_id]
        _delta_add(row=row, delta=deltas[expert_id], project=project, now=now)
        rows[expert_id] = row
    _rows_write(list(rows.values()))
    judged = [expert_id for expert_id, delta in deltas.items() if delta.evidence]
    if judged:
        suspended = set(
            ProjectSuspension.objects.filter(
                project_id=project_id, expert_id__in=judged, active=True
            ).values_list("expert_id", flat=True)
        )
        for expert_id in judged:
            gold_rules_apply(row=rows[expert_id], project=project, suspended=expert_id in suspended)
    quality_changed_on_commit(project_id=project_id)
    return rows


def deltas_apply_in_turn(*, steps: list[tuple[Any, Any, QualityDelta]]) -> None:
    """``steps`` of (project id, expert id, delta), each with the result of its own
    :func:`deltas_apply`, in the order given (the quality step's gold labels, one step each):
    the rows of a project are locked once, in expert-id order, and the projects in the order
    :func:`deltas_apply` takes them in a batch; each step's evidence goes to the suspension
    test and the gold rules judge after it, as they would after that step alone (a warning
    each time the status turns to warned; a suspension at the step whose evidence crossed,
    with the counts of that moment: the rows are written before it). The rows are written
    together at the end."""
    if not steps:
        return
    now = timezone.now()
    experts: dict[Any, set] = {}
    for project_id, expert_id, _delta in steps:
        experts.setdefault(project_id, set()).add(expert_id)
    judged = {project_id for project_id, _expert, delta in steps if delta.evidence}
    projects = {project.pk: project for project in Project.objects.filter(pk__in=judged)}
    locked: dict[Any, dict[Any, AnnotatorQuality]] = {}
    suspended: set[tuple[Any, Any]] = set()
    for project_id in sorted(experts, key=str):
        locked[project_id] = _rows_locked(
            project_id=project_id, expert_ids=sorted(experts[project_id], key=str)
        )
        if project_id in judged:
            suspended.update(
                (project_id, expert_id)
                for expert_id in ProjectSuspension.objects.filter(
                    project_id=project_id, expert_id__in=experts[project_id], active=True
                ).values_list("expert_id", flat=True)
            )
    unwritten: dict[Any, AnnotatorQuality] = {}
    for project_id, expert_id, delta in steps:
        row = locked[project_id][expert_id]
        project = projects.get(project_id)
        _delta_add(row=row, delta=delta, project=project, now=now)
        unwritten[row.pk] = row
        if not delta.evidence:
            continue
        was_suspended = (project_id, expert_id) in suspended
        if not was_suspended and should_suspend(row, project):
            # The suspension reads the row and the step's counts of this moment.
            _rows_write(list(unwritten.values()))
            unwritten.clear()
            suspended.add((project_id, expert_id))
        gold_rules_apply(row=row, project=project, suspended=was_suspended)
    _rows_write(list(unwritten.values()))
    for project_id in experts:
        quality_changed_on_commit(project_id=project_id)


def _rows_locked(*, project_id: Any, expert_ids: list[Any]) -> dict[Any, AnnotatorQuality]:
    """The annotators' rows in the project (created when missing), locked in expert-id order
    with one query: two steps that touch the same annotators never wait on each other in a
    cycle."""
    annotators = AnnotatorQuality.objects.filter(project_id=project_id, expert_id__in=expert_ids)
    have = set(annotators.values_list("expert_id", flat=True))
    if len(have) < len(expert_ids):
        AnnotatorQuality.objects.bulk_create(
            [AnnotatorQuality(project_id=project_id, expert_id=e) for e in expert_ids if e not in have],
            ignore_conflicts=True,  # created meanwhile by another step
        )
    return {row.expert_id: row for row in annotators.select_for_update().order_by("expert_id")}


def _delta_add(*, row: AnnotatorQuality, delta: QualityDelta, project: Project | None, now: Any) -> None:
    """Add ``delta`` to the row (unsaved) and its evidence to the suspension test."""
    row.labels += delta.labels
    row.gold_passed += delta.gold_passed
    row.gold_failed += delta.gold_failed
    if delta.last_gold_passed_at and (
        row.last_gold_passed_at is None or delta.last_gold_passed_at > row.last_gold_passed_at
    ):
        row.last_gold_passed_at = delta.last_gold_passed_at
    row.agreement_hits += delta.agreement_hits
    row.agreement_total += delta.agreement_total
    row.active_seconds_sum += delta.active_seconds_sum
    row.active_seconds_count += delta.active_seconds_count
    row.pairwise_labels += delta.pairwise_labels
    row.first_shown_choices += delta.first_shown_choices
    row.flags = quality_flags(row)
    if delta.evidence:
        evidence_apply(row=row, design=project_design(project), evidence=delta.evidence)
    row.updated_at = now


def _rows_write(rows: list[AnnotatorQuality]) -> None:
    """Write :data:`DELTA_FIELDS` of these rows: one statement, executed for each row."""
    if not rows:
        return
    meta = AnnotatorQuality._meta
    fields = [meta.get_field(name) for name in DELTA_FIELDS]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608 - the model's own table and columns
        + ", ".join(f"{quote(field.column)} = %s" for field in fields)
        + f" WHERE {quote(meta.pk.column)} = %s"
    )
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields] + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def project_design(project: Project) -> Design:
    """The suspension test of a project: good gold accuracy its ``gold_threshold``, silver
    evidence among the choices its pairwise labels offer."""
    return design_of(p0=project.gold_threshold, choices=len(pairwise_classes(project.label_schema)))


def suspension_state(row: AnnotatorQuality) -> State:
    return State(value=row.suspend_statistic, since=row.suspend_since, events=row.suspend_events)


def evidence_apply(
    *, row: AnnotatorQuality, design: Design, evidence: list[tuple[str, bool | int, datetime]]
) -> None:
    """Add evidence to the row's suspension test (unsaved), piece by piece. The rule is judged
    after each piece: once the statistic has crossed, it stays where it crossed (the change point
    with it) and the caller suspends."""
    state = suspension_state(row)
    for kind, outcome, created_at in evidence:
        if state.crossed(design):
            break
        state.add(design=design, kind=kind, outcome=outcome, created_at=created_at)
    row.suspend_statistic, row.suspend_since, row.suspend_events = state.value, state.since, state.events


@dataclass(frozen=True)
class GoldStanding:
    """Gold accuracy as a Beta posterior: counts, posterior mean and 95% credible interval."""

    passed: int
    failed: int
    mean: float
    low: float
    high: float

    @property
    def seen(self) -> int:
        return self.passed + self.failed


def standing_of(passed: int, failed: int) -> GoldStanding:
    mean, low, high = beta_interval(passed, failed)
    return GoldStanding(passed=passed, failed=failed, mean=mean, low=low, high=high)


def rule_standing(row: AnnotatorQuality) -> GoldStanding:
    """The standing the suspension rule reads: golds since the last reinstatement."""
    return standing_of(
        row.gold_passed - row.gold_passed_at_reinstatement, row.gold_failed - row.gold_failed_at_reinstatement
    )


def should_suspend(row: AnnotatorQuality, project: Project) -> bool:
    """The suspension rule: the test crossed its threshold."""
    return suspension_state(row).crossed(project_design(project))


def suspension_details(row: AnnotatorQuality, project: Project) -> dict[str, Any]:
    """What a suspension records of the test: its state, threshold and design, and the silver
    grades of the labels from the change point on (how many, how many matched their item's
    consensus without them, their mean support in tenths)."""
    design = project_design(project)
    standing = rule_standing(row)
    silver: dict[str, Any] = {"n": 0, "agreed": 0, "support": None}
    if row.suspend_since is not None:
        silver = Label.objects.filter(
            project_id=project.pk,
            expert_id=row.expert_id,
            silver_support__isnull=False,
            created_at__gte=row.suspend_since,
        ).aggregate(
            n=Count("pk"), agreed=Count("pk", filter=Q(silver_passed=True)), support=Avg("silver_support")
        )
    return {
        "test": "cusum",
        "statistic_nats": row.suspend_statistic / SCALE,
        "threshold_nats": design.threshold / SCALE,
        "change_point": row.suspend_since.isoformat() if row.suspend_since else None,
        "evidence": row.suspend_events,
        "alpha": design.alpha,
        "horizon": design.horizon,
        "p0": design.gold.p0,
        "p1": design.gold.p1,
        "silver_p0": design.silver.p0,
        "silver_p1": round(1 / design.silver.choices, 4),
        "passed": standing.passed,
        "failed": standing.failed,
        "gold_threshold": project.gold_threshold,
        "gold_min_seen": project.gold_min_seen,
        "silver_graded": silver["n"],
        "silver_agreed": silver["agreed"],
        "silver_mean_support": None if silver["support"] is None else round(silver["support"] / GRID, 3),
    }


def gold_rules_apply(*, row: AnnotatorQuality, project: Project, suspended: bool | None = None) -> str:
    """Warn or suspend after new evidence (see the module's docstring). Returns the status.
    ``suspended``: whether the expert is suspended from the project, read when not given."""
    from annotate.quality.suspension import project_suspend

    if suspended is None:
        suspended = ProjectSuspension.objects.filter(
            project=project, expert_id=row.expert_id, active=True
        ).exists()
    if suspended:
        status = AnnotatorQuality.Status.SUSPENDED
    else:
        if should_suspend(row, project):
            project_suspend(
                project=project,
                expert_id=row.expert_id,
                reason="gold_accuracy",
                details=suspension_details(row, project),
                since=row.suspend_since,
            )
            row.refresh_from_db()
            return row.status
        standing = rule_standing(row)
        warned = standing.seen > 0 and standing.mean < project.gold_threshold
        status = AnnotatorQuality.Status.WARNED if warned else "ok"
        if status == AnnotatorQuality.Status.WARNED and row.status != status:
            user_id = row.expert.user_id
            notify_on_commit(
                user_group(user_id),
                {
                    "type": "quality.warning",
                    "project": str(project.pk),
                    "gold_accuracy": round(standing.mean, 3),
                    "gold_threshold": project.gold_threshold,
                    "message": "Your answers on check items fall below this project's standard: "
                    "please re-read the guidelines.",
                },
            )
    if row.status != status:
        AnnotatorQuality.objects.filter(pk=row.pk).update(status=status)
        row.status = status
    return status


def labels_from(*, project_id: Any, expert_id: Any, since: datetime | None):
    """The expert's ordinary labels in the project given at or after ``since`` (all of them
    when None), final items included: what a suspension leaves out of consensus."""
    labels = Label.objects.filter(project_id=project_id, expert_id=expert_id, is_gold=False)
    if since is not None:
        labels = labels.filter(created_at__gte=since)
    return labels
