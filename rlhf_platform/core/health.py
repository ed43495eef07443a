"""``GET /healthz``: the state of the database, the channel layer, the Celery broker and the
chain (reachable, its chain id against ``CHAIN_ID``, the token, and the same chain as the payout
records; see ``rewards.payouts.chain_identity``).

Anyone gets only the verdict, ``{"status": "ok"}`` (200) or ``{"status": "unavailable"}``
(503): enough for a load balancer or a supervisor. The details (each check, versions, errors,
addresses) are for staff sessions and for ``Authorization: Bearer <HEALTH_TOKEN>`` (monitoring);
they tell an attacker what runs where. The checks are the named list ``CHECKS``.

The verdict anyone gets is at most ``HEALTH_CACHE_SECONDS`` old (5): each check opens a broker
connection, makes a round trip through the channel layer and calls the chain's node (several
RPC calls, on a provider's quota), so a flood of anonymous probes would otherwise multiply into
the services they check. Per process, one request runs the checks once the last result is that
old; requests meanwhile answer from the last result without waiting (only the very first ones,
with no result yet, wait for it). Details always run the checks afresh (staff and monitoring
are trusted) and their result becomes the verdict everyone gets. The details
also carry the background work's backlog (``rlhf_platform.core.backlog``: what waits, since
when, which stages are behind their goal); a backlog does not change the verdict, since the
service still answers, so monitoring alerts on ``backlog.behind`` on its own.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any failure means "down"; the message says which
        return {"ok": False, "vendor": connection.vendor, "error": str(exc)}


def _check_channel_layer() -> dict[str, Any]:
    layer = get_channel_layer()
    backend = type(layer).__name__
    try:
        # A round trip through the layer proves the backend (Redis or memory) answers.
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.send)(channel, {"type": "health.ping"})
        message = async_to_sync(layer.receive)(channel)
        return {"ok": message.get("type") == "health.ping", "backend": backend}
    except Exception as exc:
        return {"ok": False, "backend": backend, "error": str(exc)}


def _check_broker() -> dict[str, Any]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "eager"}
    from rlhf_platform.celery_app import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "mode": "broker"}
    except Exception as exc:
        return {"ok": False, "mode": "broker", "error": str(exc)}


def _check_chain() -> dict[str, Any]:
    # Imported here: the chain client loads web3 and, by default, starts an in-process EVM.
    # The node, and whether it still is the chain the payouts were recorded on (a reset node
    # keeps its chain id): rewards.payouts.chain_identity.
    from rewards.payouts.chain_identity import chain_health

    return chain_health()


# Every check /healthz runs, by name, in order; each returns {"ok": bool, ...details}.
CHECKS: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    ("database", _check_database),
    ("channel_layer", _check_channel_layer),
    ("broker", _check_broker),
    ("chain", _check_chain),
]


def _checks_run() -> dict[str, dict[str, Any]]:
    global _last
    checks = {name: check() for name, check in CHECKS}
    _last = (time.monotonic(), checks)
    return checks


# The last run of the checks in this process: (time.monotonic() when it ended, results).
_last: tuple[float, dict[str, dict[str, Any]]] | None = None
_running = threading.Lock()


def health_cache_clear() -> None:
    """Forget the last result: the next request runs the checks (tests, and a process that
    knows a service just changed)."""
    global _last
    _last = None


def _checks_cached() -> dict[str, dict[str, Any]]:
    """The last result while it is younger than ``HEALTH_CACHE_SECONDS``; else this request
    runs the checks, unless another one is running them: then the last result stands (or, when
    there is none yet, this request waits for that run)."""
    seconds = float(settings.HEALTH_CACHE_SECONDS)
    last = _last
    if last is not None and time.monotonic() - last[0] < seconds:
        return last[1]
    if not _running.acquire(blocking=last is None):
        return last[1]  # being checked right now; the last result is a moment past its time
    try:
        last = _last
        if last is not None and time.monotonic() - last[0] < seconds:
            return last[1]  # a run ended while this request waited for it
        return _checks_run()
    finally:
        _running.release()


def _backlog(*, broker: bool) -> dict[str, Any]:
    from rlhf_platform.core.backlog import pipeline_backlog

    try:
        # The broker's queues only when its check answered: a broker that is down would cost
        # the details its connection timeout twice.
        backlog = pipeline_backlog(broker=broker)
    except Exception as exc:  # the details report it; the verdict stands on the checks
        return {"ok": False, "error": str(exc)}
    backlog["at"] = backlog["at"].isoformat()
    return backlog


def _details_allowed(request: HttpRequest) -> bool:
    token = settings.HEALTH_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if (
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), token.encode())
    ):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def healthz(request: HttpRequest) -> JsonResponse:
    started = time.perf_counter()
    details = _details_allowed(request)
    checks = _checks_run() if details else _checks_cached()
    healthy = all(check["ok"] for check in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "unavailable"}
    if details:
        body.update(checks)
        if checks["database"]["ok"]:
            body["backlog"] = _backlog(broker=checks["broker"]["ok"])
        body["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response
