"""Consensus per item: majority vote, Dawid-Skene, strength and Davidson rankings with ties."""

import json

import numpy as np
import pytest

from annotate.quality.aggregation import (
    PAIRWISE_CLASSES,
    UNKNOWN_ACCURACY,
    DawidSkeneModel,
    Vote,
    code_votes,
    dawid_skene_aggregate,
    dawid_skene_fit,
    dawid_skene_fit_arrays,
    dawid_skene_posterior,
    item_consensus,
    majority_vote,
    majority_vote_arrays,
    ranking_comparisons,
    ranking_consensus,
    strength_consensus,
    weighted_median,
)


def simulate_crowd(
    seed=7, n_items=600, n_reliable=4, n_noisy=10, n_spammers=10, per_item=5, noisy_accuracy=0.65
):
    """Truth over A/B/tie/both_bad; reliable workers 90% right, noisy `noisy_accuracy`, spammers uniform or
    always "A". Every item gets `per_item` distinct workers at random."""
    rng = np.random.default_rng(seed)
    classes = PAIRWISE_CLASSES
    truth = rng.choice(4, size=n_items, p=[0.4, 0.4, 0.12, 0.08])
    workers = (
        [("reliable", f"r{i}") for i in range(n_reliable)]
        + [("noisy", f"n{i}") for i in range(n_noisy)]
        + [("spammer", f"s{i}") for i in range(n_spammers)]
    )
    votes = []
    for item in range(n_items):
        for w in rng.choice(len(workers), size=per_item, replace=False):
            kind, name = workers[w]
            t = truth[item]
            if kind == "reliable":
                ans = t if rng.random() < 0.9 else rng.choice([c for c in range(4) if c != t])
            elif kind == "noisy":
                ans = t if rng.random() < noisy_accuracy else rng.choice([c for c in range(4) if c != t])
            elif int(name[1:]) % 2:
                ans = 0  # always "A" (position-biased spammer)
            else:
                ans = rng.integers(4)
            votes.append(Vote(item=item, worker=name, choice=classes[ans], strength=int(rng.integers(1, 4))))
    return votes, {i: classes[t] for i, t in enumerate(truth)}


def accuracy(results, truth):
    return np.mean([results[i] == truth[i] for i in truth])


def test_majority_vote_picks_most_frequent_choice_and_reports_agreement():
    votes = [Vote(1, "a", "A"), Vote(1, "b", "A"), Vote(1, "c", "B"), Vote(2, "a", "tie")]
    out = majority_vote(votes)
    assert out[1].choice == "A"
    assert out[1].agreement == pytest.approx(2 / 3)
    assert out[1].label_count == 3
    assert out[2].choice == "tie"
    # one-coin posterior with accuracy 0.7, K=4: one vote -> 0.7; a 2:1 split -> ~0.845
    assert out[2].confidence == pytest.approx(0.7)
    assert out[1].confidence == pytest.approx(0.8448, abs=1e-3)
    assert sum(out[1].posterior.values()) == pytest.approx(1.0)


def test_majority_vote_arrays_marks_items_without_votes():
    winner, confidence, counts = majority_vote_arrays(np.array([0, 0, 2]), np.array([1, 1, 3]), 3, 4)
    assert winner.tolist() == [1, -1, 3]
    assert confidence[1] == 0.0
    assert counts.sum() == 3


def test_majority_vote_of_nothing_is_empty():
    assert majority_vote([]) == {}


def test_unknown_choice_is_refused():
    with pytest.raises(ValueError):
        majority_vote([Vote(1, "a", "C")])


def test_dawid_skene_beats_majority_vote_with_reliable_workers_among_spammers():
    votes, truth = simulate_crowd()
    mv = {i: r.choice for i, r in majority_vote(votes).items()}
    _, posteriors = dawid_skene_aggregate(votes)
    ds = {i: max(p, key=p.get) for i, p in posteriors.items()}
    mv_acc, ds_acc = accuracy(mv, truth), accuracy(ds, truth)
    # measured 0.813 vs 0.715 with seed 7; over seeds 1, 2, 7, 8 DS wins by 0.08 to 0.13
    assert ds_acc > mv_acc + 0.05, (ds_acc, mv_acc)
    assert ds_acc > 0.78


def test_dawid_skene_learns_that_reliable_workers_are_more_accurate_than_spammers():
    votes, _ = simulate_crowd()
    model = dawid_skene_fit(votes)
    assert min(model.worker_accuracy(f"r{i}") for i in range(4)) > 0.8
    assert max(model.worker_accuracy(f"s{i}") for i in range(10)) < 0.5


def test_dawid_skene_model_round_trips_through_json_with_integer_workers():
    votes = [Vote(i, w, "A" if (i + w) % 3 else "B") for i in range(20) for w in (11, 12, 13)]
    model = dawid_skene_fit(votes)
    again = DawidSkeneModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again.classes == model.classes
    assert set(again.confusion) == {11, 12, 13}
    np.testing.assert_allclose(again.confusion[12], model.confusion[12])
    item = [Vote(99, 11, "A"), Vote(99, 13, "B")]
    assert dawid_skene_posterior(again, item) == pytest.approx(dawid_skene_posterior(model, item))


def test_dawid_skene_posterior_of_unseen_worker_uses_default_confusion():
    votes, _ = simulate_crowd(n_items=200)
    model = dawid_skene_fit(votes)
    post = dawid_skene_posterior(model, [Vote("new", "never-seen", "B")])
    by_hand = model.priors * model.default_confusion[:, 1]
    by_hand /= by_hand.sum()
    assert [post[c] for c in PAIRWISE_CLASSES] == pytest.approx(by_hand.tolist())
    assert max(post, key=post.get) == "B"


def test_dawid_skene_posterior_matches_the_fit_posteriors():
    votes, _ = simulate_crowd(n_items=100)
    model, posteriors = dawid_skene_aggregate(votes, tol=1e-12, max_iter=500)
    item_votes = [v for v in votes if v.item == 5]
    assert dawid_skene_posterior(model, item_votes) == pytest.approx(posteriors[5], abs=1e-6)


def test_dawid_skene_on_empty_input_returns_uniform_model():
    fit = dawid_skene_fit_arrays(
        np.array([], dtype=int), np.array([], dtype=int), np.array([], dtype=int), 0, 0, 4
    )
    assert fit.priors.tolist() == [0.25] * 4
    model = dawid_skene_fit([])
    assert dawid_skene_posterior(model, []) == pytest.approx(dict.fromkeys(PAIRWISE_CLASSES, 0.25))


def test_item_consensus_uses_dawid_skene_when_a_model_is_given():
    votes, truth = simulate_crowd(n_items=300)
    model = dawid_skene_fit(votes)
    item_votes = [v for v in votes if v.item == 3]
    with_model = item_consensus(item_votes, n_responses=2, model=model)
    without = item_consensus(item_votes, n_responses=2)
    assert with_model.method == "dawid_skene"
    assert without.method == "majority"
    assert 0.0 <= with_model.confidence <= 1.0
    assert with_model.confidence == pytest.approx(max(with_model.posterior.values()))


def test_code_votes_skips_votes_without_choice():
    coded = code_votes([Vote(1, "a", "A"), Vote(1, "b", ranking=((0,), (1,)))])
    assert len(coded.item_idx) == 1


# --- strength -------------------------------------------------------------------------------


def test_weighted_median_is_the_midpoint_when_weight_splits_evenly():
    assert weighted_median([1, 3], [1, 1]) == 2.0
    assert weighted_median([1, 3, 3], [1, 1, 1]) == 3.0
    assert weighted_median([1, 3, 3], [5, 1, 1]) == 1.0
    assert weighted_median([], []) is None


def test_strength_consensus_uses_only_votes_agreeing_with_the_direction():
    votes = [Vote(1, "a", "A", 3), Vote(1, "b", "A", 3), Vote(1, "c", "B", 1), Vote(1, "d", "A", 1)]
    assert strength_consensus(votes, "A") == 3.0
    assert strength_consensus(votes, "B") == 1.0
    assert strength_consensus(votes, "tie") is None


def test_strength_consensus_follows_reliable_workers():
    votes = [Vote(1, "good", "A", 1), Vote(1, "bad1", "A", 3), Vote(1, "bad2", "A", 3)]
    assert strength_consensus(votes, "A") == 3.0
    assert strength_consensus(votes, "A", {"good": 0.95, "bad1": 0.3, "bad2": 0.3}) == 1.0


# --- rankings with ties (Davidson) ----------------------------------------------------------


def test_ranking_comparisons_count_wins_and_ties():
    wins, ties = ranking_comparisons([((2,), (0, 1))], 3, weighted=False)
    assert wins[2, 0] == wins[2, 1] == 1
    assert ties[0, 1] == 1
    assert wins.sum() == 2


def test_one_ranking_weighs_as_many_comparisons_as_it_has_steps():
    wins, ties = ranking_comparisons([((3,), (0, 1), (2,))], 4)
    assert wins.sum() + ties.sum() == pytest.approx(3.0)  # 6 comparisons x 2/4
    wins, ties = ranking_comparisons([((1,), (0,))], 2)
    assert wins[1, 0] == 1.0


def test_davidson_recovers_known_order_from_noisy_rankings_with_ties():
    """True strengths 3 > 2 > 1 = 0 (responses 0 and 1 equal): rankings drawn from Davidson's model
    recover groups [[3], [2], [0, 1]]."""
    rng = np.random.default_rng(3)
    theta = np.array([0.0, 0.0, 1.2, 2.4])
    nu = 1.5
    votes = []
    for w in range(40):
        # a ranking from sequential pairwise draws: sort by noisy strength, tie when close
        score = theta + rng.gumbel(size=4)
        order = np.argsort(-score)
        groups = [[int(order[0])]]
        for r in order[1:]:
            if score[groups[-1][-1]] - score[r] < np.log(nu):
                groups[-1].append(int(r))
            else:
                groups.append([int(r)])
        votes.append(Vote("item", w, ranking=tuple(tuple(g) for g in groups)))
    groups, confidence = ranking_consensus(votes, 4)
    assert groups == [[3], [2], [0, 1]]
    assert confidence > 0.9


def test_davidson_reports_indistinguishable_responses_as_one_group():
    votes = [Vote("i", w, ranking=((0, 1, 2),)) for w in range(6)]
    groups, confidence = ranking_consensus(votes, 3)
    assert groups == [[0, 1, 2]]
    assert confidence > 0.8


def test_davidson_groups_split_opinions_with_low_confidence():
    votes = [Vote("i", "a", ranking=((0,), (1,), (2,))), Vote("i", "b", ranking=((1,), (0,), (2,)))]
    groups, confidence = ranking_consensus(votes, 3)
    assert groups == [[0, 1], [2]]
    assert confidence < 0.5


def test_davidson_unanimous_rankings_give_a_confident_strict_order():
    votes = [Vote("i", w, ranking=((2,), (0,), (1,))) for w in range(5)]
    groups, confidence = ranking_consensus(votes, 3)
    assert groups == [[2], [0], [1]]
    assert confidence > 0.9


def test_ranking_consensus_without_rankings_is_one_unconfident_group():
    assert ranking_consensus([], 3) == ([[0, 1, 2]], 0.0)


def test_item_consensus_of_rankings_reports_groups_and_agreement():
    votes = [Vote("i", w, ranking=((1,), (0, 2))) for w in range(4)] + [
        Vote("i", 9, ranking=((0,), (1,), (2,)))
    ]
    result = item_consensus(votes, n_responses=3)
    assert result.method == "davidson"
    assert result.ranking[0] == [1]
    assert result.agreement == pytest.approx(0.8)
    assert 0.0 <= result.confidence <= 1.0
    assert result.label_count == 5


def test_item_consensus_majority_path_equals_majority_vote():
    # Without a fitted model every annotator is an unknown one.
    votes, _ = simulate_crowd(n_items=50)
    everything = majority_vote(votes, accuracy=UNKNOWN_ACCURACY)
    for item in range(50):
        one = item_consensus([v for v in votes if v.item == item], n_responses=2)
        assert one.choice == everything[item].choice
        assert one.confidence == pytest.approx(everything[item].confidence)
        assert one.posterior == pytest.approx(everything[item].posterior)
        assert one.strength == everything[item].strength


def test_davidson_keeps_a_long_unanimous_order_strict_and_gains_confidence_with_rankers():
    order = ((7,), (6,), (5,), (4,), (3,), (2,), (1,), (0,))
    one, c1 = ranking_consensus([Vote("i", 0, ranking=order)], 8)
    five, c5 = ranking_consensus([Vote("i", w, ranking=order) for w in range(5)], 8)
    assert one == five == [[r] for r in range(7, -1, -1)]
    assert c1 < c5


def test_one_ranking_of_many_responses_counts_as_one_annotator_not_many():
    # 28 implied comparisons from one person: weighted (2/8 each), the "all tied" verdict of one
    # annotator stays uncertain
    groups, confidence = ranking_consensus([Vote("i", 0, ranking=(tuple(range(8)),))], 8)
    assert groups == [list(range(8))]
    assert confidence < 0.6


def test_davidson_newton_fit_reaches_the_same_optimum_as_a_general_optimiser():
    from scipy.optimize import minimize

    from annotate.quality.aggregation import DAVIDSON_LOG_NU_SD, DAVIDSON_THETA_SD, davidson_fit

    rankings = [((0,), (1, 2), (3,)), ((1,), (0,), (2, 3)), ((0, 1), (2,), (3,)), ((0,), (1,), (3,), (2,))]
    wins, ties = ranking_comparisons(rankings, 4)
    fit = davidson_fit(wins, ties)

    def neg_log_post(x):
        theta, log_nu = x[:4], x[4]
        total = 0.0
        for i in range(4):
            for j in range(i + 1, 4):
                d = np.logaddexp.reduce([theta[i], theta[j], log_nu + (theta[i] + theta[j]) / 2])
                total += wins[i, j] * (theta[i] - d) + wins[j, i] * (theta[j] - d)
                total += ties[i, j] * (log_nu + (theta[i] + theta[j]) / 2 - d)
        prior = (theta**2).sum() / (2 * DAVIDSON_THETA_SD**2) + log_nu**2 / (2 * DAVIDSON_LOG_NU_SD**2)
        return -total + prior

    ref = minimize(
        neg_log_post,
        np.zeros(5),
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20000},
    )
    np.testing.assert_allclose(np.r_[fit.theta, fit.log_nu], ref.x, atol=1e-4)


def test_dawid_skene_arrays_refuse_indexes_out_of_range():
    with pytest.raises(ValueError, match="worker"):
        dawid_skene_fit_arrays(np.array([0]), np.array([3]), np.array([0]), 1, 2, 4)
