"""A lab's keys and members through the API, for its people's sessions: owners manage, members
see, another lab is not found, the last owner stays."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from rlhf_platform.accounts.models import ApiKey, LabMembership
from rlhf_platform.audit.models import AuditEvent
from tests.factories import LabFactory, LabMembershipFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db


def _session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def owner(lab):
    return LabMembershipFactory(lab=lab, role=LabMembership.Role.OWNER).user


@pytest.fixture
def member(lab):
    return LabMembershipFactory(lab=lab, role=LabMembership.Role.MEMBER).user


def test_an_owner_creates_a_key_whose_secret_is_shown_once_and_works(lab, owner):
    client = _session(owner)

    created = client.post(
        f"/api/v1/labs/{lab.pk}/api-keys", {"name": "ingest", "scopes": ["read", "write"]}, format="json"
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("rlhf_") and body["scopes"] == ["read", "write"]
    assert created["Cache-Control"] == "no-store"
    listed = client.get(f"/api/v1/labs/{lab.pk}/api-keys").json()["results"]
    assert [key["id"] for key in listed] == [body["id"]]
    assert "secret" not in listed[0]
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['secret']}")
    assert key_client.get("/api/v1/lab").status_code == 200
    assert AuditEvent.objects.get(action="api_key.create").actor_id == owner.pk


def test_an_owner_revokes_a_key_and_it_stops_working(lab, owner):
    api_key, raw = make_api_key(lab)
    client = _session(owner)

    revoked = client.post(f"/api/v1/labs/{lab.pk}/api-keys/{api_key.pk}/revoke")
    again = client.post(f"/api/v1/labs/{lab.pk}/api-keys/{api_key.pk}/revoke")

    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert again.status_code == 409
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert key_client.get("/api/v1/lab").status_code == 401


def test_a_member_sees_keys_and_members_but_changes_nothing(lab, owner, member):
    api_key, _ = make_api_key(lab)
    client = _session(member)

    assert client.get(f"/api/v1/labs/{lab.pk}/api-keys").status_code == 200
    assert len(client.get(f"/api/v1/labs/{lab.pk}/members").json()["results"]) == 2
    refused = [
        client.post(f"/api/v1/labs/{lab.pk}/api-keys", {"name": "x", "scopes": ["read"]}, format="json"),
        client.post(f"/api/v1/labs/{lab.pk}/api-keys/{api_key.pk}/revoke"),
        client.post(f"/api/v1/labs/{lab.pk}/members", {"email": UserFactory().email}, format="json"),
        client.patch(f"/api/v1/labs/{lab.pk}/members/{member.pk}", {"role": "owner"}, format="json"),
        client.delete(f"/api/v1/labs/{lab.pk}/members/{owner.pk}"),
    ]

    assert [response.status_code for response in refused] == [403] * 5
    assert ApiKey.objects.filter(lab=lab).count() == 1
    assert LabMembership.objects.get(user=member).role == "member"


def test_another_lab_is_not_found(owner):
    theirs = LabFactory()
    their_owner = LabMembershipFactory(lab=theirs).user
    client = _session(owner)

    responses = [
        client.get(f"/api/v1/labs/{theirs.pk}/api-keys"),
        client.get(f"/api/v1/labs/{theirs.pk}/members"),
        client.delete(f"/api/v1/labs/{theirs.pk}/members/{their_owner.pk}"),
        client.get(f"/api/v1/labs/{uuid.uuid4()}/members"),
    ]

    assert [response.status_code for response in responses] == [404] * 4
    assert LabMembership.objects.filter(lab=theirs).count() == 1


def test_owners_add_change_and_remove_members(lab, owner):
    newcomer = UserFactory(email="ana@lab.example")
    client = _session(owner)

    added = client.post(f"/api/v1/labs/{lab.pk}/members", {"email": "ANA@lab.example"}, format="json")
    twice = client.post(f"/api/v1/labs/{lab.pk}/members", {"email": "ana@lab.example"}, format="json")
    promoted = client.patch(f"/api/v1/labs/{lab.pk}/members/{newcomer.pk}", {"role": "owner"}, format="json")
    removed = client.delete(f"/api/v1/labs/{lab.pk}/members/{newcomer.pk}")

    assert added.status_code == 201 and added.json()["role"] == "member"
    assert twice.status_code == 409
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
    assert removed.status_code == 204
    assert not LabMembership.objects.filter(user=newcomer).exists()
    actions = list(AuditEvent.objects.filter(target_id=str(lab.pk)).values_list("action", flat=True))
    assert {"lab.member_add", "lab.member_role", "lab.member_remove"} <= set(actions)


def test_the_last_owner_can_be_neither_demoted_nor_removed(lab, owner):
    client = _session(owner)

    demoted = client.patch(f"/api/v1/labs/{lab.pk}/members/{owner.pk}", {"role": "member"}, format="json")
    removed = client.delete(f"/api/v1/labs/{lab.pk}/members/{owner.pk}")

    assert demoted.status_code == removed.status_code == 409
    assert demoted.json()["errors"][0]["code"] == removed.json()["errors"][0]["code"] == "last_owner"
    assert LabMembership.objects.get(user=owner).role == "owner"
    second = LabMembershipFactory(lab=lab, role=LabMembership.Role.OWNER).user
    assert client.delete(f"/api/v1/labs/{lab.pk}/members/{second.pk}").status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nobody@example.org"}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "x@example.org", "role": "admin"}, "role"),
        ({"email": "x@example.org", "team": "a"}, "team"),
    ],
)
def test_bad_member_input_names_the_field(lab, owner, body, field):
    UserFactory(email="x@example.org")

    response = _session(owner).post(f"/api/v1/labs/{lab.pk}/members", body, format="json")

    assert response.status_code in (400, 404)
    assert response.json()["errors"][0]["field"] == field


def test_an_unknown_query_parameter_is_refused(lab, owner):
    response = _session(owner).get(f"/api/v1/labs/{lab.pk}/members?role=owner")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "role"


def test_a_lab_key_cannot_manage_the_labs_people(lab, lab_client):
    assert lab_client.get(f"/api/v1/labs/{lab.pk}/members").status_code in (401, 403)
    assert lab_client.post(
        f"/api/v1/labs/{lab.pk}/api-keys", {"name": "x", "scopes": ["read"]}
    ).status_code in (
        401,
        403,
    )
