"""Live notifications over ``/ws/notifications/``, sent only after the change has committed.

The socket client and the requests that trigger events run in one event loop (driven by
``async_to_sync``); database work inside it goes through ``sync_to_async``, which runs it on
the test's own thread and so on the test's database connection.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from rest_framework.test import APIClient

from rlhf_platform.accounts.models import Notification
from rlhf_platform.asgi import application
from tests.factories import CredentialFactory, ExpertProfileFactory, StaffFactory
from tests.platform.websocket_client import WebsocketClient

PATH = "/ws/notifications/"
ORIGIN = (b"origin", b"http://localhost")
TIMEOUT = 5


def _session_headers(user) -> list[tuple[bytes, bytes]]:
    client = APIClient()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode())]


def _staff_client(staff) -> APIClient:
    client = APIClient()
    client.force_login(staff)
    return client


@pytest.mark.django_db(transaction=True)
def test_anonymous_socket_is_closed():
    async def scenario():
        communicator = WebsocketClient(application, PATH, headers=[ORIGIN])
        connected, code = await communicator.connect(timeout=TIMEOUT)
        await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert connected is False
    assert code == 4401


@pytest.mark.django_db(transaction=True)
def test_socket_from_a_foreign_origin_is_refused():
    expert = ExpertProfileFactory()
    headers = [h for h in _session_headers(expert.user) if h[0] != b"origin"]
    headers.append((b"origin", b"https://evil.example"))

    async def scenario():
        communicator = WebsocketClient(application, PATH, headers=headers)
        connected, _code = await communicator.connect(timeout=TIMEOUT)
        await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)() is False


@pytest.mark.django_db(transaction=True)
def test_expert_socket_receives_the_approval_after_commit():
    credential = CredentialFactory()
    staff = _staff_client(StaffFactory())
    headers = _session_headers(credential.expert.user)

    async def scenario():
        communicator = WebsocketClient(application, PATH, headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        response = await sync_to_async(staff.post)(
            f"/api/v1/staff/credentials/{credential.pk}/approve", {}, format="json"
        )
        assert response.status_code == 200
        message = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return message

    message = async_to_sync(scenario)()
    assert message["type"] == "credential.status"
    assert message["status"] == "approved"
    assert message["credential"] == str(credential.pk)


@pytest.mark.django_db(transaction=True)
def test_expert_socket_receives_the_rejection_with_its_reason():
    credential = CredentialFactory(title="MD <Cardiology>")
    staff = _staff_client(StaffFactory())
    headers = _session_headers(credential.expert.user)

    async def scenario():
        communicator = WebsocketClient(application, PATH, headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        response = await sync_to_async(staff.post)(
            f"/api/v1/staff/credentials/{credential.pk}/reject", {"reason": "Illegible."}, format="json"
        )
        assert response.status_code == 200
        message = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return message

    message = async_to_sync(scenario)()
    kept = Notification.objects.get(user=credential.expert.user)  # and kept in the inbox
    assert message == {
        "type": "credential.status",
        "credential": str(credential.pk),
        "status": "rejected",
        "title": "MD <Cardiology>",
        "reason": "Illegible.",
        "notification": kept.pk,
        "unread": 1,
    }
    # The notice names the credential and links to its row on the profile.
    assert kept.message == "Your credential “MD <Cardiology>” was rejected. Reason: Illegible."
    assert kept.link == f"/profile/#credential-{credential.pk}"
    client = APIClient()
    client.force_login(credential.expert.user)
    inbox = client.get("/inbox/").content.decode()
    assert "“MD &lt;Cardiology&gt;” was rejected" in inbox and "<Cardiology>" not in inbox


@pytest.mark.django_db(transaction=True)
def test_other_experts_socket_hears_nothing_of_the_approval():
    credential = CredentialFactory()
    bystander = ExpertProfileFactory()
    staff = _staff_client(StaffFactory())
    headers = _session_headers(bystander.user)

    async def scenario():
        communicator = WebsocketClient(application, PATH, headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        response = await sync_to_async(staff.post)(
            f"/api/v1/staff/credentials/{credential.pk}/approve", {}, format="json"
        )
        assert response.status_code == 200
        silent = await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()
        return silent

    assert async_to_sync(scenario)() is True


@pytest.mark.django_db(transaction=True)
def test_refused_transition_sends_nothing():
    credential = CredentialFactory(rejected=True)
    staff = _staff_client(StaffFactory())
    headers = _session_headers(credential.expert.user)

    async def scenario():
        communicator = WebsocketClient(application, PATH, headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        response = await sync_to_async(staff.post)(
            f"/api/v1/staff/credentials/{credential.pk}/approve", {}, format="json"
        )
        assert response.status_code == 409
        silent = await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()
        return silent

    assert async_to_sync(scenario)() is True


@pytest.mark.django_db(transaction=True)
def test_staff_socket_hears_of_new_submissions(pdf_upload):
    staff = StaffFactory()
    expert = ExpertProfileFactory()
    domain = CredentialFactory().domain
    expert_client = APIClient()
    expert_client.force_login(expert.user)
    headers = _session_headers(staff)

    async def scenario():
        communicator = WebsocketClient(application, PATH, headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        response = await sync_to_async(expert_client.post)(
            "/api/v1/me/credentials",
            {
                "domain": domain.path,
                "kind": "degree",
                "title": "MSc",
                "issuer": "Uni",
                "issued_on": "2019-09-01",
                "evidence": pdf_upload,
            },
            format="multipart",
        )
        assert response.status_code == 201
        message = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return response.json()["id"], message

    credential_id, message = async_to_sync(scenario)()
    assert message == {"type": "credential.submitted", "credential": credential_id, "domain": domain.path}
