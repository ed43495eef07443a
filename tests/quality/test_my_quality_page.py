"""The expert's quality page (``/me/quality/``): gold accuracy as the gold review allows it ("no
gold yet" with none, never up to the minute), warnings from the inbox, and a suspension's reason
with the sequential test's evidence in words and the link to appeal it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from annotate.models import AnnotatorQuality
from annotate.quality.reputation import suspension_details
from annotate.quality.suspension import project_suspend
from rlhf_platform.accounts.models import Notification
from rlhf_platform.accounts.notifications import notify_on_commit, user_group
from tests.factories import ExpertProfileFactory, ItemFactory, LabelFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def expert():
    return ExpertProfileFactory()


@pytest.fixture
def project():
    return ProjectFactory(name="Cardiology answers", gold_threshold=0.8)


def _gold_label(*, project, expert, passed: bool, days_ago: int):
    item = ItemFactory(project=project, batch__project=project, is_gold=True, gold={"choice": "A"})
    when = timezone.now() - dt.timedelta(days=days_ago)
    return LabelFactory(item=item, expert=expert, is_gold=True, gold_passed=passed, created_at=when)


def test_a_suspension_reads_its_test_in_words_and_links_the_appeal(expert, project):
    row = AnnotatorQuality.objects.create(
        project=project,
        expert=expert,
        labels=40,
        gold_passed=3,
        gold_failed=5,
        suspend_statistic=1390,
        suspend_since=timezone.now() - dt.timedelta(hours=2),
        suspend_events=12,
    )
    suspension = project_suspend(
        project=project, expert_id=expert.pk, reason="gold_accuracy", details=suspension_details(row, project)
    )
    html = _browser(expert.user).get("/me/quality/").content.decode()
    card = html[html.index(f'id="suspension-{suspension.pk}"') :]
    assert "Cardiology answers" in card
    assert "The sequential test on your gold and silver grades" in card
    assert "crossed its bound after 12 graded labels" in card
    assert "reached 13.9, above the bound of 13.6" in card
    assert "3 right, 5 missed" in card
    assert "(80% right on check items) is suspended by mistake with a probability of at most 1 in 2,000" in (
        card
    )
    assert f'href="/suspensions/#suspension-{suspension.pk}">Appeal this suspension</a>' in card
    # The suspension was sent to the expert's inbox, linking here.
    note = Notification.objects.get(user=expert.user, kind="quality.suspended")
    assert note.link == f"/me/quality/#suspension-{suspension.pk}"
    # The suspensions page, where the appeal form is, reads the same evidence.
    page = _browser(expert.user).get("/suspensions/").content.decode()
    assert "crossed its bound after 12 graded labels" in page


def test_an_appealed_suspension_shows_its_state_instead_of_the_link(expert, project):
    suspension = project_suspend(
        project=project, expert_id=expert.pk, reason="staff", details={"note": "Copied answers."}
    )
    suspension.appeal = "pending"
    suspension.save()
    card = _browser(expert.user).get("/me/quality/").content.decode()
    card = card[card.index(f'id="suspension-{suspension.pk}"') :]
    assert "Suspended by platform staff (note: Copied answers.)" in card
    assert "Appeal this suspension" not in card and "pending" in card


def test_a_suspension_tells_how_the_answers_on_finished_items_were_graded(expert, project):
    since = timezone.now() - dt.timedelta(hours=2)
    before = ItemFactory(project=project, batch__project=project)
    LabelFactory(
        item=before,
        expert=expert,
        silver_support=0,
        silver_passed=False,
        created_at=since - dt.timedelta(hours=1),
    )
    for support, passed in ((1, False), (10, True), (1, False), (0, False)):
        item = ItemFactory(project=project, batch__project=project)
        LabelFactory(
            item=item,
            expert=expert,
            silver_support=support,
            silver_passed=passed,
            created_at=since + dt.timedelta(minutes=5),
        )
    row = AnnotatorQuality.objects.create(
        project=project,
        expert=expert,
        labels=5,
        suspend_statistic=1400,
        suspend_since=since,
        suspend_events=4,
    )
    details = suspension_details(row, project)
    # Only the labels from the change point on.
    assert (details["silver_graded"], details["silver_agreed"], details["silver_mean_support"]) == (4, 1, 0.3)
    suspension = project_suspend(
        project=project, expert_id=expert.pk, reason="gold_accuracy", details=details
    )
    card = _browser(expert.user).get("/me/quality/").content.decode()
    card = card[card.index(f'id="suspension-{suspension.pk}"') :]
    assert (
        "On finished items from where the run began, 4 of your answers were set against the other labels: "
        "1 matched their consensus, and the other labels gave your answers 30% probability on average."
    ) in card


def test_no_gold_reads_no_gold_yet(expert, project):
    AnnotatorQuality.objects.create(project=project, expert=expert, labels=3)
    html = _browser(expert.user).get("/me/quality/").content.decode()
    row = html[html.index(f'id="project-{project.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "no gold yet" in row and "0/0" not in row and "0.50" not in row and "0%" not in row
    assert 'All projects: <span class="gold-none">no gold yet</span>.</p>' in html  # no space before the stop


def test_gold_answered_today_does_not_show_until_tomorrow(expert, project):
    """A gold label graded today changes nothing on the page: the figure is a day late, so it
    never tells which item just answered was gold."""
    AnnotatorQuality.objects.create(project=project, expert=expert, labels=1, gold_passed=1)
    _gold_label(project=project, expert=expert, passed=True, days_ago=0)
    assert "no gold yet" in _browser(expert.user).get("/me/quality/").content.decode()


def test_gold_accuracy_below_and_above_the_minimum(expert, project):
    AnnotatorQuality.objects.create(project=project, expert=expert, labels=12)
    _gold_label(project=project, expert=expert, passed=False, days_ago=2)
    html = _browser(expert.user).get("/me/quality/").content.decode()
    assert "no gold yet" not in html and "shown once 10 of your gold items" in html
    for n in range(9):
        _gold_label(project=project, expert=expert, passed=True, days_ago=2)
    html = _browser(expert.user).get("/me/quality/").content.decode()
    assert "<strong>90%</strong> right over 10 graded gold items" in html


def test_warnings_come_from_the_inbox_and_only_ones_own(expert, project):
    other = ExpertProfileFactory()
    for person, text in ((expert, "Mine."), (other, "Theirs.")):
        event = {"type": "quality.warning", "project": str(project.pk), "message": text}
        notify_on_commit(user_group(person.user_id), event)
    html = _browser(expert.user).get("/me/quality/").content.decode()
    warnings = html[html.index('id="warnings"') :]
    assert "Mine." in warnings and "Theirs." not in html


def test_a_person_without_an_expert_profile_is_told_so():
    html = _browser(UserFactory()).get("/me/quality/").content.decode()
    assert "Quality concerns experts" in html


def test_the_gold_review_page_says_no_gold_yet_too(expert, project):
    html = _browser(expert.user).get("/label/gold-review/").content.decode()
    assert "No gold yet" in html and "Shown once" not in html
    _gold_label(project=project, expert=expert, passed=True, days_ago=1)
    html = _browser(expert.user).get("/label/gold-review/").content.decode()
    assert "No gold yet" not in html and "Shown once 10 of your gold items" in html


def test_the_suspension_notice_names_its_reason(expert, project):
    """A group suspension is not announced as failed check items."""
    project_suspend(project=project, expert_id=expert.pk, reason="group", details={"members": 2})
    other = ExpertProfileFactory()
    project_suspend(project=project, expert_id=other.pk, reason="gold_accuracy", details={})
    group_note = Notification.objects.get(user=expert.user, kind="quality.suspended").message
    gold_note = Notification.objects.get(user=other.user, kind="quality.suspended").message
    assert "acts as one with others" in group_note and "check items" not in group_note
    assert "answers on check items fell below its standard" in gold_note
