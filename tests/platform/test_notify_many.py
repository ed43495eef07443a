"""Many live updates sent at once (``notify_many``): in order, from one event loop (one
connection to the channel layer), nothing kept in an inbox; a send that fails is logged and
costs the others nothing."""

from __future__ import annotations

import asyncio
import logging

import pytest

from rlhf_platform.accounts import notifications
from rlhf_platform.accounts.models import Notification
from rlhf_platform.accounts.notifications import notify_many, user_group
from tests.factories import ExpertProfileFactory


class Layer:
    """A channel layer keeping what it is sent and in which event loop; sends to ``refuse``
    raise."""

    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.sent: list[tuple[str, dict]] = []
        self.loops: list[asyncio.AbstractEventLoop] = []

    async def group_send(self, group: str, message: dict) -> None:
        self.loops.append(asyncio.get_running_loop())
        if group == self.refuse:
            raise ConnectionError("the channel layer is away")
        self.sent.append((group, message))


def _use(monkeypatch, layer) -> None:
    monkeypatch.setattr(notifications, "get_channel_layer", lambda: layer)


def _events(n: int) -> list[tuple[str, dict]]:
    return [(f"user.{i}", {"type": "earnings.updated", "n": i}) for i in range(n)]


@pytest.mark.django_db
def test_many_updates_go_out_in_order_from_one_event_loop_and_are_not_kept(monkeypatch):
    layer = Layer()
    _use(monkeypatch, layer)
    user = ExpertProfileFactory().user
    pairs = [*_events(4), (user_group(user.pk), {"type": "earnings.updated", "n": 4})]
    notify_many(pairs)
    assert layer.sent == [(group, {"type": "notify", "event": event}) for group, event in pairs]
    assert len({id(loop) for loop in layer.loops}) == 1
    assert not Notification.objects.filter(user=user).exists()  # live only


def test_a_failing_send_is_logged_and_the_others_still_go_out(monkeypatch, caplog):
    layer = Layer(refuse="user.1")
    _use(monkeypatch, layer)
    with caplog.at_level(logging.ERROR, logger=notifications.__name__):
        notify_many(_events(3))  # does not raise
    assert [group for group, _ in layer.sent] == ["user.0", "user.2"]
    assert "could not push earnings.updated to user.1" in caplog.text


def test_a_failure_outside_the_sends_is_logged_not_raised(monkeypatch, caplog):
    _use(monkeypatch, Layer())

    def broken(layer, call, *args):
        raise RuntimeError("no event loop today")

    monkeypatch.setattr(notifications, "layer_call", broken)
    with caplog.at_level(logging.ERROR, logger=notifications.__name__):
        notify_many(_events(2))
    assert "could not push 2 events" in caplog.text


def test_nothing_to_send_or_no_channel_layer_sends_nothing(monkeypatch):
    layer = Layer()
    _use(monkeypatch, layer)
    notify_many([])
    assert layer.loops == []
    _use(monkeypatch, None)
    notify_many(_events(2))  # no layer configured: nothing to do, nothing raised
