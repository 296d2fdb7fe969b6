"""Brute-force oracles for the SubsetSum solvers: every one of the ``2^n`` subsets, no cleverness.

These exist to test :mod:`theory.subset_sum` (single target and the engine) and :mod:`theory.coverage` against
code that shares none of their search logic: subset sums come from a dense 0/1 matrix product instead of
half-sum enumeration, and the coverage oracle works in exact rational arithmetic
(:class:`fractions.Fraction`) with a plain sweep. Meant for ``n <= 16`` (the coverage oracle for
``n <= 12``).
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import numpy as np

from theory.inputs import check_candidates, check_perturbation, check_real, to_numpy
from theory.subset_sum import SubsetResult, evaluate_subset
from theory.subset_sum.fixed_size import allowed_sizes

#: Largest ``n`` the oracles accept.
ORACLE_MAX_N = 16


def all_masks(n: int) -> np.ndarray:
    """The ``(2^n, n)`` 0/1 matrix whose row ``m`` holds the bits of ``m`` (bit ``i`` = column ``i``)."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(np.int64)


def _errors(x: np.ndarray, target: float, p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bits = all_masks(x.size)
    sums = bits.astype(np.float64) @ x
    sizes = bits.sum(axis=1)
    dist = np.abs(sums - target)
    return np.maximum(0.0, dist - sizes * p), sizes, dist


def brute_force_best_subset(candidates: Any, target: float, *, perturbation: float = 0.0) -> SubsetResult:
    """The optimal subset by enumerating all ``2^n`` subsets, with :func:`theory.best_subset`'s tie rule.

    Subsets are ranked by ``(error, |S|, |s - z|, mask)``, ``mask = sum_{i in S} 2^i``.

    Args:
        candidates: 1-D candidates, ``n <= 16``.
        target: The target ``z``.
        perturbation: ``p >= 0``.

    Returns:
        A :class:`~theory.subset_sum.SubsetResult` (value and error recomputed with ``math.fsum``).
    """
    x = check_candidates(candidates, max_n=ORACLE_MAX_N)
    z = check_real("target", target)
    p = check_perturbation(perturbation)
    err, sizes, dist = _errors(x, z, p)
    masks = np.arange(2**x.size)
    best = int(np.lexsort((masks, dist, sizes, err))[0])
    indices = tuple(i for i in range(x.size) if (best >> i) & 1)
    value, error = evaluate_subset(x, indices, z, perturbation=p)
    return SubsetResult(indices=indices, value=value, error=error)


def brute_force_best_subsets(
    candidates: Any,
    targets: Any,
    *,
    perturbation: float = 0.0,
    max_error: Any = None,
    valid: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row optimal errors and subset sizes for the contract of :func:`theory.best_subsets`.

    ``max_error=None``: minimise ``(error, |S|)``. ``max_error=e``: among subsets with ``error <= e``
    minimise ``(|S|, error)``; when none qualifies, fall back to the minimal ``(error, |S|)``. Candidates
    with ``valid[r, i] == False`` are never used.

    Args:
        candidates: ``(m, n)`` candidates, ``n <= 16``.
        targets: ``(m,)`` targets.
        perturbation: ``p >= 0``.
        max_error: ``None``, the error budget ``e >= 0``, or an array ``(m,)`` of per-row budgets.
        valid: Optional ``(m, n)`` boolean array.

    Returns:
        ``(errors, sizes)``: float64 and int64 arrays of shape ``(m,)``; errors are float64 sums of the
        optimal subsets (from the 0/1 matrix product).
    """
    x = to_numpy(candidates)
    z = to_numpy(targets)
    p = check_perturbation(perturbation)
    m, n = x.shape
    if n > ORACLE_MAX_N:
        raise ValueError(f"candidates must have at most {ORACLE_MAX_N} columns for the oracle, got {n}")
    ok = np.ones((m, n), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    budgets = None if max_error is None else np.broadcast_to(np.asarray(max_error, dtype=np.float64), (m,))
    bits = all_masks(n)
    out_err = np.empty(m)
    out_size = np.empty(m, dtype=np.int64)
    for r in range(m):  # rows are independent; the oracle favours obviousness over speed
        err, sizes, _ = _errors(x[r], float(z[r]), p)
        allowed = ~np.any(bits[:, ~ok[r]] == 1, axis=1)
        err = np.where(allowed, err, np.inf)
        if budgets is not None and np.any(err <= budgets[r]):
            within = err <= budgets[r]
            j = int(np.lexsort((err, np.where(within, sizes, n + 1)))[0])
        else:
            j = int(np.lexsort((sizes, err))[0])
        out_err[r] = err[j]
        out_size[r] = sizes[j]
    return out_err, out_size


def brute_force_covers(
    candidates: Any, eta: float, *, lo: float = -1.0, hi: float = 1.0, perturbation: float = 0.0
) -> bool:
    """``E_true <= eta``, decided in exact rational arithmetic (no rounding: the decision's oracle).

    Args:
        candidates: 1-D candidates, ``n <= 12``.
        eta: The accuracy (a float, taken exactly).
        lo: Left end of the target window.
        hi: Right end, ``hi >= lo``.
        perturbation: ``p >= 0``.

    Returns:
        Whether every target of the window is within ``eta`` of the perturbed subset sums.
    """
    exact = _rational_coverage_error(candidates, lo=lo, hi=hi, perturbation=perturbation)
    return exact <= Fraction(check_real("eta", eta))


def brute_force_coverage_error(
    candidates: Any, *, lo: float = -1.0, hi: float = 1.0, perturbation: float = 0.0
) -> float:
    """``sup_{z in [lo, hi]} min_S error(S, z)`` in exact rational arithmetic (then rounded to float).

    Every float input is converted exactly to a :class:`~fractions.Fraction`; the ``2^n`` reachable
    intervals ``[s - |S| p, s + |S| p]`` are swept in order of their left end, and the supremum of the
    distance to their union over ``[lo, hi]`` is taken over the pieces between covered stretches (a tent
    function on each uncovered piece, maximal at its midpoint clipped to the window).

    Args:
        candidates: 1-D candidates, ``n <= 12`` (pure Python; 4096 intervals).
        lo: Left end of the target window.
        hi: Right end, ``hi >= lo``.
        perturbation: ``p >= 0``.

    Returns:
        The exact supremum, rounded to the nearest float.
    """
    return float(_rational_coverage_error(candidates, lo=lo, hi=hi, perturbation=perturbation))


def _rational_coverage_error(candidates: Any, *, lo: float, hi: float, perturbation: float) -> Fraction:
    x = check_candidates(candidates, max_n=12)
    lo_f = Fraction(check_real("lo", lo))
    hi_f = Fraction(check_real("hi", hi))
    p = Fraction(check_perturbation(perturbation))
    if lo_f > hi_f:
        raise ValueError(f"lo must be <= hi, got lo={lo}, hi={hi}")
    xs = [Fraction(float(v)) for v in x]
    intervals = []
    for mask in range(2 ** len(xs)):
        chosen = [xs[i] for i in range(len(xs)) if (mask >> i) & 1]
        s = sum(chosen, Fraction(0))
        intervals.append((s - len(chosen) * p, s + len(chosen) * p))
    return _rational_sup_distance(intervals, lo_f, hi_f)


def _rational_sup_distance(
    intervals: list[tuple[Fraction, Fraction]], lo_f: Fraction, hi_f: Fraction
) -> Fraction:
    """``sup_{z in [lo, hi]} dist(z, union of intervals)`` by a plain sweep in exact rationals."""
    intervals = sorted(intervals)

    def tent_sup(g1: Fraction | None, g2: Fraction | None) -> Fraction:
        # sup over z in [lo, hi] with g1 < z < g2 (an uncovered piece) of the distance to {g1, g2}.
        left = lo_f if g1 is None else max(lo_f, g1)
        right = hi_f if g2 is None else min(hi_f, g2)
        if left > right:
            return Fraction(0)
        if g1 is None:
            return g2 - left
        if g2 is None:
            return right - g1
        mid = (g1 + g2) / 2
        z = min(max(mid, left), right)
        return min(z - g1, g2 - z)

    best = tent_sup(None, intervals[0][0])
    reach = intervals[0][1]
    for left, right in intervals[1:]:
        if left > reach:
            best = max(best, tent_sup(reach, left))
        reach = max(reach, right)
    return max(best, tent_sup(reach, None))


def _combination_masks(n: int, sizes: Any) -> np.ndarray:
    """The rows of :func:`all_masks` whose number of ones is in ``sizes`` (every such combination)."""
    bits = all_masks(n)
    return np.flatnonzero(np.isin(bits.sum(axis=1), list(sizes)))


def brute_force_best_subset_fixed(
    candidates: Any,
    target: float,
    *,
    size: int | None = None,
    max_size: int | None = None,
    perturbation: float = 0.0,
) -> SubsetResult:
    """The optimal subset of exactly ``size`` (or at most ``max_size``) candidates, by enumeration.

    Every combination of the allowed sizes is scored (sums from the 0/1 matrix product) and ranked by
    ``(error, |S|, |s - z|, mask)``, the tie rule of :func:`theory.best_subset`.

    Args:
        candidates: 1-D candidates, ``n <= 16``.
        target: The target ``z``.
        size: Exactly this many kept (``0 <= size <= n``).
        max_size: Alternatively at most this many kept.
        perturbation: ``p >= 0``.

    Returns:
        A :class:`~theory.subset_sum.SubsetResult` (value and error recomputed with ``math.fsum``).
    """
    x = check_candidates(candidates, max_n=ORACLE_MAX_N)
    z = check_real("target", target)
    p = check_perturbation(perturbation)
    allowed = allowed_sizes(size, max_size, x.size)
    err, sizes, dist = _errors(x, z, p)
    rows = _combination_masks(x.size, allowed)
    best = int(rows[np.lexsort((rows, dist[rows], sizes[rows], err[rows]))[0]])
    indices = tuple(i for i in range(x.size) if (best >> i) & 1)
    value, error = evaluate_subset(x, indices, z, perturbation=p)
    return SubsetResult(indices=indices, value=value, error=error)


def brute_force_coverage_error_fixed(
    candidates: Any, *, size: int, lo: float, hi: float, perturbation: float = 0.0
) -> float:
    """Fixed-size coverage error ``sup_{z in [lo, hi]} min_{|S| = size} error(S, z)``, in exact rationals.

    The reachable intervals ``[s - k p, s + k p]`` of the ``C(n, k)`` subsets are built from
    :class:`~fractions.Fraction` sums and swept by the same exact sweep as :func:`brute_force_coverage_error`.

    Args:
        candidates: 1-D candidates, ``n <= 12``.
        size: ``k``, with ``0 <= k <= n``.
        lo: Window left end.
        hi: Window right end, ``hi >= lo``.
        perturbation: ``p >= 0``.

    Returns:
        The exact supremum, rounded to the nearest float.
    """
    x = check_candidates(candidates, max_n=12)
    lo_f, hi_f = Fraction(check_real("lo", lo)), Fraction(check_real("hi", hi))
    p = Fraction(check_perturbation(perturbation))
    k = int(size)
    if lo_f > hi_f or not 0 <= k <= x.size:
        raise ValueError(f"need lo <= hi and 0 <= size <= n, got lo={lo}, hi={hi}, size={size}")
    xs = [Fraction(float(v)) for v in x]
    points = [sum((xs[i] for i in c), Fraction(0)) for c in itertools.combinations(range(len(xs)), k)]
    return float(_rational_sup_distance([(v - k * p, v + k * p) for v in points], lo_f, hi_f))
