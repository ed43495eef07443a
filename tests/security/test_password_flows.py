"""A person changes their password (with the current one) or resets a forgotten one through an
e-mailed link, in the browser and through the API; either ends their other sessions, and a
reset request never tells whether an e-mail has an account."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from rlhf_platform.audit.selectors import audit_events_for
from tests.factories import PASSWORD, UserFactory

# transaction=True: the reset e-mail leaves after commit, as it does in production.
pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-brand-new-passphrase-2026"
LOGIN = "/api/v1/auth/login"


def _api_session(user, password=PASSWORD) -> APIClient:
    client = APIClient()
    response = client.post(LOGIN, {"email": user.email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return client


def _link(mailoutbox) -> str:
    (message,) = [m for m in mailoutbox if m.subject.startswith("Reset your password")]
    return re.search(r"https?://\S+/password/reset/\S+/\S+/", message.body).group(0)


@pytest.fixture
def user():
    return UserFactory(email="grace@example.org")


# --- Change -------------------------------------------------------------------------------------


def test_changing_the_password_on_the_page_ends_the_other_sessions(client, user):
    other_device = _api_session(user)
    client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    response = client.post(
        reverse("password-change"),
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert client.get(reverse("profile")).status_code == 200  # this session stays
    assert other_device.get("/api/v1/me").status_code in (401, 403)  # the other one ended
    assert audit_events_for(target=user).filter(action="user.password_change").count() == 1


def test_the_change_needs_the_current_password(client, user):
    client.force_login(user)
    response = client.post(
        reverse("password-change"),
        {"current_password": "wrong", "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert "Your current password is wrong." in response.context["form"].errors["current_password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_the_change_page_needs_a_log_in(client):
    response = client.get(reverse("password-change"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_weak_new_password_is_refused_at_its_field(client, user):
    client.force_login(user)
    response = client.post(
        reverse("password-change"),
        {"current_password": PASSWORD, "new_password": "12345678", "new_password_confirm": "12345678"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password"]


def test_changing_the_password_through_the_api(user):
    client = _api_session(user)
    other_device = _api_session(user)
    response = client.post(
        "/api/v1/auth/password/change",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 204
    assert client.get("/api/v1/me").status_code == 200
    assert other_device.get("/api/v1/me").status_code in (401, 403)
    wrong = client.post(
        "/api/v1/auth/password/change", {"current_password": "nope", "new_password": "x" * 20}, format="json"
    )
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["field"] == "current_password"


def test_guessing_the_current_password_locks_the_account(user):
    client = _api_session(user)
    for attempt in range(5):
        client.post(
            "/api/v1/auth/password/change",
            {"current_password": f"guess-{attempt}", "new_password": NEW_PASSWORD},
            format="json",
        )
    response = client.post(
        "/api/v1/auth/password/change",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 429


# --- Reset --------------------------------------------------------------------------------------


def test_a_reset_by_e_mail_on_the_pages(client, user, mailoutbox):
    other_device = _api_session(user)
    response = client.post(reverse("password-reset"), {"email": "Grace@Example.org"})
    assert response.status_code == 302
    link = _link(mailoutbox)
    assert mailoutbox[0].to == [user.email]
    path = link.split("testserver", 1)[1]
    assert client.get(path).status_code == 200
    response = client.post(path, {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert other_device.get("/api/v1/me").status_code in (401, 403)
    # The link works once.
    again = client.post(
        path, {"new_password": "yet-another-passphrase-9", "new_password_confirm": "yet-another-passphrase-9"}
    )
    assert again.status_code == 400
    actions = [e.action for e in audit_events_for(target=user)]
    assert "user.password_reset_request" in actions and "user.password_reset" in actions


def test_a_reset_request_does_not_tell_whether_the_e_mail_exists(client, user, mailoutbox):
    known = client.post(reverse("password-reset"), {"email": user.email}, follow=True)
    unknown = client.post(reverse("password-reset"), {"email": "nobody@example.org"}, follow=True)
    assert known.status_code == unknown.status_code == 200
    assert [str(m) for m in known.context["messages"]] == [str(m) for m in unknown.context["messages"]]
    assert len(mailoutbox) == 1
    api_known = APIClient().post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
    api_unknown = APIClient().post(
        "/api/v1/auth/password/reset", {"email": "nobody@example.org"}, format="json"
    )
    assert api_known.status_code == api_unknown.status_code == 202
    assert api_known.json() == api_unknown.json()


def test_a_reset_through_the_api(user, mailoutbox):
    APIClient().post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
    uid, token = _link(mailoutbox).rstrip("/").split("/")[-2:]
    response = APIClient().post(
        "/api/v1/auth/password/reset/confirm",
        {"uid": uid, "token": token, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 204
    assert _api_session(user, NEW_PASSWORD).get("/api/v1/me").status_code == 200
    reused = APIClient().post(
        "/api/v1/auth/password/reset/confirm",
        {"uid": uid, "token": token, "new_password": "another-one-2026!"},
        format="json",
    )
    assert reused.status_code == 400 and reused.json()["errors"][0]["code"] == "invalid_token"


def test_a_forged_reset_link_is_refused(client, user):
    response = client.get("/password/reset/Zm9v/abc-123/")
    assert response.status_code == 400
    assert b"invalid or has expired" in response.content


def test_a_reset_clears_a_lock(user, mailoutbox):
    for attempt in range(5):
        APIClient().post(LOGIN, {"email": user.email, "password": f"guess-{attempt}"}, format="json")
    APIClient().post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
    uid, token = _link(mailoutbox).rstrip("/").split("/")[-2:]
    APIClient().post(
        "/api/v1/auth/password/reset/confirm",
        {"uid": uid, "token": token, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert (
        APIClient().post(LOGIN, {"email": user.email, "password": NEW_PASSWORD}, format="json").status_code
        == 200
    )


def test_reset_e_mails_per_account_are_capped(user, mailoutbox, settings):
    settings.PASSWORD_RESET_EMAILS_PER_HOUR = 3
    for _ in range(6):
        response = APIClient().post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
        assert response.status_code == 202
    assert len(mailoutbox) == 3


def test_the_person_is_told_by_e_mail_when_their_password_changes(user, mailoutbox):
    client = _api_session(user)
    client.post(
        "/api/v1/auth/password/change",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    (notice,) = mailoutbox
    assert notice.to == [user.email] and "was just changed" in notice.body
    assert NEW_PASSWORD not in notice.body
    APIClient().post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
    uid, token = _link(mailoutbox).rstrip("/").split("/")[-2:]
    APIClient().post(
        "/api/v1/auth/password/reset/confirm",
        {"uid": uid, "token": token, "new_password": "yet-another-passphrase-9"},
        format="json",
    )
    assert "was just reset" in mailoutbox[-1].body


def test_the_reset_link_uses_site_url_when_set(user, mailoutbox, settings):
    settings.SITE_URL = "https://annotate.example.org"
    APIClient().post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
    assert _link(mailoutbox).startswith("https://annotate.example.org/password/reset/")


def test_e_mail_goes_to_the_console_in_development_and_smtp_in_production():
    import os
    import subprocess
    import sys

    from tests.security.test_security_headers import _production_settings

    assert _production_settings()["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "EMAIL_BACKEND")}
    code = "import rlhf_platform.settings as s; print(s.EMAIL_BACKEND)"
    development = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert development.stdout.split()[-1] == "django.core.mail.backends.console.EmailBackend"
