"""A full database pool is a 503 with ``Retry-After``, not a 500 after a long wait.

Every request that needs the database takes a connection from a bounded pool (psycopg_pool:
Django's, ``DB_POOL_MAX``, and the queue fast path's, ``QUEUE_FAST_POOL_MAX``). When all are
busy a request waits up to ``DB_POOL_TIMEOUT`` seconds (5) for one, then is answered 503 with
``Retry-After: DB_POOL_RETRY_AFTER`` (5), so that a burst degrades into quick refusals a client
can retry instead of a pile of requests each holding a thread for 30 s and ending in a 500.

Where it is answered: the API's exception handler (:mod:`rlhf_platform.core.exceptions`),
Django's 500 handler for everything outside a DRF view (:mod:`rlhf_platform.core.error_views`),
and the queue's fast path (:mod:`annotate.queue.fast_path`).
"""

from __future__ import annotations

from django.conf import settings
from psycopg_pool import PoolTimeout, TooManyRequests

__all__ = ["OVERLOADED_MESSAGE", "pool_exhausted", "retry_after"]

OVERLOADED_MESSAGE = "The service is busy; retry in a few seconds."


def pool_exhausted(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it: Django wraps the pool's error) is a pool that had
    no connection to give in time."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (PoolTimeout, TooManyRequests)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def retry_after() -> str:
    """The ``Retry-After`` header's value, in whole seconds."""
    return str(max(1, round(getattr(settings, "DB_POOL_RETRY_AFTER", 5))))
