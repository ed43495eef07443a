"""The queue's hot-path reads agree with the general selectors they stand in for."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotate.queue import project_with_level
from rlhf_platform.experts.selectors import expertise_level
from tests.factories import CredentialFactory, DomainFactory, ExpertProfileFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _level(expert, project) -> int:
    found = project_with_level(expert=expert, project_id=project.pk)
    assert found is not None
    loaded, level = found
    assert loaded.pk == project.pk
    assert loaded.domain.path == project.domain.path
    assert level == expertise_level(expert=expert, domain=project.domain)
    return level


def test_level_is_zero_without_a_credential():
    assert _level(ExpertProfileFactory(), ProjectFactory()) == 0


def test_a_credential_below_the_projects_domain_counts_and_one_above_does_not():
    medicine = DomainFactory(slug="medicine")
    cardiology = DomainFactory(slug="cardiology", parent=medicine)
    expert = CredentialFactory(approved=True, domain=cardiology, level=4).expert
    assert _level(expert, ProjectFactory(domain=medicine)) == 4
    generalist = CredentialFactory(approved=True, domain=medicine, level=3).expert
    assert _level(generalist, ProjectFactory(domain=cardiology)) == 0


def test_the_highest_credential_in_force_counts_and_expired_or_pending_ones_do_not():
    domain = DomainFactory()
    expert = CredentialFactory(approved=True, domain=domain, level=2).expert
    yesterday = timezone.now().date() - dt.timedelta(days=1)
    CredentialFactory(expert=expert, approved=True, domain=domain, level=4, expires_on=yesterday)
    CredentialFactory(expert=expert, domain=domain, level=4)  # submitted, not approved
    assert _level(expert, ProjectFactory(domain=domain)) == 2


def test_a_domain_whose_path_holds_a_like_wildcard_matches_only_itself():
    # "_" is LIKE's one-character wildcard: a path prefix test must not treat it as one.
    base = DomainFactory(slug="a_b")
    lookalike = DomainFactory(slug="axb")
    child = DomainFactory(slug="c", parent=lookalike)
    expert = CredentialFactory(approved=True, domain=child, level=3).expert
    assert _level(expert, ProjectFactory(domain=base)) == 0
    assert _level(expert, ProjectFactory(domain=lookalike)) == 3


def test_an_unknown_project_is_none():
    import uuid

    assert project_with_level(expert=ExpertProfileFactory(), project_id=uuid.uuid4()) is None


def test_the_fast_paths_eligibility_leaves_the_rechecked_gates_to_the_claim():
    """A project suspension is re-checked by the claim statement itself (its ``recheck_sql``),
    so the fast path's eligibility does not read it; Django's path (``project_block``) does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotate.quality.suspension import GATE_NAME, project_suspend
    from annotate.queue.eligibility import project_block, project_open_for_claim

    project = ProjectFactory(min_level=1)
    expert = CredentialFactory(approved=True, domain=project.domain).expert
    project_suspend(project=project, expert_id=expert.pk, reason="staff")
    with CaptureQueriesContext(connection) as queries:
        found = project_open_for_claim(expert_id=expert.pk, project_id=project.pk)
    assert found is not None and found[0].pk == project.pk
    assert not [q for q in queries.captured_queries if "annotate_projectsuspension" in q["sql"]]
    blocked = project_block(expert=expert, project=project)
    assert blocked is not None and blocked.reason == GATE_NAME
