"""What a looser suspension test would buy: the adversarial crowd's evidence replayed at other
per-annotator false-suspension rates.

Reads a database that ``python -m bench.simulate_crowd --adversarial ...`` left behind
(``DATABASE_URL``), takes every annotator's stored suspension evidence in the order the
after-submit step took it (``annotate.quality.services.evidence_streams``: graded golds and
silver grades), and replays the CUSUM at the threshold of each ``--alpha``. For each it prints:

- ``h``: the threshold in nats (exact, :mod:`annotate.quality.cusum`);
- ``family_wise``: the bound on the chance that anyone of ``QUALITY_SUSPEND_DESIGN_SIZE``
  annotators at the project's ``gold_threshold`` is wrongly suspended (Bonferroni, capped at 1);
- ``adaptive_spam_golds``: for each adaptive account, the golds it answered after its switch
  (its ``--adaptive-careful-golds``-th gold) up to the moment the replayed test crosses, or
  ``never``; ``adaptive_worst``, the largest, or ``never`` with how many never crossed (as
  ``simulate_crowd`` prints it);
- ``adaptive_spam_golds_answered``: the golds each adaptive account answered after its switch
  in the run (up to its suspension there, if any);
- ``honest_crossed``: the honest accounts (``expert``, ``nonexpert``) whose test crosses.

Then the same under the false discovery rate across the project's annotators at ``--fdr Q``
(0.05) instead of the family-wise rate, for each count in ``--already`` (0, 3, 10): e-BH (Wang
and Ramdas 2022) on each annotator's mixture of likelihood ratios started at every piece of
evidence, weight ``1 / horizon`` each (the Shiryaev-Roberts statistic over the horizon, an
e-process for an annotator at ``p0``). An annotator is suspended once it reaches
``n / (Q (R + 1))``, ``n`` the design size and ``R`` the annotators already suspended, which
keeps the suspended set self-consistent and the FDR at most ``Q``; ``fdr_R<r>_adaptive_worst``
is the adaptive accounts' worst with ``r`` already suspended.

A replay, not a rerun: at a lower threshold accounts are suspended earlier, which would change
the consensus, and so the silver evidence, of the items after. It is exact for the first
crossing of each account when no one else's suspension moves, and only thresholds at or below
the run's own can be replayed (a suspended account gave no evidence after its suspension).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rlhf_bench_crowd1 \\
        python -m bench.suspension_alpha --alpha 0.0005 0.001 0.005 0.01 0.05
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

import numpy as np

from bench._harness import setup_django
from bench.crowd_adversarial import NEVER, _worst

HONEST = ("expert", "nonexpert")


def _population(email: str) -> str:
    return email.split("@", 1)[0].rsplit("-", 1)[0].rstrip("0123456789")


def _crossing(stream: list[tuple], design: Any) -> Any:
    """The time of the piece at which the CUSUM with ``design``'s threshold crosses, or None."""
    from annotate.quality.cusum import State

    state = State()
    for at, kind, outcome, created_at in stream:
        state.add(design=design, kind=kind, outcome=outcome, created_at=created_at)
        if state.crossed(design):
            return at
    return None


def _mixture_crossing(steps: list[tuple[Any, float]], log_bar: float) -> Any:
    """The time of the piece at which the Shiryaev-Roberts statistic ``sum over s of the product
    of likelihood ratios from piece s on`` first reaches ``exp(log_bar)``, or None. ``steps``:
    (time, the CUSUM's step in nats) per piece."""
    log_sr = -math.inf  # SR = 0 before the first piece; then SR <- (1 + SR) * ratio
    for at, step in steps:
        log_sr = float(np.logaddexp(0.0, log_sr)) + step
        if log_sr >= log_bar:
            return at
    return None


def _spam_golds(at: Any, golds: list, careful: int) -> Any:
    return NEVER if at is None else sum(t <= at for t in golds) - careful


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.0005, 0.001, 0.005, 0.01, 0.05])
    parser.add_argument("--careful-golds", type=int, default=10, help="the run's --adaptive-careful-golds")
    parser.add_argument("--fdr", type=float, default=0.05, help="the false discovery rate of the e-BH replay")
    parser.add_argument(
        "--already", type=int, nargs="+", default=[0, 3, 10], help="annotators already suspended"
    )
    args = parser.parse_args(argv)
    setup_django()
    from django.conf import settings

    from annotate.models import Label, Project
    from annotate.quality.cusum import SCALE
    from annotate.quality.reputation import project_design
    from annotate.quality.services import evidence_streams

    project = Project.objects.order_by("-created_at").first()
    streams = evidence_streams(project=project)
    population = {
        expert_id: _population(email)
        for expert_id, email in Label.objects.filter(project=project)
        .values_list("expert_id", "expert__user__email")
        .distinct()
    }
    gold_times: dict[Any, list] = {}
    for expert_id, created_at in (
        Label.objects.filter(project=project, is_gold=True)
        .order_by("created_at")
        .values_list("expert_id", "created_at")
    ):
        gold_times.setdefault(expert_id, []).append(created_at)
    base = project_design(project)
    size = settings.QUALITY_SUSPEND_DESIGN_SIZE
    print(f"run_h={base.threshold / SCALE:.2f}")
    careful = args.careful_golds
    switched = [
        expert_id
        for expert_id in streams
        if population.get(expert_id) == "adaptive" and len(gold_times.get(expert_id, [])) >= careful
    ]
    print(f"adaptive_spam_golds_answered={[len(gold_times[e]) - careful for e in switched]}")

    def report(prefix: str, crossings: dict[Any, Any]) -> None:
        spam_golds = [_spam_golds(crossings[e], gold_times[e], careful) for e in switched]
        honest = sum(at is not None for e, at in crossings.items() if population.get(e) in HONEST)
        print(f"{prefix}_adaptive_spam_golds={spam_golds}")
        print(f"{prefix}_adaptive_worst={_worst(spam_golds)}")
        print(f"{prefix}_honest_crossed={honest}")

    for alpha in args.alpha:
        design = dataclasses.replace(base, alpha=alpha)
        prefix = f"alpha_{alpha:g}"
        print(f"{prefix}_h={design.threshold / SCALE:.2f}")
        print(f"{prefix}_family_wise={min(1.0, alpha * size):.3g}")
        report(prefix, {e: _crossing(stream, design) for e, stream in streams.items()})
    stepped = {
        e: [(at, base.step(kind, outcome) / SCALE) for at, kind, outcome, _created in stream]
        for e, stream in streams.items()
    }
    for already in args.already:
        log_bar = math.log(base.horizon) + math.log(size / (args.fdr * (already + 1)))
        print(f"fdr_R{already}_bar_nats={log_bar:.2f}")
        report(f"fdr_R{already}", {e: _mixture_crossing(steps, log_bar) for e, steps in stepped.items()})


if __name__ == "__main__":
    main()
