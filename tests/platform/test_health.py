import re
import threading

import pytest

from rlhf_platform.core import health
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


# --- The verdict anyone gets is kept a few seconds ------------------------------------------


class _Counting:
    """A check that counts its runs, answers ``ok`` as set, and can be held mid-run."""

    def __init__(self, ok: bool = True) -> None:
        self.runs = 0
        self.ok = ok
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self) -> dict:
        self.runs += 1
        self.entered.set()
        self.release.wait(10)
        return {"ok": self.ok}


@pytest.fixture
def counting(monkeypatch):
    check = _Counting()
    monkeypatch.setattr(health, "CHECKS", [("database", check)])
    return check


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(health.time, "monotonic", lambda: now[0])
    return now


@pytest.mark.django_db
def test_anonymous_probes_run_the_checks_once_per_cache_period(client, settings, counting, clock):
    settings.HEALTH_CACHE_SECONDS = 5
    for _ in range(50):
        assert client.get("/healthz").json() == {"status": "ok"}
    assert counting.runs == 1  # a flood of probes is one run of the checks
    counting.ok = False
    clock[0] += 4.9
    assert client.get("/healthz").status_code == 200  # the verdict of 4.9 s ago
    clock[0] += 0.2
    assert client.get("/healthz").status_code == 503  # past 5 s: checked again
    assert counting.runs == 2


@pytest.mark.django_db
def test_details_always_check_afresh_and_become_the_verdict_everyone_gets(
    client, settings, staff_user, counting, clock
):
    settings.HEALTH_CACHE_SECONDS = 5
    assert client.get("/healthz").status_code == 200
    counting.ok = False
    client.force_login(staff_user)
    details = client.get("/healthz")
    assert details.status_code == 503 and details.json()["database"] == {"ok": False}
    assert client.get("/healthz").status_code == 503  # staff: afresh again
    assert counting.runs == 3
    client.logout()
    assert client.get("/healthz").json() == {"status": "unavailable"}  # the staff run's verdict
    assert counting.runs == 3


@pytest.mark.django_db
def test_zero_seconds_checks_every_probe(client, settings, counting):
    settings.HEALTH_CACHE_SECONDS = 0
    for _ in range(3):
        client.get("/healthz")
    assert counting.runs == 3


def test_a_probe_while_another_checks_answers_the_last_verdict_without_waiting(settings, counting, clock):
    settings.HEALTH_CACHE_SECONDS = 5
    assert health._checks_cached() == {"database": {"ok": True}}
    clock[0] += 6
    counting.ok = False
    counting.entered.clear()
    counting.release.clear()  # the next run hangs, as on a broker that does not answer
    slow = threading.Thread(target=health._checks_cached)
    slow.start()
    try:
        assert counting.entered.wait(5)
        assert health._checks_cached() == {"database": {"ok": True}}  # at once, the last verdict
    finally:
        counting.release.set()
        slow.join(10)
    assert health._checks_cached() == {"database": {"ok": False}}  # the slow run's, now
    assert counting.runs == 2


def test_the_first_probes_wait_for_the_one_run_rather_than_run_their_own(settings, counting):
    settings.HEALTH_CACHE_SECONDS = 5
    counting.release.clear()
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(health._checks_cached())) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert counting.entered.wait(5)
    counting.release.set()
    for thread in threads:
        thread.join(10)
    assert results == [{"database": {"ok": True}}] * 4
    assert counting.runs == 1
