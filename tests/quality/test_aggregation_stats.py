"""Beta posteriors of success rates (annotate.quality.stats), used for gold accuracy."""

import pytest
from scipy import stats

from annotate.quality.stats import beta_interval


def test_beta_interval_with_uniform_prior_matches_the_beta_quantiles():
    mean, low, high = beta_interval(8, 2)
    assert mean == pytest.approx(9 / 12)
    assert low == pytest.approx(stats.beta.ppf(0.025, 9, 3))
    assert high == pytest.approx(stats.beta.ppf(0.975, 9, 3))
    assert low < mean < high


def test_no_evidence_gives_the_prior_interval():
    assert beta_interval(0, 0) == pytest.approx((0.5, 0.025, 0.975))


def test_one_miss_never_puts_the_upper_bound_below_a_usual_threshold():
    _, _, high = beta_interval(0, 1)
    assert high > 0.7


def test_many_misses_put_the_upper_bound_below_threshold():
    _, _, high = beta_interval(2, 10)
    assert high < 0.5


def test_level_and_prior_change_the_interval():
    _, lo95, hi95 = beta_interval(5, 5)
    _, lo80, hi80 = beta_interval(5, 5, level=0.8)
    assert lo95 < lo80 < hi80 < hi95
    assert beta_interval(5, 5, prior=(0.5, 0.5))[0] == pytest.approx(0.5)


def test_beta_interval_refuses_bad_input():
    with pytest.raises(ValueError):
        beta_interval(-1, 2)
    with pytest.raises(ValueError):
        beta_interval(1, 2, level=1.0)
    with pytest.raises(ValueError):
        beta_interval(1, 2, prior=(0.0, 1.0))
