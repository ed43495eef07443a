"""The queue's budget gate: no item is leased that the lab's budget could not pay."""

from __future__ import annotations

import pytest

from annotate.models import Assignment
from annotate.queue import NoWork, assignment_next
from tests.rewards.conftest import credit, expert_at, policy_for


@pytest.fixture
def paid_project(project):
    from tests.factories import ItemFactory

    policy_for(project, base_rate=1000)  # the most one label earns: 1000 x 2.0 (level 4) x 1.0 = 2000
    for _ in range(3):
        ItemFactory(batch__project=project)
    return project


@pytest.mark.django_db
def test_an_empty_budget_stops_the_queue(paid_project):
    result = assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project)
    assert isinstance(result, NoWork) and result.reason == "budget_exhausted"


@pytest.mark.django_db
def test_work_already_handed_out_counts_against_the_budget(paid_project):
    credit(paid_project.lab, 3000)  # one maximum reward (2000) fits, two do not
    first = assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project)
    assert isinstance(first, Assignment)
    second = assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project)
    assert isinstance(second, NoWork) and second.reason == "budget_exhausted"

    credit(paid_project.lab, 1000)  # now 4000: room for the second
    assert isinstance(
        assignment_next(expert=expert_at(paid_project.domain, 2), project=paid_project), Assignment
    )


@pytest.mark.django_db
def test_a_project_without_a_policy_is_not_gated(project):
    from tests.factories import ItemFactory

    ItemFactory(batch__project=project)
    assert isinstance(assignment_next(expert=expert_at(project.domain, 2), project=project), Assignment)
