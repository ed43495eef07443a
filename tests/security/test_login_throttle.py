"""Password guessing is slowed: an account locks after a few failures (even the right password is
refused while it lasts), locks grow longer, and one address cannot try many accounts."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"


@pytest.fixture(autouse=True)
def _small_limits(settings):
    settings.LOGIN_LOCKOUT_FAILURES = 5
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 900
    settings.LOGIN_LOCKOUT_SECONDS = 60
    settings.LOGIN_LOCKOUT_MAX_SECONDS = 3600
    settings.LOGIN_IP_MAX_FAILURES = 30


class Clock:
    """``time.time`` stopped, and moved forward on demand only (the counters and the cache's
    expiry read it), so that a slow machine's real seconds cannot end a lock the test still
    expects a second of."""

    def __init__(self, monkeypatch):
        self.offset = 0.0
        start = time.time()
        monkeypatch.setattr(time, "time", lambda: start + self.offset)

    def tick(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


def _api_login(email: str, password: str, address: str = "198.51.100.7"):
    return APIClient().post(LOGIN, {"email": email, "password": password}, format="json", REMOTE_ADDR=address)


def _code(response) -> str:
    return response.json()["errors"][0]["code"]


def test_sixty_wrong_passwords_then_the_right_one_is_refused():
    user = UserFactory(email="grace@example.org")
    for attempt in range(60):
        _api_login(user.email, f"guess-{attempt}")
    response = _api_login(user.email, PASSWORD)
    assert response.status_code == 429
    assert _code(response) == "login_locked"
    assert "locked" in response.json()["errors"][0]["message"]
    assert int(response["Retry-After"]) > 0


def test_the_fifth_failure_locks_and_the_lock_refuses_the_right_password(clock):
    user = UserFactory(email="grace@example.org")
    for attempt in range(4):
        assert _code(_api_login(user.email, f"guess-{attempt}")) == "invalid_credentials"
    assert _api_login(user.email, PASSWORD).status_code == 200  # four failures: not locked yet
    for attempt in range(5):
        last = _api_login(user.email, f"guess-{attempt}")
    assert last.status_code == 429 and _code(last) == "login_locked"
    assert _api_login(user.email, PASSWORD).status_code == 429

    clock.tick(61)
    assert _api_login(user.email, PASSWORD).status_code == 200


def test_each_further_lock_lasts_twice_as_long(clock):
    user = UserFactory(email="grace@example.org")
    for seconds in (60, 120, 240):
        for attempt in range(5):
            last = _api_login(user.email, f"guess-{attempt}")
        assert last.status_code == 429
        assert int(last["Retry-After"]) == seconds
        clock.tick(seconds - 1)
        assert _api_login(user.email, PASSWORD).status_code == 429
        clock.tick(2)


def test_a_lock_of_an_unknown_email_looks_like_any_other():
    for attempt in range(5):
        _api_login("nobody@example.org", f"guess-{attempt}")
    response = _api_login("nobody@example.org", "anything")
    assert response.status_code == 429 and _code(response) == "login_locked"


def test_one_address_trying_many_accounts_must_wait():
    users = [UserFactory() for _ in range(8)]
    for index in range(30):
        _api_login(users[index % 8].email, f"guess-{index}")
    response = _api_login(users[0].email, PASSWORD)
    assert response.status_code == 429 and _code(response) == "login_throttled"
    assert int(response["Retry-After"]) > 0
    # Another address is not affected.
    assert _api_login(users[0].email, PASSWORD, address="203.0.113.9").status_code == 200


def test_addresses_in_one_ipv6_64_share_their_limit():
    user = UserFactory()
    for index in range(30):
        _api_login(f"other{index}@example.org", "guess", address=f"2001:db8:1:2::{index + 1:x}")
    assert _api_login(user.email, PASSWORD, address="2001:db8:1:2::ffff").status_code == 429
    assert _api_login(user.email, PASSWORD, address="2001:db8:1:3::1").status_code == 200


def test_a_successful_log_in_clears_the_failures():
    user = UserFactory()
    for round_number in range(3):
        for attempt in range(4):
            _api_login(user.email, f"guess-{round_number}-{attempt}")
        assert _api_login(user.email, PASSWORD).status_code == 200


def test_the_log_in_page_is_locked_too_and_says_so(client):
    user = UserFactory(email="grace@example.org")
    for attempt in range(5):
        client.post(reverse("login"), {"username": user.email, "password": f"guess-{attempt}"})
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert b"locked" in response.content
    assert "_auth_user_id" not in client.session


def test_failures_on_the_page_and_the_api_count_together(client):
    user = UserFactory()
    for attempt in range(3):
        client.post(reverse("login"), {"username": user.email, "password": f"guess-{attempt}"})
    for attempt in range(2):
        _api_login(user.email, f"guess-{attempt}", address="127.0.0.1")
    assert _api_login(user.email, PASSWORD).status_code == 429


def test_the_admin_has_no_unthrottled_log_in_form(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    # Posting a password to the admin's old form does nothing.
    user = UserFactory(is_staff=True, is_superuser=True)
    client.post("/admin/login/", {"username": user.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def test_the_lock_is_per_account_whatever_the_case_of_the_email():
    from rlhf_platform.accounts.login_throttle import login_failure_count, login_refusal

    for _ in range(5):
        seconds = login_failure_count(email="x@example.org", address="192.0.2.1")
    assert seconds == 60
    assert login_refusal(email="X@Example.org ", address="192.0.2.2") is not None
    assert login_refusal(email="y@example.org", address="192.0.2.2") is None
