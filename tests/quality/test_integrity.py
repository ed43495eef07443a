"""Integrity signals: speed, position bias, straight-lining, leave-one-out agreement, collusion."""

import numpy as np
import pytest

from annotate.quality.aggregation import Vote
from annotate.quality.integrity import (
    collusion_pairs,
    is_straight_lined,
    leave_one_out_agreement,
    position_bias,
    speed_flags,
    straight_lining,
)

CLASSES = ["A", "B", "tie", "both_bad"]


def crowd(seed=0, n_items=500, per_item=5):
    """Experts (90% right), noisy (70%), two annotators who always answer "A", a uniform spammer,
    and a colluding pair who label ~30% of items together and give the same answer (right half
    the time)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(4, size=n_items, p=[0.4, 0.4, 0.12, 0.08])
    workers = (
        [("expert", f"e{i}") for i in range(6)]
        + [("noisy", f"n{i}") for i in range(10)]
        + [("always_a", "a0"), ("always_a", "a1"), ("spammer", "s0"), ("colluder", "c0"), ("colluder", "c1")]
    )
    votes = []
    for item in range(n_items):
        chosen = list(rng.choice(len(workers) - 2, size=per_item - 1, replace=False))
        if rng.random() < 0.3:
            chosen = chosen[: per_item - 2] + [len(workers) - 2, len(workers) - 1]
        t = truth[item]
        shared_answer = t if rng.random() < 0.5 else rng.integers(4)
        for w in chosen:
            kind, name = workers[w]
            if kind == "expert":
                answer = t if rng.random() < 0.9 else rng.integers(4)
            elif kind == "noisy":
                answer = t if rng.random() < 0.7 else rng.integers(4)
            elif kind == "always_a":
                answer = 0
            elif kind == "spammer":
                answer = rng.integers(4)
            else:
                answer = shared_answer
            votes.append(Vote(item, name, CLASSES[answer]))
    return votes


# --- speed ----------------------------------------------------------------------------------


def test_speed_flags_a_label_far_faster_than_the_rest():
    rng = np.random.default_rng(0)
    times = {f"l{i}": float(t) for i, t in enumerate(np.exp(rng.normal(np.log(60), 0.4, size=200)))}
    times["rushed"] = 3.0
    flags = speed_flags(times)
    assert flags["rushed"].flagged
    assert flags["rushed"].log_z < -3 and flags["rushed"].robust_z < -3
    assert flags["rushed"].ratio_to_median == pytest.approx(3.0 / np.median(list(times.values())))
    assert sum(f.flagged for f in flags.values()) == 1


def test_robust_rule_catches_fast_records_that_inflate_the_standard_deviation():
    # a tenth of the records rushed: they inflate the SD, so the mean/SD z-score misses them
    times = {f"ok{i}": 60.0 + (i % 7) for i in range(90)} | {f"fast{i}": 2.0 for i in range(10)}
    flags = speed_flags(times)
    assert all(flags[f"fast{i}"].log_z > -3 for i in range(10))
    assert all(flags[f"fast{i}"].flagged for i in range(10))
    assert not any(flags[f"ok{i}"].flagged for i in range(90))


def test_speed_flags_need_enough_records():
    flags = speed_flags({"a": 1.0, "b": 100.0, "c": 100.0})
    assert not any(f.flagged for f in flags.values())
    assert flags["a"].log_z is None
    assert speed_flags({}) == {}


# --- position bias --------------------------------------------------------------------------


def test_position_bias_p_value_is_small_for_an_annotator_who_always_picks_the_first():
    assert position_bias(30, 30) < 1e-8
    assert position_bias(16, 30) > 0.5
    assert position_bias(0, 0) == 1.0
    # exact two-sided binomial: 8 of 10 -> 0.109375
    assert position_bias(8, 10) == pytest.approx(0.109375)


def test_position_bias_refuses_impossible_counts():
    with pytest.raises(ValueError):
        position_bias(5, 3)


# --- straight-lining ------------------------------------------------------------------------


def test_straight_lining_is_the_share_of_labels_with_identical_ratings():
    labels = [[3, 3, 3, 3], [3, 4, 3, 3], [5, 5, 5], [1, 2]]
    assert is_straight_lined([5, 5, 5]) is True
    assert is_straight_lined([1, 1]) is None
    assert straight_lining(labels) == pytest.approx(2 / 3)
    assert straight_lining([]) is None


# --- leave-one-out agreement ----------------------------------------------------------------


def test_leave_one_out_agreement_ranks_experts_above_spammers():
    loo = leave_one_out_agreement(crowd())
    experts = [loo[f"e{i}"] for i in range(6)]
    assert min(experts) > loo["s0"] + 0.3
    assert min(experts) > max(loo["a0"], loo["a1"])


def test_leave_one_out_agreement_excludes_the_annotators_own_vote():
    votes = [Vote(1, "x", "A"), Vote(1, "y", "B"), Vote(1, "z", "B"), Vote(2, "x", "A")]
    loo = leave_one_out_agreement(votes)
    assert loo["x"] == 0.0  # item 2 has no one else; item 1: others say B
    assert loo["y"] == 0.5  # others of y: A and B tied -> half credit
    assert leave_one_out_agreement([]) == {}


# --- collusion ------------------------------------------------------------------------------


def test_collusion_flags_the_pair_that_copies_and_not_honest_or_biased_pairs():
    pairs = collusion_pairs(crowd(), min_shared=10)
    assert [(p.worker_a, p.worker_b) for p in pairs] == [("c0", "c1")]
    pair = pairs[0]
    assert pair.agreed == pair.compared
    assert pair.expected < 0.7


def test_collusion_respects_min_shared():
    assert collusion_pairs(crowd(n_items=60), min_shared=1000) == []
    assert collusion_pairs([]) == []
