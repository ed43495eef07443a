"""Production responses carry a strict Content-Security-Policy (no inline script anywhere in the
templates) and HSTS; the API documentation has a policy of its own that still runs no inline
script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

TEMPLATES = Path(django_settings.BASE_DIR) / "frontend_templates"
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE | re.DOTALL)


def _directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def _production_settings() -> dict:
    """The settings module as DEBUG=0 builds it (a fresh interpreter: settings are read once)."""
    code = (
        "import json, django; from django.conf import settings as s; django.setup(); "
        "print(json.dumps({k: getattr(s, k, None) for k in ("
        "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'CONTENT_SECURITY_POLICY', "
        "'SESSION_COOKIE_AGE', 'SESSION_COOKIE_SECURE', 'EMAIL_BACKEND', 'MIDDLEWARE', "
        "'SECURE_REDIRECT_EXEMPT')}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rlhf_platform.settings",
        "DEBUG": "0",
        "SECRET_KEY": "a-production-secret-for-this-test-only-0123456789",
        "ALLOWED_HOSTS": "annotate.example.org",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=django_settings.BASE_DIR,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_settings_turn_on_hsts_csp_and_the_idle_timeout():
    prod = _production_settings()
    assert prod["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert prod["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert prod["SESSION_COOKIE_AGE"] == 1800 and prod["SESSION_COOKIE_SECURE"] is True
    assert "rlhf_platform.core.security_headers.ContentSecurityPolicyMiddleware" in prod["MIDDLEWARE"]
    assert "rlhf_platform.core.sessions.SessionTimeoutMiddleware" in prod["MIDDLEWARE"]
    assert prod["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"


def test_plain_http_can_be_redirected_to_https_except_the_health_check(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = _production_settings()["SECURE_REDIRECT_EXEMPT"]
    response = client.get(reverse("login"))
    assert response.status_code == 301 and response["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200


def test_https_responses_carry_hsts_in_production(client, settings):
    prod = _production_settings()
    settings.SECURE_HSTS_SECONDS = prod["SECURE_HSTS_SECONDS"]
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = prod["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    response = client.get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.parametrize("path", ["/", "/login/", "/signup/", "/healthz", "/api/v1/me"])
def test_every_response_has_a_policy_without_inline_script(client, path):
    header = client.get(path)["Content-Security-Policy"]
    policy = _directives(header)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header


def test_the_policy_allows_this_hosts_websocket_for_live_updates(client):
    assert "connect-src 'self' ws://testserver" in client.get("/")["Content-Security-Policy"]
    assert "wss://testserver" in client.get("/", secure=True)["Content-Security-Policy"]


def test_no_policy_under_debug(client, settings):
    """Django's debug pages and DRF's browsable API (DEBUG only) carry inline scripts."""
    settings.DEBUG = True
    assert "Content-Security-Policy" not in client.get("/login/")


def test_no_template_has_an_inline_script_or_event_handler():
    offenders = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text()
        for match in SCRIPT_TAG.finditer(text):
            attributes = match.group(1)
            if "src=" not in attributes and "application/json" not in attributes:
                offenders.append(f"{template.relative_to(TEMPLATES)}: inline <script>")
        if EVENT_HANDLER.search(text):
            offenders.append(f"{template.relative_to(TEMPLATES)}: inline event handler")
    assert offenders == []


def test_the_profile_page_loads_its_live_updates_from_a_file(client, expert):
    client.force_login(expert.user)
    page = client.get(reverse("profile")).content.decode()
    assert re.search(r'<script src="/static/js/profile_live\.js"', page)
    assert not re.search(r"<script>", page)


def test_the_api_docs_run_no_inline_script_under_their_own_policy(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    policy = _directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]  # Swagger UI's own style block
    page = response.content.decode()
    scripts = SCRIPT_TAG.findall(page)
    assert scripts and all("src=" in attributes for attributes in scripts)
    start_up = re.search(r'<script src="([^"]*\?script[^"]*)"', page).group(1)
    script = client.get(start_up.replace("&amp;", "&"))
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content
