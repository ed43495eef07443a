"""The expert's earnings statement links each line to the label it pays: their own label's page
(/me/labels/<assignment>/, the item as they saw it, with the consensus once final); staff follow
the staff item page instead."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from rlhf_platform.accounts.models import User
from tests.factories import DomainFactory, ExpertProfileFactory, ItemFactory, LabelFactory, ProjectFactory
from tests.rewards.conftest import TOKEN, credit, expert_at, finalise, policy_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _statement_row(page: str) -> str:
    statement = page[page.index('id="statement"') :]
    start = statement.index("<tr id=")
    return statement[start : statement.index("</tr>", start)]


def test_each_statement_line_links_to_the_experts_own_label(django_capture_on_commit_callbacks):
    project = ProjectFactory(domain=DomainFactory(slug="chemistry"), gold_rate=0)
    item = ItemFactory(batch__project=project, external_id="case-paid")
    credit(project.lab, 10 * TOKEN)
    policy_for(project)
    expert = expert_at(project.domain, 3)
    label = LabelFactory(item=item, expert=expert, choice="A", strength=2)
    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)
    client = Client()
    client.force_login(expert.user)
    row = _statement_row(client.get("/earnings/").content.decode())
    assert f'<a href="/me/labels/{label.assignment_id}/">case-paid</a>' in row
    assert "/staff/quality/items/" not in row
    assert client.get(f"/me/labels/{label.assignment_id}/").status_code == 200

    # A reviewer who also labels follows the staff item page.
    reviewer = ExpertProfileFactory(user__is_staff=True, user__staff_role=User.StaffRole.REVIEWER)
    other = ItemFactory(batch__project=project, external_id="case-reviewer")
    LabelFactory(item=other, expert=reviewer, choice="A", strength=2)
    finalise(other, django_capture_on_commit_callbacks, choice="A", strength=2.0)
    client.force_login(reviewer.user)
    row = _statement_row(client.get("/earnings/").content.decode())
    assert f'<a href="/staff/quality/items/{other.uid}/">case-reviewer</a>' in row
