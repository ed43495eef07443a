"""The suspension test's statistics: the dynamic programme is exact (it matches Monte Carlo), the
calibrated threshold keeps the stated false-suspension rate at p0 for any sequence of gold and
silver evidence, and the statistic forgets, so passes cannot be banked and a switch to spamming
is caught."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from annotate.quality.cusum import (
    GOLD,
    GRID,
    SILVER,
    Design,
    SilverSteps,
    State,
    Steps,
    false_alarm,
    threshold,
)
from annotate.quality.silver import support_of

GOLD_ONLY = (GOLD,)
AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _design(alpha: float = 0.05, horizon: int = 200, *, p0: float = 0.55, choices: int = 4) -> Design:
    return Design(
        gold=Steps(p0=p0, p1=0.25), silver=SilverSteps(p0=0.55, choices=choices), horizon=horizon, alpha=alpha
    )


def _simulate(
    design: Design, h: int, *, accuracy: float, silver_accuracy: float, pieces, runs: int, seed: int
):
    """Monte Carlo: the share of ``runs`` annotators whose CUSUM crosses ``h`` within the horizon,
    piece ``t`` being ``pieces[t % len(pieces)]``: ``GOLD``, or a silver item's posterior on the
    grid (its truth drawn from that posterior; the annotator right with ``silver_accuracy``, else
    one of the other answers at random)."""
    rng = np.random.default_rng(seed)
    value = np.zeros(runs, dtype=np.int64)
    crossed = np.zeros(runs, dtype=bool)
    choices = design.silver.choices
    for t in range(design.horizon):
        piece = pieces[t % len(pieces)]
        if piece == GOLD:
            step = np.where(rng.random(runs) < accuracy, design.gold.passed, design.gold.failed)
        else:
            posterior = np.asarray(piece + (0,) * (choices - len(piece))) / GRID
            truth = rng.choice(choices, size=runs, p=posterior)
            other = (truth + rng.integers(1, choices, size=runs)) % choices
            answer = np.where(rng.random(runs) < silver_accuracy, truth, other)
            steps = np.asarray([design.silver.step(int(round(q * GRID))) for q in posterior])
            step = steps[answer]
        value = np.maximum(0, value + step)
        crossed |= value >= h
        value[crossed] = h  # absorbed
    return crossed.mean()


def test_the_steps_are_the_scaled_log_likelihood_ratio():
    gold = Steps(p0=0.55, p1=0.25)
    assert (gold.passed, gold.failed) == (-79, 51)  # log(0.25/0.55), log(0.75/0.45), in 0.01 nat
    silver = SilverSteps(p0=0.55, choices=4)
    # A label the others are sure of counts as a passed gold; one they are sure against as a miss
    # (a random answer is right 1 time in 4); an even split says almost nothing.
    assert (silver.step(GRID), silver.step(0)) == (gold.passed, gold.failed)
    assert [silver.step(q) for q in range(GRID + 1)] == sorted(
        (silver.step(q) for q in range(GRID + 1)), reverse=True
    )
    assert abs(silver.step(3)) < 10
    # The probabilities of the answers of one posterior sum to 1.
    for kind in silver.kinds():
        assert sum(kind) == GRID
        assert sum(silver.probability(q) for q in kind) + silver.probability(0) * (4 - len(kind)) == (
            pytest.approx(1.0)
        )


def test_the_posteriors_on_the_grid_are_every_partition_of_ten():
    assert len(SilverSteps(p0=0.55, choices=4).kinds()) == 23
    assert len(SilverSteps(p0=0.55, choices=2).kinds()) == 6
    assert (10, 0, 0, 0) in SilverSteps(p0=0.55, choices=4).kinds()


@pytest.mark.parametrize(
    "posterior,choice,support",
    [
        ({"A": 0.97, "B": 0.02, "tie": 0.01}, "A", 10),
        ({"A": 0.97, "B": 0.02, "tie": 0.01}, "B", 0),
        ({"A": 0.34, "B": 0.33, "tie": 0.33}, "A", 4),  # 4 + 3 + 3: the parts sum to ten
        ({"A": 0.34, "B": 0.33, "tie": 0.33}, "tie", 3),
        ({"A": 0.66, "B": 0.34}, "B", 3),
        ({"A": 1.0}, "both_bad", 0),
    ],
)
def test_a_labels_support_is_its_answers_posterior_rounded_to_tenths_summing_to_ten(
    posterior, choice, support
):
    assert support_of(posterior, choice) == support


@pytest.mark.parametrize("h", [200, 450, 600])
def test_the_dynamic_programme_matches_monte_carlo_on_gold(h):
    design = _design(horizon=300)
    exact = false_alarm(design, h, kinds=GOLD_ONLY)
    runs = 40_000
    simulated = _simulate(design, h, accuracy=0.55, silver_accuracy=0.55, pieces=GOLD_ONLY, runs=runs, seed=h)
    sigma = (exact * (1 - exact) / runs) ** 0.5
    assert abs(simulated - exact) < 4 * sigma + 1e-4
    if h == 450:
        assert exact == pytest.approx(0.33, abs=0.005)  # 4.5 nats over 300 golds at p0 = 0.55


def test_silver_alone_stays_within_the_bound_over_every_posterior():
    design = _design(horizon=300)
    h = 300
    bound = false_alarm(design, h, kinds=(SILVER,))
    for kind in ((6, 3, 1, 0), (3, 3, 2, 2), (10,)):
        simulated = _simulate(
            design, h, accuracy=0.55, silver_accuracy=0.55, pieces=(kind,), runs=20_000, seed=3
        )
        assert simulated <= bound + 4 * (bound / 20_000) ** 0.5


def test_the_bound_over_every_sequence_covers_any_mix_of_gold_and_silver():
    design = Design(
        gold=Steps(p0=0.6, p1=0.25), silver=SilverSteps(p0=0.55, choices=4), horizon=150, alpha=0.05
    )
    h = 400
    bound = false_alarm(design, h)
    for pieces in (
        (GOLD,),
        ((10,),),
        ((4, 3, 2, 1),),
        (GOLD, (6, 4)),
        (GOLD, (10,), (3, 3, 2, 2), (7, 1, 1, 1)),
    ):
        simulated = _simulate(
            design, h, accuracy=0.6, silver_accuracy=0.55, pieces=pieces, runs=20_000, seed=len(pieces)
        )
        assert simulated <= bound + 4 * (bound / 20_000) ** 0.5
    # ... and it is attained by one kind of evidence alone, not a loose bound.
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
    for pieces in ((GOLD,), (GOLD, (10,), (6, 2, 1, 1)), ((5, 5), (4, 3, 2, 1), (8, 2))):
        simulated = _simulate(
            design, h, accuracy=0.55, silver_accuracy=0.55, pieces=pieces, runs=runs, seed=7
        )
        assert simulated <= 0.05 + 3 * (0.05 * 0.95 / runs) ** 0.5
    # Better than p0, far rarer.
    assert (
        _simulate(design, h, accuracy=0.65, silver_accuracy=0.65, pieces=(GOLD, (7, 3)), runs=runs, seed=8)
        < 0.01
    )


def test_a_random_answerer_is_caught_by_silver_evidence_alone():
    design = _design(alpha=0.0005, horizon=1000)
    rng = np.random.default_rng(5)
    state, n = State(), 0
    while not state.crossed(design):
        posterior = (8, 1, 1, 0)  # the others fairly sure
        answer = int(rng.integers(0, 4))  # at random
        state.add(design=design, kind=SILVER, outcome=posterior[answer], created_at=AT)
        n += 1
    # About h / KL labels: KL of a random answer against p0 on this posterior is about 0.2 nat.
    assert 30 < n < 150


def test_banked_passes_expire_and_a_switch_to_spam_is_caught_as_fast_as_from_a_fresh_start():
    design = _design(alpha=0.0005, horizon=1000)
    fresh, banked = State(), State()
    for _ in range(200):
        banked.add(design=design, kind=GOLD, outcome=True, created_at=AT)
    for _ in range(200):
        banked.add(design=design, kind=SILVER, outcome=GRID, created_at=AT)
    assert banked.value == 0 and banked.since is None
    misses = []
    for state in (fresh, banked):
        n = 0
        while not state.crossed(design):
            state.add(design=design, kind=GOLD, outcome=False, created_at=AT + dt.timedelta(minutes=n))
            n += 1
        misses.append(n)
    assert misses[0] == misses[1] == -(-design.threshold // design.gold.failed)
    assert banked.since == AT  # the change point: the first miss after the passes


def test_the_change_point_is_the_first_label_of_the_excursion_that_crossed():
    design = _design()
    state = State()
    state.add(design=design, kind=GOLD, outcome=False, created_at=AT)
    state.add(design=design, kind=GOLD, outcome=True, created_at=AT + dt.timedelta(minutes=1))
    assert (state.value, state.since) == (0, None)  # back to 0: that excursion ended
    state.add(design=design, kind=GOLD, outcome=False, created_at=AT + dt.timedelta(minutes=5))
    # Silver evidence comes when an item becomes final: an earlier label joins the excursion.
    state.add(design=design, kind=SILVER, outcome=0, created_at=AT + dt.timedelta(minutes=3))
    assert state.since == AT + dt.timedelta(minutes=3)
    assert state.events == 4


def test_a_design_whose_p1_is_not_below_p0_is_refused():
    with pytest.raises(ValueError, match="p1 < p0"):
        threshold(_design(p0=0.2))
    with pytest.raises(ValueError, match="silver p0"):
        threshold(
            Design(gold=Steps(p0=0.55, p1=0.25), silver=SilverSteps(p0=0.4, choices=2), horizon=10, alpha=0.1)
        )
