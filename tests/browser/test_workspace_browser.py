"""An expert's evening in the labelling workspace, keyboard only: long Markdown answers with code,
a table and math, rendered and typeset under the production Content-Security-Policy; the two
answers side by side and scrolled together; the judgement bar in view; the guidelines drawer;
three comparisons judged with letters and digits; nothing wider than a 390 px phone."""

from __future__ import annotations

import re

import pytest

from annotate.models import Assignment, Label
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
    "criteria": [
        {"key": "accuracy", "label": "Accuracy", "min": 1, "max": 5},
        {"key": "clarity", "label": "Clarity", "min": 1, "max": 5},
    ],
    "rationale": {"mode": "required", "min_length": 20},
}


def _answer(n: int, drug: str) -> str:
    body = "\n\n".join(
        f"Paragraph {p}: the **loading dose** of {drug} depends on weight and renal function; "
        "check the interaction table before the first dose and again after any change."
        for p in range(12)
    )
    return (
        f"# Dosing {drug} (answer {n})\n\n{body}\n\n"
        "| Weight | Dose | Interval |\n|:--|--:|:-:|\n| 60 kg | 5 mg | 12 h |\n| 90 kg | 7.5 mg | 12 h |\n\n"
        "```python\ndef dose(weight_kg, mg_per_kg=0.08):\n    return round(weight_kg * mg_per_kg, 1)\n```\n\n"
        "Clearance follows $CL = k_e \\cdot V_d$ (not $\\clearance$) and the half-life\n\n"
        "$$\nt_{1/2} = \\frac{\\ln 2}{k_e}\n$$\n\n"
        + "\n\n".join(f"Follow-up note {p}: recheck levels on day {p + 2}." for p in range(10))
    )


@pytest.fixture
def project(db):
    domain = DomainFactory(slug="cardiology", name="Cardiology")
    project = ProjectFactory(
        domain=domain,
        name="Anticoagulant dosing",
        label_schema=schema_normalize(SCHEMA),
        guidelines="## Judging\n\nPrefer the answer a **cardiologist** would sign.",
        gold_rate=0.0,
    )
    for n in range(3):
        ItemFactory(
            batch__project=project,
            prompt=[{"role": "user", "content": f"How do I dose apixaban for patient {n}? Show `code`."}],
            responses=[
                {"id": f"good-{n}", "model": "model-x", "text": _answer(n, "apixaban")},
                {"id": f"poor-{n}", "model": "model-y", "text": _answer(n, "warfarin")},
            ],
        )
    CredentialFactory(domain=domain, approved=True, expert__user__email="evening@example.org")
    return project


def _no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_an_expert_judges_long_markdown_comparisons_by_keyboard_only(live_server, browser, project):
    context, page = logged_in(browser, live_server, "evening@example.org", PASSWORD)
    refusals: list[str] = []
    page.on("console", lambda m: refusals.append(m.text) if "Content Security Policy" in m.text else None)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/label/?project={project.pk}")
    expect(page.locator("#response-A")).to_be_visible()

    # Rendered on the server, typeset in the page: a table, highlighted code, KaTeX output.
    response_a = page.locator("#response-A .response-text")
    expect(response_a.locator("table td.align-right").first).to_have_text(re.compile(r"mg$"))
    expect(response_a.locator("pre.highlight span.k").first).to_have_text("def")
    expect(response_a.locator(".math.block .katex-display")).to_have_count(1)
    expect(response_a.locator(".math.inline .katex").first).to_be_attached()
    expect(page.locator("#prompt code")).to_have_text("code")
    # TeX KaTeX cannot read stays as written, marked, and breaks nothing (no policy refusal).
    expect(response_a.locator(".math.math-error")).to_have_text("\\clearance")
    assert "**" not in response_a.inner_text()

    # Side by side; the judgement bar in the window while the answers are long.
    boxes = [page.locator(f"#response-{letter}").bounding_box() for letter in "AB"]
    assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]
    expect(page.locator("#submit-label")).to_be_in_viewport()

    # Scrolling one answer scrolls the other (End in the focused text box).
    response_a.focus()
    page.keyboard.press("End")
    page.wait_for_function(
        "() => { const b = document.querySelector('#response-B .response-text');"
        " return b.scrollTop > 0 && b.scrollTop >= b.scrollHeight - b.clientHeight - 2; }"
    )
    page.keyboard.press("s")  # unlinked: scrolling A back up leaves B where it is
    expect(page.locator("#sync-scroll")).not_to_be_checked()
    response_a.focus()
    page.keyboard.press("Home")
    page.wait_for_timeout(100)
    assert page.locator("#response-B .response-text").evaluate("b => b.scrollTop") > 0
    page.keyboard.press("s")

    # The guidelines drawer stays in view while the page scrolls.
    page.keyboard.press("g")
    drawer = page.locator("#guidelines")
    expect(drawer.locator("strong")).to_have_text("cardiologist")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(drawer).to_be_in_viewport()
    page.keyboard.press("g")
    expect(drawer).to_be_hidden()

    for n in range(3):
        expect(page.locator("#response-A")).to_be_visible()
        assignment = Assignment.objects.get(status=Assignment.Status.ACTIVE)
        good = "AB"[assignment.shown_order.index(0)]
        if n == 2:
            # A phone: one column, nothing wider than the window.
            page.set_viewport_size({"width": 390, "height": 844})
            boxes = [page.locator(f"#response-{letter}").bounding_box() for letter in "AB"]
            assert boxes[1]["y"] > boxes[0]["y"]
            assert _no_sideways_scroll(page)
            page.screenshot(path="/tmp/workspace-390.png", full_page=True)
        page.keyboard.press(good.lower())
        expect(page.locator(f"#choice-{good}")).to_be_checked()
        # Digits: the strength, then each criterion of A, then of B (the mark moves on).
        for digit in ("3", "5", "4", "2", "3"):
            page.keyboard.press(digit)
        expect(page.locator("#strength-3")).to_be_checked()
        page.keyboard.press("r")
        expect(page.locator("#rationale")).to_be_focused()
        page.keyboard.type(f"Item {n}: the better answer adjusts for renal function.")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#session-count")).to_have_text(f"{n + 1} labelled in this session")
        label = Label.objects.get(assignment=assignment)
        ratings = {"A": {"accuracy": 5, "clarity": 4}, "B": {"accuracy": 2, "clarity": 3}}
        shown = {
            "AB"[i]: assignment.item.responses[index]["id"] for i, index in enumerate(assignment.shown_order)
        }
        assert label.choice == "A" and label.strength == 3
        assert label.criteria == {shown[letter]: ratings[letter] for letter in "AB"}
        assert label.rationale.startswith(f"Item {n}:")

    # the items' other slots wait for other experts: the queue says so, not "nothing to label"
    expect(page.locator("#queue-empty")).to_have_attribute("data-reason", "needs_other_experts")
    assert _no_sideways_scroll(page)
    assert Label.objects.count() == 3
    assert refusals == [] and page.errors == []
    context.close()
