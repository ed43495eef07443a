"""Sign-ups are limited per client address: each hashes a password (about half a second of CPU)
and creates an account, so one address cannot keep the cores busy or mint accounts at will. The
refusal comes before any of that work, on the API (429 with Retry-After) and on the page."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.urls import reverse
from rest_framework.test import APIClient

from rlhf_platform.accounts.models import User
from tests.security.test_login_throttle import Clock

pytestmark = pytest.mark.django_db

SIGNUP = "/api/v1/auth/signup"
PASSWORD = "analytical-engine-1843"


def _api_signup(n: int, address: str):
    return APIClient().post(
        SIGNUP, {"email": f"person{n}@example.org", "password": PASSWORD}, format="json", REMOTE_ADDR=address
    )


def test_an_address_past_its_hourly_sign_ups_is_refused_before_any_work(settings, monkeypatch):
    settings.SIGNUPS_PER_HOUR = 3
    for n in range(3):
        assert _api_signup(n, "198.51.100.7").status_code == 201
    hashed = []
    monkeypatch.setattr(PBKDF2PasswordHasher, "encode", lambda *a, **k: hashed.append(1) or "x")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    refused = _api_signup(3, "198.51.100.7")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "3600"
    (error,) = refused.json()["errors"]
    assert error["code"] == "signup_throttled" and "Too many sign-ups" in error["message"]
    assert hashed == [] and not User.objects.filter(email="person3@example.org").exists()
    # another address has its own count
    assert _api_signup(4, "203.0.113.9").status_code == 201


def test_the_ipv6_prefix_is_one_address_and_the_limit_ends_with_the_hour(settings, monkeypatch):
    settings.SIGNUPS_PER_HOUR = 2
    # The counter's hour is the cache's expiry: the process's own cache, whose clock the test
    # moves (Redis expires keys on its own clock).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    clock = Clock(monkeypatch)
    assert _api_signup(0, "2001:db8:1:2::1").status_code == 201
    assert _api_signup(1, "2001:db8:1:2::ffff").status_code == 201
    assert _api_signup(2, "2001:db8:1:2:abcd::7").status_code == 429  # one subscriber's /64
    assert _api_signup(3, "2001:db8:1:3::1").status_code == 201  # another /64
    clock.tick(3601)
    assert _api_signup(4, "2001:db8:1:2::1").status_code == 201


def test_failed_attempts_count_too(settings):
    """A taken e-mail or a weak password is an attempt: counting only successes would leave the
    account-existence answer and the validators open to a flood."""
    settings.SIGNUPS_PER_HOUR = 2
    assert _api_signup(0, "198.51.100.8").status_code == 201
    assert _api_signup(0, "198.51.100.8").status_code == 400  # taken
    assert _api_signup(1, "198.51.100.8").status_code == 429


def test_the_page_says_so_at_the_form_and_creates_nothing(client, settings):
    settings.SIGNUPS_PER_HOUR = 1
    first = client.post(
        reverse("signup"),
        {"email": "page0@example.org", "full_name": "", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.9",
    )
    assert first.status_code == 302
    client.logout()
    again = client.post(
        reverse("signup"),
        {"email": "page1@example.org", "full_name": "Someone", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.9",
    )
    assert again.status_code == 200
    assert "Too many sign-ups from your network" in again.content.decode()
    assert again.context["form"]["full_name"].value() == "Someone"  # the form is kept
    assert not User.objects.filter(email="page1@example.org").exists()
