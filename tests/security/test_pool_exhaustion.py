"""A full database pool is a quick 503 with Retry-After, not a 500 after 30 seconds.

On PostgreSQL with a tiny pool (two connections, a 0.5 s wait): the test holds every pooled
connection, then sends requests that need one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest
from django.db import connection
from django.test import Client
from psycopg_pool import PoolTimeout

from tests.annotate.test_queue_fast_path import Expert, Server, nudges  # noqa: F401 (a fixture)
from tests.factories import (
    PASSWORD,
    BatchFactory,
    CredentialFactory,
    ItemFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT = 0.5


@pytest.fixture
def tiny_pool(settings):
    """Django's pool rebuilt with two connections and a short wait; restored afterwards."""
    settings.DB_POOL_TIMEOUT = WAIT
    settings.DB_POOL_RETRY_AFTER = 3
    options = connection.settings_dict["OPTIONS"]
    saved = dict(options["pool"])
    connection.close()
    connection.close_pool()
    options["pool"] = {"min_size": 1, "max_size": 2, "timeout": WAIT}
    connection.pool.open(wait=True)
    yield connection.pool
    connection.close()
    connection.close_pool()
    options["pool"] = saved


def _hold_all(pool) -> list:
    held = []
    while True:
        try:
            held.append(pool.getconn(timeout=0.2))
        except PoolTimeout:
            return held


def _release(pool, held) -> None:
    for conn in held:
        pool.putconn(conn)


def _at_once(count: int, request) -> list:
    with concurrent.futures.ThreadPoolExecutor(count) as executor:
        return list(executor.map(lambda _: request(), range(count)))


def _log_in(client, user):
    return client.post(
        "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, content_type="application/json"
    )


def test_log_ins_with_the_pool_full_get_503_with_retry_after(tiny_pool):
    user = UserFactory()
    # A log-in first: it works (and the URLconf is loaded before anything is timed).
    assert _log_in(Client(), user).status_code == 200
    connection.close()  # give the test's own connection back
    held = _hold_all(tiny_pool)
    assert len(held) == 2

    def log_in():
        client = Client(raise_request_exception=False)
        started = time.monotonic()
        response = _log_in(client, user)
        return response, time.monotonic() - started

    try:
        results = _at_once(8, log_in)
    finally:
        _release(tiny_pool, held)
    for response, took in results:
        assert response.status_code == 503, response.content
        assert response["Retry-After"] == "3"
        assert response.json()["errors"][0]["code"] == "service_unavailable"
        assert took < WAIT + 3  # the short wait, not the old 30 s
    # With connections free again, the same log-in works.
    assert _log_in(Client(), user).status_code == 200


def test_a_page_with_the_pool_full_gets_503(tiny_pool):
    Client().get("/healthz")  # the URLconf loaded
    connection.close()
    held = _hold_all(tiny_pool)
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "a" * 32  # loading the session needs the database
    try:
        response = client.get("/")
    finally:
        _release(tiny_pool, held)
    assert response.status_code == 503
    assert response["Retry-After"] == "3"


def test_the_queue_fast_path_answers_503_when_its_pool_is_full(tiny_pool, settings, nudges):  # noqa: F811
    settings.QUEUE_FAST_POOL_MAX = 1
    project = ProjectFactory(gold_rate=0, overlap=2)
    ItemFactory.create_batch(3, project=project, batch=BatchFactory(project=project))
    expert = CredentialFactory(approved=True, domain=project.domain).expert
    with Server() as server:
        client = Expert(server, expert.user)
        status, _headers, first = client.next(project)
        assert status == 200 and server.app.served == 1
        connection.close()
        pool, loop = server.app._pool, server.app._pool_loop
        held = asyncio.run_coroutine_threadsafe(pool.getconn(), loop).result(5)
        try:
            status, headers, body = client.submit(first["id"])
        finally:
            asyncio.run_coroutine_threadsafe(pool.putconn(held), loop).result(5)
        assert status == 503, body
        assert headers["retry-after"] == "3"
        assert body["errors"][0]["code"] == "service_unavailable"
        assert server.app.served == 2  # answered by the fast path, not handed to Django
        # Once a connection is free the retry goes through.
        status, _headers, _body = client.submit(first["id"])
        assert status == 201
