"""The lab's webhooks API: register, read, change, delete, the delivery log and a test send."""

from __future__ import annotations

import threading
import uuid

import pytest
from rest_framework.test import APIClient

from rlhf_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from rlhf_platform.webhooks.services import webhook_emit
from tests.factories import LabFactory, make_api_key
from tests.webhooks.receiver import wait_until

pytestmark = pytest.mark.django_db

EVENTS = ["batch.completed", "item.finalized"]


def _key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _create(client: APIClient, url: str = "https://hooks.example.org/rlhf", events=None):
    return client.post("/api/v1/webhooks", {"url": url, "events": events or EVENTS}, format="json")


def _first_error(response) -> dict:
    return response.json()["errors"][0]


@pytest.fixture
def webhook(lab_client) -> dict:
    response = _create(lab_client)
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def other_lab_client() -> APIClient:
    _api_key, raw = make_api_key(LabFactory(), name="other lab")
    return _key_client(raw)


@pytest.fixture
def read_only_client(lab_key) -> APIClient:
    lab, _api_key, _raw = lab_key
    _key, raw = make_api_key(lab, scopes=["read"], name="dashboard")
    return _key_client(raw)


# --- Registering and reading ------------------------------------------------------------------


def test_registering_returns_the_endpoint_with_its_signing_secret(lab_key, lab_client):
    response = _create(lab_client, events=["item.finalized", "batch.completed", "item.finalized"])

    assert response.status_code == 201
    body = response.json()
    assert body["url"] == "https://hooks.example.org/rlhf"
    assert body["events"] == ["batch.completed", "item.finalized"]
    assert body["is_active"] is True
    assert body["secret"].startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.lab == lab_key[0]
    assert endpoint.secret == body["secret"]


def test_the_secret_is_shown_once_and_never_by_later_reads(lab_client, webhook):
    detail = lab_client.get(f"/api/v1/webhooks/{webhook['id']}")
    listing = lab_client.get("/api/v1/webhooks")
    patched = lab_client.patch(f"/api/v1/webhooks/{webhook['id']}", {"is_active": False}, format="json")

    for response in (detail, listing, patched):
        assert response.status_code == 200
        assert webhook["secret"].encode() not in response.content
        assert b'"secret"' not in response.content
    assert detail.json()["id"] == webhook["id"]


def test_the_list_shows_only_the_labs_own_endpoints_newest_first(lab_client, other_lab_client):
    first = _create(lab_client, url="https://one.example.org/").json()
    second = _create(lab_client, url="https://two.example.org/").json()
    _create(other_lab_client, url="https://theirs.example.org/")

    response = lab_client.get("/api/v1/webhooks")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [second["id"], first["id"]]


def test_the_list_is_cursor_paginated(lab_client):
    for n in range(3):
        _create(lab_client, url=f"https://{n}.example.org/")

    page = lab_client.get("/api/v1/webhooks?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = lab_client.get(page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None


# --- Refused input ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["not a url", "ftp://files.example.org/hook", "https://example.org:99999/"])
def test_a_bad_url_is_refused_naming_the_field(lab_client, url):
    response = _create(lab_client, url=url)
    assert response.status_code == 400
    assert _first_error(response)["field"] == "url"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("events", "code"),
    [
        (["batch.done"], "invalid_choice"),
        (["batch.completed", "project.deleted"], "invalid_choice"),
        # Test sends are asked for explicitly, never subscribed to.
        (["webhook.test"], "invalid_choice"),
    ],
)
def test_an_unknown_event_is_refused_naming_the_field(lab_client, events, code):
    response = _create(lab_client, events=events)
    assert response.status_code == 400
    assert _first_error(response)["field"] == "events"
    assert _first_error(response)["code"] == code


def test_an_empty_event_list_is_refused(lab_client):
    response = lab_client.post(
        "/api/v1/webhooks", {"url": "https://example.org/", "events": []}, format="json"
    )
    assert response.status_code == 400
    assert _first_error(response)["field"] == "events"


def test_an_unknown_field_is_refused_not_ignored(lab_client):
    response = lab_client.post(
        "/api/v1/webhooks",
        {"url": "https://example.org/", "events": EVENTS, "secret": "whsec_mine"},
        format="json",
    )
    assert response.status_code == 400
    assert _first_error(response) == {"field": "secret", "code": "unknown_field", "message": "Unknown field."}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hook", "http://localhost/hook", "http://10.0.0.5/hook"]
)
def test_a_private_target_is_refused_when_private_targets_are_not_allowed(lab_client, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = _create(lab_client, url=url)
    assert response.status_code == 400
    assert _first_error(response)["code"] == "private_target"
    assert _first_error(response)["field"] == "url"


def test_changing_to_a_private_target_is_refused_too(lab_client, webhook, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = lab_client.patch(
        f"/api/v1/webhooks/{webhook['id']}", {"url": "http://127.0.0.1/hook"}, format="json"
    )
    assert response.status_code == 400
    assert _first_error(response)["code"] == "private_target"
    assert WebhookEndpoint.objects.get(pk=webhook["id"]).url == webhook["url"]


# --- Changing and deleting ----------------------------------------------------------------------


def test_patch_changes_url_events_and_pauses(lab_client, webhook):
    response = lab_client.patch(
        f"/api/v1/webhooks/{webhook['id']}",
        {"url": "https://new.example.org/hook", "events": ["project.completed"], "is_active": False},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["url"], body["events"], body["is_active"]) == (
        "https://new.example.org/hook",
        ["project.completed"],
        False,
    )
    endpoint = WebhookEndpoint.objects.get(pk=webhook["id"])
    assert endpoint.secret == webhook["secret"]  # a change of URL keeps the secret


def test_a_bad_patch_changes_nothing(lab_client, webhook):
    response = lab_client.patch(
        f"/api/v1/webhooks/{webhook['id']}", {"is_active": False, "events": ["nope"]}, format="json"
    )
    assert response.status_code == 400
    assert _first_error(response)["field"] == "events"
    assert WebhookEndpoint.objects.get(pk=webhook["id"]).is_active is True


def test_delete_removes_the_endpoint(lab_client, webhook):
    response = lab_client.delete(f"/api/v1/webhooks/{webhook['id']}")
    assert response.status_code == 204
    assert lab_client.get(f"/api/v1/webhooks/{webhook['id']}").status_code == 404
    assert not WebhookEndpoint.objects.exists()


# --- Tenancy and scopes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "data"),
    [
        ("get", "", None),
        ("patch", "", {"is_active": False}),
        ("delete", "", None),
        ("get", "/deliveries", None),
        ("post", "/test", None),
    ],
)
def test_another_labs_key_gets_404_on_this_labs_webhook(other_lab_client, webhook, method, suffix, data):
    url = f"/api/v1/webhooks/{webhook['id']}{suffix}"
    theirs = getattr(other_lab_client, method)(url, data, format="json")
    nobodys = getattr(other_lab_client, method)(
        f"/api/v1/webhooks/{uuid.uuid4()}{suffix}", data, format="json"
    )

    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json() == nobodys.json()
    endpoint = WebhookEndpoint.objects.get(pk=webhook["id"])
    assert endpoint.is_active is True
    assert not WebhookDelivery.objects.exists()


def test_another_labs_list_does_not_show_this_labs_webhook(other_lab_client, webhook):
    response = other_lab_client.get("/api/v1/webhooks")
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    ("method", "suffix", "data"),
    [
        ("post", None, {"url": "https://example.org/", "events": ["batch.completed"]}),
        ("patch", "", {"is_active": False}),
        ("delete", "", None),
        ("post", "/test", None),
    ],
)
def test_a_read_only_key_cannot_write(read_only_client, webhook, method, suffix, data):
    url = "/api/v1/webhooks" if suffix is None else f"/api/v1/webhooks/{webhook['id']}{suffix}"
    response = getattr(read_only_client, method)(url, data, format="json")
    assert response.status_code == 403
    assert "'write' scope" in _first_error(response)["message"]
    assert WebhookEndpoint.objects.count() == 1
    assert WebhookEndpoint.objects.get().is_active is True


def test_a_read_only_key_can_read(read_only_client, webhook):
    assert read_only_client.get("/api/v1/webhooks").status_code == 200
    assert read_only_client.get(f"/api/v1/webhooks/{webhook['id']}").status_code == 200
    assert read_only_client.get(f"/api/v1/webhooks/{webhook['id']}/deliveries").status_code == 200


# --- The delivery log and the test send -----------------------------------------------------------


@pytest.fixture
def receiving_webhook(lab_client, make_receiver):
    """An endpoint of the lab on a live receiver that fails once, then accepts."""
    receiver = make_receiver([500, 200])
    response = _create(lab_client, url=receiver.url)
    receiver.secret = response.json()["secret"]
    return response.json(), receiver


def test_the_delivery_log_lists_deliveries_newest_first_with_their_attempts(
    lab_key, lab_client, receiving_webhook, django_capture_on_commit_callbacks
):
    webhook, receiver = receiving_webhook
    lab = lab_key[0]
    with django_capture_on_commit_callbacks(execute=True):
        webhook_emit(lab_id=lab.pk, event="batch.completed", data={"batch_id": "b-1"})
    with django_capture_on_commit_callbacks(execute=True):
        webhook_emit(lab_id=lab.pk, event="item.finalized", data={"item_id": "i-1"})

    response = lab_client.get(f"/api/v1/webhooks/{webhook['id']}/deliveries")

    assert response.status_code == 200
    newest, oldest = response.json()["results"]
    assert (newest["event"], oldest["event"]) == ("item.finalized", "batch.completed")
    assert oldest["status"] == "delivered"
    assert oldest["attempt_count"] == 2
    assert [(a["number"], a["status_code"], a["error"]) for a in oldest["attempts"]] == [
        (1, 500, "HTTP 500"),
        (2, 200, ""),
    ]
    assert set(oldest["attempts"][0]) == {"number", "status_code", "error", "duration_ms", "created_at"}
    assert oldest["payload"]["data"] == {"batch_id": "b-1"}
    assert [(a["number"], a["status_code"]) for a in newest["attempts"]] == [(1, 200)]
    assert all(r.signature_ok for r in receiver.receipts)


def test_the_delivery_log_filters_by_status_and_event(
    lab_key, lab_client, receiving_webhook, django_capture_on_commit_callbacks
):
    webhook, _receiver = receiving_webhook
    lab = lab_key[0]
    with django_capture_on_commit_callbacks(execute=True):
        webhook_emit(lab_id=lab.pk, event="batch.completed", data={})
        webhook_emit(lab_id=lab.pk, event="item.finalized", data={})
    url = f"/api/v1/webhooks/{webhook['id']}/deliveries"

    by_event = lab_client.get(url, {"event": "item.finalized"}).json()["results"]
    assert [d["event"] for d in by_event] == ["item.finalized"]
    assert lab_client.get(url, {"status": "failed"}).json()["results"] == []
    assert len(lab_client.get(url, {"status": "delivered"}).json()["results"]) == 2
    refused = lab_client.get(url, {"status": "lost"})
    assert refused.status_code == 400
    assert _first_error(refused)["field"] == "status"


def test_the_delivery_log_shows_only_this_endpoints_deliveries(
    lab_key, lab_client, receiving_webhook, django_capture_on_commit_callbacks
):
    webhook, _receiver = receiving_webhook
    other = _create(lab_client, url="https://other.example.org/", events=["batch.completed"]).json()
    with django_capture_on_commit_callbacks(execute=False):
        webhook_emit(lab_id=lab_key[0].pk, event="batch.completed", data={})

    mine = lab_client.get(f"/api/v1/webhooks/{webhook['id']}/deliveries").json()["results"]
    theirs = lab_client.get(f"/api/v1/webhooks/{other['id']}/deliveries").json()["results"]
    assert len(mine) == len(theirs) == 1
    assert mine[0]["id"] != theirs[0]["id"]
    assert mine[0]["event_id"] == theirs[0]["event_id"]


def test_a_test_send_delivers_a_signed_webhook_test_event_to_that_endpoint_only(
    lab_client, make_receiver, django_capture_on_commit_callbacks
):
    receiver, bystander = make_receiver(), make_receiver()
    webhook = _create(lab_client, url=receiver.url, events=["project.completed"]).json()
    receiver.secret = webhook["secret"]
    _create(lab_client, url=bystander.url)

    with django_capture_on_commit_callbacks(execute=True):
        response = lab_client.post(f"/api/v1/webhooks/{webhook['id']}/test")

    assert response.status_code == 202
    assert response.json()["event"] == "webhook.test"
    [receipt] = receiver.receipts
    assert receipt.signature_ok
    assert receipt.headers["X-Rlhf-Event"] == "webhook.test"
    assert receipt.json["data"]["webhook_id"] == webhook["id"]
    assert bystander.receipts == []
    log = lab_client.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", {"event": "webhook.test"})
    assert [d["status"] for d in log.json()["results"]] == ["delivered"]


@pytest.mark.django_db(transaction=True)
def test_a_test_send_answers_before_the_receiver_does(lab_client, make_receiver, celery_worker):
    # The receiver holds each request until the test releases it, after the API has answered.
    # Had the request waited for the delivery, the receiver would have given up waiting (and
    # recorded so) before the API could answer.
    if celery_worker is None:
        pytest.skip("needs a real Celery worker: set REDIS_URL (eager tasks run inside the request)")

    receiver = make_receiver([200])
    receiver.hold = threading.Event()
    webhook = _create(lab_client, url=receiver.url).json()
    receiver.secret = webhook["secret"]

    response = lab_client.post(f"/api/v1/webhooks/{webhook['id']}/test")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    receiver.hold.set()

    delivery = WebhookDelivery.objects.get(pk=response.json()["id"])
    wait_until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == WebhookDelivery.Status.DELIVERED)
    [receipt] = receiver.receipts
    assert receipt.released is True
    assert receipt.signature_ok
