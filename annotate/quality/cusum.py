"""The suspension test: Page's CUSUM of the Bernoulli log-likelihood ratio, calibrated exactly.

Each piece of evidence about an annotator is right or wrong:

- a **gold** label, graded against the item's answer (good accuracy ``p0``, bad ``p1``);
- a **silver** label: an ordinary label on an item that became final, scored against the
  item's consensus computed *without* that label (leave-one-out), counted only when that
  consensus is very sure and not carried by a suspected group alone (``silver_p0``,
  ``silver_p1``: agreement with a sure consensus is a noisier signal than gold).

Each adds the log-likelihood ratio of "bad" against "good", ``log(p1 / p0)`` when right and
``log((1 - p1) / (1 - p0))`` when wrong, scaled to integer units of 1/:data:`SCALE` nat and
rounded. The statistic is Page's CUSUM, ``S = max(0, S + step)``: it forgets. A run of passes
cannot be banked (S never goes below 0), and a switch to spamming starts an excursion that
crosses the threshold ``h`` after about ``h / KL`` pieces of evidence. The start of the excursion
that crossed is the estimated change point (the first label of the current excursion).

Because the statistic lives on the integers ``0 .. h - 1`` until it crosses, the probability that
an annotator exactly at ``p0`` (and at ``silver_p0``) is suspended within ``horizon`` pieces of
evidence is computed exactly by dynamic programming over those states (:func:`false_alarm`).
Gold and silver evidence arrive in an order no one controls, so the recursion takes, at every
step and state, the kind of evidence that makes a false alarm most likely: the result bounds the
false-suspension probability for every interleaving of gold and silver, including adaptive
ones. :func:`threshold` is the smallest ``h`` whose bound is at most ``alpha`` (cached).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np

SCALE = 10  # integer units per nat: steps are rounded to 0.1 nat
GOLD = "gold"
SILVER = "silver"


@dataclass(frozen=True)
class Steps:
    """Integer CUSUM steps of one kind of evidence: ``passed`` (<= 0) and ``failed`` (> 0)."""

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
class Design:
    """The test as configured: the two kinds of evidence, the horizon and the per-annotator
    false-suspension probability ``alpha`` at ``p0``."""

    gold: Steps
    silver: Steps
    horizon: int
    alpha: float

    @property
    def threshold(self) -> int:
        return threshold(self)

    def steps(self, kind: str) -> Steps:
        return self.gold if kind == GOLD else self.silver


def _validate(design: Design) -> None:
    for steps in (design.gold, design.silver):
        if not 0 < steps.p1 < steps.p0 < 1:
            raise ValueError(f"need 0 < p1 < p0 < 1, got p0={steps.p0}, p1={steps.p1}")
        if steps.passed >= 0 or steps.failed <= 0:
            raise ValueError(f"p0={steps.p0} and p1={steps.p1} are too close for steps of 1/{SCALE} nat")
    if design.horizon < 1 or not 0 < design.alpha < 1:
        raise ValueError("need horizon >= 1 and 0 < alpha < 1")


def false_alarm(design: Design, h: int, *, kinds: tuple[str, ...] = (GOLD, SILVER)) -> float:
    """The exact probability that the CUSUM with threshold ``h`` (units) crosses within
    ``design.horizon`` pieces of evidence for an annotator right with probability ``p0`` on
    gold and ``silver_p0`` on silver, maximised over the kind of each piece (see the module's
    docstring). ``kinds=(GOLD,)`` gives the gold-only figure."""
    _validate(design)
    states = np.arange(h)
    moves = []
    for kind in kinds:
        steps = design.steps(kind)
        moves.append((steps.p0, np.maximum(0, states + steps.passed), states + steps.failed))
    # value[s]: the largest probability of crossing within the remaining steps from state s;
    # value[h] = 1 stands for every state at or above the threshold.
    value = np.zeros(h + 1)
    value[h] = 1.0
    for _ in range(design.horizon):
        best = np.zeros(h)
        for p0, down, up in moves:
            best = np.maximum(best, p0 * value[down] + (1 - p0) * value[np.minimum(up, h)])
        value[:h] = best
    return float(value[0])


@lru_cache(maxsize=64)
def threshold(design: Design) -> int:
    """The smallest integer threshold ``h`` (units of 1/SCALE nat) whose false-suspension bound
    within the horizon is at most ``alpha``. Cached per design (about 0.25 s to compute, once per
    process)."""
    _validate(design)
    low, high = 1, SCALE
    while false_alarm(design, high) > design.alpha:
        low, high = high, high * 2
    while low < high:
        middle = (low + high) // 2
        if false_alarm(design, middle) <= design.alpha:
            high = middle
        else:
            low = middle + 1
    return high


@dataclass
class State:
    """The statistic of one annotator: its value (units), the time of the first label of the
    current excursion (None at 0), and the pieces of evidence seen since the last reset."""

    value: int = 0
    since: datetime | None = None
    events: int = 0

    def add(self, *, design: Design, kind: str, passed: bool, created_at: datetime) -> None:
        """One piece of evidence (a label created at ``created_at``)."""
        step = design.steps(kind).step(passed)
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


def design_of(*, p0: float) -> Design:
    """The test of a project whose good gold accuracy is ``p0`` (its ``gold_threshold``), with
    the rest from settings (``QUALITY_SUSPEND_*``). The per-annotator ``alpha`` is the
    family-wise ``QUALITY_SUSPEND_ALPHA`` divided by ``QUALITY_SUSPEND_DESIGN_SIZE`` annotators
    (Bonferroni)."""
    from django.conf import settings

    return Design(
        gold=Steps(p0=float(p0), p1=settings.QUALITY_SUSPEND_P1),
        silver=Steps(p0=settings.QUALITY_SUSPEND_SILVER_P0, p1=settings.QUALITY_SUSPEND_SILVER_P1),
        horizon=settings.QUALITY_SUSPEND_HORIZON,
        alpha=settings.QUALITY_SUSPEND_ALPHA / max(1, settings.QUALITY_SUSPEND_DESIGN_SIZE),
    )
