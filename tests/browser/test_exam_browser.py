"""An expert takes a qualification exam in the browser: the labelling form, question by
question, then the result; a pass opens the project's queue, a fail shows when to retry."""

from __future__ import annotations

import re

import pytest

from annotate.qualification.models import ExamAnswer, ExamQuestion, Qualification
from annotate.qualification.services import exam_create
from tests.browser.conftest import logged_in
from tests.factories import PASSWORD, CredentialFactory, DomainFactory, ItemFactory, ProjectFactory

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect


@pytest.fixture
def domain(db):
    return DomainFactory(slug="tax-law", name="Tax law")


@pytest.fixture
def expert(domain):
    return CredentialFactory(domain=domain, approved=True, expert__user__email="candidate@example.org").expert


@pytest.fixture
def project(domain):
    project = ProjectFactory(domain=domain, name="Tax answers", requires_qualification=True, gold_rate=0.0)
    for gold in ({"choice": "A", "strength_min": 2}, {"choice": "B"}):
        ItemFactory(batch__project=project, is_gold=True, gold=gold)
    ItemFactory(batch__project=project, external_id="ordinary-1")
    return project


@pytest.fixture
def exam(project):
    return exam_create(
        project=project,
        name="Tax basics",
        instructions="Judge **accuracy** first.",
        pass_mark=1.0,
        retry_delay_seconds=3600,
    )


@pytest.fixture
def page(browser, live_server, expert):
    context, page = logged_in(browser, live_server, expert.user.email, PASSWORD)
    yield page
    context.close()


def _answer_shown_question(page, *, right: bool) -> None:
    """Answer the question on screen (rightly or not), reading the shown order from the DB."""
    expect(page.locator("#response-A")).to_be_visible()
    progress = page.locator("#exam-progress").inner_text()
    position = int(re.match(r"Question (\d+) of", progress).group(1)) - 1
    answer = ExamAnswer.objects.select_related("question").get(position=position)
    gold = answer.question.gold
    if not right:
        page.locator("label[for='choice-both_bad']").click()
    else:
        canonical = "AB".index(gold["choice"])
        letter = "AB"[answer.shown_order.index(canonical)]
        page.locator(f"label[for='choice-{letter}']").click()
        page.locator(f"label[for='strength-{gold.get('strength_min', 1)}']").click()
    page.locator("#submit-label").click()


def test_expert_passes_the_exam_in_the_labelling_form_and_the_queue_opens(live_server, page, expert, exam):
    page.goto(f"{live_server.url}/exams/")
    row = page.locator("#exam-table tbody tr")
    expect(row).to_contain_text("Tax basics")
    expect(row).to_contain_text("Not taken")
    page.get_by_role("button", name="Start “Tax basics”").click()
    expect(page.locator("#exam-progress")).to_have_text("Question 1 of 2")
    # The same neutral form as labelling: letters only, no model names, no lease, no skip.
    expect(page.locator("#responses")).not_to_contain_text("model-")
    expect(page.locator("#lease-countdown")).to_be_hidden()
    expect(page.locator("#skip-open")).to_be_hidden()
    page.get_by_role("button", name=re.compile("^Instructions")).click()
    expect(page.locator("#guidelines strong")).to_have_text("accuracy")
    page.get_by_role("button", name="Close the instructions").click()

    # Submitting nothing: the server's error is shown at its field.
    page.locator("#submit-label").click()
    expect(page.locator('[data-errors-for="choice"]')).to_contain_text("Choose an answer")

    _answer_shown_question(page, right=True)
    expect(page.locator("#exam-progress")).to_have_text("Question 2 of 2")
    _answer_shown_question(page, right=True)
    expect(page.locator("#queue-empty-message")).to_have_text("You passed: 2 of 2 right (pass mark 100%).")
    expect(page.locator("#label-status")).to_be_hidden()  # no "Here is the next item" above the result
    assert Qualification.objects.filter(expert=expert, project=exam.project).exists()
    assert ExamQuestion.objects.count() == 2

    page.get_by_role("link", name="Back to your exams").click()
    expect(page.locator("#exam-table tbody tr")).to_contain_text("Qualified")
    page.goto(f"{live_server.url}/label/?project={exam.project.pk}")
    expect(page.locator("#response-A")).to_be_visible()
    assert page.errors == []


def test_a_failed_exam_shows_when_to_retry_and_the_queue_says_why(live_server, page, exam):
    page.goto(f"{live_server.url}/label/?project={exam.project.pk}")
    expect(page.locator("#queue-empty-message")).to_contain_text("qualification exam")
    # the hint adds a link instead of repeating the sentence, and the menu names the project
    expect(page.locator("#queue-empty-hint")).to_have_text("Take it under Exams.")
    expect(page.locator("#queue-empty-hint a")).to_have_attribute("href", "/exams/")
    expect(page.locator("#project-select option:checked")).to_have_text(exam.project.name)

    page.goto(f"{live_server.url}/exams/")
    page.get_by_role("button", name="Start “Tax basics”").click()
    _answer_shown_question(page, right=True)
    expect(page.locator("#exam-progress")).to_have_text("Question 2 of 2")
    _answer_shown_question(page, right=False)
    expect(page.locator("#queue-empty-message")).to_contain_text("Not passed this time: 1 of 2 right")
    expect(page.locator("#queue-empty-message")).to_contain_text("You can try again from")

    page.goto(f"{live_server.url}/exams/")
    expect(page.locator("#exam-table tbody tr")).to_contain_text("retake from")
    page.get_by_role("button", name="Start “Tax basics”").click()
    expect(page.locator(".messages")).to_contain_text("You can retake this exam from")
    assert page.errors == []
