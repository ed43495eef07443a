"""Pushing events to the pages that show them, through the channel layer.

Always sent after the surrounding transaction commits, so that a page is never told about a
change that was rolled back. An event for one person (``user_group``) is also kept in their inbox
(:mod:`rlhf_platform.accounts.inbox`), written in the surrounding transaction; ``keep=False`` is
for live-only updates (counters, ticks) that are not notifications. :func:`notify_many` sends
many live-only updates at once, for a caller already running after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

from rlhf_platform.core.layer_calls import layer_call

logger = logging.getLogger(__name__)

STAFF_GROUP = "staff"


USER_GROUP_PREFIX = "user."


def user_group(user_id: Any) -> str:
    return f"{USER_GROUP_PREFIX}{user_id}"


def _user_of(group: str) -> str | None:
    if not group.startswith(USER_GROUP_PREFIX):
        return None
    user_id = group[len(USER_GROUP_PREFIX) :]
    return user_id if user_id and user_id != "None" else None


def _send(group: str, event: dict[str, Any]) -> None:
    notify_many([(group, event)])


async def _group_send_each(layer: Any, pairs: list[tuple[str, dict[str, Any]]]) -> None:
    for group, event in pairs:
        try:
            await layer.group_send(group, {"type": "notify", "event": event})
        except Exception:  # one page missing its update must not cost the others theirs
            logger.exception("could not push %s to %s", event.get("type"), group)


def notify_many(pairs: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Push each ``(group, event)`` now, live only (nothing kept in an inbox): for a caller that
    already runs after the commit and has many events (the earnings of every expert a posting
    paid, ``rewards.live``). They go out one after the other in one call to the layer
    (:func:`rlhf_platform.core.layer_calls.layer_call`): one hand-off for all of them, over one
    connection. A failure is logged, never raised."""
    pairs = list(pairs)
    layer = get_channel_layer()
    if layer is None or not pairs:
        return
    try:
        layer_call(layer, _group_send_each, layer, pairs)
    except Exception:  # a page missing live updates must never fail the action
        logger.exception("could not push %d events", len(pairs))


def notify_on_commit(group: str, event: dict[str, Any], *, keep: bool = True) -> None:
    """Push ``event`` to ``group`` after commit; an event for one person is first kept in their
    inbox (unless ``keep`` is False), and the push carries the notification's id and the
    person's unread count."""
    user_id = _user_of(group) if keep else None
    if user_id is not None:
        from rlhf_platform.accounts.inbox import notification_store, unread_count_of

        notification = notification_store(user_id=user_id, event=event)
        event = {**event, "notification": notification.pk, "unread": unread_count_of(user_id)}
    transaction.on_commit(lambda: _send(group, event))
