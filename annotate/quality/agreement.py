"""Inter-annotator agreement: Krippendorff's alpha (with bootstrap intervals), Fleiss' and Cohen's kappa.

Which level for which field (Krippendorff 2011, section "Metric differences"):

* the pairwise choice (A / B / tie / both_bad) is nominal;
* the signed strength (:func:`signed_strength`: +level for A, -level for B, 0 for a tie) is ordinal:
  the scale is ordered but its steps are not known to be equal;
* Likert criteria are ordinal (or interval when the project declares equal steps).

Point estimates of alpha come from the ``krippendorff`` package; the bootstrap here recomputes alpha
from per-unit coincidence matrices (the same formula, checked against the package in the tests), which
is what makes a thousand resamples a few matrix products instead of a thousand package calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Literal

import krippendorff as _krippendorff
import numpy as np
from statsmodels.stats import inter_rater as _inter_rater

from annotate.quality.aggregation import Vote

Level = Literal["nominal", "ordinal", "interval"]
Value = float | int | str | None


def signed_strength(vote: Vote) -> float | None:
    """The vote on one signed ordinal scale: ``+strength`` for A, ``-strength`` for B, 0 for a tie,
    None for both_bad or a missing strength (not on the scale)."""
    if vote.choice == "tie":
        return 0.0
    if vote.strength is None or vote.choice not in ("A", "B"):
        return None
    return float(vote.strength) if vote.choice == "A" else -float(vote.strength)


def choice_value(vote: Vote) -> str | None:
    """The nominal choice of a vote (the default ``value`` for choice agreement)."""
    return vote.choice


def reliability_matrix(
    votes: Iterable[Vote], value: Callable[[Vote], Value]
) -> tuple[np.ndarray, list[Hashable], list[Hashable]]:
    """Raters x units matrix of values (NaN = missing), as ``krippendorff.alpha`` takes it.

    Returns ``(matrix, workers, items)`` with row ``r`` for ``workers[r]`` and column ``u`` for
    ``items[u]`` (order of first appearance). Numeric values are kept; when any value is a string, all
    values are coded as the index of their ``str`` in sorted order (meaningful for nominal alpha only).
    A vote whose value is None is missing; a worker's later vote on the same item replaces the earlier.
    """
    worker_of: dict[Hashable, int] = {}
    item_of: dict[Hashable, int] = {}
    cells: dict[tuple[int, int], Value] = {}
    for v in votes:
        x = value(v)
        if x is None or (isinstance(x, float) and math.isnan(x)):
            continue
        r = worker_of.setdefault(v.worker, len(worker_of))
        u = item_of.setdefault(v.item, len(item_of))
        cells[(r, u)] = x
    matrix = np.full((len(worker_of), len(item_of)), np.nan)
    if cells:
        if any(isinstance(x, str) for x in cells.values()):
            codes = {s: float(k) for k, s in enumerate(sorted({str(x) for x in cells.values()}))}
            for (r, u), x in cells.items():
                matrix[r, u] = codes[str(x)]
        else:
            for (r, u), x in cells.items():
                matrix[r, u] = float(x)  # type: ignore[arg-type]
    return matrix, list(worker_of), list(item_of)


def krippendorff_alpha(matrix: np.ndarray, level: Level) -> float | None:
    """Krippendorff's alpha of a raters x units matrix (NaN = missing) via the ``krippendorff`` package.

    None when alpha is undefined: no unit has two values (nothing pairable: e.g. one rater per
    unit, or empty input), or all pairable values are equal (the expected disagreement is 0; the
    package refuses with "more than one value in the domain" and we report None rather than 1).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.size == 0 or not _has_pairable_unit(matrix):
        return None
    try:
        alpha = float(_krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))
    except ValueError:
        return None
    return alpha if math.isfinite(alpha) else None


def _has_pairable_unit(matrix: np.ndarray) -> bool:
    return bool(((~np.isnan(matrix)).sum(axis=0) >= 2).any())


def unit_coincidences(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit coincidence matrices (Krippendorff 2011, section C): for unit u with m_u >= 2 values,
    ``o_u[c, k] = n_uc (n_uk - [c == k]) / (m_u - 1)``. Their sum over units is the coincidence matrix.

    Returns ``(o, values)``: ``o`` is (pairable units, V, V) and ``values`` the V distinct values.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    present = ~np.isnan(matrix)
    values = np.unique(matrix[present])
    m_u = present.sum(axis=0)
    cols = matrix[:, m_u >= 2]
    n_uv = np.stack([(cols == val).sum(axis=0) for val in values], axis=1).astype(np.float64)
    m = n_uv.sum(axis=1)
    o = (n_uv[:, :, None] * n_uv[:, None, :] - n_uv[:, :, None] * np.eye(len(values))) / (m - 1)[
        :, None, None
    ]
    return o, values


def _alpha_from_coincidences(o: np.ndarray, values: np.ndarray, level: Level) -> np.ndarray:
    """Alpha for a stack of coincidence matrices ``o`` (B, V, V): ``1 - (n - 1) sum o_ck d_ck /
    sum n_c n_k d_ck`` with Krippendorff's (2011) metric differences d for the level. NaN where the
    expected disagreement is 0."""
    n_c = o.sum(axis=2)  # (B, V)
    n = n_c.sum(axis=1)
    v = len(values)
    if level == "nominal":
        delta = np.broadcast_to(1.0 - np.eye(v), o.shape)
    elif level == "interval":
        delta = np.broadcast_to((values[:, None] - values[None, :]) ** 2, o.shape)
    elif level == "ordinal":
        # d_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2 over the ranks of the values
        cum = np.cumsum(n_c, axis=1)
        lo = np.minimum.outer(np.arange(v), np.arange(v))
        hi = np.maximum.outer(np.arange(v), np.arange(v))
        between = cum[:, hi] - cum[:, lo] + n_c[:, lo]
        delta = (between - (n_c[:, :, None] + n_c[:, None, :]) / 2.0) ** 2
    else:
        raise ValueError(f"unknown level {level!r}")
    d_o = (o * delta).sum(axis=(1, 2))
    d_e = (n_c[:, :, None] * n_c[:, None, :] * delta).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (n - 1.0) * d_o / d_e
    alpha[~(d_e > 0)] = np.nan
    return alpha


def alpha_from_matrix(matrix: np.ndarray, level: Level) -> float | None:
    """Alpha computed here from the coincidence matrix (the bootstrap's formula); equals
    :func:`krippendorff_alpha` (tested on the published example)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.size == 0 or not _has_pairable_unit(matrix):
        return None
    o, values = unit_coincidences(matrix)
    alpha = float(_alpha_from_coincidences(o.sum(axis=0)[None], values, level)[0])
    return alpha if math.isfinite(alpha) else None


def alpha_bootstrap(
    matrix: np.ndarray,
    level: Level,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> tuple[float | None, float | None, float | None]:
    """Alpha with a bootstrap percentile interval, resampling units.

    Method: the units (items) are the sampled entities, so each replicate draws as many pairable
    units as there are, with replacement (multinomial weights), and recomputes alpha from the
    weighted sum of the units' coincidence matrices; the interval is the ``(1 - ci) / 2`` and
    ``(1 + ci) / 2`` percentiles of the replicates (Efron & Tibshirani 1993, ch. 13). This differs
    from Hayes & Krippendorff (2007), who resample pairs of values; resampling whole units keeps
    the dependence between the values of one item. Replicates with no expected disagreement (all
    values equal) are left out. Seeded: the same data give the same interval.

    Returns ``(alpha, low, high)``; alpha from the ``krippendorff`` package, None where undefined.
    """
    alpha = krippendorff_alpha(matrix, level)
    if alpha is None:
        return None, None, None
    o, values = unit_coincidences(np.asarray(matrix, dtype=np.float64))
    n_units = o.shape[0]
    flat = o.reshape(n_units, -1)
    rng = np.random.default_rng(seed)
    replicates = []
    chunk = max(1, min(n_boot, 2_000_000 // max(n_units, 1)))  # bounds memory of the weight matrix
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        # multinomial resampling weights: how often each unit is drawn (n draws with replacement);
        # drawn as indexes and counted, which is much faster than rng.multinomial over many units
        drawn = rng.integers(0, n_units, size=(b, n_units)) + (np.arange(b) * n_units)[:, None]
        weights = np.bincount(drawn.ravel(), minlength=b * n_units).reshape(b, n_units).astype(np.float64)
        coinc = (weights @ flat).reshape(b, len(values), len(values))
        replicates.append(_alpha_from_coincidences(coinc, values, level))
        done += b
    reps = np.concatenate(replicates)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return alpha, None, None
    tail = (1.0 - ci) / 2.0 * 100.0
    low, high = np.percentile(reps, [tail, 100.0 - tail])
    return alpha, float(low), float(high)


def category_counts(
    votes: Iterable[Vote],
    value: Callable[[Vote], Value],
    *,
    categories: Sequence[Value] | None = None,
) -> tuple[np.ndarray, list[Hashable], list[Value]]:
    """Items x categories matrix of rater counts (Fleiss' table). Returns ``(counts, items,
    categories)``; categories default to the sorted distinct values."""
    per_item: dict[Hashable, list[Value]] = {}
    for v in votes:
        x = value(v)
        if x is not None:
            per_item.setdefault(v.item, []).append(x)
    cats = (
        list(categories)
        if categories is not None
        else sorted({x for xs in per_item.values() for x in xs}, key=str)
    )
    index = {c: k for k, c in enumerate(cats)}
    counts = np.zeros((len(per_item), len(cats)))
    for i, xs in enumerate(per_item.values()):
        for x in xs:
            if x in index:
                counts[i, index[x]] += 1
    return counts, list(per_item), cats


def fleiss_table(votes: Iterable[Vote], value: Callable[[Vote], Value]) -> np.ndarray:
    """Fleiss' table restricted to the items with the most common number of raters (Fleiss' kappa
    assumes the same number per item); ties between counts go to the larger count."""
    counts, _, _ = category_counts(votes, value)
    if counts.size == 0:
        return counts
    per_item = counts.sum(axis=1).astype(int)
    sizes, freq = np.unique(per_item, return_counts=True)
    modal = sizes[freq == freq.max()].max()
    return counts[per_item == modal]


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' (1971) kappa of an items x categories table of rater counts, via statsmodels.

    None when undefined: no items, fewer than two raters per item, unequal numbers of raters per item
    (Fleiss' formula assumes the same number; use :func:`fleiss_table`), or every rating in one
    category (chance agreement 1).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] == 0 or counts.shape[1] == 0:
        return None
    per_item = counts.sum(axis=1)
    if per_item[0] < 2 or not np.allclose(per_item, per_item[0]):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = float(_inter_rater.fleiss_kappa(counts, method="fleiss"))
    return kappa if math.isfinite(kappa) else None


def cohen_kappa(pairs: Sequence[tuple[Value, Value]]) -> float | None:
    """Cohen's (1960) kappa of paired nominal ratings: ``(p_o - p_e) / (1 - p_e)`` with p_o the
    observed agreement and p_e = sum_c p1(c) p2(c) from each rater's own marginals.

    Written out (five lines) rather than taken from scikit-learn, which is not a runtime
    dependency; statsmodels' ``cohens_kappa`` wants a contingency table object per pair, which costs
    more than the formula when a project has thousands of pairs. Equal to both (tested).
    None when undefined (no pairs, or both raters always used the same single category: p_e = 1).
    """
    n = len(pairs)
    if n == 0:
        return None
    p_o = sum(a == b for a, b in pairs) / n
    first: dict[Value, int] = {}
    second: dict[Value, int] = {}
    for a, b in pairs:
        first[a] = first.get(a, 0) + 1
        second[b] = second.get(b, 0) + 1
    p_e = sum(first[c] * second.get(c, 0) for c in first) / (n * n)
    if math.isclose(p_e, 1.0):
        return None
    return (p_o - p_e) / (1.0 - p_e)


def cohen_kappa_pairs(
    votes: Iterable[Vote],
    value: Callable[[Vote], Value],
    *,
    min_shared: int = 10,
) -> list[tuple[Hashable, Hashable, float | None, int]]:
    """Cohen's kappa for every pair of annotators with at least ``min_shared`` items in common.

    Returns ``(worker1, worker2, kappa, n_shared)`` tuples, workers in order of first appearance;
    kappa is None where undefined (:func:`cohen_kappa`). A worker's later vote on an item replaces an
    earlier one.
    """
    order: dict[Hashable, int] = {}
    by_item: dict[Hashable, dict[Hashable, Value]] = {}
    for v in votes:
        x = value(v)
        if x is None:
            continue
        order.setdefault(v.worker, len(order))
        by_item.setdefault(v.item, {})[v.worker] = x
    shared: dict[tuple[Hashable, Hashable], list[tuple[Value, Value]]] = {}
    for ratings in by_item.values():
        raters = sorted(ratings, key=order.__getitem__)
        for a_pos, w1 in enumerate(raters):
            for w2 in raters[a_pos + 1 :]:
                shared.setdefault((w1, w2), []).append((ratings[w1], ratings[w2]))
    out = [
        (w1, w2, cohen_kappa(pairs), len(pairs))
        for (w1, w2), pairs in shared.items()
        if len(pairs) >= min_shared
    ]
    out.sort(key=lambda t: (order[t[0]], order[t[1]]))
    return out
