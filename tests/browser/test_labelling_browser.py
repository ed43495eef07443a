"""An expert labels in the browser: pairwise with strength and criteria, a ranking of four,
a validation error shown at its field, an empty queue, a lease lost to another expert.

Drives Debian's Chromium through Playwright against pytest-django's live server; the label
is then read back from the database and checked against the order the expert was shown.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.utils import timezone

from annotate.models import Assignment, ItemReport, Label
from annotate.queue import assignment_next, assignments_expire
from annotate.schema import schema_normalize
from tests.factories import PASSWORD, CredentialFactory, DomainFactory, ItemFactory, ProjectFactory

SCREENSHOT = Path("/tmp/label.png")

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect
sync_playwright = playwright_api.sync_playwright

PAIRWISE_SCHEMA = {
    "kind": "pairwise",
    "choices": ["A", "B", "tie", "both_bad"],
    "strength": {"levels": ["slightly better", "clearly better", "much better"]},
    "criteria": [{"key": "accuracy", "label": "Accuracy", "min": 1, "max": 5, "description": "Facts right?"}],
    "rationale": {"mode": "required", "min_length": 20},
}
OTHER_EXPERTS = "The items still open need other experts: you have labelled or skipped each of them."
GUIDELINES = "# How to judge\n\nPrefer the **correct** answer.\n\n<script>alert(1)</script>"


@pytest.fixture
def domain(db):
    return DomainFactory(slug="cardiology", name="Cardiology")


@pytest.fixture
def expert(domain):
    return CredentialFactory(domain=domain, approved=True, expert__user__email="labeller@example.org").expert


@pytest.fixture
def page(browser, live_server, expert):
    """The expert, logged in, with every script error collected in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    # Network noise is not a script error: a 400 or 409 from the API is part of the flow, and
    # the profile page (where log-in lands) tries a websocket the live server does not serve.
    page.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and not re.search("Failed to load resource|WebSocket", msg.text)
            and page.errors.append(msg.text)
        ),
    )
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("E-mail").fill(expert.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    yield page
    context.close()


def _pairwise_project(domain, **fields):
    return ProjectFactory(
        domain=domain,
        name="Cardiology answers",
        label_schema=schema_normalize(PAIRWISE_SCHEMA),
        guidelines=GUIDELINES,
        **fields,
    )


def _item(project, **fields):
    return ItemFactory(batch__project=project, **fields)


def _active_assignment(expert) -> Assignment:
    return Assignment.objects.select_related("item").get(expert=expert, status=Assignment.Status.ACTIVE)


def _response_id(assignment: Assignment, letter: str) -> str:
    """The canonical id of the response shown under ``letter``."""
    return assignment.item.responses[assignment.shown_order["ABCDEFGH".index(letter)]]["id"]


def test_expert_labels_a_pairwise_item_by_clicking_and_the_label_is_stored_canonically(
    live_server, page, expert, domain
):
    project = _pairwise_project(domain)
    item = _item(
        project,
        prompt=[
            {"role": "system", "content": "You are a cardiologist."},
            {"role": "user", "content": "First-line treatment for stable angina?"},
        ],
        responses=[
            {"id": "r-short", "model": "model-x", "text": "Beta blockers, plus sublingual nitrates."},
            {"id": "r-wrong", "model": "model-y", "text": "Antibiotics."},
        ],
    )
    page.get_by_role("link", name="Label", exact=True).click()  # not "My labels"
    page.wait_for_url(re.compile(r"/label/$"))
    expect(page.locator("#response-A")).to_be_visible()
    assignment = _active_assignment(expert)
    assert assignment.item == item
    shown = [item.responses[i] for i in assignment.shown_order]

    # The prompt as a chat with its roles, the responses by letter only (no model names).
    expect(page.locator("#prompt .message")).to_have_count(2)
    expect(page.locator("#prompt .message-user .role")).to_have_text("User")
    expect(page.locator("#prompt .message-user .text")).to_have_text(
        "First-line treatment for stable angina?"
    )
    expect(page.locator("#response-A .response-text")).to_have_text(shown[0]["text"])
    expect(page.locator("#response-B .response-text")).to_have_text(shown[1]["text"])
    expect(page.locator("#responses")).not_to_contain_text("model-")
    expect(page.locator("#responses")).to_have_class(re.compile("responses-pair"))
    expect(page.locator("#lease-countdown")).to_contain_text(re.compile(r"Lease: 1[45]:\d\d left"))

    # Guidelines: a closed drawer, rendered Markdown, the script tag not executed nor shown as HTML.
    guidelines = page.locator("#guidelines")
    expect(guidelines).to_be_hidden()
    page.get_by_role("button", name=re.compile("^Guidelines")).click()
    expect(guidelines.get_by_role("heading", name="How to judge")).to_be_visible()
    expect(guidelines.locator("strong")).to_have_text("correct")
    assert guidelines.locator("script").count() == 0
    page.get_by_role("button", name="Close the guidelines").click()
    expect(guidelines).to_be_hidden()

    # Choose the better answer (whichever letter it got) and how much better, by clicking.
    better = "A" if shown[0]["id"] == "r-short" else "B"
    worse = "B" if better == "A" else "A"
    expect(page.locator("#strength-field")).to_be_hidden()
    page.locator(f'label[for="choice-{better}"]').click()
    expect(page.locator("#strength-field")).to_be_visible()
    expect(page.locator("#strength-field legend")).to_have_text(f"How much better is {better}?")
    page.locator("label[for=strength-3]").click()  # "much better"
    page.locator(f'label[for="crit-{better}-accuracy-5"]').click()
    page.locator(f'label[for="crit-{worse}-accuracy-1"]').click()
    rationale = "Antibiotics do nothing for angina; beta blockers are first line."
    page.get_by_label(re.compile(r"^Rationale")).fill(rationale)
    expect(page.locator("#rationale-counter")).to_have_text(f"{len(rationale)} / 20 characters")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.locator("#submit-label").click()
    # The item's other slots are for other experts.
    expect(page.locator("#queue-empty-message")).to_have_text(OTHER_EXPERTS)
    expect(page.locator("#label-status")).to_have_text("Saved.")  # no "next item" above an empty queue
    expect(page.locator("#session-count")).to_have_text("1 labelled in this session")

    label = Label.objects.get(expert=expert)
    assert label.assignment_id == assignment.pk
    assert label.choice == "A"  # canonical: the first response, r-short, is better
    assert label.choice == "AB"[assignment.shown_order["AB".index(better)]]
    assert label.strength == 3
    assert label.criteria == {"r-short": {"accuracy": 5}, "r-wrong": {"accuracy": 1}}
    assert label.rationale == rationale
    assert label.active_seconds is not None and 0 <= label.active_seconds <= label.lease_seconds + 1
    assert re.fullmatch(r"[0-9a-f-]{36}", label.client_id)
    assert page.errors == []


def test_a_ranking_project_by_keyboard_three_items_ranked_rated_and_reviewed(
    live_server, page, expert, domain
):
    """A ranking project, keyboard only: each item's responses are moved into place with the
    ranking keys, a rationale typed after r, Escape leads on to the ratings, Ctrl+Enter submits;
    the queue then runs dry and the expert finds the three rankings on My labels."""
    project = ProjectFactory(domain=domain, ranking=True, name="Rank the answers")
    for n in range(3):
        _item(project, prompt=f"Explain atrial fibrillation to patient {n}.")
    page.goto(f"{live_server.url}/label/?project={project.pk}")
    expect(page.locator("#response-D")).to_be_visible()
    expect(page.locator("#project-select")).to_have_value(str(project.pk))
    expect(page.locator("#responses")).to_have_class(re.compile("responses-list"))
    expect(page.locator("#prompt")).to_contain_text("Explain atrial fibrillation to patient")
    expect(page.locator("#choice-field")).to_be_hidden()

    # No A/B keys on a ranking project; the moving keys instead.
    page.keyboard.press("?")
    keys = page.locator("#shortcut-list")
    expect(keys).to_contain_text("Move the picked response up / down")
    expect(keys).not_to_contain_text("A is better")
    page.keyboard.press("?")

    # Per item: the keys, the summary they give, the ranking stored (letters as shown).
    journeys = [
        # o goes to the list, j/k pick, a digit moves the picked response to that place, = ties
        # it with the one above; Alt+arrows move it one place (and untie it).
        (
            ("o", "j", "1", "j", "j", "=", "Alt+ArrowUp", "Alt+ArrowDown", "="),
            "Best first: B  >  A = C  >  D",
            [["B"], ["A", "C"], ["D"]],
        ),
        (("o", "4"), "Best first: B  >  C  >  D  >  A", [["B"], ["C"], ["D"], ["A"]]),
        (("o", "End", "1", "j", "="), "Best first: D = A  >  B  >  C", [["D", "A"], ["B"], ["C"]]),
    ]
    assignments = []
    for n, (keys_pressed, summary, expected) in enumerate(journeys):
        expect(page.locator("#response-D")).to_be_visible()
        assignment = _active_assignment(expert)
        assignments.append(assignment)
        for key in keys_pressed:
            page.keyboard.press(key)
        expect(page.locator("#ranking-summary")).to_have_text(summary)
        if n == 0:
            expect(page.locator("#rank-badge-C")).to_have_text("Place 2")
        # r: the rationale; Escape: on to the first rating still open; digits rate A to D.
        page.keyboard.press("r")
        expect(page.locator("#rationale")).to_be_focused()
        page.keyboard.type(f"Ranking {n}: the clearest explanation first.")
        page.keyboard.press("Escape")
        for rating in ("3", "5", "3", "1"):
            page.keyboard.press(rating)
        page.keyboard.press("Control+Enter")
        expect(page.locator("#session-count")).to_have_text(f"{n + 1} labelled in this session")

        label = Label.objects.get(assignment=assignment)
        rid = {letter: _response_id(assignment, letter) for letter in "ABCD"}
        assert label.ranking == [[rid[letter] for letter in group] for group in expected]
        assert label.criteria == {
            rid["A"]: {"accuracy": 3},
            rid["B"]: {"accuracy": 5},
            rid["C"]: {"accuracy": 3},
            rid["D"]: {"accuracy": 1},
        }
        assert label.choice == "" and label.strength is None
        assert label.rationale == f"Ranking {n}: the clearest explanation first."

    expect(page.locator("#queue-empty")).to_be_visible()
    # My labels lists the three rankings in the letters the expert saw.
    page.goto(f"{live_server.url}/me/labels/")
    for assignment, (_, _, expected) in zip(assignments, journeys, strict=True):
        row = page.locator(f'#my-labels tr[data-assignment="{assignment.pk}"]')
        expect(row.locator(".answer")).to_have_text(" > ".join(" = ".join(sorted(g)) for g in expected))
    assert page.errors == []


def test_a_short_rationale_is_refused_next_to_the_field_then_the_corrected_label_is_saved(
    live_server, page, expert, domain
):
    project = _pairwise_project(domain)
    _item(project)
    page.goto(f"{live_server.url}/label/")
    expect(page.locator("#response-A")).to_be_visible()
    assignment = _active_assignment(expert)

    # Keyboard: b picks B; Ctrl+Enter in the rationale submits.
    page.locator("body").press("b")
    expect(page.locator("#choice-B")).to_be_checked()
    page.locator('label[for="strength-1"]').click()
    page.locator('label[for="crit-A-accuracy-2"]').click()
    page.locator('label[for="crit-B-accuracy-4"]').click()
    box = page.get_by_label(re.compile(r"^Rationale"))
    box.fill("Too short.")
    expect(page.locator("#rationale-counter")).to_have_class(re.compile("short"))
    box.press("Control+Enter")

    errors = page.locator('#rationale-field [data-errors-for="rationale"]')
    expect(errors).to_have_text("Explain your judgement (at least 20 characters).")
    expect(page.locator("#rationale")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#submit-label")).to_be_enabled()
    assert not Label.objects.exists()

    box.fill("B cites the guideline and A misses the contraindication.")
    page.locator("#submit-label").click()
    expect(page.locator("#label-status")).to_have_text("Saved.")
    label = Label.objects.get(expert=expert)
    assert label.assignment_id == assignment.pk
    assert label.choice == "AB"[assignment.shown_order[1]] and label.strength == 1
    assert page.errors == []


def test_an_empty_queue_shows_the_reason_and_check_again_finds_new_work(live_server, page, domain):
    project = _pairwise_project(domain)
    page.goto(f"{live_server.url}/label/")
    expect(page.locator("#queue-empty-message")).to_have_text("Nothing to label right now.")
    expect(page.locator("#workspace")).to_be_hidden()

    _item(project)
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("#response-A")).to_be_visible()
    expect(page.locator("#queue-empty")).to_be_hidden()
    assert page.errors == []


def test_work_leased_to_another_expert_is_waited_for_and_taken_when_the_lease_ends(
    live_server, page, expert, domain
):
    project = _pairwise_project(domain, overlap=1)
    item = _item(project)
    other = CredentialFactory(domain=domain, approved=True).expert
    held = assignment_next(expert=other, project=project)
    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() + dt.timedelta(seconds=2))
    page.goto(f"{live_server.url}/label/")
    expect(page.locator("#queue-empty-message")).to_contain_text("Other experts are finishing the last items")
    expect(page.locator("#queue-empty-hint")).to_have_text("This page checks again by itself.")
    # No click: the page asks again after Retry-After, and the lease has ended by then.
    expect(page.locator("#response-A")).to_be_visible(timeout=10_000)
    assert _active_assignment(expert).item == item
    assert page.errors == []


def test_an_expert_without_a_credential_is_told_why_the_queue_is_empty(live_server, browser):
    credential = CredentialFactory(expert__user__email="newcomer@example.org")  # still submitted
    project = ProjectFactory(domain=DomainFactory(slug="kardiologiya", name="Кардиология"))
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("E-mail").fill(credential.expert.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/label/")
    expect(page.locator("#queue-empty-message")).to_have_text(
        "No active project is open to your credentials yet."
    )
    # A project asked for by id: the reason names its domain (sent MIME-encoded, not Latin-1).
    page.goto(f"{live_server.url}/label/?project={project.pk}")
    expect(page.locator("#queue-empty-message")).to_have_text(
        "You need an approved credential in Кардиология."
    )
    expect(page.locator("#queue-empty-hint")).to_contain_text("Submit a credential")
    context.close()


def test_expert_skips_one_item_with_a_reason_and_reports_another(live_server, page, expert, domain):
    project = _pairwise_project(domain)
    first, second = _item(project, priority=1), _item(project)
    page.goto(f"{live_server.url}/label/")
    expect(page.locator("#response-A")).to_be_visible()
    assert _active_assignment(expert).item == first

    page.get_by_role("button", name="Skip…").click()
    page.get_by_label("Why do you skip it?").fill("Outside my expertise")
    page.get_by_role("button", name="Skip this item").click()
    expect(page.locator("#label-status")).to_have_text("Skipped. Here is the next item.")
    expect(page.locator("#skip-form")).to_be_hidden()
    skipped = Assignment.objects.get(expert=expert, item=first)
    assert skipped.status == Assignment.Status.SKIPPED and skipped.closed_reason == "Outside my expertise"
    expect(page.locator("#response-A")).to_be_visible()
    assert _active_assignment(expert).item == second

    page.get_by_role("button", name="Report a problem…").click()
    page.get_by_label("What is wrong?").select_option("broken")
    page.get_by_label("Details (optional)").fill("Response B stops mid-sentence.")
    page.get_by_role("button", name="Send report").click()
    expect(page.locator("#label-status")).to_contain_text("the problem is reported")
    expect(page.locator("#queue-empty-message")).to_have_text(OTHER_EXPERTS)
    report = ItemReport.objects.get(item=second)
    assert (report.reason, report.details) == ("broken", "Response B stops mid-sentence.")
    assert not Label.objects.exists()
    assert page.errors == []


def test_a_submit_after_the_slot_went_to_another_expert_says_so_and_moves_on(
    live_server, page, expert, domain
):
    project = _pairwise_project(domain, overlap=1, max_overlap=1)
    _item(project)
    page.goto(f"{live_server.url}/label/")
    expect(page.locator("#response-A")).to_be_visible()

    # The lease runs out while the expert is away, and another expert takes the item.
    assignments_expire(project=project, now=timezone.now() + dt.timedelta(hours=1))
    other = CredentialFactory(domain=domain, approved=True).expert
    assert isinstance(assignment_next(expert=other, project=project), Assignment)

    page.locator('label[for="choice-tie"]').click()
    expect(page.locator("#strength-field")).to_be_hidden()
    page.locator('label[for="crit-A-accuracy-3"]').click()
    page.locator('label[for="crit-B-accuracy-3"]').click()
    page.get_by_label(re.compile(r"^Rationale")).fill("Both say the same thing in other words.")
    page.locator("#submit-label").click()
    expect(page.locator("#label-status")).to_contain_text("another expert now holds this item")
    expect(page.locator("#queue-empty-message")).to_have_text(OTHER_EXPERTS)
    assert not Label.objects.filter(expert=expert).exists()
    assert page.errors == []


def test_the_page_sends_a_heartbeat_every_third_of_the_lease_and_counts_active_time(
    live_server, page, expert, domain
):
    project = _pairwise_project(domain, lease_seconds=90)
    _item(project)
    page.clock.install()
    page.goto(f"{live_server.url}/label/")
    expect(page.locator("#response-A")).to_be_visible()
    assignment = _active_assignment(expert)
    expect(page.locator("#lease-countdown")).to_contain_text(re.compile(r"Lease: 1:(2\d|30) left"))

    page.mouse.move(200, 200)
    with page.expect_response(lambda r: r.url.endswith(f"/assignments/{assignment.pk}/extend")) as beat:
        page.clock.run_for("00:31")
    assert beat.value.status == 200
    assignment.refresh_from_db()
    assert assignment.expires_at > timezone.now() + dt.timedelta(seconds=80)

    # Idle for more than a minute: the clock runs on, the active time does not.
    page.clock.run_for("02:00")
    active = page.locator("#active-time").text_content()
    assert re.fullmatch(r"Active (0:5\d|1:0\d)", active), active  # about the minute after the last move
    page.clock.run_for("00:30")
    expect(page.locator("#active-time")).to_have_text(active)
    assert page.errors == []
