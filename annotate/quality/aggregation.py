"""Consensus per item: majority vote, Dawid-Skene, ordinal strength and rankings with ties.

Pure functions over :class:`Vote` records (no Django models): the quality services turn labels into
votes, call these, and store the results. Every fit has an array-level entry point over integer-coded
``item_idx`` / ``worker_idx`` / ``class_idx`` arrays (numpy ``bincount``, no Python loop over labels),
so a project of a million labels is recomputed in seconds; the ``Vote``-based functions are thin
wrappers that code the keys.

Methods and sources
-------------------
* Majority vote, with a confidence that is a posterior probability under a "one-coin" model
  (every annotator right with the same probability ``accuracy``, wrong answers spread evenly).
* Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates using the EM
  algorithm", *Applied Statistics* 28(1): one confusion matrix per annotator and class priors,
  fitted by EM over a project. The fitted parameters serialise to JSON so that a periodic fit is
  stored and the per-submit update only computes one item's posterior.
* Strength (the ordinal "how much better" level): a reliability-weighted median over the labels
  that agree with the consensus direction; a median is the right centre for an ordinal scale
  (it uses only the order of the levels).
* Rankings of three or more responses, ties allowed: Davidson (1970), "On extending the
  Bradley-Terry model to accommodate ties in paired comparison experiments", *JASA* 65(329), fitted
  per item by Newton's method with a Gaussian prior on the log-strengths and on log(nu), over the
  pairwise comparisons that the rankings imply. See :func:`ranking_consensus`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse as _sparse
from scipy import special as _special

PAIRWISE_CLASSES: tuple[str, ...] = ("A", "B", "tie", "both_bad")


def pairwise_classes(label_schema: dict[str, Any] | None) -> tuple[str, ...]:
    """The classes a pairwise project's labels can take, in the model's order: the choices its
    label schema offers (all four when it names none). The consensus model and the suspension
    test's ``K`` both read them here, so they cannot disagree."""
    choices = (label_schema or {}).get("choices", PAIRWISE_CLASSES)
    return tuple(c for c in PAIRWISE_CLASSES if c in choices)


#: Assumed accuracy of every annotator for the confidence of a plain majority vote (see
#: :func:`majority_vote`). 0.7 is the accuracy of the "noisy" annotators in the issue's crowd: a
#: deliberately modest assumption, so that one label never looks certain.
MAJORITY_ACCURACY = 0.7

#: The accuracy assumed of an annotator the project's fit knows nothing about (a new account, or
#: any before the first fit): 0.5, no better than half right over four classes. An unknown account
#: may be one of many run by one person, so its vote must not count like a proven annotator's:
#: among unknown accounts (uniform class prior, four classes) a 2:1 split has confidence 0.64,
#: below the usual 0.8 threshold, and three in agreement reach 0.90.
UNKNOWN_ACCURACY = 0.5


@dataclass(frozen=True)
class Vote:
    """One annotator's label on one item, in canonical response order.

    ``choice`` is one of ``"A"``, ``"B"``, ``"tie"``, ``"both_bad"`` (A = response 0, B = response 1);
    ``strength`` is the 1-based level on the project's strength scale, its direction given by
    ``choice``; ``ranking`` is groups of tied canonical response indexes, best first.
    """

    item: Hashable
    worker: Hashable
    choice: str | None = None
    strength: int | None = None
    ranking: tuple[tuple[int, ...], ...] | None = None


@dataclass
class ItemResult:
    """The consensus of one item.

    ``confidence`` is a posterior probability in [0, 1] that the consensus is right (its meaning
    per method is documented on the function that produced it); ``agreement`` is the observed
    share of labels that agree with the consensus (None when undefined).
    """

    method: str
    choice: str | None
    strength: float | None
    ranking: list[list[int]] | None
    confidence: float
    agreement: float | None
    label_count: int
    posterior: dict[str, float] | None = None


# --------------------------------------------------------------------------------------------
# Coding of votes into integer arrays
# --------------------------------------------------------------------------------------------


@dataclass
class CodedVotes:
    """Votes as integer arrays plus the keys to decode them (``items[i]`` is item index ``i``)."""

    item_idx: np.ndarray
    worker_idx: np.ndarray
    class_idx: np.ndarray
    items: list[Hashable]
    workers: list[Hashable]
    classes: tuple[str, ...]


def code_votes(votes: Iterable[Vote], classes: Sequence[str] = PAIRWISE_CLASSES) -> CodedVotes:
    """Integer-code the choice votes (votes without a choice are left out).

    Items and workers are numbered in order of first appearance. Raises ``ValueError`` for a
    choice outside ``classes``.
    """
    class_of = {c: k for k, c in enumerate(classes)}
    item_of: dict[Hashable, int] = {}
    worker_of: dict[Hashable, int] = {}
    ii: list[int] = []
    ww: list[int] = []
    cc: list[int] = []
    for v in votes:
        if v.choice is None:
            continue
        k = class_of.get(v.choice)
        if k is None:
            raise ValueError(f"choice {v.choice!r} is not one of {tuple(classes)}")
        ii.append(item_of.setdefault(v.item, len(item_of)))
        ww.append(worker_of.setdefault(v.worker, len(worker_of)))
        cc.append(k)
    return CodedVotes(
        item_idx=np.asarray(ii, dtype=np.int64),
        worker_idx=np.asarray(ww, dtype=np.int64),
        class_idx=np.asarray(cc, dtype=np.int64),
        items=list(item_of),
        workers=list(worker_of),
        classes=tuple(classes),
    )


def class_counts(item_idx: np.ndarray, class_idx: np.ndarray, n_items: int, n_classes: int) -> np.ndarray:
    """Items x classes matrix of vote counts (one ``bincount`` over the combined index)."""
    flat = np.asarray(item_idx, dtype=np.int64) * n_classes + np.asarray(class_idx, dtype=np.int64)
    return np.bincount(flat, minlength=n_items * n_classes).reshape(n_items, n_classes).astype(np.float64)


# --------------------------------------------------------------------------------------------
# Majority vote
# --------------------------------------------------------------------------------------------


def one_coin_posterior(counts: np.ndarray, accuracy: float = MAJORITY_ACCURACY) -> np.ndarray:
    """Posterior over classes given vote counts, when every annotator is right with probability
    ``accuracy`` and spreads errors evenly over the other ``K - 1`` classes, uniform class prior.

    The likelihood of class k is ``accuracy^n_k * ((1 - accuracy)/(K - 1))^(N - n_k)``, so the
    posterior is a softmax of ``n_k * log(accuracy (K - 1) / (1 - accuracy))``. With K = 4 and
    accuracy 0.7 one vote gives 0.70, two agreeing votes 0.94, a 2:1 split 0.84.
    """
    counts = np.asarray(counts, dtype=np.float64)
    k = counts.shape[-1]
    if not 0.0 < accuracy < 1.0:
        raise ValueError("accuracy must be in (0, 1)")
    logit = counts * math.log(accuracy * (k - 1) / (1.0 - accuracy))
    return _special.softmax(logit, axis=-1)


def majority_vote_arrays(
    item_idx: np.ndarray,
    class_idx: np.ndarray,
    n_items: int,
    n_classes: int,
    *,
    accuracy: float = MAJORITY_ACCURACY,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised majority vote.

    Returns ``(winner, confidence, counts)``: the winning class index per item (a tie between
    classes goes to the lowest class index, i.e. the order of ``classes``; its confidence is then at
    most 0.5), the one-coin posterior of the winner (:func:`one_coin_posterior`) and the counts.
    Items without votes get winner -1 and confidence 0.
    """
    counts = class_counts(item_idx, class_idx, n_items, n_classes)
    winner = counts.argmax(axis=1)
    post = one_coin_posterior(counts, accuracy)
    confidence = post[np.arange(n_items), winner]
    empty = counts.sum(axis=1) == 0
    winner[empty] = -1
    confidence[empty] = 0.0
    return winner, confidence, counts


def majority_vote(
    votes: Sequence[Vote],
    *,
    classes: Sequence[str] = PAIRWISE_CLASSES,
    accuracy: float = MAJORITY_ACCURACY,
) -> dict[Hashable, ItemResult]:
    """Majority vote of the choice per item (items whose votes carry no choice are left out).

    ``confidence`` is the posterior probability of the winner under the one-coin model with the
    given ``accuracy`` (:func:`one_coin_posterior`), ``agreement`` the share of votes for the winner,
    ``strength`` the unweighted median strength of the votes for the winner.
    """
    coded = code_votes(votes, classes)
    n_items, k = len(coded.items), len(coded.classes)
    winner, confidence, counts = majority_vote_arrays(
        coded.item_idx, coded.class_idx, n_items, k, accuracy=accuracy
    )
    post = one_coin_posterior(counts, accuracy)
    by_item = _group_by_item(votes)
    out: dict[Hashable, ItemResult] = {}
    for i, item in enumerate(coded.items):
        choice = coded.classes[winner[i]]
        total = counts[i].sum()
        out[item] = ItemResult(
            method="majority",
            choice=choice,
            strength=strength_consensus(by_item[item], choice),
            ranking=None,
            confidence=float(confidence[i]),
            agreement=float(counts[i, winner[i]] / total),
            label_count=int(total),
            posterior={c: float(p) for c, p in zip(coded.classes, post[i], strict=True)},
        )
    return out


def _group_by_item(votes: Iterable[Vote]) -> dict[Hashable, list[Vote]]:
    by_item: dict[Hashable, list[Vote]] = {}
    for v in votes:
        by_item.setdefault(v.item, []).append(v)
    return by_item


# --------------------------------------------------------------------------------------------
# Dawid-Skene
# --------------------------------------------------------------------------------------------


@dataclass
class DawidSkeneArrays:
    """Result of :func:`dawid_skene_fit_arrays`.

    ``confusion[w, k, l]`` is P(worker w answers l | true class k); ``default_confusion`` is the
    pooled confusion of all workers (the "average annotator"), used for workers the fit has not
    seen; ``posteriors[i, k]`` is P(true class k | the item's votes).
    """

    priors: np.ndarray
    confusion: np.ndarray
    default_confusion: np.ndarray
    posteriors: np.ndarray
    n_iter: int
    log_likelihood: float
    converged: bool


def _normalise_rows(m: np.ndarray) -> np.ndarray:
    total = m.sum(axis=-1, keepdims=True)
    return m / np.where(total > 0, total, 1.0)


def dawid_skene_fit_arrays(
    item_idx: np.ndarray,
    worker_idx: np.ndarray,
    class_idx: np.ndarray,
    n_items: int,
    n_workers: int,
    n_classes: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
    gold: np.ndarray | None = None,
    prior: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    accelerate: bool = False,
) -> DawidSkeneArrays:
    """Dawid-Skene EM over integer-coded labels, vectorised with ``np.bincount``.

    Three extensions, each off by default (then the fit is the published algorithm, as crowd-kit
    computes it):

    * ``gold`` (one class index per item, -1 where the truth is unknown): semi-supervised EM.
      A gold item's posterior is clamped to its true class in every E-step, so its labels
      estimate the annotators' confusions directly, and the first M-step reads the gold items
      alone (instead of the soft majority vote), so a group that agrees with itself on ordinary
      items cannot talk the fit out of what the gold shows.
    * ``prior`` (``n_workers x K x K`` pseudo-counts): a Dirichlet prior per confusion row, added
      in the M-step on top of ``smoothing`` (the MAP estimate; see
      :mod:`annotate.quality.consensus_model` for the expertise-level prior).
    * ``weights`` (one per label): a label counts with this weight in the M-step and the E-step
      (a tempered likelihood); the votes of a suspected group on one item share one vote's weight.

    Initialisation: the soft majority vote (vote shares per item), as Dawid & Skene (1979)
    suggest and as crowd-kit does. M-step: class priors are the mean posterior over labelled
    items; worker w's confusion row k is the posterior-weighted count of its answers on items of
    class k, plus ``smoothing`` pseudo-counts per cell (a symmetric Dirichlet prior: keeps a
    worker who never used a class from getting log(0) = -inf, and pulls workers with few labels
    slightly towards uniform). E-step: ``log T[i, k] = log prior[k] + sum over the item's labels of
    log confusion[w, k, label]``, normalised per item. Stops when the relative change of the
    log-likelihood is below ``tol`` or after ``max_iter`` iterations.

    ``accelerate``: SQUAREM (Varadhan & Roland 2008) over the parameters: two EM steps, a step
    along their extrapolation (confusion rows and priors kept positive and normalised), and one EM
    step from there, taken only when the extrapolated parameters' log-likelihood is not below
    that of the first plain step (else the two plain steps stand). ``n_iter`` counts E-steps; the
    stopping rule compares the log-likelihood from one such cycle to the next. EM creeps along a
    slow direction when an item has few labels; SQUAREM follows it: on the 1M-label benchmark
    project a held-out fold converged in 31 to 34 E-steps instead of 47 to 48, and its held-out
    scores were closer to those of plain EM run to ``tol=1e-9`` (125 iterations) than plain EM's
    at the default ``tol`` (``tests/quality/test_fast_folds.py``).

    Cost per iteration: two sparse products over the labels with a (rows x K) matrix.
    """
    item_idx = np.asarray(item_idx, dtype=np.int64)
    worker_idx = np.asarray(worker_idx, dtype=np.int64)
    class_idx = np.asarray(class_idx, dtype=np.int64)
    k = n_classes
    if not (len(item_idx) == len(worker_idx) == len(class_idx)):
        raise ValueError("item_idx, worker_idx and class_idx must have the same length")
    for name, arr, bound in (
        ("item", item_idx, n_items),
        ("worker", worker_idx, n_workers),
        ("class", class_idx, k),
    ):
        # bincount would silently grow its output for an index past the bound
        if len(arr) and (arr.min() < 0 or arr.max() >= bound):
            raise ValueError(f"{name} indexes must be in [0, {bound})")
    if len(item_idx) == 0:
        uniform = np.full((k, k), 1.0 / k)
        return DawidSkeneArrays(
            priors=np.full(k, 1.0 / k),
            confusion=np.zeros((n_workers, k, k)),
            default_confusion=uniform,
            posteriors=np.full((n_items, k), 1.0 / k),
            n_iter=0,
            log_likelihood=0.0,
            converged=True,
        )
    label_w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if label_w is not None and len(label_w) != len(item_idx):
        raise ValueError("weights must have one value per label")
    flat = item_idx * k + class_idx
    counts = np.bincount(flat, weights=label_w, minlength=n_items * k).reshape(n_items, k)
    labelled = np.bincount(item_idx, minlength=n_items) > 0
    # Every item labelled (the usual case): the masks below would copy (K, n_items) arrays per
    # iteration to the same values.
    every = bool(labelled.all())
    posteriors = _normalise_rows(counts)
    posteriors[~labelled] = 1.0 / k
    clamp = None
    if gold is not None:
        gold = np.asarray(gold, dtype=np.int64)
        if gold.shape != (n_items,) or gold.max(initial=-1) >= k:
            raise ValueError("gold must hold one class index (or -1) per item")
        clamp = np.flatnonzero(gold >= 0)
        if len(clamp):
            # The first M-step learns from the gold alone: started from the majority vote, a
            # group that is the majority on its items would look right and EM would stay there.
            posteriors[:] = 0.0
            posteriors[clamp, gold[clamp]] = 1.0
    pseudo = smoothing if prior is None else smoothing + np.asarray(prior, dtype=np.float64)
    wc = worker_idx * k + class_idx  # combined (worker, answer) index
    # The labels as a sparse (item x (worker, answer)) matrix of their weights (duplicates
    # summed), and its transpose: both steps are then one sparse product with a dense
    # (rows x K) matrix, where gathering and summing per label took 2K passes over the labels.
    by_item = _sparse.csr_matrix(
        (np.ones(len(item_idx)) if label_w is None else label_w, (item_idx, wc)),
        shape=(n_items, n_workers * k),
    )
    by_answer = by_item.T.tocsr()
    post_t = np.ascontiguousarray(posteriors.T)  # (K, n_items)

    def e_step(priors: np.ndarray, confusion: np.ndarray) -> tuple[np.ndarray, float]:
        # log P(answer | true k) per (worker, answer) row and true-class column
        log_conf = np.log(confusion).transpose(0, 2, 1).reshape(n_workers * k, k)
        log_t = np.ascontiguousarray((by_item @ log_conf).T)  # (K, n_items)
        log_t += np.log(priors)[:, None]
        top = log_t.max(axis=0)
        log_z = top + np.log(np.exp(log_t - top).sum(axis=0))
        post_t = np.exp(log_t - log_z)
        if not every:
            post_t[:, ~labelled] = priors[:, None]
        if clamp is not None and len(clamp):
            # a gold item's truth is known: its likelihood is the joint at that class
            log_z[clamp] = log_t[gold[clamp], clamp]
            post_t[:, clamp] = 0.0
            post_t[gold[clamp], clamp] = 1.0
        return post_t, float((log_z if every else log_z[labelled]).sum())

    prev_ll = -np.inf
    log_likelihood = -np.inf
    converged = False
    n_iter = 0
    priors = np.full(k, 1.0 / k)
    confusion = np.zeros((n_workers, k, k))
    pooled = np.zeros((k, k))

    def m_step(post_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mass = (post_t if every else post_t[:, labelled]).sum(axis=1)
        priors = (mass + smoothing) / (mass.sum() + k * smoothing)
        # raw[w, true k, answer]: the posterior mass of true class k on w's answers
        raw = (by_answer @ np.ascontiguousarray(post_t.T)).reshape(n_workers, k, k).transpose(0, 2, 1)
        return priors, _normalise_rows(raw + pseudo), raw.sum(axis=0)

    if accelerate:
        priors, confusion, pooled = m_step(post_t)
        while n_iter < max_iter:
            post_t, _ = e_step(priors, confusion)
            p1, c1, _ = m_step(post_t)
            post_t, ll1 = e_step(p1, c1)
            p2, c2, pooled = m_step(post_t)
            r = np.concatenate([(p1 - priors).ravel(), (c1 - confusion).ravel()])
            v = np.concatenate([(p2 - p1).ravel(), (c2 - c1).ravel()]) - r
            vv = float(v @ v)
            alpha = min(-np.sqrt(float(r @ r) / vv), -1.0) if vv > 0 else -1.0
            p_x = priors - 2 * alpha * (p1 - priors) + alpha**2 * (p2 - 2 * p1 + priors)
            c_x = confusion - 2 * alpha * (c1 - confusion) + alpha**2 * (c2 - 2 * c1 + confusion)
            p_x = _normalise_rows(np.maximum(p_x, 1e-12))
            c_x = _normalise_rows(np.maximum(c_x, 1e-12))
            post_x, ll_x = e_step(p_x, c_x)
            n_iter += 3
            if np.isfinite(ll_x) and ll_x >= ll1:
                priors, confusion, pooled = m_step(post_x)  # the stabilising EM step
                log_likelihood = ll_x
            else:  # the extrapolation overshot: keep the plain steps
                priors, confusion = p2, c2
                log_likelihood = ll1
            if np.isfinite(prev_ll) and abs(log_likelihood - prev_ll) <= tol * max(1.0, abs(log_likelihood)):
                converged = True
                break
            prev_ll = log_likelihood
        # the posteriors (and their likelihood) under the parameters returned
        post_t, log_likelihood = e_step(priors, confusion)
        n_iter += 1
    else:
        for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
            priors, confusion, pooled = m_step(post_t)
            post_t, log_likelihood = e_step(priors, confusion)
            if np.isfinite(prev_ll) and abs(log_likelihood - prev_ll) <= tol * max(1.0, abs(log_likelihood)):
                converged = True
                break
            prev_ll = log_likelihood
    posteriors = np.ascontiguousarray(post_t.T)
    default_confusion = _normalise_rows(pooled + smoothing)
    return DawidSkeneArrays(
        priors=priors,
        confusion=confusion,
        default_confusion=default_confusion,
        posteriors=posteriors,
        n_iter=n_iter,
        log_likelihood=log_likelihood,
        converged=converged,
    )


@dataclass
class DawidSkeneModel:
    """Fitted Dawid-Skene parameters of a project: class priors, one confusion matrix per worker
    (rows = true class, columns = answer) and the pooled ``default_confusion`` for unseen workers.
    """

    classes: tuple[str, ...]
    priors: np.ndarray
    confusion: dict[Hashable, np.ndarray]
    default_confusion: np.ndarray
    n_iter: int = 0
    log_likelihood: float = 0.0
    converged: bool = True
    label_count: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    # Per-worker log-likelihood columns and accuracies, computed on first use: the per-item update
    # and the recompute call the posterior once per item, and numpy's per-call overhead on 4x4
    # arrays would dominate. The parameters are treated as immutable once fitted.
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def method(self) -> str:
        """How items are decided under this fit: ``"dawid_skene"`` (the confusion matrices) or
        ``"majority"`` (a vote weighted by each annotator's accuracy); chosen per project by
        held-out gold likelihood (:func:`annotate.quality.consensus_model.consensus_method_choose`)."""
        return str(self.meta.get("method", "dawid_skene"))

    def group_of(self, worker: Hashable) -> int | None:
        """The index of the worker's suspected group in ``meta["groups"]`` (annotators who agree
        with each other more than their accuracies imply), or None."""
        groups = self._cache.get("groups")
        if groups is None:
            groups = self._cache["groups"] = {
                _json_key(w): g for g, members in enumerate(self.meta.get("groups") or []) for w in members
            }
        return groups.get(worker)

    def vote_weights(self, workers: Sequence[Hashable]) -> list[float]:
        """The weight of each of one item's votes: 1, or 1/m for each of the m members of one
        suspected group who voted on the item, so that the group counts as one vote."""
        group = [self.group_of(w) for w in workers]
        size: dict[int, int] = {}
        for g in group:
            if g is not None:
                size[g] = size.get(g, 0) + 1
        return [1.0 if g is None else 1.0 / size[g] for g in group]

    def confusion_of(self, worker: Hashable) -> np.ndarray:
        """The worker's confusion matrix, or the pooled one for a worker the fit has not seen."""
        return self.confusion.get(worker, self.default_confusion)

    def worker_accuracy(self, worker: Hashable) -> float:
        """P(the worker's answer is the true class) = sum_k prior_k * confusion[k, k]."""
        key = ("accuracy", worker if worker in self.confusion else _DEFAULT)
        acc = self._cache.get(key)
        if acc is None:
            acc = self._cache[key] = float(np.dot(self.priors, np.diag(self.confusion_of(worker))))
        return acc

    def log_columns(self, worker: Hashable) -> list[list[float]]:
        """``[answer][true class]`` log P(answer | true class) of a worker (pooled if unseen)."""
        key = ("log", worker if worker in self.confusion else _DEFAULT)
        cols = self._cache.get(key)
        if cols is None:
            with np.errstate(divide="ignore"):
                cols = self._cache[key] = np.log(self.confusion_of(worker)).T.tolist()
        return cols

    def log_priors(self) -> list[float]:
        cols = self._cache.get("log_priors")
        if cols is None:
            with np.errstate(divide="ignore"):
                cols = self._cache["log_priors"] = np.log(self.priors).tolist()
        return cols

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict. Workers are stored as ``[key, matrix]`` pairs so that integer
        keys (expert ids) survive the round trip (JSON object keys would become strings)."""
        return {
            "version": 1,
            "classes": list(self.classes),
            "priors": self.priors.tolist(),
            "default_confusion": self.default_confusion.tolist(),
            "workers": [[w, m.tolist()] for w, m in self.confusion.items()],
            "n_iter": self.n_iter,
            "log_likelihood": self.log_likelihood,
            "converged": self.converged,
            "label_count": self.label_count,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DawidSkeneModel:
        if data.get("version", 1) != 1:
            raise ValueError(f"unknown Dawid-Skene model version {data.get('version')!r}")
        return cls(
            classes=tuple(data["classes"]),
            priors=np.asarray(data["priors"], dtype=np.float64),
            confusion={_json_key(w): np.asarray(m, dtype=np.float64) for w, m in data["workers"]},
            default_confusion=np.asarray(data["default_confusion"], dtype=np.float64),
            n_iter=int(data.get("n_iter", 0)),
            log_likelihood=float(data.get("log_likelihood", 0.0)),
            converged=bool(data.get("converged", True)),
            label_count=int(data.get("label_count", 0)),
            meta=dict(data.get("meta") or {}),
        )


_DEFAULT = object()  # cache key of the pooled confusion


def _json_key(w: Any) -> Hashable:
    # JSON has no tuples: a tuple worker key comes back as a list.
    return tuple(w) if isinstance(w, list) else w


def dawid_skene_aggregate(
    votes: Sequence[Vote],
    *,
    classes: Sequence[str] = PAIRWISE_CLASSES,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> tuple[DawidSkeneModel, dict[Hashable, dict[str, float]]]:
    """Fit Dawid-Skene on the votes and return the model and the posterior of every item (the
    posteriors come from the fit itself: no second pass per item)."""
    coded = code_votes(votes, classes)
    fit = dawid_skene_fit_arrays(
        coded.item_idx,
        coded.worker_idx,
        coded.class_idx,
        len(coded.items),
        len(coded.workers),
        len(coded.classes),
        max_iter=max_iter,
        tol=tol,
        smoothing=smoothing,
    )
    model = DawidSkeneModel(
        classes=coded.classes,
        priors=fit.priors,
        confusion={w: fit.confusion[j] for j, w in enumerate(coded.workers)},
        default_confusion=fit.default_confusion,
        n_iter=fit.n_iter,
        log_likelihood=fit.log_likelihood,
        converged=fit.converged,
        label_count=len(coded.item_idx),
    )
    posteriors = {
        item: {c: float(p) for c, p in zip(coded.classes, fit.posteriors[i], strict=True)}
        for i, item in enumerate(coded.items)
    }
    return model, posteriors


def dawid_skene_fit(
    votes: Sequence[Vote],
    *,
    classes: Sequence[str] = PAIRWISE_CLASSES,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> DawidSkeneModel:
    """Fit Dawid-Skene over a project's choice votes (see :func:`dawid_skene_fit_arrays`)."""
    model, _ = dawid_skene_aggregate(votes, classes=classes, max_iter=max_iter, tol=tol, smoothing=smoothing)
    return model


def dawid_skene_posterior(model: DawidSkeneModel, votes_of_one_item: Iterable[Vote]) -> dict[str, float]:
    """P(true class | this item's votes) under a fitted model: the E-step for one item.

    A worker the model has not seen uses ``model.default_confusion`` (the pooled annotator), so a
    new annotator's vote counts like an average one until the next periodic fit. Votes without a
    choice are ignored; with no votes the posterior is the class prior. (One row of
    :func:`choice_log_posteriors_arrays`.)
    """
    return _one_item_posterior(model, votes_of_one_item, "dawid_skene")


def weighted_majority_posterior(
    model: DawidSkeneModel, votes_of_one_item: Iterable[Vote]
) -> dict[str, float]:
    """P(true class | this item's votes) under the one-coin model with each annotator's own
    accuracy: annotator w is right with probability ``a_w = model.worker_accuracy(w)`` and spreads
    its errors evenly over the other K - 1 classes; class prior = the fit's. The choice is a
    majority vote in which each vote weighs ``log(a_w (K - 1) / (1 - a_w))``: with equal accuracies
    the plain majority, and an annotator no better than chance adds nothing. A suspected group's
    votes on the item share one vote's weight, as in :func:`dawid_skene_posterior`.
    """
    return _one_item_posterior(model, votes_of_one_item, "majority")


def _one_item_posterior(model: DawidSkeneModel, votes: Iterable[Vote], method: str) -> dict[str, float]:
    coded = _code_one_item([v for v in votes if v.choice is not None], model.classes)
    logits = choice_log_posteriors_arrays(
        coded.item_idx, coded.worker_idx, coded.workers, coded.class_idx, 1, model=model, method=method
    )
    return dict(zip(model.classes, softmax_rows(logits)[0].tolist(), strict=True))


def _code_one_item(votes: Sequence[Vote], classes: Sequence[str]) -> CodedVotes:
    """One item's choice votes coded in their order (the item is index 0)."""
    class_of = {c: k for k, c in enumerate(classes)}
    worker_of: dict[Hashable, int] = {}
    cc = []
    for v in votes:
        k = class_of.get(v.choice)  # type: ignore[arg-type]
        if k is None:
            raise ValueError(f"choice {v.choice!r} is not one of {tuple(classes)}")
        cc.append(k)
    ww = [worker_of.setdefault(v.worker, len(worker_of)) for v in votes]
    return CodedVotes(
        item_idx=np.zeros(len(votes), dtype=np.int64),
        worker_idx=np.asarray(ww, dtype=np.int64),
        class_idx=np.asarray(cc, dtype=np.int64),
        items=[0],
        workers=list(worker_of),
        classes=tuple(classes),
    )


def vote_positions(item_idx: np.ndarray) -> np.ndarray:
    """Each vote's position among its item's votes, in the order the votes are given."""
    item_idx = np.asarray(item_idx, dtype=np.int64)
    order = np.argsort(item_idx, kind="stable")
    ordered = item_idx[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(order) else order
    sizes = np.diff(np.r_[starts, len(order)])
    positions = np.empty(len(order), dtype=np.int64)
    positions[order] = np.arange(len(order)) - np.repeat(starts, sizes)
    return positions


def group_vote_weights(
    item_idx: np.ndarray, worker_idx: np.ndarray, workers: Sequence[Hashable], model: DawidSkeneModel
) -> np.ndarray:
    """Per vote: 1, or 1/m for each of the m members of one suspected group who voted on the item
    (:meth:`DawidSkeneModel.vote_weights` for many items at once)."""
    group_of = np.array([-1 if (g := model.group_of(w)) is None else g for w in workers], dtype=np.int64)
    group = group_of[worker_idx] if len(worker_idx) else np.zeros(0, dtype=np.int64)
    weights = np.ones(len(group))
    grouped = np.flatnonzero(group >= 0)
    if len(grouped):
        key = item_idx[grouped] * (int(group_of.max()) + 1) + group[grouped]
        _, inverse, sizes = np.unique(key, return_inverse=True, return_counts=True)
        weights[grouped] = 1.0 / sizes[inverse]
    return weights


def choice_log_posteriors_arrays(
    item_idx: np.ndarray,
    worker_idx: np.ndarray,
    workers: Sequence[Hashable],
    class_idx: np.ndarray,
    n_items: int,
    *,
    model: DawidSkeneModel | None,
    method: str | None = None,
    classes: Sequence[str] = PAIRWISE_CLASSES,
) -> np.ndarray:
    """``n_items x K`` unnormalised log posteriors of the items' choices (votes in the order
    given; each item's terms are added in that order, so one item alone and the same item among
    a million get the same bits).

    With a ``model``, under ``method`` (default ``model.method``): ``"dawid_skene"`` adds each
    vote's log confusion column, ``"majority"`` adds ``log(a_w (K - 1) / (1 - a_w))`` to the
    voted class (``a_w`` the worker's modelled accuracy); both start from the log class priors
    and weigh a suspected group's votes on an item 1/m each. Without a model: the one-coin
    majority with every annotator an unknown account (:data:`UNKNOWN_ACCURACY`), uniform prior.
    """
    item_idx = np.asarray(item_idx, dtype=np.int64)
    worker_idx = np.asarray(worker_idx, dtype=np.int64)
    class_idx = np.asarray(class_idx, dtype=np.int64)
    if model is None:
        kk = len(classes)
        step = math.log(UNKNOWN_ACCURACY * (kk - 1) / (1.0 - UNKNOWN_ACCURACY))
        return class_counts(item_idx, class_idx, n_items, kk) * step
    kk = len(model.classes)
    logits = np.tile(np.asarray(model.log_priors(), dtype=np.float64), (n_items, 1))
    if not len(item_idx):
        return logits
    weights = group_vote_weights(item_idx, worker_idx, workers, model)
    positions = vote_positions(item_idx)
    if (method or model.method) == "majority":
        steps = []
        for w in workers:
            a = min(max(model.worker_accuracy(w), 1e-6), 1.0 - 1e-6)
            steps.append(math.log(a * (kk - 1) / (1.0 - a)))
        terms = weights * np.asarray(steps, dtype=np.float64)[worker_idx]
        for position in range(int(positions.max()) + 1):
            at = positions == position
            logits[item_idx[at], class_idx[at]] += terms[at]
        return logits
    columns = np.asarray([model.log_columns(w) for w in workers], dtype=np.float64)
    terms = weights[:, None] * columns[worker_idx, class_idx]
    for position in range(int(positions.max()) + 1):
        at = positions == position
        logits[item_idx[at]] += terms[at]
    return logits


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax; a row of -inf only is uniform. The row's terms are summed left to right."""
    logits = np.asarray(logits, dtype=np.float64)
    kk = logits.shape[1]
    top = logits.max(axis=1) if len(logits) else np.zeros(0)
    finite = top > -math.inf
    ex = np.exp(logits - np.where(finite, top, 0.0)[:, None])
    total = ex[:, 0].copy()
    for k in range(1, kk):
        total += ex[:, k]
    out = ex / total[:, None]
    out[~finite] = 1.0 / kk
    return out


@dataclass
class ChoiceConsensus:
    """The choice consensus of many items, one row per item (see :func:`choice_consensus_arrays`)."""

    method: str
    classes: tuple[str, ...]
    choice: np.ndarray  # class index
    posterior: np.ndarray  # n_items x K
    confidence: np.ndarray
    agreement: np.ndarray
    label_count: np.ndarray
    strength: np.ndarray  # NaN: none


def choice_consensus_arrays(
    item_idx: np.ndarray,
    worker_idx: np.ndarray,
    workers: Sequence[Hashable],
    class_idx: np.ndarray,
    strength: np.ndarray,
    n_items: int,
    *,
    model: DawidSkeneModel | None,
) -> ChoiceConsensus:
    """The consensus of items with choice votes (every item in ``range(n_items)`` must have one;
    votes in :data:`~annotate.quality.consensus_update.VOTE_ORDER` within each item), as
    :func:`item_consensus` gives it for one item: the posterior
    (:func:`choice_log_posteriors_arrays`), the choice with the highest posterior (ties to the
    first class), its posterior as confidence, the share of votes for it as agreement, and the
    strength (``strength`` per vote, -1 for none): the median of the agreeing votes' strengths,
    weighted by each worker's modelled accuracy (1 without a model)."""
    item_idx = np.asarray(item_idx, dtype=np.int64)
    worker_idx = np.asarray(worker_idx, dtype=np.int64)
    class_idx = np.asarray(class_idx, dtype=np.int64)
    strength = np.asarray(strength, dtype=np.int64)
    classes = model.classes if model is not None else PAIRWISE_CLASSES
    posterior = softmax_rows(
        choice_log_posteriors_arrays(item_idx, worker_idx, workers, class_idx, n_items, model=model)
    )
    choice = posterior.argmax(axis=1)
    rows = np.arange(n_items)
    label_count = np.bincount(item_idx, minlength=n_items)
    agrees = class_idx == choice[item_idx]
    agree = np.bincount(item_idx, weights=agrees, minlength=n_items)
    if model is None:
        worker_weight = np.ones(len(workers))
    else:
        worker_weight = np.asarray([model.worker_accuracy(w) for w in workers], dtype=np.float64)
    return ChoiceConsensus(
        method=model.method if model is not None else "majority",
        classes=tuple(classes),
        choice=choice,
        posterior=posterior,
        confidence=posterior[rows, choice],
        agreement=agree / np.maximum(label_count, 1),
        label_count=label_count,
        strength=_strengths(item_idx, strength, agrees, worker_weight[worker_idx], n_items),
    )


def _strengths(
    item_idx: np.ndarray, strength: np.ndarray, agrees: np.ndarray, weight: np.ndarray, n_items: int
) -> np.ndarray:
    """Per item :func:`strength_consensus`: where the agreeing votes' strengths are all one value
    (with positive weights) that value, otherwise :func:`weighted_median` of them."""
    out = np.full(n_items, np.nan)
    use = agrees & (strength >= 0)
    items, values, weights = item_idx[use], strength[use].astype(np.float64), weight[use]
    if not len(items):
        return out
    top = np.full(n_items, -np.inf)
    low = np.full(n_items, np.inf)
    np.maximum.at(top, items, values)
    np.minimum.at(low, items, values)
    light = np.zeros(n_items, dtype=bool)
    light[items[weights <= 0]] = True
    simple = (top == low) & ~light
    out[simple] = top[simple]
    hard = np.flatnonzero(np.isfinite(top) & ~simple)
    if len(hard):
        picked = np.isin(items, hard)
        order = np.argsort(items[picked], kind="stable")
        h_items = items[picked][order].tolist()
        h_values = values[picked][order].tolist()
        h_weights = weights[picked][order].tolist()
        start = 0
        for end in range(1, len(h_items) + 1):
            if end == len(h_items) or h_items[end] != h_items[start]:
                median = weighted_median(h_values[start:end], h_weights[start:end])
                out[h_items[start]] = np.nan if median is None else median
                start = end
    return out


# --------------------------------------------------------------------------------------------
# Strength (ordinal)
# --------------------------------------------------------------------------------------------


def weighted_median(values: Sequence[float], weights: Sequence[float]) -> float | None:
    """The weighted median: the smallest value whose cumulative weight reaches half the total;
    when the cumulative weight equals exactly half at a value, the midpoint between it and the next
    value (so two equally weighted votes 1 and 3 give 2). None without positive weight."""
    pairs = sorted((float(v), float(w)) for v, w in zip(values, weights, strict=True) if w > 0)
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        return None
    half = total / 2.0
    cum = 0.0
    for idx, (value, w) in enumerate(pairs):
        cum += w
        if math.isclose(cum, half, rel_tol=1e-12, abs_tol=1e-12) and idx + 1 < len(pairs):
            return (value + pairs[idx + 1][0]) / 2.0
        if cum > half:
            return value
    return pairs[-1][0]


def strength_consensus(
    votes_of_one_item: Iterable[Vote],
    choice: str,
    weights: Mapping[Hashable, float] | None = None,
) -> float | None:
    """Consensus strength: the weighted median strength of the votes whose choice agrees with the
    consensus ``choice`` (their direction). Weights are per worker (e.g. the Dawid-Skene accuracy,
    :meth:`DawidSkeneModel.worker_accuracy`); a missing worker weighs 1. None when no agreeing vote
    carries a strength.
    """
    values: list[float] = []
    ws: list[float] = []
    for v in votes_of_one_item:
        if v.choice == choice and v.strength is not None:
            values.append(float(v.strength))
            ws.append(1.0 if weights is None else float(weights.get(v.worker, 1.0)))
    if not values:
        return None
    return weighted_median(values, ws)


# --------------------------------------------------------------------------------------------
# Rankings with ties: Davidson (1970)
# --------------------------------------------------------------------------------------------

#: Prior standard deviation of the log-strengths (a weak Gaussian prior: it keeps the fit finite
#: when one response wins every comparison, and fixes the otherwise free common shift).
DAVIDSON_THETA_SD = 2.0
#: Prior on log(nu), the tie parameter: centred at nu = 1 (two equal responses tie with
#: probability 1/3), sd 1.5.
DAVIDSON_LOG_NU_SD = 1.5
#: Two responses whose fitted strengths differ by less than this on the log scale are reported as
#: tied even when the model's tie parameter is small: log(1.25), i.e. the model predicts the stronger
#: one to win fewer than 5 of 9 decisive comparisons. This is what makes split opinions (half the
#: annotators say i > j, half j > i, nobody says "tie") come out as a tie instead of an order picked
#: by index. It is an effect size, not a significance threshold: how sure we are is the confidence.
TIE_LOG_ODDS = math.log(1.25)
_CONFIDENCE_DRAWS = 2000


def ranking_comparisons(
    rankings: Iterable[Sequence[Sequence[int]]], n_responses: int, *, weighted: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The pairwise comparisons implied by rankings (groups of tied responses, best first).

    Returns ``(wins, ties)``: ``wins[i, j]`` = how often i was ranked above j, ``ties[i, j]`` (i < j)
    = how often i and j were in the same group. Responses a ranking leaves out (or repeats) are not
    compared (again).

    ``weighted``: a ranking of m responses implies m (m - 1) / 2 comparisons, but they are not
    independent observations (one annotator's one judgement determines them all); counting each
    as a full comparison would make one ranking of 8 responses as convincing as 28 annotators. Each
    comparison therefore weighs 2 / m, so that a ranking carries the weight of m - 1 comparisons,
    the number of adjacent comparisons that determine it (rank breaking with weights, cf. Azari
    Soufiani, Parkes & Xia 2014, "Computing parametric ranking models via rank-breaking", ICML).
    For two responses the weight is 1.
    """
    wins = np.zeros((n_responses, n_responses))
    ties = np.zeros((n_responses, n_responses))
    for ranking in rankings:
        seen: list[int] = []
        groups: list[list[int]] = []
        for group in ranking:
            members = sorted({int(r) for r in group if 0 <= int(r) < n_responses} - set(seen))
            groups.append(members)
            seen.extend(members)
        m = len(seen)
        if m < 2:
            continue
        weight = 2.0 / m if weighted else 1.0
        above: list[int] = []
        for members in groups:
            for a_pos, a in enumerate(members):
                for b in members[a_pos + 1 :]:
                    ties[a, b] += weight
                for s in above:
                    wins[s, a] += weight
            above.extend(members)
    return wins, ties


@dataclass
class DavidsonFit:
    """MAP fit of Davidson's model: ``theta`` log-strengths, ``log_nu`` the tie parameter and the
    Laplace covariance of ``(theta..., log_nu)`` (inverse Hessian of the negative log posterior)."""

    theta: np.ndarray
    log_nu: float
    covariance: np.ndarray
    n_iter: int


def davidson_fit(
    wins: np.ndarray,
    ties: np.ndarray,
    *,
    theta_sd: float = DAVIDSON_THETA_SD,
    log_nu_sd: float = DAVIDSON_LOG_NU_SD,
    max_iter: int = 100,
    tol: float = 1e-7,
) -> DavidsonFit:
    """Fit Davidson's (1970) model by Newton's method on the log posterior.

    Model: for responses i, j with strengths pi = exp(theta), with D = pi_i + pi_j + nu sqrt(pi_i pi_j),
    P(i beats j) = pi_i / D and P(tie) = nu sqrt(pi_i pi_j) / D. Per pair the three log-odds are linear
    in x = (theta, log nu): a = (theta_i, theta_j, log nu + (theta_i + theta_j) / 2), and the
    log-likelihood is ``c . a - n logsumexp(a)`` (a multinomial logit), so the gradient is
    ``A^T (c - n p)`` and the Hessian ``-n A^T (diag p - p p^T) A``: concave, and Newton converges in a
    few steps. Priors: theta ~ N(0, theta_sd^2) (keeps a response that wins everything finite and
    pins the common shift), log nu ~ N(0, log_nu_sd^2).
    """
    n = wins.shape[0]
    d = n + 1
    pairs = [
        (i, j, wins[i, j], wins[j, i], ties[min(i, j), max(i, j)])
        for i in range(n)
        for j in range(i + 1, n)
        if wins[i, j] + wins[j, i] + ties[i, j] > 0
    ]
    prec = np.r_[np.full(n, 1.0 / theta_sd**2), 1.0 / log_nu_sd**2]
    if pairs:
        design = np.zeros((len(pairs), 3, d))
        c = np.zeros((len(pairs), 3))
        for p_idx, (i, j, wij, wji, tij) in enumerate(pairs):
            design[p_idx, 0, i] = 1.0
            design[p_idx, 1, j] = 1.0
            design[p_idx, 2, [i, j]] = 0.5
            design[p_idx, 2, n] = 1.0
            c[p_idx] = (wij, wji, tij)
        n_pair = c.sum(axis=1)
    else:
        design = np.zeros((0, 3, d))
        c = np.zeros((0, 3))
        n_pair = np.zeros(0)

    def neg_log_post(x: np.ndarray) -> float:
        a = design @ x
        ll = float((c * a).sum() - (n_pair * _row_logsumexp(a)).sum())
        return -ll + 0.5 * float((prec * x * x).sum())

    x = np.zeros(d)
    hess = np.diag(prec)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        a = design @ x
        p = _row_softmax(a)
        resid = c - n_pair[:, None] * p
        grad = -np.einsum("pk,pkd->d", resid, design) + prec * x
        w = n_pair[:, None, None] * (np.einsum("pk,kl->pkl", p, np.eye(3)) - p[:, :, None] * p[:, None, :])
        hess = np.einsum("pkd,pkl,ple->de", design, w, design) + np.diag(prec)
        step = np.linalg.solve(hess, grad)
        f0 = neg_log_post(x)
        t = 1.0
        while t > 1e-8:
            x_new = x - t * step
            if neg_log_post(x_new) <= f0 + 1e-12:
                break
            t /= 2.0
        x = x_new
        if float(np.abs(t * step).max()) < tol:
            break
    a = design @ x
    p = _row_softmax(a)
    w = n_pair[:, None, None] * (np.einsum("pk,kl->pkl", p, np.eye(3)) - p[:, :, None] * p[:, None, :])
    hess = np.einsum("pkd,pkl,ple->de", design, w, design) + np.diag(prec)
    return DavidsonFit(theta=x[:n], log_nu=float(x[n]), covariance=np.linalg.inv(hess), n_iter=n_iter)


def _row_logsumexp(a: np.ndarray) -> np.ndarray:
    # scipy.special.logsumexp costs ~0.2 ms a call on small arrays (array-API dispatch); this is
    # the same formula for the (pairs, 3) arrays of one item.
    top = a.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=1, keepdims=True)))[:, 0]


def _row_softmax(a: np.ndarray) -> np.ndarray:
    ex = np.exp(a - a.max(axis=1, keepdims=True))
    return ex / ex.sum(axis=1, keepdims=True)


def _tie_band(log_nu: float | np.ndarray) -> float | np.ndarray:
    """Largest log-strength difference reported as a tie: where the model's most probable outcome
    is a tie (nu sqrt(pi_i pi_j) >= pi_i, i.e. theta_i - theta_j <= 2 log nu), and at least
    TIE_LOG_ODDS."""
    return np.maximum(2.0 * np.asarray(log_nu), TIE_LOG_ODDS)


def _davidson_groups(fit: DavidsonFit) -> list[list[int]]:
    """Tied groups from a fit, best first: walking the responses by decreasing strength, the next
    response joins the current group when its strength is within the tie band (:func:`_tie_band`)
    of the group's strongest member, otherwise it starts a new group. Comparing with the group's
    head (not the neighbour) keeps a long chain of small steps from becoming one group."""
    theta = fit.theta
    band = float(_tie_band(fit.log_nu))
    order = sorted(range(len(theta)), key=lambda r: (-theta[r], r))
    groups: list[list[int]] = []
    for r in order:
        if groups and theta[groups[-1][0]] - theta[r] <= band:
            groups[-1].append(r)
        else:
            groups.append([r])
    return [sorted(g) for g in groups]


def _davidson_confidence(fit: DavidsonFit, top: list[int], seed: int = 0) -> float:
    """Posterior probability (Laplace approximation, Monte Carlo) that the top group is right: in a
    draw of (theta, log nu) from the approximate posterior, the strongest response is in the top
    group and, if the group has several members, their strengths lie within the draw's tie band.
    Uncertainty lowers it whichever way the data are unclear: too few rankings to tell the best
    from the next, or split opinions that may or may not be a real tie."""
    n = len(fit.theta)
    mean = np.r_[fit.theta, fit.log_nu]
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(fit.covariance)
    draws = mean + rng.standard_normal((_CONFIDENCE_DRAWS, n + 1)) @ chol.T
    theta, log_nu = draws[:, :n], draws[:, n]
    ok = np.isin(theta.argmax(axis=1), top)
    if len(top) > 1:
        spread = theta[:, top].max(axis=1) - theta[:, top].min(axis=1)
        ok &= spread <= _tie_band(log_nu)
    return float(ok.mean())


def ranking_consensus(
    votes_of_one_item: Iterable[Vote], n_responses: int, *, method: str = "davidson"
) -> tuple[list[list[int]], float]:
    """Consensus ranking with ties of one item's ranking votes.

    ``method="davidson"``: Davidson's (1970) Bradley-Terry model with ties, fitted per item
    (:func:`davidson_fit`) over the pairwise comparisons the rankings imply
    (:func:`ranking_comparisons`). Returns ``(groups, confidence)``: groups of tied responses, best
    first (:func:`_davidson_groups` says when responses are reported tied), and ``confidence``,
    the posterior probability that the top group is right (:func:`_davidson_confidence`; Laplace
    approximation of the posterior, 2000 draws with a fixed seed, so the same votes give the same
    number; Monte Carlo standard error at most 0.012).
    With no ranking votes all responses form one group with confidence 0.
    """
    if method != "davidson":
        raise ValueError(f"unknown ranking method {method!r}")
    rankings = [v.ranking for v in votes_of_one_item if v.ranking]
    if n_responses < 1:
        return [], 0.0
    if not rankings:
        return [list(range(n_responses))], 0.0
    wins, ties = ranking_comparisons(rankings, n_responses)
    fit = davidson_fit(wins, ties)
    groups = _davidson_groups(fit)
    return groups, _davidson_confidence(fit, groups[0])


# --------------------------------------------------------------------------------------------
# One item
# --------------------------------------------------------------------------------------------


def item_consensus(
    votes_of_one_item: Sequence[Vote],
    *,
    n_responses: int,
    model: DawidSkeneModel | None = None,
) -> ItemResult:
    """The consensus of one item.

    Pairwise items (votes with a choice), with a fitted ``model``: the posterior under the method
    the project's fit chose (``model.method``: :func:`dawid_skene_posterior` or
    :func:`weighted_majority_posterior`, a suspected group's votes sharing one vote's weight);
    confidence = the posterior of the chosen class; strength weighted by each worker's modelled
    accuracy. Without a model: the majority vote (method ``"majority"``), its confidence from the
    one-coin model with every annotator an unknown account (:data:`UNKNOWN_ACCURACY`).
    Ranking items (votes with a ranking and no choice): Davidson (method ``"davidson"``);
    ``agreement`` is then the share of rankings whose top group equals the consensus top group.
    """
    votes = list(votes_of_one_item)
    choice_votes = [v for v in votes if v.choice is not None]
    if choice_votes:
        classes = model.classes if model is not None else PAIRWISE_CLASSES
        coded = _code_one_item(choice_votes, classes)
        strength = np.asarray([-1 if v.strength is None else int(v.strength) for v in choice_votes])
        found = choice_consensus_arrays(
            coded.item_idx, coded.worker_idx, coded.workers, coded.class_idx, strength, 1, model=model
        )
        return ItemResult(
            method=found.method,
            choice=classes[int(found.choice[0])],
            strength=None if np.isnan(found.strength[0]) else float(found.strength[0]),
            ranking=None,
            confidence=float(found.confidence[0]),
            agreement=float(found.agreement[0]),
            label_count=len(choice_votes),
            posterior=dict(zip(classes, found.posterior[0].tolist(), strict=True)),
        )
    ranking_votes = [v for v in votes if v.ranking]
    if not ranking_votes:
        return ItemResult(
            method="none",
            choice=None,
            strength=None,
            ranking=None,
            confidence=0.0,
            agreement=None,
            label_count=0,
            posterior=None,
        )
    groups, confidence = ranking_consensus(ranking_votes, n_responses)
    top = set(groups[0])
    agree = sum(
        1
        for v in ranking_votes
        if v.ranking and {int(r) for r in v.ranking[0]} == top  # type: ignore[index]
    )
    return ItemResult(
        method="davidson",
        choice=None,
        strength=None,
        ranking=groups,
        confidence=confidence,
        agreement=agree / len(ranking_votes),
        label_count=len(ranking_votes),
        posterior=None,
    )
