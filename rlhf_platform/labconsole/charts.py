"""The console's progress and quality charts: the staff quality page's SVG builders
(:mod:`annotate.quality.charts`) over the lab's own figures. The lab sees what its API report
holds (items, labels, agreement, consensus), no chart per annotator."""

from __future__ import annotations

from typing import Any

from annotate.models import Project
from annotate.quality.chart_data import DAYS, alpha_timeline, confidence_histogram, throughput
from annotate.quality.charts import Chart, bar_chart, line_chart


def progress_charts(*, project: Project, progress: dict[str, Any]) -> list[Chart]:
    """The project page's charts: its items by state and its labels per day."""
    daily = throughput(project=project, unit="day")
    return [
        bar_chart(
            id="chart-states",
            title="Items by state",
            desc="The project's ordinary items (gold left out) in each state.",
            bars=list(progress["by_state"].items()),
            x_title="State",
            y_title="Items",
            empty="No item yet: upload a file of items.",
        ),
        bar_chart(
            id="chart-labels-day",
            title=f"Labels per day, last {DAYS} days",
            desc="Labels submitted each day (UTC), gold included.",
            bars=[(p["start"].strftime("%m-%d"), p["labels"]) for p in daily],
            x_title="Day (UTC)",
            y_title="Labels",
            empty=f"No label in the last {DAYS} days.",
        ),
    ]


def quality_charts(*, project: Project) -> list[Chart]:
    """The quality page's charts: agreement over time and the consensus's confidence."""
    timeline = alpha_timeline(project=project)
    histogram = confidence_histogram(project=project)
    return [
        line_chart(
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
        ),
        bar_chart(
            id="chart-confidence",
            title="Confidence of the consensus",
            desc="Items with a consensus, by the confidence of that consensus in bins of 0.1.",
            bars=[(f"{b['low']:.1f}–{b['high']:.1f}", b["items"]) for b in histogram],
            x_title="Confidence",
            y_title="Items",
            empty="No item has a consensus yet.",
        ),
    ]
