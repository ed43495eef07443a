"""What the queue's fast path remembers of Django's answers: values read through the ORM in a
thread, kept for a bounded time and reloaded ahead of it in the background.

A value is never used past ``seconds`` from the moment its read began. Past
:data:`REFRESH_AHEAD` of that time a request still gets it at once while one background load
replaces it, so a key asked for often never waits for a load; a request for a key with no
value, or one past its time, waits for one load, shared with every request for the key at that
moment. A load's None is not remembered: the key is forgotten and the next request loads again.

The reload starts earlier when loads are slow: at least twice the slowest recent load (a
maximum that halves every :data:`SLOW_HALF_LIFE` seconds) before the value's time is out. The
project's gates now and then recount the budget's commitments (rewards.selectors
``budget_zone_read``), a load of a few hundred milliseconds under load; started at three
quarters of a second's time it finished after the value had expired, and every next of the
project in that process waited for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

from asgiref.sync import sync_to_async

from annotate.queue.fast_path_auth import TimedCache

logger = logging.getLogger(__name__)

REFRESH_AHEAD = 0.75  # a value past this share of its time is reloaded in the background
SLOW_HALF_LIFE = 60.0  # seconds over which the slowest recent load counts half as much


class Remembered:
    """``load(key)`` (synchronous: run in a thread), remembered per key for ``seconds``."""

    def __init__(self, seconds: float, load: Callable[[Any], Any], name: str) -> None:
        self.seconds = seconds
        self.name = name
        self._load = load
        self._values = TimedCache(seconds)
        self._loads: dict[Hashable, asyncio.Task] = {}
        self._slowest = 0.0  # the slowest recent load's seconds, as of _slowest_at
        self._slowest_at = time.monotonic()

    async def get(self, key: Hashable) -> Any:
        value, age = self._values.get_aged(key)
        load = self._loads.get(key)
        if load is not None and load.get_loop() is not asyncio.get_running_loop():
            load = None  # left by another event loop (a server restarted in the same process)
        if value is None:
            return await asyncio.shield(load or self._start(key))
        if load is None and age >= self.seconds - self.reload_ahead():
            self._start(key)
        return value

    def reload_ahead(self) -> float:
        """How long before a value's time is out its background reload starts: a quarter of
        the time, or twice the slowest recent load when that is longer."""
        return max((1 - REFRESH_AHEAD) * self.seconds, 2 * self._slowest_now(time.monotonic()))

    def _slowest_now(self, now: float) -> float:
        return self._slowest * 0.5 ** ((now - self._slowest_at) / SLOW_HALF_LIFE)

    def _took(self, seconds: float) -> None:
        now = time.monotonic()
        self._slowest, self._slowest_at = max(seconds, self._slowest_now(now)), now

    def loading(self) -> bool:
        """Whether a load is under way (for tests)."""
        return bool(self._loads)

    def put(self, key: Hashable, value: Any, *, read_at: float | None = None) -> None:
        self._values.put(key, value, read_at=read_at)

    def peek(self, key: Hashable) -> tuple[Any, float]:
        """The remembered value and its age, without loading (for tests)."""
        return self._values.get_aged(key)

    def _start(self, key: Hashable) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self._read(key))
        self._loads[key] = task

        def done(finished: asyncio.Task) -> None:
            if self._loads.get(key) is finished:
                del self._loads[key]
            if not finished.cancelled() and finished.exception() is not None:
                # Retrieved here so that a background reload's failure is logged; a request
                # waiting for the load gets the error too (the fast path then hands over).
                logger.warning("queue fast path: %s load failed", self.name, exc_info=finished.exception())

        task.add_done_callback(done)
        return task

    async def _read(self, key: Hashable) -> Any:
        read_at = time.monotonic()  # the value's age counts from before the read
        try:
            value = await sync_to_async(self._load, thread_sensitive=False)(key)
        finally:
            self._took(time.monotonic() - read_at)
        if value is None:
            self._values.drop(key)
        else:
            self._values.put(key, value, read_at=read_at)
        return value
