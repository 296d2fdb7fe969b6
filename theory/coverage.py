"""Coverage error of a candidate set: the worst target in a window, exactly or with a certified tolerance.

For candidates ``x_1..x_n`` and perturbation ``p`` (Xiong, Liao, Kyrillidis, AISTATS 2023, PSSP), subset
``S`` reaches the interval ``[s - |S| p, s + |S| p]``. Let ``U`` be the union of these ``2^n`` intervals.
The coverage error of the window ``[lo, hi]`` is

    E_true = sup_{z in [lo, hi]} min_S error(S, z) = sup_{z in [lo, hi]} dist(z, U),

so the candidate set solves every target of the window within ``E_true`` (Lueker 1998 / da Cunha et al.
2023 bound the probability that this is small for random candidates). Reachable values outside
``[lo, hi]`` count: they serve targets near the window's ends.

Two modes:

* ``tol = 0``: exact. Enumerate the ``2^n`` intervals (``n <= 24``), sort them, and take the largest
  tent ``min(z - g1, g2 - z)`` over the uncovered gaps ``(g1, g2)`` clipped to the window, plus the end
  effects (a window end left of every interval or right of every interval).
* ``tol > 0``: certified interval-union recursion (see :func:`coverage_error`), for ``n`` up to hundreds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from theory.inputs import check_candidates, check_perturbation, check_real
from theory.validate import check_int, check_range

#: Largest ``n`` for the exact mode (``2^24`` intervals, a few hundred MB).
EXACT_MAX_N = 24


def _sup_distance(left: np.ndarray, right: np.ndarray, lo: float, hi: float) -> float:
    """``sup_{z in [lo, hi]} dist(z, union of [left_i, right_i])`` for intervals sorted by ``left``.

    The uncovered pieces are the gaps between the running maximum of the right ends and the next left
    end, plus the two unbounded ends. On a gap ``(g1, g2)`` the distance is the tent ``min(z - g1, g2 - z)``,
    whose maximum over the window part of the gap is at the midpoint clipped into that part.
    """
    reach = np.maximum.accumulate(right)
    g1 = reach[:-1]
    g2 = left[1:]
    gap = g2 > g1
    g1, g2 = g1[gap], g2[gap]
    a = np.maximum(g1, lo)
    b = np.minimum(g2, hi)
    inside = a <= b
    g1, g2, a, b = g1[inside], g2[inside], a[inside], b[inside]
    mid = np.clip((g1 + g2) / 2.0, a, b)
    best = float(np.max(np.minimum(mid - g1, g2 - mid), initial=0.0))
    # End effects: targets left of every reachable value, or right of every reachable value.
    if lo < left[0]:
        best = max(best, left[0] - lo)
    if hi > reach[-1]:
        best = max(best, hi - reach[-1])
    return best


def _exact(x: np.ndarray, lo: float, hi: float, p: float) -> float:
    sums = np.zeros(1)
    sizes = np.zeros(1, dtype=np.int64)
    for v in x:
        sums = np.concatenate([sums, sums + v])
        sizes = np.concatenate([sizes, sizes + 1])
    if p == 0.0:
        s = np.sort(sums)
        return _sup_distance(s, s, lo, hi)
    left = sums - sizes * p
    order = np.argsort(left, kind="stable")
    return _sup_distance(left[order], (sums + sizes * p)[order], lo, hi)


def _merge(left: np.ndarray, right: np.ndarray, slack: float) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals sorted by ``left``, also joining gaps ``<= slack`` (``slack = 0``: exact union)."""
    reach = np.maximum.accumulate(right)
    start = np.empty(left.size, dtype=bool)
    start[0] = True
    start[1:] = left[1:] > reach[:-1] + slack
    first = np.flatnonzero(start)
    last = np.append(first[1:] - 1, left.size - 1)
    return left[first], reach[last]


def _rounding_bound(x: np.ndarray, lo: float, hi: float, p: float) -> float:
    """A bound on the float64 rounding of any endpoint the recursion computes.

    Every endpoint is a sum of at most ``n`` terms of magnitude ``<= |x_i| + p`` (each step adds one term
    and may take a max); each addition errs by at most ``2^-53`` times a magnitude bounded by
    ``M = sum(|x_i| + p) + |lo| + |hi|``. Doubling for the comparisons with the window gives
    ``2 (n + 2) M 2^-52``.
    """
    scale = float(np.sum(np.abs(x)) + x.size * p + abs(lo) + abs(hi))
    return 2.0 * (x.size + 2) * scale * 2.0**-52


def _certified(x: np.ndarray, lo: float, hi: float, p: float, tol: float, max_intervals: int) -> float:
    # The reachable set does not depend on the order of the candidates; small ones first keeps the
    # spread of the early sums, hence the length of the interval list at a given resolution, small.
    x = x[np.argsort(np.abs(x), kind="stable")]
    n = x.size
    rnd = _rounding_bound(x, lo, hi, p)
    budget = tol - 4.0 * rnd  # total merge slack we may spend (see the proof in coverage_error)
    # Future reach of an interval after step k: the remaining candidates add between neg[k] and pos[k].
    pos = np.append(np.cumsum(np.maximum(x + p, 0.0)[::-1])[::-1], 0.0)
    neg = np.append(np.cumsum(np.minimum(x - p, 0.0)[::-1])[::-1], 0.0)
    left = np.zeros(1)
    right = np.zeros(1)
    spent = 0.0
    below = -math.inf  # largest final value among dropped intervals left of the window
    above = math.inf  # smallest final value among dropped intervals right of the window
    for k in range(n):
        if left.size == 0:
            break  # every descendant is accounted for by `below` / `above`
        shifted_l = left + (x[k] - p)
        shifted_r = right + (x[k] + p)
        cat_l = np.concatenate([left, shifted_l])
        cat_r = np.concatenate([right, shifted_r])
        order = np.argsort(cat_l, kind="stable")  # two sorted runs: a linear merge
        cat_l, cat_r = cat_l[order], cat_r[order]
        # Spend merge slack only when the list grows large: small lists stay exact.
        delta = 0.0
        # Half of the budget is kept back so that the prefix shortcut below has room to fire; each heavy
        # step spends a quarter of what remains of the other half (gaps halve per step, delta decays
        # slower, so merging catches up with the true gaps within a few steps).
        if cat_l.size > max_intervals // 4 and 0.5 * budget - spent > 0.0:
            delta = 0.25 * (0.5 * budget - spent)
        left, right = _merge(cat_l, cat_r, 2.0 * delta)
        spent += delta
        # Drop intervals whose every descendant stays right of hi (or left of lo); keep the nearest
        # descendant value they can produce, which is attainable, so the final nearest points are exact.
        lo_reach = left + neg[k + 1]
        hi_reach = right + pos[k + 1]
        gone_right = lo_reach > hi
        gone_left = hi_reach < lo
        if np.any(gone_right):
            above = min(above, float(lo_reach[gone_right].min()))
        if np.any(gone_left):
            below = max(below, float(hi_reach[gone_left].max()))
        keep = ~(gone_right | gone_left)
        left, right = left[keep], right[keep]
        # Monotone-prefix shortcut: adding candidates never increases the coverage error, so an upper
        # bound for this prefix (from the kept intervals only: fewer points, larger distances) that is
        # already within tol certifies the whole set.
        if left.size and (left.size > 4096 or k == n - 1):
            bound = _sup_distance(left, right, lo, hi) + spent + 2.0 * rnd
            if bound <= tol:
                return bound
    extra = [v for v in (below, above) if math.isfinite(v)]
    ends_l = np.concatenate([left, extra])
    ends_r = np.concatenate([right, extra])
    order = np.argsort(ends_l, kind="stable")
    estimate = _sup_distance(ends_l[order], ends_r[order], lo, hi)
    return estimate + spent + 2.0 * rnd


def coverage_error(
    candidates: Any,
    *,
    lo: float = -1.0,
    hi: float = 1.0,
    perturbation: float = 0.0,
    tol: float = 0.0,
    max_intervals: int = 1 << 22,
) -> float:
    """The coverage error ``E_true = sup_{z in [lo, hi]} min_S max(0, |sum_S x - z| - |S| p)``.

    Returns ``E`` with ``E_true <= E <= E_true + tol``.

    ``tol = 0`` (exact, ``n <= 24``): all ``2^n`` reachable intervals are enumerated and the largest
    distance from the window to their union is computed from the sorted gaps (see the module docstring).

    ``tol > 0`` (certified): the reachable set after the first ``k`` candidates, ``R_k``, obeys
    ``R_{k+1} = R_k ∪ (R_k + [x_{k+1} - p, x_{k+1} + p])`` (theory.md §8); it is kept as sorted disjoint
    intervals ``P_k ⊇ R_k``. Certificate:

    1. *Merging.* At step ``k`` gaps of width ``<= 2 delta_k`` may be filled. Every pretended point is then
       within ``delta_k`` of ``P_k``'s true members, and shifting by a later candidate moves a point and its
       witness together, so by induction every point of ``P_n`` is within ``D = sum_k delta_k`` of ``R_n``:
       ``R_n ⊆ P_n ⊆ R_n + [-D, D]``. Hence ``dist(z, P_n) <= dist(z, R_n) <= dist(z, P_n) + D``. The slack
       is spent only once the list is long (``max_intervals / 4``), each time a quarter of what is left of
       half the budget, so ``D <= (tol - 4 r) / 2`` where ``r`` bounds float64 rounding of the
       endpoints (:func:`_rounding_bound`).
    2. *Dropping.* With the remaining candidates able to add between ``neg_k`` and ``pos_k`` (sums of the
       negative parts of ``x_i - p`` and the positive parts of ``x_i + p``), an interval ``[l, r]`` with
       ``l + neg_k > hi`` only has descendants right of the window. Such descendants matter only as the
       nearest reachable value right of ``hi``; the smallest of them, ``l + neg_k``, is itself attainable
       (keep exactly the remaining candidates with ``x_i - p < 0``, shifted by ``-p``), so recording it
       keeps the final distance exact. Symmetrically on the left.
    3. *Prefix shortcut.* Adding candidates never increases the coverage error, so if after ``k`` steps
       the bound ``B_k = sup dist(z, kept part of P_k) + D_k + 2r`` (an upper bound on the prefix's
       coverage error, hence on ``E_true``) is already ``<= tol``, ``B_k`` is returned: it satisfies
       ``E_true <= B_k <= tol <= E_true + tol``.

    The returned value is the computed ``sup dist(z, P_n) + D + 2r`` (the computed supremum is within
    ``r`` of the true one), so ``E_true <= E <= E_true + D + 3r <= E_true + tol``.

    Args:
        candidates: 1-D finite candidate values (``n <= 24`` when ``tol = 0``).
        lo: Left end of the target window.
        hi: Right end, ``hi >= lo``.
        perturbation: ``p >= 0``.
        tol: ``0`` for the exact value, or the allowed overestimate ``tol > 0`` (at least the float64
            resolution of the problem, about ``1e-13`` for O(1) candidates).
        max_intervals: Interval-list length above which the certified mode starts merging.

    Returns:
        The (certified upper bound on the) coverage error, a float.

    Raises:
        ValueError: On bad candidates, ``lo > hi``, non-finite ends, a negative perturbation or tol, a tol
            below the float64 resolution, or ``n > 24`` with ``tol = 0`` (pass ``tol > 0``).
    """
    x = check_candidates(candidates)
    lo = check_real("lo", lo)
    hi = check_real("hi", hi)
    if lo > hi:
        raise ValueError(f"lo must be <= hi (a window [lo, hi]), got lo={lo}, hi={hi}")
    p = check_perturbation(perturbation)
    tol = check_range("tol", tol, 0.0, None)
    if tol == 0.0:
        if x.size > EXACT_MAX_N:
            raise ValueError(
                f"exact coverage_error (tol=0) needs n <= {EXACT_MAX_N} candidates, got n = {x.size}; "
                "pass tol > 0 for the certified interval-union mode"
            )
        return _exact(x, lo, hi, p)
    max_intervals = check_int("max_intervals", max_intervals, 4)
    resolution = 4.0 * _rounding_bound(x, lo, hi, p)
    if tol < resolution:
        raise ValueError(f"tol must be 0 (exact) or >= {resolution:.3g} (float64 resolution), got {tol}")
    return _certified(x, lo, hi, p, tol, max_intervals)
