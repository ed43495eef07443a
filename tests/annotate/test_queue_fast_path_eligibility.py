"""The queue's fast path remembers an expert's eligibility for a project for
``QUEUE_FAST_ELIGIBILITY_SECONDS`` and reloads it ahead of that time in the background
(annotate/queue/fast_path.py ``_eligibility``). The engine's load is replaced here by one the
test releases, so that what waits for it, and what does not, can be seen."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from django.test import override_settings

import annotate.queue.fast_path as queue_fast
from annotate.queue.fast_path import REFRESH_AHEAD, QueueFastPath

EXPERT = uuid.uuid4()
PROJECT = uuid.uuid4()
KEY = (EXPERT, PROJECT)


class Loads:
    """A stand-in for ``project_open_for_claim``: each call waits until the test releases it,
    then answers the next verdict of ``verdicts``."""

    def __init__(self, *verdicts) -> None:
        self.verdicts = list(verdicts)
        self.calls = 0
        self.release = threading.Event()

    def __call__(self, *, expert_id, project_id):
        assert (expert_id, project_id) == KEY
        self.calls += 1
        assert self.release.wait(10), "the test never released the load"
        verdict = self.verdicts.pop(0)
        if isinstance(verdict, Exception):
            raise verdict
        return verdict


@pytest.fixture
def fast_path():
    with override_settings(QUEUE_FAST_ELIGIBILITY_SECONDS=1.0):
        yield QueueFastPath(app=None)


def _remember(fast_path: QueueFastPath, verdict, *, age: float) -> None:
    fast_path._projects.put(KEY, verdict, read_at=time.monotonic() - age)


async def _settle(fast_path: QueueFastPath) -> None:
    while fast_path._project_loads:
        await asyncio.sleep(0.01)


def test_a_verdict_past_three_quarters_of_its_time_is_answered_at_once_and_reloaded_behind(
    fast_path, monkeypatch
):
    loads = Loads(("project", 3))
    monkeypatch.setattr(queue_fast, "_project_load", loads)
    _remember(fast_path, ("project", 2), age=REFRESH_AHEAD + 0.05)

    async def scenario():
        # Answered from memory while the reload waits for its release.
        assert await fast_path._eligibility(EXPERT, PROJECT) == ("project", 2)
        assert await fast_path._eligibility(EXPERT, PROJECT) == ("project", 2)
        await asyncio.sleep(0.05)
        assert loads.calls == 1  # one reload for both requests
        loads.release.set()
        await _settle(fast_path)
        verdict, age = fast_path._projects.get_aged(KEY)
        assert verdict == ("project", 3) and age < REFRESH_AHEAD

    asyncio.run(scenario())


def test_a_young_verdict_is_not_reloaded(fast_path, monkeypatch):
    loads = Loads()
    monkeypatch.setattr(queue_fast, "_project_load", loads)
    _remember(fast_path, ("project", 2), age=0.1)

    async def scenario():
        assert await fast_path._eligibility(EXPERT, PROJECT) == ("project", 2)
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert loads.calls == 0


def test_an_expired_verdict_is_never_used_and_concurrent_requests_share_one_load(fast_path, monkeypatch):
    loads = Loads(("project", 3))
    monkeypatch.setattr(queue_fast, "_project_load", loads)
    _remember(fast_path, ("project", 2), age=1.5)

    async def scenario():
        waiting = [asyncio.ensure_future(fast_path._eligibility(EXPERT, PROJECT)) for _ in range(5)]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in waiting)  # the old verdict is not answered
        loads.release.set()
        return await asyncio.gather(*waiting)

    assert asyncio.run(scenario()) == [("project", 3)] * 5
    assert loads.calls == 1


def test_a_background_reload_that_finds_the_expert_ineligible_forgets_the_verdict(fast_path, monkeypatch):
    loads = Loads(None, None)
    monkeypatch.setattr(queue_fast, "_project_load", loads)
    _remember(fast_path, ("project", 2), age=REFRESH_AHEAD + 0.05)
    loads.release.set()

    async def scenario():
        assert await fast_path._eligibility(EXPERT, PROJECT) == ("project", 2)
        await _settle(fast_path)
        # Forgotten: the next request loads again and is handed to Django's path (None).
        return await fast_path._eligibility(EXPERT, PROJECT)

    assert asyncio.run(scenario()) is None
    assert loads.calls == 2


def test_a_failed_background_reload_keeps_the_verdict_within_its_time_and_the_next_retries(
    fast_path, monkeypatch
):
    loads = Loads(RuntimeError("database went away"), ("project", 3))
    monkeypatch.setattr(queue_fast, "_project_load", loads)
    _remember(fast_path, ("project", 2), age=REFRESH_AHEAD + 0.05)
    loads.release.set()

    async def scenario():
        assert await fast_path._eligibility(EXPERT, PROJECT) == ("project", 2)
        await _settle(fast_path)
        assert await fast_path._eligibility(EXPERT, PROJECT) == ("project", 2)
        await _settle(fast_path)

    asyncio.run(scenario())
    assert loads.calls == 2 and fast_path._projects.get(KEY) == ("project", 3)


def test_a_request_waiting_for_a_failed_load_gets_the_error(fast_path, monkeypatch):
    loads = Loads(RuntimeError("database went away"))
    monkeypatch.setattr(queue_fast, "_project_load", loads)
    loads.release.set()
    with pytest.raises(RuntimeError):
        asyncio.run(fast_path._eligibility(EXPERT, PROJECT))
