"""The quality drain: the after-submit step of many waiting labels, as the quality worker runs it.

Sets up a pairwise project on PostgreSQL with a fitted Dawid-Skene model (annotators right 80 to
95% of the time, their gold records good) and ``--labels`` ordinary labels waiting for their
step on items with overlap 3, as a busy queue leaves them: the labels of one item are
``--spread`` labels apart in submit order, so a page of the drain holds items getting their
first, second and third label; most items have all three (and become final or get a slot more
when split), some have one or two with their other slots still open. Then runs
``labels_quality_drain`` (pages of 200) over them, timed and with its queries counted.

With ``--gold-share`` that share of the waiting labels are gold labels (each on a gold item
of its own, right as often as its annotator is on ordinary items), spread evenly through the
submit order, as the queue's gold rate mixes them in. With ``--webhooks N`` the lab has N
active endpoints subscribed to every event, so each item that becomes final records its
deliveries.

Tasks the step queues (the rewards drain, webhook deliveries) go to an in-memory broker and
are not run: in a deployment other workers run them.

Prints ``labels=``, ``items=``, ``final_items=``, ``drain_seconds=``, ``drain_labels_per_s=``,
``drain_ms_per_label=`` (wall clock), ``drain_cpu_ms_per_label=`` (this process's CPU: PostgreSQL's
work for it is not counted) and ``drain_queries_per_label=``.

    .venv/bin/python -m bench.quality_drain [--labels 3000] [--spread 300] [--gold-share 0.1]
        [--webhooks 1] [--profile FILE]

Database: ``DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/rlhf_bench_quality_drain``).
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid
from datetime import timedelta

NAME = "bench-quality-drain"
CHOICES = ("A", "B", "tie", "both_bad")


def setup(
    *, labels: int, annotators: int, spread: int, seed: int, gold_share: float = 0.0, webhooks: int = 0
) -> str:
    """The project, its model, and the waiting labels (see the module). Returns the project id."""
    import numpy as np
    from django.utils import timezone

    from annotate.models import (
        AnnotatorQuality,
        Assignment,
        Item,
        Label,
        ProjectQualityModel,
        Slot,
    )
    from annotate.quality.aggregation import DawidSkeneModel

    rng = random.Random(seed)
    from bench._harness import bench_project
    from rlhf_platform.webhooks.models import EVENTS, WebhookEndpoint

    project, batch, experts = bench_project(name=NAME, annotators=annotators, email_prefix="d")
    for n in range(webhooks):
        WebhookEndpoint.objects.create(
            lab=project.lab, url=f"http://127.0.0.1:9/hook-{n}", events=list(EVENTS), secret="whsec_bench"
        )
    golds = round(labels * gold_share)
    labels -= golds
    tag = uuid.uuid4().hex[:6]
    accuracy = {e: rng.choice((0.95, 0.9, 0.9, 0.8)) for e in experts}

    def confusion(p: float):
        wrong = (1 - p) / 3
        return np.full((4, 4), wrong) + np.eye(4) * (p - wrong)

    model = DawidSkeneModel(
        classes=CHOICES,
        priors=np.array([0.45, 0.45, 0.07, 0.03]),
        confusion={str(e): confusion(p) for e, p in accuracy.items()},
        default_confusion=confusion(0.85),
    )
    ProjectQualityModel.objects.create(project=project, parameters=model.to_json(), label_count=10_000)
    AnnotatorQuality.objects.bulk_create(
        AnnotatorQuality(project=project, expert_id=e, labels=40, gold_passed=18, gold_failed=2)
        for e in experts
    )

    # How many labels each item has: mostly 3, some 1 or 2 (their other slots still open).
    counts = []
    while sum(counts) < labels:
        counts.append(min(rng.choices((3, 2, 1), weights=(80, 12, 8))[0], labels - sum(counts)))
    responses = [{"id": "r0", "model": "m", "text": "a"}, {"id": "r1", "model": "m", "text": "b"}]
    items = Item.objects.bulk_create(
        Item(
            project=project,
            batch=batch,
            external_id=f"d{i}",
            prompt="?",
            responses=responses,
            state=Item.State.LABELLED if count == 3 else Item.State.OPEN,
        )
        for i, count in enumerate(counts)
    )
    slots = Slot.objects.bulk_create(
        Slot(
            item=item,
            project=project,
            idx=k,
            state=Slot.State.FILLED if k < count else Slot.State.OPEN,
        )
        for item, count in zip(items, counts, strict=True)
        for k in range(3)
    )
    # Submit order: label k of item i at position i + k * spread.
    order = sorted(
        ((i + k * spread, i, k) for i, count in enumerate(counts) for k in range(count)), key=lambda r: r[0]
    )
    truth = [rng.choices(CHOICES, weights=(45, 45, 7, 3))[0] for _ in counts]
    who = [rng.sample(experts, 3) for _ in counts]
    start = timezone.now() - timedelta(seconds=len(order))
    assignments, label_rows = [], []

    def submitted(item, expert, *, at, right: str, client_id: str, slot=None, is_gold: bool = False) -> None:
        """The submitted assignment of ``expert`` on ``item`` and its label, added to the rows to
        create: the label is ``right`` as often as the annotator is accurate."""
        assignment = Assignment(
            project=project,
            item=item,
            expert_id=expert,
            slot=slot,
            is_gold=is_gold,
            shown_order=rng.choice(([0, 1], [1, 0])),
            status=Assignment.Status.SUBMITTED,
            leased_at=at,
            expires_at=at + timedelta(minutes=10),
            submitted_at=at,
        )
        assignments.append(assignment)
        choice = right if rng.random() < accuracy[expert] else rng.choice([c for c in CHOICES if c != right])
        label_rows.append(
            Label(
                assignment=assignment,
                project=project,
                item=item,
                expert_id=expert,
                is_gold=is_gold,
                client_id=client_id,
                choice=choice,
                strength=2 if choice in ("A", "B") else None,
                active_seconds=rng.uniform(10, 60),
                lease_seconds=60.0,
                schema_version=1,
                created_at=at,
            )
        )

    for position, (_at, i, k) in enumerate(order):
        submitted(
            items[i],
            who[i][k],
            at=start + timedelta(milliseconds=position),
            right=truth[i],
            client_id=f"d{position}-{tag}",
            slot=slots[3 * i + k],
        )
    # Gold label j comes after ordinary label (j + 1) / gold_share - j - 1: evenly spread.
    gold_items = Item.objects.bulk_create(
        Item(
            project=project,
            batch=batch,
            external_id=f"g{j}",
            prompt="?",
            responses=responses,
            is_gold=True,
            gold={"choice": rng.choice(("A", "B"))},
        )
        for j in range(golds)
    )
    for j, item in enumerate(gold_items):
        expert = rng.choice(experts)
        after = min(len(label_rows), round((j + 1) / gold_share) - j - 1) if gold_share else len(label_rows)
        at = label_rows[after - 1].created_at + timedelta(microseconds=500) if after else start
        submitted(item, expert, at=at, right=item.gold["choice"], client_id=f"g{j}-{tag}", is_gold=True)
    Assignment.objects.bulk_create(assignments, batch_size=2000)
    Label.objects.bulk_create(label_rows, batch_size=2000)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE annotate_item, annotate_slot, annotate_assignment, annotate_label")
    return str(project.pk)


def drain(project_id: str, *, profile: str | None) -> None:
    from django.db import connection

    from annotate.models import Item, Label
    from annotate.quality.services import labels_quality_drain

    waiting = Label.objects.filter(quality_at__isnull=True).count()
    mine = Label.objects.filter(project_id=project_id, quality_at__isnull=True).count()
    if waiting != mine:
        raise SystemExit(f"{waiting - mine} labels of other projects are waiting: use a database of its own")
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    queries = 0

    def counted(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counted):
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        done = labels_quality_drain(limit=waiting)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    if profiler:
        profiler.dump_stats(profile)
    items = Item.objects.filter(project_id=project_id, is_gold=False)
    print(f"labels={done}")
    print(f"items={items.count()}")
    print(f"final_items={items.filter(state=Item.State.FINAL).count()}")
    print(f"gold_labels={Label.objects.filter(project_id=project_id, is_gold=True).count()}")
    print(f"drain_seconds={seconds:.2f}")
    print(f"drain_labels_per_s={done / seconds:.0f}")
    print(f"drain_ms_per_label={seconds * 1000 / max(done, 1):.2f}")
    print(f"drain_cpu_ms_per_label={cpu * 1000 / max(done, 1):.2f}")
    print(f"drain_queries_per_label={queries / max(done, 1):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=3000)
    parser.add_argument("--annotators", type=int, default=60)
    parser.add_argument(
        "--spread", type=int, default=300, help="Submits between two labels of one item (default 300)."
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--gold-share", type=float, default=0.0, help="Share of the labels that are gold (default 0)."
    )
    parser.add_argument(
        "--webhooks", type=int, default=0, help="Endpoints of the lab subscribed to every event (default 0)."
    )
    parser.add_argument("--profile", help="Write a cProfile of the drain to this file.")
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rlhf_bench_quality_drain")
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex)
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    from bench._harness import setup_django

    setup_django()
    # Queue the step's tasks (in memory) instead of running them here: the rewards drain and the
    # webhook deliveries are other workers' work.
    from rlhf_platform.celery_app import app

    app.conf.task_always_eager = False
    if not 0 <= args.gold_share < 1:
        parser.error("--gold-share is at least 0 and below 1")
    project_id = setup(
        labels=args.labels,
        annotators=args.annotators,
        spread=args.spread,
        seed=args.seed,
        gold_share=args.gold_share,
        webhooks=args.webhooks,
    )
    drain(project_id, profile=args.profile)


if __name__ == "__main__":
    main()
