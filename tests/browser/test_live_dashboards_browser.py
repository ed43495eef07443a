"""Live without a reload: a staff decision finalises an item; the labelling and earnings pages
of the expert whose label it rewards show the new earnings, and the staff quality page redraws
its charts. An expert's label changes the tables of an open staff quality page and the count
on the open projects list, and an item sent to adjudication appears on the open queue, under
the production Content-Security-Policy, axe-core clean.

The real ASGI application (HTTP and websockets) under uvicorn (``asgi_server``); the staff
decision goes through that server, so the pushes leave from its own event loop as in
production. Drives Debian's Chromium through Playwright.
"""

from __future__ import annotations

import re

import pytest

from annotate.models import Assignment, Item
from rlhf_platform.accounts.models import User
from tests.browser.conftest import logged_in
from tests.browser.test_accessibility_browser import AXE, BLOCKING, RUN
from tests.browser.test_credential_flow_browser import asgi_server  # noqa: F401 - a fixture
from tests.browser.test_csp_browser import _policy_refusals
from tests.factories import PASSWORD, BatchFactory, ItemFactory, LabelFactory, ProjectFactory, StaffFactory
from tests.quality.pipeline import display_choice, expert_for, next_assignment, submit
from tests.rewards.conftest import TOKEN, credit, policy_for

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect


class _Server:
    def __init__(self, url: str) -> None:
        self.url = url


# WhiteNoise serves static files as synchronous streams; under ASGI Django says so.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_a_decision_ticks_the_experts_earnings_and_redraws_the_staff_charts(asgi_server, browser):  # noqa: F811
    server = _Server(asgi_server)
    staff = StaffFactory(staff_role=User.StaffRole.REVIEWER, email="live-adjudicator@example.org")
    project = ProjectFactory(name="Live answers", overlap=2, max_overlap=2)
    policy_for(project)
    credit(project.lab, 100 * TOKEN)
    item = ItemFactory(
        batch=BatchFactory(project=project), external_id="case-live", state=Item.State.ADJUDICATION
    )
    earner = expert_for(project, level=3)  # 1 token x 1.5 when the decision agrees
    LabelFactory(item=item, expert=earner, choice="A", strength=1)
    LabelFactory(item=item, expert=expert_for(project, level=3), choice="B", strength=3)

    expert_context, expert_page = logged_in(browser, server, earner.user.email, PASSWORD)
    expert_page.goto(f"{asgi_server}/label/")
    panel = expert_page.locator("#live-progress")
    expect(panel).to_have_attribute("data-live", "connected")
    expect(expert_page.locator("#progress-earned")).to_have_text("0.00")
    expect(expert_page.locator("#progress-labels-today")).to_have_text("1")
    statement_page = expert_context.new_page()
    statement_page.errors = []
    statement_page.on("pageerror", lambda exc: statement_page.errors.append(str(exc)))
    statement_page.goto(f"{asgi_server}/earnings/")
    expect(statement_page.locator("#balances")).to_have_attribute("data-live", "connected")
    expect(statement_page.locator("#statement")).to_have_count(0)

    staff_context, charts_page = logged_in(browser, server, staff.email, PASSWORD)
    charts_page.goto(f"{asgi_server}/staff/quality/projects/{project.pk}/")
    expect(charts_page.locator("body")).to_have_attribute("data-live", "connected")
    expect(charts_page.locator("#chart-confidence")).to_contain_text("No item has a consensus yet.")

    decide_page = staff_context.new_page()
    decide_page.goto(f"{asgi_server}/staff/adjudication/{item.uid}/")
    form = decide_page.locator("#adjudication-decision form")
    form.get_by_label("A is better", exact=True).check()
    form.get_by_label("slightly better", exact=True).check()
    form.get_by_role("button", name="Decide").click()
    decide_page.wait_for_load_state()
    expect(decide_page.locator(".messages")).to_contain_text("Decided item case-live")

    # No reload on either page: the expert's total ticks, the staff charts are drawn again.
    expect(expert_page.locator("#progress-earned")).to_have_text("1.50")
    expect(expert_page.locator("#progress-earned-today")).to_have_text("1.50")
    expect(expert_page.locator("#progress-tick")).to_have_text(re.compile("Reward posted: 1.50 tokens"))
    expect(statement_page.locator("#balances")).to_contain_text("1.50")
    expect(statement_page.locator("#statement")).to_contain_text("case-live")
    expect(charts_page.locator("#chart-confidence svg")).to_have_count(1)
    expect(charts_page.locator("#live-status")).to_contain_text("Updated at")
    expect(charts_page.locator("#chart-gold, #chart-speed")).to_have_count(2)

    assert expert_page.errors == [] and statement_page.errors == [] and charts_page.errors == []
    expert_context.close()
    staff_context.close()


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_an_experts_label_changes_the_open_staff_tables_and_projects_list(asgi_server, browser):  # noqa: F811
    server = _Server(asgi_server)
    staff = StaffFactory(staff_role=User.StaffRole.REVIEWER, email="live-tables@example.org")
    project = ProjectFactory(name="Live tables", overlap=3, gold_rate=0)
    ItemFactory(batch=BatchFactory(project=project), external_id="case-tables")
    expert = expert_for(project)
    pseudonym = expert.pseudonym

    staff_context, quality_page = logged_in(browser, server, staff.email, PASSWORD)
    refusals = _policy_refusals(quality_page)
    quality_page.goto(f"{asgi_server}/staff/quality/projects/{project.pk}/")
    expect(quality_page.locator("body")).to_have_attribute("data-live", "connected")
    expect(quality_page.locator("#annotators-live")).to_contain_text("No annotator matches.")
    expect(quality_page.locator("#quality-summary")).to_contain_text("0 labels on 0 items")
    list_page = staff_context.new_page()
    list_page.errors = []
    list_page.on("pageerror", lambda exc: list_page.errors.append(str(exc)))
    list_refusals = _policy_refusals(list_page)
    list_page.goto(f"{asgi_server}/staff/quality/")
    expect(list_page.locator("body")).to_have_attribute("data-live", "connected")
    row = list_page.locator("#quality-projects tr", has_text="Live tables")
    expect(row.locator("td").nth(3)).to_have_text("0")
    # A reload would forget these.
    quality_page.evaluate("() => { window.sameDocument = true; }")
    list_page.evaluate("() => { window.sameDocument = true; }")

    expert_context, label_page = logged_in(browser, server, expert.user.email, PASSWORD)
    label_page.goto(f"{asgi_server}/label/?project={project.pk}")
    label_page.locator('label[for="choice-A"]').click()
    label_page.locator("label[for=strength-2]").click()
    label_page.locator("#submit-label").click()
    expect(label_page.locator("#label-status")).to_have_text("Saved.")

    annotators = quality_page.locator("#annotators")
    expect(annotators).to_contain_text(pseudonym)
    expect(annotators.locator("tbody tr")).to_have_count(1)
    expect(annotators.locator("tbody tr td").first).to_have_text("1")
    expect(quality_page.locator("#quality-summary")).to_contain_text("1 labels on 1 items by 1 annotators")
    expect(quality_page.locator("#live-status")).to_contain_text("Updated at")
    expect(row.locator("td").nth(3)).to_have_text("1")
    assert quality_page.evaluate("() => window.sameDocument === true")
    assert list_page.evaluate("() => window.sameDocument === true")

    # The swapped-in parts are as accessible as the page was (axe given through the protocol,
    # which the page's policy does not govern, so the policy stays as in production).
    for page in (quality_page, list_page):
        page.evaluate(AXE.read_text())
        blocking = [v for v in page.evaluate(RUN) if v["impact"] in BLOCKING]
        assert blocking == [], blocking
    assert refusals == [] and list_refusals == []
    assert quality_page.errors == [] and list_page.errors == [] and label_page.errors == []
    expert_context.close()
    staff_context.close()


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_an_item_sent_to_adjudication_appears_on_the_open_queue(asgi_server, browser):  # noqa: F811
    server = _Server(asgi_server)
    staff = StaffFactory(staff_role=User.StaffRole.REVIEWER, email="live-queue@example.org")
    project = ProjectFactory(name="Live queue", overlap=2, max_overlap=2, gold_rate=0)
    item = ItemFactory(batch=BatchFactory(project=project), external_id="case-split")
    first, second = expert_for(project), expert_for(project)
    submit(next_assignment(first, project), first, choice="A")

    staff_context, queue_page = logged_in(browser, server, staff.email, PASSWORD)
    refusals = _policy_refusals(queue_page)
    queue_page.goto(f"{asgi_server}/staff/adjudication/")
    expect(queue_page.locator("body")).to_have_attribute("data-live", "connected")
    expect(queue_page.locator("#adjudication-empty")).to_be_visible()
    queue_page.evaluate("() => { window.sameDocument = true; }")

    # The second expert disagrees, in the browser: the item has spent its labels.
    expert_context, label_page = logged_in(browser, server, second.user.email, PASSWORD)
    label_page.goto(f"{asgi_server}/label/?project={project.pk}")
    expect(label_page.locator("#response-A")).to_be_visible()
    assignment = Assignment.objects.get(expert=second, status=Assignment.Status.ACTIVE)
    letter = display_choice(assignment, "B")
    label_page.locator(f'label[for="choice-{letter}"]').click()
    label_page.locator("label[for=strength-2]").click()
    label_page.locator("#submit-label").click()
    expect(label_page.locator("#label-status")).to_have_text("Saved.")

    queue = queue_page.locator("#adjudication-queue")
    expect(queue.locator("tbody tr")).to_have_count(1)
    expect(queue).to_contain_text("case-split")
    expect(queue_page.locator("#adjudication-start")).to_be_visible()
    expect(queue_page.locator("#live-status")).to_contain_text("Updated at")
    assert queue_page.evaluate("() => window.sameDocument === true")
    item.refresh_from_db()
    assert item.state == Item.State.ADJUDICATION
    queue_page.evaluate(AXE.read_text())
    assert [v for v in queue_page.evaluate(RUN) if v["impact"] in BLOCKING] == []
    assert refusals == [] and queue_page.errors == [] and label_page.errors == []
    expert_context.close()
    staff_context.close()
