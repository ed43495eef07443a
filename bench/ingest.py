"""Ingest throughput through the real HTTP API.

    python bench/ingest.py [--base-url URL] [--items N] [--bad-last-line | --validate-only]

Sets up its own lab, API key and project (in the database named by DATABASE_URL, PostgreSQL
``rlhf_bench`` by default), uploads N synthetic items (prompt ~200 bytes, two responses ~800
bytes each) as one JSON Lines batch, streamed, and waits until the batch is ingested. Without
``--base-url`` it starts uvicorn (and a Celery worker when REDIS_URL is set) itself and reports
their peak memory. Prints name=value lines. ``--bad-last-line`` appends an item whose response
is one character over the 200,000 limit and measures how soon the upload is refused with it.
``--validate-only`` times the validation alone (what an upload does while the body arrives), in
this process, with no server and no database writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds queue.py, which would shadow the standard library's ``queue`` when a
# script here runs: put the repository root first instead of this folder.
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.path.insert(0, str(_here.parent))

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import string  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402

from bench._harness import peak_rss_mb, rss_mb, services, setup_django  # noqa: E402


def text(rng: random.Random, size: int) -> str:
    words = []
    length = 0
    while length < size:
        word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9)))
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def make_items(n: int, seed: int = 7):
    rng = random.Random(seed)
    # A pool of texts reused with a varying id keeps generation off the measured path's CPU.
    prompts = [text(rng, 200) for _ in range(64)]
    answers = [text(rng, 800) for _ in range(128)]
    run = uuid.uuid4().hex[:8]
    for i in range(n):
        yield (
            json.dumps(
                {
                    "external_id": f"bench-{run}-{i}",
                    "prompt": prompts[i % 64],
                    "responses": [
                        {"id": "a", "model": "model-x", "text": answers[i % 128]},
                        {"id": "b", "model": "model-y", "text": answers[(i * 7 + 3) % 128]},
                    ],
                    "metadata": {"source": "bench", "i": i},
                }
            ).encode()
            + b"\n"
        )


def validate_only(items: int) -> None:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rlhf_platform.settings")
    import django

    django.setup()
    from annotate.ingest.records import ndjson_lines
    from annotate.ingest.validate import ItemValidator
    from annotate.schema import DEFAULT_SCHEMA

    body = b"".join(make_items(items))
    chunks = [body[i : i + (4 << 20)] for i in range(0, len(body), 4 << 20)]
    validator = ItemValidator(schema=DEFAULT_SCHEMA)
    started = time.perf_counter()
    errors = sum(bool(validator.check_bytes(line, raw)[1]) for line, raw in ndjson_lines(chunks))
    print(f"validate_body_mb={len(body) / 1e6:.1f}")
    print(f"validate_errors={errors}")
    print(f"validate_seconds={time.perf_counter() - started:.2f}")


def setup_project() -> tuple[str, str]:
    from rlhf_platform.accounts.models import User
    from rlhf_platform.accounts.services import api_key_create, lab_create
    from rlhf_platform.experts.models import Domain

    suffix = uuid.uuid4().hex[:8]
    owner = User.objects.create_user(email=f"bench-{suffix}@bench.local", password=None)
    lab = lab_create(name=f"Bench {suffix}", slug=f"bench-{suffix}", owner=owner)
    _, key = api_key_create(lab=lab, name="bench", scopes=["read", "write"], actor=owner)
    domain, _ = Domain.objects.get_or_create(path="bench", defaults={"slug": "bench", "name": "Bench"})
    from annotate.schema import DEFAULT_SCHEMA
    from annotate.services import project_create

    project = project_create(
        lab=lab, name="bench", domain=domain, label_schema=DEFAULT_SCHEMA, status="active"
    )
    return key, str(project.pk)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--bad-last-line", action="store_true")
    parser.add_argument("--validate-only", action="store_true")
    args = parser.parse_args()
    if args.validate_only:
        validate_only(args.items)
        return

    setup_django()
    key, project_id = setup_project()
    body = b"".join(make_items(args.items))  # built before the clock starts
    if args.bad_last_line:
        bad = {"external_id": "bad", "prompt": "p", "responses": [{"id": "a", "text": "x" * 200_001}]}
        bad["responses"].append({"id": "b", "text": "y"})
        body += json.dumps(bad).encode() + b"\n"

    with services(args.base_url, queues=("ingest",)) as (base_url, server_pid, worker_pids):
        worker_pid = worker_pids.get("ingest")
        host = base_url.split("://", 1)[1]
        idle_rss = rss_mb(server_pid) if server_pid else None
        conn = http.client.HTTPConnection(host, timeout=600)
        started = time.perf_counter()
        conn.putrequest("POST", f"/api/v1/projects/{project_id}/batches")
        conn.putheader("Authorization", f"Bearer {key}")
        conn.putheader("Content-Type", "application/x-ndjson")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        view = memoryview(body)
        for offset in range(0, len(body), 1 << 20):
            conn.send(view[offset : offset + (1 << 20)])
        response = conn.getresponse()
        payload = json.loads(response.read())
        upload_seconds = time.perf_counter() - started
        if args.bad_last_line:
            if response.status != 400:
                raise SystemExit(f"the bad line was not refused: {response.status}")
            error = payload["errors"][0]
            print(f"ingest_body_mb={len(body) / 1e6:.1f}")
            print(f"ingest_refused_status={response.status}")
            print(f"ingest_refused_line={error['line']} field={error['field']} code={error['code']}")
            print(f"ingest_refused_seconds={upload_seconds:.2f}")
            return
        if response.status not in (201, 202):
            raise SystemExit(f"upload failed: {response.status} {payload}")
        batch = payload
        while batch["status"] in ("queued", "ingesting"):
            time.sleep(0.05)
            request = urllib.request.Request(
                f"{base_url}/api/v1/batches/{payload['id']}", headers={"Authorization": f"Bearer {key}"}
            )
            batch = json.loads(urllib.request.urlopen(request, timeout=60).read())  # noqa: S310
        elapsed = time.perf_counter() - started
        if batch["status"] != "ingested" or batch["items_created"] != args.items:
            raise SystemExit(f"ingest failed: {batch['status']} {batch.get('errors', [])[:3]}")

        print(f"ingest_items={args.items}")
        print(f"ingest_body_mb={len(body) / 1e6:.1f}")
        print(f"ingest_seconds={elapsed:.2f}")
        print(f"ingest_items_per_s={args.items / elapsed:.0f}")
        print(f"ingest_upload_response_seconds={upload_seconds:.2f}")
        if server_pid:
            print(f"ingest_server_idle_rss_mb={idle_rss:.0f}")
            print(f"ingest_server_peak_rss_mb={peak_rss_mb(server_pid):.0f}")
        if worker_pid:
            print(f"ingest_worker_peak_rss_mb={peak_rss_mb(worker_pid):.0f}")


if __name__ == "__main__":
    main()
