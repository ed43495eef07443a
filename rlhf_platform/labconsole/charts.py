"""The console's progress and quality charts: the staff quality page's SVG builders
(:mod:`annotate.quality.charts`) over the lab's own figures. The lab sees what its API report
holds (items, labels, agreement, consensus), no chart per annotator."""

from __future__ import annotations

from typing import Any

from annotate.models import Project
from annotate.quality.chart_data import (
    alpha_chart,
    alpha_timeline,
    confidence_chart,
    confidence_histogram,
    daily_chart,
    throughput,
)
from annotate.quality.charts import Chart, bar_chart


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
        daily_chart(daily, chart_id="chart-labels-day"),
    ]


def quality_charts(*, project: Project) -> list[Chart]:
    """The quality page's charts: agreement over time and the consensus's confidence."""
    timeline = alpha_timeline(project=project)
    histogram = confidence_histogram(project=project)
    return [
        alpha_chart(timeline),
        confidence_chart(histogram),
    ]
