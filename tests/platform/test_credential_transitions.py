"""The credential state machine: who may move a credential, where to, and what is recorded."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.audit.selectors import audit_events_for
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import Credential, Level
from rlhf_platform.experts.services import credential_approve
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db


def _url(credential: Credential, action: str) -> str:
    return f"/api/v1/staff/credentials/{credential.pk}/{action}"


def _snapshot(credential: Credential) -> dict:
    credential.refresh_from_db()
    return {
        field: getattr(credential, field)
        for field in ("status", "level", "decision_reason", "reviewed_by_id", "reviewed_at", "updated_at")
    }


# --- Allowed transitions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected_level"),
    [
        (Credential.Kind.DEGREE, Level.EXPERT),
        (Credential.Kind.LICENCE, Level.EXPERT),
        (Credential.Kind.CERTIFICATION, Level.PRACTITIONER),
        (Credential.Kind.PUBLICATION, Level.PRACTITIONER),
        (Credential.Kind.EMPLOYMENT, Level.PRACTITIONER),
    ],
)
def test_approve_without_level_uses_the_default_for_the_kind(staff_client, kind, expected_level):
    credential = CredentialFactory(kind=kind)
    response = staff_client.post(_url(credential, "approve"), {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["level"] == expected_level
    credential.refresh_from_db()
    assert credential.status == Credential.Status.APPROVED
    assert credential.level == expected_level


def test_approve_with_a_level_sets_that_level(staff_client, staff_user):
    credential = CredentialFactory(kind=Credential.Kind.CERTIFICATION)
    response = staff_client.post(_url(credential, "approve"), {"level": 4}, format="json")
    assert response.status_code == 200
    credential.refresh_from_db()
    assert credential.level == 4
    assert credential.reviewed_by == staff_user
    assert credential.reviewed_at is not None


def test_approve_with_a_level_out_of_range_is_400(staff_client):
    credential = CredentialFactory()
    response = staff_client.post(_url(credential, "approve"), {"level": 7}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "level"
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED


def test_reject_with_a_reason_rejects(staff_client):
    credential = CredentialFactory()
    response = staff_client.post(_url(credential, "reject"), {"reason": "Scan unreadable."}, format="json")
    assert response.status_code == 200
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REJECTED
    assert credential.decision_reason == "Scan unreadable."
    assert credential.level is None


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_reject_without_a_reason_is_400_naming_reason(staff_client, body):
    credential = CredentialFactory()
    response = staff_client.post(_url(credential, "reject"), body, format="json")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "reason"
    assert error["code"] in {"required", "blank"}
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED
    assert not audit_events_for(target=credential).exists()


def test_revoke_with_a_reason_revokes_an_approved_credential(staff_client):
    credential = CredentialFactory(approved=True)
    response = staff_client.post(_url(credential, "revoke"), {"reason": "Licence suspended."}, format="json")
    assert response.status_code == 200
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REVOKED
    assert credential.decision_reason == "Licence suspended."


@pytest.mark.parametrize("body", [{}, {"reason": ""}])
def test_revoke_without_a_reason_is_400_naming_reason(staff_client, body):
    credential = CredentialFactory(approved=True)
    response = staff_client.post(_url(credential, "revoke"), body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "reason"
    credential.refresh_from_db()
    assert credential.status == Credential.Status.APPROVED


def test_service_refuses_a_blank_revoke_reason(staff_user):
    from rlhf_platform.experts.services import credential_revoke

    credential = CredentialFactory(approved=True)
    with pytest.raises(ApplicationError) as exc_info:
        credential_revoke(credential=credential, reviewer=staff_user, reason="  ")
    assert exc_info.value.field == "reason"
    assert exc_info.value.code == "required"


# --- Refused transitions --------------------------------------------------------------------

REFUSED = [
    ("rejected", "approve"),
    ("approved", "reject"),
    ("approved", "approve"),
    ("submitted", "revoke"),
    ("rejected", "revoke"),
    ("expired", "approve"),
    ("expired", "reject"),
    ("expired", "revoke"),
    ("revoked", "approve"),
    ("revoked", "reject"),
    ("revoked", "revoke"),
]


@pytest.mark.parametrize(("status", "action"), REFUSED)
def test_refused_transition_is_409_and_changes_nothing(staff_client, status, action):
    credential = CredentialFactory(**({status: True} if status != "submitted" else {}))
    before = _snapshot(credential)
    events_before = AuditEvent.objects.count()
    response = staff_client.post(
        _url(credential, action), {"reason": "Because."} if action != "approve" else {}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["code"] == "invalid_transition"
    assert status in error["message"]
    assert _snapshot(credential) == before
    assert AuditEvent.objects.count() == events_before


# --- Who may move a credential ----------------------------------------------------------------


@pytest.mark.parametrize("action", ["approve", "reject", "revoke"])
def test_expert_cannot_move_their_own_credential(expert, expert_client, action):
    credential = CredentialFactory(expert=expert, **({"approved": True} if action == "revoke" else {}))
    before = _snapshot(credential)
    response = expert_client.post(_url(credential, action), {"reason": "I say so."}, format="json")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"
    assert _snapshot(credential) == before


def test_service_refuses_a_non_staff_reviewer(expert):
    credential = CredentialFactory()
    with pytest.raises(ApplicationError) as exc_info:
        credential_approve(credential=credential, reviewer=expert.user)
    assert exc_info.value.status_code == 403
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED


def test_unknown_credential_is_404_for_staff(staff_client):
    import uuid

    response = staff_client.post(f"/api/v1/staff/credentials/{uuid.uuid4()}/approve", {}, format="json")
    assert response.status_code == 404


# --- Every transition is audited ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory_kwargs", "action", "body", "audit_action", "source", "target"),
    [
        ({}, "approve", {"level": 2}, "credential.approve", "submitted", "approved"),
        ({}, "reject", {"reason": "Forged."}, "credential.reject", "submitted", "rejected"),
        ({"approved": True}, "revoke", {"reason": "Lapsed."}, "credential.revoke", "approved", "revoked"),
    ],
)
def test_transition_writes_one_audit_event_with_actor_and_states(
    staff_client, staff_user, factory_kwargs, action, body, audit_action, source, target
):
    credential = CredentialFactory(**factory_kwargs)
    response = staff_client.post(_url(credential, action), body, format="json")
    assert response.status_code == 200
    events = list(audit_events_for(target=credential))
    assert len(events) == 1
    event = events[0]
    assert event.action == audit_action
    assert event.actor == staff_user
    assert event.data["from"] == source
    assert event.data["to"] == target
    assert event.data["domain"] == credential.domain.path
    assert event.target_type == "experts.credential"
    assert event.target_id == str(credential.pk)


def test_approval_audit_records_the_level(staff_client):
    credential = CredentialFactory()
    staff_client.post(_url(credential, "approve"), {"level": 4}, format="json")
    assert audit_events_for(target=credential).get().data["level"] == 4


def test_rejection_audit_records_the_reason(staff_client):
    credential = CredentialFactory()
    staff_client.post(_url(credential, "reject"), {"reason": "Forged."}, format="json")
    assert audit_events_for(target=credential).get().data["reason"] == "Forged."


# --- Expiry at approval -----------------------------------------------------------------------


def test_approving_a_credential_past_its_expiry_is_409(staff_client):
    credential = CredentialFactory()
    yesterday = timezone.now().date() - dt.timedelta(days=1)
    Credential.objects.filter(pk=credential.pk).update(expires_on=yesterday)
    response = staff_client.post(_url(credential, "approve"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "expires_on"
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED
    assert credential.level is None
    assert not audit_events_for(target=credential).exists()


def test_approving_a_credential_expiring_today_succeeds(staff_client):
    credential = CredentialFactory(expires_on=timezone.now().date())
    response = staff_client.post(_url(credential, "approve"), {}, format="json")
    assert response.status_code == 200
    credential.refresh_from_db()
    assert credential.status == Credential.Status.APPROVED
