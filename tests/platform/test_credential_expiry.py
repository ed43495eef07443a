"""An approved credential stops counting on its expiry date, with or without the expiry job."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rlhf_platform.audit.selectors import audit_events_for
from rlhf_platform.experts.models import Credential
from rlhf_platform.experts.selectors import expertise_level, experts_eligible
from rlhf_platform.experts.services import credentials_expire
from rlhf_platform.experts.tasks import credentials_expire_task
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db


def _today() -> dt.date:
    return timezone.now().date()


@pytest.fixture
def approved(expert, domain) -> Credential:
    return CredentialFactory(expert=expert, domain=domain, approved=True, level=3)


def _lapse(credential: Credential, days: int = 1) -> None:
    """Move the expiry date into the past, as the passing of time would."""
    Credential.objects.filter(pk=credential.pk).update(expires_on=_today() - dt.timedelta(days=days))


def test_approved_credential_counts_before_it_expires(expert, domain, approved):
    assert expertise_level(expert=expert, domain=domain) == 3
    assert expert in experts_eligible(domain=domain, min_level=1)


def test_credential_expiring_today_still_counts(expert, domain, approved):
    Credential.objects.filter(pk=approved.pk).update(expires_on=_today())
    assert expertise_level(expert=expert, domain=domain) == 3
    assert expert in experts_eligible(domain=domain, min_level=3)


def test_lapsed_credential_stops_counting_in_expertise_level_before_any_job(expert, domain, approved):
    _lapse(approved)
    assert expertise_level(expert=expert, domain=domain) == 0
    approved.refresh_from_db()
    assert approved.status == Credential.Status.APPROVED  # no job has run


def test_lapsed_credential_stops_counting_in_eligibility_before_any_job(expert, domain, approved):
    _lapse(approved)
    assert expert not in experts_eligible(domain=domain, min_level=1)


def test_lapsed_credential_disappears_from_profile_expertise(expert, expert_client, domain, approved):
    assert expert_client.get("/api/v1/me/profile").json()["expertise"] == {domain.path: 3}
    _lapse(approved)
    response = expert_client.get("/api/v1/me/profile")
    assert response.status_code == 200
    assert response.json()["expertise"] == {}


def test_lapsed_credential_disappears_from_staff_eligible_list(staff_client, expert, domain, approved):
    url = f"/api/v1/staff/experts/eligible?domain={domain.path}"
    assert [row["id"] for row in staff_client.get(url).json()["results"]] == [str(expert.pk)]
    _lapse(approved)
    assert staff_client.get(url).json()["results"] == []


def test_expire_job_moves_lapsed_credentials_to_expired(approved):
    _lapse(approved)
    assert credentials_expire() == 1
    approved.refresh_from_db()
    assert approved.status == Credential.Status.EXPIRED
    assert approved.reviewed_by is None


def test_expire_job_leaves_unexpired_and_unapproved_credentials_alone(expert, domain, approved):
    future = CredentialFactory(
        expert=expert, domain=domain, approved=True, expires_on=_today() + dt.timedelta(days=30)
    )
    today = CredentialFactory(expert=expert, domain=domain, approved=True, expires_on=_today())
    submitted = CredentialFactory(expert=expert, domain=domain)
    Credential.objects.filter(pk=submitted.pk).update(expires_on=_today() - dt.timedelta(days=3))
    assert credentials_expire() == 0
    for credential, status in ((approved, "approved"), (future, "approved"), (today, "approved")):
        credential.refresh_from_db()
        assert credential.status == status
    submitted.refresh_from_db()
    assert submitted.status == Credential.Status.SUBMITTED


def test_expire_job_audits_with_no_actor(approved):
    _lapse(approved)
    credentials_expire()
    event = audit_events_for(target=approved).get()
    assert event.action == "credential.expire"
    assert event.actor is None
    assert event.actor_api_key is None
    assert event.data["from"] == "approved"
    assert event.data["to"] == "expired"


def test_expire_job_is_idempotent(approved):
    _lapse(approved)
    assert credentials_expire() == 1
    assert credentials_expire() == 0
    assert audit_events_for(target=approved).count() == 1


def test_expire_job_with_an_explicit_today_expires_what_is_due_then(approved):
    Credential.objects.filter(pk=approved.pk).update(expires_on=_today() + dt.timedelta(days=10))
    assert credentials_expire(today=_today() + dt.timedelta(days=10)) == 0
    assert credentials_expire(today=_today() + dt.timedelta(days=11)) == 1


def test_expire_task_runs_the_job(approved):
    _lapse(approved)
    # apply() runs the task in this process whatever the broker, as eager mode does.
    result = credentials_expire_task.apply()
    assert result.successful()
    assert result.get() == 1
    approved.refresh_from_db()
    assert approved.status == Credential.Status.EXPIRED
    assert credentials_expire_task.apply().get() == 0
