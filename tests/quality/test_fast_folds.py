"""The method choice's fast folds (annotate/quality/consensus_model.py, aggregation.py): the
one-coin folds start from the all-gold fit, the Dawid-Skene folds run with SQUAREM, and the
choice is the one the plain cold folds make, on crowds where each method wins and where the
gold has to unmask a wrong majority."""

from __future__ import annotations

import random

import numpy as np
import pytest

from annotate.quality.aggregation import PAIRWISE_CLASSES, code_votes, dawid_skene_fit_arrays
from annotate.quality.consensus_model import (
    LEVEL_ACCURACY,
    consensus_model_fit,
    level_prior,
    one_coin_fit_arrays,
)
from tests.quality.test_consensus_model import _biased_crowd, _contrarian_crowd, _wrong

K = len(PAIRWISE_CLASSES)


def _one_coin_crowd():
    """One-coin annotators (right 65%, errors spread evenly), 30 labels each: the majority wins."""
    rng = random.Random(2)
    truth = [rng.choice(PAIRWISE_CLASSES) for _ in range(300)]
    votes = []
    for i, t in enumerate(truth):
        for w in rng.sample(range(30), 3):
            votes.append((i, f"w{w}", t if rng.random() < 0.65 else _wrong(rng, t)))
    return votes, truth


def _arrays(votes, truth, gold_of):
    from annotate.quality.aggregation import Vote

    coded = code_votes([Vote(item=i, worker=w, choice=c) for i, w, c in votes])
    gold = np.array(
        [PAIRWISE_CLASSES.index(truth[item]) if gold_of(item) else -1 for item in coded.items], dtype=np.int64
    )
    arrays = (coded.item_idx, coded.worker_idx, coded.class_idx, len(coded.items), len(coded.workers), K)
    return coded, arrays, gold


def _crowds():
    biased, biased_truth = _biased_crowd()
    yield "dawid_skene", [(v.item, v.worker, v.choice) for v in biased], biased_truth, lambda i: i % 4 == 0, 0
    one_coin, one_coin_truth = _one_coin_crowd()
    yield "majority", one_coin, one_coin_truth, lambda i: i < 150, 2
    contrarian, contrarian_truth, _ = _contrarian_crowd(n_items=200, n_gold=60)
    yield None, [(v.item, v.worker, v.choice) for v in contrarian], contrarian_truth, lambda i: i >= 140, 0


@pytest.mark.parametrize("crowd", list(_crowds()), ids=["biased", "one_coin", "contrarian"])
def test_fast_folds_choose_the_method_the_cold_folds_choose(crowd):
    expected, votes, truth, gold_of, level = crowd
    coded, arrays, gold = _arrays(votes, truth, gold_of)
    levels = [level] * len(coded.workers)
    cold = consensus_model_fit(*arrays, gold=gold, levels=levels, fast_folds=False)
    fast = consensus_model_fit(*arrays, gold=gold, levels=levels, fast_folds=True)
    if expected is not None:
        assert cold.choice.method == expected
    assert fast.choice.method == cold.choice.method
    for method in ("dawid_skene", "majority"):
        assert fast.choice.scores[method] == pytest.approx(cold.choice.scores[method], abs=0.01)
        assert fast.choice.accuracy[method] == pytest.approx(cold.choice.accuracy[method], abs=0.02)
    # the stored fit is the plain all-gold fit either way
    np.testing.assert_allclose(fast.fit.posteriors, cold.fit.posteriors)
    assert (fast.one_coin is None) == (cold.one_coin is None)


def test_squarem_reaches_the_fixed_point_plain_em_converges_to():
    votes, truth = _biased_crowd()
    coded, arrays, gold = _arrays([(v.item, v.worker, v.choice) for v in votes], truth, lambda i: i % 4 == 0)
    prior = level_prior([2] * len(coded.workers), K, strength=4)
    tight = dawid_skene_fit_arrays(*arrays, gold=gold, prior=prior, tol=1e-12, max_iter=5000)
    fast = dawid_skene_fit_arrays(*arrays, gold=gold, prior=prior, accelerate=True)
    assert fast.converged
    assert fast.n_iter < tight.n_iter
    np.testing.assert_allclose(fast.posteriors, tight.posteriors, atol=1e-3)
    np.testing.assert_allclose(fast.confusion, tight.confusion, atol=1e-3)


def test_a_warm_one_coin_fit_ends_where_the_cold_one_does():
    votes, truth = _one_coin_crowd()
    coded, arrays, gold = _arrays(votes, truth, lambda i: i < 150)
    prior_accuracy = np.full(len(coded.workers), LEVEL_ACCURACY[2])
    full = one_coin_fit_arrays(*arrays, gold=gold, prior_accuracy=prior_accuracy)
    train = gold.copy()
    train[: len(train) // 3] = -1
    cold = one_coin_fit_arrays(*arrays, gold=train, prior_accuracy=prior_accuracy)
    warm = one_coin_fit_arrays(
        *arrays, gold=train, prior_accuracy=prior_accuracy, start=(full.accuracies, full.priors)
    )
    assert warm.n_iter < cold.n_iter
    np.testing.assert_allclose(warm.accuracies, cold.accuracies, atol=1e-4)
    np.testing.assert_allclose(np.exp(warm.log_posteriors), np.exp(cold.log_posteriors), atol=1e-3)


def test_a_start_of_the_wrong_shape_is_refused():
    votes, truth = _one_coin_crowd()
    coded, arrays, gold = _arrays(votes, truth, lambda i: i < 150)
    with pytest.raises(ValueError, match="start"):
        one_coin_fit_arrays(*arrays, gold=gold, start=(np.ones(3), np.ones(K) / K))
