"""The layout at a phone's and a laptop's width: no page scrolls sideways at 390 px, and the menu
keeps to its rows at 1280 px (the expert's links and the account in one, staff tools in another).
The labelling page has its own layout checks (test_labelling_browser.py)."""

from __future__ import annotations

import pytest

from annotate.models import AnnotatorQuality
from rlhf_platform.accounts.models import User
from tests.browser.conftest import logged_in
from tests.factories import (
    PASSWORD,
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    LabFactory,
    ProjectFactory,
    StaffFactory,
)

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")

PAGES = [
    "/profile/",
    "/credentials/new/",
    "/exams/",
    "/suspensions/",
    "/inbox/",
    "/me/quality/",
    "/me/labels/",
    "/earnings/",
    "/wallet/",
    "/payouts/",
    "/staff/credentials/",
    "/staff/quality/",
    "/staff/quality/projects/{project}/",
    "/staff/quality/items/{item}/",
    "/staff/adjudication/",
    "/staff/appeals/",
    "/staff/groups/",
    "/staff/budgets/",
    "/staff/payouts/",
    "/staff/pipeline/",
]

MEASURE = """() => ({
  scroll: document.documentElement.scrollWidth,
  width: window.innerWidth,
  // Rows of a menu: its items' vertical centres, counted apart when more than 10 px apart.
  rows: [...document.querySelectorAll('.topbar nav')].map(nav => {
    const centres = [...nav.children].map(e => {
      const r = e.getBoundingClientRect();
      return (r.top + r.bottom) / 2;
    });
    return centres.sort((a, b) => a - b).filter((c, i, all) => i === 0 || c - all[i - 1] > 10).length;
  }),
  clipped: [...document.querySelectorAll('.topbar nav')].some(nav => nav.scrollWidth > nav.clientWidth),
  wide: [...document.querySelectorAll('main *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 3).map(e => e.tagName + '#' + e.id),
})"""


def test_no_page_scrolls_sideways_at_390_px_and_the_staff_menu_keeps_to_two_rows_at_1280(
    live_server, browser
):
    staff = StaffFactory(
        staff_role=User.StaffRole.ADMIN, email="a.rather.long.staff.address@example-hospital.org"
    )
    ExpertProfileFactory(user=staff)
    LabFactory(name="Cardiology evaluation lab with a long name")
    project = ProjectFactory(name="Contract review")
    item = ItemFactory(
        project=project,
        batch__project=project,
        prompt="Solve $x^2 = 4$.",
        responses=[
            {
                "id": "r1",
                "model": "m",
                "text": "`"
                + "x" * 120
                + "`\n\n| a | b | c | d | e | f | g |\n|---|---|---|---|---|---|---|\n"
                + "| "
                + " | ".join(["a fairly long cell"] * 7)
                + " |",
            },
            {"id": "r2", "model": "m", "text": "```\n" + "y" * 200 + "\n```"},
        ],
    )
    for _ in range(2):
        annotator = ExpertProfileFactory()
        LabelFactory(item=item, expert=annotator, choice="A", rationale="z" * 80)
        AnnotatorQuality.objects.create(
            project=project, expert=annotator, labels=1, flags=["position_bias", "fast"]
        )
    ItemConsensusFactory(item=item, choice="A", confidence=0.6, agreement=0.5)

    context, page = logged_in(browser, live_server, staff.email, PASSWORD)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/profile/")
    measured = page.evaluate(MEASURE)
    # The main menu in one row, the staff menu in another, every link in view (no scrolling).
    assert measured["rows"] == [1, 1] and not measured["clipped"], measured

    page.set_viewport_size({"width": 820, "height": 900})  # a tablet: the menu fits without the page widening
    page.goto(f"{live_server.url}/profile/")
    measured = page.evaluate(MEASURE)
    assert measured["scroll"] <= measured["width"], measured

    page.set_viewport_size({"width": 390, "height": 844})
    for path in PAGES:
        page.goto(live_server.url + path.format(project=project.pk, item=item.uid))
        measured = page.evaluate(MEASURE)
        assert measured["scroll"] <= measured["width"], (path, measured)
        if "/items/" in path:  # the staff item page typesets the prompt's math (js/typeset.js)
            assert page.locator("#item-prompt .math .katex").count() == 1
    assert page.errors == []
    context.close()
