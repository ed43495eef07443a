"""Log-ins, failed log-ins, locks, log-outs and admin changes to access reach the audit log,
without passwords or whole client addresses."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.audit.selectors import audit_events_for
from tests.factories import PASSWORD, ExpertProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
ADDRESS = "198.51.100.77"


def _login(client, email, password):
    return client.post(LOGIN, {"email": email, "password": password}, format="json", REMOTE_ADDR=ADDRESS)


def _actions(user) -> list[str]:
    return [event.action for event in audit_events_for(target=user)]


def test_api_log_in_and_log_out_are_audited_with_a_truncated_address():
    user = UserFactory()
    client = APIClient()
    assert _login(client, user.email, PASSWORD).status_code == 200
    assert client.post("/api/v1/auth/logout", REMOTE_ADDR=ADDRESS).status_code == 204
    assert _actions(user) == ["user.login", "user.logout"]
    login, logout = audit_events_for(target=user)
    assert login.actor == user and logout.actor == user
    assert login.data["via"] == "api"
    assert login.data["ip"] == "198.51.100.0/24"
    assert ADDRESS not in str(login.data) and ADDRESS not in str(logout.data)
    assert len(login.data["ip_hash"]) == 32


def test_a_failed_log_in_is_audited_without_the_password():
    user = UserFactory()
    _login(APIClient(), user.email, "my-secret-guess")
    event = audit_events_for(target=user).get()
    assert event.action == "user.login_failed"
    assert event.actor is None
    assert "my-secret-guess" not in str(event.data) and ADDRESS not in str(event.data)


def test_a_failed_log_in_of_an_unknown_email_keeps_only_a_hash_of_it():
    _login(APIClient(), "typo-password-in-email@example.org", "x")
    event = AuditEvent.objects.get(action="user.login_failed")
    assert event.target_id == ""
    assert "typo-password" not in str(event.data)
    assert len(event.data["email_hash"]) == 32


def test_the_lock_is_audited():
    user = UserFactory()
    for attempt in range(5):
        _login(APIClient(), user.email, f"guess-{attempt}")
    assert _actions(user) == ["user.login_failed"] * 5 + ["user.login_locked"]
    assert audit_events_for(target=user).last().data["seconds"] == 60


def test_page_log_in_and_log_out_are_audited(client):
    user = UserFactory()
    client.post(reverse("login"), {"username": user.email, "password": "wrong"})
    client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    client.post(reverse("logout"))
    assert _actions(user) == ["user.login_failed", "user.login", "user.logout"]
    assert {e.data["via"] for e in audit_events_for(target=user)} == {"page"}


@pytest.fixture
def superuser_client(client):
    admin_user = UserFactory(is_staff=True, is_superuser=True, staff_role="admin")
    client.force_login(admin_user)
    client.admin_user = admin_user
    return client


def _admin_user_form(user, **changes) -> dict:
    form = {
        "email": user.email,
        "full_name": user.full_name,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "staff_role": user.staff_role,
        "is_superuser": "on" if user.is_superuser else "",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v != ""} | {
        k: v for k, v in form.items() if k in ("full_name", "staff_role")
    }


def test_admin_changes_to_role_superuser_and_active_flag_are_audited(superuser_client):
    user = UserFactory()
    url = reverse("admin:accounts_user_change", args=[user.pk])
    response = superuser_client.post(
        url, _admin_user_form(user, is_staff="on", staff_role="admin", is_superuser="on")
    )
    assert response.status_code == 302, response.content[:2000]
    event = audit_events_for(target=user).get(action="user.admin_change")
    assert event.actor == superuser_client.admin_user
    assert event.data["changes"] == {
        "is_staff": [False, True],
        "staff_role": ["", "admin"],
        "is_superuser": [False, True],
    }
    user.refresh_from_db()
    response = superuser_client.post(url, _admin_user_form(user, is_active=""))
    assert response.status_code == 302
    last = audit_events_for(target=user).filter(action="user.admin_change").last()
    assert last.data["changes"] == {"is_active": [True, False]}


def test_an_admin_save_without_access_changes_writes_nothing(superuser_client):
    user = UserFactory()
    url = reverse("admin:accounts_user_change", args=[user.pk])
    assert superuser_client.post(url, _admin_user_form(user, full_name="New Name")).status_code == 302
    assert not audit_events_for(target=user).filter(action="user.admin_change").exists()


def test_an_admin_suspension_of_an_expert_is_audited(superuser_client):
    expert = ExpertProfileFactory()
    url = reverse("admin:experts_expertprofile_change", args=[expert.pk])
    form = {
        "user": str(expert.user.pk),
        "bio": "",
        "links": "[]",
        "suspended_at_0": "2026-12-01",
        "suspended_at_1": "10:00:00",
        "created_at_0": expert.created_at.strftime("%Y-%m-%d"),
        "created_at_1": expert.created_at.strftime("%H:%M:%S"),
    }
    response = superuser_client.post(url, form)
    assert response.status_code == 302, response.content[:3000]
    event = audit_events_for(target=expert).get()
    assert event.action == "expert.admin_suspension_change"
    before, after = event.data["changes"]["suspended_at"]
    assert before is None and after.startswith("2026-12-01")


def test_admin_log_out_is_audited(superuser_client):
    superuser_client.post("/admin/logout/")
    assert _actions(superuser_client.admin_user) == ["user.logout"]


def test_a_password_set_by_an_admin_is_audited_without_the_password(superuser_client):
    user = UserFactory()
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    response = superuser_client.post(
        url, {"password1": "an-admin-chosen-passphrase", "password2": "an-admin-chosen-passphrase"}
    )
    assert response.status_code == 302
    event = audit_events_for(target=user).get(action="user.admin_password_set")
    assert event.actor == superuser_client.admin_user
    assert "an-admin-chosen" not in str(event.data)
