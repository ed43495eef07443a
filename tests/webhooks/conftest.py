"""Fixtures of the webhook tests: real HTTP receivers and quick retries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer

import pytest

from tests.webhooks.receiver import Receiver, handler_for


@pytest.fixture
def make_receiver() -> Iterator[Callable[..., Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def make(answers: list[int] | None = None) -> Receiver:
        receiver = Receiver(answers=answers or [200])
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(receiver))
        server.daemon_threads = True
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/"
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return receiver

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    """The receivers live on 127.0.0.1, which production refuses; retries come quickly."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.2
