"""Session lifetime: an idle timeout refreshed by activity, and an absolute maximum.

A logged-in session lives ``SESSION_IDLE_TIMEOUT_SECONDS`` (``SESSION_COOKIE_AGE``) past its
last request: the stored expiry moves forward when the session is saved, and this middleware
saves it at most once a minute (``REFRESH_SECONDS``) rather than on every request, so that a
busy client does not turn every read into a write. A session also ends
``SESSION_MAX_AGE_SECONDS`` after its log-in, active or not. The store enforces the idle expiry
(Django's session backends refuse an expired row; the queue's fast path checks the row's
``expire_date`` in its statements); the checks here repeat it from the times kept in the session.
"""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout

from rlhf_platform.core.middleware import HybridMiddleware

SESSION_STARTED_KEY = "_started_at"
SESSION_SEEN_KEY = "_seen_at"
REFRESH_SECONDS = 60


def session_check(request) -> None:
    """End a logged-in session that has been idle or alive too long; refresh a live one."""
    session = request.session
    if SESSION_KEY not in session:
        return
    now = int(time.time())
    started = session.get(SESSION_STARTED_KEY)
    seen = session.get(SESSION_SEEN_KEY, started)
    if started is None:
        session[SESSION_STARTED_KEY] = session[SESSION_SEEN_KEY] = now
        return
    if now - started > settings.SESSION_MAX_AGE_SECONDS or now - seen > settings.SESSION_IDLE_TIMEOUT_SECONDS:
        logout(request)
        return
    if now - seen >= REFRESH_SECONDS:
        session[SESSION_SEEN_KEY] = now  # modified: saved with a fresh expiry, cookie re-sent


class SessionTimeoutMiddleware(HybridMiddleware):
    """After ``AuthenticationMiddleware``. Requests without a session cookie pass straight
    through (in the async chain without a thread hop)."""

    def sync_call(self, request):
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            session_check(request)
        return self.get_response(request)

    async def async_call(self, request):
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            await sync_to_async(session_check, thread_sensitive=True)(request)
        return await self.get_response(request)
