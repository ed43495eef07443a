"""The audit log is append-only, and every action on trust or access writes one event."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from rlhf_platform.accounts.models import User
from rlhf_platform.accounts.services import api_key_revoke
from rlhf_platform.audit.models import AppendOnlyError, AuditEvent
from rlhf_platform.audit.selectors import audit_events_for
from rlhf_platform.audit.services import audit_record
from tests.factories import CredentialFactory, LabFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(db) -> AuditEvent:
    user = UserFactory()
    return audit_record(action="test.something", target=user, actor=user, data={"n": 1})


# --- Append-only in code ----------------------------------------------------------------------


def test_saving_an_existing_event_is_refused(event):
    event.action = "test.rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    event.refresh_from_db()
    assert event.action == "test.something"


def test_deleting_an_event_is_refused(event):
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_queryset_update_is_refused(event):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="test.rewritten")
    event.refresh_from_db()
    assert event.action == "test.something"


def test_queryset_delete_is_refused(event):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_deleting_the_actor_is_refused_while_events_name_them(event):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        event.actor.delete()


# --- Append-only in the database (PostgreSQL trigger) ---------------------------------------


@pytest.mark.postgres
def test_raw_sql_update_of_an_event_fails_in_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditevent SET action = %s WHERE id = %s", ["test.rewritten", event.pk]
            )
    event.refresh_from_db()
    assert event.action == "test.something"


@pytest.mark.postgres
def test_raw_sql_delete_of_an_event_fails_in_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.postgres
def test_raw_sql_insert_into_the_audit_log_still_works(event):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (created_at, action, target_type, target_id, data) "
            "VALUES (now(), 'test.raw', 'x', '1', '{}')"
        )
    assert AuditEvent.objects.filter(action="test.raw").count() == 1


# --- Actions write one event each -------------------------------------------------------------


def test_signup_writes_one_event_naming_the_new_user():
    response = APIClient().post(
        "/api/v1/auth/signup",
        {"email": "new.expert@example.org", "password": "a-long-enough-passphrase"},
        format="json",
    )
    assert response.status_code == 201
    user = User.objects.get(email="new.expert@example.org")
    events = list(audit_events_for(target=user))
    assert len(events) == 1
    assert events[0].action == "user.signup"
    assert events[0].actor == user
    assert AuditEvent.objects.count() == 1


def test_api_key_creation_writes_one_event_without_the_secret(db):
    lab = LabFactory()
    api_key, raw = make_api_key(lab, scopes=["read"])
    event = audit_events_for(target=api_key).get()
    assert event.action == "api_key.create"
    assert event.data == {"lab": str(lab.pk), "prefix": api_key.prefix, "scopes": ["read"]}
    assert raw not in str(event.data)


def test_api_key_revocation_through_the_api_writes_one_event_naming_the_key_used(lab_key, lab_client):
    lab, own_key, _raw = lab_key
    other, _ = make_api_key(lab, name="old")
    assert lab_client.post(f"/api/v1/lab/api-keys/{other.pk}/revoke").status_code == 200
    events = list(audit_events_for(target=other))
    assert [e.action for e in events] == ["api_key.create", "api_key.revoke"]
    assert events[1].actor is None
    assert events[1].actor_api_key == own_key


def test_api_key_revocation_by_a_person_names_them(db):
    owner = UserFactory()
    api_key, _raw = make_api_key(LabFactory())
    api_key_revoke(api_key=api_key, actor=owner)
    revoke = audit_events_for(target=api_key).get(action="api_key.revoke")
    assert revoke.actor == owner
    assert revoke.actor_api_key is None


def test_refused_revocation_writes_no_event(lab_key):
    _lab, api_key, _raw = lab_key
    api_key_revoke(api_key=api_key, actor=None)
    from rlhf_platform.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError):
        api_key_revoke(api_key=api_key, actor=None)
    assert audit_events_for(target=api_key).filter(action="api_key.revoke").count() == 1


def test_credential_submission_writes_one_event(expert, expert_client, domain):
    response = expert_client.post(
        "/api/v1/me/credentials",
        {"domain": domain.path, "kind": "degree", "title": "MD", "issuer": "Uni", "issued_on": "2015-06-30"},
        format="json",
    )
    assert response.status_code == 201
    event = AuditEvent.objects.get(target_id=response.json()["id"])
    assert event.action == "credential.submit"
    assert event.actor == expert.user


@pytest.mark.parametrize(
    ("factory_kwargs", "action", "body"),
    [
        ({}, "approve", {}),
        ({}, "reject", {"reason": "No."}),
        ({"approved": True}, "revoke", {"reason": "No longer."}),
    ],
)
def test_each_credential_transition_writes_exactly_one_event(staff_client, factory_kwargs, action, body):
    credential = CredentialFactory(**factory_kwargs)
    before = AuditEvent.objects.count()
    response = staff_client.post(f"/api/v1/staff/credentials/{credential.pk}/{action}", body, format="json")
    assert response.status_code == 200
    assert AuditEvent.objects.count() == before + 1
