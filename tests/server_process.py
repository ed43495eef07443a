"""A real server process (``python -m rlhf_platform.serve``) for the tests that need the whole
HTTP stack: uvicorn, the request guard, the fast path and Django, as deployed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from rlhf_platform.serve import reuseport_socket

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    sock = reuseport_socket("127.0.0.1", 0, listen=False)
    port = sock.getsockname()[1]
    sock.close()
    return port


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == pid and b"resource_tracker" not in cmdline:
                found.add(int(entry.name))
    return found


def wait_for(predicate, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("timed out")


def health_answers(port: int) -> bool:
    """/healthz answered (ok or not ok: both mean the process serves)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:  # noqa: S310
            return response.status in (200, 503)
    except urllib.error.HTTPError as exc:
        return exc.code in (200, 503)
    except OSError:
        return False


class Server:
    """``rlhf_platform.serve`` on a free port with the given workers and environment."""

    def __init__(self, tmp_path: Path, *, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        environment = dict(os.environ, DATA_DIR=str(tmp_path), LOG_LEVEL="WARNING", **env)
        environment.pop("DATABASE_URL", None), environment.pop("REDIS_URL", None)
        command = [sys.executable, "-m", "rlhf_platform.serve", "--port", str(self.port)]
        command += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=environment)
        self.workers = wait_for(
            lambda: len(children(self.process.pid)) == workers and children(self.process.pid)
        )
        wait_for(lambda: health_answers(self.port))

    def connect(self, timeout: float = 30.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """(status, everything the server sent until it closed or stopped sending)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if body and b"content-length" in head.lower():
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(body) >= length:
                break
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data
