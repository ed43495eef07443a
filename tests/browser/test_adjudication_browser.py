"""Staff adjudicate in the browser: from the staff menu to the queue, then five items in a
row, each with its rendered content and labels, each decision leading to the next item; an
item the reviewer labelled is left for someone else. Drives Debian's Chromium through
Playwright against the live server."""

from __future__ import annotations

import re

import pytest

from annotate.models import Item, ItemConsensus
from rlhf_platform.accounts.models import User
from tests.browser.conftest import logged_in
from tests.factories import (
    PASSWORD,
    BatchFactory,
    ExpertProfileFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    StaffFactory,
)
from tests.quality.pipeline import expert_for

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect

DECISIONS = [
    ("B is better", "much better"),
    ("A is better", "slightly better"),
    ("Tie", None),
    ("Both bad", None),
    ("A is better", "clearly better"),
]


def test_staff_adjudicate_five_items_in_a_row(live_server, browser):
    staff = StaffFactory(staff_role=User.StaffRole.REVIEWER, email="adjudicator@example.org")
    project = ProjectFactory(name="Cardiology answers", overlap=2, max_overlap=2)
    items = []
    for n in range(len(DECISIONS) + 1):
        item = ItemFactory(
            batch=BatchFactory(project=project),
            external_id=f"case-{n}",
            state=Item.State.ADJUDICATION,
            slots=3,
            responses=[
                {
                    "id": "r0",
                    "model": "m0",
                    "text": f"Case {n}: **beta blocker** first.\n\n```python\ndose = {n}\n```",
                },
                {"id": "r1", "model": "m1", "text": f"Case {n}:\n\n| drug | dose |\n|---|---|\n| x | {n} |"},
            ],
        )
        LabelFactory(item=item, expert=expert_for(project, level=3), choice="A", strength=1)
        LabelFactory(item=item, expert=expert_for(project, level=4), choice="B", strength=3)
        items.append(item)
    # The newest one the reviewer labelled: four eyes leaves it to someone else.
    LabelFactory(item=items[-1], expert=ExpertProfileFactory(user=staff), choice="A")

    context, page = logged_in(browser, live_server, staff.email, PASSWORD)
    page.goto(f"{live_server.url}/profile/")
    page.get_by_role("navigation", name="Staff").get_by_role("link", name="Adjudication").click()
    page.wait_for_url(re.compile(r"/staff/adjudication/$"))
    expect(page.locator("#adjudication-queue tbody tr")).to_have_count(len(items))
    page.get_by_role("link", name="Start with the oldest item").click()

    for n, (choice, strength) in enumerate(DECISIONS):
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Adjudicate item case-{n}")
        # The content rendered (bold, highlighted code, a table), and both labels with their levels.
        expect(page.locator("#response-A strong")).to_have_text("beta blocker")
        expect(page.locator("#response-B table")).to_have_count(1)
        expect(page.locator("#adjudication-labels tbody tr")).to_have_count(2)
        expect(page.locator("#adjudication-labels")).to_contain_text("4 · authority")
        form = page.locator("#adjudication-decision form")
        form.get_by_label(choice, exact=True).check()
        if strength:
            form.get_by_label(strength, exact=True).check()
        form.get_by_role("button", name="Decide").click()
        page.wait_for_load_state()
        expect(page.locator(".messages")).to_contain_text(f"Decided item case-{n}")

    # No item left for this reviewer: back at the queue, the one they labelled marked as theirs.
    expect(page).to_have_url(re.compile(r"/staff/adjudication/$"))
    expect(page.locator(".messages")).to_contain_text("No other item is waiting for you to adjudicate.")
    expect(page.locator("#adjudication-queue tbody tr")).to_have_count(1)
    expect(page.locator("#adjudication-queue")).to_contain_text("(you labelled it)")
    assert page.errors == []
    context.close()

    decided = {
        c.item.external_id: (c.method, c.choice, c.strength)
        for c in ItemConsensus.objects.select_related("item")
    }
    assert decided == {
        "case-0": ("adjudicated", "B", 3),
        "case-1": ("adjudicated", "A", 1),
        "case-2": ("adjudicated", "tie", None),
        "case-3": ("adjudicated", "both_bad", None),
        "case-4": ("adjudicated", "A", 2),
    }
    assert Item.objects.get(pk=items[-1].pk).state == Item.State.ADJUDICATION
