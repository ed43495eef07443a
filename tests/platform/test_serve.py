"""``python -m rlhf_platform.serve``: several uvicorn processes on SO_REUSEPORT sockets, under a
parent that restarts a worker that dies and stops them all on SIGTERM. A real server process."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server_process import ROOT, health_answers
from tests.server_process import children as _children
from tests.server_process import free_port as _free_port
from tests.server_process import wait_for as _wait

pytestmark = pytest.mark.skipif(
    not hasattr(__import__("socket"), "SO_REUSEPORT"), reason="needs SO_REUSEPORT"
)


def _accepted(pid: int, port: int) -> int:
    """How many established connections to ``port`` the process holds (its other sockets, to
    the database or Redis, open and close on their own and are not counted)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            established = fields[3] == "01"
            count += local_port == port and established and fields[9] in inodes
    return count


def _serve_two_workers(tmp_path) -> tuple[subprocess.Popen, int]:
    """``rlhf_platform.serve`` with two workers on a free port, on the embedded defaults."""
    port = _free_port()
    env = dict(os.environ, DATA_DIR=str(tmp_path), LOG_LEVEL="WARNING")
    env.pop("DATABASE_URL", None), env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "rlhf_platform.serve", "--port", str(port), "--workers", "2"]
    parent = subprocess.Popen([*command, "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env)
    return parent, port


def _running_workers(parent: subprocess.Popen, port: int) -> set[int]:
    workers = _wait(lambda: len(_children(parent.pid)) == 2 and _children(parent.pid))
    _wait(lambda: health_answers(port))
    return workers


def test_a_port_held_by_another_program_fails_at_once(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "rlhf_platform.serve",
                "--port",
                str(holder.getsockname()[1]),
                "--workers",
                "2",
            ],
            cwd=ROOT,
            env=dict(os.environ, DATA_DIR=str(tmp_path)),
            capture_output=True,
            timeout=120,
        )
    finally:
        holder.close()
    assert result.returncode != 0
    assert b"Address already in use" in result.stderr


def test_two_workers_serve_a_dead_one_is_replaced_and_sigterm_stops_all(tmp_path):
    parent, port = _serve_two_workers(tmp_path)
    try:
        workers = _running_workers(parent, port)
        # Connections opened together are spread over both workers (uvicorn --workers hands a
        # burst to whichever process wakes first).
        before = {pid: _accepted(pid, port) for pid in workers}
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(40)]
        for connection in connections:
            connection.connect()
        for connection in connections:
            connection.request("GET", "/healthz")
        for connection in connections:
            connection.getresponse().read()
        gained = {pid: _accepted(pid, port) - before[pid] for pid in workers}
        assert sum(gained.values()) >= 40 and min(gained.values()) >= 5, gained
        for connection in connections:
            connection.close()

        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        replaced = _wait(lambda: (c := _children(parent.pid)) and len(c) == 2 and victim not in c and c)
        assert len(replaced & workers) == 1  # the other worker kept running
        _wait(lambda: health_answers(port))

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in replaced)
        assert not health_answers(port)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_workers_of_a_killed_parent_shut_down(tmp_path):
    parent, port = _serve_two_workers(tmp_path)
    try:
        workers = _running_workers(parent, port)
    finally:
        parent.kill()
        parent.wait()
    _wait(
        lambda: not any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in workers), seconds=30
    )


def _state(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
