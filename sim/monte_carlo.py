"""Monte Carlo success probability of random SubsetSum, and the fewest candidates that reach a level.

A trial draws ``n`` i.i.d. candidates and succeeds when every target ``z`` in ``[lo, hi]`` is within
``eta`` of a subset sum (``statistic="coverage"``: Lueker 1998, Corollary 2.5; Pensia et al. 2020,
Corollary 3.3), or, with ``statistic="target"``, when one random target ``z ~ U[lo, hi]`` is (Xiong et
al., AISTATS 2023, PSSP experiment). With ``perturbation = p`` each kept candidate may move by ``|y| <= p``
(epsilon-perturbed SubsetSum). Exact enumeration decides trials with ``n <= 20``, the certified solver
beyond; see :mod:`sim.cells` for the certificate and the keyed random streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sim.cells import EXACT_MAX_N, TOL_FRACTION, CellSpec, run_cells
from sim.executors import open_executor
from theory.stats import clopper_pearson
from theory.validate import check_choice, check_int, check_range

#: Largest candidate count a scan goes to by default.
DEFAULT_N_MAX = 48


@dataclass(frozen=True)
class CoverageResult:
    """Monte Carlo estimate of the success probability of one cell.

    Attributes:
        n: Number of candidates.
        eta: Accuracy threshold.
        statistic: ``coverage`` (every target of the window) or ``target`` (one random target).
        distribution: Candidate distribution name.
        lo: Window left end.
        hi: Window right end.
        perturbation: PSSP perturbation bound.
        seed: Root seed.
        mode: ``exact`` or ``certified``.
        tol: Certificate width asked for (0 in exact mode).
        successes: Trials certified to succeed.
        failures: Trials certified to fail.
        ambiguous: Trials whose certificate could not decide (reported, never guessed).
        trials: Number of trials.
        p: Point estimate ``successes / trials``.
        ci_low: Clopper-Pearson lower end for ``successes``.
        ci_high: Clopper-Pearson upper end for ``successes + ambiguous`` (covers either resolution).
        confidence: The interval's level.
    """

    n: int
    eta: float
    statistic: str
    distribution: str
    lo: float
    hi: float
    perturbation: float
    seed: int
    mode: str
    tol: float
    successes: int
    failures: int
    ambiguous: int
    trials: int
    p: float
    ci_low: float
    ci_high: float
    confidence: float


def _result(spec: CellSpec, eta: float, counts: tuple[int, int, int], confidence: float) -> CoverageResult:
    s, f, a = counts
    t = s + f + a
    low, _ = clopper_pearson(s, t, confidence)
    _, high = clopper_pearson(s + a, t, confidence)
    return CoverageResult(
        n=spec.n,
        eta=eta,
        statistic=spec.statistic,
        distribution=spec.distribution,
        lo=spec.lo,
        hi=spec.hi,
        perturbation=spec.perturbation,
        seed=spec.seed,
        mode="certified" if spec.certified else "exact",
        tol=spec.tol if spec.certified else 0.0,
        successes=s,
        failures=f,
        ambiguous=a,
        trials=t,
        p=s / t,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
    )


def make_spec(
    n: int,
    eta: float,
    *,
    statistic: str = "coverage",
    distribution: str = "uniform",
    lo: float = -1.0,
    hi: float = 1.0,
    perturbation: float = 0.0,
    seed: int = 0,
) -> CellSpec:
    """The cell for ``n`` candidates compared with ``eta`` (certificate width ``TOL_FRACTION * eta``)."""
    check_range("eta", eta, 0.0, None, lo_open=True)
    n = check_int("n", n, 1, 64)
    tol = TOL_FRACTION * float(eta) if (statistic == "coverage" and n > EXACT_MAX_N) else 0.0
    return CellSpec(statistic, n, distribution, lo, hi, perturbation, seed, tol)


def coverage_probability(
    n: int,
    eta: float,
    *,
    trials: int,
    distribution: str = "uniform",
    lo: float = -1.0,
    hi: float = 1.0,
    perturbation: float = 0.0,
    seed: int = 0,
    workers: int | None = None,
    executor: Any = "inprocess",
    statistic: str = "coverage",
    confidence: float = 0.95,
    quiet: bool = True,
) -> CoverageResult:
    """Estimate the probability that ``n`` random candidates eta-approximate every target in ``[lo, hi]``.

    Args:
        n: Number of candidates, in [1, 64].
        eta: Accuracy, > 0.
        trials: Number of independent candidate sets (>= 1).
        distribution: A name in ``sim.distributions.DISTRIBUTIONS`` (``uniform``, ``product``, ``gaussian``).
        lo: Window left end.
        hi: Window right end (> lo).
        perturbation: PSSP perturbation bound p >= 0.
        seed: Root seed (>= 0); results are bit-identical for any executor or number of workers.
        workers: Workers of a parallel executor (>= 1; None: all CPUs); more than 1 needs one.
        executor: Executor name (``inprocess``, the default: this process; ``process``: a local pool, which
            a script must start under ``if __name__ == "__main__":``; ``submitit``; ``dask``) or an open
            executor object.
        statistic: ``coverage`` (all targets) or ``target`` (one random target per trial).
        confidence: Level of the Clopper-Pearson interval, in (0, 1).
        quiet: Hide the progress bar.

    Returns:
        A :class:`CoverageResult`.

    Raises:
        ValueError: If an argument is out of range or a name is unknown.
    """
    check_choice("statistic", statistic, ("coverage", "target"))
    check_range("confidence", confidence, 0.0, 1.0, lo_open=True, hi_open=True)
    if workers is not None:
        check_int("workers", workers, 1)
    spec = make_spec(
        n,
        eta,
        statistic=statistic,
        distribution=distribution,
        lo=lo,
        hi=hi,
        perturbation=perturbation,
        seed=seed,
    )
    cells = run_cells([spec], trials, thresholds=[eta], executor=executor, workers=workers, quiet=quiet)
    return _result(spec, float(eta), cells[spec.key()].counts(float(eta)), confidence)


@dataclass(frozen=True)
class MinCandidatesResult:
    """The fewest candidates whose estimated success probability reaches ``level``.

    Attributes:
        eta: Accuracy.
        level: Target success probability.
        n_min: The smallest scanned ``n`` with point estimate ``p >= level`` (None: not reached by
            ``n_max``).
        at_n_min: The :class:`CoverageResult` at ``n_min`` (its CI is the reported interval).
        scanned: Every scanned cell, in increasing ``n``.
        n_start: First ``n`` scanned (all smaller ``n`` fail with certainty, see :func:`counting_start`).
    """

    eta: float
    level: float
    n_min: int | None
    at_n_min: CoverageResult | None
    scanned: tuple[CoverageResult, ...]
    n_start: int


def counting_start(eta: float, lo: float, hi: float, perturbation: float) -> int:
    """Smallest ``n`` for which covering ``[lo, hi]`` is possible at all (a deterministic bound).

    ``n`` candidates give ``2^n`` subsets, each reaching an interval of length at most ``2 n p``; each
    covers targets within ``eta`` of it, a stretch of length at most ``2(n p + eta)``. Covering the
    window needs ``2^n * 2 (n p + eta) >= hi - lo``, so every smaller ``n`` fails with probability 1
    (our counting argument, the same as the lower bound of Pensia et al. 2020, §3.3 of theory.md).

    Args:
        eta: Accuracy (> 0).
        lo: Window left end.
        hi: Window right end.
        perturbation: PSSP perturbation bound.

    Returns:
        The first ``n >= 1`` that passes the counting condition.
    """
    n = 1
    while 2.0**n * 2.0 * (n * perturbation + eta) < hi - lo and n < 64:
        n += 1
    return n


def scan_min_n(
    eta: float,
    *,
    level: float,
    trials: int,
    base: dict[str, Any],
    executor: Any,
    store: Any = None,
    n_start: int | None = None,
    n_max: int = DEFAULT_N_MAX,
    confidence: float = 0.95,
    quiet: bool = True,
) -> MinCandidatesResult:
    """Scan ``n`` upward until the point estimate reaches ``level`` (the engine of :func:`min_candidates`).

    Args:
        eta: Accuracy.
        level: Target success probability in (0, 1].
        trials: Trials per cell.
        base: ``make_spec`` keyword arguments other than ``n`` and ``eta``.
        executor: An open executor.
        store: Optional ``RunStore`` (cells are reused across scans and re-runs).
        n_start: First ``n``; default :func:`counting_start` for coverage, 1 for a single target.
        n_max: Last ``n`` to try.
        confidence: CI level.
        quiet: Hide progress bars.

    Returns:
        A :class:`MinCandidatesResult`.
    """
    if n_start is None:
        if base.get("statistic", "coverage") == "coverage":
            n_start = counting_start(
                eta, base.get("lo", -1.0), base.get("hi", 1.0), base.get("perturbation", 0.0)
            )
        else:
            n_start = 1
    scanned = []
    for n in range(n_start, n_max + 1):
        spec = make_spec(n, eta, **base)
        cells = run_cells([spec], trials, thresholds=[eta], executor=executor, store=store, quiet=quiet)
        res = _result(spec, float(eta), cells[spec.key()].counts(float(eta)), confidence)
        scanned.append(res)
        if res.p >= level:
            return MinCandidatesResult(float(eta), level, n, res, tuple(scanned), n_start)
    return MinCandidatesResult(float(eta), level, None, None, tuple(scanned), n_start)


#: The cell and executor keywords :func:`min_candidates` passes on, with the defaults of
#: :func:`coverage_probability` (one definition of the setup of a cell).
CELL_SETUP = {
    "distribution": "uniform",
    "lo": -1.0,
    "hi": 1.0,
    "perturbation": 0.0,
    "seed": 0,
    "statistic": "coverage",
    "workers": None,
    "executor": "inprocess",
}


def min_candidates(
    eta: float,
    *,
    level: float = 0.9,
    trials: int = 1000,
    n_max: int = DEFAULT_N_MAX,
    confidence: float = 0.95,
    quiet: bool = True,
    **setup: Any,
) -> MinCandidatesResult:
    """The smallest ``n`` whose estimated success probability reaches ``level``.

    Decision rule: ``n`` is scanned upward from the counting bound :func:`counting_start` (below it
    success is impossible) and the first ``n`` whose point estimate ``successes / trials >= level`` is
    returned, together with its Clopper-Pearson interval (and every scanned cell, so the reader can see
    how sharp the transition is). The true success probability is non-decreasing in ``n`` (adding a
    candidate never increases the error), so the scan finds the crossing of the estimated curve.

    Args:
        eta: Accuracy, > 0.
        level: Success level, in (0, 1].
        trials: Trials per scanned ``n``.
        n_max: Largest ``n`` scanned, in [1, 64].
        confidence: CI level.
        quiet: Hide progress bars.
        **setup: The cell of every scanned ``n`` and where it runs, as for :func:`coverage_probability`
            (keys and defaults in :data:`CELL_SETUP`: ``distribution``, ``lo``, ``hi``, ``perturbation``,
            ``seed``, ``statistic``, ``workers``, ``executor``).

    Returns:
        A :class:`MinCandidatesResult`.

    Raises:
        ValueError: If an argument is out of range, unknown, or a name is unknown.
    """
    unknown = sorted(set(setup) - set(CELL_SETUP))
    if unknown:
        raise ValueError(f"min_candidates got unknown arguments {unknown}; valid: {sorted(CELL_SETUP)}")
    cell = CELL_SETUP | setup
    executor, workers = cell.pop("executor"), cell.pop("workers")
    check_range("eta", eta, 0.0, None, lo_open=True)
    check_range("level", level, 0.0, 1.0, lo_open=True)
    check_int("trials", trials, 1)
    check_int("n_max", n_max, 1, 64)
    check_choice("statistic", cell["statistic"], ("coverage", "target"))
    base = cell
    make_spec(1, eta, **base)  # validates the names and ranges before any work
    ex, own = open_executor(executor, workers)
    try:
        return scan_min_n(
            eta,
            level=level,
            trials=trials,
            base=base,
            executor=ex,
            n_max=n_max,
            confidence=confidence,
            quiet=quiet,
        )
    finally:
        if own:
            ex.close()


def lueker_implied_constant(n: float, eta: float, level: float) -> float:
    """The Lueker constant C that makes Corollary 2.5's bound equal ``level`` at ``(n, eta)``.

    Lueker (1998), Corollary 2.5 [SECONDARY quote, theory.md §2.1]: success probability at least
    ``1 - exp(-(n/2 - C ln(1/eta))^2 / (2n))`` for ``eta >= exp(-n/(2C))``. Setting the bound to
    ``level`` on the corollary's branch gives ``C = (n/2 - sqrt(2 n ln(1/(1-level)))) / ln(1/eta)``
    (our algebra): a measured ``n`` at that level is consistent with every ``C`` up to this value.

    Args:
        n: Candidate count.
        eta: Accuracy in (0, 1).
        level: Success level in (0, 1).

    Returns:
        The implied C (may be <= 0 when n is too small for the bound to reach ``level`` at all).
    """
    check_range("eta", eta, 0.0, 1.0, lo_open=True, hi_open=True)
    check_range("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    return (n / 2.0 - math.sqrt(2.0 * n * math.log(1.0 / (1.0 - level)))) / math.log(1.0 / eta)
