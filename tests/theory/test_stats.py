"""Clopper-Pearson and bootstrap intervals against exact binomial tails and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory.stats import bootstrap_interval, clopper_pearson


def _binom_sf(k: int, n: int, p: float) -> float:
    # P(X >= k) for X ~ Bin(n, p), exact summation (independent of scipy).
    return math.fsum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


def _binom_cdf(k: int, n: int, p: float) -> float:
    return math.fsum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(0, k + 1))


@pytest.mark.parametrize("n", [1, 7, 30])
def test_edge_cases_have_closed_forms(n: int) -> None:
    alpha = 0.05
    low, high = clopper_pearson(0, n)
    assert low == 0.0
    assert high == pytest.approx(1 - (alpha / 2) ** (1 / n), rel=1e-12)
    low, high = clopper_pearson(n, n)
    assert high == 1.0
    assert low == pytest.approx((alpha / 2) ** (1 / n), rel=1e-12)


@pytest.mark.parametrize(("k", "n"), [(1, 10), (5, 10), (9, 10), (17, 40), (3, 200)])
def test_ends_solve_the_binomial_tail_equations(k: int, n: int) -> None:
    low, high = clopper_pearson(k, n, confidence=0.9)
    # Definition: P(X >= k | low) = alpha/2 and P(X <= k | high) = alpha/2.
    assert _binom_sf(k, n, low) == pytest.approx(0.05, abs=1e-9)
    assert _binom_cdf(k, n, high) == pytest.approx(0.05, abs=1e-9)
    assert low < k / n < high


def test_known_value() -> None:
    # Clopper-Pearson 95% for 5/10: (0.187086, 0.812914), the textbook value.
    low, high = clopper_pearson(5, 10)
    assert low == pytest.approx(0.187086, abs=1e-6)
    assert high == pytest.approx(0.812914, abs=1e-6)


@pytest.mark.parametrize("p", [0.01, 0.1, 0.37, 0.5, 0.93])
def test_coverage_is_at_least_the_confidence(p: float) -> None:
    # Exact coverage: sum the binomial pmf over the outcomes whose interval contains p.
    n = 25
    low, high = np.array([clopper_pearson(k, n) for k in range(n + 1)]).T
    pmf = np.array([math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)])
    coverage = pmf[(low <= p) & (p <= high)].sum()
    assert coverage >= 0.95 - 1e-12


@pytest.mark.parametrize(
    ("args", "match"),
    [((5, 0), "trials"), ((-1, 10), "successes"), ((11, 10), "successes"), ((1.5, 10), "successes")],
)
def test_bad_counts(args, match) -> None:
    with pytest.raises(ValueError, match=match):
        clopper_pearson(*args)


@pytest.mark.parametrize("conf", [0.0, 1.0, 1.5, float("nan")])
def test_bad_confidence(conf) -> None:
    with pytest.raises(ValueError, match="confidence"):
        clopper_pearson(1, 2, confidence=conf)


def test_bootstrap_mean_interval_matches_normal_theory() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(3.0, 2.0, size=400)
    low, high, reps = bootstrap_interval(
        lambda idx: data[idx].mean(axis=1), data.size, rng=np.random.default_rng(2), resamples=2000
    )
    se = data.std(ddof=1) / math.sqrt(data.size)
    assert low < data.mean() < high
    # Percentile interval of the mean ~ mean +- 1.96 se; the bootstrap se has ~2% noise at 2000 resamples.
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.12)
    assert reps.std() == pytest.approx(se, rel=0.08)


def test_bootstrap_is_reproducible_and_checks_arguments() -> None:
    stat = lambda idx: idx.mean(axis=1)  # noqa: E731
    a = bootstrap_interval(stat, 10, rng=np.random.default_rng(5))
    b = bootstrap_interval(stat, 10, rng=np.random.default_rng(5))
    assert a[:2] == b[:2]
    with pytest.raises(ValueError, match="rng"):
        bootstrap_interval(stat, 10, rng=5)
    with pytest.raises(ValueError, match="statistic must return"):
        bootstrap_interval(lambda idx: idx, 10, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_interval(stat, 10, rng=np.random.default_rng(0), resamples=1)
