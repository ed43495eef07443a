"""The SVG chart builders: values land where the scales put them, nothing to draw says so,
every chart is readable without colour and carries its numbers as a table, and no chart
uses a ``style=`` attribute (the Content-Security-Policy allows none)."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from annotate.quality.charts import (
    BOTTOM,
    HEIGHT,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    Scale,
    bar_chart,
    interval_chart,
    line_chart,
    marker_path,
    nice_ticks,
    scatter_chart,
)

SVG = "{http://www.w3.org/2000/svg}"


def _svg(chart) -> ElementTree.Element:
    html = str(chart.svg())
    match = re.search(r"<svg.*?</svg>", html, re.S)
    assert match, html
    return ElementTree.fromstring(match.group(0))


def _bars():
    return bar_chart(
        id="c-bars",
        title="Labels per day",
        desc="Labels each day.",
        bars=[("12-01", 0), ("12-02", 5), ("12-03", 10)],
        x_title="Day",
        y_title="Labels",
    )


def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = nice_ticks(0, 37)
    assert ticks[0] == 0 and ticks[-1] >= 37 and ticks[1] == 10


def test_a_scale_maps_the_ends_and_the_middle():
    y = Scale(0, 10, 200, 0)
    assert (y(0), y(5), y(10)) == (200, 100, 0)


def test_bar_heights_are_proportional_to_the_values_and_stand_on_the_axis():
    chart = _bars()
    zero, five, ten = chart.shapes
    bottom = HEIGHT - BOTTOM
    assert float(zero["height"]) == 0
    assert float(ten["height"]) == pytest.approx(2 * float(five["height"]), abs=0.2)
    # 10 is the top tick: the tallest bar reaches the top of the plot.
    assert float(ten["y"]) == pytest.approx(TOP, abs=0.1)
    for bar in chart.shapes:
        assert float(bar["y"]) + float(bar["height"]) == pytest.approx(bottom, abs=0.2)
    # The bars go left to right in order, inside the plot.
    xs = [float(bar["x"]) for bar in chart.shapes]
    assert xs == sorted(xs) and xs[0] >= LEFT and xs[-1] < WIDTH - RIGHT


def test_the_rendered_bars_carry_the_computed_coordinates():
    svg = _svg(_bars())
    rects = svg.findall(f".//{SVG}rect")
    assert [r.get("height") for r in rects] == [bar["height"] for bar in _bars().shapes]
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Labels per day"
    assert svg.find(f"{SVG}desc").text == "Labels each day."
    assert svg.get("aria-labelledby") == "c-bars-title c-bars-desc"
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "Day" in texts and "Labels" in texts  # the axis titles
    assert "10" in texts and "5" in texts  # the values, written on the bars


def test_a_line_chart_gives_each_series_its_own_dash_and_marker_and_a_direct_label():
    chart = line_chart(
        id="c-alpha",
        title="Alpha",
        desc="Alpha per day.",
        x_labels=["d1", "d2", "d3"],
        series=[("choice", [0.2, 0.5, 1.0]), ("strength", [None, 0.4, 0.6])],
        x_title="Day",
        y_title="Alpha",
        y_range=(0.0, 1.0),
    )
    choice, strength = chart.shapes
    assert choice["dash"] != strength["dash"]
    assert {entry["shape"] for entry in chart.legend} == {"circle", "square"}
    # 0..1 over the plot's height: 1.0 at the top, 0.2 at four fifths down.
    last = choice["paths"][0].split("L")[-1].split()
    assert float(last[1]) == pytest.approx(TOP, abs=0.1)
    first = choice["paths"][0][1:].split("L")[0].split()
    assert float(first[1]) == pytest.approx(TOP + 0.8 * (HEIGHT - BOTTOM - TOP), abs=0.2)
    # A missing value leaves the line out there: strength starts at the second day.
    assert float(strength["paths"][0][1:].split()[0]) > LEFT
    svg = _svg(chart)
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "choice" in labels and "strength" in labels
    assert chart.table["rows"][0] == ["d1", "0.20", "—"]


def test_interval_rows_put_the_dot_at_the_mean_and_the_whisker_on_the_interval():
    chart = interval_chart(
        id="c-gold",
        title="Gold",
        desc="Gold accuracy.",
        rows=[{"name": "owl", "mean": 0.5, "low": 0.25, "high": 0.75, "detail": "0.50 (1/2)"}],
        x_title="Accuracy",
        reference=(0.7, "threshold 0.70"),
    )
    row = chart.shapes[0]
    left, right = chart.left, WIDTH - RIGHT
    assert float(row["x1"]) == pytest.approx(left + 0.25 * (right - left), abs=0.1)
    assert float(row["x2"]) == pytest.approx(left + 0.75 * (right - left), abs=0.1)
    centre = left + 0.5 * (right - left)
    assert row["marker"].startswith(f"M{centre - 4:g}")
    assert float(chart.legend[0]["x"]) == pytest.approx(left + 0.7 * (right - left), abs=0.1)
    texts = [t.text for t in _svg(chart).iter(f"{SVG}text")]
    assert "owl" in texts and "0.50 (1/2)" in texts and "threshold 0.70" in texts
    assert chart.table["rows"] == [["owl", "0.50", "0.25 to 0.75", "0.50 (1/2)"]]


def test_scatter_points_take_their_groups_shape_and_their_names():
    chart = scatter_chart(
        id="c-speed",
        title="Speed",
        desc="Accuracy against speed.",
        points=[
            {"name": "owl", "x": 10, "y": 1.0, "group": "active"},
            {"name": "cat", "x": 5, "y": 0.5, "group": "warned"},
        ],
        groups=("active", "warned", "suspended"),
        x_title="Seconds",
        y_title="Accuracy",
    )
    owl, cat = chart.shapes
    assert float(owl["cx"]) == pytest.approx(WIDTH - RIGHT, abs=0.1)  # 10 is the top tick
    assert float(cat["cx"]) == pytest.approx((LEFT + WIDTH - RIGHT) / 2, abs=0.1)
    assert float(owl["cy"]) == pytest.approx(TOP, abs=0.1)
    assert owl["marker"] == marker_path("circle", float(owl["cx"]), float(owl["cy"]))
    assert cat["marker"] == marker_path("square", float(cat["cx"]), float(cat["cy"]))
    # The legend names only the groups present, each with its shape.
    assert [entry["name"] for entry in chart.legend] == ["active", "warned"]
    texts = [t.text for t in _svg(chart).iter(f"{SVG}text")]
    assert {"owl", "cat", "active", "warned", "Seconds", "Accuracy"} <= set(texts)


@pytest.mark.parametrize(
    "chart",
    [
        bar_chart(id="e1", title="T", desc="D", bars=[], x_title="x", y_title="y", empty="No label yet."),
        bar_chart(
            id="e2", title="T", desc="D", bars=[("a", 0)], x_title="x", y_title="y", empty="No label yet."
        ),
        line_chart(
            id="e3",
            title="T",
            desc="D",
            x_labels=[],
            series=[],
            x_title="x",
            y_title="y",
            empty="No label yet.",
        ),
        interval_chart(id="e4", title="T", desc="D", rows=[], x_title="x", empty="No label yet."),
        scatter_chart(
            id="e5",
            title="T",
            desc="D",
            points=[],
            groups=("a",),
            x_title="x",
            y_title="y",
            empty="No label yet.",
        ),
    ],
)
def test_a_chart_without_data_says_so_instead_of_drawing(chart):
    html = str(chart.svg())
    assert "No label yet." in html
    assert "<svg" not in html and "<table" not in html


def test_no_chart_uses_a_style_attribute_and_each_has_its_data_table():
    charts = [
        _bars(),
        line_chart(
            id="l", title="T", desc="D", x_labels=["a"], series=[("s", [0.5])], x_title="x", y_title="y"
        ),
        interval_chart(
            id="i",
            title="T",
            desc="D",
            rows=[{"name": "n", "mean": 0.5, "low": 0.1, "high": 0.9, "detail": "d"}],
            x_title="x",
        ),
        scatter_chart(
            id="s",
            title="T",
            desc="D",
            points=[{"name": "n", "x": 1, "y": 0.5, "group": "g"}],
            groups=("g",),
            x_title="x",
            y_title="y",
        ),
    ]
    for chart in charts:
        html = str(chart.svg())
        assert not re.search(r"\sstyle\s*=", html), chart.kind
        assert "<details" in html and "<table>" in html and f"<caption>{chart.title}</caption>" in html
        assert 'scope="col"' in html


@pytest.mark.parametrize(
    ("count", "label"),
    [(48, "03 09:00"), (30, "11-06"), (10, "0.0–0.1"), (60, "2026-12-05")],
)
def test_x_tick_labels_never_overlap_however_long_or_many(count, label):
    """Labels per hour read "03 09:00": twelve of them on the axis overlapped. Ticks are kept
    at least a label's width (11-unit digits, 6.5 each, and a gap) apart."""
    labels = [label] * count
    bars = bar_chart(
        id="c-many", title="T", desc="D", bars=[(x, 1) for x in labels], x_title="x", y_title="y"
    )
    line = line_chart(
        id="l-many",
        title="T",
        desc="D",
        x_labels=labels,
        series=[("s", [0.5] * count)],
        x_title="x",
        y_title="y",
    )
    for chart in (bars, line):
        xs = [float(tick["x"]) for tick in chart.x_ticks]
        assert len(xs) >= 2
        gaps = [b - a for a, b in zip(xs, xs[1:], strict=False)]
        assert min(gaps) >= len(label) * 6.5, (chart.kind, min(gaps))
