"""The behavioural signals of the group graph: pure statistics over integer-coded labels and
submit times. :mod:`annotate.quality.groups` reads the data, adds the account signals (shared
credential files, shared log-in devices) and persists the groups.

**Agreement** (:func:`agreement_evidence`). For a pair (a, b) and each item both answered, the
truth is estimated from everyone *else* on the item (the fitted confusions of the other
annotators and the class priors; a gold item's truth is known): ``pi(t)``. Under H0 (a and b
answer independently given the truth, each with their own fitted confusion ``C_a``, ``C_b``)
the pair's answers have probability ``P0(x, y) = sum_t pi(t) C_a[t, x] C_b[t, y]``. Under H1
(with probability ``rho`` the two give one shared answer, drawn from their mean confusion
``C = (C_a + C_b) / 2``; otherwise they answer independently) the likelihood ratio of one item is
``(1 - rho) + rho * [x = y] * sum_t pi(t) C[t, x] / P0(x, x)``. Its expectation under H0 is 1, so
the product over the pair's shared items is an e-value (a test martingale in the number of
shared items: Ville's inequality holds at every refit, not only at a fixed sample size); the
pair's evidence is the mean of these products over a grid of ``rho`` (a mixture, itself an
e-value). Under H0, ``P(E >= n_pairs / alpha) <= alpha / n_pairs``: with the threshold
``log(n_pairs / alpha)`` the chance that *any* independent pair of the project is flagged is at
most ``alpha`` (union bound over the pairs that share an item). Two accurate experts agreeing
on the truth give a ratio close to ``1 / accuracy`` per item (about 1.1): never flagged. Two
accounts that agree on wrong answers which everyone else and their own accuracies make
unlikely gain about one nat per shared item.

**Submit timing** (:func:`timing_evidence`). For a pair, the labels of a submitted within
``window`` seconds of one of b's (the "close" labels) are counted. Conditioning on each
account's activity per hour, independence predicts ``sum_h n_a,h * min(1, n_b,h * 2 * window /
3600)`` such labels; the count is tested against a Poisson law with that mean (one-sided), with
a Bonferroni threshold ``alpha / n_pairs``. Two people who merely work the same hours are
accounted for by the per-hour condition; accounts driven by one script or one person in turn
are not.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _stats

#: The mixture's grid of shared-answer rates.
RHO_GRID = (0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class PairEvidence:
    """The agreement evidence of one pair: ``log_e`` (nats; flagged at ``threshold``),
    ``shared`` items, ``agreed`` of them, and ``surprising``: agreements that independence made
    less likely than 1 in 4 (each worth more than a nat)."""

    worker_a: Hashable
    worker_b: Hashable
    shared: int
    agreed: int
    surprising: int
    log_e: float
    threshold: float

    @property
    def flagged(self) -> bool:
        return self.log_e >= self.threshold


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def agreement_evidence(
    item_idx: np.ndarray,
    worker_idx: np.ndarray,
    class_idx: np.ndarray,
    *,
    confusion: np.ndarray,
    priors: np.ndarray,
    workers: Sequence[Hashable],
    gold: np.ndarray | None = None,
    alpha: float = 0.01,
    rho_grid: Sequence[float] = RHO_GRID,
    min_log_e: float = 0.0,
) -> list[PairEvidence]:
    """The agreement e-value of every pair of workers sharing an item (see the module's
    docstring); one label per (item, worker) is expected. ``confusion``: ``n_workers x K x K``
    (rows: truth); ``gold``: per item the true class or -1. Returns the pairs with ``log_e`` above
    ``min_log_e`` (all of them, with the threshold, so callers see near misses), most evident
    first."""
    item_idx = np.asarray(item_idx, dtype=np.int64)
    worker_idx = np.asarray(worker_idx, dtype=np.int64)
    class_idx = np.asarray(class_idx, dtype=np.int64)
    if len(item_idx) == 0:
        return []
    n_items = int(item_idx.max()) + 1
    k = confusion.shape[1]
    log_c = np.log(np.clip(confusion, 1e-6, 1.0))
    contrib = log_c[worker_idx, :, class_idx]  # per label, log C_w[t, x] for every t
    log_item = np.log(np.maximum(priors, 1e-300))[None, :] + np.zeros((n_items, k))
    np.add.at(log_item, item_idx, contrib)

    # every pair of labels on one item (labels sorted by item; each item's block is small)
    order = np.argsort(item_idx, kind="stable")
    it_sorted = item_idx[order]
    starts = np.flatnonzero(np.r_[True, it_sorted[1:] != it_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    for size in np.unique(ends - starts):
        if size < 2:
            continue
        blocks = starts[(ends - starts) == size]
        ia, ib = np.triu_indices(int(size), 1)
        first.append(order[(blocks[:, None] + ia[None, :]).ravel()])
        second.append(order[(blocks[:, None] + ib[None, :]).ravel()])
    if not first:
        return []
    la, lb = np.concatenate(first), np.concatenate(second)
    swap = worker_idx[la] > worker_idx[lb]
    la, lb = np.where(swap, lb, la), np.where(swap, la, lb)
    items = item_idx[la]
    wa, wb, xa, xb = worker_idx[la], worker_idx[lb], class_idx[la], class_idx[lb]

    log_pi = log_item[items] - contrib[la] - contrib[lb]
    log_pi -= _logsumexp(log_pi, axis=1)[:, None]
    pi = np.exp(log_pi)
    if gold is not None:
        truth = np.asarray(gold, dtype=np.int64)[items]
        known = truth >= 0
        pi[known] = 0.0
        pi[known, truth[known]] = 1.0
    ca = confusion[wa, :, xa]  # n_pairs x K: C_a[t, x_a]
    cb = confusion[wb, :, xb]
    p0 = np.maximum((pi * ca * cb).sum(axis=1), 1e-12)
    agree = xa == xb
    shared_answer = (pi * (ca + cb) / 2.0).sum(axis=1)
    ratio = np.where(agree, shared_answer / p0, 0.0)

    n_workers = confusion.shape[0]
    key = wa * n_workers + wb
    uniq, inverse = np.unique(key, return_inverse=True)
    n_pairs = len(uniq)
    threshold = math.log(n_pairs / alpha)
    per_rho = np.stack(
        [
            np.bincount(inverse, weights=np.log((1.0 - rho) + rho * ratio), minlength=n_pairs)
            for rho in rho_grid
        ]
    )
    log_e = _logsumexp(per_rho, axis=0) - math.log(len(rho_grid))
    shared = np.bincount(inverse, minlength=n_pairs)
    agreed = np.bincount(inverse, weights=agree.astype(np.float64), minlength=n_pairs)
    surprising = np.bincount(inverse, weights=(ratio > 4.0).astype(np.float64), minlength=n_pairs)
    out = [
        PairEvidence(
            workers[int(u // n_workers)],
            workers[int(u % n_workers)],
            int(shared[j]),
            int(agreed[j]),
            int(surprising[j]),
            float(log_e[j]),
            threshold,
        )
        for j, u in enumerate(uniq.tolist())
        if log_e[j] > min_log_e
    ]
    return sorted(out, key=lambda p: -p.log_e)


# --------------------------------------------------------------------------------------------
# Submit timing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimingEvidence:
    """Labels of ``worker_a`` submitted within the window of one of ``worker_b``'s (``close``)
    against the number the two accounts' hourly activity predicts (``expected``);
    ``p_value``: Poisson, one-sided; flagged below ``threshold`` (alpha / pairs)."""

    worker_a: Hashable
    worker_b: Hashable
    labels_a: int
    labels_b: int
    close: int
    expected: float
    p_value: float
    threshold: float

    @property
    def flagged(self) -> bool:
        return self.p_value < self.threshold


def timing_evidence(
    times: dict[Hashable, Sequence[float]],
    *,
    window: float = 30.0,
    alpha: float = 0.01,
    min_close: int = 5,
) -> list[TimingEvidence]:
    """Pairs whose submits fall within ``window`` seconds of each other far more often than
    their activity per hour predicts (see the module's docstring). ``times``: each account's
    submit times (epoch seconds). Pairs with fewer than ``min_close`` close labels are not
    reported (nor flagged); the Bonferroni count is every pair of accounts active in a common
    hour."""
    keys = [k for k, v in times.items() if len(v) > 0]
    arrays = {k: np.sort(np.asarray(times[k], dtype=np.float64)) for k in keys}
    hours = {k: np.floor(arrays[k] / 3600.0).astype(np.int64) for k in keys}
    hour_counts = {k: dict(zip(*np.unique(hours[k], return_counts=True), strict=True)) for k in keys}
    candidates: list[tuple[Hashable, Hashable, int, float]] = []
    n_pairs = 0
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            common = hour_counts[a].keys() & hour_counts[b].keys()
            if not common:
                continue
            n_pairs += 1
            tb = arrays[b]
            ta = arrays[a]
            pos = np.searchsorted(tb, ta)
            left = np.abs(ta - tb[np.maximum(pos - 1, 0)])
            right = np.abs(tb[np.minimum(pos, len(tb) - 1)] - ta)
            close = int((np.minimum(left, right) <= window).sum())
            if close < min_close:
                continue
            expected = sum(
                hour_counts[a][h] * min(1.0, hour_counts[b][h] * 2.0 * window / 3600.0) for h in common
            )
            candidates.append((a, b, close, float(expected)))
    if not candidates:
        return []
    threshold = alpha / n_pairs
    out = [
        TimingEvidence(
            a,
            b,
            len(arrays[a]),
            len(arrays[b]),
            close,
            expected,
            float(_stats.poisson.sf(close - 1, max(expected, 1e-9))),
            threshold,
        )
        for a, b, close, expected in candidates
    ]
    return sorted(out, key=lambda t: t.p_value)
