"""The queue's fast path: ``POST /api/v1/queue/next`` and ``POST /api/v1/assignments/{id}/submit``
answered from the event loop, in front of Django, on PostgreSQL. A transport of the queue's
engine, as the DRF views are: it authenticates, parses, runs the engine's plans and renders.

Why it exists: served by Django under ASGI, one next + submit pair cost about 24 ms of CPU on
this project's 2-core machine, which capped the queue near 45 pairs/s. Django runs each
old-style middleware hook, and every sync view, in a worker thread (asgiref's
``sync_to_async``), a new thread per request; DRF and the ORM's query compiler add the rest.
Here the common case (a logged-in expert with a session, a valid label, a live lease) takes
one statement for next and three for submit, over an async psycopg pool with prepared
statements, and no thread.

The engine writes every statement and builds every result (annotate/queue/claim.py
``claim_plan``, annotate/queue/submit.py ``submit_plan``); this module only runs them on its
pool, with the session's check as their guard. Everything else goes to Django unchanged: a
request without a session cookie, with an API key or a query string, a failed CSRF or host
check, a body that is not what the fast path expects, a session Django must refresh or end, a
first request of a session (Django's own code validates it, and the result is remembered), a
held lease, an empty claim (Django's path sweeps expired leases, tries again, and says whether
work waits: annotate/queue/answers.py), an expert who is not eligible, an invalid label, a
retry, an expired lease, a database error. Django's path applies every rule and writes every
error message, so they live in one place. A request handed over after the fast path wrote
something is safe to repeat: a second next returns the lease just taken, a second submit with
the same ``client_id`` returns the label just stored.

What is checked on every request, in the same statement as the work: the session exists and
has not expired, the user is active and their password unchanged (the session's auth hash is
derived from it), the expert is the user's; for next also that the expert is not suspended,
the project is active, and every gate that registered a ``recheck_sql`` (the per-project
suspension) passes. The rest of eligibility (credential level, qualification, budget) is the
engine's ``project_open_for_claim`` (per expert and project) and ``project_gates_open`` (the
gates registered per project, the budget: per project, for all its experts), each remembered
for ``QUEUE_FAST_ELIGIBILITY_SECONDS`` (1 s) and reloaded ahead of that time in the background
(annotate/queue/fast_path_memory.py); never while a gate needs to guard the lease itself (the
budget near its end), when Django's path answers every request.

The fast path refuses to start when ``MIDDLEWARE`` or the API's throttles hold anything it does
not apply itself (annotate/queue/fast_path_http.py).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpResponse, parse_cookie
from psycopg_pool import AsyncConnectionPool

from annotate import rendering
from annotate.models import Label
from annotate.queue.claim import claim_plan
from annotate.queue.eligibility import is_senior, project_gates_open, project_open_for_claim
from annotate.queue.fast_path_auth import (
    Principal,
    TimedCache,
    closing,
    next_guard,
    principal_load,
    session_guard,
)
from annotate.queue.fast_path_http import (
    NEXT_PATH,
    csrf_passes,
    fast_path_check,
    host_allowed,
    read_body,
    render,
    replay,
)
from annotate.queue.fast_path_memory import Remembered
from annotate.queue.hooks import labels_submitted_send
from annotate.queue.output import assignment_output, label_output
from annotate.queue.sql import Plan
from annotate.queue.submit import submit_plan
from rlhf_platform.core.overload import OVERLOADED_MESSAGE, pool_exhausted, retry_after
from rlhf_platform.core.text import bad_text_in

logger = logging.getLogger(__name__)

SUBMIT_PATH = re.compile(r"^/api/v1/assignments/([0-9a-fA-F-]{36})/submit$")
MAX_BODY = 256 * 1024  # a label is a few KB; anything larger is Django's to refuse
SESSION_ENGINES = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")
HOOK_INTERVAL = 0.05  # the label_submitted hook runs at most 20 times a second per process, in bursts


def enabled() -> bool:
    return (
        getattr(settings, "QUEUE_FAST_PATH", True)
        and connections["default"].vendor == "postgresql"
        and settings.SESSION_ENGINE in SESSION_ENGINES
    )


_project_load = closing(project_open_for_claim)
_project_gates_load = closing(project_gates_open)


def _expert_part(key: tuple) -> tuple[Any, int] | None:
    expert_id, project_id = key
    return _project_load(expert_id=expert_id, project_id=project_id)


def _project_part(project_id: uuid.UUID) -> bool | None:
    return _project_gates_load(project_id=project_id) or None  # a closed project is not remembered


@closing
def _labels_submitted(labels: list[Label]) -> None:
    labels_submitted_send(labels)


# --- The ASGI application ----------------------------------------------------------------------


class QueueFastPath:
    """ASGI middleware: serves the two hot endpoints when it can, passes everything else (and
    every request it cannot answer itself) to ``app``. Raises ``ImproperlyConfigured`` when
    created with the fast path on and a middleware or throttle it does not apply configured."""

    def __init__(self, app) -> None:
        if getattr(settings, "QUEUE_FAST_PATH", True):
            fast_path_check()
        self.app = app
        self._enabled: bool | None = None
        self._principals = TimedCache(None)  # re-validated by every statement
        seconds = float(getattr(settings, "QUEUE_FAST_ELIGIBILITY_SECONDS", 1.0))
        self._experts = Remembered(seconds, _expert_part, "eligibility")
        self._project_gates = Remembered(seconds, _project_part, "project gates")
        self._pool: AsyncConnectionPool | None = None
        self._pool_loop = None
        self._pool_lock: asyncio.Lock | None = None
        self._submitted: list[Label] = []
        self._hook_event: asyncio.Event | None = None
        self._hook_task: asyncio.Task | None = None
        self._guards: dict[str, str] = {}
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
        if not self._enabled or scope.get("query_string"):
            return await self.app(scope, receive, send)
        body, complete = await read_body(receive, MAX_BODY)
        response = None
        if complete:
            try:
                response = await self._serve(scope, body, submit)
            except Exception:
                # Django's path answers instead, with its own handling of whatever this was.
                logger.exception("queue fast path failed; Django's path answers")
                response = None
        if response is None:
            return await self.app(scope, replay(body, complete, receive), send)
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
        if not host_allowed(request) or (settings.SECURE_SSL_REDIRECT and not request.is_secure()):
            return None  # Django answers 400, or redirects to https
        if not csrf_passes(request):
            return None
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return None
        if not isinstance(data, dict) or bad_text_in(data) is not None:
            return None  # Django's path refuses it, naming the field (no NUL or lone surrogate)
        principal = self._principals.get(session_key)
        if principal is not None and principal.session_due():
            self._principals.drop(session_key)
            return None  # Django refreshes the session (or ends it); the next request reloads
        try:
            if principal is None:
                principal = await sync_to_async(principal_load, thread_sensitive=False)(session_key)
                if principal is None:
                    return None
                self._principals.put(session_key, principal)
            guard_params = {
                "session": session_key,
                "user": principal.user_id,
                "password": principal.password,
                "expert": principal.expert_id,
            }
            if submit is None:
                result = await self._next(data, principal, guard_params)
            else:
                result = await self._submit(data, principal, guard_params, submit.group(1))
        except Exception as exc:
            if not pool_exhausted(exc):
                raise
            # Every pooled connection stayed busy for DB_POOL_TIMEOUT: busy, not broken. (A
            # submit stored before this is returned as stored when the client retries it.)
            response = render(
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
        return render(request, status, payload)

    def _guard(self, name: str) -> str:
        guard = self._guards.get(name)
        if guard is None:
            guard = self._guards[name] = next_guard() if name == "next" else session_guard()
        return guard

    async def _next(self, data: dict, principal: Principal, guard_params: dict) -> tuple[int, dict] | None:
        if set(data) != {"project"}:
            return None
        try:
            project_id = uuid.UUID(str(data["project"]))
        except ValueError:
            return None
        found = await self._eligibility(principal.expert_id, project_id)
        if found is None:
            return None
        project, level = found
        plan = claim_plan(
            project=project,
            expert_id=principal.expert_id,
            senior=is_senior(project=project, level=level),
            guard=self._guard("next"),
            guard_params=guard_params,
            commit_async=True,  # in autocommit: a lease need not wait for the log's flush
        )
        assignment = await self._run(plan)
        if assignment is None or isinstance(assignment, str):
            return None  # nothing claimed, or a lease held: Django's path says why, or returns it
        item = assignment.item
        texts = rendering.item_texts(item.prompt, (response["text"] for response in item.responses))
        if not rendering.all_cached(texts):  # Markdown and Pygments take milliseconds: off the loop
            await sync_to_async(rendering.warm, thread_sensitive=False)(texts)
        return 200, assignment_output(assignment)

    async def _submit(
        self, data: dict, principal: Principal, guard_params: dict, assignment_id: str
    ) -> tuple[int, dict] | None:
        client_id = data.pop("client_id", None)
        if not isinstance(client_id, str):
            return None
        try:
            assignment_uuid = uuid.UUID(assignment_id)
        except ValueError:
            return None  # not a UUID: Django's 404
        plan = submit_plan(
            assignment_id=assignment_uuid,
            expert_id=principal.expert_id,
            payload=data,
            client_id=client_id,
            guard=self._guard("session"),
            guard_params=guard_params,
        )
        stored = await self._run(plan)
        if stored is None:
            return None  # not this expert's active lease, invalid, a reused client_id: Django's path
        assignment, label = stored
        self._label_submitted(label)
        return 201, label_output(assignment=assignment, label=label)

    # --- eligibility ------------------------------------------------------------------------

    async def _eligibility(self, expert_id: Any, project_id: uuid.UUID) -> tuple[Any, int] | None:
        """The project and the expert's level when the remembered eligibility lets the expert
        claim there: the expert's part, and the project's (its per-project gates, read once
        for all its experts). See the module's docstring."""
        found = await self._experts.get((expert_id, project_id))
        if found is None or not await self._project_gates.get(project_id):
            return None
        return found

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

    async def _run(self, plan: Plan) -> Any:
        """Run the engine's ``plan`` on one pooled connection, in autocommit: each statement's
        first row (or its error) goes back to the plan."""
        pool = await self._connection_pool()
        async with pool.connection() as conn:
            send: Any = None
            error: BaseException | None = None
            while True:
                try:
                    statement = plan.throw(error) if error is not None else plan.send(send)
                except StopIteration as done:
                    return done.value
                send, error = None, None
                try:
                    cursor = await conn.execute(statement.sql, statement.params)
                    send = await cursor.fetchone() if cursor.description else None
                except Exception as exc:  # handed to the plan, which decides
                    error = exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._hook_task is not None:
            self._hook_task.cancel()
            self._hook_task = None

    # --- the label_submitted hook -------------------------------------------------------------

    def _label_submitted(self, label: Label) -> None:
        """Send ``label_submitted`` for ``label`` (committed already) soon, off the event loop: a
        burst of submits is sent in one thread hop, each label once."""
        loop = asyncio.get_running_loop()
        if self._hook_task is None or self._hook_task.done() or self._hook_task.get_loop() is not loop:
            self._hook_event = asyncio.Event()
            self._hook_task = loop.create_task(self._hook_loop(self._hook_event))
        self._submitted.append(label)
        self._hook_event.set()

    async def _hook_loop(self, event: asyncio.Event) -> None:
        while True:
            await event.wait()
            event.clear()
            labels, self._submitted = self._submitted, []
            try:
                await sync_to_async(_labels_submitted, thread_sensitive=False)(labels)
            except Exception:
                # The periodic sweeps catch up with what the receivers missed.
                logger.exception("label_submitted hook failed")
            await asyncio.sleep(HOOK_INTERVAL)


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
