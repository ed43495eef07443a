"""A throwaway PostgreSQL cluster with the server's stock settings, for benchmarks.

    python -m bench.scratch_postgres start [--port 5433] [--dir /tmp/rlhf-bench-pg]
    python -m bench.scratch_postgres stop [--dir /tmp/rlhf-bench-pg]

The pipeline's figures depend on the server's upkeep: a server that runs with ``autovacuum``
off (as a test machine's may, for speed) lets the queue's tables fill with dead rows, and the
claims and the quality step slow down as a run goes on. ``start`` makes a new cluster in
``--dir`` (``initdb``, trust authentication, listening on 127.0.0.1 only) and starts it on
``--port`` with PostgreSQL's defaults, which a production server keeps or raises (autovacuum
on among them), then prints ``database_url=...``; pass that, with a database name, as
``DATABASE_URL`` to ``bench/queue.py``. ``stop`` stops it and removes the directory. Run as
root, the server runs as the ``postgres`` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

DEFAULT_DIR = "/tmp/rlhf-bench-pg"


def _bindir() -> Path:
    """The newest installed server's binaries: ``pg_config --bindir`` names the client's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        sys.exit("pg_ctl not found: install the PostgreSQL server")
    return Path(pg_ctl).parent


def _run(argv: list[str], *, owner: str | None) -> None:
    if owner is not None:
        argv = ["runuser", "-u", owner, "--", *argv]
    subprocess.run(argv, check=True)


def start(directory: Path, port: int) -> None:
    owner = "postgres" if os.geteuid() == 0 else None
    if directory.exists():
        sys.exit(f"{directory} exists: stop the cluster first, or choose another --dir")
    directory.mkdir(parents=True)
    if owner is not None:
        shutil.chown(directory, user=owner)
    bindir = _bindir()
    data = directory / "data"
    _run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], owner=owner)
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory}"
    _run(
        [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-o", options, "-w", "start"],
        owner=owner,
    )
    print(f"database_url=postgres://postgres@127.0.0.1:{port}/")


def stop(directory: Path) -> None:
    owner = "postgres" if os.geteuid() == 0 else None
    data = directory / "data"
    if data.exists():
        _run([str(_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], owner=owner)
    shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", default=DEFAULT_DIR, help="the cluster's directory (removed by stop)")
    parser.add_argument("--port", type=int, default=5433)
    args = parser.parse_args()
    if args.action == "start":
        start(Path(args.dir), args.port)
    else:
        stop(Path(args.dir))


if __name__ == "__main__":
    main()
