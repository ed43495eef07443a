"""Websocket: live notifications for the logged-in person (``/ws/notifications/``)."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from rlhf_platform.accounts.notifications import STAFF_GROUP, user_group


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups_joined = [user_group(user.pk)]
        if getattr(user, "is_reviewer", False):
            self.groups_joined.append(STAFF_GROUP)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def notify(self, message: dict) -> None:
        await self.send_json(message["event"])
