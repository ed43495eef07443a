"""The lab's item API: list with filters, cursor pagination, one item by external_id."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from annotate.models import Item
from tests.factories import (
    BatchFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    LabFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab)


def _items(client, project, query: str = ""):
    return client.get(f"/api/v1/projects/{project.pk}/items" + (f"?{query}" if query else ""))


def test_items_are_listed_in_upload_order_with_state_labels_and_consensus_when_final(lab_client, project):
    batch = BatchFactory(project=project)
    open_item = ItemFactory(batch=batch, external_id="a")
    final = ItemFactory(batch=batch, external_id="b")
    LabelFactory(item=final)
    ItemConsensusFactory(item=final, confidence=0.95)
    Item.objects.filter(pk=final.pk).update(state=Item.State.FINAL)
    labelled = ItemFactory(batch=batch, external_id="c")
    ItemConsensusFactory(item=labelled)  # a consensus, not final yet: not shown

    response = _items(lab_client, project)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    rows = body["results"]
    assert [row["external_id"] for row in rows] == ["a", "b", "c"]
    assert rows[0]["id"] == str(open_item.uid)
    assert rows[0]["batch"] == str(batch.pk)
    assert (rows[0]["state"], rows[0]["labels"], rows[0]["consensus"]) == ("open", 0, None)
    assert (rows[1]["state"], rows[1]["labels"]) == ("final", 1)
    assert rows[1]["consensus"]["confidence"] == 0.95
    assert rows[2]["consensus"] is None
    assert "gold" not in rows[0]  # a gold item's answer is not handed back


def test_filters_by_state_and_batch(lab_client, project):
    first, second = BatchFactory(project=project), BatchFactory(project=project)
    ItemFactory(batch=first, external_id="f-open")
    done = ItemFactory(batch=first, external_id="f-final")
    Item.objects.filter(pk=done.pk).update(state=Item.State.FINAL)
    ItemFactory(batch=second, external_id="s-open")

    by_state = _items(lab_client, project, "state=open").json()["results"]
    by_batch = _items(lab_client, project, f"state=open&batch={first.pk}").json()["results"]
    by_id = _items(lab_client, project, "external_id=s-open").json()["results"]

    assert [row["external_id"] for row in by_state] == ["f-open", "s-open"]
    assert [row["external_id"] for row in by_batch] == ["f-open"]
    assert [row["external_id"] for row in by_id] == ["s-open"]


def test_pages_follow_the_cursor_without_gaps_or_repeats(lab_client, project):
    batch = BatchFactory(project=project)
    for n in range(7):
        ItemFactory(batch=batch, external_id=f"item-{n}", slots=False)

    seen, url = [], f"/api/v1/projects/{project.pk}/items?page_size=3"
    while url:
        body = lab_client.get(url).json()
        seen += [row["external_id"] for row in body["results"]]
        url = body["next"]

    assert seen == [f"item-{n}" for n in range(7)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=open", "status"),
        ("state=closed", "state"),
        ("batch=nope", "batch"),
        ("page_size=0", "page_size"),
        ("state=open&limit=10", "limit"),
    ],
)
def test_unknown_parameters_and_bad_values_are_refused_naming_them(lab_client, project, query, field):
    response = _items(lab_client, project, query)

    assert response.status_code == 400
    assert field in {error["field"] for error in response.json()["errors"]}


def test_a_batch_of_another_project_is_not_found(lab_client, project, lab):
    other = BatchFactory(project=ProjectFactory(lab=lab))

    response = _items(lab_client, project, f"batch={other.pk}")

    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "batch"


def test_one_item_by_its_external_id(lab_client, project):
    item = ItemFactory(batch=BatchFactory(project=project), external_id="cardio/0001 é")

    response = lab_client.get(f"/api/v1/projects/{project.pk}/items/by-external-id/{quote('cardio/0001 é')}")

    assert response.status_code == 200, response.json()
    assert response.json()["id"] == str(item.uid)
    missing = lab_client.get(f"/api/v1/projects/{project.pk}/items/by-external-id/nothing")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "not_found"
    extra = lab_client.get(f"/api/v1/projects/{project.pk}/items/by-external-id/{quote('cardio/0001 é')}?x=1")
    assert extra.status_code == 400
    assert extra.json()["errors"][0]["field"] == "x"


def test_another_labs_items_are_not_found(lab_client):
    theirs = ProjectFactory(lab=LabFactory())
    ItemFactory(batch=BatchFactory(project=theirs), external_id="secret")

    listed = _items(lab_client, theirs)
    one = lab_client.get(f"/api/v1/projects/{theirs.pk}/items/by-external-id/secret")
    unknown = _items(lab_client, ProjectFactory.build(pk=uuid.uuid4()))

    assert listed.status_code == one.status_code == unknown.status_code == 404
    assert listed.json() == unknown.json()
