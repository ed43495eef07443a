"""Undo in the browser: an expert labels by keyboard, presses ``u``, finds the label they just
gave filled in, corrects it, goes back to the queue, and sees the corrected label on
``/me/labels/`` (which also lists its history)."""

from __future__ import annotations

import re

import pytest

from annotate.models import Assignment, Label, LabelRevision
from annotate.schema import schema_normalize
from tests.browser.conftest import logged_in
from tests.factories import PASSWORD, CredentialFactory, DomainFactory, ItemFactory, ProjectFactory

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect

SCHEMA = {
    "kind": "pairwise",
    "choices": ["A", "B", "tie", "both_bad"],
    "strength": {"levels": ["slightly better", "clearly better", "much better"]},
    "rationale": {"mode": "optional", "min_length": 0},
}


def test_an_expert_undoes_a_label_by_keyboard_and_sees_the_correction(live_server, browser):
    domain = DomainFactory(slug="cardiology", name="Cardiology")
    expert = CredentialFactory(domain=domain, approved=True, expert__user__email="undo@example.org").expert
    project = ProjectFactory(
        domain=domain, name="Cardiology answers", label_schema=schema_normalize(SCHEMA), gold_rate=0
    )
    for n in range(2):
        ItemFactory(batch__project=project, external_id=f"undo-{n}")

    context, page = logged_in(browser, live_server, expert.user.email, PASSWORD)
    page.goto(f"{live_server.url}/label/?project={project.pk}")
    expect(page.locator("#response-A")).to_be_visible()
    expect(page.locator("#undo-last")).to_be_hidden()
    first = Assignment.objects.get(expert=expert, status=Assignment.Status.ACTIVE)

    # A better, clearly (2), submitted: all by keyboard.
    page.locator("body").press("a")
    page.keyboard.press("2")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#label-status")).to_have_text(re.compile("^Saved"))
    undo = page.locator("#undo-last")
    expect(undo).to_be_visible()
    expect(undo).to_contain_text("Undo last label")
    page.locator("body").press("?")
    expect(page.locator("#shortcuts")).to_contain_text("Undo the last label")
    page.locator("body").press("?")

    # u: the label just given, reopened with its value filled in.
    page.locator("body").press("u")
    page.wait_for_url(re.compile(rf"/me/labels/{first.pk}/\?next="))
    expect(page.locator('input[name="choice"][value="A"]')).to_be_checked()
    expect(page.locator('input[name="strength"][value="2"]')).to_be_checked()

    # Corrected by keyboard, with the labelling page's keys: B, much better (3), Ctrl+Enter.
    expect(page.locator("#correct")).to_contain_text("Keys as when labelling")
    page.locator("body").press("b")
    expect(page.locator('input[name="choice"][value="B"]')).to_be_checked()
    page.keyboard.press("3")
    expect(page.locator('input[name="strength"][value="3"]')).to_be_checked()
    page.keyboard.press("Control+Enter")

    # Back at the queue, on the item it had already leased.
    page.wait_for_url(re.compile(rf"/label/\?project={project.pk}$"))
    expect(page.locator(".messages")).to_contain_text("Your label is corrected.")
    expect(page.locator("#response-A")).to_be_visible()

    label = Label.objects.get(assignment=first)
    assert label.choice == "AB"[first.shown_order["AB".index("B")]]
    assert label.strength == 3
    assert list(LabelRevision.objects.filter(label=label).values_list("choice", "strength")) == [
        ("AB"[first.shown_order[0]], 2)
    ]

    # My labels, from the menu: the corrected answer, one correction, its history.
    page.get_by_role("link", name="My labels").click()
    page.wait_for_url(re.compile(r"/me/labels/$"))
    row = page.locator(f'#my-labels tr[data-assignment="{first.pk}"]')
    expect(row.locator(".answer")).to_have_text("B better (much better)")
    expect(row).to_contain_text("1 · Correct")
    expect(row.locator(".consensus")).to_have_text("awaiting consensus")
    row.get_by_role("link", name=re.compile("Cardiology answers")).click()
    expect(page.locator("#current-answer")).to_have_text("B better (much better)")
    expect(page.locator("#label-history")).to_contain_text("A better (clearly better)")

    # Nothing sideways on a phone.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/me/labels/", f"/me/labels/{first.pk}/"):
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    assert page.errors == []
    context.close()
