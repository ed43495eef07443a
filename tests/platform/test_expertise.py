"""Expertise is derived from credentials in force: by domain (and the domains above), by level."""

from __future__ import annotations

import pytest
from django.utils import timezone

from rlhf_platform.experts.selectors import (
    expert_is_eligible,
    expertise_level,
    expertise_levels,
    experts_eligible,
)
from tests.factories import CredentialFactory, DomainFactory, ExpertProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def medicine(db):
    return DomainFactory(slug="medicine")


@pytest.fixture
def cardiology(medicine):
    return DomainFactory(slug="cardiology", parent=medicine)


def test_subdomain_credential_counts_for_the_parent_domain(expert, medicine, cardiology):
    CredentialFactory(expert=expert, domain=cardiology, approved=True, level=3)
    assert cardiology.path == "medicine/cardiology"
    assert expertise_level(expert=expert, domain=cardiology) == 3
    assert expertise_level(expert=expert, domain=medicine) == 3
    assert expert_is_eligible(expert=expert, domain=medicine, min_level=3)


def test_parent_domain_credential_does_not_count_for_a_subdomain(expert, medicine, cardiology):
    CredentialFactory(expert=expert, domain=medicine, approved=True, level=4)
    assert expertise_level(expert=expert, domain=medicine) == 4
    assert expertise_level(expert=expert, domain=cardiology) == 0
    assert not expert_is_eligible(expert=expert, domain=cardiology, min_level=1)


def test_domain_whose_slug_extends_another_is_not_below_it(expert, medicine):
    # "medicine-veterinary" starts with "medicine" but is not under it.
    veterinary = DomainFactory(slug="medicine-veterinary")
    CredentialFactory(expert=expert, domain=veterinary, approved=True, level=3)
    assert expertise_level(expert=expert, domain=medicine) == 0
    assert expertise_level(expert=expert, domain=veterinary) == 3


def test_highest_level_wins(expert, medicine, cardiology):
    CredentialFactory(expert=expert, domain=medicine, approved=True, level=2)
    CredentialFactory(expert=expert, domain=cardiology, approved=True, level=4)
    CredentialFactory(expert=expert, domain=medicine, approved=True, level=1)
    assert expertise_level(expert=expert, domain=medicine) == 4
    assert expertise_level(expert=expert, domain=cardiology) == 4


@pytest.mark.parametrize("status", ["submitted", "rejected", "revoked", "expired"])
def test_credentials_not_approved_do_not_count(expert, medicine, status):
    CredentialFactory(expert=expert, domain=medicine, **({status: True} if status != "submitted" else {}))
    assert expertise_level(expert=expert, domain=medicine) == 0
    assert expert not in experts_eligible(domain=medicine, min_level=1)


def test_eligibility_respects_min_level(medicine):
    practitioner = CredentialFactory(domain=medicine, approved=True, level=2).expert
    authority = CredentialFactory(domain=medicine, approved=True, level=4).expert
    assert set(experts_eligible(domain=medicine, min_level=1)) == {practitioner, authority}
    assert set(experts_eligible(domain=medicine, min_level=3)) == {authority}
    assert set(experts_eligible(domain=medicine, min_level=2)) == {practitioner, authority}


def test_eligibility_needs_one_credential_at_the_level_not_a_sum(expert, medicine):
    CredentialFactory(expert=expert, domain=medicine, approved=True, level=2)
    CredentialFactory(expert=expert, domain=medicine, approved=True, level=2)
    assert not expert_is_eligible(expert=expert, domain=medicine, min_level=3)


def test_suspended_expert_is_not_eligible(expert, medicine):
    CredentialFactory(expert=expert, domain=medicine, approved=True, level=4)
    expert.suspended_at = timezone.now()
    expert.save()
    assert expert not in experts_eligible(domain=medicine, min_level=1)
    # Their expertise is still known; only eligibility is withheld.
    assert expertise_level(expert=expert, domain=medicine) == 4


def test_deactivated_user_is_not_eligible(expert, medicine):
    CredentialFactory(expert=expert, domain=medicine, approved=True, level=4)
    expert.user.is_active = False
    expert.user.save()
    assert expert not in experts_eligible(domain=medicine, min_level=1)


def test_eligible_experts_appear_once_however_many_credentials(expert, medicine, cardiology):
    CredentialFactory(expert=expert, domain=medicine, approved=True, level=3)
    CredentialFactory(expert=expert, domain=cardiology, approved=True, level=3)
    assert list(experts_eligible(domain=medicine, min_level=1)) == [expert]


def test_expertise_levels_include_ancestors(expert, medicine, cardiology):
    law = DomainFactory(slug="law")
    CredentialFactory(expert=expert, domain=cardiology, approved=True, level=3)
    CredentialFactory(expert=expert, domain=law, approved=True, level=2)
    assert expertise_levels(expert=expert) == {"law": 2, "medicine": 3, "medicine/cardiology": 3}


def test_profile_shows_expertise_by_domain_path(expert, expert_client, medicine, cardiology):
    CredentialFactory(expert=expert, domain=cardiology, approved=True, level=4)
    CredentialFactory(expert=expert, domain=medicine, approved=True, level=2)
    response = expert_client.get("/api/v1/me/profile")
    assert response.status_code == 200
    assert response.json()["expertise"] == {"medicine": 4, "medicine/cardiology": 4}


# --- The staff endpoint ---------------------------------------------------------------------


def test_staff_lists_eligible_experts_by_domain_and_level(staff_client, medicine, cardiology):
    cardiologist = CredentialFactory(domain=cardiology, approved=True, level=4).expert
    general = CredentialFactory(domain=medicine, approved=True, level=2).expert
    ExpertProfileFactory()  # no credential
    response = staff_client.get("/api/v1/staff/experts/eligible?domain=medicine&min_level=3")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [str(cardiologist.pk)]
    assert rows[0]["pseudonym"] == cardiologist.pseudonym
    everyone = staff_client.get("/api/v1/staff/experts/eligible?domain=medicine").json()["results"]
    assert {row["id"] for row in everyone} == {str(cardiologist.pk), str(general.pk)}


def test_staff_eligible_list_for_a_subdomain(staff_client, medicine, cardiology):
    CredentialFactory(domain=medicine, approved=True, level=4)
    cardiologist = CredentialFactory(domain=cardiology, approved=True, level=2).expert
    response = staff_client.get("/api/v1/staff/experts/eligible?domain=medicine/cardiology")
    assert [row["id"] for row in response.json()["results"]] == [str(cardiologist.pk)]


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("", "domain", "required"),
        ("?domain=astrology", "domain", "does_not_exist"),
        ("?domain=medicine&min_level=7", "min_level", "invalid"),
        ("?domain=medicine&min_level=0", "min_level", "invalid"),
        ("?domain=medicine&min_level=high", "min_level", "invalid"),
    ],
)
def test_staff_eligible_list_refuses_bad_queries_naming_the_parameter(
    staff_client, medicine, query, field, code
):
    response = staff_client.get(f"/api/v1/staff/experts/eligible{query}")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == field
    assert error["code"] == code
