"""Interval estimates for Monte Carlo results: exact binomial intervals and bootstrap intervals.

Sources:
    * Clopper, C. J. and Pearson, E. S. (1934), "The use of confidence or fiducial limits illustrated in
      the case of the binomial", Biometrika 26(4):404-413. The interval inverts two one-sided binomial
      tests; its ends are quantiles of Beta distributions (the Beta-binomial tail identity).
    * Efron, B. and Tibshirani, R. (1993), "An Introduction to the Bootstrap", ch. 13 (percentile
      interval).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from theory.validate import check_int, check_range


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided confidence interval for a binomial proportion.

    The Beta quantiles are computed with ``scipy.special.betaincinv`` (identical to
    ``scipy.stats.beta.ppf``, which the tests check).

    With ``k`` successes in ``n`` trials and ``alpha = 1 - confidence``, the ends are
    ``Beta(alpha/2; k, n-k+1)`` and ``Beta(1-alpha/2; k+1, n-k)`` quantiles, with the conventions
    ``low = 0`` when ``k = 0`` and ``high = 1`` when ``k = n`` (Clopper and Pearson 1934). The coverage
    is at least ``confidence`` for every true proportion (the interval is conservative).

    Args:
        successes: Number of successes ``k``, in ``[0, trials]``.
        trials: Number of trials ``n`` >= 1.
        confidence: Two-sided confidence level in (0, 1).

    Returns:
        ``(low, high)`` with ``0 <= low <= k/n <= high <= 1``.

    Raises:
        ValueError: If an argument is out of range.
    """
    # scipy.special, not scipy.stats: the same Beta quantile (betaincinv) without seconds of import.
    from scipy.special import betaincinv

    n = check_int("trials", trials, 1)
    k = check_int("successes", successes, 0, n)
    conf = check_range("confidence", confidence, 0.0, 1.0, lo_open=True, hi_open=True)
    alpha = 1.0 - conf
    low = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha / 2.0))
    high = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1.0 - alpha / 2.0))
    return low, high


def bootstrap_interval(
    statistic: Callable[[np.ndarray], np.ndarray],
    n_items: int,
    *,
    rng: np.random.Generator,
    resamples: int = 1000,
    confidence: float = 0.95,
) -> tuple[float, float, np.ndarray]:
    """Percentile bootstrap interval of a statistic of ``n_items`` exchangeable items.

    The caller's ``statistic`` receives a ``(resamples, n_items)`` integer array of resampled indices
    (each row drawn with replacement from ``range(n_items)``) and returns one value per row, so the
    whole bootstrap is vectorised. Non-finite replicate values (e.g. a level never reached in a
    resample) are kept: they push the percentile ends to ``nan``/``inf`` honestly instead of being
    dropped. Percentile method: Efron and Tibshirani (1993), ch. 13.

    Args:
        statistic: Maps resampled index rows to replicate values, shape ``(resamples,)``.
        n_items: Number of items to resample (>= 1).
        rng: The random generator (explicit: no global state).
        resamples: Number of bootstrap replicates (>= 10).
        confidence: Two-sided level in (0, 1).

    Returns:
        ``(low, high, replicates)``.

    Raises:
        ValueError: If an argument is out of range.
    """
    n = check_int("n_items", n_items, 1)
    b = check_int("resamples", resamples, 10)
    conf = check_range("confidence", confidence, 0.0, 1.0, lo_open=True, hi_open=True)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    idx = rng.integers(0, n, size=(b, n))
    reps = np.asarray(statistic(idx), dtype=np.float64)
    if reps.shape != (b,):
        raise ValueError(f"statistic must return shape ({b},), got {reps.shape}")
    alpha = 1.0 - conf
    # method="lower"/"higher" keeps the ends at observed replicate values (infinite ones included).
    low = float(np.quantile(reps, alpha / 2.0, method="lower"))
    high = float(np.quantile(reps, 1.0 - alpha / 2.0, method="higher"))
    return low, high, reps
