"""The queue's fast path (annotate/queue/fast_path.py) over real HTTP: a uvicorn server in this
process serving the project's ASGI application, on real PostgreSQL.

It must answer next and submit exactly as Django's path does, hand every other case to Django,
re-check a suspension at once, and keep the queue's guarantees with many experts at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import itertools
import json
import socket
import threading
import time
import uuid
from collections import Counter
from importlib import import_module

import pytest
import uvicorn
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.asgi import get_asgi_application
from django.db import connection, transaction
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

import annotate.queue
import annotate.queue.fast_path as queue_fast
from annotate.models import Assignment, Item, Label, Slot
from annotate.quality.services import labels_quality_drain
from annotate.quality.suspension import project_suspend
from annotate.queue import assignment_next
from annotate.queue.answers import QUEUE_REASONS
from annotate.queue.fast_path import QueueFastPath
from rlhf_platform.core.sessions import SESSION_SEEN_KEY, SESSION_STARTED_KEY
from tests.factories import BatchFactory, CredentialFactory, ItemFactory, ProjectFactory
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Server:
    """uvicorn on a free port, in a thread with its own event loop; the fast path's pool is
    closed in that loop when the server stops."""

    def __init__(self) -> None:
        self.app = QueueFastPath(get_asgi_application())
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.server.serve())
            loop.run_until_complete(self.app.close())
        finally:
            loop.close()

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


class Expert:
    """A logged-in expert's HTTP client: session cookie and CSRF token as the browser has them."""

    def __init__(self, server: Server, user) -> None:
        client = Client()
        client.force_login(user)
        # The log-in (rlhf_platform/accounts/login.py) starts the session's clock.
        session = client.session
        session[SESSION_STARTED_KEY] = int(time.time())
        session.save()
        self.session = client.cookies["sessionid"].value
        self.csrf = _get_new_csrf_string()
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def post(
        self, path: str, body, *, csrf: bool = True, host: str | None = None
    ) -> tuple[int, dict, dict | None]:
        headers = {
            "Content-Type": "application/json",
            "Cookie": f"sessionid={self.session}; csrftoken={self.csrf}",
        }
        if csrf:
            headers["X-CSRFToken"] = self.csrf
        if host:
            headers["Host"] = host
        self.conn.request("POST", path, body=json.dumps(body), headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        is_json = headers.get("content-type", "").startswith("application/json")
        return response.status, headers, json.loads(data) if data and is_json else None

    def next(self, project) -> tuple[int, dict, dict | None]:
        return self.post("/api/v1/queue/next", {"project": str(project.pk)})

    def submit(self, assignment_id: str, **label) -> tuple[int, dict, dict | None]:
        body = {"client_id": str(uuid.uuid4()), "choice": "A", "strength": 2, **label}
        return self.post(f"/api/v1/assignments/{assignment_id}/submit", body)


@pytest.fixture
def nudges(monkeypatch) -> list:
    """The labels the fast path sends the label_submitted hook for (collected here instead of
    sent, so that no quality drain is queued: the test drains the labels itself)."""
    sent: list = []
    monkeypatch.setattr(queue_fast, "_labels_submitted", sent.extend)
    return sent


def _expert_on(project):
    return CredentialFactory(approved=True, domain=project.domain).expert


def test_next_and_submit_are_answered_by_the_fast_path_as_django_answers_them(nudges):
    project = ProjectFactory(gold_rate=0, overlap=2)
    items = ItemFactory.create_batch(3, project=project, batch=BatchFactory(project=project))
    expert = _expert_on(project)
    django_client = Client()
    django_client.force_login(expert.user)
    with Server() as server:
        client = Expert(server, expert.user)
        status, headers, body = client.next(project)
        assert status == 200 and server.app.served == 1
        assignment = Assignment.objects.get(pk=body["id"])
        assert body["item"] in {str(item.uid) for item in items}
        assert body["lease_seconds"] == project.lease_seconds
        assert [r["label"] for r in body["responses"]] == ["A", "B"]
        shown_first = assignment.item.responses[assignment.shown_order[0]]
        assert body["responses"][0]["text"] == shown_first["text"]
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"

        # Django's own path, for the same expert: the same shape.
        django_next = django_client.post(
            "/api/v1/queue/next", {"project": str(project.pk)}, content_type="application/json"
        )
        assert django_next.status_code == 200
        assert set(django_next.json()) == set(body)
        # ... and the headers Django's middleware adds (the policy, the security headers).
        assert {name.lower() for name in django_next.headers} <= set(headers)
        assert "connect-src 'self' ws://127.0.0.1:" in headers["content-security-policy"]

        status, _headers, stored = client.submit(body["id"], choice="A", strength=3, active_seconds=7.5)
        assert status == 201 and server.app.served == 2
        label = Label.objects.get(pk=stored["id"])
        # "A" was the response shown first: the label names it in canonical terms.
        assert label.choice == "AB"[assignment.shown_order[0]]
        assert label.strength == 3 and label.active_seconds == 7.5 and label.client_id == stored["client_id"]
        assert label.quality_at is None  # the worker's drain takes it
        # label_submitted, once: the fast path sends it off the event loop, in bursts
        # (HOOK_INTERVAL), so it may land just after the answer
        deadline = time.monotonic() + 10
        while not nudges and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(3 * queue_fast.HOOK_INTERVAL)  # and not twice
        assert [sent.pk for sent in nudges] == [label.pk]
        assert Slot.objects.get(pk=assignment.slot_id).state == Slot.State.FILLED
        assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.SUBMITTED
    assert labels_quality_drain() == 1
    assert Label.objects.get(pk=label.pk).quality_at is not None


def test_every_other_case_is_handed_to_django(nudges):
    project = ProjectFactory(gold_rate=0, overlap=1)
    ItemFactory.create_batch(3, project=project, batch=BatchFactory(project=project))
    expert = _expert_on(project)
    with Server() as server:
        client = Expert(server, expert.user)
        _status, _headers, first = client.next(project)
        served = server.app.served

        # An invalid label: Django's field errors.
        status, _headers, body = client.submit(first["id"], choice="Z")
        assert status == 400 and "choice" in json.dumps(body)
        # The same client_id twice (a retry): the first label, not a second.
        client_id = str(uuid.uuid4())
        status, _headers, stored = client.submit(first["id"], client_id=client_id)
        assert status == 201
        status, _headers, again = client.submit(first["id"], client_id=client_id)
        assert status == 200 and again["id"] == stored["id"]
        assert Label.objects.filter(assignment_id=first["id"]).count() == 1
        # No CSRF token: refused, as Django refuses it.
        status, _headers, _body = client.post("/api/v1/queue/next", {"project": str(project.pk)}, csrf=False)
        assert status == 403
        # An assignment id that is not a UUID: Django's 404.
        status, _headers, _body = client.submit("-" * 36)
        assert status == 404
        # A Host that ALLOWED_HOSTS does not name: Django's 400.
        status, _headers, _body = client.post(
            "/api/v1/queue/next", {"project": str(project.pk)}, host="evil.example"
        )
        assert status == 400
        # Logged out (the session is gone, as logging out deletes it): refused, although the
        # fast path knew the session.
        engine = import_module(settings.SESSION_ENGINE)
        engine.SessionStore(session_key=client.session).delete()
        assert not Session.objects.filter(session_key=client.session).exists()
        status, _headers, _body = client.next(project)
        assert status == 401  # Django's answer to a request without a valid session
        # Only the submit that stored the label was the fast path's.
        assert server.app.served == served + 1


def _age_remembered_session(server: Server, session_key: str, **times) -> None:
    """What the fast path remembers of the session, as it is once that much time has passed."""
    remembered = server.app._principals.get(session_key)
    server.app._principals.put(session_key, dataclasses.replace(remembered, **times))


def test_a_query_string_and_a_session_django_must_refresh_are_handed_to_django(nudges):
    project = ProjectFactory(gold_rate=0, overlap=1)
    ItemFactory.create_batch(3, project=project, batch=BatchFactory(project=project))
    expert = _expert_on(project)
    with Server() as server:
        client = Expert(server, expert.user)
        # Django's UnknownQueryParameterMiddleware refuses a parameter the endpoint does not take.
        status, _headers, body = client.post(
            f"/api/v1/queue/next?project={project.pk}", {"project": str(project.pk)}
        )
        assert status == 400 and server.app.served == 0
        status, _headers, first = client.next(project)
        assert status == 200 and server.app.served == 1
        # The session was last refreshed two minutes ago: Django's SessionTimeoutMiddleware
        # refreshes it (a new expiry, the cookie sent again), and then the fast path serves it.
        engine = import_module(settings.SESSION_ENGINE)
        store = engine.SessionStore(session_key=client.session)
        store[SESSION_SEEN_KEY] = int(time.time()) - 120
        store.save()
        _age_remembered_session(server, client.session, seen_at=int(time.time()) - 120)
        status, headers, _body = client.submit(first["id"])
        assert status == 201 and server.app.served == 1 and "set-cookie" in headers
        assert engine.SessionStore(session_key=client.session)[SESSION_SEEN_KEY] >= int(time.time()) - 5
        status, _headers, _body = client.next(project)
        assert status == 200 and server.app.served == 2
        # Past the session's absolute maximum: Django ends it, whatever the fast path remembered.
        store = engine.SessionStore(session_key=client.session)
        store[SESSION_STARTED_KEY] = int(time.time()) - settings.SESSION_MAX_AGE_SECONDS - 10
        store.save()
        _age_remembered_session(
            server, client.session, started_at=int(time.time()) - settings.SESSION_MAX_AGE_SECONDS - 10
        )
        status, _headers, _body = client.next(project)
        assert status in (401, 403) and server.app.served == 2


def test_a_suspension_stops_work_at_once_despite_the_remembered_eligibility(nudges):
    project = ProjectFactory(gold_rate=0, overlap=1)
    ItemFactory.create_batch(5, project=project, batch=BatchFactory(project=project))
    expert = _expert_on(project)
    with Server() as server:
        client = Expert(server, expert.user)
        status, _headers, body = client.next(project)
        assert status == 200
        assert client.submit(body["id"])[0] == 201
        project_suspend(project=project, expert_id=expert.pk, reason="staff")
        status, headers, _body = client.next(project)
        assert status == 204 and headers["queue-reason"] == "suspended_in_project"
        # So does the end of the project.
        other = _expert_on(project)
        second = Expert(server, other.user)
        assert second.next(project)[0] == 200
        project.status = "paused"
        project.save(update_fields=["status"])
        status, headers, _body = second.next(project)
        assert status == 204 and headers["queue-reason"] == "project_not_active"


def test_gold_is_drawn_by_the_fast_path_at_the_projects_rate_and_never_twice(nudges):
    project = ProjectFactory(gold_rate=0.5, overlap=1)
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(60, project=project, batch=batch)
    gold = ItemFactory.create_batch(40, project=project, batch=batch, gold_answer=True)
    expert = _expert_on(project)
    with Server() as server:
        client = Expert(server, expert.user)
        draws = 50
        for _ in range(draws):
            status, _headers, body = client.next(project)
            assert status == 200
            assert client.submit(body["id"])[0] == 201
        assert server.app.served == 2 * draws
    gold_ids = {item.pk for item in gold}
    seen = Counter(Assignment.objects.filter(expert=expert, is_gold=True).values_list("item_id", flat=True))
    assert set(seen) <= gold_ids
    assert max(seen.values()) == 1  # never the same gold item twice
    # 50 draws at 0.5: outside 12..38 has a probability under 1e-4.
    assert 12 <= sum(seen.values()) <= 38


def test_many_experts_through_the_fast_path_label_every_item_exactly_k_times(nudges):
    experts_count, items_count, k = 24, 200, 3
    project = ProjectFactory(gold_rate=0, overlap=k)
    ItemFactory.create_batch(items_count, project=project, batch=BatchFactory(project=project))
    experts = [_expert_on(project) for _ in range(experts_count)]
    connection.close()
    with Server() as server:
        clients = [Expert(server, expert.user) for expert in experts]

        def work(client: Expert) -> int:
            done = 0
            while True:
                status, headers, body = client.next(project)
                if status == 204:
                    if headers.get("queue-reason") not in QUEUE_REASONS:
                        raise AssertionError(headers)
                    return done
                assert status == 200, body
                status, _headers, stored = client.submit(body["id"])
                assert status == 201, stored
                done += 1

        results = run_together([lambda c=c: work(c) for c in clients])
        assert server.app.served > 0
    per_item = Counter(Label.objects.filter(project=project).values_list("item_id", flat=True))
    assert len(per_item) == items_count and set(per_item.values()) == {k}
    pairs = Label.objects.filter(project=project).values_list("item_id", "expert_id")
    assert len(set(pairs)) == len(pairs) == items_count * k
    assert sum(results) == items_count * k
    assert Item.objects.filter(project=project, state="labelled").count() == items_count
    assert labels_quality_drain() == items_count * k
    assert not Label.objects.filter(project=project, quality_at__isnull=True).exists()


@pytest.fixture
def commit_modes():
    """The ``synchronous_commit`` in force when each lease (assignment) and each label was
    written, as (table, setting) rows, recorded by triggers in the writing transaction: the
    setting a transaction holds at its last write is the one its commit uses."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TABLE test_commit_modes (tbl text, setting text);
            CREATE FUNCTION test_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO test_commit_modes VALUES (TG_TABLE_NAME, current_setting('synchronous_commit'));
                RETURN NULL;
            END $$;
            CREATE TRIGGER test_commit_mode AFTER INSERT ON annotate_assignment
                FOR EACH ROW EXECUTE FUNCTION test_commit_mode();
            CREATE TRIGGER test_commit_mode AFTER INSERT ON annotate_label
                FOR EACH ROW EXECUTE FUNCTION test_commit_mode();
            """
        )

    def seen() -> list[tuple[str, str]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT tbl, setting FROM test_commit_modes")
            rows = cursor.fetchall()
            cursor.execute("TRUNCATE test_commit_modes")
        return rows

    yield seen
    with connection.cursor() as cursor:
        cursor.execute(
            """
            DROP TRIGGER test_commit_mode ON annotate_assignment;
            DROP TRIGGER test_commit_mode ON annotate_label;
            DROP FUNCTION test_commit_mode();
            DROP TABLE test_commit_modes;
            """
        )


def test_a_lease_commits_without_waiting_for_the_log_and_a_label_waits_for_it(
    nudges, commit_modes, monkeypatch
):
    # Draws 0.0 and 0.99 in turn: at gold rate 0.5 every other claim draws gold.
    monkeypatch.setattr(annotate.queue._random, "random", itertools.cycle((0.0, 0.99)).__next__)
    project = ProjectFactory(gold_rate=0.5, overlap=1)
    ItemFactory.create_batch(4, project=project, batch=BatchFactory(project=project))
    ItemFactory.create_batch(4, project=project, batch=BatchFactory(project=project), gold_answer=True)
    expert = _expert_on(project)
    with Server() as server:
        client = Expert(server, expert.user)
        for _ in range(6):
            status, _headers, body = client.next(project)
            assert status == 200
            status, _headers, _stored = client.submit(body["id"])
            assert status == 201
        assert server.app.served == 12
    # Both kinds of lease were written: three gold, three ordinary.
    assert Counter(Assignment.objects.filter(expert=expert).values_list("is_gold", flat=True)) == {
        True: 3,
        False: 3,
    }
    assert sorted(set(commit_modes())) == [("annotate_assignment", "off"), ("annotate_label", "on")]
    # The setting was the lease transaction's own: the session keeps the server's default.
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)


def test_djangos_path_leases_without_waiting_for_the_log_only_as_its_own_transaction(commit_modes):
    project = ProjectFactory(gold_rate=0, overlap=1)
    ItemFactory.create_batch(3, project=project, batch=BatchFactory(project=project))
    experts = [_expert_on(project) for _ in range(2)]
    assert isinstance(assignment_next(expert=experts[0], project=project), Assignment)
    assert commit_modes() == [("annotate_assignment", "off")]
    # Inside a caller's transaction the setting would reach the caller's other writes: not set.
    with transaction.atomic():
        assert isinstance(assignment_next(expert=experts[1], project=project), Assignment)
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)
    assert commit_modes() == [("annotate_assignment", "on")]
