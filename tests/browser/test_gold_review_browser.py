"""An expert labels a gold item in the browser without being told it is gold, and finds its
answer in the gold review, reached from the workspace, only once the item is retired."""

from __future__ import annotations

import pytest

from annotate import queue
from annotate.models import Assignment, Item
from annotate.queue import assignment_next
from tests.browser.conftest import logged_in
from tests.factories import (
    PASSWORD,
    BatchFactory,
    CredentialFactory,
    DomainFactory,
    ItemFactory,
    ProjectFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect


def test_a_gold_answer_appears_in_the_review_only_after_retirement(browser, live_server, monkeypatch):
    monkeypatch.setattr(queue._random, "random", lambda: 0.0)  # every draw is a gold draw
    domain = DomainFactory()
    project = ProjectFactory(domain=domain, status="active", gold_rate=0.5, gold_exposure_cap=2)
    gold = ItemFactory(
        batch=BatchFactory(project=project),
        gold_answer=True,
        gold={"choice": "B", "explanation": "The second answer cites the guideline."},
        prompt="Which answer is kinder?",
    )
    expert = CredentialFactory(domain=domain, approved=True, expert__user__email="g@example.org").expert
    context, page = logged_in(browser, live_server, "g@example.org", PASSWORD)
    try:
        page.goto(f"{live_server.url}/label/?project={project.pk}")
        expect(page.locator("#prompt")).to_have_text("Which answer is kinder?")
        assert "gold" not in page.locator("#label-app").inner_text().lower().replace("gold review", "")
        page.locator('label[for="choice-tie"]').click()
        page.locator("#submit-label").click()
        expect(page.locator("#label-status")).to_have_text("Saved.")
        assert "second answer cites" not in page.content()

        page.get_by_role("link", name="Gold review").click()
        expect(page.locator("#gold-review-empty")).to_be_visible()

        # A second annotator's exposure reaches the cap: the item retires.
        other = CredentialFactory(domain=domain, approved=True).expert
        assignment_next(expert=other, project=project)
        assert Item.objects.get(pk=gold.pk).gold_retired_at is not None
        page.reload()
        row = page.locator("#gold-review tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("The second answer cites the guideline.")
        expect(row.locator(".passed")).to_have_text("wrong")
        shown = Assignment.objects.get(item=gold, expert=expert).shown_order
        expect(row.locator(".expected")).to_have_text("AB"[shown.index(1)])
        # Answered today: not counted until tomorrow, so nothing graded yet.
        expect(page.locator("#gold-accuracy")).to_contain_text("No gold yet")
        assert page.errors == []
    finally:
        context.close()
