"""Who is asking, for the queue's fast path: Django's own session validation, run once per
session in a thread and remembered (:class:`Principal`), and the guards that re-check the
session, the user and the expert in every statement the fast path runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connections

from annotate.gates import gate_recheck_sql
from annotate.models import Project
from rlhf_platform.core.sessions import REFRESH_SECONDS, SESSION_SEEN_KEY, SESSION_STARTED_KEY
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expert_of_user

CACHE_LIMIT = 50_000  # remembered sessions and eligibilities, per process


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a session belongs to, as Django's authentication found it."""

    user_id: Any
    password: str  # the hash; a change of password invalidates the session
    expert_id: Any
    started_at: int  # the session's log-in and last refresh (SessionTimeoutMiddleware's times)
    seen_at: int

    def session_due(self) -> bool:
        """Whether Django's session middleware has work on this session now: its refresh (due
        once a minute) or its end (past the absolute maximum). Such a request goes to Django."""
        now = int(time.time())
        return (
            now - self.seen_at >= REFRESH_SECONDS or now - self.started_at > settings.SESSION_MAX_AGE_SECONDS
        )


# The guards below are built from table names and the gates' registered conditions, never from
# input: every value is a bound parameter.


def session_guard() -> str:
    user_table = get_user_model()._meta.db_table
    return f"""
    SELECT 1 FROM {Session._meta.db_table} ds, {user_table} du, {ExpertProfile._meta.db_table} de
    WHERE ds.session_key = %(session)s AND ds.expire_date > now()
      AND du.id = %(user)s AND du.is_active AND du.password = %(password)s
      AND de.id = %(expert)s AND de.user_id = du.id"""  # noqa: S608


def next_guard() -> str:
    gates = "".join(f"\n      AND {fragment}" for fragment in gate_recheck_sql())
    project_table = Project._meta.db_table
    return f"""{session_guard()}
      AND de.suspended_at IS NULL
      AND EXISTS (
          SELECT 1 FROM {project_table} dp WHERE dp.id = %(project)s AND dp.status = 'active'
      ){gates}"""  # noqa: S608


# --- Django's code, run in a thread, for what the fast path remembers ----------------------------


def closing(function):
    """Run ``function`` and give this thread's database connection back to the pool."""

    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return run


@closing
def principal_load(session_key: str) -> Principal | None:
    """Django's own session validation (backend, auth hash, secret fallbacks), or None."""
    engine = import_module(settings.SESSION_ENGINE)
    request = SimpleNamespace(session=engine.SessionStore(session_key))
    user = auth.get_user(request)
    if not user.is_authenticated or request.session.session_key != session_key:
        return None  # not logged in, or the session had to change: Django's path sets it right
    started = request.session.get(SESSION_STARTED_KEY)
    if started is None:
        return None  # SessionTimeoutMiddleware starts the clock: Django's path
    expert = expert_of_user(user)
    if expert is None:
        return None
    principal = Principal(
        user_id=user.pk,
        password=user.password,
        expert_id=expert.pk,
        started_at=started,
        seen_at=request.session.get(SESSION_SEEN_KEY, started),
    )
    return None if principal.session_due() else principal


class TimedCache:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._data: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        return self.get_aged(key)[0]

    def get_aged(self, key: Any) -> tuple[Any, float]:
        """The value and its age in seconds, or (None, 0.0) when absent or past its time."""
        hit = self._data.get(key)
        if hit is None:
            return None, 0.0
        age = time.monotonic() - hit[0]
        if self.seconds is not None and age > self.seconds:
            return None, 0.0
        return hit[1], age

    def put(self, key: Any, value: Any, *, read_at: float | None = None) -> None:
        """Remember ``value``, its age counted from ``read_at`` (``time.monotonic()``, when
        it was read) or from now."""
        if len(self._data) >= CACHE_LIMIT:
            self._data.clear()
        self._data[key] = (time.monotonic() if read_at is None else read_at, value)

    def drop(self, key: Any) -> None:
        self._data.pop(key, None)
