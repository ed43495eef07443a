"""WhiteNoise in the async middleware chain (rlhf_platform.core.middleware): static files are
served, other requests pass through, and Django adapts no middleware between sync and async
(each adaptation is a thread hand-off on every request)."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient, Client, override_settings


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_the_asgi_chain_needs_no_sync_async_adapter():
    # Django logs each adaptation at DEBUG on django.request, when settings.DEBUG is on.
    logger, records = logging.getLogger("django.request"), _Records()
    level = logger.level
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    try:
        with override_settings(DEBUG=True):
            ASGIHandler()
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    assert not [m for m in records.messages if "adapted for middleware" in m]


@pytest.mark.django_db
@override_settings(WHITENOISE_AUTOREFRESH=True, WHITENOISE_USE_FINDERS=True)
def test_async_chain_serves_a_static_file_and_passes_other_requests_on():
    async_to_sync(_async_requests)()


async def _async_requests():
    client = AsyncClient()
    static = await client.get("/static/js/label.js")
    assert static.status_code == 200
    assert "javascript" in static["Content-Type"]
    body = b"".join(static.streaming_content)  # a file: read synchronously
    assert b"function sideAction" in body
    missing = await client.get("/static/js/no-such-file.js")
    assert missing.status_code == 404
    page = await client.get("/login/")
    assert page.status_code == 200 and b"E-mail" in page.content


@override_settings(WHITENOISE_AUTOREFRESH=True, WHITENOISE_USE_FINDERS=True)
def test_sync_chain_still_serves_static_files():
    response = Client().get("/static/js/label.js")
    assert response.status_code == 200
    assert b"function sideAction" in b"".join(response.streaming_content)
