"""A crowd of simulated annotators with known truth, driving the real services.

Every label goes through the queue (``assignment_next`` then ``assignment_submit``) and the
after-submit quality step (Celery eager: it runs in this process after each commit), with the
periodic Dawid-Skene fit run every ``--refit-every`` labels as the beat would. Pools:

- experts: right with probability 0.9 (strength within one level of the truth);
- noisy: right with probability 0.7;
- position-biased: always pick the response shown first (the assignment's ``shown_order``);
- spammers: a uniformly random choice and strength;
- a colluding pair: each copies the other's answer on items the other labelled, else answers
  at random.

A wrong answer is uniform over the other choices. Prints::

    consensus_accuracy=  our consensus (Dawid-Skene after a final refit) against the truth
    majority_accuracy=   plain majority vote of all labels collected, same items
    spammer_max_golds_to_suspend=  the most gold items any spammer answered before suspension
    honest_suspended_share=        experts and noisy annotators suspended / all of them

Usage::

    .venv/bin/python -m bench.simulate_crowd [--items 1200] [--seed 1] [--gold-threshold ...]

PostgreSQL by default (``DATABASE_URL``, default ``.../rlhf_bench_crowd``); each run makes a
new lab and project.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter, defaultdict

from bench.crowd_adversarial import add_arguments as add_adversarial_arguments
from bench.crowd_setup import CHOICES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1200)
    parser.add_argument("--gold-items", type=int, default=150)
    parser.add_argument("--gold-rate", type=float, default=0.2)
    parser.add_argument("--experts", type=int, default=25)
    parser.add_argument("--noisy", type=int, default=25)
    parser.add_argument("--biased", type=int, default=4)
    parser.add_argument("--spammers", type=int, default=6)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--max-overlap", type=int, default=5)
    parser.add_argument("--gold-threshold", type=float, default=None, help="default: the model's")
    parser.add_argument("--gold-min-seen", type=int, default=None, help="default: the model's")
    parser.add_argument("--refit-every", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    add_adversarial_arguments(parser)
    args = parser.parse_args()
    if args.adversarial and args.repeatable and os.environ.get("PYTHONHASHSEED") != "0":
        # set and dict iteration of text must not vary between runs: run again with a fixed hash seed
        os.execve(
            sys.executable,
            [sys.executable, "-m", "bench.simulate_crowd", *sys.argv[1:]],
            {**os.environ, "PYTHONHASHSEED": "0"},
        )

    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rlhf_bench_crowd")
    os.environ.pop("REDIS_URL", None)  # Celery eager: the quality step runs after each commit
    from bench._harness import setup_django

    setup_django(fresh=args.adversarial and args.repeatable)
    if args.adversarial and args.repeatable:
        from bench.crowd_adversarial import make_repeatable

        make_repeatable(args.seed)

    from django.db import transaction

    from annotate.models import Item, ItemConsensus, Label, ProjectSuspension
    from annotate.quality.aggregation import Vote, majority_vote
    from annotate.quality.services import project_model_fit, project_quality_recompute
    from annotate.queue import NoWork, assignment_next
    from bench.crowd_adversarial import run as run_adversarial
    from bench.crowd_setup import crowd_annotator, crowd_items, crowd_project, crowd_submit

    rng = random.Random(args.seed)
    if args.adversarial:
        for name, value in run_adversarial(args).items():
            print(f"{name}={value}")
        return
    project, domain = crowd_project(args)
    with transaction.atomic():
        truth = crowd_items(
            project, rng=rng, items=args.items, gold_items=args.gold_items, overlap=args.overlap
        )

    pools = (
        [("expert", 0.9)] * args.experts
        + [("noisy", 0.7)] * args.noisy
        + [("biased", None)] * args.biased
        + [("spammer", None)] * args.spammers
        + [("colluder", None)] * 2
    )
    annotators = []
    for n, (kind, accuracy) in enumerate(pools):
        expert = crowd_annotator(domain, f"{kind}{n}")
        annotators.append({"expert": expert, "kind": kind, "accuracy": accuracy, "golds": 0})
    colluders = [a for a in annotators if a["kind"] == "colluder"]
    answers: dict[tuple[int, str], tuple[str, int | None]] = {}

    def answer(annotator, assignment) -> tuple[str, int | None]:
        choice_true, strength_true = truth[assignment.item_id]
        kind = annotator["kind"]
        if kind in ("expert", "noisy"):
            if rng.random() < annotator["accuracy"]:
                choice = choice_true
                strength = None
                if choice in ("A", "B"):
                    strength = min(3, max(1, strength_true + rng.choice((-1, 0, 0, 1))))
                return choice, strength
            choice = rng.choice([c for c in CHOICES if c != choice_true])
        elif kind == "biased":
            choice = "AB"[assignment.shown_order[0]]  # the response shown first, canonically
        elif kind == "colluder":
            partner = next(c for c in colluders if c is not annotator)
            copied = answers.get((assignment.item_id, str(partner["expert"].pk)))
            if copied:
                return copied
            choice = rng.choice(CHOICES)
        else:
            choice = rng.choice(CHOICES)
        return choice, (rng.randint(1, 3) if choice in ("A", "B") else None)

    started = time.perf_counter()
    active = list(annotators)
    labels = 0
    client = 0
    while active:
        annotator = rng.choice(active)
        expert = annotator["expert"]
        assignment = assignment_next(expert=expert, project=project)
        if isinstance(assignment, NoWork):
            active.remove(annotator)
            continue
        choice, strength = answer(annotator, assignment)
        client += 1
        crowd_submit(assignment, expert, choice=choice, strength=strength, client_id=f"s{client}")
        answers[(assignment.item_id, str(expert.pk))] = (choice, strength)
        labels += 1
        if assignment.is_gold:
            annotator["golds"] += 1
        if labels % args.refit_every == 0:
            project_model_fit(project_id=project.pk)
    run_seconds = time.perf_counter() - started

    incremental = dict(ItemConsensus.objects.filter(item__project=project).values_list("item_id", "choice"))
    project_quality_recompute(project_id=project.pk, refit=True)
    consensus = dict(ItemConsensus.objects.filter(item__project=project).values_list("item_id", "choice"))
    votes = [
        Vote(item=item_id, worker=str(expert_id), choice=choice)
        for item_id, expert_id, choice in Label.objects.filter(project=project, is_gold=False).values_list(
            "item_id", "expert_id", "choice"
        )
    ]
    majority = {item: result.choice for item, result in majority_vote(votes).items()}
    items = sorted(majority)

    def accuracy(result: dict) -> float:
        return sum(result.get(i) == truth[i][0] for i in items) / len(items)

    suspended = set(
        ProjectSuspension.objects.filter(project=project, active=True).values_list("expert_id", flat=True)
    )
    spammer_golds = [
        a["golds"] if a["expert"].pk in suspended else None for a in annotators if a["kind"] == "spammer"
    ]
    honest = [a for a in annotators if a["kind"] in ("expert", "noisy")]
    by_kind = Counter(a["kind"] for a in annotators if a["expert"].pk in suspended)
    states = Counter(Item.objects.filter(project=project, is_gold=False).values_list("state", flat=True))
    per_kind_golds = defaultdict(list)
    for a in annotators:
        per_kind_golds[a["kind"]].append(a["golds"])

    print(f"labels={labels}")
    print(f"items={len(items)} states={dict(states)}")
    print(f"gold_threshold={project.gold_threshold} gold_min_seen={project.gold_min_seen}")
    print(f"gold_rate={project.gold_rate} project={project.pk}")
    print(f"suspended_by_kind={dict(by_kind)}")
    print(f"spammer_golds_at_suspension={spammer_golds}")
    print(f"consensus_accuracy_incremental={accuracy(incremental):.4f}")
    print(f"consensus_accuracy={accuracy(consensus):.4f}")
    print(f"majority_accuracy={accuracy(majority):.4f}")
    never = [a["golds"] for a in annotators if a["kind"] == "spammer" and a["expert"].pk not in suspended]
    # A spammer still unsuspended when the queue ran dry saw too few golds (or was lucky): named.
    print(f"spammers_not_suspended={len(never)} their_golds_seen={never}")
    caught = [g for g in spammer_golds if g is not None]
    note = " (not all suspended)" if never else ""
    print(f"spammer_max_golds_to_suspend={max(caught) if caught else 'none'}{note}")
    print(f"honest_suspended_share={sum(a['expert'].pk in suspended for a in honest) / len(honest):.4f}")
    print(f"run_seconds={run_seconds:.1f}")


if __name__ == "__main__":
    main()
