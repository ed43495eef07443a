"""What the benchmarks share: a PostgreSQL database, Django set-up, a uvicorn server (and one
Celery worker per queue when REDIS_URL is set) started as subprocesses, and their peak memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/rlhf_bench"


def setup_django(*, fresh: bool = False) -> None:
    """Point Django at the benchmark database (PostgreSQL unless DATABASE_URL says otherwise)
    and migrate it; ``fresh`` drops and recreates a PostgreSQL database first (its sequences
    then start from 1, which a repeatable run needs)."""
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rlhf_platform.settings")
    sys.path.insert(0, str(ROOT))
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgres"):
        import psycopg

        name = url.rsplit("/", 1)[1]
        admin = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            if fresh:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    """The high-water mark of a process's resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _serving_pid(supervisor: int) -> int:
    """The process that serves: ``rlhf_platform.serve`` supervises its uvicorn workers from a
    parent process, so with one worker its only child (the parent otherwise)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == supervisor and b"resource_tracker" not in cmdline:
            children.append(int(entry.name))
    return children[0] if len(children) == 1 else supervisor


def worker_nice(text: str) -> dict[str, int]:
    """``"10,quality=0"`` -> {"": 10, "quality": 0}: the workers' nice level, and a queue's own."""
    levels = {"": 10}
    for part in filter(None, (p.strip() for p in text.split(","))):
        queue, _, level = part.rpartition("=")
        levels[queue.strip()] = int(level)
    return levels


def workers_wait(hostnames: list[str], *, deadline: float) -> None:
    """Wait until every Celery worker named answers a ping. A deployment starts its workers
    before the load arrives: a benchmark that offered load at once would time six workers'
    start-up (Django and Celery imports, a few CPU seconds each, slower at nice 10 under load)
    as quality, reward and webhook lag."""
    from rlhf_platform.celery_app import app

    waiting = set(hostnames)
    while waiting:
        for reply in app.control.ping(timeout=1.0):
            waiting -= set(reply)
        if waiting and time.monotonic() > deadline:
            raise TimeoutError(f"Celery workers not ready: {sorted(waiting)}")


@contextmanager
def services(base_url: str | None, *, workers: int = 1, queues: tuple[str, ...] | None = None):
    """Yield (base_url, the serving process's pid or None, {queue: its Celery worker's pid}).

    With REDIS_URL set, one worker per queue of ``queues`` (default: every queue), started as
    ``make worker`` starts them (rlhf_platform/workers.py)."""
    if base_url:
        yield base_url.rstrip("/"), None, {}
        return
    port = free_port()
    # Production settings (DEBUG off: no query log, no browsable API), as a deployment runs.
    env = dict(
        os.environ,
        DEBUG=os.environ.get("DEBUG", "0"),
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-" + os.urandom(16).hex()),
        ALLOWED_HOSTS=os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost"),
        LOG_LEVEL="WARNING",
    )
    procs = []
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rlhf_platform.serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    procs.append(server)
    worker_pids: dict[str, int] = {}
    if os.environ.get("REDIS_URL"):
        from rlhf_platform.celery_app import QUEUES
        from rlhf_platform.workers import parse_concurrency, worker_commands

        # The workers at a lower CPU priority than the web processes (nice 10, as a deployment
        # sharing cores would run them): an expert waiting for the next item comes before the
        # quality step, whose labels can wait a few seconds. BENCH_WORKER_NICE=0 runs them level;
        # "10,quality=0" sets one queue's apart.
        nice = worker_nice(os.environ.get("BENCH_WORKER_NICE", "10"))
        chosen = list(queues or QUEUES)
        concurrency = parse_concurrency(os.environ.get("WORKER_CONCURRENCY", ""))
        for queue, command in zip(
            chosen, worker_commands(chosen, concurrency, loglevel="WARNING"), strict=True
        ):
            level = nice.get(queue, nice[""])
            worker = subprocess.Popen(
                [*(["nice", "-n", str(level)] if level else []), *command], cwd=ROOT, env=env
            )
            procs.append(worker)
            worker_pids[queue] = worker.pid
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2).read()  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if worker_pids:
            workers_wait([f"{queue}@{socket.gethostname()}" for queue in worker_pids], deadline=deadline + 60)
        yield url, _serving_pid(server.pid), worker_pids
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def bench_project(*, name: str, annotators: int, email_prefix: str):
    """A lab, domain, active pairwise project (k = 3, up to 5), an ingested batch and
    ``annotators`` expert profiles with no credential, for the quality benchmarks. Returns
    ``(project, batch, expert ids)``."""
    import uuid

    from annotate.models import Batch, Project
    from annotate.schema import DEFAULT_SCHEMA, schema_normalize
    from rlhf_platform.accounts.models import Lab, User
    from rlhf_platform.experts.models import Domain, ExpertProfile

    tag = uuid.uuid4().hex[:6]
    lab = Lab.objects.create(name=f"{name} {tag}", slug=f"{name}-{tag}")
    domain = Domain.objects.create(slug=f"{name}-{tag}", name=name, path=f"{name}-{tag}")
    project = Project.objects.create(
        lab=lab,
        name=name,
        domain=domain,
        status=Project.Status.ACTIVE,
        overlap=3,
        max_overlap=5,
        label_schema=schema_normalize(DEFAULT_SCHEMA),
    )
    batch = Batch.objects.create(
        project=project, status="ingested", request_sha256="0" * 64, content_type="x"
    )
    experts = []
    for n in range(annotators):
        user = User.objects.create_user(email=f"{email_prefix}{n}-{tag}@bench.example", password=None)
        experts.append(ExpertProfile.objects.create(user=user).pk)
    return project, batch, experts
