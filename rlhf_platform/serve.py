"""Serve the platform with several uvicorn processes that share the load evenly.

    python -m rlhf_platform.serve --host 0.0.0.0 --port 8000 --workers 2

Why not ``uvicorn --workers N``: its processes share one listening socket, and asyncio accepts
every waiting connection in one go, so whichever process wakes first takes a whole burst of
them. Keep-alive clients (a proxy's upstream pool, the queue benchmark's 16 experts) then stay
on that one process: measured here, one worker served almost every request at about half a
core while the other idled, and threads of the busy one queued for its GIL. Here each worker
binds its own socket with ``SO_REUSEPORT`` and the kernel spreads new connections across them.

The parent only supervises, with one worker as with several: a worker that dies (a crash, a
kill, memory) is started again (at most once a second), and SIGINT/SIGTERM stop them all. Where
``SO_REUSEPORT`` does not exist it falls back to uvicorn's own multi-process mode, which also
replaces dead workers.

Each connection must send a request's whole head within ``REQUEST_HEADER_TIMEOUT_SECONDS``, or
it is closed (a client that trickles its headers holds a connection for nothing); the body's
limits are the request guard's (:mod:`rlhf_platform.core.request_guard`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

APP = "rlhf_platform.asgi:application"
logger = logging.getLogger("uvicorn.error")

__all__ = ["HeaderTimeoutProtocol", "main", "reuseport_socket"]


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's head: from the connection's
    start for the first request, from its first byte for the next ones on a kept-alive
    connection (uvicorn's own keep-alive timeout covers the wait between requests)."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_deadline()

    def on_headers_complete(self) -> None:
        self._head_received()
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        self._head_received()
        super().connection_lost(exc)

    def _head_deadline(self) -> None:
        if self._head_timer is None:
            from django.conf import settings

            self._head_timer = self.loop.call_later(settings.REQUEST_HEADER_TIMEOUT_SECONDS, self._head_late)

    def _head_received(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def reuseport_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket bound to the address, which other processes may bind too; listening unless
    told otherwise (the kernel hands connections only to listening sockets)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(host: str, port: int, options: dict) -> None:
    config = uvicorn.Config(APP, **options)
    server = uvicorn.Server(config)
    threading.Thread(target=_exit_with_parent, args=(server, os.getppid()), daemon=True).start()
    server.run(sockets=[reuseport_socket(host, port)])


def _exit_with_parent(server: uvicorn.Server, parent: int) -> None:
    # A parent killed outright (SIGKILL, OOM) cannot stop its workers: they notice that they
    # were handed to another parent and shut down gracefully rather than serve on as orphans.
    while os.getppid() == parent:
        time.sleep(1.0)
    server.should_exit = True


def _supervise(host: str, port: int, workers: int, options: dict) -> int:
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> multiprocessing.Process:
        process = context.Process(target=_worker, args=(host, port, options), daemon=False)
        process.start()
        return process

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # The parent binds the address too (without listening, so no connection lands on it): a
    # port another program holds fails here at once, and a restarting worker never finds the
    # address released. (Processes that also set SO_REUSEPORT, under the same user, may join.)
    guard = reuseport_socket(host, port, listen=False)
    processes = [start() for _ in range(workers)]
    logger.info("Serving on http://%s:%d with %d processes (SO_REUSEPORT)", host, port, workers)
    last_restart = 0.0
    while not stopping:
        time.sleep(0.2)
        for index, process in enumerate(processes):
            if not process.is_alive() and not stopping:
                wait = 1.0 - (time.monotonic() - last_restart)
                if wait > 0:
                    time.sleep(wait)
                logger.warning("Worker %s exited with %s; starting another", process.pid, process.exitcode)
                processes[index] = start()
                last_restart = time.monotonic()
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=15)
        if process.is_alive():
            process.kill()
    guard.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args(argv)
    options = {
        "log_level": args.log_level,
        "access_log": not args.no_access_log,
        "http": HeaderTimeoutProtocol,
    }
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    workers = max(1, args.workers)
    if not hasattr(socket, "SO_REUSEPORT"):
        # uvicorn supervises (and replaces dead workers) only in its multi-process mode.
        uvicorn.run(APP, host=args.host, port=args.port, workers=max(2, workers), **options)
        return 0
    return _supervise(args.host, args.port, workers, options)


if __name__ == "__main__":
    sys.exit(main())
