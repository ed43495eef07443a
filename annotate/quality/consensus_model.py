"""What the project fit adds to plain Dawid-Skene so that a group cannot capture consensus.

Pure functions over integer-coded labels (as :func:`~annotate.quality.aggregation.dawid_skene_fit_arrays`
takes them); :mod:`annotate.quality.model_fit` reads the labels, calls these and stores the result.

* **Priors from expertise level** (:func:`level_prior`): a Dirichlet prior on each row of an
  annotator's confusion matrix, centred on an accuracy that grows with the annotator's level in
  the project's domain (:data:`LEVEL_ACCURACY`), spread evenly over the wrong answers, worth
  ``strength`` labels per row. Weak on purpose: an annotator with a hundred labels is judged by
  them; one with five is still mostly the prior, so a new account cannot look perfect after a few
  lucky agreements.
* **Suspected groups count once** (:func:`collusion_groups`, :func:`group_label_weights`): the
  pairs that :func:`~annotate.quality.integrity.collusion_pairs` flags (agreement far above what
  their agreement with the crowd implies) are joined into groups (connected components); on one
  item the m members of a group who voted share one vote's weight (1/m each), in the fit and in
  every item's posterior.
* **The method is chosen on held-out gold** (:func:`consensus_method_choose`): k-fold over the gold
  items; each fold's gold is left unclamped, the models are fitted on the rest, and the
  log-likelihood of the fold's true answers is scored under Dawid-Skene and under the
  accuracy-weighted majority vote (the one-coin model, :func:`one_coin_fit_arrays`). The method
  with the higher mean log-likelihood decides the project's items. The folds' one-coin EM starts
  from the all-gold fit and their Dawid-Skene EM runs with SQUAREM; both end at the fold's own
  fixed point (``fast_folds`` in :func:`consensus_model_fit`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotate.quality.aggregation import UNKNOWN_ACCURACY, DawidSkeneArrays, dawid_skene_fit_arrays

#: Prior accuracy per expertise level (1 novice .. 4 authority; 0 = no level in the domain).
#: Modest on purpose: a credential says what someone knows, not how carefully they label, and one
#: person can hold several accounts with credentials. All stay below 4/7: with two classes of
#: equal prior and errors spread over three, two accounts without a track record that outvote a
#: third are then below 0.8 (their likelihood ratio 3a / (1 - a) stays under 4).
LEVEL_ACCURACY: dict[int, float] = {1: UNKNOWN_ACCURACY, 2: 0.52, 3: 0.54, 4: 0.56}

METHODS = ("dawid_skene", "majority")


def one_coin_matrix(accuracy: float, n_classes: int) -> np.ndarray:
    """A confusion matrix right with probability ``accuracy``, errors spread evenly."""
    off = (1.0 - accuracy) / (n_classes - 1)
    m = np.full((n_classes, n_classes), off)
    np.fill_diagonal(m, accuracy)
    return m


def level_prior(levels: Sequence[int], n_classes: int, *, strength: float) -> np.ndarray:
    """Dirichlet pseudo-counts, ``n_workers x K x K``: each row of worker w's confusion gets
    ``strength`` pseudo-labels, ``strength * a`` on the right answer and the rest spread evenly,
    where ``a = LEVEL_ACCURACY[level_w]``. A worker without a level (0) gets no prior: the fit is
    then plain Dawid-Skene for them."""
    lv = np.array([min(int(x), 4) for x in levels], dtype=np.int64)
    acc = np.array([LEVEL_ACCURACY.get(int(x), 0.0) for x in lv], dtype=np.float64)
    off = (1.0 - acc) / (n_classes - 1)
    prior = np.repeat(off[:, None, None], n_classes, axis=1).repeat(n_classes, axis=2)
    idx = np.arange(n_classes)
    prior[:, idx, idx] = acc[:, None]
    prior[lv <= 0] = 0.0
    return prior * strength


# --------------------------------------------------------------------------------------------
# Suspected groups
# --------------------------------------------------------------------------------------------


def collusion_groups(pairs: Iterable[tuple[Hashable, Hashable]]) -> list[list[Hashable]]:
    """Connected components of the flagged pairs (union-find): a ring whose pairs were flagged
    a-b and b-c is one group {a, b, c}. Groups sorted by their smallest member's text, members too."""
    parent: dict[Hashable, Hashable] = {}

    def find(x: Hashable) -> Hashable:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    members: dict[Hashable, list[Hashable]] = {}
    for x in parent:
        members.setdefault(find(x), []).append(x)
    groups = [sorted(g, key=str) for g in members.values() if len(g) > 1]
    return sorted(groups, key=lambda g: str(g[0]))


def group_label_weights(item_idx: np.ndarray, worker_group: np.ndarray) -> np.ndarray:
    """Per label: 1, or 1/m when the label's worker belongs to a suspected group (``worker_group``
    >= 0 per label) of which m members labelled the same item."""
    item_idx = np.asarray(item_idx, dtype=np.int64)
    worker_group = np.asarray(worker_group, dtype=np.int64)
    weights = np.ones(len(item_idx))
    grouped = worker_group >= 0
    if not grouped.any():
        return weights
    n_groups = int(worker_group.max()) + 1
    key = item_idx[grouped] * n_groups + worker_group[grouped]
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    weights[grouped] = 1.0 / counts[inverse]
    return weights


# --------------------------------------------------------------------------------------------
# Accuracy-weighted majority over arrays (the "majority" method)
# --------------------------------------------------------------------------------------------


def worker_accuracies(priors: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Per worker: P(answer = truth) = sum_k prior_k confusion[w, k, k]."""
    return np.einsum("k,wkk->w", priors, confusion)


def weighted_majority_log_posteriors(
    item_idx: np.ndarray,
    worker_idx: np.ndarray,
    class_idx: np.ndarray,
    n_items: int,
    n_classes: int,
    *,
    accuracies: np.ndarray,
    priors: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """``n_items x K`` log posteriors of the one-coin model with per-worker accuracies (the
    array form of :func:`~annotate.quality.aggregation.weighted_majority_posterior`)."""
    acc = np.clip(np.asarray(accuracies, dtype=np.float64), 1e-6, 1.0 - 1e-6)
    step = np.log(acc * (n_classes - 1) / (1.0 - acc))[worker_idx]
    if weights is not None:
        step = step * weights
    flat = np.asarray(item_idx, dtype=np.int64) * n_classes + np.asarray(class_idx, dtype=np.int64)
    logit = np.bincount(flat, weights=step, minlength=n_items * n_classes).reshape(n_items, n_classes)
    logit += np.log(np.maximum(priors, 1e-300))[None, :]
    # the per-item reductions run over K contiguous rows (numpy reduces a short last axis slowly)
    by_class = np.ascontiguousarray(logit.T)
    top = by_class.max(axis=0)
    by_class -= top
    np.exp(by_class, out=by_class)
    return logit - (top + np.log(by_class.sum(axis=0)))[:, None]


@dataclass
class OneCoinFit:
    """Result of :func:`one_coin_fit_arrays`: one accuracy per worker, the accuracy its vote
    weighs with (:func:`beyond_chance_accuracy`), the class priors and each item's log
    posterior."""

    accuracies: np.ndarray
    priors: np.ndarray
    log_posteriors: np.ndarray
    n_iter: int
    vote_accuracies: np.ndarray | None = None


def beyond_chance_accuracy(accuracy: np.ndarray, chance: np.ndarray, n_classes: int) -> np.ndarray:
    """The accuracy a worker's vote weighs with: their accuracy beyond their own chance level,
    mapped onto the one-coin scale. ``chance`` is the agreement their answers would reach if they
    ignored the item (their answer distribution times the class priors); the one-coin model takes
    it to be 1/K, which holds for uniform guessing over balanced classes only. An annotator who
    always answers "A" or "B" at random is right as often as A or B is true (about 0.45 with
    rare ties), which a one-coin vote weighs like a real, if weak, annotator; here it maps to
    1/K, a vote that adds nothing:

        a' = 1/K + (1 - 1/K) (a - chance) / (1 - chance), at least 1/K.

    With balanced classes every chance level is 1/K and a' = a (the plain one-coin model)."""
    k = float(n_classes)
    a = np.asarray(accuracy, dtype=np.float64)
    c = np.clip(np.asarray(chance, dtype=np.float64), 0.0, 1.0 - 1e-6)
    return np.clip(1.0 / k + (1.0 - 1.0 / k) * (a - c) / (1.0 - c), 1.0 / k, 1.0 - 1e-6)


def one_coin_fit_arrays(
    item_idx: np.ndarray,
    worker_idx: np.ndarray,
    class_idx: np.ndarray,
    n_items: int,
    n_workers: int,
    n_classes: int,
    *,
    gold: np.ndarray | None = None,
    prior_accuracy: np.ndarray | None = None,
    prior_strength: float = 2.0,
    weights: np.ndarray | None = None,
    smoothing: float = 0.01,
    max_iter: int = 100,
    tol: float = 1e-6,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> OneCoinFit:
    """EM for the one-coin model behind the weighted majority vote: worker w is right with
    probability a_w and spreads its errors evenly. E-step: :func:`weighted_majority_log_posteriors`
    (gold items clamped to their truth); M-step: ``a_w`` = the posterior-weighted share of w's
    labels that are right, with a Beta prior worth ``prior_strength`` labels centred on
    ``prior_accuracy[w]`` (the level accuracy). One parameter per annotator instead of K x K: at
    three labels an item it estimates accuracies with less bias than the diagonal of Dawid-Skene's
    confusions (on the adversarial crowd the latter put experts at 0.80 against 0.88 true).
    Starts from the gold alone when there is gold, else from the soft majority vote.

    A vote weighs with the worker's accuracy beyond their own chance level
    (:func:`beyond_chance_accuracy`, their answer distribution with one pseudo-label spread over
    the classes, times the class priors), so an answer that ignores the item adds nothing even
    when it is not uniform.

    ``start`` (accuracies, class priors) starts EM from a fit's parameters instead: the first
    E-step computes the posteriors under them (with this call's gold clamped)."""
    item_idx = np.asarray(item_idx, dtype=np.int64)
    worker_idx = np.asarray(worker_idx, dtype=np.int64)
    class_idx = np.asarray(class_idx, dtype=np.int64)
    k = n_classes
    w_label = np.ones(len(item_idx)) if weights is None else np.asarray(weights, dtype=np.float64)
    a0 = np.full(n_workers, UNKNOWN_ACCURACY) if prior_accuracy is None else np.asarray(prior_accuracy)
    labelled = np.bincount(item_idx, minlength=n_items) > 0
    every = bool(labelled.all())  # then the masks below copy to the same values
    truth = np.full(n_items, -1, dtype=np.int64) if gold is None else np.asarray(gold, dtype=np.int64)
    clamp = np.flatnonzero(truth >= 0)
    flat = item_idx * k + class_idx  # (item, answer) cell of each label
    post = np.bincount(flat, weights=w_label, minlength=n_items * k).reshape(n_items, k)
    if len(clamp):
        post[:] = 0.0
        post[clamp, truth[clamp]] = 1.0
    post = post / np.maximum(post.sum(axis=1, keepdims=True), 1e-300)
    acc = a0.astype(np.float64)
    answers = np.bincount(worker_idx * k + class_idx, weights=w_label, minlength=n_workers * k).reshape(
        n_workers, k
    )
    answer_share = (answers + 1.0 / k) / (answers.sum(axis=1, keepdims=True) + 1.0)
    priors = np.full(k, 1.0 / k)
    vote_acc = acc
    log_post = np.full((n_items, k), -np.log(k))

    def e_step(acc: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        vote_acc = beyond_chance_accuracy(acc, answer_share @ priors, k)
        log_post = weighted_majority_log_posteriors(
            item_idx, worker_idx, class_idx, n_items, k, accuracies=vote_acc, priors=priors, weights=weights
        )
        post = np.exp(log_post)
        if not every:
            post[~labelled] = 0.0
        if len(clamp):
            post[clamp] = 0.0
            post[clamp, truth[clamp]] = 1.0
        return vote_acc, log_post, post

    # Items whose posterior counts in the M-step: the gold alone in a cold start's first one, the
    # labelled items from the first E-step on.
    counted_item = post.sum(axis=1) > 0
    if start is not None:
        acc, priors = (np.asarray(x, dtype=np.float64) for x in start)
        if acc.shape != (n_workers,) or priors.shape != (k,):
            raise ValueError("start must be accuracies (n_workers) and class priors (K)")
        vote_acc, log_post, post = e_step(acc, priors)
        counted_item = labelled
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        counted = w_label * counted_item[item_idx]  # per item, then per label
        right = post.ravel()[flat] * w_label
        new_acc = (np.bincount(worker_idx, weights=right, minlength=n_workers) + prior_strength * a0) / (
            np.bincount(worker_idx, weights=counted, minlength=n_workers) + prior_strength
        )
        mass = (post if every else post[labelled]).sum(axis=0)
        priors = (mass + smoothing) / (mass.sum() + k * smoothing)
        vote_acc, log_post, post = e_step(new_acc, priors)
        counted_item = labelled
        done = float(np.abs(new_acc - acc).max()) < tol
        acc = new_acc
        if done:
            break
    return OneCoinFit(
        accuracies=acc, priors=priors, log_posteriors=log_post, n_iter=n_iter, vote_accuracies=vote_acc
    )


# --------------------------------------------------------------------------------------------
# Choosing the method on held-out gold
# --------------------------------------------------------------------------------------------


@dataclass
class MethodChoice:
    """The outcome of :func:`consensus_method_choose`. ``scores``: mean log-likelihood (nats) of a
    held-out gold item's true answer under each method (higher is better; log(1/4) = -1.386 is a
    uniform guess over four classes); ``accuracy``: the share of held-out gold items each method
    gets right; ``gold_items``: gold items with labels; ``reason`` says why without a contest."""

    method: str
    scores: dict[str, float] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    gold_items: int = 0
    folds: int = 0
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "accuracy": {k: round(v, 6) for k, v in self.accuracy.items()},
            "gold_items": self.gold_items,
            "folds": self.folds,
            "reason": self.reason,
        }


def consensus_method_choose(
    item_idx: np.ndarray,
    worker_idx: np.ndarray,
    class_idx: np.ndarray,
    n_items: int,
    n_workers: int,
    n_classes: int,
    *,
    gold: np.ndarray,
    folds: int = 5,
    min_gold: int = 10,
    smoothing: float = 0.01,
    prior: np.ndarray | None = None,
    prior_accuracy: np.ndarray | None = None,
    accuracy_prior_strength: float = 2.0,
    weights: np.ndarray | None = None,
    seed: int = 0,
    start: OneCoinFit | None = None,
    accelerate: bool = False,
) -> MethodChoice:
    """Choose between Dawid-Skene and the accuracy-weighted majority vote by k-fold cross-validation
    over the gold items that have labels.

    For each fold, the model is fitted with every other fold's gold clamped (and this fold's gold
    items as ordinary items: their labels still count, their truth does not), then each held-out
    item's true class is scored: ``log P(truth | its labels)`` under the fit's Dawid-Skene posterior,
    and under the weighted majority vote of the one-coin model fitted the same way
    (:func:`one_coin_fit_arrays`). Both see the same level priors, group weights and labels, so the
    contest is "full confusion matrices" against "one accuracy per annotator". Ties go to the
    majority vote (fewer parameters). With fewer than
    ``min_gold`` labelled gold items there is no contest: Dawid-Skene, with the reason recorded.
    Cost: ``folds`` fits of the project.

    ``start`` (the one-coin fit with all the gold clamped, which :func:`consensus_model_fit` makes
    anyway) starts each fold's one-coin EM from its accuracies and priors; the fold's fit leaves
    the fold's gold unclamped and stops only when no accuracy moves by more than ``1e-6``, so it
    ends at the fold's own fixed point, in a third of the iterations. Dawid-Skene's folds are not
    warm-started: their stopping rule is on the log-likelihood, which barely moves when a fifth of
    the gold is unclamped, so a fold started from the all-gold fit stops at once with its held-out
    items still pulled towards their truth (on a 1M-label project it scored them -0.0149 nats
    where the fold's own fixed point scores -0.0189). ``accelerate`` runs them with SQUAREM
    (:func:`~annotate.quality.aggregation.dawid_skene_fit_arrays`) from the usual cold start.
    """
    gold = np.asarray(gold, dtype=np.int64)
    labelled = np.bincount(np.asarray(item_idx, dtype=np.int64), minlength=n_items) > 0
    gold_items = np.flatnonzero((gold >= 0) & labelled)
    if len(gold_items) < max(min_gold, 2):
        return MethodChoice(
            method="dawid_skene",
            gold_items=int(len(gold_items)),
            reason=f"fewer than {max(min_gold, 2)} gold items with labels: no held-out comparison",
        )
    folds = max(2, min(folds, len(gold_items)))
    order = np.random.default_rng(seed).permutation(gold_items)
    fold_of = np.empty(len(order), dtype=np.int64)
    fold_of[:] = np.arange(len(order)) % folds
    totals = {m: 0.0 for m in METHODS}
    hits = {m: 0 for m in METHODS}
    for f in range(folds):
        held = order[fold_of == f]
        train_gold = gold.copy()
        train_gold[held] = -1
        fit = dawid_skene_fit_arrays(
            item_idx,
            worker_idx,
            class_idx,
            n_items,
            n_workers,
            n_classes,
            smoothing=smoothing,
            gold=train_gold,
            prior=prior,
            weights=weights,
            accelerate=accelerate,
        )
        truth = gold[held]
        ds = np.log(np.maximum(fit.posteriors[held, truth], 1e-300))
        totals["dawid_skene"] += float(ds.sum())
        hits["dawid_skene"] += int((fit.posteriors[held].argmax(axis=1) == truth).sum())
        wm = one_coin_fit_arrays(
            item_idx,
            worker_idx,
            class_idx,
            n_items,
            n_workers,
            n_classes,
            gold=train_gold,
            prior_accuracy=prior_accuracy,
            prior_strength=accuracy_prior_strength,
            weights=weights,
            smoothing=smoothing,
            start=None if start is None else (start.accuracies, start.priors),
        ).log_posteriors
        totals["majority"] += float(wm[held, truth].sum())
        hits["majority"] += int((wm[held].argmax(axis=1) == truth).sum())
    n = len(gold_items)
    scores = {m: totals[m] / n for m in METHODS}
    method = "dawid_skene" if scores["dawid_skene"] > scores["majority"] else "majority"
    return MethodChoice(
        method=method,
        scores=scores,
        accuracy={m: hits[m] / n for m in METHODS},
        gold_items=int(n),
        folds=folds,
    )


@dataclass
class ConsensusFit:
    """What :func:`consensus_model_fit` returns: the final fit (all gold clamped), the method
    choice, and the per-label weights it used."""

    fit: DawidSkeneArrays
    choice: MethodChoice
    weights: np.ndarray
    one_coin: OneCoinFit | None = None


def consensus_model_fit(
    item_idx: np.ndarray,
    worker_idx: np.ndarray,
    class_idx: np.ndarray,
    n_items: int,
    n_workers: int,
    n_classes: int,
    *,
    gold: np.ndarray | None = None,
    levels: Sequence[int] | None = None,
    worker_group: np.ndarray | None = None,
    smoothing: float = 0.01,
    prior_strength: float = 4.0,
    accuracy_prior_strength: float = 2.0,
    folds: int = 5,
    fast_folds: bool = True,
) -> ConsensusFit:
    """The project fit over coded labels: level priors (``levels`` per worker, 0 = none), the
    votes of a suspected group on one item sharing one vote (``worker_group`` per worker, -1 =
    none), the method chosen on held-out gold, then Dawid-Skene with all the gold clamped. With no
    gold, no levels and no groups this is plain Dawid-Skene with ``smoothing``. ``fast_folds``:
    the folds of the method choice start the one-coin EM from the all-gold fit and run
    Dawid-Skene with SQUAREM (see :func:`consensus_method_choose`); off, both are plain cold EM."""
    if gold is None:
        gold = np.full(n_items, -1, dtype=np.int64)
    prior = None
    prior_accuracy = None
    if levels is not None and any(int(x) > 0 for x in levels):
        prior = level_prior(levels, n_classes, strength=prior_strength)
    if levels is not None:
        prior_accuracy = np.array([LEVEL_ACCURACY.get(min(int(x), 4), UNKNOWN_ACCURACY) for x in levels])
    weights = None
    if worker_group is not None and (np.asarray(worker_group) >= 0).any():
        weights = group_label_weights(item_idx, np.asarray(worker_group)[worker_idx])
    arrays = (item_idx, worker_idx, class_idx, n_items, n_workers, n_classes)
    # Both methods fitted with all the gold first: the stored fit, and the one-coin folds' start.
    fit = dawid_skene_fit_arrays(*arrays, smoothing=smoothing, gold=gold, prior=prior, weights=weights)
    one_coin = one_coin_fit_arrays(
        *arrays,
        gold=gold,
        prior_accuracy=prior_accuracy,
        prior_strength=accuracy_prior_strength,
        weights=weights,
        smoothing=smoothing,
    )
    choice = consensus_method_choose(
        *arrays,
        gold=gold,
        folds=folds,
        smoothing=smoothing,
        prior=prior,
        prior_accuracy=prior_accuracy,
        accuracy_prior_strength=accuracy_prior_strength,
        weights=weights,
        start=one_coin if fast_folds else None,
        accelerate=fast_folds,
    )
    return ConsensusFit(
        fit=fit,
        choice=choice,
        weights=np.ones(len(item_idx)) if weights is None else weights,
        one_coin=one_coin if choice.method == "majority" else None,
    )


def worker_group_index(workers: Sequence[Hashable], groups: Sequence[Sequence[Hashable]]) -> np.ndarray:
    """Per worker (in ``workers`` order): the index of its group in ``groups``, or -1."""
    of: Mapping[Hashable, int] = {w: g for g, members in enumerate(groups) for w in members}
    return np.array([of.get(w, -1) for w in workers], dtype=np.int64)
