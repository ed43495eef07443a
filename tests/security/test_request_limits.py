"""No request takes the server down: deep JSON, huge or endless bodies, slow clients, and a
worker that dies all the same. Each test drives a real server process over real sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.server_process import ROOT, Server, children, health_answers, read_response, wait_for

pytestmark = pytest.mark.skipif(
    not hasattr(__import__("socket"), "SO_REUSEPORT"), reason="needs SO_REUSEPORT"
)

DEEP = b"[" * 100_000 + b"]" * 100_000
TIMEOUTS = {"REQUEST_HEADER_TIMEOUT_SECONDS": "2", "REQUEST_BODY_TIMEOUT_SECONDS": "2"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("serve"), workers=1, **TIMEOUTS)
    yield running
    running.stop()


def api_paths() -> list[str]:
    """Every route under /api/, its converters filled with plausible values."""
    filler = {"uuid": str(uuid.uuid4()), "int": "1", "slug": "x", "str": "x", "path": "x"}
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/"):
                path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: filler[m.group(1) or "str"], route)
                found.append("/" + path.lstrip("^").rstrip("$"))

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


def post(server: Server, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    with server.connect() as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        return read_response(sock)


def test_a_body_nested_100000_deep_is_refused_on_every_json_endpoint_and_the_server_lives(server):
    paths = api_paths()
    assert "/api/v1/auth/login" in paths and "/api/v1/queue/next" in paths and len(paths) > 40
    worker = set(server.workers)
    for path in paths:
        for content_type in ("application/json", "application/x-ndjson"):
            status, response = post(server, path, DEEP, content_type)
            assert status == 400, (path, response[:300])
            assert b"json_too_deep" in response
    # The same body inside a JSON array of items and as one JSON Lines record of a batch upload.
    batches = f"/api/v1/projects/{uuid.uuid4()}/batches"
    status, _ = post(server, batches, b"[" + DEEP + b"]")
    assert status == 400
    status, _ = post(server, batches, b'{"prompt": "a"}\n' + DEEP + b"\n", "application/x-ndjson")
    assert status == 400
    assert health_answers(server.port)
    assert children(server.process.pid) == worker  # the same worker: nothing crashed


def test_the_json_parser_raises_instead_of_crashing_once_the_recursion_limit_is_capped():
    # Without the request guard, the second line of defence: py_ecc's import raised the limit
    # to 100,000, at which the C parser overflows the stack (SIGSEGV) in a thread.
    script = (
        "import django, json, sys, threading\n"
        "django.setup()\n"
        "import web3, eth_account\n"
        "result = []\n"
        "def parse():\n"
        "    try:\n"
        "        json.loads(b'[' * 100000 + b']' * 100000)\n"
        "    except RecursionError:\n"
        "        result.append('raised')\n"
        "thread = threading.Thread(target=parse)\n"
        "thread.start(); thread.join()\n"
        "print(sys.getrecursionlimit(), result)\n"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="rlhf_platform.settings")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [b"3000", b"['raised']"]


def test_a_declared_length_over_the_limit_is_refused_before_the_body(server):
    with server.connect(timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2000000000\r\n\r\n"
        )
        status, response = read_response(sock)
    assert status == 413 and b"request_too_large" in response
    with server.connect(timeout=10) as sock:
        sock.sendall(
            f"POST /api/v1/projects/{uuid.uuid4()}/batches HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 2000000000\r\n\r\n".encode()
        )
        status, _ = read_response(sock)
    assert status == 413  # over BATCH_MAX_BYTES (1 GiB) too


def test_a_chunked_body_is_stopped_at_the_limit_as_it_streams(server):
    chunk = b"x" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with server.connect(timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < 256 << 20:
                sock.sendall(frame)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, response = read_response(sock)
    assert status == 413 and b"request_too_large" in response
    assert sent < 64 << 20  # the server stopped reading near the 2 MiB limit, not at 256 MiB


def test_a_client_that_trickles_its_headers_is_disconnected(server):
    with server.connect(timeout=30) as sock:
        sock.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 20
    with server.connect(timeout=30) as sock:  # nothing at all after connecting
        assert sock.recv(1024) == b""


def test_a_client_that_trickles_its_body_gets_408(server):
    with server.connect(timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        status, response = read_response(sock)
    assert status == 408 and b"request_timeout" in response
    assert health_answers(server.port)


def test_one_worker_that_dies_is_started_again(tmp_path):
    server = Server(tmp_path, workers=1)
    try:
        (victim,) = server.workers
        os.kill(victim, signal.SIGSEGV)
        replaced = wait_for(lambda: (c := children(server.process.pid)) and victim not in c and c)
        assert len(replaced) == 1
        wait_for(lambda: health_answers(server.port))
        status, _ = post(server, "/api/v1/auth/login", json.dumps({"email": "a@b.c"}).encode())
        assert status in (400, 401, 403)
    finally:
        server.stop()
