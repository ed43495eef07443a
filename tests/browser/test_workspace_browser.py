"""An expert's evening in the labelling workspace, keyboard only: thirty comparisons of long
Markdown answers with code, a table and math, rendered and typeset under the production
Content-Security-Policy; the two answers side by side and scrolled together; the judgement bar in
view; the guidelines drawer; every comparison judged with letters and digits; one label undone
and corrected; the earnings ticking live as each item becomes final; nothing wider than a 390 px
phone.

The real ASGI application (HTTP and websockets, ``asgi_server``) serves the page, so the earnings
push reaches it. A second expert has already labelled 29 of the items the same way, so each of
the evening's labels completes an item (overlap 2), which becomes final and pays; the item the
other expert left stays open, and that is the label the expert corrects.
"""

from __future__ import annotations

import re
import time

import pytest

from annotate.models import Assignment, Item, Label, LabelRevision
from annotate.queue import assignment_next, assignment_submit
from annotate.schema import schema_normalize
from rewards.live import expert_progress
from rewards.tokens import format_tokens
from tests.browser.conftest import logged_in
from tests.browser.test_credential_flow_browser import asgi_server  # noqa: F401 - a fixture
from tests.factories import PASSWORD, CredentialFactory, DomainFactory, ItemFactory, ProjectFactory
from tests.rewards.conftest import TOKEN, credit, expert_at, policy_for

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


EVENING = 30
RATINGS = {"A": {"accuracy": 5, "clarity": 4}, "B": {"accuracy": 2, "clarity": 3}}


class _Server:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture
def project(transactional_db):
    domain = DomainFactory(slug="cardiology", name="Cardiology")
    project = ProjectFactory(
        domain=domain,
        name="Anticoagulant dosing",
        label_schema=schema_normalize(SCHEMA),
        guidelines="## Judging\n\nPrefer the answer a **cardiologist** would sign.",
        gold_rate=0.0,
        overlap=2,
        max_overlap=3,
        confidence_threshold=0.5,
    )
    policy_for(project)
    credit(project.lab, 1000 * TOKEN)
    for n in range(EVENING):
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


def _eventually(read, done, what: str):
    """Read until ``done(value)``: the consensus and the reward follow the submit's commit."""
    for _ in range(100):
        value = read()
        if done(value):
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: still {value}")


def _peer_labels(project, count: int) -> None:
    """Another expert judges ``count`` items as the evening's expert will (the good answer)."""
    peer = expert_at(project.domain, 3)
    for n in range(count):
        assignment = assignment_next(expert=peer, project=project)
        good = "AB"[assignment.shown_order.index(0)]
        poor = "B" if good == "A" else "A"
        payload = {
            "choice": good,
            "strength": 3,
            "criteria": {good: RATINGS["A"], poor: RATINGS["B"]},
            "rationale": "The better answer adjusts the dose for renal function.",
        }
        assignment_submit(assignment=assignment, expert=peer, payload=payload, client_id=f"peer-{n}")


def _no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


# WhiteNoise serves static files as synchronous streams; under ASGI Django says so.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_an_experts_evening_thirty_comparisons_by_keyboard_with_one_undo_and_live_earnings(
    asgi_server,  # noqa: F811
    browser,
    project,
):
    _peer_labels(project, EVENING - 1)
    left_open = Item.objects.get(project=project, labels__isnull=True)
    expert = CredentialFactory._meta.model.objects.get(expert__user__email="evening@example.org").expert
    context, page = logged_in(browser, _Server(asgi_server), "evening@example.org", PASSWORD)
    refusals: list[str] = []
    page.on("console", lambda m: refusals.append(m.text) if "Content Security Policy" in m.text else None)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{asgi_server}/label/?project={project.pk}")
    expect(page.locator("#response-A")).to_be_visible()
    expect(page.locator("#live-progress")).to_have_attribute("data-live", "connected")
    expect(page.locator("#progress-earned")).to_have_text("0.00")

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

    earned_before, undone = 0, 0
    in_session = 0  # the page's session counter starts again after the undo's page load
    for n in range(EVENING):
        expect(page.locator("#response-A")).to_be_visible()
        assignment = Assignment.objects.get(expert=expert, status=Assignment.Status.ACTIVE)
        good = "AB"[assignment.shown_order.index(0)]
        if n == 2:
            # A phone: one column, nothing wider than the window.
            page.set_viewport_size({"width": 390, "height": 844})
            boxes = [page.locator(f"#response-{letter}").bounding_box() for letter in "AB"]
            assert boxes[1]["y"] > boxes[0]["y"]
            assert _no_sideways_scroll(page)
            page.screenshot(path="/tmp/workspace-390.png", full_page=True)
        elif n == 3:
            page.set_viewport_size({"width": 1440, "height": 900})
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
        in_session += 1
        expect(page.locator("#session-count")).to_have_text(f"{in_session} labelled in this session")
        label = Label.objects.get(assignment=assignment)
        shown = {
            "AB"[i]: assignment.item.responses[index]["id"] for i, index in enumerate(assignment.shown_order)
        }
        assert label.choice == "A" and label.strength == 3
        assert label.criteria == {shown[letter]: RATINGS[letter] for letter in "AB"}
        assert label.rationale.startswith(f"Item {n}:")

        if assignment.item_id == left_open.pk:
            # The one label still open to change: u reopens it, the strength goes down a step.
            page.keyboard.press("u")
            page.wait_for_url(re.compile(rf"/me/labels/{assignment.pk}/\?next="))
            expect(page.locator('input[name="strength"][value="3"]')).to_be_checked()
            page.locator('input[name="strength"][value="3"]').focus()
            page.keyboard.press("ArrowLeft")
            expect(page.locator('input[name="strength"][value="2"]')).to_be_checked()
            page.locator("#correct-submit").focus()
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(rf"/label/\?project={project.pk}$"))
            expect(page.locator(".messages")).to_contain_text("Your label is corrected.")
            expect(page.locator("#live-progress")).to_have_attribute("data-live", "connected")
            in_session, undone = 0, undone + 1
            label.refresh_from_db()
            assert label.strength == 2
            assert list(LabelRevision.objects.filter(label=label).values_list("strength", flat=True)) == [3]
        else:
            # Its item is final and paid: the earnings on the page tick without a reload.
            state = Item.objects.filter(pk=assignment.item_id).values_list("state", flat=True)
            _eventually(state.get, lambda value: value == Item.State.FINAL, "the item's state")
            earned = _eventually(
                lambda: expert_progress(expert_id=expert.pk)["earned"],
                lambda value: value > earned_before,
                "the expert's earnings",
            )
            earned_before = earned
            earned = format_tokens(earned)
            expect(page.locator("#progress-earned")).to_have_text(earned)
            expect(page.locator("#progress-tick")).to_have_text(f"Reward posted: {earned} tokens in all.")

    # the item left open waits for another expert: the queue says so, not "nothing to label"
    expect(page.locator("#queue-empty")).to_have_attribute("data-reason", "needs_other_experts")
    assert _no_sideways_scroll(page)
    assert Label.objects.filter(expert=expert).count() == EVENING and undone == 1
    assert expert_progress(expert_id=expert.pk)["earned"] > 0
    assert refusals == [] and page.errors == []
    context.close()
