"""A websocket test client on ``asgiref.testing.ApplicationCommunicator``.

It does what ``channels.testing.WebsocketCommunicator`` does for our tests. That one cannot be
imported here: ``channels.testing`` also imports its live-server test case, which needs
Daphne (and Twisted), and we serve with uvicorn, so Daphne is not installed.
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from asgiref.testing import ApplicationCommunicator


def _no_op() -> None:
    pass


class WebsocketClient(ApplicationCommunicator):
    def __init__(self, application: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None):
        scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers or [],
            "subprotocols": [],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        super().__init__(application, scope)

    # As in Channels' own communicator: database_sync_to_async would otherwise close the
    # test's database connection between messages.
    async def send_input(self, message: dict) -> None:
        with mock.patch("channels.db.close_old_connections", _no_op):
            return await super().send_input(message)

    async def receive_output(self, timeout: float = 1) -> dict:
        with mock.patch("channels.db.close_old_connections", _no_op):
            return await super().receive_output(timeout)

    async def connect(self, timeout: float = 1) -> tuple[bool, Any]:
        """(True, subprotocol) when accepted, (False, close code) when refused."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept", response
        return True, response.get("subprotocol")

    async def receive_json_from(self, timeout: float = 1) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)
