"""The project quality report through the API: numbers checked against a hand-computed
example, lab tenancy, and staff-only endpoints refusing labs and experts."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from tests.factories import (
    BatchFactory,
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    make_api_key,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab)


@pytest.fixture
def example(project):
    """Two experts on four items in two batches:

    ====  =======  ====  ====  =========
    item  batch    e1    e2    consensus
    ====  =======  ====  ====  =========
    u1    1        A     A     A (0.95, agreement 1)
    u2    1        A     A     A (0.95, agreement 1)
    u3    2        B     B     B (0.9, agreement 1)
    u4    2        A     B     A (0.5, agreement 0.5)
    ====  =======  ====  ====  =========

    By hand (Krippendorff 2011): coincidences o_AA = 4, o_BB = 2, o_AB = o_BA = 1; n = 8,
    n_A = 5, n_B = 3. D_o = 2/8, D_e = 2*5*3/(8*7) = 30/56, alpha = 1 - (2/8)/(30/56) = 0.5333.
    Every strength is 2, so the signed strength is +-2: two values, the same alpha (ordinal).
    Fleiss (1971): P_bar = 3/4, P_e = (5/8)^2 + (3/8)^2 = 34/64, kappa = (48-34)/(64-34) = 0.4667.
    Batch 2 alone: n = 4, n_A = 1, n_B = 3, D_o = 2/4, D_e = 2*1*3/(4*3) = 1/2, alpha = 0;
    batch 1 has one value only: alpha undefined.
    """
    e1, e2 = ExpertProfileFactory(), ExpertProfileFactory()
    b1, b2 = BatchFactory(project=project), BatchFactory(project=project)
    rows = [(b1, "A", "A", "A", 0.95, 1.0), (b1, "A", "A", "A", 0.95, 1.0)]
    rows += [(b2, "B", "B", "B", 0.9, 1.0), (b2, "A", "B", "A", 0.5, 0.5)]
    items = []
    for batch, c1, c2, consensus, confidence, agreement in rows:
        item = ItemFactory(batch=batch, project=project)
        LabelFactory(item=item, expert=e1, choice=c1)
        LabelFactory(item=item, expert=e2, choice=c2)
        ItemConsensusFactory(
            item=item, choice=consensus, confidence=confidence, agreement=agreement, label_count=2
        )
        items.append(item)
    # A gold item and its label are not part of agreement.
    gold = ItemFactory(project=project, batch=b1, is_gold=True, gold={"choice": "B"})
    LabelFactory(item=gold, expert=e1, choice="A")
    return {"items": items, "experts": (e1, e2), "batches": (b1, b2)}


def _agreement(report, criterion):
    return next(a for a in report["agreement"] if a["criterion"] == criterion)


def test_report_matches_the_hand_computed_example(lab_client, project, example):
    response = lab_client.get(f"/api/v1/projects/{project.pk}/quality", {"n_boot": 200})
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["labels"] == 8
    assert report["items_labelled"] == 4
    assert report["annotators"] == 2
    choice = _agreement(report, "choice")
    assert choice["level"] == "nominal"
    assert choice["alpha"] == pytest.approx(1 - (2 / 8) / (30 / 56), abs=1e-4)
    assert choice["low"] <= choice["alpha"] <= choice["high"]
    strength = _agreement(report, "strength")
    assert strength["level"] == "ordinal"
    assert strength["alpha"] == pytest.approx(0.5333, abs=1e-4)
    fleiss = report["fleiss_kappa"]
    assert fleiss["kappa"] == pytest.approx(14 / 30, abs=1e-4)
    assert (fleiss["raters_per_item"], fleiss["items"], fleiss["items_left_out"]) == (2, 4, 0)


def test_report_gives_alpha_per_batch(lab_client, project, example):
    report = lab_client.get(f"/api/v1/projects/{project.pk}/quality", {"n_boot": 0}).json()
    b1, b2 = example["batches"]
    per_batch = {row["batch"]: row for row in report["per_batch"]}
    assert per_batch[str(b1.pk)]["alpha"] is None
    assert per_batch[str(b2.pk)]["alpha"] == pytest.approx(0.0, abs=1e-9)
    assert per_batch[str(b2.pk)]["labels"] == 4


def test_report_gives_the_consensus_distribution_and_low_agreement_items(lab_client, project, example):
    report = lab_client.get(f"/api/v1/projects/{project.pk}/quality", {"n_boot": 0}).json()
    consensus = report["consensus"]
    assert consensus["choice_counts"] == {"A": 3, "B": 1, "tie": 0, "both_bad": 0}
    assert consensus["choice_shares"]["A"] == 0.75
    assert consensus["states"]["open"] == 4
    histogram = [b["items"] for b in consensus["confidence_histogram"]]
    assert histogram == [0, 0, 0, 0, 0, 1, 0, 0, 0, 3]
    low = report["low_agreement_items"]
    assert low["count"] == 1
    assert low["results"][0]["external_id"] == example["items"][3].external_id
    assert low["results"][0]["agreement"] == 0.5


def test_low_agreement_items_are_paginated_least_agreed_first(lab_client, project, example):
    from annotate.models import ItemConsensus

    u3, u4 = example["items"][2], example["items"][3]
    ItemConsensus.objects.filter(item=u3).update(agreement=0.55)
    url = f"/api/v1/projects/{project.pk}/quality"
    first = lab_client.get(url, {"n_boot": 0, "limit": 1}).json()["low_agreement_items"]
    second = lab_client.get(url, {"n_boot": 0, "limit": 1, "offset": 1}).json()["low_agreement_items"]
    assert first["count"] == second["count"] == 2
    assert [r["item"] for r in first["results"]] == [str(u4.uid)]
    assert [r["item"] for r in second["results"]] == [str(u3.uid)]


def test_report_never_names_an_annotator(lab_client, project, example):
    body = lab_client.get(f"/api/v1/projects/{project.pk}/quality", {"n_boot": 0}).content.decode()
    for expert in example["experts"]:
        assert expert.pseudonym not in body
        assert expert.user.email not in body


def test_lab_gets_404_on_another_labs_project_report(lab_client, example):
    theirs = ProjectFactory()
    response = lab_client.get(f"/api/v1/projects/{theirs.pk}/quality")
    assert response.status_code == 404
    nobodys = lab_client.get(f"/api/v1/projects/{uuid.uuid4()}/quality")
    assert response.json() == nobodys.json()


def test_report_needs_the_read_scope(project):
    _key, raw = make_api_key(project.lab, scopes=["write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(f"/api/v1/projects/{project.pk}/quality").status_code == 403


def test_staff_see_the_same_report(staff_client, lab_client, project, example):
    staff = staff_client.get(f"/api/v1/staff/projects/{project.pk}/quality", {"n_boot": 100}).json()
    lab = lab_client.get(f"/api/v1/projects/{project.pk}/quality", {"n_boot": 100}).json()
    assert staff == lab


def test_bad_report_parameters_name_their_field(lab_client, project):
    response = lab_client.get(f"/api/v1/projects/{project.pk}/quality", {"limit": 0})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "limit"


def test_ranking_and_likert_criteria_get_ordinal_and_interval_alpha(lab_client, lab):
    project = ProjectFactory(lab=lab, ranking=True)
    e1, e2 = ExpertProfileFactory(), ExpertProfileFactory()
    for n in range(3):
        item = ItemFactory(project=project, batch__project=project)
        for expert in (e1, e2):
            LabelFactory(
                item=item,
                expert=expert,
                criteria={r["id"]: {"accuracy": 1 + (i + n) % 5} for i, r in enumerate(item.responses)},
            )
    report = lab_client.get(f"/api/v1/projects/{project.pk}/quality", {"n_boot": 0}).json()
    names = {(a["criterion"], a["level"]) for a in report["agreement"]}
    assert names == {
        ("ranking", "ordinal"),
        ("criteria.accuracy", "ordinal"),
        ("criteria.accuracy", "interval"),
    }
    # Both experts gave identical rankings and ratings: perfect agreement.
    assert _agreement(report, "ranking")["alpha"] == pytest.approx(1.0)
    assert report["fleiss_kappa"] is None


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/staff/projects/{project}/quality",
        "/api/v1/staff/projects/{project}/annotators",
        "/api/v1/staff/items/{item}",
    ],
)
def test_staff_only_endpoints_refuse_labs_and_experts(lab_client, expert_client, project, example, url):
    url = url.format(project=project.pk, item=example["items"][0].uid)
    assert lab_client.get(url).status_code in (401, 403)
    assert expert_client.get(url).status_code == 403


def test_a_new_label_refreshes_the_cached_agreement(lab_client, project, example):
    url = f"/api/v1/projects/{project.pk}/quality"
    first = lab_client.get(url, {"n_boot": 0}).json()
    assert lab_client.get(url, {"n_boot": 0}).json() == first
    LabelFactory(item=example["items"][3], expert=ExpertProfileFactory(), choice="A")
    second = lab_client.get(url, {"n_boot": 0}).json()
    assert second["labels"] == 9
    assert second["annotators"] == 3
