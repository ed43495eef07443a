"""A suspended expert reads why on their quality page and goes to appeal; their inbox counts
the suspension unread and marks it read. Both pages: axe-core finds nothing serious or critical,
and nothing scrolls sideways at 390 px."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from annotate.models import AnnotatorQuality
from annotate.quality.reputation import suspension_details
from annotate.quality.suspension import project_suspend
from tests.browser.conftest import logged_in
from tests.factories import PASSWORD, ExpertProfileFactory, ProjectFactory

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect

AXE = next(
    (Path(settings.BASE_DIR) / "frontend_templates" / "static" / "vendor").glob("axe-core-*/axe.min.js")
)
AXE_RUN = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
  .filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)"""


def test_a_suspended_expert_reads_the_evidence_and_finds_the_appeal(live_server, browser):
    expert = ExpertProfileFactory(user__email="suspended@example.org")
    project = ProjectFactory(name="Cardiology answers", gold_threshold=0.8)
    row = AnnotatorQuality.objects.create(
        project=project,
        expert=expert,
        labels=30,
        gold_passed=2,
        gold_failed=6,
        suspend_statistic=140,
        suspend_since=timezone.now() - dt.timedelta(hours=3),
        suspend_events=14,
    )
    suspension = project_suspend(
        project=project, expert_id=expert.pk, reason="gold_accuracy", details=suspension_details(row, project)
    )

    context, page = logged_in(browser, live_server, expert.user.email, PASSWORD, bypass_csp=True)
    expect(page.locator("#inbox-unread")).to_have_text("1")
    page.get_by_role("link", name="Inbox, 1 unread").click()
    page.wait_for_url(re.compile(r"/inbox/$"))
    note = page.locator(".notification").first
    expect(note).to_contain_text("You are suspended from Cardiology answers")
    page.add_script_tag(path=str(AXE))
    assert page.evaluate(AXE_RUN) == []
    note.get_by_role("button", name="Mark read").click()
    expect(page.locator("#inbox-unread")).to_have_count(0)  # back on the inbox, nothing unread
    expect(page.locator(".notification.is-read")).to_have_count(1)

    page.locator(".notification").first.get_by_role("link", name="Open").click()  # read: a plain link
    expect(page).to_have_url(re.compile(rf"/me/quality/#suspension-{suspension.pk}$"))
    card = page.locator(f"#suspension-{suspension.pk}")
    expect(card.locator(".evidence")).to_contain_text("crossed its bound after 14 graded labels")
    expect(card.locator(".evidence")).to_contain_text("2 right, 6 missed")
    expect(page.locator(f"#project-{project.pk} .gold")).to_have_text("no gold yet")
    page.add_script_tag(path=str(AXE))
    assert page.evaluate(AXE_RUN) == []
    for path in ("/me/quality/", "/inbox/"):
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/me/quality/")

    page.get_by_role("link", name="Appeal this suspension").click()
    expect(page).to_have_url(re.compile(rf"/suspensions/#suspension-{suspension.pk}$"))
    expect(page.locator(f"#suspension-{suspension.pk}").get_by_label("Your appeal")).to_be_visible()
    assert page.errors == []
    context.close()
