"""Quality at scale: a full recompute of a project of 1,000,000 labels, and one per-submit update.

Sets up (once; reused by later runs) a pairwise project with ``--labels`` ordinary labels over
``labels / 3`` items (overlap 3) from ``--annotators`` simulated annotators, plus gold items and
their labels, written with PostgreSQL ``COPY`` (items, slots, assignments, labels). Items are
left as a running project leaves them: final, except ``--open-items`` labelled ones awaiting a
decision. Then, in a fresh process (so that its peak memory is the recompute's own), runs
``project_quality_recompute`` (Dawid-Skene fit, gold grades, every item's consensus, decisions,
annotator rows), and finally one label's after-submit step, with its query count.

Prints ``labels=``, ``recompute_seconds=``, ``peak_memory_mb=``, ``per_submit_update_ms=``,
``per_submit_queries=``.

    .venv/bin/python -m bench.quality [--labels 1000000] [--rebuild]

Database: ``DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/rlhf_bench_quality``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import time
import uuid

NAME = "bench-quality"
CHOICES = ("A", "B", "tie", "both_bad")


def _copy(cursor, table: str, columns: list[str], rows) -> None:
    """COPY rows (tuples of text-ready values) in chunks of 100,000."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    buf = io.StringIO()
    count = 0

    def flush():
        buf.seek(0)
        with cursor.copy(sql) as copy:
            while chunk := buf.read(1 << 20):
                copy.write(chunk)
        buf.seek(0)
        buf.truncate()

    for row in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
        count += 1
        if count % 100_000 == 0:
            flush()
    flush()


def setup(*, labels: int, annotators: int, open_items: int, seed: int) -> str:
    from django.db import connection
    from django.utils import timezone

    rng = random.Random(seed)
    from bench._harness import bench_project

    project, batch, experts = bench_project(name=NAME, annotators=annotators, email_prefix="q")
    accuracy = {e: rng.choice((0.9, 0.9, 0.7, 0.25)) for e in experts}
    n_items = labels // 3
    n_gold = max(50, labels // 2000)
    now = timezone.now().isoformat()
    responses = json.dumps([{"id": "r0", "model": "m", "text": "a"}, {"id": "r1", "model": "m", "text": "b"}])
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('annotate_item', 'id'))")
        first_item = cursor.fetchone()[0] + 1
        truth = [rng.choices(CHOICES, weights=(45, 45, 7, 3))[0] for _ in range(n_items + n_gold)]

        def items():
            for i in range(n_items + n_gold):
                gold = json.dumps({"choice": truth[i]}) if i >= n_items else None
                state = "labelled" if i < open_items else ("open" if gold else "final")
                yield (
                    first_item + i,
                    uuid.uuid4(),
                    project.pk,
                    batch.pk,
                    f"q{i}",
                    '"?"',
                    responses,
                    "{}",
                    "t" if gold else "f",
                    gold,
                    state,
                    0,
                    now,
                    None if gold or i < open_items else now,
                )

        _copy(
            cursor,
            "annotate_item",
            "id uid project_id batch_id external_id prompt responses metadata is_gold gold state priority "
            "created_at finalized_at".split(),
            items(),
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('annotate_item', 'id'), %s)",
            [first_item + n_items + n_gold],
        )
        cursor.execute("SELECT nextval(pg_get_serial_sequence('annotate_slot', 'id'))")
        first_slot = cursor.fetchone()[0] + 1
        _copy(
            cursor,
            "annotate_slot",
            "id item_id project_id idx state priority".split(),
            (
                (first_slot + 3 * i + k, first_item + i, project.pk, k, "filled", 0)
                for i in range(n_items)
                for k in range(3)
            ),
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('annotate_slot', 'id'), %s)", [first_slot + 3 * n_items]
        )
        rows = []
        for i in range(n_items):
            for k, expert in enumerate(rng.sample(experts, 3)):
                rows.append((first_item + i, first_slot + 3 * i + k, expert, False))
        for g in range(n_gold):
            for expert in rng.sample(experts, min(len(experts), 10)):
                rows.append((first_item + n_items + g, None, expert, True))

        def answer(item_id, expert):
            right = truth[item_id - first_item]
            if rng.random() < accuracy[expert]:
                return right
            return rng.choice([c for c in CHOICES if c != right])

        assignments = [uuid.uuid4() for _ in rows]
        _copy(
            cursor,
            "annotate_assignment",
            "id project_id item_id expert_id slot_id is_gold shown_order status leased_at expires_at "
            "submitted_at closed_reason".split(),
            (
                (
                    a,
                    project.pk,
                    item,
                    expert,
                    slot,
                    "t" if gold else "f",
                    "[0, 1]",
                    "submitted",
                    now,
                    now,
                    now,
                    "",
                )
                for a, (item, slot, expert, gold) in zip(assignments, rows, strict=True)
            ),
        )

        def label_rows():
            for n, (a, (item, _slot, expert, gold)) in enumerate(zip(assignments, rows, strict=True)):
                choice = answer(item, expert)
                yield (
                    uuid.uuid4(),
                    a,
                    project.pk,
                    item,
                    expert,
                    f"b{n}",
                    "t" if gold else "f",
                    choice,
                    2 if choice in ("A", "B") else None,
                    None,
                    "{}",
                    "",
                    30.0,
                    60.0,
                    1,
                    "f",
                    None,
                    now,  # processed by the after-submit step, as in a running project
                    now,
                    "",  # loo_choice: not computed
                )

        _copy(
            cursor,
            "annotate_label",
            "id assignment_id project_id item_id expert_id client_id is_gold choice strength ranking "
            "criteria rationale active_seconds lease_seconds schema_version excluded_from_consensus "
            "gold_passed quality_at created_at loo_choice".split(),
            label_rows(),
        )
        cursor.execute("ANALYZE annotate_item, annotate_slot, annotate_assignment, annotate_label")
    print(f"setup_seconds={time.perf_counter() - started:.1f}", flush=True)
    return str(project.pk)


def recompute(project_id: str) -> None:
    """Run in a child process: the recompute alone, with its own peak memory."""
    from annotate.quality.services import project_quality_recompute
    from bench._harness import peak_rss_mb

    started = time.perf_counter()
    report = project_quality_recompute(project_id=project_id, refit=True)
    seconds = time.perf_counter() - started
    print(f"recompute_seconds={seconds:.1f}")
    print(f"peak_memory_mb={peak_rss_mb(os.getpid()):.0f}")
    print(f"recompute_report={json.dumps(report, sort_keys=True)}")


def per_submit(project_id: str) -> None:
    """One new label on an item with two labels already: its after-submit step, timed, with its
    queries counted (a constant number, whatever the project's size)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotate.models import Assignment, Item, Label, Project, Slot
    from annotate.quality.services import label_quality_process

    project = Project.objects.get(pk=project_id)
    labels = Label.objects.filter(project=project, is_gold=False)
    experts = list(labels.values_list("expert_id", flat=True).distinct()[:3])
    batch_id = Item.objects.filter(project=project).values_list("batch_id", flat=True).first()
    timings, queries = [], []
    for run in range(5):
        item = Item.objects.create(
            project=project,
            batch_id=batch_id,
            external_id=f"submit-{uuid.uuid4().hex}",
            prompt="?",
            responses=[{"id": "r0", "text": "a"}, {"id": "r1", "text": "b"}],
            state="labelled",
        )
        slots = Slot.objects.bulk_create(
            Slot(item=item, project=project, idx=k, state="filled") for k in range(3)
        )
        made = []
        for k, expert in enumerate(experts):
            assignment = Assignment.objects.create(
                project=project,
                item=item,
                expert_id=expert,
                slot=slots[k],
                shown_order=[0, 1],
                status="submitted",
                expires_at=item.created_at,
            )
            made.append(
                Label.objects.create(
                    assignment=assignment,
                    project=project,
                    item=item,
                    expert_id=expert,
                    client_id=f"ps-{uuid.uuid4().hex}",
                    choice="A",
                    strength=2,
                    lease_seconds=10,
                    schema_version=1,
                )
            )
        for label in made[:2]:
            label_quality_process(label_id=label.pk)
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            label_quality_process(label_id=made[2].pk)
            timings.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured.captured_queries))
        del run
    timings.sort()
    print(f"per_submit_update_ms={timings[len(timings) // 2]:.1f}")
    print(f"per_submit_queries={queries[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=400)
    parser.add_argument("--open-items", type=int, default=1000)
    parser.add_argument("--rebuild", action="store_true", help="Set up a new project even if one exists.")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--recompute-only", help=argparse.SUPPRESS)
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rlhf_bench_quality")
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex)
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    from bench._harness import setup_django

    if args.recompute_only:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rlhf_platform.settings")
        django.setup()
        recompute(args.recompute_only)
        return
    setup_django()
    from annotate.models import Label, Project

    project = None
    if not args.rebuild:
        for candidate in Project.objects.filter(name=NAME).order_by("-created_at"):
            if Label.objects.filter(project=candidate).count() >= args.labels:
                project = candidate
                break
    project_id = (
        str(project.pk)
        if project
        else setup(labels=args.labels, annotators=args.annotators, open_items=args.open_items, seed=args.seed)
    )
    print(f"labels={Label.objects.filter(project_id=project_id).count()}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "bench.quality", "--recompute-only", project_id],
        check=True,
        env=dict(os.environ),
    )
    per_submit(project_id)


if __name__ == "__main__":
    main()
