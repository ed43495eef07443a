"""Start one Celery worker per queue, each its own process with its own concurrency.

    python -m rlhf_platform.workers                      # every queue
    python -m rlhf_platform.workers --queues quality,rewards --concurrency webhooks=8

A long quality step then holds only the quality worker: webhooks, rewards, ingest and payouts
are served by their own processes. The queues and the routing of tasks to them are in
rlhf_platform/celery_app.py. Concurrency per queue comes from ``--concurrency`` or the
WORKER_CONCURRENCY variable (``queue=n,...``); a worker of one runs the ``solo`` pool (no child
process), the webhooks worker a thread pool (its tasks wait on the network), the others prefork.

The launcher stays in the foreground: SIGTERM or SIGINT stops every worker (each finishes its
task; Celery's warm shutdown), and when one worker exits the others are stopped too and the
launcher exits with its status, so that a process supervisor restarts the whole set.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from rlhf_platform.celery_app import QUEUES

DEFAULT_CONCURRENCY = {
    "quality": 1,  # the drain is one consumer by design: more would fight over the same labels
    "rewards": 1,
    "webhooks": 4,  # waits on lab endpoints (up to 10 s each)
    "ingest": 1,
    "payouts": 1,
    "default": 1,
}
THREAD_POOL = {"webhooks"}


def parse_concurrency(text: str) -> dict[str, int]:
    """``"webhooks=8,quality=1"`` -> {"webhooks": 8, "quality": 1}."""
    result: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in QUEUES:
            raise ValueError(f"unknown queue {name!r}; the queues are {', '.join(QUEUES)}")
        if not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"the concurrency of {name} is a whole number from 1: {part!r}")
        result[name] = int(value)
    return result


def worker_commands(
    queues: list[str], concurrency: dict[str, int], *, loglevel: str = "INFO"
) -> list[list[str]]:
    """The command line of each queue's worker."""
    commands = []
    for queue in queues:
        count = concurrency.get(queue, DEFAULT_CONCURRENCY[queue])
        pool = "solo" if count == 1 else "threads" if queue in THREAD_POOL else "prefork"
        commands.append(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "rlhf_platform",
                "worker",
                "--queues",
                queue,
                "--hostname",
                f"{queue}@%h",
                "--pool",
                pool,
                "--concurrency",
                str(count),
                f"--loglevel={loglevel}",
            ]
        )
    return commands


def run(commands: list[list[str]]) -> int:
    children = [subprocess.Popen(command) for command in commands]  # noqa: S603 (our own argv)
    stopping = False

    def stop(signum=None, frame=None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        while True:
            exited = [child for child in children if child.poll() is not None]
            if exited and not stopping:
                status = exited[0].returncode or 1  # a worker must not end on its own
                stop()
            if len(exited) == len(children):
                return status
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queues", default=",".join(QUEUES), help="comma-separated; default all")
    parser.add_argument(
        "--concurrency",
        default=os.environ.get("WORKER_CONCURRENCY", ""),
        help="queue=n,... (default WORKER_CONCURRENCY, else "
        + ", ".join(f"{q}={n}" for q, n in DEFAULT_CONCURRENCY.items())
        + ")",
    )
    parser.add_argument("--loglevel", default="INFO")
    parser.add_argument("--print", action="store_true", help="print the commands, start nothing")
    args = parser.parse_args(argv)
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    try:
        if unknown:
            raise ValueError(f"unknown queue(s) {unknown}; the queues are {', '.join(QUEUES)}")
        concurrency = parse_concurrency(args.concurrency)
    except ValueError as exc:
        parser.error(str(exc))
    commands = worker_commands(queues, concurrency, loglevel=args.loglevel)
    if args.print:
        for command in commands:
            print(" ".join(command))
        return 0
    return run(commands)


if __name__ == "__main__":
    sys.exit(main())
