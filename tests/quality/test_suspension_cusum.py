"""The suspension test's statistics: the dynamic programme is exact (it matches Monte Carlo), the
calibrated threshold keeps the stated false-suspension rate at p0, and the statistic forgets, so
passes cannot be banked and a switch to spamming is caught."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from annotate.quality.cusum import GOLD, SILVER, Design, State, Steps, false_alarm, threshold

GOLD_ONLY = (GOLD,)
AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _simulate(
    design: Design, h: int, *, accuracy: float, silver_accuracy: float, kinds, runs: int, seed: int
):
    """Monte Carlo: the share of ``runs`` annotators whose CUSUM crosses ``h`` within the horizon,
    each piece of evidence of the kind ``kinds[t % len(kinds)]``."""
    rng = np.random.default_rng(seed)
    value = np.zeros(runs, dtype=np.int64)
    crossed = np.zeros(runs, dtype=bool)
    for t in range(design.horizon):
        kind = kinds[t % len(kinds)]
        steps = design.steps(kind)
        p = accuracy if kind == GOLD else silver_accuracy
        passed = rng.random(runs) < p
        value = np.maximum(0, value + np.where(passed, steps.passed, steps.failed))
        crossed |= value >= h
        value[crossed] = h  # absorbed
    return crossed.mean()


def _design(alpha: float = 0.05, horizon: int = 200) -> Design:
    return Design(gold=Steps(p0=0.55, p1=0.25), silver=Steps(p0=0.55, p1=0.25), horizon=horizon, alpha=alpha)


def test_the_steps_are_the_scaled_log_likelihood_ratio():
    steps = Steps(p0=0.55, p1=0.25)
    assert (steps.passed, steps.failed) == (-8, 5)  # log(0.25/0.55) = -0.79, log(0.75/0.45) = 0.51 nat


@pytest.mark.parametrize("h", [20, 45, 60])
def test_the_dynamic_programme_matches_monte_carlo_on_gold(h):
    design = _design(horizon=300)
    exact = false_alarm(design, h, kinds=GOLD_ONLY)
    runs = 40_000
    simulated = _simulate(design, h, accuracy=0.55, silver_accuracy=0.55, kinds=GOLD_ONLY, runs=runs, seed=h)
    sigma = (exact * (1 - exact) / runs) ** 0.5
    assert abs(simulated - exact) < 4 * sigma + 1e-4
    if h == 45:
        assert exact == pytest.approx(0.295, abs=0.005)  # 4.5 nats over 300 golds at p0 = 0.55


def test_the_bound_over_interleavings_covers_any_mix_of_gold_and_silver():
    design = Design(gold=Steps(p0=0.6, p1=0.25), silver=Steps(p0=0.55, p1=0.3), horizon=150, alpha=0.05)
    h = 40
    bound = false_alarm(design, h)
    for kinds in ((GOLD,), (SILVER,), (GOLD, SILVER), (GOLD, SILVER, SILVER, SILVER)):
        simulated = _simulate(
            design, h, accuracy=0.6, silver_accuracy=0.55, kinds=kinds, runs=20_000, seed=len(kinds)
        )
        assert simulated <= bound + 4 * (bound / 20_000) ** 0.5
    # ... and it is attained by one of them, not a loose bound.
    assert max(false_alarm(design, h, kinds=(kind,)) for kind in (GOLD, SILVER)) > bound / 2


def test_the_threshold_is_the_smallest_that_keeps_alpha():
    design = _design(alpha=0.01, horizon=300)
    h = threshold(design)
    assert false_alarm(design, h) <= 0.01 < false_alarm(design, h - 1)
    assert threshold(design) == h  # cached


def test_the_stated_alpha_holds_at_p0_by_simulation():
    design = _design(alpha=0.05, horizon=200)
    h = threshold(design)
    runs = 20_000
    for kinds in ((GOLD,), (GOLD, SILVER, SILVER)):
        simulated = _simulate(design, h, accuracy=0.55, silver_accuracy=0.55, kinds=kinds, runs=runs, seed=7)
        assert simulated <= 0.05 + 3 * (0.05 * 0.95 / runs) ** 0.5
    # Better than p0, far rarer.
    assert (
        _simulate(design, h, accuracy=0.65, silver_accuracy=0.65, kinds=GOLD_ONLY, runs=runs, seed=8) < 0.01
    )


def test_banked_passes_expire_and_a_switch_to_spam_is_caught_as_fast_as_from_a_fresh_start():
    design = _design(alpha=0.0005, horizon=1000)
    fresh, banked = State(), State()
    for _ in range(200):
        banked.add(design=design, kind=GOLD, passed=True, created_at=AT)
    assert banked.value == 0 and banked.since is None
    misses = []
    for state in (fresh, banked):
        n = 0
        while not state.crossed(design):
            state.add(design=design, kind=GOLD, passed=False, created_at=AT + dt.timedelta(minutes=n))
            n += 1
        misses.append(n)
    assert misses[0] == misses[1] == -(-design.threshold // design.gold.failed)
    assert banked.since == AT  # the change point: the first miss after the passes


def test_the_change_point_is_the_first_label_of_the_excursion_that_crossed():
    design = _design()
    state = State()
    state.add(design=design, kind=GOLD, passed=False, created_at=AT)
    state.add(design=design, kind=GOLD, passed=True, created_at=AT + dt.timedelta(minutes=1))
    assert (state.value, state.since) == (0, None)  # back to 0: that excursion ended
    state.add(design=design, kind=GOLD, passed=False, created_at=AT + dt.timedelta(minutes=5))
    # Silver evidence comes when an item becomes final: an earlier label joins the excursion.
    state.add(design=design, kind=SILVER, passed=False, created_at=AT + dt.timedelta(minutes=3))
    assert state.since == AT + dt.timedelta(minutes=3)
    assert state.events == 4


def test_a_design_whose_p1_is_not_below_p0_is_refused():
    with pytest.raises(ValueError, match="p1 < p0"):
        threshold(Design(gold=Steps(p0=0.5, p1=0.6), silver=Steps(p0=0.55, p1=0.25), horizon=10, alpha=0.1))
