"""A suspended expert's journey in the browser: the inbox tells them of the suspension, the
quality page says which check they failed with its evidence and leads to the appeal; they
appeal (a too-short appeal first, refused at its field with the text kept); a staff reviewer
reinstates them on the appeals page; the expert's inbox has the decision, and the suspension
shows it. Drives Debian's Chromium through Playwright against the live server."""

from __future__ import annotations

import re

import pytest

from annotate.models import ProjectSuspension
from annotate.quality.suspension import project_suspend
from rlhf_platform.audit.models import AuditEvent
from tests.browser.conftest import logged_in
from tests.factories import PASSWORD, CredentialFactory, DomainFactory, ProjectFactory, StaffFactory

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect

APPEAL = "Two of the dosage check items contradict the guidelines, section 3."


@pytest.fixture
def expert(db):
    domain = DomainFactory(slug="oncology", name="Oncology")
    return CredentialFactory(domain=domain, approved=True, expert__user__email="appellant@example.org").expert


@pytest.fixture
def suspension(expert):
    project = ProjectFactory(domain=expert.credentials.get().domain, name="Oncology answers")
    return project_suspend(
        project=project,
        expert_id=expert.pk,
        reason="gold_accuracy",
        details={"passed": 1, "failed": 6, "mean": 0.2222, "high": 0.4822, "gold_threshold": 0.7},
    )


def test_expert_appeals_on_the_page_and_staff_reinstate_on_theirs(suspension, expert, live_server, browser):
    # The suspension first: its notification is sent before Playwright's event loop runs here.
    context, page = logged_in(browser, live_server, expert.user.email, PASSWORD)
    # The inbox: the suspension, unread; opening it leads to the reason on the quality page.
    page.get_by_role("link", name="Inbox, 1 unread").click()
    page.wait_for_url(re.compile(r"/inbox/$"))
    note = page.locator(".notification").first
    expect(note).to_contain_text("You are suspended from Oncology answers")
    note.get_by_role("button", name="Open").click()
    page.wait_for_url(re.compile(rf"/me/quality/#suspension-{suspension.pk}$"))
    expect(page.locator("#inbox-unread")).to_have_count(0)
    reason = page.locator(f"#suspension-{suspension.pk}")
    expect(reason.get_by_role("heading")).to_contain_text("active")
    expect(reason.locator(".evidence")).to_contain_text("1 of 7 answered as expected")
    reason.get_by_role("link", name="Appeal this suspension").click()
    page.wait_for_url(re.compile(rf"/suspensions/#suspension-{suspension.pk}$"))

    # The labelling page says why there is no work, and where to appeal.
    page.goto(f"{live_server.url}/label/?project={suspension.project_id}")
    expect(page.locator("#queue-empty")).to_have_attribute("data-reason", "suspended_in_project")
    expect(page.locator("#queue-empty-hint")).to_have_text("See why, and appeal, under Suspensions.")
    page.locator("#queue-empty-hint").get_by_role("link", name="Suspensions").click()
    page.wait_for_url(re.compile(r"/suspensions/$"))
    card = page.locator(f"#suspension-{suspension.pk}")
    expect(card.get_by_role("heading")).to_contain_text("Oncology answers")
    expect(card.locator(".evidence")).to_contain_text("1 of 7 answered as expected")

    # Too short: the service's refusal at the field, the text still there to finish.
    card.get_by_label("Your appeal").fill("Unfair.")
    card.get_by_role("button", name="Send the appeal").click()
    card = page.locator(f"#suspension-{suspension.pk}")
    expect(card.locator(".errorlist")).to_have_text("Explain your appeal (at least 10 characters).")
    expect(card.get_by_label("Your appeal")).to_have_value("Unfair.")

    card.get_by_label("Your appeal").fill(APPEAL)
    card.get_by_role("button", name="Send the appeal").click()
    page.wait_for_url(re.compile(r"/suspensions/$"))
    expect(page.locator(".messages")).to_contain_text("Appeal sent for “Oncology answers”")
    card = page.locator(f"#suspension-{suspension.pk}")
    expect(card.locator(".appeal-state")).to_contain_text("pending")
    expect(card.locator(".appeal-text")).to_have_text(APPEAL)
    expect(card.locator("textarea")).to_have_count(0)
    assert page.errors == []
    context.close()

    staff = StaffFactory(email="reviewer@example.org")
    staff_context, staff_page = logged_in(browser, live_server, staff.email, PASSWORD)
    staff_page.get_by_role("link", name="Appeals").click()
    staff_page.wait_for_url(re.compile(r"/staff/appeals/$"))
    row = staff_page.locator(f"#appeal-{suspension.pk}")
    expect(row.locator(".appeal-text")).to_have_text(APPEAL)
    expect(row.get_by_role("link", name="quality report")).to_have_attribute(
        "href", f"/staff/quality/projects/{suspension.project_id}/?status=suspended"
    )
    row.get_by_role("radio", name=re.compile(r"Reinstate")).check()
    row.get_by_label("Note to the expert").fill("The two dosage golds were wrong; removed.")
    row.get_by_role("button", name="Decide").click()
    staff_page.wait_for_url(re.compile(r"/staff/appeals/$"))
    expect(staff_page.locator(".messages")).to_contain_text(f"Reinstated: {expert.pseudonym}")
    expect(staff_page.locator(".notice")).to_have_text("No appeal is waiting.")
    assert staff_page.errors == []
    staff_context.close()

    suspension.refresh_from_db()
    assert not suspension.active and suspension.appeal == ProjectSuspension.Appeal.REINSTATED
    assert suspension.decided_by == staff
    actions = list(
        AuditEvent.objects.filter(target_id=str(suspension.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["quality.suspend", "quality.appeal", "quality.reinstate"]

    context, page = logged_in(browser, live_server, expert.user.email, PASSWORD)
    # The decision reaches the inbox; it leads to the suspension, ended, with the note.
    page.get_by_role("link", name="Inbox, 1 unread").click()
    page.wait_for_url(re.compile(r"/inbox/$"))
    note = page.locator(".notification.is-unread")
    expect(note).to_contain_text("Your appeal was accepted")
    note.get_by_role("button", name="Open").click()
    page.wait_for_url(re.compile(rf"/suspensions/#suspension-{suspension.pk}$"))
    card = page.locator(f"#suspension-{suspension.pk}")
    expect(card.get_by_role("heading")).to_contain_text("ended")
    expect(card.locator(".decision")).to_contain_text("Reinstated on")
    expect(card.locator(".decision-note")).to_have_text("The two dosage golds were wrong; removed.")
    page.goto(f"{live_server.url}/me/quality/")
    expect(page.locator(f"#suspension-{suspension.pk}").get_by_role("heading")).to_contain_text("ended")
    assert page.errors == []
    context.close()
