"""Pushing events to the pages that show them, through the channel layer.

Always sent after the surrounding transaction commits, so that a page is never told about a
change that was rolled back.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

STAFF_GROUP = "staff"


def user_group(user_id: Any) -> str:
    return f"user.{user_id}"


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "notify", "event": event})
    except Exception:  # a page missing one live update must never fail the action
        logger.exception("could not push %s to %s", event.get("type"), group)


def notify_on_commit(group: str, event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: _send(group, event))
