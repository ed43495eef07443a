"""A session ends after SESSION_IDLE_TIMEOUT_SECONDS without a request (activity keeps it alive)
and SESSION_MAX_AGE_SECONDS after its log-in in any case."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        offset = 0.0

        def tick(self, seconds):
            self.offset += seconds

    clock = Clock()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + clock.offset)
    return clock


@pytest.fixture
def logged_in():
    user = UserFactory()
    client = APIClient()
    response = client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return client


def test_the_session_cookie_and_the_stored_session_expire_after_the_idle_timeout(logged_in, settings):
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_TIMEOUT_SECONDS == 1800
    assert logged_in.cookies["sessionid"]["max-age"] == 1800


def test_an_idle_session_ends(logged_in, clock):
    assert logged_in.get("/api/v1/me").status_code == 200
    clock.tick(1801)
    assert logged_in.get("/api/v1/me").status_code in (401, 403)


def test_activity_keeps_the_session_alive(logged_in, clock):
    for _ in range(6):
        clock.tick(600)
        response = logged_in.get("/api/v1/me")
        assert response.status_code == 200
    # Refreshed at most once a minute: a request right after another saves nothing.
    assert "sessionid" not in logged_in.get("/api/v1/me").cookies


def test_a_refresh_moves_the_stored_expiry(logged_in, clock):
    clock.tick(120)
    response = logged_in.get("/api/v1/me")
    assert response.cookies["sessionid"]["max-age"] == 1800


def test_a_session_ends_at_its_maximum_age_however_active(logged_in, clock, settings):
    settings.SESSION_MAX_AGE_SECONDS = 3600
    for _ in range(6):
        clock.tick(590)
        assert logged_in.get("/api/v1/me").status_code == 200
    clock.tick(100)
    assert logged_in.get("/api/v1/me").status_code in (401, 403)
