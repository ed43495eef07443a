"""axe-core on every page, logged in and before: no serious or critical violation.

The vendored axe-core (``static/vendor/axe-core-*/axe.min.js``) is injected into each page (the
context bypasses the Content-Security-Policy for that script only; the pages themselves load
nothing new) and run with its default rules. One person holds every role the pages need (an
expert with a credential, an admin, a lab owner), so one log-in covers them all."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from annotate.models import Item
from annotate.qualification.services import exam_attempt_start, exam_create
from rewards.payouts.services import payout_run_create
from rlhf_platform.accounts.models import User
from rlhf_platform.experts.selectors import expert_of_user
from tests.browser.conftest import logged_in
from tests.factories import (
    PASSWORD,
    BatchFactory,
    CredentialFactory,
    DomainFactory,
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    LabMembershipFactory,
    ProjectFactory,
    StaffFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
)
from tests.quality.pipeline import expert_for

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")

AXE = next(
    (Path(settings.BASE_DIR) / "frontend_templates" / "static" / "vendor").glob("axe-core-*/axe.min.js")
)
BLOCKING = ("serious", "critical")

# Pages with a known serious or critical violation left for now: path template -> the rule ids
# allowed there, each with why. Empty: every page listed below passes.
ALLOWED: dict[str, set[str]] = {}

PAGES = [
    # the expert
    "/label/?project={project}",
    "/label/gold-review/",
    "/exams/",
    "/exams/attempts/{attempt}/",
    "/earnings/",
    "/wallet/",
    "/payouts/",
    "/profile/",
    "/credentials/new/",
    "/password/change/",
    "/inbox/",
    "/me/quality/",
    "/suspensions/",
    "/me/labels/",
    "/me/labels/{mine}/",
    # staff
    "/staff/quality/",
    "/staff/quality/projects/{project}/",
    "/staff/quality/items/{item}/",
    "/staff/adjudication/",
    "/staff/adjudication/{waiting}/",
    "/staff/credentials/",
    "/staff/credentials/{credential}/",
    "/staff/appeals/",
    "/staff/groups/",
    "/staff/budgets/",
    "/staff/payouts/",
    "/staff/payouts/{run}/",
    "/staff/pipeline/",
    # a lab
    "/labs/{lab}/keys/",
    "/labs/{lab}/",
    "/labs/{lab}/projects/new/",
    "/labs/{lab}/projects/{project}/",
    "/labs/{lab}/projects/{project}/edit/",
    "/labs/{lab}/projects/{project}/upload/",
    "/labs/{lab}/projects/{project}/quality/",
    "/labs/{lab}/projects/{project}/batches/{batch}/",
    "/labs/{lab}/members/",
    "/labs/{lab}/webhooks/",
]

# Before logging in.
ANONYMOUS_PAGES = ["/", "/login/", "/signup/", "/password/reset/"]

RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
  }));
}"""


def test_main_pages_have_no_serious_or_critical_axe_violation(live_server, browser):
    person = StaffFactory(staff_role=User.StaffRole.ADMIN, email="everyone@example.org")
    domain = DomainFactory(slug="cardiology", name="Cardiology")
    CredentialFactory(domain=domain, approved=True, expert=ExpertProfileFactory(user=person))
    membership = LabMembershipFactory(user=person)
    project = ProjectFactory(lab=membership.lab, domain=domain, name="Cardiology answers", gold_rate=0)
    markdown = (
        "**Beta blockers** first.\n\n| drug | dose |\n|---|---|\n| x | 5 mg |\n\n```python\ndose = 5\n```"
    )
    item = ItemFactory(
        batch=BatchFactory(project=project),
        prompt="Which is better? $x^2$",
        responses=[
            {"id": "r0", "model": "m", "text": markdown},
            {"id": "r1", "model": "m", "text": "Plain."},
        ],
    )
    ItemFactory(batch=BatchFactory(project=project))  # the labelling page's next item
    waiting = ItemFactory(batch=BatchFactory(project=project), state=Item.State.ADJUDICATION)
    for shown, choice in ((item, "A"), (waiting, "A"), (waiting, "B")):
        LabelFactory(item=shown, expert=expert_for(project), choice=choice, rationale="Cites the guideline.")
    ItemConsensusFactory(item=waiting, choice="A", confidence=0.5, posterior={"A": 0.5, "B": 0.5})
    credential = CredentialFactory(domain=domain)
    own = LabelFactory(
        item=ItemFactory(batch=BatchFactory(project=project)),
        expert=expert_of_user(person),
        choice="B",
        rationale="Mine.",
    )

    exam = exam_create(
        name="Basics",
        domain=domain,
        items=[
            {
                "external_id": "q1",
                "prompt": "Which is safer?",
                "responses": [{"id": "r0", "text": "Aspirin."}, {"id": "r1", "text": "Nothing."}],
                "gold": {"choice": "A"},
            }
        ],
    )
    attempt, _ = exam_attempt_start(exam=exam, expert=expert_of_user(person))
    run = payout_run_create(trigger="staff", actor=person)

    WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(lab=membership.lab), status="failed", attempts=8)
    found: dict[str, list[dict]] = {}
    anonymous = browser.new_context(bypass_csp=True)
    visitor = anonymous.new_page()
    for path in ANONYMOUS_PAGES:
        response = visitor.goto(live_server.url + path)
        assert response is not None and response.ok, (path, response and response.status)
        visitor.add_script_tag(path=str(AXE))
        blocking = [v for v in visitor.evaluate(RUN) if v["impact"] in BLOCKING]
        if blocking:
            found[path] = blocking
    anonymous.close()
    context, page = logged_in(browser, live_server, person.email, PASSWORD, bypass_csp=True)
    for template in PAGES:
        path = template.format(
            project=project.pk,
            item=item.uid,
            waiting=waiting.uid,
            credential=credential.pk,
            lab=membership.lab.slug,
            mine=own.assignment_id,
            batch=item.batch_id,
            attempt=attempt.pk,
            run=run.pk,
        )
        response = page.goto(live_server.url + path)
        assert response is not None and response.ok, (path, response and response.status)
        if template.startswith(("/label/?", "/exams/attempts/")):
            page.locator("#response-A").wait_for()
        page.add_script_tag(path=str(AXE))
        allowed = ALLOWED.get(template, set())
        blocking = [v for v in page.evaluate(RUN) if v["impact"] in BLOCKING and v["id"] not in allowed]
        if blocking:
            found[template] = blocking
    # axe does find what it should: an unlabelled field and an image without a text.
    page.set_content(
        '<!doctype html><html lang="en"><title>t</title><main><img src="x.png"><input></main></html>'
    )
    page.add_script_tag(path=str(AXE))
    assert {v["id"] for v in page.evaluate(RUN) if v["impact"] in BLOCKING} >= {"image-alt", "label"}
    context.close()
    assert found == {}, "\n".join(
        f"{path}: {v['impact']} {v['id']} ({v['help']}) at {v['targets']}"
        for path, violations in found.items()
        for v in violations
    )
