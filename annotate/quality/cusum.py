"""The suspension test: Page's CUSUM of the log-likelihood ratio, calibrated exactly.

Each piece of evidence about an annotator is one of two kinds:

- a **gold** label, right or wrong against the item's answer: good accuracy ``p0``, bad ``p1``;
  it adds ``log(p1 / p0)`` when right and ``log((1 - p1) / (1 - p0))`` when wrong;
- a **silver** label: an ordinary label on an item that became final, set against the item's
  posterior computed *without* it (leave-one-out) from the item's labels that do not depend on
  its answer (:mod:`annotate.quality.silver`; a label whose other labels all come from suspected
  groups is not graded). The posterior of the label's answer, rounded to tenths, is
  its **support** ``q``. Good: the annotator is right with probability ``silver_p0`` and the
  truth is distributed as the posterior, so the answer has probability
  ``q * silver_p0 + (1 - q) * (1 - silver_p0) / (K - 1)`` among ``K`` choices. Bad: a random
  answer, ``1 / K``. The step is the log of their ratio: an answer the others are sure of counts
  for the annotator, one they are sure against counts against, and an item the others split on
  says little either way.

Steps are scaled to integer units of 1/:data:`SCALE` nat and rounded. The statistic is Page's
CUSUM, ``S = max(0, S + step)``: it forgets. A run of passes cannot be banked (S never goes
below 0), and a switch to spamming starts an excursion that crosses the threshold ``h`` after
about ``h / KL`` pieces of evidence. The start of the excursion that crossed is the estimated
change point (the first label of the current excursion).

Because the statistic lives on the integers ``0 .. h - 1`` until it crosses, the probability that
an annotator exactly at ``p0`` (and at ``silver_p0``) is suspended within ``horizon`` pieces of
evidence is computed exactly by dynamic programming over those states (:func:`false_alarm`).
The kind of each piece (gold, or silver with a given posterior over the choices) comes in an
order no one controls, so the recursion takes, at every step and state, the kind that makes a
false alarm most likely, over gold and every posterior on the grid of tenths: the result bounds
the false-suspension probability for every sequence of items, including adaptive ones.
:func:`threshold` is the smallest ``h`` whose bound is at most ``alpha`` (cached).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache

import numpy as np

SCALE = 100  # integer units per nat: steps are rounded to 0.01 nat
GRID = 10  # a silver label's support is the posterior of its answer in tenths
GOLD = "gold"
SILVER = "silver"


@dataclass(frozen=True)
class Steps:
    """Integer CUSUM steps of gold evidence: ``passed`` (<= 0) and ``failed`` (> 0)."""

    p0: float
    p1: float

    @property
    def passed(self) -> int:
        return round(SCALE * math.log(self.p1 / self.p0))

    @property
    def failed(self) -> int:
        return round(SCALE * math.log((1 - self.p1) / (1 - self.p0)))

    def step(self, passed: bool) -> int:
        return self.passed if passed else self.failed


@dataclass(frozen=True)
class SilverSteps:
    """Integer CUSUM steps of silver evidence among ``choices`` answers, by support (the
    leave-one-out posterior of the label's answer, in tenths: ``0 .. GRID``)."""

    p0: float
    choices: int

    def probability(self, support: int) -> float:
        """The chance that an annotator right with probability ``p0`` gives an answer whose
        posterior is ``support / GRID``, when the truth follows that posterior."""
        q = support / GRID
        return q * self.p0 + (1 - q) * (1 - self.p0) / (self.choices - 1)

    def step(self, support: int) -> int:
        return round(SCALE * math.log((1 / self.choices) / self.probability(support)))

    def kinds(self) -> list[tuple[int, ...]]:
        """Every posterior over the choices on the grid of tenths, up to order (a partition of
        ``GRID`` into at most ``choices`` parts, zeros included)."""

        def parts(total: int, count: int, largest: int) -> list[tuple[int, ...]]:
            if count == 1:
                return [(total,)] if total <= largest else []
            return [
                (first, *rest)
                for first in range(min(total, largest), -1, -1)
                for rest in parts(total - first, count - 1, first)
            ]

        return parts(GRID, self.choices, GRID)


@dataclass(frozen=True)
class Design:
    """The test as configured: the two kinds of evidence, the horizon and the per-annotator
    false-suspension probability ``alpha`` at ``p0``."""

    gold: Steps
    silver: SilverSteps
    horizon: int
    alpha: float

    @property
    def threshold(self) -> int:
        return threshold(self)

    def step(self, kind: str, outcome: bool | int) -> int:
        """The step of one piece: a gold grade (``outcome`` passed) or a silver support."""
        return self.gold.step(bool(outcome)) if kind == GOLD else self.silver.step(int(outcome))

    @cached_property
    def _moves(self) -> tuple[np.ndarray, np.ndarray]:
        """Every kind of piece as its outcomes' probabilities at ``p0`` and their steps, padded
        to ``choices`` outcomes (probability 0)."""
        width = max(2, self.silver.choices)
        probs, steps = [[self.gold.p0, 1 - self.gold.p0]], [[self.gold.passed, self.gold.failed]]
        for kind in self.silver.kinds():
            probs.append([self.silver.probability(q) for q in kind])
            steps.append([self.silver.step(q) for q in kind])
        for row in (*probs, *steps):
            row.extend([0] * (width - len(row)))
        return np.asarray(probs, dtype=float), np.asarray(steps, dtype=np.int64)


def _validate(design: Design) -> None:
    gold, silver = design.gold, design.silver
    if not 0 < gold.p1 < gold.p0 < 1:
        raise ValueError(f"need 0 < p1 < p0 < 1, got p0={gold.p0}, p1={gold.p1}")
    if gold.passed >= 0 or gold.failed <= 0:
        raise ValueError(f"p0={gold.p0} and p1={gold.p1} are too close for steps of 1/{SCALE} nat")
    if silver.choices < 2 or not 1 / silver.choices < silver.p0 < 1:
        raise ValueError(f"need 1/choices < silver p0 < 1, got {silver.p0} among {silver.choices}")
    if design.horizon < 1 or not 0 < design.alpha < 1:
        raise ValueError("need horizon >= 1 and 0 < alpha < 1")


def false_alarm(design: Design, h: int, *, kinds: tuple[str, ...] = (GOLD, SILVER)) -> float:
    """The exact probability that the CUSUM with threshold ``h`` (units) crosses within
    ``design.horizon`` pieces of evidence for an annotator right with probability ``p0`` on
    gold and ``silver_p0`` on silver, maximised over the kind of each piece (see the module's
    docstring). ``kinds=(GOLD,)`` gives the gold-only figure, ``(SILVER,)`` silver only."""
    _validate(design)
    probs, steps = design._moves
    keep = [k for k in range(len(probs)) if (GOLD if k == 0 else SILVER) in kinds]
    probs, steps = probs[keep], steps[keep]
    states = np.arange(h)
    # where[k, c, s]: the state after outcome c of kind k from state s (h: crossed).
    where = np.clip(states[None, None, :] + steps[:, :, None], 0, h)
    # value[s]: the largest probability of crossing within the remaining steps from state s;
    # value[h] = 1 stands for every state at or above the threshold.
    value = np.zeros(h + 1)
    value[h] = 1.0
    for _ in range(design.horizon):
        value[:h] = np.einsum("kc,kcs->ks", probs, value[where]).max(axis=0)
    return float(value[0])


@lru_cache(maxsize=64)
def threshold(design: Design) -> int:
    """The smallest integer threshold ``h`` (units of 1/SCALE nat) whose false-suspension bound
    within the horizon is at most ``alpha``. Cached per design (computed once per process, in
    well under a second: the log of the bound falls almost linearly with ``h``, so a few secant
    steps land next to the answer, and the bound is monotone, so unit steps finish it)."""
    _validate(design)
    target = math.log(design.alpha)

    def log_bound(h: int) -> float:
        return math.log(max(false_alarm(design, h), 1e-300))

    h1 = max(1, round(SCALE * math.log(1 / design.alpha)))
    h2 = 2 * h1
    f1, f2 = log_bound(h1), log_bound(h2)
    for _ in range(8):
        if f2 == f1 or abs(h2 - h1) <= 1:
            break
        guess = max(1, round(h2 + (target - f2) * (h2 - h1) / (f2 - f1)))
        h1, f1, h2, f2 = h2, f2, guess, log_bound(guess)
    h = h2
    if f2 <= target:
        while h > 1 and log_bound(h - 1) <= target:
            h -= 1
    else:
        h += 1
        while log_bound(h) > target:
            h += 1
    return h


@dataclass
class State:
    """The statistic of one annotator: its value (units), the time of the first label of the
    current excursion (None at 0), and the pieces of evidence seen since the last reset."""

    value: int = 0
    since: datetime | None = None
    events: int = 0

    def add(self, *, design: Design, kind: str, outcome: bool | int, created_at: datetime) -> None:
        """One piece of evidence (a label created at ``created_at``): a gold grade, or a silver
        label's support (see :meth:`Design.step`)."""
        step = design.step(kind, outcome)
        self.events += 1
        new = max(0, self.value + step)
        if new == 0:
            self.value, self.since = 0, None
            return
        # The excursion starts with this label, or an earlier label joins it: silver evidence
        # arrives when an item becomes final, not in the order the labels were given.
        self.since = created_at if self.value == 0 or self.since is None else min(self.since, created_at)
        self.value = new

    def crossed(self, design: Design) -> bool:
        return self.value >= design.threshold


def design_of(*, p0: float, choices: int = 4) -> Design:
    """The test of a project whose good gold accuracy is ``p0`` (its ``gold_threshold``) and
    whose pairwise labels pick among ``choices`` answers, with the rest from settings
    (``QUALITY_SUSPEND_*``). The per-annotator ``alpha`` is the family-wise
    ``QUALITY_SUSPEND_ALPHA`` divided by ``QUALITY_SUSPEND_DESIGN_SIZE`` annotators
    (Bonferroni)."""
    from django.conf import settings

    return Design(
        gold=Steps(p0=float(p0), p1=settings.QUALITY_SUSPEND_P1),
        silver=SilverSteps(p0=settings.QUALITY_SUSPEND_SILVER_P0, choices=max(2, int(choices))),
        horizon=settings.QUALITY_SUSPEND_HORIZON,
        alpha=settings.QUALITY_SUSPEND_ALPHA / max(1, settings.QUALITY_SUSPEND_DESIGN_SIZE),
    )
