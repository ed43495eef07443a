"""Sign-up, log-in, home and a lab's API keys, through the HTML pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rlhf_platform.accounts.models import ApiKey, LabMembership, User
from rlhf_platform.experts.models import ExpertProfile
from tests.factories import PASSWORD, LabMembershipFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db


def test_landing_page_links_to_log_in_and_sign_up(client):
    response = client.get("/")
    assert response.status_code == 200
    assert reverse("login").encode() in response.content
    assert reverse("signup").encode() in response.content


def test_sign_up_creates_an_expert_logs_in_and_opens_the_profile(client):
    response = client.post(
        reverse("signup"),
        {"email": "Ada@Example.org", "full_name": "Ada Lovelace", "password": "analytical-engine-1843"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("profile")
    user = User.objects.get(email="ada@example.org")
    assert ExpertProfile.objects.filter(user=user).exists()
    profile_page = client.get(reverse("profile"))
    assert profile_page.status_code == 200
    assert b"Ada Lovelace" in profile_page.content


def test_sign_up_with_a_taken_email_shows_the_error_next_to_the_email_field(client):
    UserFactory(email="taken@example.org")
    response = client.post(
        reverse("signup"),
        {"email": "TAKEN@example.org", "full_name": "Someone", "password": "analytical-engine-1843"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["email"] == ["An account with this e-mail address already exists."]
    assert b'id="id_email_error"' in response.content
    assert response.context["form"]["full_name"].value() == "Someone"  # the form is kept
    assert User.objects.filter(email="taken@example.org").count() == 1


def test_sign_up_with_a_weak_password_shows_why_and_creates_nothing(client):
    response = client.post(
        reverse("signup"), {"email": "new@example.org", "full_name": "", "password": "12345"}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors["password"]
    assert any("too short" in message for message in errors)
    assert b'id="id_password_error"' in response.content
    assert not User.objects.filter(email="new@example.org").exists()
    assert "_auth_user_id" not in client.session


def test_sign_up_shows_the_password_error_beside_an_invalid_email(client):
    response = client.post(reverse("signup"), {"email": "not-an-email", "full_name": "", "password": "12345"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["email"] and any("too short" in message for message in errors["password"])
    assert b'id="id_email_error"' in response.content and b'id="id_password_error"' in response.content
    assert not User.objects.exists()


def test_log_in_by_email_in_any_case_then_log_out(client):
    user = UserFactory(email="grace@example.org")
    response = client.post(reverse("login"), {"username": "Grace@Example.org", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_log_in_with_a_wrong_password_says_so(client):
    UserFactory(email="grace@example.org")
    response = client.post(reverse("login"), {"username": "grace@example.org", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content


def test_home_sends_reviewers_to_the_review_queue(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/")
    assert response["Location"] == reverse("staff-queue")


def test_home_sends_experts_to_their_profile(client, expert):
    client.force_login(expert.user)
    assert client.get("/")["Location"] == reverse("profile")


def test_home_of_a_lab_member_without_expert_profile_is_the_lab_console_with_the_lab_keys(client):
    membership = LabMembershipFactory(role=LabMembership.Role.MEMBER)
    client.force_login(membership.user)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("lab-console", kwargs={"slug": membership.lab.slug})
    assert reverse("lab-keys", kwargs={"slug": membership.lab.slug}).encode() in response.content


def _keys_url(lab) -> str:
    return reverse("lab-keys", kwargs={"slug": lab.slug})


def test_lab_owner_creates_a_key_and_sees_its_secret_only_once(client):
    owner = LabMembershipFactory(role=LabMembership.Role.OWNER)
    client.force_login(owner.user)
    response = client.post(_keys_url(owner.lab), {"name": "ingest pipeline", "scopes": ["read", "write"]})
    assert response.status_code == 200
    secret = response.context["created"]["secret"]
    assert secret.startswith("rlhf_")
    assert secret.encode() in response.content
    assert b"will not be shown again" in response.content
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(lab=owner.lab)
    assert key.scopes == ["read", "write"] and key.created_by == owner.user

    again = client.get(_keys_url(owner.lab))
    assert secret.encode() not in again.content
    assert key.prefix.encode() in again.content


def test_creating_a_key_without_scope_shows_the_service_message(client):
    owner = LabMembershipFactory(role=LabMembership.Role.OWNER)
    client.force_login(owner.user)
    response = client.post(_keys_url(owner.lab), {"name": "no scopes"})
    assert response.status_code == 200
    assert response.context["form"].errors["scopes"] == ["Give at least one scope."]
    assert not ApiKey.objects.filter(lab=owner.lab).exists()


def test_lab_owner_revokes_a_key_and_a_second_revoke_is_refused_politely(client):
    owner = LabMembershipFactory(role=LabMembership.Role.OWNER)
    api_key, _ = make_api_key(owner.lab)
    client.force_login(owner.user)
    url = reverse("lab-key-revoke", kwargs={"slug": owner.lab.slug, "key_id": api_key.pk})
    response = client.post(url, follow=True)
    assert b"revoked; it no longer works" in response.content
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    response = client.post(url, follow=True)
    assert b"already revoked" in response.content


def test_lab_member_sees_the_keys_but_cannot_create_or_revoke(client):
    member = LabMembershipFactory(role=LabMembership.Role.MEMBER)
    api_key, _ = make_api_key(member.lab)
    client.force_login(member.user)
    page = client.get(_keys_url(member.lab))
    assert page.status_code == 200
    assert api_key.prefix.encode() in page.content
    assert b"Create key" not in page.content
    # Creating and revoking are the owners' (lab.keys.manage in the role table).
    assert client.post(_keys_url(member.lab), {"name": "x", "scopes": ["read"]}).status_code == 403
    revoke = reverse("lab-key-revoke", kwargs={"slug": member.lab.slug, "key_id": api_key.pk})
    assert client.post(revoke).status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    assert ApiKey.objects.filter(lab=member.lab).count() == 1


def test_lab_keys_page_is_not_found_for_someone_outside_the_lab(client):
    other = LabMembershipFactory(role=LabMembership.Role.OWNER)
    client.force_login(LabMembershipFactory(role=LabMembership.Role.OWNER).user)
    assert client.get(_keys_url(other.lab)).status_code == 404
    assert client.get(reverse("lab-keys", kwargs={"slug": "no-such-lab"})).status_code == 404


def test_lab_keys_pages_are_refused_to_someone_in_no_lab(client, expert):
    other = LabMembershipFactory(role=LabMembership.Role.OWNER)
    client.force_login(expert.user)
    assert client.get(_keys_url(other.lab)).status_code == 403


def test_lab_keys_page_asks_anonymous_visitors_to_log_in(client):
    other = LabMembershipFactory(role=LabMembership.Role.OWNER)
    response = client.get(_keys_url(other.lab))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
