"""A cross-site page cannot log a visitor into an account (login CSRF), while scripts without a
session still log in with one JSON request."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
SIGNUP = "/api/v1/auth/signup"
NEW_ACCOUNT = {"email": "attacker@example.org", "password": "a-long-enough-passphrase"}


@pytest.fixture
def browser():
    """Django's test client with CSRF checks on, as a browser meets them."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def attacker():
    return UserFactory(email="attacker@example.org")


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
)
def test_a_cross_site_form_cannot_log_in_through_the_api(browser, attacker, content_type):
    body = {"email": attacker.email, "password": PASSWORD}
    if content_type == "text/plain":
        response = browser.post(
            LOGIN, json.dumps(body), content_type="text/plain", HTTP_ORIGIN="https://evil.example"
        )
    elif content_type == "multipart/form-data":
        response = browser.post(LOGIN, body, HTTP_ORIGIN="https://evil.example")
    else:
        response = browser.post(
            LOGIN, "email=attacker%40example.org&password=" + PASSWORD, content_type=content_type
        )
    assert response.status_code in (403, 415)
    assert "_auth_user_id" not in browser.session


def test_a_form_encoded_log_in_is_refused_as_not_json(attacker):
    response = APIClient().post(LOGIN, {"email": attacker.email, "password": PASSWORD}, format="multipart")
    assert response.status_code == 415
    assert response.json()["errors"][0]["code"] == "unsupported_media_type"


def test_json_from_another_origin_is_refused(browser, attacker):
    response = browser.post(
        LOGIN,
        {"email": attacker.email, "password": PASSWORD},
        content_type="application/json",
        HTTP_ORIGIN="https://evil.example",
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "csrf_failed"
    assert "_auth_user_id" not in browser.session


def test_a_cross_site_fetch_is_refused_by_its_fetch_metadata(browser, attacker):
    response = browser.post(
        LOGIN,
        {"email": attacker.email, "password": PASSWORD},
        content_type="application/json",
        HTTP_SEC_FETCH_SITE="cross-site",
    )
    assert response.status_code == 403


def test_a_cross_site_form_cannot_sign_a_visitor_up(browser):
    response = browser.post(SIGNUP, NEW_ACCOUNT, HTTP_ORIGIN="https://evil.example")
    assert response.status_code in (403, 415)
    assert "_auth_user_id" not in browser.session
    response = browser.post(
        SIGNUP, NEW_ACCOUNT, content_type="application/json", HTTP_ORIGIN="https://evil.example"
    )
    assert response.status_code == 403


def test_a_script_without_a_session_logs_in_with_one_json_request(browser, attacker):
    response = browser.post(
        LOGIN, {"email": attacker.email, "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200
    assert browser.session["_auth_user_id"] == str(attacker.pk)
    assert "csrftoken" in response.cookies


def test_the_site_itself_may_log_in_through_the_api(browser, attacker, settings):
    response = browser.post(
        LOGIN,
        {"email": attacker.email, "password": PASSWORD},
        content_type="application/json",
        HTTP_ORIGIN="http://testserver",
        HTTP_SEC_FETCH_SITE="same-origin",
    )
    assert response.status_code == 200
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.org"]
    response = browser.post(
        LOGIN,
        {"email": attacker.email, "password": PASSWORD},
        content_type="application/json",
        HTTP_ORIGIN="https://app.example.org",
    )
    assert response.status_code == 200


def test_the_log_in_page_needs_its_csrf_token(browser, attacker):
    response = browser.post(reverse("login"), {"username": attacker.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in browser.session
    page = browser.get(reverse("login"))
    token = page.cookies["csrftoken"].value
    response = browser.post(
        reverse("login"), {"username": attacker.email, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert browser.session["_auth_user_id"] == str(attacker.pk)


def test_the_sign_up_page_needs_its_csrf_token(browser):
    response = browser.post(reverse("signup"), {**NEW_ACCOUNT, "full_name": ""})
    assert response.status_code == 403
    assert "_auth_user_id" not in browser.session
