"""Integrity signals: speed, position bias, straight-lining, leave-one-out agreement and collusion.

Each function is a pure statistic over plain values or :class:`~annotate.quality.aggregation.Vote`
records; the quality services decide which records to pass (per project, per annotator) and what to
do with a flag. None of them suspends anyone on its own: they are evidence for staff and for the
reputation rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _stats

from annotate.quality.aggregation import Vote

Value = float | int | str | None

#: 1 / Phi^-1(3/4): scales the median absolute deviation to the standard deviation of a normal
#: distribution (Rousseeuw & Croux 1993), so robust z-scores read like ordinary ones.
MAD_TO_SD = 1.482602218505602


def _choice(vote: Vote) -> Value:
    return vote.choice


# --------------------------------------------------------------------------------------------
# Speed
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeedFlag:
    """Speed of one record against the others.

    ``log_z``: z-score of log(active seconds) with the mean and standard deviation of all records
    (Prolific's rule flags submissions "more than 3 SD faster than the mean"; on the log scale
    because response times are right-skewed, roughly log-normal). ``robust_z``: the same with the
    median and the MAD (scaled by 1.4826), which a few extreme records cannot mask (the classic SD
    grows with the very outliers it should catch); None when the MAD is 0. ``ratio_to_median``:
    seconds over the median seconds. ``flagged``: either z-score below ``-threshold``.
    """

    seconds: float
    ratio_to_median: float | None
    log_z: float | None
    robust_z: float | None
    flagged: bool


def speed_flags(
    active_seconds: Mapping[Hashable, float],
    *,
    threshold: float = 3.0,
    min_count: int = 10,
    floor_seconds: float = 1.0,
) -> dict[Hashable, SpeedFlag]:
    """Flag records (labels, or annotators' median times) whose active time is far below the rest.

    ``active_seconds`` maps a key to seconds; times below ``floor_seconds`` count as the floor
    (log 0 is undefined, and anything under a second is equally implausible). With fewer than
    ``min_count`` records there is no meaningful spread: nothing is flagged and the z-scores are
    None.
    """
    keys = list(active_seconds)
    secs = np.array([float(active_seconds[k]) for k in keys], dtype=np.float64)
    if len(keys) == 0:
        return {}
    median = float(np.median(secs))
    ratio = secs / median if median > 0 else np.full(len(secs), np.nan)
    if len(keys) < min_count:
        return {
            k: SpeedFlag(float(s), _finite(r), None, None, False)
            for k, s, r in zip(keys, secs, ratio, strict=True)
        }
    log_t = np.log(np.maximum(secs, floor_seconds))
    sd = float(log_t.std(ddof=1))
    log_z = (log_t - log_t.mean()) / sd if sd > 0 else np.zeros(len(keys))
    med = float(np.median(log_t))
    mad = float(np.median(np.abs(log_t - med))) * MAD_TO_SD
    robust = (log_t - med) / mad if mad > 0 else None
    out: dict[Hashable, SpeedFlag] = {}
    for idx, k in enumerate(keys):
        rz = float(robust[idx]) if robust is not None else None
        z = float(log_z[idx])
        flagged = z < -threshold or (rz is not None and rz < -threshold)
        out[k] = SpeedFlag(float(secs[idx]), _finite(ratio[idx]), z, rz, flagged)
    return out


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


# --------------------------------------------------------------------------------------------
# Position bias
# --------------------------------------------------------------------------------------------


def position_bias(first_shown_count: int, n: int) -> float:
    """Two-sided exact binomial test p-value of H0 "the first-shown response is chosen half the
    time" (``scipy.stats.binomtest``, p = 0.5), given how often an annotator chose the response
    shown first out of ``n`` decisive (A or B) choices. The queue shuffles the display order, so an
    honest annotator's first-shown share is 0.5 whatever the true preferences. 1.0 when n = 0."""
    if n < 0 or not 0 <= first_shown_count <= n:
        raise ValueError("need 0 <= first_shown_count <= n")
    if n == 0:
        return 1.0
    return float(_stats.binomtest(first_shown_count, n, 0.5, alternative="two-sided").pvalue)


# --------------------------------------------------------------------------------------------
# Straight-lining
# --------------------------------------------------------------------------------------------


def is_straight_lined(ratings: Sequence[Value], *, min_ratings: int = 3) -> bool | None:
    """True when every criterion rating of one label (all criteria of all responses) is the same
    value; None when the label has fewer than ``min_ratings`` ratings (two equal ratings are too
    common to mean anything)."""
    values = [r for r in ratings if r is not None]
    if len(values) < min_ratings:
        return None
    return len(set(values)) == 1


def straight_lining(labels_ratings: Iterable[Sequence[Value]], *, min_ratings: int = 3) -> float | None:
    """Share of an annotator's labels whose criteria ratings are all identical (survey research's
    "straight-lining", a sign of not reading; e.g. Kim et al. 2019, *Social Science Computer Review*).
    Labels with fewer than ``min_ratings`` ratings are not counted; None when none counts."""
    verdicts = [is_straight_lined(r, min_ratings=min_ratings) for r in labels_ratings]
    counted = [v for v in verdicts if v is not None]
    if not counted:
        return None
    return sum(counted) / len(counted)


# --------------------------------------------------------------------------------------------
# Agreement with the crowd, leaving the annotator out
# --------------------------------------------------------------------------------------------


@dataclass
class _Coded:
    item_idx: np.ndarray
    worker_idx: np.ndarray
    value_idx: np.ndarray
    workers: list[Hashable]
    n_items: int
    n_values: int


def _code(votes: Iterable[Vote], value: Callable[[Vote], Value]) -> _Coded:
    """Integer-code (item, worker, value), one vote per worker and item (the last one wins)."""
    items: dict[Hashable, int] = {}
    workers: dict[Hashable, int] = {}
    values: dict[Value, int] = {}
    cells: dict[tuple[int, int], int] = {}
    for v in votes:
        x = value(v)
        if x is None:
            continue
        i = items.setdefault(v.item, len(items))
        w = workers.setdefault(v.worker, len(workers))
        cells[(i, w)] = values.setdefault(x, len(values))
    keys = np.array(list(cells), dtype=np.int64).reshape(-1, 2)
    return _Coded(
        item_idx=keys[:, 0],
        worker_idx=keys[:, 1],
        value_idx=np.fromiter(cells.values(), dtype=np.int64, count=len(cells)),
        workers=list(workers),
        n_items=len(items),
        n_values=len(values),
    )


def _counts(c: _Coded) -> np.ndarray:
    flat = c.item_idx * c.n_values + c.value_idx
    return np.bincount(flat, minlength=c.n_items * c.n_values).reshape(c.n_items, c.n_values)


def _consensus_without(others: np.ndarray) -> np.ndarray:
    """Majority value of each row of counts, -1 where the row is empty or its maximum is shared."""
    top = others.max(axis=1)
    winners = (others == top[:, None]).sum(axis=1)
    z = others.argmax(axis=1)
    z[(top == 0) | (winners > 1)] = -1
    return z


def leave_one_out_agreement(
    votes: Iterable[Vote], *, value: Callable[[Vote], Value] = _choice
) -> dict[Hashable, float]:
    """Each annotator's agreement with the majority of the *other* annotators of the same items.

    Leaving the annotator out keeps their own vote from inflating their agreement (which matters
    most with 3 to 5 labels per item). Per label: 1 when the vote equals the others' majority; 1/m
    when it is one of m values tied for the majority; 0 otherwise. Items that only this annotator
    labelled do not count. Returns the mean per annotator; annotators with no countable label are
    left out. Vectorised: one ``bincount`` for the counts, one per-label subtraction.
    """
    c = _code(votes, value)
    if len(c.item_idx) == 0:
        return {}
    counts = _counts(c)
    n = len(c.item_idx)
    others = counts[c.item_idx].copy()
    others[np.arange(n), c.value_idx] -= 1
    top = others.max(axis=1)
    usable = top > 0
    n_top = (others == top[:, None]).sum(axis=1)
    mine = others[np.arange(n), c.value_idx]
    credit = np.where(mine == top, 1.0 / np.maximum(n_top, 1), 0.0)
    w = c.worker_idx[usable]
    total = np.bincount(w, weights=credit[usable], minlength=len(c.workers))
    seen = np.bincount(w, minlength=len(c.workers))
    return {c.workers[j]: float(total[j] / seen[j]) for j in range(len(c.workers)) if seen[j] > 0}


# --------------------------------------------------------------------------------------------
# Collusion
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollusionPair:
    """Two annotators who agree with each other more than their agreement with the crowd predicts.

    ``compared``: shared items where the others' majority is defined; ``agreed``: how many of those
    the two answered identically; ``expected``: the agreement rate predicted if they answered
    independently given the crowd; ``p_value``: one-sided binomial test (before the Bonferroni
    correction, which :func:`collusion_pairs` applies to decide)."""

    worker_a: Hashable
    worker_b: Hashable
    shared: int
    compared: int
    agreed: int
    expected: float
    p_value: float


def collusion_pairs(
    votes: Iterable[Vote],
    *,
    min_shared: int = 10,
    alpha: float = 0.001,
    value: Callable[[Vote], Value] = _choice,
    smoothing: float = 1.0,
) -> list[CollusionPair]:
    """Pairs whose mutual agreement is far above what their agreement with the crowd predicts.

    Statistic. For each annotator w, ``P_w(c | z)``: how often w answers c when the majority of the
    others says z (leave-one-out majority, ``smoothing`` pseudo-counts per cell). For a pair (a, b)
    with at least ``min_shared`` shared items, on each shared item i whose majority z_i without both
    of them is defined, independence given the crowd predicts agreement with probability
    ``e_i = sum_c P_a(c | z_i) P_b(c | z_i)``. This expectation already includes honest reasons to
    agree: two accurate experts agree often, two annotators who both always pick "A" agree always, so
    neither is flagged. Under H0 the number of agreements is Poisson-binomial; it is tested against
    Binomial(n, mean e_i) (one-sided, greater; the binomial has the larger variance, so the test is
    conservative). A pair is returned when its p-value is below ``alpha`` divided by the number of
    pairs tested (Bonferroni), most significant first.
    """
    c = _code(votes, value)
    if len(c.item_idx) == 0:
        return []
    k = c.n_values
    counts = _counts(c)
    n = len(c.item_idx)
    others = counts[c.item_idx].copy()
    others[np.arange(n), c.value_idx] -= 1
    z = _consensus_without(others)
    ok = z >= 0
    flat = (c.worker_idx[ok] * k + z[ok]) * k + c.value_idx[ok]
    conf = np.bincount(flat, minlength=len(c.workers) * k * k).reshape(len(c.workers), k, k) + smoothing
    conf /= conf.sum(axis=2, keepdims=True)

    by_item: dict[int, list[tuple[int, int]]] = {}
    for i, w, x in zip(c.item_idx.tolist(), c.worker_idx.tolist(), c.value_idx.tolist(), strict=True):
        by_item.setdefault(i, []).append((w, x))
    shared: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for i, raters in by_item.items():
        raters.sort()
        for p, (wa, xa) in enumerate(raters):
            for wb, xb in raters[p + 1 :]:
                shared.setdefault((wa, wb), []).append((i, xa, xb))

    tested: list[CollusionPair] = []
    for (wa, wb), rows in shared.items():
        if len(rows) < min_shared:
            continue
        arr = np.array(rows, dtype=np.int64)
        rest = counts[arr[:, 0]].copy()
        rest[np.arange(len(arr)), arr[:, 1]] -= 1
        rest[np.arange(len(arr)), arr[:, 2]] -= 1
        zz = _consensus_without(rest)
        use = zz >= 0
        if not use.any():
            continue
        expected = (conf[wa, zz[use], :] * conf[wb, zz[use], :]).sum(axis=1)
        agreed = int((arr[use, 1] == arr[use, 2]).sum())
        m = int(use.sum())
        e = float(expected.mean())
        p = float(_stats.binomtest(agreed, m, min(max(e, 1e-12), 1.0), alternative="greater").pvalue)
        tested.append(CollusionPair(c.workers[wa], c.workers[wb], len(rows), m, agreed, e, p))
    if not tested:
        return []
    cutoff = alpha / len(tested)
    return sorted((t for t in tested if t.p_value < cutoff), key=lambda t: t.p_value)
