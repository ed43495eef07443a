"""A real HTTP receiver on 127.0.0.1 that checks signatures the way a lab's server would."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from rlhf_platform.webhooks.signing import SIGNATURE_HEADER, verify


@dataclass
class Receipt:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    answered: int
    released: bool | None = None

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers the n-th request with ``answers[n]`` (the last answer repeats) and records
    every request, with whether its signature verifies against ``secret``."""

    answers: list[int]
    secret: str = ""
    # When set, each request waits for it before answering (bounded, so nothing hangs).
    hold: threading.Event | None = None
    receipts: list[Receipt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    @property
    def successes(self) -> list[Receipt]:
        return [r for r in self.receipts if 200 <= r.answered < 300]


def handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            released = receiver.hold.wait(timeout=20) if receiver.hold is not None else None
            signature_ok = verify(
                secret=receiver.secret, body=body, header=self.headers.get(SIGNATURE_HEADER, "")
            )
            with receiver.lock:
                answer = receiver.answers[min(len(receiver.receipts), len(receiver.answers) - 1)]
                receiver.receipts.append(
                    Receipt(dict(self.headers.items()), body, signature_ok, answer, released)
                )
            self.send_response(answer)
            if 300 <= answer < 400:
                self.send_header("Location", receiver.url + "elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):  # keep the test output quiet
            pass

    return Handler


def wait_until(predicate: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Poll until ``predicate()`` holds; fail (not hang) if it never does."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
