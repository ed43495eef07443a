"""The credential review queue follows submissions live: the page carries the staff script,
hears ``credential.submitted`` and fetches itself again; a submission reaches a reviewer's
socket after commit, and the page then lists it."""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import Client

from rlhf_platform.asgi import application
from rlhf_platform.experts.services import credential_submit
from tests.factories import DomainFactory, ExpertProfileFactory, StaffFactory
from tests.platform.test_notifications_websocket import PATH, TIMEOUT, _session_headers
from tests.platform.websocket_client import WebsocketClient


@pytest.mark.django_db
def test_the_review_queue_is_a_live_part_outside_its_filter():
    client = Client()
    client.force_login(StaffFactory())
    page = client.get("/staff/credentials/").content.decode()
    assert 'data-live-url="/staff/credentials/"' in page
    assert 'data-live-events="credential.submitted"' in page and "js/quality_live.js" in page
    assert page.index('class="filters"') < page.index('<div id="credential-queue-live" data-live-part>')


@pytest.mark.django_db(transaction=True)
def test_a_submitted_credential_reaches_the_reviewer_and_the_queue_lists_it():
    reviewer = StaffFactory()
    headers = _session_headers(reviewer)
    expert = ExpertProfileFactory()
    domain = DomainFactory(slug="nephrology")
    client = Client()
    client.force_login(reviewer)
    assert "MD Nephrology" not in client.get("/staff/credentials/").content.decode()

    async def scenario():
        communicator = WebsocketClient(application, PATH, headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        credential = await sync_to_async(credential_submit)(
            expert=expert,
            domain=domain,
            kind="degree",
            title="MD Nephrology",
            issuer="Charité",
            issued_on=dt.date(2015, 6, 1),
        )
        message = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return credential, message

    credential, message = async_to_sync(scenario)()
    assert message["type"] == "credential.submitted" and message["credential"] == str(credential.pk)
    assert "MD Nephrology" in client.get("/staff/credentials/").content.decode()
