"""The channel layer called from synchronous code (rlhf_platform/core/layer_calls.py): on real
Redis, every push of a process goes through one event loop and its open connections, and the
messages arrive; a push that fails is logged by the notifier and never raised."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from rlhf_platform.accounts import notifications
from rlhf_platform.core import layer_calls

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)")


@pytest.fixture
def redis_layer(monkeypatch):
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix="test-layer-calls")
    monkeypatch.setattr(notifications, "get_channel_layer", lambda: layer)
    return layer


def _received(layer, channel: str, count: int) -> list[dict]:
    async def receive():
        return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]

    return asyncio.run(receive())


@needs_redis
def test_pushes_from_many_threads_share_one_loop_and_arrive(redis_layer):
    channel = layer_calls.layer_call(redis_layer, redis_layer.new_channel)
    layer_calls.layer_call(redis_layer, redis_layer.group_add, "user.layer-calls", channel)
    threads = [
        threading.Thread(target=notifications._send, args=("user.layer-calls", {"n": n})) for n in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messages = _received(redis_layer, channel, 20)
    assert sorted(message["event"]["n"] for message in messages) == list(range(20))
    # One loop served them all, so one set of connections (channels_redis keeps them per loop).
    loops = [loop for loop in redis_layer._layers if not loop.is_closed()]
    assert loops == [layer_calls._layer_loop()]


@needs_redis
def test_a_push_that_fails_is_logged_not_raised(redis_layer, monkeypatch, caplog):
    async def broken(*args):
        raise ConnectionError("redis went away")

    monkeypatch.setattr(redis_layer, "group_send", broken)
    notifications._send("user.layer-calls", {"type": "x"})  # does not raise
    assert "could not push" in caplog.text


@needs_redis
def test_a_call_that_hangs_times_out(redis_layer, monkeypatch):
    async def hangs(*args):
        await asyncio.sleep(60)

    monkeypatch.setattr(layer_calls, "TIMEOUT_SECONDS", 0.2)
    with pytest.raises(TimeoutError):
        layer_calls.layer_call(redis_layer, hangs)


def test_the_in_memory_layer_is_called_through_asgiref():
    layer = InMemoryChannelLayer()

    async def listen():
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        return channel

    channel = asyncio.run(listen())
    layer_calls.layer_call(layer, layer.group_send, "g", {"type": "notify", "event": {"n": 1}})
    assert _received(layer, channel, 1)[0]["event"] == {"n": 1}
