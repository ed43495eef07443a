"""Time-boxed slices of work, so that no task holds its worker for more than a few seconds.

A drain takes ``until=slice_end()``, stops between two units of work once ``slice_over(until)``,
and its task queues itself again when the slice ran out (work may remain). Units are whole
transactions: stopping between two never leaves anything half done.
"""

from __future__ import annotations

import time

from django.conf import settings


def slice_end(seconds: float | None = None) -> float:
    """The monotonic time a slice that starts now ends (TASK_SLICE_SECONDS by default)."""
    return time.monotonic() + (settings.TASK_SLICE_SECONDS if seconds is None else seconds)


def slice_over(until: float | None) -> bool:
    """Whether a slice ending at ``until`` is over (never, for None: no time box)."""
    return until is not None and time.monotonic() >= until
