"""The behavioural signals of the group graph: pure statistics over integer-coded labels and
submit times. :mod:`annotate.quality.groups` reads the data, adds the account signals (shared
credential files, shared log-in devices) and persists the groups.

**Agreement** (:meth:`GroupScorer.pair_evidence`). For a pair (a, b) and each item both answered, the
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
``window`` seconds of one of b's (the "close" labels) are counted, and compared with the mean
count when a's timeline is shifted by a few minutes (2, 4, ... 10 windows either way): the
same sessions at the same pace, without the lockstep. The test is the conditional binomial test
of equal Poisson means (given all close labels at lag 0 and at the 10 lags, each is at lag 0
with probability 1/11), one-sided, with a Bonferroni threshold ``alpha / n_pairs``. Two people
who merely work at the same time, however fast, close as often at the shifted lags; accounts
whose submits come in lockstep (one script, one person submitting for several accounts at once)
do not.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _stats

logger = logging.getLogger(__name__)

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


def _rho_mixture(ratio: np.ndarray, rho: np.ndarray, by: np.ndarray | None = None, n: int = 1) -> np.ndarray:
    """``log(mean over rho of prod((1 - rho) + rho * ratio))``: the e-value mixed over the grid of
    shared-answer rates, per group of ``by`` (``n`` groups), or over all of ``ratio``."""
    terms = np.log((1.0 - rho)[:, None] + rho[:, None] * ratio[None, :])
    if by is None:
        per_rho = terms.sum(axis=1, keepdims=True)
    else:
        per_rho = np.stack([np.bincount(by, weights=t, minlength=n) for t in terms])
    return _logsumexp(per_rho, axis=0) - math.log(len(rho))


def _one_answer(pos: np.ndarray, answers: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group of ``pos`` (``n`` groups) its smallest answer and whether all its answers are
    that one."""
    lo = np.full(n, k, dtype=np.int64)
    hi = np.full(n, -1, dtype=np.int64)
    np.minimum.at(lo, pos, answers)
    np.maximum.at(hi, pos, answers)
    return lo, lo == hi


# --------------------------------------------------------------------------------------------
# Submit timing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimingEvidence:
    """Labels of ``worker_a`` submitted within the window of one of ``worker_b``'s (``close``)
    against their mean number at shifted lags (``expected``);
    ``p_value``: the conditional binomial test, one-sided; flagged below ``threshold`` (alpha / pairs)."""

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


def _lag_test(close: int, expected: float, n_lags: int) -> float:
    """One-sided p-value of ``close`` close labels at lag 0 against ``n_lags`` shifted counts whose
    mean is ``expected``: if the lags are alike, lag 0 holds each of the ``close + shifted``
    close labels with probability ``1 / (n_lags + 1)`` (the conditional binomial test of equal
    Poisson means, which accounts for the shifted counts being a noisy estimate)."""
    shifted = int(round(expected * n_lags))
    return float(_stats.binom.sf(close - 1, close + shifted, 1.0 / (n_lags + 1)))


def _overlapping_pairs(first: np.ndarray, last: np.ndarray, reach: float) -> int:
    """Pairs of accounts whose active spans (widened by ``reach``) overlap: the Bonferroni count."""
    order = np.argsort(first, kind="stable")
    first, last = first[order], last[order]
    ends = np.searchsorted(first, last + reach, side="right")
    return int(np.maximum(ends - np.arange(len(first)) - 1, 0).sum())


PAIRS_PER_BLOCK = 1_000_000


def _window_bounds(t: np.ndarray, window: float, lag: float) -> tuple[np.ndarray, np.ndarray]:
    """For each submit (``t`` sorted) shifted by ``lag``: the range of submits within ``window``."""
    low = np.searchsorted(t, t + lag - window, side="left")
    return low, np.searchsorted(t, t + lag + window, side="right")


def _directed_close(
    t: np.ndarray,
    w: np.ndarray,
    window: float,
    lag: float,
    n_keys: int,
    span: tuple[np.ndarray, np.ndarray] | None,
) -> dict[int, int]:
    """For every directed pair (a, b), keyed ``a * n_keys + b``: how many of a's labels, shifted
    by ``lag``, have a label of b within ``window``; with ``span`` (per account, the earliest and
    latest time a label of a may have to count against b) only those labels. ``t`` sorted; one
    pass over all submits (each label against the submits in its window), in chunks."""
    lo, hi = _window_bounds(t, window, lag)
    found: list[np.ndarray] = []
    n = len(t)
    # Blocks of labels with at most PAIRS_PER_BLOCK (label, neighbour) pairs between them (a label
    # with more neighbours is a block of its own): memory stays bounded however dense the submits.
    start = 0
    cumulative = np.cumsum(hi - lo)
    while start < n:
        before = cumulative[start - 1] if start else 0
        stop = int(np.searchsorted(cumulative, before + PAIRS_PER_BLOCK, side="right"))
        stop = min(max(stop, start + 1), n)
        idx = np.arange(start, stop)
        start = stop
        counts = hi[idx] - lo[idx]
        src = np.repeat(idx, counts)
        if len(src) == 0:
            continue
        dst = np.repeat(lo[idx], counts) + (
            np.arange(len(src)) - np.repeat(np.cumsum(counts) - counts, counts)
        )
        keep = w[src] != w[dst]
        if span is not None:
            b = w[dst]
            keep &= (t[src] >= span[0][b]) & (t[src] <= span[1][b])
        src, dst = src[keep], dst[keep]
        found.append(np.unique((w[src] * n_keys + w[dst]) * n + src))
    if not found:
        return {}
    keys, counts = np.unique(np.unique(np.concatenate(found)) // n, return_counts=True)
    return dict(zip(keys.tolist(), counts.tolist(), strict=True))


def timing_evidence(
    times: dict[Hashable, Sequence[float]],
    *,
    window: float = 30.0,
    shifts: int = 5,
    alpha: float = 0.01,
    min_close: int = 5,
    max_close_pairs: int = 5_000_000,
) -> list[TimingEvidence]:
    """Pairs whose submits fall within ``window`` seconds of each other far more often than
    their activity predicts (see the module's docstring). ``times``: each account's submit times
    (epoch seconds). The count of a's labels with one of b's within ``window`` is compared with
    the mean count when a's timeline is shifted by 2, 4, ... ``2 * shifts`` windows either way
    (so within a few minutes: the same sessions, the same pace): two people who work at the
    same time, however fast, close at lag 0 as often as at the shifted lags; accounts whose
    submits come in lockstep close far more often at lag 0. The count is tested against the
    shifted ones (:func:`_lag_test`), the stronger direction of the pair, with a Bonferroni
    threshold over the pairs of accounts whose activity overlaps; pairs with fewer
    than ``min_close`` close labels are not reported.

    The work is one step per (submit, submit within ``window`` of it) at each lag. When the
    submits at lag 0 hold more than ``max_close_pairs`` such pairs (a burst, or labels imported
    with one timestamp), nearly everyone is close to everyone and timing tells no pair apart:
    the signal is skipped (empty result, logged) rather than spending memory and time that
    grow with the square of the burst."""
    keys = [k for k, v in times.items() if len(v) > 0]
    if len(keys) < 2:
        return []
    arrays = [np.sort(np.asarray(times[k], dtype=np.float64)) for k in keys]
    n_keys = len(keys)
    lags = [sign * 2.0 * window * step for step in range(1, shifts + 1) for sign in (-1, 1)]
    reach = 2.0 * window * shifts + window
    first = np.array([x[0] for x in arrays])
    last = np.array([x[-1] for x in arrays])
    n_pairs = _overlapping_pairs(first, last, reach)
    t = np.concatenate(arrays)
    w = np.concatenate([np.full(len(x), n, dtype=np.int64) for n, x in enumerate(arrays)])
    order = np.argsort(t, kind="stable")
    t, w = t[order], w[order]
    lo, hi = _window_bounds(t, window, 0.0)
    if int((hi - lo).sum()) > max_close_pairs:
        logger.warning("timing signal skipped: %d close pairs of submits", int((hi - lo).sum()))
        return []
    close_any = _directed_close(t, w, window, 0.0, n_keys, None)
    if not any(c >= min_close for c in close_any.values()):
        return []
    # Only the labels of a whose every shift stays inside b's active span count (near its ends a
    # shift would leave b's activity and make lag 0 look close by comparison).
    span = (first + reach, last - reach)
    close0 = _directed_close(t, w, window, 0.0, n_keys, span)
    shifted: dict[int, float] = defaultdict(float)
    for lag in lags:
        for key, count in _directed_close(t, w, window, lag, n_keys, span).items():
            shifted[key] += count / len(lags)
    best: dict[tuple[int, int], tuple[float, int, float]] = {}
    for key, close in close0.items():
        if close < min_close:
            continue
        a, b = divmod(key, n_keys)
        expected = shifted.get(key, 0.0)
        pair = (min(a, b), max(a, b))
        if pair not in best or close - expected > best[pair][0]:
            best[pair] = (close - expected, close, expected)
    candidates = [(keys[i], keys[j], close, expected) for (i, j), (_x, close, expected) in best.items()]
    if not candidates:
        return []
    threshold = alpha / max(n_pairs, 1)
    out = [
        TimingEvidence(
            a,
            b,
            len(times[a]),
            len(times[b]),
            close,
            expected,
            _lag_test(close, expected, len(lags)),
            threshold,
        )
        for a, b, close, expected in candidates
        if close >= min_close
    ]
    return sorted(out, key=lambda t: t.p_value)


# --------------------------------------------------------------------------------------------
# Agreement of a whole group
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupEvidence:
    """The agreement evidence of a whole group (:class:`GroupScorer`): ``members``, the ``items``
    where two or more of them answered, ``agreed`` (all of them alike), ``log_e`` (nats) and the
    ``threshold`` for a group of its size."""

    members: tuple[Hashable, ...]
    items: int
    agreed: int
    log_e: float
    threshold: float

    @property
    def flagged(self) -> bool:
        return self.log_e >= self.threshold


def group_threshold(n_workers: int, size: int, *, alpha: float, max_size: int) -> float:
    """The log e-value a group of ``size`` among ``n_workers`` must reach: Bonferroni over every
    group of that size, ``C(n_workers, size)``, with ``alpha`` shared evenly among the sizes
    3 .. ``max_size``. Under H0 the chance that any independent group is flagged is at most
    ``alpha`` however the candidates were found."""
    n, s = max(n_workers, size), size
    log_groups = math.lgamma(n + 1) - math.lgamma(s + 1) - math.lgamma(n - s + 1)
    return log_groups + math.log(max(max_size - 2, 1) / alpha)


class GroupScorer:
    """The agreement e-value of any group of workers over one set of labels (see
    :meth:`log_e`); the work per group is its members' labels."""

    def __init__(
        self,
        item_idx: np.ndarray,
        worker_idx: np.ndarray,
        class_idx: np.ndarray,
        *,
        confusion: np.ndarray,
        priors: np.ndarray,
        gold: np.ndarray | None = None,
        rho_grid: Sequence[float] = RHO_GRID,
    ) -> None:
        self.item = np.asarray(item_idx, dtype=np.int64)
        self.worker = np.asarray(worker_idx, dtype=np.int64)
        self.klass = np.asarray(class_idx, dtype=np.int64)
        self.confusion = confusion
        self.rho = np.asarray(rho_grid, dtype=np.float64)
        n_items = int(self.item.max()) + 1 if len(self.item) else 0
        k = confusion.shape[1]
        self.contrib = np.log(np.clip(confusion, 1e-6, 1.0))[self.worker, :, self.klass]
        self.log_item = np.log(np.maximum(priors, 1e-300))[None, :] + np.zeros((n_items, k))
        np.add.at(self.log_item, self.item, self.contrib)
        self.gold = None if gold is None else np.asarray(gold, dtype=np.int64)
        order = np.argsort(self.worker, kind="stable")
        bounds = np.searchsorted(self.worker[order], np.arange(confusion.shape[0] + 1))
        self.labels_of = [order[bounds[w] : bounds[w + 1]] for w in range(confusion.shape[0])]

    def _known_truth(self, pi: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``pi`` (per item, the truth's posterior) with each gold item's truth set."""
        if self.gold is not None:
            truth = self.gold[items]
            known = truth >= 0
            pi[known] = 0.0
            pi[known, truth[known]] = 1.0
        return pi

    def pair_evidence(
        self, *, workers: Sequence[Hashable], alpha: float = 0.01, min_log_e: float = 0.0
    ) -> list[PairEvidence]:
        """The agreement e-value of every pair of workers sharing an item (see the module's
        docstring); one label per (item, worker) is expected. ``workers`` name the worker
        indices. Returns the pairs with ``log_e`` above ``min_log_e`` (all of them, with the
        threshold, so callers see near misses), most evident first."""
        item_idx, worker_idx, class_idx, confusion = self.item, self.worker, self.klass, self.confusion
        if len(item_idx) == 0:
            return []
        contrib, log_item = self.contrib, self.log_item
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
        pi = self._known_truth(np.exp(log_pi), items)
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
        log_e = _rho_mixture(ratio, self.rho, inverse, n_pairs)
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

    def log_e(self, members: Sequence[int]) -> tuple[float, int, int]:
        """The group's log e-value (nats), the items where two or more members answered, and
        those where all of them gave one answer. Per such item the truth is estimated from
        everyone outside the group on it (``pi``); under H0 the members answer independently
        given the truth, each with their fitted confusion; under H1, with probability ``rho``
        all of them give one shared answer drawn from their mean confusion. The ratio of one
        item, ``(1 - rho) + rho * [all equal x] * sum_t pi(t) Cbar[t, x] /
        sum_t pi(t) prod_j C_j[t, x]``, has expectation 1 under H0; the product over the
        items is an e-value, mixed over the grid of ``rho``. For two members it is
        :meth:`pair_evidence`'s."""
        idx = np.concatenate([self.labels_of[int(m)] for m in members]) if len(members) else np.array([], int)
        if len(idx) < 2:
            return 0.0, 0, 0
        items = self.item[idx]
        uniq, pos, counts = np.unique(items, return_inverse=True, return_counts=True)
        keep = counts[pos] >= 2
        if not keep.any():
            return 0.0, 0, 0
        idx, items = idx[keep], items[keep]
        uniq, pos = np.unique(items, return_inverse=True)
        n, k = len(uniq), self.log_item.shape[1]
        log_joint = np.zeros((n, k))  # sum_j log C_j[t, x_j]
        np.add.at(log_joint, pos, self.contrib[idx])
        log_pi = self.log_item[uniq] - log_joint
        log_pi -= _logsumexp(log_pi, axis=1)[:, None]
        pi = self._known_truth(np.exp(log_pi), uniq)
        x = self.klass[idx]
        mean_c = np.zeros((n, k))
        np.add.at(mean_c, pos, self.confusion[self.worker[idx], :, x])
        mean_c /= np.bincount(pos, minlength=n)[:, None]
        _, agree = _one_answer(pos, x, n, k)
        p0 = np.maximum((pi * np.exp(log_joint)).sum(axis=1), 1e-300)
        ratio = np.where(agree, (pi * mean_c).sum(axis=1) / p0, 0.0)
        return float(_rho_mixture(ratio, self.rho)[0]), n, int(agree.sum())

    def member_log_e(self, member: int, rest: Sequence[int]) -> float:
        """The e-value (log, nats) that ``member`` answers with ``rest`` rather than on its own:
        per item where it and some of ``rest`` answered and those of ``rest`` gave one answer
        ``y``, the ratio ``(1 - rho) + rho * [x = y] / q(y)``, where ``q(y)`` is the chance the
        member's fitted confusion gives ``y`` given everyone else's labels on the item (the
        truth's posterior without the member's label). Agreeing on the answer everyone expects
        is worth little (``q`` near 1); agreeing on one only the group gave is worth a lot. Its
        expectation is 1 when the member answers independently given the truth, whoever
        ``rest`` is."""
        mine = self.labels_of[int(member)]
        others = np.concatenate([self.labels_of[int(m)] for m in rest]) if len(rest) else np.array([], int)
        if not len(mine) or not len(others):
            return 0.0
        items_o = self.item[others]
        shared, at_mine, _ = np.intersect1d(self.item[mine], items_o, return_indices=True)
        if not len(shared):
            return 0.0
        # the rest's answer on each shared item, when they gave one
        uniq, pos = np.unique(items_o, return_inverse=True)
        k = self.log_item.shape[1]
        lo, alike = _one_answer(pos, self.klass[others], len(uniq), k)
        where = np.searchsorted(uniq, shared)
        one_answer = alike[where]
        labels = mine[at_mine][one_answer]
        y = lo[where][one_answer]
        if not len(labels):
            return 0.0
        log_pi = self.log_item[self.item[labels]] - self.contrib[labels]
        log_pi -= _logsumexp(log_pi, axis=1)[:, None]
        q = (np.exp(log_pi) * self.confusion[int(member)][:, y].T).sum(axis=1)
        ratio = np.where(self.klass[labels] == y, 1.0 / np.maximum(q, 1e-12), 0.0)
        return float(_rho_mixture(ratio, self.rho)[0])


def members_answering_together(
    scorer: GroupScorer, group: frozenset[int], *, n_workers: int, alpha: float
) -> frozenset[int]:
    """The members of ``group`` whose own answers go with the rest's beyond ``log(n / alpha)``
    (each against all the others, once)."""
    floor = math.log(max(n_workers, 1) / alpha)
    return frozenset(m for m in group if scorer.member_log_e(m, sorted(group - {m})) >= floor)


def agreement_groups(
    scorer: GroupScorer,
    pairs: Sequence[PairEvidence],
    *,
    n_workers: int,
    alpha: float = 0.01,
    max_size: int = 12,
    seeds: int = 30,
    min_seed_log_e: float = 1.0,
    candidates: int = 12,
) -> list[GroupEvidence]:
    """Groups of three or more whose agreement e-value (:meth:`GroupScorer.log_e`) reaches
    :func:`group_threshold`. The pairs' evidence (workers as indices) guides the search: from
    each of the ``seeds`` most evident pairs, the group grows by the partner (among the
    ``candidates`` with the most pair evidence with its members) that most raises its margin
    over the threshold, while one does, then drops any member whose leaving raises it. The
    threshold counts every group of the size, so the search may be greedy: it decides which
    groups are scored, not how they are judged. Returns the flagged groups, most evident first."""
    partners: dict[int, dict[int, float]] = defaultdict(dict)
    for p in pairs:
        if p.log_e > 0:
            partners[int(p.worker_a)][int(p.worker_b)] = p.log_e
            partners[int(p.worker_b)][int(p.worker_a)] = p.log_e
    starts = [p for p in pairs if p.log_e >= min_seed_log_e][:seeds]

    def margin(group: frozenset[int]) -> tuple[float, float]:
        log_e = scorer.log_e(sorted(group))[0]
        return log_e - group_threshold(n_workers, len(group), alpha=alpha, max_size=max_size), log_e

    found: dict[frozenset[int], float] = {}
    for seed in starts:
        group = frozenset((int(seed.worker_a), int(seed.worker_b)))
        if any(group <= g for g in found):
            continue
        best = -math.inf
        while len(group) < max_size:
            near: dict[int, float] = defaultdict(float)
            for m in group:
                for w, e in partners[m].items():
                    if w not in group:
                        near[w] += e
            tried = sorted(near, key=lambda w: -near[w])[:candidates]
            scored = [(margin(group | {w})[0], w) for w in tried]
            if not scored:
                break
            top, w = max(scored)
            if top <= best:
                break
            group, best = group | {w}, top
        while len(group) > 3:
            top, m = max((margin(group - {m})[0], m) for m in group)
            if top <= best:
                break
            group, best = group - {m}, top
        if len(group) >= 3 and best >= 0:
            group = members_answering_together(scorer, group, n_workers=n_workers, alpha=alpha)
            best = margin(group)[0] if len(group) >= 3 else -math.inf
        if len(group) >= 3 and best >= 0:
            found[group] = best
    out = []
    for group in sorted(found, key=lambda g: -found[g]):
        if any(group < other for other in found):
            continue
        log_e, items, agreed = scorer.log_e(sorted(group))
        out.append(
            GroupEvidence(
                tuple(sorted(group)),
                items,
                agreed,
                log_e,
                group_threshold(n_workers, len(group), alpha=alpha, max_size=max_size),
            )
        )
    return out
