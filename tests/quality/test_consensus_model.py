"""Consensus that groups cannot capture: gold clamps the fit, expertise levels give priors, the
method is chosen on held-out gold, confidence comes from the annotators' accuracies, and a
suspected group's votes count once (annotate/quality/consensus_model.py, aggregation.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from annotate.quality.aggregation import (
    PAIRWISE_CLASSES,
    UNKNOWN_ACCURACY,
    DawidSkeneModel,
    Vote,
    code_votes,
    dawid_skene_fit_arrays,
    item_consensus,
    weighted_majority_posterior,
)
from annotate.quality.consensus_model import (
    LEVEL_ACCURACY,
    collusion_groups,
    consensus_method_choose,
    group_label_weights,
    level_prior,
    one_coin_fit_arrays,
    one_coin_matrix,
)

K = len(PAIRWISE_CLASSES)


def _wrong(rng: random.Random, truth: str) -> str:
    return rng.choice([c for c in PAIRWISE_CLASSES if c != truth])


def _copier_crowd(seed: int = 3, n_items: int = 120):
    """Three copiers who give one item-dependent answer, right 30% of the time, and one honest
    annotator right 85% of the time, on every item; the last ``n_gold`` items are gold."""
    rng = random.Random(seed)
    truth = [rng.choice(("A", "B")) for _ in range(n_items)]
    votes = []
    for i, t in enumerate(truth):
        copied = t if rng.random() < 0.3 else _wrong(rng, t)
        for w in ("c1", "c2", "c3"):
            votes.append(Vote(item=i, worker=w, choice=copied))
        votes.append(Vote(item=i, worker="honest", choice=t if rng.random() < 0.85 else _wrong(rng, t)))
    return votes, truth


def _contrarian_crowd(seed: int = 3, n_items: int = 120, n_gold: int = 30):
    """Three annotators who, independently, give the other response than the better one 80% of the
    time, and one honest annotator right 85% of the time; the last ``n_gold`` items are gold."""
    rng = random.Random(seed)
    truth = [rng.choice(("A", "B")) for _ in range(n_items)]
    votes = []
    for i, t in enumerate(truth):
        other = "B" if t == "A" else "A"
        for w in ("c1", "c2", "c3"):
            votes.append(Vote(item=i, worker=w, choice=other if rng.random() < 0.8 else t))
        votes.append(Vote(item=i, worker="honest", choice=t if rng.random() < 0.85 else _wrong(rng, t)))
    gold = np.full(n_items, -1)
    for i in range(n_items - n_gold, n_items):
        gold[i] = PAIRWISE_CLASSES.index(truth[i])
    return votes, truth, gold


def _fit(votes, **kwargs):
    coded = code_votes(votes)
    fit = dawid_skene_fit_arrays(
        coded.item_idx,
        coded.worker_idx,
        coded.class_idx,
        len(coded.items),
        len(coded.workers),
        K,
        **kwargs,
    )
    return coded, fit


def _accuracy(coded, fit, truth, items):
    return np.mean(
        [PAIRWISE_CLASSES[fit.posteriors[coded.items.index(i)].argmax()] == truth[i] for i in items]
    )


# --- gold clamps ---------------------------------------------------------------------------


def test_gold_items_clamp_their_truth_and_unmask_a_wrong_majority():
    votes, truth, gold = _contrarian_crowd()
    ordinary = range(90)
    coded, plain = _fit(votes)
    # Without gold the majority's systematic error looks like the truth.
    assert _accuracy(coded, plain, truth, ordinary) < 0.3
    coded, anchored = _fit(votes, gold=gold[[coded.items.index(i) for i in range(120)]])
    for i in range(90, 120):
        assert anchored.posteriors[coded.items.index(i)][gold[i]] == 1.0
    # With it, their error is learned and even their votes point at the truth.
    assert _accuracy(coded, anchored, truth, ordinary) > 0.9
    c1, honest = coded.workers.index("c1"), coded.workers.index("honest")
    assert anchored.confusion[c1][0, 1] > 0.6
    assert anchored.confusion[honest][0, 0] > 0.7


def test_gold_of_the_wrong_shape_is_refused():
    votes, _ = _copier_crowd(n_items=10)
    with pytest.raises(ValueError, match="gold"):
        _fit(votes, gold=np.array([0, 1]))


# --- priors from expertise level ------------------------------------------------------------


def test_level_prior_is_centred_on_the_level_accuracy():
    prior = level_prior([1, 4, 0], K, strength=4)
    assert prior.shape == (3, K, K)
    np.testing.assert_allclose(prior[:2].sum(axis=2), 4.0)
    assert prior[0, 0, 0] == pytest.approx(4 * LEVEL_ACCURACY[1])
    assert prior[1, 2, 2] == pytest.approx(4 * LEVEL_ACCURACY[4])
    assert LEVEL_ACCURACY[1] == UNKNOWN_ACCURACY
    # no level in the domain: no prior (plain Dawid-Skene for that annotator)
    assert not prior[2].any()


def test_level_prior_holds_a_thin_annotator_and_yields_to_data():
    rng = random.Random(5)
    votes = []
    truth = [rng.choice(("A", "B")) for _ in range(300)]
    for i, t in enumerate(truth):
        for w in ("r1", "r2", "r3"):
            votes.append(Vote(item=i, worker=w, choice=t if rng.random() < 0.9 else _wrong(rng, t)))
    # "lucky" agreed with everyone on its three items; "busy" labelled everything right.
    votes += [Vote(item=i, worker="lucky", choice=truth[i]) for i in range(3)]
    votes += [Vote(item=i, worker="busy", choice=truth[i]) for i in range(300)]
    coded = code_votes(votes)
    workers = coded.workers
    levels = [1 if w == "lucky" else 4 if w == "busy" else 3 for w in workers]
    _, plain = _fit(votes)
    _, held = _fit(votes, prior=level_prior(levels, K, strength=4))
    lucky, busy = workers.index("lucky"), workers.index("busy")
    # Without the prior three agreements make a perfect annotator.
    assert plain.confusion[lucky][0, 0] > 0.95
    # With it, the thin annotator's unseen rows stay at the level's accuracy and the seen ones
    # move only part way; the busy annotator is judged by its 300 labels.
    assert held.confusion[lucky][2, 2] == pytest.approx(LEVEL_ACCURACY[1], abs=0.01)
    assert held.confusion[lucky][0, 0] < 0.9
    assert held.confusion[busy][0, 0] > 0.97


# --- the method chosen on held-out gold ----------------------------------------------------


def _biased_crowd(seed: int = 11, n_items: int = 400):
    """Annotators who systematically answer "A" when the truth is "tie": one accuracy per
    annotator cannot say that, a confusion matrix can."""
    rng = random.Random(seed)
    truth = [rng.choices(PAIRWISE_CLASSES, weights=(35, 35, 25, 5))[0] for _ in range(n_items)]
    votes = []
    for i, t in enumerate(truth):
        for w in range(5):
            if t == "tie":
                answer = "A" if rng.random() < 0.7 else "tie"
            else:
                answer = t if rng.random() < 0.8 else _wrong(rng, t)
            votes.append(Vote(item=i, worker=f"w{w}", choice=answer))
    return votes, truth


def test_model_choice_scores_both_methods_on_held_out_gold_and_keeps_the_better():
    votes, truth = _biased_crowd()
    coded = code_votes(votes)
    gold = np.full(len(coded.items), -1)
    for idx, item in enumerate(coded.items):
        if item % 4 == 0:
            gold[idx] = PAIRWISE_CLASSES.index(truth[item])
    choice = consensus_method_choose(
        coded.item_idx,
        coded.worker_idx,
        coded.class_idx,
        len(coded.items),
        len(coded.workers),
        K,
        gold=gold,
        folds=5,
    )
    assert choice.gold_items == 100
    assert choice.folds == 5
    assert set(choice.scores) == {"dawid_skene", "majority"}
    assert choice.method == max(choice.scores, key=choice.scores.get)
    assert choice.method == "dawid_skene"
    assert choice.to_json()["scores"]["dawid_skene"] == pytest.approx(choice.scores["dawid_skene"], abs=1e-6)


def test_model_choice_picks_the_majority_when_confusions_overfit():
    # Annotators who are one-coin (right 65%, errors spread evenly), 30 labels each: sixteen
    # confusion cells per annotator only add noise.
    rng = random.Random(2)
    truth = [rng.choice(PAIRWISE_CLASSES) for _ in range(300)]
    votes = []
    for i, t in enumerate(truth):
        for w in rng.sample(range(30), 3):
            votes.append(Vote(item=i, worker=f"w{w}", choice=t if rng.random() < 0.65 else _wrong(rng, t)))
    coded = code_votes(votes)
    gold = np.array([PAIRWISE_CLASSES.index(truth[item]) if item < 150 else -1 for item in coded.items])
    choice = consensus_method_choose(
        coded.item_idx,
        coded.worker_idx,
        coded.class_idx,
        len(coded.items),
        len(coded.workers),
        K,
        gold=gold,
        prior=level_prior([2] * len(coded.workers), K, strength=4),
        prior_accuracy=np.full(len(coded.workers), LEVEL_ACCURACY[2]),
    )
    assert choice.method == "majority"
    assert choice.scores["majority"] > choice.scores["dawid_skene"]


def test_model_choice_without_enough_gold_keeps_dawid_skene_and_says_why():
    votes, _ = _biased_crowd(n_items=40)
    coded = code_votes(votes)
    gold = np.full(len(coded.items), -1)
    gold[:3] = 0
    choice = consensus_method_choose(
        coded.item_idx, coded.worker_idx, coded.class_idx, len(coded.items), len(coded.workers), K, gold=gold
    )
    assert choice.method == "dawid_skene"
    assert choice.scores == {}
    assert "gold" in choice.reason


# --- confidence from accuracies ------------------------------------------------------------


def _model(accuracies: dict[str, float], *, method: str = "dawid_skene", groups=None) -> DawidSkeneModel:
    return DawidSkeneModel(
        classes=PAIRWISE_CLASSES,
        priors=np.array([0.45, 0.45, 0.07, 0.03]),
        confusion={w: one_coin_matrix(a, K) for w, a in accuracies.items()},
        default_confusion=one_coin_matrix(UNKNOWN_ACCURACY, K),
        meta={"method": method, "groups": groups or []},
    )


def _split(workers=("x", "y", "z")):
    return [
        Vote(item=1, worker=workers[0], choice="A"),
        Vote(item=1, worker=workers[1], choice="A"),
        Vote(item=1, worker=workers[2], choice="B"),
    ]


def test_a_two_to_one_split_by_unknown_accounts_stays_below_threshold():
    assert item_consensus(_split(), n_responses=2).confidence < 0.8
    # accounts the fit holds at their level's prior, without a track record, neither
    prior_only = {w: LEVEL_ACCURACY[4] for w in ("x", "y", "z")}
    assert item_consensus(_split(), n_responses=2, model=_model(prior_only)).confidence < 0.8
    for method in ("dawid_skene", "majority"):
        fitted = _model({"someone": 0.9}, method=method)
        result = item_consensus(_split(), n_responses=2, model=fitted)
        assert result.choice == "A"
        assert result.confidence < 0.8


@pytest.mark.parametrize("method", ["dawid_skene", "majority"])
def test_confidence_grows_with_the_estimated_accuracy_of_the_majority(method):
    weak = item_consensus(
        _split(), n_responses=2, model=_model({"x": 0.55, "y": 0.55, "z": 0.55}, method=method)
    )
    strong = item_consensus(
        _split(), n_responses=2, model=_model({"x": 0.95, "y": 0.95, "z": 0.6}, method=method)
    )
    assert weak.method == strong.method == method
    assert weak.confidence < 0.8 < strong.confidence


def test_the_majority_method_weighs_votes_by_accuracy():
    # One proven annotator against two near-random ones: the weighted vote follows the proven one.
    result = item_consensus(
        _split(), n_responses=2, model=_model({"x": 0.3, "y": 0.3, "z": 0.97}, method="majority")
    )
    assert result.choice == "B"


# --- suspected groups count once -----------------------------------------------------------


def test_collusion_groups_are_connected_components_of_flagged_pairs():
    assert collusion_groups([("a", "b"), ("b", "c"), ("x", "y")]) == [["a", "b", "c"], ["x", "y"]]
    assert collusion_groups([]) == []


def test_group_members_on_one_item_share_one_vote():
    items = np.array([0, 0, 0, 1, 1])
    groups = np.array([0, 0, -1, 0, 1])
    np.testing.assert_allclose(group_label_weights(items, groups), [0.5, 0.5, 1.0, 1.0, 1.0])


@pytest.mark.parametrize("method", ["dawid_skene", "majority"])
def test_a_two_to_one_split_carried_by_a_suspected_pair_does_not_finalise(method):
    accuracies = {"x": 0.95, "y": 0.95, "z": 0.9}
    free = item_consensus(_split(), n_responses=2, model=_model(accuracies, method=method))
    assert free.confidence >= 0.8  # two proven annotators outvote a third
    paired = item_consensus(
        _split(), n_responses=2, model=_model(accuracies, method=method, groups=[["x", "y"]])
    )
    assert paired.confidence < 0.8


def test_group_weights_in_the_fit_stop_copies_from_outvoting_the_honest():
    votes, truth = _copier_crowd(seed=4)
    coded = code_votes(votes)
    group = np.array([0 if w.startswith("c") else -1 for w in coded.workers])
    _, merged = _fit(votes, weights=group_label_weights(coded.item_idx, group[coded.worker_idx]))
    _, plain = _fit(votes)
    items = range(120)
    assert _accuracy(coded, merged, truth, items) > _accuracy(coded, plain, truth, items) + 0.2


def test_the_one_coin_fit_learns_accuracies_from_gold_and_agreement():
    rng = random.Random(9)
    truth = [rng.choice(("A", "B")) for _ in range(400)]
    accuracy = {"good": 0.9, "fair": 0.65, "spam": 0.25}
    votes = []
    for i, t in enumerate(truth):
        for w, a in accuracy.items():
            for copy in range(2):
                votes.append(
                    Vote(item=i, worker=f"{w}{copy}", choice=t if rng.random() < a else _wrong(rng, t))
                )
    coded = code_votes(votes)
    gold = np.array([PAIRWISE_CLASSES.index(truth[item]) if item % 5 == 0 else -1 for item in coded.items])
    fit = one_coin_fit_arrays(
        coded.item_idx, coded.worker_idx, coded.class_idx, len(coded.items), len(coded.workers), K, gold=gold
    )
    for w, a in accuracy.items():
        for copy in range(2):
            assert fit.accuracies[coded.workers.index(f"{w}{copy}")] == pytest.approx(a, abs=0.05)
    right = [
        PAIRWISE_CLASSES[fit.log_posteriors[j].argmax()] == truth[item] for j, item in enumerate(coded.items)
    ]
    assert np.mean(right) > 0.95


def test_an_answer_that_ignores_the_item_weighs_nothing_even_when_it_is_not_uniform():
    """An annotator who answers A or B at random, never "tie" or "both bad", is right about as
    often as A or B is true (about 0.45 here), well above the 1/4 the one-coin model takes for
    chance: weighed at that accuracy, their vote decides a 1:1 split. The vote weighs with the
    accuracy beyond their own chance level, which for them is 1/K: nothing."""
    rng = random.Random(3)
    truth = [rng.choice(("A", "B")) if rng.random() < 0.9 else "tie" for _ in range(400)]
    votes = []
    for i, t in enumerate(truth):
        for w in ("h1", "h2", "h3"):
            votes.append(Vote(item=i, worker=w, choice=t if rng.random() < 0.7 else _wrong(rng, t)))
        votes.append(Vote(item=i, worker="coin", choice=rng.choice(("A", "B"))))
    coded = code_votes(votes)
    gold = np.array([PAIRWISE_CLASSES.index(truth[item]) if item % 5 == 0 else -1 for item in coded.items])
    arrays = (coded.item_idx, coded.worker_idx, coded.class_idx, len(coded.items), len(coded.workers), K)
    fit = one_coin_fit_arrays(*arrays, gold=gold)
    coin = coded.workers.index("coin")
    assert fit.accuracies[coin] == pytest.approx(0.45, abs=0.06)
    assert fit.vote_accuracies[coin] < 0.3
    assert min(fit.vote_accuracies[coded.workers.index(w)] for w in ("h1", "h2", "h3")) > 0.55

    def split_with_coin(accuracy_of_coin: float) -> float:
        accuracies = {w: float(fit.vote_accuracies[coded.workers.index(w)]) for w in ("h1", "h2")}
        model = _model({**accuracies, "coin": accuracy_of_coin}, method="majority")
        split = [Vote(item=0, worker="h1", choice="A"), Vote(item=0, worker="h2", choice="B")]
        without = weighted_majority_posterior(model, split)["A"]
        return (
            weighted_majority_posterior(model, [*split, Vote(item=0, worker="coin", choice="A")])["A"]
            - without
        )

    assert split_with_coin(float(fit.vote_accuracies[coin])) < 0.05
    assert split_with_coin(float(fit.accuracies[coin])) > 0.15  # the one-coin weight would tip it
