"""The expert's labels over the API (``GET /api/v1/me/labels``, ``POST .../revise``) and the pages
``/me/labels/`` and ``/me/labels/<assignment>/``: what they show, what they never show (gold),
and the correction form without JavaScript."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotate.label_revisions import MAX_REVISIONS
from annotate.models import Item, ItemConsensus, Label, LabelRevision
from tests.factories import ExpertProfileFactory, ItemFactory, LabelFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _api(expert) -> APIClient:
    client = APIClient()
    client.force_login(expert.user)
    return client


def _label(**fields):
    """A label of canonical A, strength 2, shown in swapped order: the expert answered B."""
    fields.setdefault("choice", "A")
    fields.setdefault("strength", 2)
    fields.setdefault("assignment__shown_order", [1, 0])
    return LabelFactory(**fields)


def _revise_url(label) -> str:
    return f"/api/v1/assignments/{label.assignment_id}/revise"


def test_revise_over_the_api_answers_the_row():
    label = _label()
    response = _api(label.expert).post(_revise_url(label), {"choice": "A", "strength": 3}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["value"]["choice"] == "A" and body["value"]["strength"] == 3
    assert (body["revisions"], body["revisions_left"], body["open"]) == (1, MAX_REVISIONS - 1, True)
    assert Label.objects.get(pk=label.pk).choice == "B"  # canonical


def test_a_gold_label_answers_with_the_same_keys_and_no_grade():
    project = ProjectFactory()
    gold = ItemFactory(project=project, batch__project=project, is_gold=True, gold={"choice": "A"})
    label = _label(item=gold)
    ordinary = _label(project=project, item=ItemFactory(project=project, batch__project=project))
    bodies = [
        _api(x.expert).post(_revise_url(x), {"choice": "tie"}, format="json").json()
        for x in (label, ordinary)
    ]
    assert bodies[0].keys() == bodies[1].keys()
    assert bodies[0]["status"] == bodies[1]["status"] == "awaiting"
    assert "gold" not in str(bodies[0]).lower()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"choice": "Z"}, "choice"),
        ({"choice": "A"}, "strength"),
        ({"choice": "A", "strength": 9}, "strength"),
        ({"choice": "tie", "rationale": 5}, "rationale"),
        ({"choice": "tie", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(body, field):
    label = _label()
    response = _api(label.expert).post(_revise_url(label), body, format="json")
    assert response.status_code == 400
    assert field in str(response.json())
    assert not LabelRevision.objects.exists()


def test_refusals_over_the_api():
    label = _label()
    other = ExpertProfileFactory()
    assert _api(other).post(_revise_url(label), {"choice": "tie"}, format="json").status_code == 404
    unchanged = _api(label.expert).post(_revise_url(label), {"choice": "B", "strength": 2}, format="json")
    assert unchanged.status_code == 400 and "unchanged" in str(unchanged.json())
    Item.objects.filter(pk=label.item_id).update(state=Item.State.FINAL)
    closed = _api(label.expert).post(_revise_url(label), {"choice": "tie"}, format="json")
    assert closed.status_code == 409 and "label_closed" in str(closed.json())
    assert _api(label.expert).post(_revise_url(label), ["tie"], format="json").status_code == 400


def test_my_labels_lists_only_mine_and_filters_by_project():
    mine = _label()
    _label(expert=mine.expert)
    _label()  # someone else's
    client = _api(mine.expert)
    body = client.get("/api/v1/me/labels").json()
    assert body["count"] == 2
    body = client.get(f"/api/v1/me/labels?project={mine.project_id}").json()
    assert [row["assignment"] for row in body["results"]] == [str(mine.assignment_id)]
    assert client.get("/api/v1/me/labels?project=nope").status_code == 400
    assert "page" in str(client.get("/api/v1/me/labels?page=0").json())


def test_consensus_once_final_in_the_letters_seen():
    label = _label()
    Item.objects.filter(pk=label.item_id).update(state=Item.State.FINAL)
    ItemConsensus.objects.create(
        item=label.item, method="majority", choice="A", confidence=0.95, label_count=3
    )
    row = _api(label.expert).get("/api/v1/me/labels").json()["results"][0]
    assert (row["status"], row["consensus"], row["agreed"], row["open"]) == ("final", "B better", True, False)


def test_the_consensus_of_a_final_item_in_the_live_gold_pool_waits():
    label = _label()
    Item.objects.filter(pk=label.item_id).update(
        state=Item.State.FINAL, gold={"choice": "B"}, gold_source="silver"
    )
    ItemConsensus.objects.create(
        item=label.item, method="majority", choice="B", confidence=0.99, label_count=3
    )
    row = _api(label.expert).get("/api/v1/me/labels").json()["results"][0]
    assert (row["status"], row["consensus"], row["agreed"]) == ("final_later", None, None)


def test_the_page_lists_labels_and_the_correction_form_works_without_javascript():
    label = _label(rationale="first thoughts")
    browser = Client()
    browser.force_login(label.expert.user)
    page = browser.get("/me/labels/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/me/labels/{label.assignment_id}/" in html and "B better (clearly better)" in html
    assert "awaiting consensus" in html

    form = browser.get(f"/me/labels/{label.assignment_id}/?next=/label/")
    html = form.content.decode()
    assert 'class="messages"' not in html  # the prompt's messages are not the page's
    assert "Which answer is better?" in html
    assert 'name="choice" value="B" checked' in html
    assert 'name="strength" value="2" checked' in html
    assert "first thoughts" in html
    bad = browser.post(f"/me/labels/{label.assignment_id}/", {"choice": "A"})
    assert bad.status_code == 400 and "strength" in bad.content.decode()
    done = browser.post(
        f"/me/labels/{label.assignment_id}/",
        {"choice": "A", "strength": "3", "next": "/label/", "rationale": ""},
    )
    assert (done.status_code, done["Location"]) == (302, "/label/")
    label.refresh_from_db()
    assert (label.choice, label.strength) == ("B", 3)
    history = browser.get(f"/me/labels/{label.assignment_id}/").content.decode()
    assert "B better (clearly better)" in history and 'id="label-history"' in history
    elsewhere = browser.post(
        f"/me/labels/{label.assignment_id}/", {"choice": "tie", "next": "https://evil.example/"}
    )
    assert elsewhere["Location"] == "/me/labels/"


def test_someone_elses_label_page_is_a_404():
    label = _label()
    browser = Client()
    browser.force_login(ExpertProfileFactory().user)
    assert browser.get(f"/me/labels/{label.assignment_id}/").status_code == 404
    assert browser.post(f"/me/labels/{label.assignment_id}/", {"choice": "tie"}).status_code == 404


def test_a_ranking_with_criteria_is_corrected_through_the_form():
    project = ProjectFactory(ranking=True)
    item = ItemFactory(project=project, batch__project=project)
    ids = [r["id"] for r in item.responses]  # r0..r3, shown in canonical order: A..D
    label = LabelFactory(
        item=item,
        ranking=[[i] for i in ids],
        criteria={i: {"accuracy": 3} for i in ids},
        assignment__shown_order=[0, 1, 2, 3],
    )
    browser = Client()
    browser.force_login(label.expert.user)
    form = browser.get(f"/me/labels/{label.assignment_id}/").content.decode()
    assert 'name="place-C" min="1" max="4" value="3"' in form
    assert 'name="criteria-A-accuracy" value="3" checked' in form
    post = {"place-A": "2", "place-B": "2", "place-C": "1", "place-D": "3"}
    post |= {f"criteria-{x}-accuracy": "3" for x in "ABCD"} | {"criteria-D-accuracy": "1"}
    response = browser.post(f"/me/labels/{label.assignment_id}/", post)
    assert response.status_code == 302, response.content.decode()[-2000:]
    label.refresh_from_db()
    assert label.ranking == [["r2"], ["r0", "r1"], ["r3"]]
    assert label.criteria["r3"] == {"accuracy": 1}
    missing = browser.post(f"/me/labels/{label.assignment_id}/", {"place-A": "1"})
    assert missing.status_code == 400 and "Give response B a place from 1 to 4." in missing.content.decode()
    no_ratings = browser.post(f"/me/labels/{label.assignment_id}/", {f"place-{x}": "1" for x in "ABCD"})
    assert no_ratings.status_code == 400 and "criteria" in no_ratings.content.decode()
    assert Label.objects.get(pk=label.pk).ranking == [["r2"], ["r0", "r1"], ["r3"]]


def test_a_refused_correction_says_why_on_the_page():
    label = _label()
    browser = Client()
    browser.force_login(label.expert.user)
    Item.objects.filter(pk=label.item_id).update(state=Item.State.FINAL)
    page = browser.get(f"/me/labels/{label.assignment_id}/").content.decode()
    assert 'id="correct"' not in page and "can no longer be changed" in page
    refused = browser.post(f"/me/labels/{label.assignment_id}/", {"choice": "tie"})
    assert refused.status_code == 409
    assert 'id="correct-errors"' in refused.content.decode()
