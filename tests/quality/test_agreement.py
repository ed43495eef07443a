"""Agreement: published values, the bootstrap interval, kappas and edge cases.

Reference tables (copied from the team's shared/reference so that a clean clone has them):
- reference/krippendorff_2011_nominal.csv: Krippendorff, K. (2011), "Computing Krippendorff's
  Alpha-Reliability", Annenberg School for Communication, University of Pennsylvania, the
  4-observer x 12-unit example with missing values (published nominal alpha 0.743).
- reference/fleiss_kappa_wikipedia.csv: Fleiss, J. L. (1971), "Measuring nominal scale agreement
  among many raters", Psychological Bulletin 76(5), as worked on Wikipedia's "Fleiss' kappa" page
  (10 subjects, 14 raters, 5 categories; published kappa 0.210).
"""

import csv
from pathlib import Path

import numpy as np
import pytest

from annotate.quality.aggregation import Vote
from annotate.quality.agreement import (
    alpha_bootstrap,
    alpha_from_matrix,
    category_counts,
    choice_value,
    cohen_kappa,
    cohen_kappa_pairs,
    fleiss_kappa,
    fleiss_table,
    krippendorff_alpha,
    reliability_matrix,
    signed_strength,
)

REFERENCE = Path(__file__).parent / "reference"


def read_table(name):
    with open(REFERENCE / name, newline="") as f:
        rows = [r for r in csv.reader(line for line in f if not line.startswith("#"))]
    return rows[0], rows[1:]


def krippendorff_example():
    _, rows = read_table("krippendorff_2011_nominal.csv")
    return np.array([[float(x) if x else np.nan for x in r[1:]] for r in rows])


def fleiss_example():
    _, rows = read_table("fleiss_kappa_wikipedia.csv")
    return np.array([[float(x) for x in r[1:]] for r in rows])


def test_krippendorff_2011_example_gives_published_nominal_alpha():
    assert round(krippendorff_alpha(krippendorff_example(), "nominal"), 3) == 0.743


def test_krippendorff_2011_example_ordinal_and_interval_alpha():
    # Not printed in the paper's example C; the package's values, pinned (STACK.md: 0.8154, 0.8491)
    m = krippendorff_example()
    assert krippendorff_alpha(m, "ordinal") == pytest.approx(0.8154, abs=1e-4)
    assert krippendorff_alpha(m, "interval") == pytest.approx(0.8491, abs=1e-4)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_coincidence_formula_of_the_bootstrap_equals_the_package(level):
    m = krippendorff_example()
    assert alpha_from_matrix(m, level) == pytest.approx(krippendorff_alpha(m, level), abs=1e-12)


def test_fleiss_1971_example_gives_published_kappa():
    assert round(fleiss_kappa(fleiss_example()), 3) == 0.210


def test_reliability_matrix_from_votes_reproduces_the_published_alpha():
    m = krippendorff_example()
    votes = [
        Vote(item=f"u{u}", worker=f"obs{r}", choice=str(int(m[r, u])))
        for u in range(m.shape[1])
        for r in range(m.shape[0])
        if not np.isnan(m[r, u])
    ]
    matrix, workers, items = reliability_matrix(votes, choice_value)
    assert matrix.shape == (4, 12)
    assert sorted(workers) == ["obs0", "obs1", "obs2", "obs3"]  # order of first appearance
    assert round(krippendorff_alpha(matrix, "nominal"), 3) == 0.743


def test_bootstrap_interval_contains_alpha_and_narrows_with_more_units():
    rng = np.random.default_rng(1)

    def simulate(n_units):
        t = rng.integers(0, 3, size=n_units)
        noisy = np.where(rng.random((4, n_units)) < 0.75, t, rng.integers(0, 3, size=(4, n_units)))
        return noisy.astype(float)

    small = simulate(40)
    large = simulate(640)
    a_s, lo_s, hi_s = alpha_bootstrap(small, "nominal", n_boot=500, seed=0)
    a_l, lo_l, hi_l = alpha_bootstrap(large, "nominal", n_boot=500, seed=0)
    assert lo_s <= a_s <= hi_s
    assert lo_l <= a_l <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 2  # ~1/sqrt(16) of the width in theory


def test_bootstrap_is_reproducible_with_a_seed():
    m = krippendorff_example()
    assert alpha_bootstrap(m, "ordinal", n_boot=200, seed=3) == alpha_bootstrap(
        m, "ordinal", n_boot=200, seed=3
    )


def test_alpha_is_none_with_one_rater_per_unit():
    m = np.array([[1.0, np.nan, 2.0], [np.nan, 3.0, np.nan]])
    assert krippendorff_alpha(m, "nominal") is None
    assert alpha_bootstrap(m, "nominal") == (None, None, None)


def test_alpha_is_none_when_everyone_agrees_on_one_value():
    # the package refuses a one-value domain (expected disagreement 0): undefined, reported None
    assert krippendorff_alpha(np.ones((3, 5)), "nominal") is None


def test_perfect_agreement_over_several_values_is_one():
    m = np.array([[1.0, 2.0, 3.0, 1.0], [1.0, 2.0, 3.0, 1.0]])
    assert krippendorff_alpha(m, "nominal") == pytest.approx(1.0)
    alpha, low, high = alpha_bootstrap(m, "nominal", n_boot=100)
    assert alpha == low == high == pytest.approx(1.0)


def test_empty_input_gives_none():
    matrix, workers, items = reliability_matrix([], choice_value)
    assert matrix.shape == (0, 0) and workers == [] and items == []
    assert krippendorff_alpha(matrix, "nominal") is None
    assert fleiss_kappa(np.zeros((0, 4))) is None
    assert cohen_kappa_pairs([], choice_value) == []


def test_signed_strength_puts_both_directions_on_one_ordinal_scale():
    assert signed_strength(Vote(1, "a", "A", 3)) == 3.0
    assert signed_strength(Vote(1, "a", "B", 2)) == -2.0
    assert signed_strength(Vote(1, "a", "tie")) == 0.0
    assert signed_strength(Vote(1, "a", "both_bad")) is None
    assert signed_strength(Vote(1, "a", "A")) is None


def test_fleiss_kappa_refuses_unequal_numbers_of_raters():
    assert fleiss_kappa(np.array([[2, 1], [1, 1]])) is None


def test_fleiss_table_keeps_items_with_the_usual_number_of_raters():
    votes = [Vote(i, w, "A" if (i + w) % 2 else "B") for i in range(5) for w in range(3)] + [
        Vote(9, 0, "A"),
        Vote(9, 1, "A"),
    ]
    table = fleiss_table(votes, choice_value)
    assert table.shape == (5, 2)
    counts, items, cats = category_counts(votes, choice_value)
    assert cats == ["A", "B"] and len(items) == 6


def test_cohen_kappa_equals_statsmodels():
    from statsmodels.stats.inter_rater import cohens_kappa, to_table

    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, size=50)
    b = np.where(rng.random(50) < 0.6, a, rng.integers(0, 3, size=50))
    table, _ = to_table(np.c_[a, b])
    assert cohen_kappa(list(zip(a.tolist(), b.tolist()))) == pytest.approx(cohens_kappa(table).kappa)


def test_cohen_kappa_pairs_only_for_pairs_with_enough_shared_items():
    votes = []
    for i in range(12):
        votes.append(Vote(i, "x", "A" if i % 3 else "B"))
        votes.append(Vote(i, "y", "A" if i % 3 else "B"))  # agrees with x everywhere
        if i < 5:
            votes.append(Vote(i, "z", "A"))
    pairs = cohen_kappa_pairs(votes, choice_value, min_shared=10)
    assert pairs == [("x", "y", pytest.approx(1.0), 12)]
    assert len(cohen_kappa_pairs(votes, choice_value, min_shared=5)) == 3


def test_cohen_kappa_is_none_when_both_raters_use_one_category():
    assert cohen_kappa([("A", "A")] * 4) is None
