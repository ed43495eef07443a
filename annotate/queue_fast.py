"""The queue's fast path: ``POST /api/v1/queue/next`` and ``POST /api/v1/assignments/{id}/submit``
answered from the event loop, in front of Django, on PostgreSQL.

Why it exists: served by Django under ASGI, one next + submit pair cost about 24 ms of CPU on
this project's 2-core machine, which capped the queue near 45 pairs/s. Django runs each
old-style middleware hook, and every sync view, in a worker thread (asgiref's
``sync_to_async``), a new thread per request; DRF and the ORM's query compiler add the rest.
Here the common case (a logged-in expert with a session, a valid label, a live lease) takes
one statement for next and three for submit, over an async psycopg pool with prepared
statements, and no thread.

Everything else goes to Django unchanged: a request without a session cookie, with an API key,
a failed CSRF check, a body that is not what the fast path expects, a first request of a
session (Django's own code validates it, and the result is remembered), a held lease, an empty
claim (Django's path sweeps expired leases, tries again, and says whether work waits:
:func:`annotate.queue_answers.queue_wait_reason`), an expert who is not eligible, an invalid
label, a retry, an expired lease, a database error. Django's path applies every rule and
writes every error message, so they live in one place (:mod:`annotate.queue`,
:mod:`annotate.api_queue`); both paths run the same claim and submit statements
(``claim_sql``, ``submit_active_statement``) and build their answers with the same functions.
A request handed over after the fast path wrote something is safe to repeat: a second next
returns the lease just taken, a second submit with the same ``client_id`` returns the label
just stored.

What is checked on every request, in the same statement as the work: the session exists and
has not expired, the user is active and their password unchanged (the session's auth hash is
derived from it), the expert is the user's; for next also that the expert is not suspended,
the project is active, and every gate that registered a ``recheck_sql`` (the per-project
suspension) passes. The rest of eligibility (credential level, qualification, budget) is
Django's own ``project_block``, remembered for ``QUEUE_FAST_ELIGIBILITY_SECONDS`` (1 s) per
expert and project; never while a gate needs to guard the lease itself (the budget near its
end: ``annotate.gates.gate_lease``), when Django's path answers every request.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import re
import time
import uuid
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from typing import Any

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpResponse, parse_cookie
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils import timezone
from psycopg_pool import AsyncConnectionPool

from annotate import rendering
from annotate.api_queue import assignment_output, label_output
from annotate.gates import gate_lease_guards, gate_recheck_sql
from annotate.models import Assignment, Item, Project
from annotate.quality.tasks import labels_quality_nudge
from annotate.queue import (
    ITEM_MARK_LABELLED_SQL,
    claim_params,
    claim_sql,
    claimed_assignment,
    decode_json,
    label_build,
    project_block,
    project_with_level,
    submit_active_statement,
    submit_active_stored,
)
from rlhf_platform.core.overload import OVERLOADED_MESSAGE, pool_exhausted, retry_after
from rlhf_platform.core.text import bad_text_in
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expert_of_user

logger = logging.getLogger(__name__)
_random = random.SystemRandom()

NEXT_PATH = "/api/v1/queue/next"
SUBMIT_PATH = re.compile(r"^/api/v1/assignments/([0-9a-fA-F-]{36})/submit$")
MAX_BODY = 256 * 1024  # a label is a few KB; anything larger is Django's to refuse
CACHE_LIMIT = 50_000  # remembered sessions and eligibilities, per process
SESSION_ENGINES = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")
NUDGE_INTERVAL = 0.05  # at most 20 quality-drain nudges a second per process


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a session belongs to, as Django's authentication found it."""

    user_id: Any
    password: str  # the hash; a change of password invalidates the session
    expert_id: Any


def enabled() -> bool:
    return (
        getattr(settings, "QUEUE_FAST_PATH", True)
        and connections["default"].vendor == "postgresql"
        and settings.SESSION_ENGINE in SESSION_ENGINES
    )


# The statements below are built from table names and the gates' registered conditions, never
# from input: every value is a bound parameter.


def _session_guard() -> str:
    user_table = get_user_model()._meta.db_table
    return f"""
    SELECT 1 FROM {Session._meta.db_table} ds, {user_table} du, {ExpertProfile._meta.db_table} de
    WHERE ds.session_key = %(session)s AND ds.expire_date > now()
      AND du.id = %(user)s AND du.is_active AND du.password = %(password)s
      AND de.id = %(expert)s AND de.user_id = du.id"""  # noqa: S608


def _next_guard() -> str:
    gates = "".join(f"\n      AND {fragment}" for fragment in gate_recheck_sql())
    project_table = Project._meta.db_table
    return f"""{_session_guard()}
      AND de.suspended_at IS NULL
      AND EXISTS (
          SELECT 1 FROM {project_table} dp WHERE dp.id = %(project)s AND dp.status = 'active'
      ){gates}"""  # noqa: S608


def _submit_fetch_sql() -> str:
    return f"""
SELECT a.is_gold, a.shown_order, a.leased_at, a.item_id, i.uid, i.responses, i.gold, i.is_gold,
       p.id, p.name, p.label_schema, p.schema_version, p.gold_feedback, p.lease_seconds
FROM annotate_assignment a
JOIN annotate_item i ON i.id = a.item_id
JOIN annotate_project p ON p.id = a.project_id
WHERE a.id = %(assignment)s AND a.expert_id = %(expert)s AND a.status = 'active'
  AND EXISTS ({_session_guard()}
  )
"""  # noqa: S608


# --- Django's code, run in a thread, for what the fast path remembers ----------------------------


def _closing(function):
    """Run ``function`` and give this thread's database connection back to the pool."""

    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return run


@_closing
def _principal_load(session_key: str) -> Principal | None:
    """Django's own session validation (backend, auth hash, secret fallbacks), or None."""
    engine = import_module(settings.SESSION_ENGINE)
    request = SimpleNamespace(session=engine.SessionStore(session_key))
    user = auth.get_user(request)
    if not user.is_authenticated or request.session.session_key != session_key:
        return None  # not logged in, or the session had to change: Django's path sets it right
    expert = expert_of_user(user)
    return None if expert is None else Principal(user_id=user.pk, password=user.password, expert_id=expert.pk)


@_closing
def _project_load(expert_id: Any, project_id: uuid.UUID) -> Project | None:
    """The project when the expert may work on it now (Django's ``project_block``), else None."""
    expert = ExpertProfile.objects.select_related("user").filter(pk=expert_id).first()
    if expert is None:
        return None
    found = project_with_level(expert=expert, project_id=project_id)
    if found is None:
        return None
    project, level = found
    if project_block(expert=expert, project=project, level=level):
        return None
    # A gate that must decide at the lease (the budget near its end): nothing is remembered,
    # and Django's path leases inside the gate's guard.
    return None if gate_lease_guards(expert=expert, project=project) else project


@_closing
def _nudge() -> None:
    labels_quality_nudge()


class _TimedCache:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._data: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        hit = self._data.get(key)
        if hit is None or (self.seconds is not None and time.monotonic() - hit[0] > self.seconds):
            return None
        return hit[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self._data) >= CACHE_LIMIT:
            self._data.clear()
        self._data[key] = (time.monotonic(), value)

    def drop(self, key: Any) -> None:
        self._data.pop(key, None)


# --- The ASGI application ----------------------------------------------------------------------


class QueueFastPath:
    """ASGI middleware: serves the two hot endpoints when it can, passes everything else (and
    every request it cannot answer itself) to ``app``."""

    def __init__(self, app) -> None:
        self.app = app
        self._enabled: bool | None = None
        self._principals = _TimedCache(None)  # re-validated by every statement
        self._projects = _TimedCache(getattr(settings, "QUEUE_FAST_ELIGIBILITY_SECONDS", 1.0))
        self._pool: AsyncConnectionPool | None = None
        self._pool_loop = None
        self._pool_lock: asyncio.Lock | None = None
        self._nudge_event: asyncio.Event | None = None
        self._nudge_task: asyncio.Task | None = None
        self._sql: dict[str, str] = {}
        self.served = 0  # requests answered here (for tests and the benchmark)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        path = scope["path"]
        submit = SUBMIT_PATH.match(path)
        if path != NEXT_PATH and submit is None:
            return await self.app(scope, receive, send)
        if self._enabled is None:
            self._enabled = enabled()
        if not self._enabled:
            return await self.app(scope, receive, send)
        body, complete = await _read_body(receive)
        response = None
        if complete:
            try:
                response = await self._serve(scope, body, submit)
            except Exception:
                # Django's path answers instead, with its own handling of whatever this was.
                logger.exception("queue fast path failed; Django's path answers")
                response = None
        if response is None:
            return await self.app(scope, _replay(body, complete, receive), send)
        self.served += 1
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()],
            }
        )
        await send({"type": "http.response.body", "body": response.content})

    async def _serve(self, scope, body: bytes, submit) -> HttpResponse | None:
        headers = dict(scope.get("headers") or [])
        if b"authorization" in headers:
            return None  # an API key: Django's authentication decides
        cookies = parse_cookie(headers.get(b"cookie", b"").decode("latin-1"))
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        if not session_key:
            return None
        request = ASGIRequest(scope, io.BytesIO(body))
        if not _host_allowed(request) or (settings.SECURE_SSL_REDIRECT and not request.is_secure()):
            return None  # Django answers 400, or redirects to https
        if not _csrf_passes(request):
            return None
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return None
        if not isinstance(data, dict) or bad_text_in(data) is not None:
            return None  # Django's path refuses it, naming the field (no NUL or lone surrogate)
        try:
            principal = self._principals.get(session_key)
            if principal is None:
                principal = await sync_to_async(_principal_load, thread_sensitive=False)(session_key)
                if principal is None:
                    return None
                self._principals.put(session_key, principal)
            common = {
                "session": session_key,
                "user": principal.user_id,
                "password": principal.password,
                "expert": principal.expert_id,
            }
            if submit is None:
                result = await self._next(data, principal, common)
            else:
                result = await self._submit(data, principal, common, submit.group(1))
        except Exception as exc:
            if not pool_exhausted(exc):
                raise
            # Every pooled connection stayed busy for DB_POOL_TIMEOUT: busy, not broken. (A
            # submit stored before this is returned as stored when the client retries it.)
            response = _response(
                request,
                503,
                {"errors": [{"field": None, "code": "service_unavailable", "message": OVERLOADED_MESSAGE}]},
            )
            response["Retry-After"] = retry_after()
            return response
        if result is None:
            # Perhaps the session ended or the password changed: let Django look afresh.
            self._principals.drop(session_key)
            return None
        status, payload = result
        return _response(request, status, payload)

    async def _next(self, data: dict, principal: Principal, common: dict) -> tuple[int, dict] | None:
        if set(data) != {"project"}:
            return None
        try:
            project_id = uuid.UUID(str(data["project"]))
        except ValueError:
            return None
        key = (principal.expert_id, project_id)
        project = self._projects.get(key)
        if project is None:
            project = await sync_to_async(_project_load, thread_sensitive=False)(
                principal.expert_id, project_id
            )
            if project is None:
                return None
            self._projects.put(key, project)
        gold = bool(project.gold_rate) and _random.random() < project.gold_rate
        params = {**claim_params(project=project, expert_id=principal.expert_id, gold=gold), **common}
        sql = self._sql.get("next") or self._sql.setdefault("next", claim_sql(_next_guard()))
        row = await self._fetchone(sql, params)
        if row is None or row[0] is not None:
            return None  # nothing claimed, or a lease held: Django's path says why, or returns it
        assignment = claimed_assignment(
            project=project, expert_id=principal.expert_id, assignment_id=params["id"], row=row
        )
        item = assignment.item
        texts = rendering.item_texts(item.prompt, (response["text"] for response in item.responses))
        if not rendering.all_cached(texts):  # Markdown and Pygments take milliseconds: off the loop
            await sync_to_async(rendering.warm, thread_sensitive=False)(texts)
        return 200, assignment_output(assignment)

    async def _submit(
        self, data: dict, principal: Principal, common: dict, assignment_id: str
    ) -> tuple[int, dict] | None:
        client_id = data.pop("client_id", None)
        if not isinstance(client_id, str):
            return None
        try:
            assignment_uuid = uuid.UUID(assignment_id)
        except ValueError:
            return None  # not a UUID: Django's 404
        sql = self._sql.get("fetch") or self._sql.setdefault("fetch", _submit_fetch_sql())
        row = await self._fetchone(sql, {**common, "assignment": assignment_uuid})
        if row is None:
            return None  # not this expert's active assignment (or the session is over)
        (
            is_gold,
            shown_order,
            leased_at,
            item_id,
            uid,
            responses,
            gold,
            item_is_gold,
            project_id,
            name,
            label_schema,
            schema_version,
            gold_feedback,
            lease_seconds,
        ) = row
        project = Project(
            id=project_id,
            name=name,
            label_schema=decode_json(label_schema),
            schema_version=schema_version,
            gold_feedback=gold_feedback,
            lease_seconds=lease_seconds,
        )
        item = Item(
            id=item_id,
            uid=uid,
            project=project,
            responses=decode_json(responses),
            gold=decode_json(gold),
            is_gold=item_is_gold,
        )
        assignment = Assignment(
            id=assignment_uuid,
            project=project,
            item=item,
            expert_id=principal.expert_id,
            is_gold=is_gold,
            shown_order=decode_json(shown_order),
            leased_at=leased_at,
            status=Assignment.Status.ACTIVE,
        )
        now = timezone.now()
        try:
            label = label_build(
                assignment=assignment,
                expert=ExpertProfile(pk=principal.expert_id),
                payload=data,
                client_id=client_id,
                now=now,
            )
        except Exception:
            return None  # invalid: Django's path reports the fields
        statement, params = submit_active_statement(label=label, now=now)
        try:
            stored = await self._fetchone(statement, params)
        except psycopg.IntegrityError:
            return None  # the client_id went with another assignment: Django's path says so
        if stored is None:
            return None
        submit_active_stored(label, now)
        # After the submit committed (its own statement), so that of two experts filling an
        # item's last slots at once, the later one sees both filled. Run for gold too (where it
        # changes nothing): a gold submit takes the same steps and time as an ordinary one.
        await self._execute(ITEM_MARK_LABELLED_SQL, {"item": item_id})
        self._nudge()
        return 201, label_output(assignment=assignment, label=label)

    # --- database ---------------------------------------------------------------------------

    async def _connection_pool(self) -> AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._pool_loop is loop:
            return self._pool
        if self._pool_lock is None or self._pool_loop is not loop:
            self._pool_lock, self._pool_loop, self._pool = asyncio.Lock(), loop, None
        async with self._pool_lock:
            if self._pool is None:
                pool = AsyncConnectionPool(
                    kwargs=_connection_kwargs(),
                    min_size=1,
                    max_size=int(getattr(settings, "QUEUE_FAST_POOL_MAX", 8)),
                    timeout=float(getattr(settings, "DB_POOL_TIMEOUT", 5)),  # then 503
                    open=False,
                    name="queue-fast-path",
                )
                await pool.open()
                self._pool = pool
        return self._pool

    async def _fetchone(self, sql: str, params: dict) -> tuple | None:
        pool = await self._connection_pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone()

    async def _execute(self, sql: str, params: dict) -> None:
        pool = await self._connection_pool()
        async with pool.connection() as conn:
            await conn.execute(sql, params)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._nudge_task is not None:
            self._nudge_task.cancel()
            self._nudge_task = None

    # --- quality nudges -----------------------------------------------------------------------

    def _nudge(self) -> None:
        """Ask for a quality drain soon; a burst of submits makes one request, not one each."""
        if (
            self._nudge_task is None
            or self._nudge_task.done()
            or self._nudge_task.get_loop() is not (asyncio.get_running_loop())
        ):
            self._nudge_event = asyncio.Event()
            self._nudge_task = asyncio.get_running_loop().create_task(self._nudge_loop(self._nudge_event))
        self._nudge_event.set()

    async def _nudge_loop(self, event: asyncio.Event) -> None:
        while True:
            await event.wait()
            event.clear()
            try:
                await sync_to_async(_nudge, thread_sensitive=False)()
            except Exception:
                # The periodic sweep drains the labels anyway.
                logger.exception("quality nudge failed")
            await asyncio.sleep(NUDGE_INTERVAL)


def _connection_kwargs() -> dict[str, Any]:
    params = connections["default"].get_connection_params()
    # Django's adapters ("context": jsonb as text, as the ORM expects it; its time zone) are kept;
    # its cursor class is sync-only, and prepared statements are what this pool is for.
    for sync_only in ("cursor_factory", "prepare_threshold"):
        params.pop(sync_only, None)
    options = params.get("options", "")
    params["options"] = f"{options} -c TimeZone=UTC".strip()
    params["autocommit"] = True
    return params


def _host_allowed(request) -> bool:
    try:
        request.get_host()  # ALLOWED_HOSTS
    except DisallowedHost:
        return False
    return True


def _csrf_passes(request) -> bool:
    """The CSRF check DRF's SessionAuthentication makes (Django's own middleware)."""
    check = CsrfViewMiddleware(lambda _request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {}) is None


_security = SecurityMiddleware(lambda _request: None)
_frame_options = XFrameOptionsMiddleware(lambda _request: None)


def _response(request, status: int, payload: dict) -> HttpResponse:
    # DRF's JSONRenderer's output (compact, unicode kept) and headers, then the response
    # headers Django's middleware would add.
    content = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    response = HttpResponse(content, status=status, content_type="application/json")
    response["Vary"] = "Cookie"
    response["Allow"] = "POST, OPTIONS"
    response["Content-Length"] = str(len(content))
    response = _security.process_response(request, response)
    return _frame_options.process_response(request, response)


async def _read_body(receive) -> tuple[bytes, bool]:
    """The request body, and whether it was read whole (not over ``MAX_BODY``)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, complete: bool, receive):
    """A ``receive`` that hands Django the body already read, then the rest of the stream."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay
