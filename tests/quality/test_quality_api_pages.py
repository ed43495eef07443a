"""The staff quality pages: the project list, a project's report with its annotator table and
filters, an item's labels; refused to anyone but staff."""

from __future__ import annotations

import pytest
from django.test import Client

from annotate.models import AnnotatorQuality
from tests.factories import (
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_browser():
    client = Client()
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def labelled(lab):
    project = ProjectFactory(lab=lab, name="Contract review")
    good, careless = ExpertProfileFactory(), ExpertProfileFactory()
    items = [ItemFactory(project=project, batch__project=project) for _ in range(3)]
    for n, item in enumerate(items):
        LabelFactory(item=item, expert=good, choice="A")
        LabelFactory(item=item, expert=careless, choice="B" if n else "A")
        ItemConsensusFactory(
            item=item, choice="A", confidence=0.9 if not n else 0.6, agreement=0.5 if n else 1.0
        )
    AnnotatorQuality.objects.create(
        project=project,
        expert=careless,
        labels=3,
        gold_passed=1,
        gold_failed=4,
        status="warned",
        flags=["position_bias"],
    )
    AnnotatorQuality.objects.create(project=project, expert=good, labels=3, gold_passed=5, gold_failed=0)
    return project, items, good, careless


def test_staff_see_the_project_list(staff_browser, labelled):
    project, *_ = labelled
    response = staff_browser.get("/staff/quality/")
    assert response.status_code == 200
    assert project.name in response.content.decode()


def test_project_page_shows_agreement_consensus_and_low_agreement_items(staff_browser, labelled):
    project, items, good, careless = labelled
    page = staff_browser.get(f"/staff/quality/projects/{project.pk}/").content.decode()
    assert 'id="agreement"' in page and "nominal" in page
    assert 'id="chart-confidence"' in page
    assert "Low-agreement items (2)" in page
    assert items[1].external_id in page and items[2].external_id in page
    assert good.pseudonym in page and careless.pseudonym in page


def _annotator_table(page: str) -> str:
    # The charts above name every annotator; the filters apply to the table.
    return page[page.index('id="annotators-heading"') :]


def test_annotator_table_filters_by_status_and_flag(staff_browser, labelled):
    project, _items, good, careless = labelled
    url = f"/staff/quality/projects/{project.pk}/"
    warned = _annotator_table(staff_browser.get(url, {"status": "warned"}).content.decode())
    assert careless.pseudonym in warned and good.pseudonym not in warned
    flagged = _annotator_table(staff_browser.get(url, {"flag": "position_bias"}).content.decode())
    assert careless.pseudonym in flagged and good.pseudonym not in flagged


def test_item_page_lists_labels_by_pseudonym(staff_browser, labelled):
    _project, items, good, careless = labelled
    page = staff_browser.get(f"/staff/quality/items/{items[1].uid}/").content.decode()
    assert good.pseudonym in page and careless.pseudonym in page
    assert good.user.email not in page


@pytest.mark.parametrize("path", ["/staff/quality/", "/staff/quality/projects/{project}/"])
def test_quality_pages_refuse_experts(expert, labelled, path):
    project, *_ = labelled
    client = Client()
    client.force_login(expert.user)
    assert client.get(path.format(project=project.pk)).status_code == 403


def test_an_annotator_without_graded_gold_shows_no_gold_yet_not_a_prior(staff_browser, labelled):
    project, *_ = labelled
    fresh = ExpertProfileFactory()
    AnnotatorQuality.objects.create(project=project, expert=fresh, labels=2, gold_passed=0, gold_failed=0)
    page = staff_browser.get(f"/staff/quality/projects/{project.pk}/").content.decode()
    row = page[page.index(fresh.pseudonym) :].split("</tr>", 1)[0]
    assert "no gold yet" in row and "0/0" not in row and "0.50" not in row
    graded = page[page.index(labelled[3].pseudonym) :].split("</tr>", 1)[0]
    assert "1/5" in graded  # an annotator with graded gold keeps the figures


def test_item_page_shows_the_prompt_and_the_responses_rendered_and_sanitised(staff_browser, lab):
    project = ProjectFactory(lab=lab)
    item = ItemFactory(
        project=project,
        batch__project=project,
        prompt=[
            {"role": "system", "content": "Answer as a pharmacist."},
            {"role": "user", "content": "Is **ibuprofen** safe with warfarin? Dose $d = 2x$."},
        ],
        responses=[
            {"id": "r1", "model": "m-1", "text": "No.\n\n```python\nprint('bleeding risk')\n```"},
            {
                "id": "r2",
                "model": "m-2",
                "text": "| drug | risk |\n|---|---|\n| ibuprofen | high |<script>x()</script>",
            },
        ],
    )
    page = staff_browser.get(f"/staff/quality/items/{item.uid}/").content.decode()
    prompt = page[page.index('id="item-prompt"') :]
    assert "Answer as a pharmacist." in prompt and "<strong>ibuprofen</strong>" in prompt
    assert ">system<" in prompt and ">user<" in prompt
    assert '<span class="math inline">d = 2x</span>' in prompt
    assert "katex.min.js" in page and "js/typeset.js" in page  # typeset in the browser
    first = page[page.index('id="response-A"') : page.index('id="response-B"')]
    assert "r1" in first and "m-1" in first and 'class="highlight"' in first and "bleeding risk" in first
    second = page[page.index('id="response-B"') :]
    assert "<table>" in second and "<td>ibuprofen</td>" in second
    assert "<script>x()" not in page
