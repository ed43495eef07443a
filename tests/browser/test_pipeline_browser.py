"""Staff watch the pipeline's backlog on /staff/pipeline/: the table is read again every few
seconds without a reload, so a stage falling behind shows up on an open page, under the
production Content-Security-Policy. Drives Debian's Chromium through Playwright."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rlhf_platform.accounts.models import User
from tests.browser.conftest import logged_in
from tests.browser.test_csp_browser import _policy_refusals
from tests.factories import PASSWORD, LabelFactory, StaffFactory

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect


def test_an_open_pipeline_page_shows_a_stage_falling_behind(live_server, browser):
    staff = StaffFactory(staff_role=User.StaffRole.REVIEWER)
    context, page = logged_in(browser, live_server, staff.email, PASSWORD)
    refusals = _policy_refusals(page)
    page.goto(f"{live_server.url}/profile/")
    page.get_by_role("navigation", name="Staff").get_by_role("link", name="Pipeline").click()
    expect(page.locator("h1")).to_have_text("Pipeline")
    expect(page.locator("#pipeline-behind")).to_have_text("Every stage is within its goal.")
    quality = page.locator('#pipeline-stages tr[data-stage="quality"]')
    expect(quality.locator("td").nth(1)).to_have_text("0")
    page.evaluate("window.notReloaded = true")

    # Two labels whose after-submit step has not run, the oldest for a minute.
    for seconds in (60, 1):
        LabelFactory(created_at=timezone.now() - dt.timedelta(seconds=seconds))

    expect(page.locator("#pipeline-behind")).to_have_text("Behind: quality.", timeout=15_000)
    expect(quality.locator("td").nth(1)).to_have_text("2")
    expect(quality.locator("td").nth(4)).to_have_text("behind")
    # The live region says what changed, once.
    expect(page.locator("#pipeline-status")).to_have_text("Behind: quality.")
    assert page.evaluate("window.notReloaded") is True  # the table was swapped, the page kept
    assert refusals == []
    assert page.errors == []
    context.close()
