"""Staff read each annotator's quality in a project, and an item's labels."""

from __future__ import annotations

import pytest

from annotate.models import AnnotatorQuality, ProjectSuspension
from rlhf_platform.audit.services import audit_record
from tests.factories import (
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(lab):
    project = ProjectFactory(lab=lab)
    good, fast = ExpertProfileFactory(), ExpertProfileFactory()
    items = [ItemFactory(project=project, batch__project=project) for _ in range(3)]
    for n, item in enumerate(items):
        LabelFactory(item=item, expert=good, choice="A", active_seconds=30.0)
        LabelFactory(item=item, expert=fast, choice="B" if n else "A", active_seconds=3.0)
        ItemConsensusFactory(item=item, choice="A")
    AnnotatorQuality.objects.create(
        project=project,
        expert=good,
        labels=3,
        gold_passed=5,
        gold_failed=0,
        pairwise_labels=3,
        first_shown_choices=1,
        agreement_hits=3,
        agreement_total=3,
    )
    AnnotatorQuality.objects.create(
        project=project,
        expert=fast,
        labels=3,
        gold_passed=0,
        gold_failed=5,
        status="warned",
        flags=["fast"],
        pairwise_labels=3,
        first_shown_choices=3,
    )
    suspension = ProjectSuspension.objects.create(project=project, expert=fast, reason="gold_accuracy")
    audit_record(action="suspension.create", target=suspension, data={"expert": str(fast.pk)})
    return project, items, good, fast


def _rows(staff_client, project, **params):
    response = staff_client.get(f"/api/v1/staff/projects/{project.pk}/annotators", params)
    assert response.status_code == 200, response.content
    return {row["expert"]: row for row in response.json()["results"]}


def test_gold_accuracy_is_a_beta_posterior_with_its_interval(staff_client, crowd):
    project, _items, good, fast = crowd
    rows = _rows(staff_client, project)
    gold = rows[good.pseudonym]["gold"]
    # 5 of 5 with a Beta(1, 1) prior: Beta(6, 1), whose CDF is x^6.
    assert gold["accuracy"] == pytest.approx(6 / 7, abs=1e-4)
    assert gold["low"] == pytest.approx(0.025 ** (1 / 6), abs=1e-4)
    assert gold["high"] == pytest.approx(0.975 ** (1 / 6), abs=1e-4)
    assert rows[fast.pseudonym]["gold"]["high"] == pytest.approx(1 - 0.025 ** (1 / 6), abs=1e-4)


def test_speed_is_compared_with_the_projects_median(staff_client, crowd):
    project, _items, good, fast = crowd
    rows = _rows(staff_client, project)
    # Active seconds 30, 30, 30, 3, 3, 3: the project's median is 16.5.
    assert rows[good.pseudonym]["speed_vs_project_median"] == pytest.approx(30 / 16.5, abs=1e-3)
    assert rows[fast.pseudonym]["speed_vs_project_median"] == pytest.approx(3 / 16.5, abs=1e-3)


def test_status_flags_agreement_bias_and_history(staff_client, crowd):
    project, _items, good, fast = crowd
    rows = _rows(staff_client, project)
    assert rows[good.pseudonym]["status"] == "active"
    assert rows[fast.pseudonym]["status"] == "suspended"
    assert rows[fast.pseudonym]["flags"] == ["fast"]
    assert rows[good.pseudonym]["agreement_with_final"] == 1.0
    for row in rows.values():
        assert 0 <= row["agreement_leave_one_out"] <= 1
        assert 0 <= row["position_bias_p"] <= 1
        test = row["suspension_test"]
        assert test["threshold_nats"] > 0 and 0 <= test["statistic_nats"] < test["threshold_nats"]
        assert set(test) == {"statistic_nats", "threshold_nats", "change_point", "evidence"}
    assert [e["action"] for e in rows[fast.pseudonym]["history"]] == ["suspension.create"]
    assert rows[good.pseudonym]["history"] == []
    assert rows[fast.pseudonym]["expert_email"] == fast.user.email


def test_annotators_filter_by_status_flag_and_labels(staff_client, crowd):
    project, _items, good, fast = crowd
    assert set(_rows(staff_client, project, status="suspended")) == {fast.pseudonym}
    assert set(_rows(staff_client, project, status="active")) == {good.pseudonym}
    assert set(_rows(staff_client, project, flag="fast")) == {fast.pseudonym}
    assert _rows(staff_client, project, min_labels=4) == {}


def test_item_drill_down_names_annotators_by_pseudonym(staff_client, crowd):
    _project, items, good, fast = crowd
    response = staff_client.get(f"/api/v1/staff/items/{items[1].uid}")
    assert response.status_code == 200
    body = response.json()
    assert body["consensus"]["choice"] == "A"
    assert body["consensus"]["confidence"] == 0.9
    assert body["state"] == "open"
    assert {(label["annotator"], label["choice"]) for label in body["labels"]} == {
        (good.pseudonym, "A"),
        (fast.pseudonym, "B"),
    }
    assert good.user.email not in response.content.decode()


def test_unknown_project_or_item_is_404(staff_client):
    import uuid

    assert staff_client.get(f"/api/v1/staff/projects/{uuid.uuid4()}/annotators").status_code == 404
    assert staff_client.get(f"/api/v1/staff/items/{uuid.uuid4()}").status_code == 404


def test_a_pair_that_copies_each_other_against_the_crowd_is_flagged(staff_client, lab):
    import random

    rng = random.Random(5)
    project = ProjectFactory(lab=lab, overlap=6, max_overlap=6)
    honest = [ExpertProfileFactory() for _ in range(4)]
    pair = [ExpertProfileFactory(), ExpertProfileFactory()]
    for _ in range(60):
        item = ItemFactory(project=project, batch__project=project)
        truth = rng.choice("AB")
        for expert in honest:
            right = rng.random() < 0.8
            LabelFactory(item=item, expert=expert, choice=truth if right else ("B" if truth == "A" else "A"))
        shared = rng.choice("AB")  # the pair answers together, at random against the crowd
        for expert in pair:
            LabelFactory(item=item, expert=expert, choice=shared)
    rows = _rows(staff_client, project)
    assert rows[pair[0].pseudonym]["colluding_with"] == [pair[1].pseudonym]
    assert rows[pair[1].pseudonym]["colluding_with"] == [pair[0].pseudonym]
    assert "collusion" in rows[pair[0].pseudonym]["flags"]
    assert all(rows[expert.pseudonym]["colluding_with"] == [] for expert in honest)
