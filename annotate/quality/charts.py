"""Charts of the staff quality pages, drawn on the server as SVG.

Each builder turns a series into a chart: the coordinates of its shapes (computed here, so
tests can check that values map to positions), its axis ticks, and the same numbers as a data
table (``chart.table``), which the page shows in a ``<details>`` under the figure. The
templates in ``frontend_templates/quality/charts/`` only print what the builder computed.

Readable without colour: every series has its own marker shape and dash style, lines and
bars carry direct labels, axes carry titles, and the ``<title>``/``<desc>`` of the SVG say in
words what it shows. The page's Content-Security-Policy (``style-src 'self'``) allows no
``style=`` attribute: shapes use presentation attributes (``fill``, ``stroke``,
``stroke-dasharray``) and the classes of ``css/charts.css``.

Numbers are written with ``.`` as the decimal point by Python (never by the template's
localisation), as SVG requires.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

WIDTH = 640
HEIGHT = 280
LEFT, RIGHT, TOP, BOTTOM = 60, 130, 16, 52
# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies); the shape
# and the dash style say the same, so the chart reads in grey too.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000")
SHAPES = ("circle", "square", "triangle", "diamond", "cross")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 4")


def num(value: float) -> str:
    """A coordinate for SVG: at most one decimal, ``.`` as the point."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high] (steps of 1, 2 or 5 x 10^k)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


@dataclass
class Scale:
    """Maps a value in [low, high] to a pixel in [start, end] (``end`` < ``start`` for y)."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return self.start + (value - self.low) / span * (self.end - self.start)


def _path(*points: tuple[float, float], close: bool = True) -> str:
    return "M" + "L".join(f"{num(x)} {num(y)}" for x, y in points) + ("z" if close else "")


def marker_path(shape: str, x: float, y: float, r: float = 4.5) -> str:
    """The ``d`` of a marker centred on (x, y)."""
    if shape == "square":
        return _path((x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r))
    if shape == "triangle":
        return _path((x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r))
    if shape == "diamond":
        return _path((x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y))
    if shape == "cross":
        return _path((x - r, y - r), (x + r, y + r), close=False) + _path(
            (x - r, y + r), (x + r, y - r), close=False
        )
    # A circle, as two arcs.
    arc = f"a{num(r)} {num(r)} 0 1 0"
    return f"M{num(x - r)} {num(y)}{arc} {num(2 * r)} 0{arc} {num(-2 * r)} 0"


@dataclass
class Chart:
    """What a chart template prints. ``empty`` (a sentence) replaces the drawing when there
    is nothing to draw; the data table is then left out too."""

    kind: str
    id: str
    title: str
    desc: str
    x_title: str = ""
    y_title: str = ""
    empty: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    left: float = LEFT
    x_ticks: list[dict[str, str]] = field(default_factory=list)
    y_ticks: list[dict[str, str]] = field(default_factory=list)
    shapes: list[dict[str, Any]] = field(default_factory=list)
    legend: list[dict[str, str]] = field(default_factory=list)
    table: dict[str, Any] = field(default_factory=dict)

    @property
    def plot(self) -> dict[str, str]:
        return {
            "left": num(self.left),
            "right": num(self.width - RIGHT),
            "top": num(TOP),
            "bottom": num(self.height - BOTTOM),
            "tick_y": num(self.height - BOTTOM + 16),
            "y_label_x": num(self.left - 6),
            "x_title_x": num((self.left + self.width - RIGHT) / 2),
            "x_title_y": num(self.height - 8),
            # The y title is turned a quarter: its x is along the (rotated) vertical.
            "y_title_x": num(-(TOP + self.height - BOTTOM) / 2),
        }

    def svg(self) -> SafeString:
        return render_to_string("quality/charts/figure.html", {"chart": self})


def _y_axis(chart: Chart, scale: Scale, ticks: Sequence[float], fmt: Callable[[float], str]) -> None:
    chart.y_ticks = [{"y": num(scale(t)), "label": fmt(t)} for t in ticks]


# An x tick label's width: at the SVG's font-size 11 a digit is about 6 units wide (6.5 to be
# safe), and labels keep a gap between them.
LABEL_CHAR_WIDTH = 6.5
LABEL_GAP = 8


def _x_label_every(labels: Sequence[str], spacing: float) -> int:
    """Print every n-th of ``labels`` placed ``spacing`` apart, so that no two overlap (the
    data table has them all)."""
    if not labels or spacing <= 0:
        return 1
    widest = max(len(label) for label in labels) * LABEL_CHAR_WIDTH + LABEL_GAP
    return max(1, math.ceil(widest / spacing))


def bar_chart(
    *,
    id: str,
    title: str,
    desc: str,
    bars: Sequence[tuple[str, float]],
    x_title: str,
    y_title: str,
    value_format: Callable[[float], str] = lambda v: f"{v:g}",
    empty: str = "No data yet.",
    columns: tuple[str, str] | None = None,
) -> Chart:
    """Vertical bars, one per ``(label, value)``; a bar's value is printed above it (a long
    series prints every n-th tick label, the data table has them all)."""
    chart = Chart("bar", id, title, desc, x_title, y_title)
    if not bars or not any(value for _, value in bars):
        chart.empty = empty
        return chart
    top_value = max(value for _, value in bars)
    ticks = nice_ticks(0, top_value)
    y = Scale(0, ticks[-1], HEIGHT - BOTTOM, TOP)
    _y_axis(chart, y, ticks, value_format)
    slot = (WIDTH - RIGHT - LEFT) / len(bars)
    every = _x_label_every([label for label, _ in bars], slot)
    for index, (label, value) in enumerate(bars):
        x = LEFT + slot * index + slot * 0.15
        height = y(0) - y(value)
        chart.shapes.append(
            {
                "x": num(x),
                "y": num(y(value)),
                "width": num(slot * 0.7),
                "height": num(height),
                "label": label,
                "value": value_format(value),
                "text_x": num(x + slot * 0.35),
                "text_y": num(y(value) - 4),
                "show_value": bool(value) and len(bars) <= 16,
            }
        )
        if index % every == 0:
            chart.x_ticks.append({"x": num(x + slot * 0.35), "label": label})
    chart.table = {
        "columns": list(columns or (x_title, y_title)),
        "rows": [[label, value_format(value)] for label, value in bars],
    }
    return chart


def line_chart(
    *,
    id: str,
    title: str,
    desc: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    x_title: str,
    y_title: str,
    y_range: tuple[float, float] | None = None,
    value_format: Callable[[float], str] = lambda v: f"{v:.2f}",
    empty: str = "No data yet.",
) -> Chart:
    """One line per series over the same x labels, each with its own dash style and marker
    shape and its name written at its last point; a missing value (None) breaks the line."""
    chart = Chart("line", id, title, desc, x_title, y_title)
    values = [v for _, points in series for v in points if v is not None]
    if not x_labels or not values:
        chart.empty = empty
        return chart
    low, high = y_range or (min(values), max(values))
    low, high = min(low, *values), max(high, *values)
    ticks = nice_ticks(low, high)
    y = Scale(ticks[0], ticks[-1], HEIGHT - BOTTOM, TOP)
    _y_axis(chart, y, ticks, value_format)
    step = (WIDTH - RIGHT - LEFT) / max(len(x_labels) - 1, 1)

    def x_of(index: int) -> float:
        return LEFT + step * index if len(x_labels) > 1 else (LEFT + WIDTH - RIGHT) / 2

    every = _x_label_every(x_labels, step)
    chart.x_ticks = [
        {"x": num(x_of(i)), "label": label} for i, label in enumerate(x_labels) if i % every == 0
    ]
    label_ys: list[float] = []
    for n, (name, points) in enumerate(series):
        style = {"stroke": COLOURS[n % len(COLOURS)], "dash": DASHES[n % len(DASHES)]}
        shape = SHAPES[n % len(SHAPES)]
        runs, run = [], []
        markers = []
        for i, value in enumerate(points):
            if value is None:
                if run:
                    runs.append(run)
                run = []
                continue
            run.append(f"{num(x_of(i))} {num(y(value))}")
            markers.append(marker_path(shape, x_of(i), y(value)))
        if run:
            runs.append(run)
        last = max((i for i, v in enumerate(points) if v is not None), default=None)
        if last is None:
            continue
        label_y = y(points[last])
        while any(abs(label_y - other) < 12 for other in label_ys):
            label_y += 12
        label_ys.append(label_y)
        chart.shapes.append(
            {
                **style,
                "name": name,
                "paths": ["M" + "L".join(r) for r in runs],
                "markers": markers,
                "label_x": num(x_of(last) + 8),
                "label_y": num(label_y + 4),
            }
        )
        chart.legend.append({"name": name, "shape": shape, **style})
    chart.table = {
        "columns": [x_title, *(name for name, _ in series)],
        "rows": [
            [label, *("—" if points[i] is None else value_format(points[i]) for _, points in series)]
            for i, label in enumerate(x_labels)
        ],
    }
    return chart


def interval_chart(
    *,
    id: str,
    title: str,
    desc: str,
    rows: Sequence[dict[str, Any]],
    x_title: str,
    reference: tuple[float, str] | None = None,
    empty: str = "No data yet.",
    note: str = "",
) -> Chart:
    """One row per entry (``name``, ``mean``, ``low``, ``high``, ``detail``) on a 0..1 scale:
    a dot at the mean, a whisker from low to high, the name on the left and the numbers on
    the right; ``reference`` is a dashed vertical line with its label (a threshold)."""
    row_height = 22
    height = TOP + BOTTOM + row_height * max(len(rows), 1)
    chart = Chart("interval", id, title, desc, x_title, "", height=height, left=LEFT + 70)
    if not rows:
        chart.empty = empty
        return chart
    left = chart.left
    x = Scale(0.0, 1.0, left, WIDTH - RIGHT)
    chart.x_ticks = [{"x": num(x(t)), "label": f"{t:.1f}"} for t in nice_ticks(0, 1)]
    for index, row in enumerate(rows):
        cy = TOP + row_height * (index + 0.5)
        chart.shapes.append(
            {
                "name": row["name"],
                "y": num(cy),
                "text_y": num(cy + 4),
                "x1": num(x(row["low"])),
                "x2": num(x(row["high"])),
                "marker": marker_path("circle", x(row["mean"]), cy, 4),
                "detail": row["detail"],
                "name_x": num(left - 8),
                "detail_x": num(WIDTH - RIGHT + 8),
            }
        )
    if reference is not None:
        chart.legend.append({"x": num(x(reference[0])), "label": reference[1], "label_y": num(TOP - 4)})
    chart.table = {
        "columns": ["Annotator", "Accuracy (posterior mean)", "95% interval", "Gold graded"],
        "rows": [
            [row["name"], f"{row['mean']:.2f}", f"{row['low']:.2f} to {row['high']:.2f}", row["detail"]]
            for row in rows
        ],
        "note": note,
    }
    return chart


def scatter_chart(
    *,
    id: str,
    title: str,
    desc: str,
    points: Sequence[dict[str, Any]],
    groups: Sequence[str],
    x_title: str,
    y_title: str,
    x_format: Callable[[float], str] = lambda v: f"{v:g}",
    y_format: Callable[[float], str] = lambda v: f"{v:.2f}",
    y_range: tuple[float, float] = (0.0, 1.0),
    empty: str = "No data yet.",
    note: str = "",
) -> Chart:
    """A point per entry (``name``, ``x``, ``y``, ``group``): its group is its marker shape
    (named in the legend), its name is written beside it."""
    chart = Chart("scatter", id, title, desc, x_title, y_title)
    if not points:
        chart.empty = empty
        return chart
    x_ticks = nice_ticks(0, max(p["x"] for p in points))
    y_ticks = nice_ticks(
        min(y_range[0], *(p["y"] for p in points)), max(y_range[1], *(p["y"] for p in points))
    )
    x = Scale(0, x_ticks[-1], LEFT, WIDTH - RIGHT)
    y = Scale(y_ticks[0], y_ticks[-1], HEIGHT - BOTTOM, TOP)
    _y_axis(chart, y, y_ticks, y_format)
    chart.x_ticks = [{"x": num(x(t)), "label": x_format(t)} for t in x_ticks]
    shape_of = {group: SHAPES[i % len(SHAPES)] for i, group in enumerate(groups)}
    for point in points:
        px, py = x(point["x"]), y(point["y"])
        right_side = px > LEFT + 0.75 * (WIDTH - RIGHT - LEFT)
        chart.shapes.append(
            {
                "name": point["name"],
                "group": point["group"],
                "cx": num(px),
                "cy": num(py),
                "marker": marker_path(shape_of[point["group"]], px, py),
                # Names near the right edge go left of their mark, clear of the legend.
                "label_x": num(px - 7 if right_side else px + 7),
                "label_y": num(py - 6),
                "anchor": "end" if right_side else "start",
            }
        )
    present = {p["group"] for p in points}
    chart.legend = [
        {
            "name": group,
            "marker": marker_path(shape_of[group], WIDTH - RIGHT + 20, TOP + 10 + 18 * i),
            "x": num(WIDTH - RIGHT + 30),
            "y": num(TOP + 14 + 18 * i),
        }
        for i, group in enumerate(g for g in groups if g in present)
    ]
    chart.table = {
        "columns": ["Annotator", x_title, y_title, "Status"],
        "rows": [[p["name"], x_format(p["x"]), y_format(p["y"]), p["group"]] for p in points],
        "note": note,
    }
    return chart
