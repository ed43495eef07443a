"""The series behind the charts of a project's quality page (``annotate.quality.charts``).

Reads only. Every series but one is an aggregate the database computes (counts grouped by
hour, day or confidence bin; the per-annotator counters of ``AnnotatorQuality``), bounded by
a time window or a row limit, so the cost does not grow with the number of labels read in
Python. Alpha over time is the exception: Krippendorff's alpha is not an SQL aggregate, so it
is computed from the counted labels like the report's agreement section, without bootstrap,
at most :data:`ALPHA_POINTS` times, and cached until the counted labels change.
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.db.models.functions import Floor, TruncDay, TruncHour
from django.utils import timezone

from annotate.models import AnnotatorQuality, ItemConsensus, Label, Project, ProjectSuspension
from annotate.quality.charts import Chart, bar_chart, interval_chart, line_chart, scatter_chart
from annotate.quality.report import AGREEMENT_CACHE_SECONDS, LabelRow, alpha_entry, criteria_of
from annotate.quality.stats import beta_interval

CONFIDENCE_BINS = 10
DAYS = 30
HOURS = 48
ALPHA_POINTS = 12
ANNOTATOR_LIMIT = 40
STATUSES = ("active", "warned", "suspended")


# --- Series ----------------------------------------------------------------------------------


def confidence_histogram(*, project: Project, bins: int = CONFIDENCE_BINS) -> list[dict[str, Any]]:
    """Items of the project with a consensus, by confidence in ``bins`` equal bins of [0, 1]
    (a confidence of 1 falls in the last): one grouped count."""
    counts = [0] * bins
    rows = (
        ItemConsensus.objects.filter(item__project=project, item__is_gold=False)
        .annotate(bin=Floor(F("confidence") * bins))
        .values("bin")
        .annotate(n=Count("pk"))
        .values_list("bin", "n")
    )
    for index, n in rows:
        counts[min(max(int(index or 0), 0), bins - 1)] += n
    return [{"low": i / bins, "high": (i + 1) / bins, "items": n} for i, n in enumerate(counts)]


def throughput(
    *, project: Project, unit: str = "day", now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Labels submitted per ``unit`` (``day``: the last :data:`DAYS` days; ``hour``: the last
    :data:`HOURS` hours), gold labels counted apart, every period present (0 when none)."""
    now = now or timezone.now()
    if unit == "hour":
        last = now.replace(minute=0, second=0, microsecond=0)
        step, periods, trunc = dt.timedelta(hours=1), HOURS, TruncHour("created_at")
    else:
        last = now.replace(hour=0, minute=0, second=0, microsecond=0)
        step, periods, trunc = dt.timedelta(days=1), DAYS, TruncDay("created_at")
    first = last - step * (periods - 1)
    rows = (
        Label.objects.filter(project=project, created_at__gte=first)
        .annotate(period=trunc)
        .values("period")
        .annotate(n=Count("pk"), gold=Count("pk", filter=Q(is_gold=True)))
        .values_list("period", "n", "gold")
    )
    found = {period: (n, gold) for period, n, gold in rows}
    out = []
    for index in range(periods):
        start = first + step * index
        n, gold = found.get(start, (0, 0))
        out.append({"start": start, "labels": n, "gold": gold})
    return out


def gold_accuracy(*, project: Project, limit: int = ANNOTATOR_LIMIT) -> dict[str, Any]:
    """Per annotator with graded gold in the project (at most ``limit``, most graded first):
    the Beta(1, 1) posterior mean of their gold accuracy with its 95% interval
    (``annotate.quality.stats.beta_interval``, as the annotator table), their mean active
    seconds per label and their status. Annotators without graded gold are counted, not drawn."""
    suspended = ProjectSuspension.objects.filter(
        project=project, expert_id=OuterRef("expert_id"), active=True
    )
    rows = AnnotatorQuality.objects.filter(project=project).annotate(
        graded=F("gold_passed") + F("gold_failed"), is_suspended=Exists(suspended)
    )
    without = rows.filter(graded=0).count()
    picked = list(
        rows.filter(graded__gt=0)
        .order_by("-graded", "expert__pseudonym")
        .values(
            "expert__pseudonym",
            "gold_passed",
            "gold_failed",
            "status",
            "is_suspended",
            "active_seconds_sum",
            "active_seconds_count",
        )[:limit]
    )
    total = rows.filter(graded__gt=0).count()
    annotators = []
    for row in sorted(picked, key=lambda r: r["expert__pseudonym"]):
        mean, low, high = beta_interval(row["gold_passed"], row["gold_failed"])
        status = (
            "suspended" if row["is_suspended"] else ("active" if row["status"] == "ok" else row["status"])
        )
        count = row["active_seconds_count"]
        annotators.append(
            {
                "name": row["expert__pseudonym"],
                "passed": row["gold_passed"],
                "graded": row["gold_passed"] + row["gold_failed"],
                "mean": mean,
                "low": low,
                "high": high,
                "seconds_per_label": row["active_seconds_sum"] / count if count else None,
                "status": status,
            }
        )
    return {"annotators": annotators, "without_gold": without, "left_out": max(total - limit, 0)}


def _alpha_cache_key(project: Project) -> str:
    state = Label.objects.filter(project=project, is_gold=False, excluded_from_consensus=False).aggregate(
        n=Count("pk"), last=Max("created_at")
    )
    last = state["last"].isoformat() if state["last"] else "-"
    return f"quality-alpha-timeline:{project.pk}:{project.schema_version}:{state['n']}:{last}"


def alpha_timeline(*, project: Project, points: int = ALPHA_POINTS) -> dict[str, Any]:
    """Krippendorff's alpha of every criterion over the labels counted up to the end of each
    of at most ``points`` days, evenly spread from the first counted label's day to the last's
    (cumulative: each point is the agreement of everything labelled so far). A criterion rated
    on a Likert scale is shown at its ordinal level."""
    key = _alpha_cache_key(project)
    cached = cache.get(key)
    if cached is not None:
        return cached
    rows = (
        Label.objects.filter(project=project, is_gold=False, excluded_from_consensus=False)
        .order_by("created_at", "id")
        .values_list("item_id", "expert_id", "choice", "strength", "ranking", "criteria", "created_at")
    )
    labels, times = [], []
    for item, expert, choice, strength, ranking, criteria, created in rows.iterator(chunk_size=5000):
        labels.append(LabelRow(item, str(expert), None, choice, strength, ranking, criteria or {}, None))
        times.append(created)
    result: dict[str, Any] = {"days": [], "series": []}
    if labels:
        first, last = times[0].date(), times[-1].date()
        span = (last - first).days
        if span + 1 <= points:
            days = [first + dt.timedelta(days=i) for i in range(span + 1)]
        else:
            days = sorted({first + dt.timedelta(days=round(i * span / (points - 1))) for i in range(points)})
        series: dict[str, list[float | None]] = {}
        for n, day in enumerate(days):
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
            subset = labels[: bisect.bisect_left(times, end)]
            seen: set[str] = set()
            for criterion in criteria_of(project=project, rows=subset):
                if criterion.name in seen:
                    continue
                seen.add(criterion.name)
                series.setdefault(criterion.name, [None] * len(days))[n] = alpha_entry(criterion, n_boot=0)[
                    "alpha"
                ]
        result = {"days": [day.isoformat() for day in days], "series": list(series.items())}
    cache.set(key, result, AGREEMENT_CACHE_SECONDS)
    return result


# --- Charts ----------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def alpha_chart(timeline: dict[str, Any]) -> Chart:
    """Alpha over time, one line per criterion (from :func:`alpha_timeline`)."""
    return line_chart(
        id="chart-alpha",
        title="Agreement over time (Krippendorff's alpha, per criterion)",
        desc="Alpha of the labels counted up to the end of each day, one line per criterion; "
        "1 is perfect agreement, 0 is chance.",
        x_labels=timeline["days"],
        series=timeline["series"],
        x_title="Day (UTC, labels up to its end)",
        y_title="Alpha",
        y_range=(0.0, 1.0),
        empty="No agreement yet: alpha needs at least two items labelled by two annotators.",
    )


def daily_chart(daily: list[dict[str, Any]], *, chart_id: str = "chart-throughput-day") -> Chart:
    """Labels per day (from :func:`throughput` by day)."""
    return bar_chart(
        id=chart_id,
        title=f"Labels per day, last {DAYS} days",
        desc="Labels submitted each day (UTC), gold included.",
        bars=[(p["start"].strftime("%m-%d"), p["labels"]) for p in daily],
        x_title="Day (UTC)",
        y_title="Labels",
        empty=f"No label in the last {DAYS} days.",
    )


def confidence_chart(histogram: list[dict[str, Any]]) -> Chart:
    """Items by the confidence of their consensus (from :func:`confidence_histogram`)."""
    return bar_chart(
        id="chart-confidence",
        title="Confidence of the consensus",
        desc="Items with a consensus, by the confidence of that consensus in bins of 0.1.",
        bars=[(f"{b['low']:.1f}–{b['high']:.1f}", b["items"]) for b in histogram],
        x_title="Confidence",
        y_title="Items",
        empty="No item has a consensus yet.",
    )


def project_charts(*, project: Project, now: dt.datetime | None = None) -> list[Chart]:
    """The charts of a project's quality page, in the order shown."""
    timeline = alpha_timeline(project=project)
    daily = throughput(project=project, unit="day", now=now)
    hourly = throughput(project=project, unit="hour", now=now)
    histogram = confidence_histogram(project=project)
    gold = gold_accuracy(project=project)
    left_out = f"{gold['without_gold']} annotator(s) without graded gold are not drawn." + (
        f" {gold['left_out']} with the fewest graded gold are left out." if gold["left_out"] else ""
    )
    annotators = gold["annotators"]
    return [
        alpha_chart(timeline),
        daily_chart(daily),
        bar_chart(
            id="chart-throughput-hour",
            title=f"Labels per hour, last {HOURS} hours",
            desc="Labels submitted each hour (UTC), gold included.",
            bars=[(p["start"].strftime("%d %H:00"), p["labels"]) for p in hourly],
            x_title="Hour (UTC)",
            y_title="Labels",
            empty=f"No label in the last {HOURS} hours.",
        ),
        confidence_chart(histogram),
        interval_chart(
            id="chart-gold",
            title="Gold accuracy per annotator, with 95% intervals",
            desc="Each annotator's posterior mean gold accuracy (dot) and 95% credible interval "
            "(line), with the number right out of graded; the dashed line is the project's threshold.",
            rows=[{**a, "detail": f"{a['mean']:.2f} ({a['passed']}/{a['graded']})"} for a in annotators],
            x_title="Gold accuracy",
            reference=(project.gold_threshold, f"threshold {project.gold_threshold:.2f}"),
            empty="No annotator has graded gold yet.",
            note=left_out,
        ),
        scatter_chart(
            id="chart-speed",
            title="Gold accuracy against speed, per annotator",
            desc="One mark per annotator: mean active seconds per label across, gold accuracy up; "
            "the mark's shape is the annotator's status (circle active, square warned, triangle suspended).",
            points=[
                {"name": a["name"], "x": a["seconds_per_label"], "y": a["mean"], "group": a["status"]}
                for a in annotators
                if a["seconds_per_label"] is not None
            ],
            groups=STATUSES,
            x_title="Seconds per label (mean active time)",
            y_title="Gold accuracy",
            x_format=_seconds,
            empty="No annotator has both graded gold and timed labels yet.",
            note=left_out,
        ),
    ]
