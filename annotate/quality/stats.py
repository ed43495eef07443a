"""Small statistics shared by the quality code: Beta posteriors of success rates (gold accuracy)."""

from __future__ import annotations

from scipy import stats as _stats


def beta_interval(
    successes: int,
    failures: int,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Posterior mean and equal-tailed credible interval of a success rate.

    With a Beta(a, b) prior and ``successes``/``failures`` Bernoulli outcomes the posterior is
    Beta(a + successes, b + failures) (conjugacy; Gelman et al., *Bayesian Data Analysis*, 3rd ed.,
    section 2.4). The interval is equal-tailed: the ``(1 - level) / 2`` and ``(1 + level) / 2``
    quantiles. The default uniform prior Beta(1, 1) makes "no evidence" the interval (0.025, 0.975)
    around 0.5, so a single miss never pushes the upper bound below a sensible threshold: the
    suspension rule ("upper bound below the threshold") needs several misses.

    Returns ``(mean, low, high)``.
    """
    if successes < 0 or failures < 0:
        raise ValueError("successes and failures must be non-negative")
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    a0, b0 = prior
    if a0 <= 0 or b0 <= 0:
        raise ValueError("prior parameters must be positive")
    a, b = a0 + successes, b0 + failures
    tail = (1.0 - level) / 2.0
    low, high = _stats.beta.ppf([tail, 1.0 - tail], a, b)
    return float(a / (a + b)), float(low), float(high)
