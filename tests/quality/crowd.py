"""A coded crowd for the group signals' tests: known-accuracy annotators and a copy ring."""

from __future__ import annotations

import numpy as np

from annotate.quality.aggregation import dawid_skene_fit_arrays
from annotate.quality.group_signals import GroupScorer, PairEvidence

K = 4


def coded_crowd(seed: int, *, items: int, ring: int = 0, experts: int = 10, others: int = 30, per: int = 3):
    """Coded labels of a crowd: experts (85-95% right), non-experts (65-75%), and a ring whose
    members give one item-dependent answer right 30% of the time. Returns (coded, ring ids)."""
    rng = np.random.default_rng(seed)
    acc = np.r_[rng.uniform(0.85, 0.95, experts), rng.uniform(0.65, 0.75, others), np.full(ring, 0.3)]
    n = len(acc)
    ring_ids = set(range(experts + others, n))
    truth = rng.choice(K, items, p=[0.45, 0.45, 0.07, 0.03])
    shared = np.where(rng.random(items) < 0.3, truth, (truth + rng.integers(1, K, items)) % K)
    rows = []
    for i in range(items):
        for w in rng.choice(n, per, replace=False):
            if w in ring_ids:
                x = shared[i]
            else:
                x = truth[i] if rng.random() < acc[w] else (truth[i] + rng.integers(1, K)) % K
            rows.append((i, int(w), int(x)))
    return np.array(rows), ring_ids, n


def crowd_fit(coded: np.ndarray, n_workers: int):
    """Plain Dawid-Skene on the coded labels (the fit the signals take their confusions from)."""
    return dawid_skene_fit_arrays(
        coded[:, 0], coded[:, 1], coded[:, 2], int(coded[:, 0].max()) + 1, n_workers, K, smoothing=0.01
    )


def crowd_signals(coded: np.ndarray, n_workers: int, **kw) -> tuple[list[PairEvidence], GroupScorer]:
    """The pairs' agreement evidence (``kw`` to :meth:`GroupScorer.pair_evidence`) and a group scorer,
    with the confusions of :func:`crowd_fit`."""
    fit = crowd_fit(coded, n_workers)
    confusion = np.asarray(fit.confusion)
    item, worker, answer = coded[:, 0], coded[:, 1], coded[:, 2]
    scorer = GroupScorer(item, worker, answer, confusion=confusion, priors=fit.priors)
    return scorer.pair_evidence(workers=list(range(n_workers)), **kw), scorer
