"""What the queue's fast path remembers (annotate/queue/fast_path_memory.py ``Remembered``): a
value kept for ``QUEUE_FAST_ELIGIBILITY_SECONDS`` and reloaded ahead of that time in the
background; and how the fast path puts its two parts together, the expert's eligibility and
the project's per-project gates (annotate/queue/fast_path.py ``_eligibility``). The loads are
replaced here by ones the test releases, so that what waits for them, and what does not, can
be seen."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from django.test import override_settings

import annotate.queue.fast_path as queue_fast
from annotate.queue.fast_path import QueueFastPath
from annotate.queue.fast_path_memory import REFRESH_AHEAD, SLOW_HALF_LIFE, Remembered

EXPERT = uuid.uuid4()
PROJECT = uuid.uuid4()
KEY = (EXPERT, PROJECT)


class Loads:
    """A stand-in for a load: each call waits until the test releases it, then answers the
    next verdict of ``verdicts``."""

    def __init__(self, *verdicts) -> None:
        self.verdicts = list(verdicts)
        self.calls = 0
        self.release = threading.Event()

    def __call__(self, key):
        assert key == KEY
        self.calls += 1
        assert self.release.wait(10), "the test never released the load"
        verdict = self.verdicts.pop(0)
        if isinstance(verdict, Exception):
            raise verdict
        return verdict


def _memory(loads: Loads) -> Remembered:
    return Remembered(1.0, loads, "test")


def _remember(memory: Remembered, verdict, *, age: float) -> None:
    memory.put(KEY, verdict, read_at=time.monotonic() - age)


def _due_and_released(*verdicts) -> tuple[Loads, Remembered]:
    """A memory holding ("project", 2) past the time to reload it, and loads that answer at once."""
    loads = Loads(*verdicts)
    memory = _memory(loads)
    _remember(memory, ("project", 2), age=REFRESH_AHEAD + 0.05)
    loads.release.set()
    return loads, memory


async def _settle(memory: Remembered) -> None:
    while memory.loading():
        await asyncio.sleep(0.01)


def test_a_verdict_past_three_quarters_of_its_time_is_answered_at_once_and_reloaded_behind():
    loads = Loads(("project", 3))
    memory = _memory(loads)
    _remember(memory, ("project", 2), age=REFRESH_AHEAD + 0.05)

    async def scenario():
        # Answered from memory while the reload waits for its release.
        assert await memory.get(KEY) == ("project", 2)
        assert await memory.get(KEY) == ("project", 2)
        await asyncio.sleep(0.05)
        assert loads.calls == 1  # one reload for both requests
        loads.release.set()
        await _settle(memory)
        verdict, age = memory.peek(KEY)
        assert verdict == ("project", 3) and age < REFRESH_AHEAD

    asyncio.run(scenario())


def test_a_young_verdict_is_not_reloaded():
    loads = Loads()
    memory = _memory(loads)
    _remember(memory, ("project", 2), age=0.1)

    async def scenario():
        assert await memory.get(KEY) == ("project", 2)
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert loads.calls == 0


def test_an_expired_verdict_is_never_used_and_concurrent_requests_share_one_load():
    loads = Loads(("project", 3))
    memory = _memory(loads)
    _remember(memory, ("project", 2), age=1.5)

    async def scenario():
        waiting = [asyncio.ensure_future(memory.get(KEY)) for _ in range(5)]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in waiting)  # the old verdict is not answered
        loads.release.set()
        return await asyncio.gather(*waiting)

    assert asyncio.run(scenario()) == [("project", 3)] * 5
    assert loads.calls == 1


def test_a_background_reload_that_finds_the_expert_ineligible_forgets_the_verdict():
    loads, memory = _due_and_released(None, None)

    async def scenario():
        assert await memory.get(KEY) == ("project", 2)
        await _settle(memory)
        # Forgotten: the next request loads again (and the fast path hands it to Django's path).
        return await memory.get(KEY)

    assert asyncio.run(scenario()) is None
    assert loads.calls == 2


def test_a_failed_background_reload_keeps_the_verdict_within_its_time_and_the_next_retries():
    loads, memory = _due_and_released(RuntimeError("database went away"), ("project", 3))

    async def scenario():
        assert await memory.get(KEY) == ("project", 2)
        await _settle(memory)
        assert await memory.get(KEY) == ("project", 2)
        await _settle(memory)

    asyncio.run(scenario())
    assert loads.calls == 2 and memory.peek(KEY)[0] == ("project", 3)


def test_a_request_waiting_for_a_failed_load_gets_the_error():
    loads = Loads(RuntimeError("database went away"))
    memory = _memory(loads)
    loads.release.set()
    with pytest.raises(RuntimeError):
        asyncio.run(memory.get(KEY))


def test_after_a_slow_load_the_reload_starts_twice_as_long_before_the_time_is_out():
    # The first load takes 0.3 s (released late); from then on a verdict half a second old,
    # younger than three quarters of its time, is due: 0.3 s of load could not finish in the
    # quarter left.
    loads = Loads(("project", 2), ("project", 3))
    memory = _memory(loads)
    assert memory.reload_ahead() == pytest.approx(0.25)

    async def scenario():
        first = asyncio.ensure_future(memory.get(KEY))
        await asyncio.sleep(0.3)
        loads.release.set()
        assert await first == ("project", 2)
        assert memory.reload_ahead() == pytest.approx(0.6, abs=0.05)
        _remember(memory, ("project", 2), age=0.5)
        assert await memory.get(KEY) == ("project", 2)  # answered at once, reloaded behind
        await _settle(memory)

    asyncio.run(scenario())
    assert loads.calls == 2 and memory.peek(KEY)[0] == ("project", 3)


def test_a_slow_load_counts_less_as_it_ages_and_fast_loads_never_shorten_the_lead():
    memory = _memory(Loads())
    memory._took(0.4)
    memory._took(0.01)  # a fast load does not forget the slow one
    assert memory.reload_ahead() == pytest.approx(0.8, abs=0.01)
    memory._slowest_at -= SLOW_HALF_LIFE  # a half-life later: half as slow
    assert memory.reload_ahead() == pytest.approx(0.4, abs=0.01)
    memory._slowest_at -= 10 * SLOW_HALF_LIFE  # long ago: the quarter again
    assert memory.reload_ahead() == pytest.approx(0.25)


# --- the fast path's two parts -----------------------------------------------------------------


@pytest.fixture
def fast_path():
    with override_settings(QUEUE_FAST_ELIGIBILITY_SECONDS=1.0):
        yield QueueFastPath(app=None)


def _gates_load(calls: list, *, verdict: bool):
    def load(*, project_id):
        calls.append(project_id)
        return verdict

    return load


def test_the_project_gates_are_loaded_once_for_all_the_experts_of_a_project(fast_path, monkeypatch):
    experts: list = []
    projects: list = []
    monkeypatch.setattr(
        queue_fast, "_project_load", lambda *, expert_id, project_id: experts.append(expert_id) or ("p", 2)
    )
    monkeypatch.setattr(
        queue_fast, "_project_gates_load", lambda *, project_id: projects.append(project_id) or True
    )
    ids = [uuid.uuid4() for _ in range(6)]

    async def scenario():
        return [await fast_path._eligibility(expert_id, PROJECT) for expert_id in ids]

    assert asyncio.run(scenario()) == [("p", 2)] * 6
    assert experts == ids and projects == [PROJECT]


def test_closed_project_gates_hand_every_request_over_and_are_not_remembered(fast_path, monkeypatch):
    projects: list = []
    monkeypatch.setattr(queue_fast, "_project_load", lambda *, expert_id, project_id: ("p", 2))
    monkeypatch.setattr(
        queue_fast, "_project_gates_load", lambda *, project_id: projects.append(project_id) or False
    )

    async def scenario():
        return [await fast_path._eligibility(EXPERT, PROJECT) for _ in range(3)]

    assert asyncio.run(scenario()) == [None] * 3
    assert projects == [PROJECT] * 3  # near the end of a budget every request asks again
