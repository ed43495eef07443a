import re

import pytest

from rlhf_platform.core.health import CHECKS


@pytest.mark.django_db
def test_healthz_says_only_ok_to_anyone(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_healthz_details_need_staff_or_the_health_token(client, settings, staff_user, expert):
    settings.HEALTH_TOKEN = "s3cret-monitoring-token"
    names = [name for name, _ in CHECKS]
    assert client.get("/healthz", HTTP_AUTHORIZATION="Bearer wrong").json() == {"status": "ok"}
    by_token = client.get("/healthz", HTTP_AUTHORIZATION="Bearer s3cret-monitoring-token").json()
    assert set(names) <= set(by_token)
    client.force_login(expert.user)
    assert client.get("/healthz").json() == {"status": "ok"}
    client.force_login(staff_user)
    assert set(names) <= set(client.get("/healthz").json())


@pytest.mark.django_db
def test_no_token_is_accepted_when_none_is_set(client, settings):
    settings.HEALTH_TOKEN = ""
    assert client.get("/healthz", HTTP_AUTHORIZATION="Bearer ").json() == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_reports_database_channel_layer_and_broker_up(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["channel_layer"]["ok"] is True
    assert body["broker"]["ok"] is True


@pytest.mark.django_db
def test_healthz_is_503_when_the_channel_layer_is_down(client, settings, staff_user):
    client.force_login(staff_user)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Nothing listens on port 1: the layer cannot answer.
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = client.get("/healthz")
        client.logout()
        public = client.get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert public.status_code == 503 and public.json() == {"status": "unavailable"}
    assert body["channel_layer"]["ok"] is False
    assert body["database"]["ok"] is True


@pytest.mark.django_db
def test_api_docs_and_schema_render_without_login(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/me/credentials" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI is served from the sidecar package, not a CDN: every script and stylesheet is
    # ours. (Not a search for "cdn": a random nonce spells it now and then.)
    sources = re.findall(rb'(?:src|href)="([^"]*\.(?:js|css))"', docs.content)
    assert sources and all(src.startswith(b"/static/") for src in sources)
    assert b"swagger-ui" in docs.content


@pytest.mark.django_db
def test_openapi_schema_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(target))
    text = target.read_text()
    assert "labApiKey" in text  # the bearer scheme of lab keys is documented
    assert "/api/v1/projects/{project_id}/batches" in text
