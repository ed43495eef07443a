"""Running calls at the same moment from several threads, each with its own database
connection: how the concurrency tests make real concurrent transactions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.db import connections


def run_together(calls: list[Callable], *, timeout: float = 60.0, what: str = "a call") -> list:
    """Run the calls in parallel threads released at one moment; their results, in order.

    An exception in a thread is raised here, not swallowed; a thread still running after
    ``timeout`` seconds fails the test.
    """
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index: int, call: Callable) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as exc:  # reported to the test below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), f"{what} hung"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
