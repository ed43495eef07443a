"""The series of the quality charts (grouped in the database), the charts on a project's
quality page with their data tables, the charts' fragment URL, and the staff channel's
"quality changed" event: after commit, throttled per project, never for a rolled-back step."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.utils import timezone

from annotate.models import AnnotatorQuality, ProjectSuspension
from annotate.quality import chart_data
from annotate.quality.reputation import QualityDelta, deltas_apply
from rlhf_platform.accounts import notifications
from rlhf_platform.accounts.notifications import STAFF_GROUP
from tests.factories import (
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 15, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def project():
    return ProjectFactory(name="Contract review", gold_threshold=0.7)


def _label(project, *, at, expert=None, choice="A", item=None, **fields):
    item = item or ItemFactory(project=project, batch__project=project)
    return LabelFactory(
        item=item, expert=expert or ExpertProfileFactory(), choice=choice, created_at=at, **fields
    )


def test_throughput_counts_labels_per_day_and_hour_in_the_window_with_empty_periods(project):
    for hours in (0, 1, 1, 26):
        _label(project, at=NOW - dt.timedelta(hours=hours))
    gold_item = ItemFactory(project=project, batch__project=project, is_gold=True, gold={"choice": "A"})
    _label(project, at=NOW, item=gold_item)
    _label(project, at=NOW - dt.timedelta(days=40))  # outside both windows
    _label(ProjectFactory(), at=NOW)  # another project

    daily = chart_data.throughput(project=project, unit="day", now=NOW)
    assert len(daily) == chart_data.DAYS
    assert daily[-1]["start"] == dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    assert (daily[-1]["labels"], daily[-1]["gold"]) == (4, 1)  # 15:30, 14:30 twice, the gold
    assert daily[-2]["labels"] == 1 and sum(p["labels"] for p in daily) == 5

    hourly = chart_data.throughput(project=project, unit="hour", now=NOW)
    assert len(hourly) == chart_data.HOURS
    assert [p["labels"] for p in hourly[-3:]] == [0, 2, 2]
    assert hourly[-27]["labels"] == 1


def test_confidence_histogram_groups_consensus_in_tenths_and_puts_one_in_the_last_bin(project):
    for confidence in (0.05, 0.55, 0.59, 0.9999, 1.0):
        ItemConsensusFactory(item=ItemFactory(project=project, batch__project=project), confidence=confidence)
    histogram = chart_data.confidence_histogram(project=project)
    assert [b["items"] for b in histogram] == [1, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    assert (histogram[0]["low"], histogram[-1]["high"]) == (0.0, 1.0)


def test_gold_accuracy_has_intervals_statuses_and_leaves_out_who_has_no_gold(project):
    sharp, slow, fresh, banned = (
        ExpertProfileFactory(pseudonym=n) for n in ("sharp", "slow", "fresh", "banned")
    )
    AnnotatorQuality.objects.create(
        project=project,
        expert=sharp,
        gold_passed=9,
        gold_failed=1,
        active_seconds_sum=300,
        active_seconds_count=10,
    )
    AnnotatorQuality.objects.create(
        project=project, expert=slow, gold_passed=1, gold_failed=3, status="warned"
    )
    AnnotatorQuality.objects.create(project=project, expert=fresh, labels=4)
    AnnotatorQuality.objects.create(project=project, expert=banned, gold_passed=0, gold_failed=5)
    ProjectSuspension.objects.create(project=project, expert=banned, reason="gold")

    gold = chart_data.gold_accuracy(project=project)
    rows = {a["name"]: a for a in gold["annotators"]}
    assert set(rows) == {"sharp", "slow", "banned"} and gold["without_gold"] == 1
    assert rows["sharp"]["mean"] == pytest.approx(10 / 12)  # Beta(1 + 9, 1 + 1)
    assert rows["sharp"]["low"] < rows["sharp"]["mean"] < rows["sharp"]["high"]
    assert rows["sharp"]["seconds_per_label"] == 30 and rows["slow"]["seconds_per_label"] is None
    assert [rows[n]["status"] for n in ("sharp", "slow", "banned")] == ["active", "warned", "suspended"]
    limited = chart_data.gold_accuracy(project=project, limit=2)
    assert [a["name"] for a in limited["annotators"]] == ["banned", "sharp"] and limited["left_out"] == 1


def test_alpha_over_time_is_the_agreement_of_the_labels_up_to_each_day(project):
    first, second = ExpertProfileFactory(), ExpertProfileFactory()
    day1, day2 = NOW - dt.timedelta(days=1), NOW
    for n in range(4):  # day 1: the two agree on every item
        item = ItemFactory(project=project, batch__project=project)
        _label(project, at=day1, expert=first, item=item, choice="AB"[n % 2])
        _label(project, at=day1, expert=second, item=item, choice="AB"[n % 2])
    for n in range(4):  # day 2: they disagree on every item
        item = ItemFactory(project=project, batch__project=project)
        _label(project, at=day2, expert=first, item=item, choice="A")
        _label(project, at=day2, expert=second, item=item, choice="B")
    timeline = chart_data.alpha_timeline(project=project)
    assert timeline["days"] == [day1.date().isoformat(), day2.date().isoformat()]
    series = dict(timeline["series"])
    assert series["choice"][0] == 1.0
    assert series["choice"][1] < 0.5
    assert "strength" in series


def test_the_project_page_shows_each_chart_with_its_numbers(project):
    expert = ExpertProfileFactory(pseudonym="careful-owl")
    AnnotatorQuality.objects.create(
        project=project,
        expert=expert,
        gold_passed=3,
        gold_failed=1,
        active_seconds_sum=80,
        active_seconds_count=4,
    )
    ItemConsensusFactory(item=ItemFactory(project=project, batch__project=project), confidence=0.85)
    _label(project, at=timezone.now())
    client = Client()
    client.force_login(StaffFactory())
    page = client.get(f"/staff/quality/projects/{project.pk}/").content.decode()
    for chart in (
        "chart-alpha",
        "chart-throughput-day",
        "chart-throughput-hour",
        "chart-confidence",
        "chart-gold",
        "chart-speed",
    ):
        assert f'id="{chart}"' in page
    figures = re.findall(r'<figure class="chart".*?</figure>', page, re.S)
    drawn = [f for f in figures if "<svg" in f]
    assert len(drawn) == 5  # alpha needs two annotators on an item: it says so instead
    for figure in drawn:
        assert "<details" in figure and "<table>" in figure and "<title" in figure and "<desc" in figure
    assert "No agreement yet" in page
    gold = next(f for f in figures if 'id="chart-gold"' in f)
    assert "careful-owl" in gold and "0.67 (3/4)" in gold and "threshold 0.70" in gold
    confidence = next(f for f in figures if 'id="chart-confidence"' in f)
    assert '<th scope="row">0.8–0.9</th><td>1</td>' in confidence
    assert not re.search(r"<(svg|path|rect|text|line|g)\b[^>]*\sstyle=", page)
    assert "js/quality_live.js" in page and "css/charts.css" in page


def test_the_charts_fragment_is_the_charts_alone_for_staff_only(project):
    staff = Client()
    staff.force_login(StaffFactory())
    url = f"/staff/quality/projects/{project.pk}/charts/"
    fragment = staff.get(url)
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="quality-charts"') and "<html" not in html
    assert 'id="chart-confidence"' in html
    assert (
        staff.get("/staff/quality/projects/00000000-0000-0000-0000-000000000000/charts/").status_code == 404
    )
    expert = Client()
    expert.force_login(ExpertProfileFactory().user)
    assert expert.get(url).status_code == 403


@pytest.fixture
def pushed(monkeypatch):
    sent = []
    monkeypatch.setattr(notifications, "_send", lambda group, event: sent.append((group, event)))
    return sent


def _quality_step(project):
    deltas_apply(project_id=project.pk, deltas={ExpertProfileFactory().pk: QualityDelta(labels=1)})


def test_a_quality_step_tells_staff_after_commit_once_per_window_per_project(
    project, pushed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            _quality_step(project)
            assert pushed == []
    assert pushed == [(STAFF_GROUP, {"type": "quality.changed", "project": str(project.pk)})]
    with django_capture_on_commit_callbacks(execute=True):
        _quality_step(project)  # within the window: held back (the page fetches once more)
        other = ProjectFactory()
        _quality_step(other)
    assert [event["project"] for _, event in pushed] == [str(project.pk), str(other.pk)]
    cache.delete(f"quality-changed-sent:{project.pk}")  # the window is over
    with django_capture_on_commit_callbacks(execute=True):
        _quality_step(project)
    assert len(pushed) == 3


def test_a_rolled_back_quality_step_tells_nobody(project, pushed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            _quality_step(project)
            raise RuntimeError
    assert pushed == []
