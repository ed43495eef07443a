"""The client's tests run against a live server: the project's ASGI application (request
guard, fast path, Django) under uvicorn on a free port, in a thread of the test process, on
the test database. Large uploads go to the ingest task, run in the request's thread as soon as
the upload commits (no worker process here), so ``batch.wait()`` follows a real 202."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connections

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local files only: never the Hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def live_url(transactional_db, monkeypatch) -> Iterator[str]:
    import uvicorn

    from rlhf_platform.asgi import application
    from rlhf_platform.celery_app import app

    # Each ASGI request runs in a thread of its own; a persistent connection left in a finished
    # thread would keep the test database from being dropped at the end.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(application, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()
    connections.close_all()
    app.conf.task_always_eager = eager


@pytest.fixture
def client(live_url, lab_key):
    from rlhf_client import Client

    with Client(api_key=lab_key[2], base_url=live_url) as client:
        yield client


@pytest.fixture
def project(client, domain):
    """A pairwise project made through the client."""
    return client.create_project(name="Triage", domain=domain.path, overlap=1)


def records(count: int, *, start: int = 0, prefix: str = "item") -> Iterator[dict]:
    """Pairwise items as a lab sends them, with Unicode in the text."""
    for n in range(start, start + count):
        yield {
            "external_id": f"{prefix}-{n:05d}",
            "prompt": f"Question {n}: which answer is right? ✓ 问题",
            "responses": [
                {"id": "a", "model": "m-1", "text": f"Answer A to {n}."},
                {"id": "b", "model": "m-2", "text": f"Answer B to {n}."},
            ],
            "metadata": {"n": n},
        }
