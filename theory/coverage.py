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

The decision ``E_true <= eta`` (:func:`coverage_decision`, and :func:`needed_candidates` for every prefix
of a sequence) runs the same interval-union step (:func:`_union`, with the reach tables :func:`_reach`)
on the eta-dilated sets, batched over rows in numpy or torch, and answers exactly: one-sided float64
where the answer is clear, integer arithmetic (:func:`_exact_covers`) where it is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from theory.inputs import check_candidates, check_perturbation, check_real, to_numpy
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
    pos, neg = (t[0] for t in _reach(x[None, :], p))
    left = np.zeros(1)
    right = np.zeros(1)
    spent = 0.0
    below = -math.inf  # largest final value among dropped intervals left of the window
    above = math.inf  # smallest final value among dropped intervals right of the window
    for k in range(n):
        if left.size == 0:
            break  # every descendant is accounted for by `below` / `above`
        cat_l = np.concatenate([left, left + (x[k] - p)])
        cat_r = np.concatenate([right, right + (x[k] + p)])
        # Spend merge slack only when the list grows large: small lists stay exact.
        delta = 0.0
        # Half of the budget is kept back so that the prefix shortcut below has room to fire; each heavy
        # step spends a quarter of what remains of the other half (gaps halve per step, delta decays
        # slower, so merging catches up with the true gaps within a few steps).
        if cat_l.size > max_intervals // 4 and 0.5 * budget - spent > 0.0:
            delta = 0.25 * (0.5 * budget - spent)
        # The union step of the decision (rows = 1, no padding: every piece is valid).
        merged_l, merged_r = _union(_NUMPY, cat_l[None, :], cat_r[None, :], 2.0 * delta)
        left, right = merged_l[0], merged_r[0]
        spent += delta
        # Drop intervals whose every descendant stays right of hi (or left of lo); keep the nearest
        # descendant value they can produce, which is attainable, so the final nearest points are exact.
        left, right, below, above = _drop_unreachable(
            left, right, left + neg[k + 1], right + pos[k + 1], lo, hi, below, above
        )
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
    lo: float | None = None,
    hi: float | None = None,
    perturbation: float = 0.0,
    tol: float = 0.0,
    max_intervals: int = 1 << 22,
    size: int | None = None,
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
        lo: Left end of the target window (default ``-1``; ``-sqrt(k)`` with ``size=k``).
        hi: Right end, ``hi >= lo`` (default ``1``; ``sqrt(k)`` with ``size=k``).
        perturbation: ``p >= 0``.
        tol: ``0`` for the exact value, or the allowed overestimate ``tol > 0`` (at least the float64
            resolution of the problem, about ``1e-13`` for O(1) candidates).
        max_intervals: Interval-list length above which the certified mode starts merging.
        size: ``None`` (subsets of any size) or ``k``: subsets of exactly ``k`` candidates, the Random
            Fixed-Size Subset Sum (Natale et al. NeurIPS 2024), see :func:`coverage_error_fixed`.

    Returns:
        The (certified upper bound on the) coverage error, a float.

    Raises:
        ValueError: On bad candidates, ``lo > hi``, non-finite ends, a negative perturbation or tol, a tol
            below the float64 resolution, or ``n > 24`` with ``tol = 0`` (pass ``tol > 0``).
    """
    if size is not None:
        return coverage_error_fixed(
            candidates,
            size=size,
            lo=lo,
            hi=hi,
            perturbation=perturbation,
            tol=tol,
            max_intervals=max_intervals,
        )
    x = check_candidates(candidates)
    lo = check_real("lo", -1.0 if lo is None else lo)
    hi = check_real("hi", 1.0 if hi is None else hi)
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


# --------------------------------------------------------------------------------------------------
# The shared interval-union step (certified estimate and decision), on a batch of rows
# --------------------------------------------------------------------------------------------------
class _NumpyOps:
    """The few array operations the union step needs, in numpy (rows = independent problems)."""

    inf = math.inf

    @staticmethod
    def cat(a, b):
        return np.concatenate([a, b], axis=1)

    @staticmethod
    def sort_by(key, other):
        order = np.argsort(key, axis=1, kind="stable")
        return np.take_along_axis(key, order, 1), np.take_along_axis(other, order, 1)

    @staticmethod
    def cummax(a):
        return np.maximum.accumulate(a, axis=1)

    @staticmethod
    def nonzero(mask):
        return np.nonzero(mask)

    @staticmethod
    def full(shape, value, like):
        return np.full(shape, value, dtype=np.float64)

    @staticmethod
    def cumsum(mask):
        return np.cumsum(mask, axis=1)


class _TorchOps:
    """The same operations in torch (float64 on any device; only +, comparisons and max: IEEE exact)."""

    inf = math.inf

    def __init__(self, torch):
        self.torch = torch

    def cat(self, a, b):
        return self.torch.cat([a, b], dim=1)

    def sort_by(self, key, other):
        key, order = self.torch.sort(key, dim=1, stable=True)
        return key, self.torch.gather(other, 1, order)

    def cummax(self, a):
        return self.torch.cummax(a, dim=1).values

    def nonzero(self, mask):
        return self.torch.nonzero(mask, as_tuple=True)

    def full(self, shape, value, like):
        return self.torch.full(shape, value, dtype=like.dtype, device=like.device)

    def cumsum(self, mask):
        return self.torch.cumsum(mask.to(self.torch.int64), dim=1)


def _union(ops, cl, cr, slack):
    """Union of each row's intervals ``[cl, cr]``, also joining gaps ``<= slack``; padded rows out.

    Rows are padded with ``(+inf, -inf)`` (no interval). Returns ``(left, right)`` of shape ``(rows, w)``,
    each row's disjoint intervals sorted, ``w`` the longest row. Merging compares computed endpoints
    only (no arithmetic besides ``+ slack``), so with ``slack = 0`` it is the exact union of the
    intervals as represented; touching intervals merge (closed intervals).
    """
    cl, cr = ops.sort_by(cl, cr)
    reach = ops.cummax(cr)
    valid = cl < ops.inf
    start = valid.clone() if hasattr(valid, "clone") else valid.copy()
    start[:, 1:] &= cl[:, 1:] > reach[:, :-1] + slack
    rows, cols = ops.nonzero(start)
    rank = ops.cumsum(start)[rows, cols] - 1
    # A merged interval ends just before the next start of its row, or at the row's last valid piece.
    count = valid.sum(1)
    nxt_rows = rows[1:]
    same = nxt_rows == rows[:-1]
    end = (count[rows] - 1).clone() if hasattr(count, "clone") else count[rows] - 1
    end[:-1][same] = cols[1:][same] - 1
    width = int(rank.max()) + 1 if rank.shape[0] else 1
    left = ops.full((cl.shape[0], width), ops.inf, cl)
    right = ops.full((cl.shape[0], width), -ops.inf, cl)
    left[rows, rank] = cl[rows, cols]
    right[rows, rank] = reach[rows, end]
    return left, right


_NUMPY = _NumpyOps()


def _reach(x: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """``pos[:, k]`` / ``neg[:, k]``: the most the candidates ``k..n-1`` of each row can add / subtract.

    With perturbation ``p`` the remaining candidates add a value in ``[neg_k, pos_k]``, ``pos_k`` the sum
    of the positive parts of ``x_i + p`` and ``neg_k`` of the negative parts of ``x_i - p`` (``i >= k``).
    Shape ``(rows, n + 1)`` (the last column is 0).
    """
    zero = np.zeros((x.shape[0], 1))
    pos = np.concatenate([np.cumsum(np.maximum(x + p, 0.0)[:, ::-1], axis=1)[:, ::-1], zero], axis=1)
    neg = np.concatenate([np.cumsum(np.minimum(x - p, 0.0)[:, ::-1], axis=1)[:, ::-1], zero], axis=1)
    return pos, neg


# --------------------------------------------------------------------------------------------------
# The coverage decision: is every z in [lo, hi] within eta of the perturbed subset sums?
# --------------------------------------------------------------------------------------------------
#: Unit roundoff of float64.
_U = 2.0**-53


@dataclass(frozen=True)
class CoverageDecision:
    """Answers of :func:`coverage_decision`, one per row.

    Attributes:
        covered: ``True`` where every target of the window is within ``eta`` (``E_true <= eta``).
        resolved_exactly: Rows too close to call in float64 (``|E_true - eta|`` within the rounding
            margin), decided by the exact integer recursion instead.
        steps: Candidates processed before the answer was known (early stop: ``< n``).
    """

    covered: np.ndarray
    resolved_exactly: np.ndarray
    steps: np.ndarray


@dataclass(frozen=True)
class NeededCandidates:
    """Answers of :func:`needed_candidates`, one per row.

    Attributes:
        needed: Smallest ``n`` whose prefix ``x[:n]`` covers the window within ``eta``; ``n_max + 1``
            when no prefix does.
        resolved_exactly: Number of (row, n) checks decided by the exact integer recursion.
    """

    needed: np.ndarray
    resolved_exactly: int


def _exact_covers(x: np.ndarray, lo: float, hi: float, p: float, eta: float) -> bool:
    """``E_true <= eta`` decided in exact integer arithmetic (the borderline fallback).

    Every float is a dyadic rational; scaled by the largest denominator (a power of two) all inputs are
    integers, and the recursion ``D_{k+1} = D_k ∪ (D_k + [x_k - p, x_k + p])`` from ``D_0 = [-eta, eta]``
    runs on Python integers: no rounding at all.
    """
    vals = [Fraction(float(v)) for v in (*x, lo, hi, p, eta)]
    den = max(v.denominator for v in vals)
    ints = [int(v * den) for v in vals]
    xi, (lo_i, hi_i, p_i, eta_i) = ints[:-4], ints[-4:]
    pos = [0] * (len(xi) + 1)
    neg = [0] * (len(xi) + 1)
    for k in range(len(xi) - 1, -1, -1):
        pos[k] = pos[k + 1] + max(xi[k] + p_i, 0)
        neg[k] = neg[k + 1] + min(xi[k] - p_i, 0)
    pieces = [(-eta_i, eta_i)]
    for k, v in enumerate(xi):
        cand = pieces + [(lft + v - p_i, rgt + v + p_i) for lft, rgt in pieces]
        reach_lo, reach_hi = neg[k + 1], pos[k + 1]
        cand = sorted((lft, rgt) for lft, rgt in cand if lft + reach_lo <= hi_i and rgt + reach_hi >= lo_i)
        merged: list[list[int]] = []
        for lft, rgt in cand:
            if merged and lft <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], rgt)
            else:
                merged.append([lft, rgt])
        pieces = [(lft, rgt) for lft, rgt in merged]
    return any(lft <= lo_i and rgt >= hi_i for lft, rgt in pieces)


def _covers(left, right, lo, hi):
    """Rows with one interval holding the whole window ``[lo, hi]``."""
    return ((left <= lo[:, None]) & (right >= hi[:, None])).any(1)


def _certain_gap(ops, left, right, lo, hi, pos, neg, margin):
    """Rows with a window point no descendant can reach, even ``margin`` off (a proof of failure).

    A point ``z`` is covered at the end only if ``z - t`` lies in the current set for some ``t`` the
    remaining candidates can add, ``t in [neg, pos]``. Between consecutive intervals ``(g1, g2)`` (and
    beyond both ends) every ``z`` in ``(g1 + pos + margin, g2 + neg - margin)`` is out of reach.
    """
    inf = ops.inf
    g1 = ops.cat(ops.full((left.shape[0], 1), -inf, left), right)
    g2 = ops.cat(left, ops.full((left.shape[0], 1), inf, left))
    real = ops.cat(ops.full((left.shape[0], 1), 0.0, left) < 1.0, left < inf)  # gap left of piece i real
    a = g1 + (pos + margin)[:, None]
    b = g2 + (neg - margin)[:, None]
    return (real & (a < hi[:, None]) & (lo[:, None] < b) & (a < b)).any(1)


def _inner_step(ops, left, right, a, b, lo, hi, pos, neg, margin):
    """One step of the inner (never too large) dilated recursion, dropping pieces that cannot matter."""
    cl = ops.cat(left, left + a[:, None])
    cr = ops.cat(right, right + b[:, None])
    dead = (cl + (neg - margin)[:, None] > hi[:, None]) | (cr + (pos + margin)[:, None] < lo[:, None])
    cl[dead] = ops.inf
    cr[dead] = -ops.inf
    return _union(ops, cl, cr, 0.0)


def _backend(device):
    if device is None:
        return _NumpyOps(), (lambda a: np.asarray(a, dtype=np.float64)), (lambda t: np.asarray(t))
    import torch

    dev = torch.device(device)
    return (
        _TorchOps(torch),
        lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), device=dev),
        lambda t: t.cpu().numpy(),
    )


def _prepare(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, p: float, eta: float):
    """Rounding-safe shifts and margins per row (the float64 certificate of the decision).

    With ``s = 2^-50 M`` (``M`` bounds every magnitude the recursion computes), the inner shifts
    ``a = fl(fl(x - p) + s)``, ``b = fl(fl(x + p) - s)`` make every computed endpoint move inward:
    ``fl(l + a) >= l + x - p`` and ``fl(r + b) <= r + x + p`` (each of the three roundings errs by at
    most ``2^-53 M``). So every computed interval lies inside the true set ``D_k`` (a computed cover
    proves success), while ``D_k`` lies within ``2 k s`` of the computed set (each step loses at most
    ``2 s`` per end), so a gap that survives the margin ``2 (n + 2) s`` proves failure. Rows whose eta
    is within twice the margin (intervals could vanish) go to the exact recursion.
    """
    n = x.shape[1]
    mag = np.sum(np.abs(x), axis=1) + n * p + eta + np.maximum(np.abs(lo), np.abs(hi)) + 1.0
    s = 2.0**-50 * mag
    a = (x - p) + s[:, None]
    b = (x + p) - s[:, None]
    margin = 2.0 * (n + 2) * s
    return a, b, margin


class _Pass:
    """The rows of a batched decision still undecided: their inner dilated sets and per-row constants.

    Built on the processing order ``xs`` (``(m, n)``); ``idx`` are the original rows still in play.
    """

    def __init__(self, device, idx, xs, los, his, p, eta):
        self.ops, dev, self.host = _backend(device)
        self.torch = device is not None
        pos, neg = _reach(xs, p)
        a, b, margin = _prepare(xs, los, his, p, eta)
        self.idx = idx
        self.left = dev(np.full((idx.size, 1), -eta))
        self.right = dev(np.full((idx.size, 1), eta))
        zero = np.zeros(idx.size)
        got = {"lo": los, "hi": his, "m": margin, "a": a, "b": b, "pos": pos, "neg": neg}
        self.v = {k: dev(arr[idx]) for k, arr in got.items()} | {"zero": dev(zero)}

    def step(self, k: int) -> None:
        """Add candidate ``k`` to every row (shift, drop what cannot reach the window, union)."""
        v = self.v
        self.left, self.right = _inner_step(
            self.ops, self.left, self.right, v["a"][:, k], v["b"][:, k], v["lo"], v["hi"],
            v["pos"][:, k + 1], v["neg"][:, k + 1], v["m"],
        )  # fmt: skip

    def covers(self) -> np.ndarray:
        """Rows whose inner set holds the window (a proof of success)."""
        return self.host(_covers(self.left, self.right, self.v["lo"], self.v["hi"]))

    def lost(self, k: int, *, remaining: bool) -> np.ndarray:
        """Rows with a window point out of reach: of every candidate after ``k`` (or of none)."""
        v = self.v
        pos, neg = (v["pos"][:, k + 1], v["neg"][:, k + 1]) if remaining else (v["zero"], v["zero"])
        return self.host(_certain_gap(self.ops, self.left, self.right, v["lo"], v["hi"], pos, neg, v["m"]))

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` holds."""
        sel = _torch_mask(mask, self.left) if self.torch else mask
        self.idx = self.idx[mask]
        self.left, self.right = self.left[sel], self.right[sel]
        self.v = {k: t[sel] for k, t in self.v.items()}


def _decision_inputs(candidates, eta, lo, hi, perturbation):
    x = to_numpy(candidates)
    single = x.ndim == 1
    if single:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] == 0 or x.shape[0] == 0:
        raise ValueError(f"candidates must be a 1-D (n,) or 2-D (m, n) array, n >= 1, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("candidates must be finite real numbers in (-inf, inf); found NaN or inf")
    eta = check_range("eta", eta, 0.0, None)
    p = check_perturbation(perturbation)
    m = x.shape[0]
    los = np.broadcast_to(to_numpy(lo), (m,)).astype(np.float64)
    his = np.broadcast_to(to_numpy(hi), (m,)).astype(np.float64)
    if not (np.all(np.isfinite(los)) and np.all(np.isfinite(his))):
        raise ValueError("lo and hi must be finite real numbers (one value or one per row)")
    if np.any(los > his):
        raise ValueError("lo must be <= hi in every row (a window [lo, hi])")
    return x, single, float(eta), p, los, his


def coverage_decision(
    candidates: Any,
    eta: float,
    *,
    lo: Any = -1.0,
    hi: Any = 1.0,
    perturbation: float = 0.0,
    device: Any = None,
) -> CoverageDecision:
    """Decide exactly, per row, whether ``E_true = sup_{z in [lo, hi]} dist(z, U) <= eta``.

    ``U`` is the union of the reachable intervals ``[s - |S| p, s + |S| p]`` (Xiong et al. AISTATS 2023,
    PSSP; see :func:`coverage_error`). Equivalently, the window lies in ``D = U + [-eta, eta]``, and
    dilation commutes with the recursion of :func:`coverage_error`'s certified mode: ``D_0 = [-eta, eta]``,
    ``D_{k+1} = D_k ∪ (D_k + [x_k - p, x_k + p])``, ``D_n = D``. So the decision runs the same interval-union
    step (:func:`_union`, shared with the certified estimate) on the dilated sets, where merging is exact
    (gaps of ``D`` are real gaps, no slack is needed), and stops as soon as the answer is known:

    * **success**: one interval of ``D_k`` holds ``[lo, hi]`` (``D`` only grows);
    * **failure**: a window point no descendant can reach: a gap of ``D_k`` wider than the remaining
      candidates' perturbed reach (a gap of ``U`` wider than ``2 eta`` plus that reach), or the window
      beyond the reach of either end (:func:`_certain_gap`).

    Candidates are processed smallest ``|x|`` first (the set is order-free; small early spreads keep the
    interval lists short) and intervals that cannot reach the window are dropped (their descendants stay
    outside it). Float64 arithmetic is made one-sided (:func:`_prepare`): a success is never claimed
    unless it is true, a failure never unless it is true, and the few rows within the rounding margin
    of ``eta`` are decided by exact integer arithmetic (:func:`_exact_covers`): the answer is exact.

    Args:
        candidates: ``(n,)`` or ``(m, n)`` finite candidates (rows are independent problems).
        eta: Accuracy ``>= 0``.
        lo: Window left end: one value or one per row (a single target is ``lo = hi = z``).
        hi: Window right end, ``>= lo`` (one value or one per row).
        perturbation: ``p >= 0``.
        device: ``None`` for numpy, or a torch device (``"cpu"``, ``"cuda"``) for the torch path; the
            answers are identical.

    Returns:
        A :class:`CoverageDecision` (arrays of shape ``(m,)``; ``(1,)`` for 1-D input).

    Raises:
        ValueError: On bad candidates, a negative eta or perturbation, non-finite or reversed windows.
    """
    x, _, eta, p, los, his = _decision_inputs(candidates, eta, lo, hi, perturbation)
    m, n = x.shape
    order = np.argsort(np.abs(x), axis=1, kind="stable")
    xs = np.take_along_axis(x, order, 1)
    _, _, margin = _prepare(xs, los, his, p, eta)
    covered = np.zeros(m, dtype=bool)
    exact = eta <= 2.0 * margin  # eta below the float64 resolution: decide exactly
    steps = np.full(m, n, dtype=np.int64)
    rows = _Pass(device, np.flatnonzero(~exact), xs, los, his, p, eta)
    for k in range(n):
        if not rows.idx.size:
            break
        rows.step(k)
        win = rows.covers()
        done = win | rows.lost(k, remaining=True)
        covered[rows.idx[done]] = win[done]
        steps[rows.idx] = k + 1
        if k == n - 1:
            exact[rows.idx[~done]] = True  # within the rounding margin of eta: decide exactly
        rows.keep(~done)
    for r in np.flatnonzero(exact):
        covered[r] = _exact_covers(x[r], los[r], his[r], p, eta)
    return CoverageDecision(covered, exact, steps)


def needed_candidates(
    sequences: Any,
    eta: float,
    *,
    lo: Any = -1.0,
    hi: Any = 1.0,
    perturbation: float = 0.0,
    start: Any = 1,
    device: Any = None,
) -> NeededCandidates:
    """Per row, the smallest ``n`` whose prefix ``x[:n]`` passes :func:`coverage_decision`, exactly.

    One pass per row instead of one decision per ``n``: the recursion's state after ``k`` candidates is
    the dilated set of the prefix ``x[:k]`` (the set does not depend on the order inside the prefix),
    so the decision for every prefix length is read off as the pass goes. The first ``min(start)``
    candidates are processed smallest ``|x|`` first (shorter lists), the rest in sequence order.
    Intervals are dropped only when no candidate up to ``n_max`` can bring them to the window, and a
    row stops at its first covering prefix, or as failed once a gap survives every remaining candidate.
    Prefixes within the rounding margin of ``eta`` are decided by :func:`_exact_covers`.

    Args:
        sequences: ``(m, n_max)`` candidate sequences (a 1-D sequence is one row).
        eta: Accuracy ``>= 0``.
        lo: Window left end(s), one value or one per row.
        hi: Window right end(s), ``>= lo``.
        perturbation: ``p >= 0``.
        start: A lower bound on the answer, one value or one per row (``>= 1``): shorter prefixes are
            not checked (e.g. the counting bound, or the answer for a larger perturbation on the same
            sequence, which is never larger).
        device: ``None`` (numpy) or a torch device.

    Returns:
        A :class:`NeededCandidates` (``needed`` of shape ``(m,)``, ``n_max + 1`` where no prefix covers).

    Raises:
        ValueError: On bad input (as :func:`coverage_decision`) or a start outside ``[1, n_max + 1]``.
    """
    x, _, eta, p, los, his = _decision_inputs(sequences, eta, lo, hi, perturbation)
    m, n_max = x.shape
    starts = np.broadcast_to(np.asarray(start), (m,)).astype(np.int64)
    if np.any(starts < 1) or np.any(starts > n_max + 1):
        raise ValueError(f"start must be in [1, n_max + 1 = {n_max + 1}] (one value or one per row)")
    n0 = int(starts.min())
    head = np.take_along_axis(x[:, :n0], np.argsort(np.abs(x[:, :n0]), axis=1, kind="stable"), 1)
    xs = np.concatenate([head, x[:, n0:]], axis=1)
    _, _, margin = _prepare(xs, los, his, p, eta)
    needed = np.full(m, n_max + 1, dtype=np.int64)
    resolved = 0
    rows = _Pass(device, np.flatnonzero(starts <= n_max), xs, los, his, p, eta)
    tiny = eta <= 2.0 * margin  # rows whose eta is below the float64 resolution: every check exact
    for k in range(n_max):
        if not rows.idx.size:
            break
        n = k + 1
        rows.step(k)
        idx = rows.idx
        check = starts[idx] <= n
        win = rows.covers() & check & ~tiny[idx]
        sure_miss = rows.lost(k, remaining=False) & ~tiny[idx]
        for j in np.flatnonzero(check & ~win & ~sure_miss):  # borderline: decide this prefix exactly
            resolved += 1
            if _exact_covers(x[idx[j], :n], los[idx[j]], his[idx[j]], p, eta):
                win[j] = True
        fatal = rows.lost(k, remaining=True) & ~win & ~tiny[idx]
        needed[idx[win]] = n
        rows.keep(~(win | fatal))
    return NeededCandidates(needed, resolved)


def _torch_mask(mask: np.ndarray, like: Any) -> Any:
    import torch

    return torch.as_tensor(mask, device=like.device)


#: Exact fixed-size coverage enumerates at most this many ``k``-subset sums.
FIXED_COVERAGE_MAX_SUBSETS = 1 << 24


def _drop_unreachable(
    left: np.ndarray,
    right: np.ndarray,
    lo_reach: np.ndarray,
    hi_reach: np.ndarray,
    lo: float,
    hi: float,
    below: float,
    above: float,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Drop the intervals none of whose descendants can reach ``[lo, hi]``, keeping their nearest value.

    ``[lo_reach, hi_reach]`` bounds what the descendants of each interval ``[left, right]`` can produce.
    An interval whose every descendant stays right of ``hi`` (or left of ``lo``) is dropped; the nearest
    value it can produce is attainable, so it updates ``above`` (``below``), the nearest points outside
    the window, and the final nearest points stay exact.

    Returns:
        ``(left, right, below, above)`` after the drop.
    """
    gone_right = lo_reach > hi
    gone_left = hi_reach < lo
    if np.any(gone_right):
        above = min(above, float(lo_reach[gone_right].min()))
    if np.any(gone_left):
        below = max(below, float(hi_reach[gone_left].max()))
    keep = ~(gone_right | gone_left)
    return left[keep], right[keep], below, above


def _merge(left: np.ndarray, right: np.ndarray, slack: float) -> tuple[np.ndarray, np.ndarray]:
    """One row's interval union, joining gaps ``<= slack``: the coverage module's union step."""
    merged_l, merged_r = _union(_NUMPY, left[None, :], right[None, :], slack)
    return merged_l[0], merged_r[0]


def _suffix_extremes(x: np.ndarray, k: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """``low[j, r]`` / ``high[j, r]``: least / greatest sum of ``r <= k`` of ``x[j:] - p`` / ``x[j:] + p``.

    ``inf`` marks ``r`` larger than the suffix (no such completion).
    """
    n = x.size
    low = np.full((n + 1, k + 1), np.inf)
    high = np.full((n + 1, k + 1), -np.inf)
    for j in range(n + 1):
        tail = np.sort(x[j:])
        r = min(k, tail.size)
        low[j, : r + 1] = np.concatenate([[0.0], np.cumsum(tail[:r] - p)])
        high[j, : r + 1] = np.concatenate([[0.0], np.cumsum(tail[::-1][:r] + p)])
    return low, high


def _certified_fixed(
    x: np.ndarray, k: int, lo: float, hi: float, p: float, tol: float, max_intervals: int
) -> float:
    """Certified fixed-size coverage error (see :func:`coverage_error_fixed`)."""
    x = x[np.argsort(np.abs(x), kind="stable")]
    n = x.size
    rnd = _rounding_bound(x, lo, hi, p)
    budget = tol - 4.0 * rnd
    low, high = _suffix_extremes(x, k, p)
    lists: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(1), np.zeros(1))] + [
        (np.empty(0), np.empty(0)) for _ in range(k)
    ]
    spent = 0.0
    below, above = -math.inf, math.inf
    for j in range(n):
        new = []
        total = 0
        for m in range(k + 1):
            parts_l, parts_r = [lists[m][0]], [lists[m][1]]
            if m > 0 and lists[m - 1][0].size:
                parts_l.append(lists[m - 1][0] + (x[j] - p))
                parts_r.append(lists[m - 1][1] + (x[j] + p))
            cat_l, cat_r = np.concatenate(parts_l), np.concatenate(parts_r)
            order = np.argsort(cat_l, kind="stable")
            new.append((cat_l[order], cat_r[order]))
            total += cat_l.size
        delta = 0.0
        if total > max_intervals // 4 and 0.5 * budget - spent > 0.0:
            delta = 0.25 * (0.5 * budget - spent)
        spent += delta
        lists = []
        for m, (cat_l, cat_r) in enumerate(new):
            if cat_l.size == 0:
                lists.append((cat_l, cat_r))
                continue
            left, right = _merge(cat_l, cat_r, 2.0 * delta)
            r = k - m  # candidates still to add, from x[j + 1:]
            if not math.isfinite(low[j + 1, r]):
                lists.append((np.empty(0), np.empty(0)))  # cannot be completed to size k
                continue
            left, right, below, above = _drop_unreachable(
                left, right, left + low[j + 1, r], right + high[j + 1, r], lo, hi, below, above
            )
            lists.append((left, right))
    left, right = lists[k]
    extra = [v for v in (below, above) if math.isfinite(v)]
    ends_l = np.concatenate([left, extra])
    ends_r = np.concatenate([right, extra])
    order = np.argsort(ends_l, kind="stable")
    return _sup_distance(ends_l[order], ends_r[order], lo, hi) + spent + 2.0 * rnd


def coverage_error_fixed(
    candidates: Any,
    *,
    size: int,
    lo: float | None = None,
    hi: float | None = None,
    perturbation: float = 0.0,
    tol: float = 0.0,
    max_intervals: int = 1 << 22,
) -> float:
    """The fixed-size coverage error ``E_true = sup_{z in [lo, hi]} min_{|S| = k} max(0, |s_S - z| - k p)``.

    Returns ``E`` with ``E_true <= E <= E_true + tol``.

    Source: Natale et al. NeurIPS 2024, Theorem 2 / Corollary 1 (the window ``[-sqrt(k), sqrt(k)]`` is the
    theorem's, the default here).

    ``tol = 0`` (exact): the ``C(n, k)`` intervals ``[s - k p, s + k p]`` are enumerated (``C(n, k) <=
    2^24``) and the largest distance from the window to their union is read off the sorted gaps.

    ``tol > 0`` (certified): for every size ``m <= k`` the reachable set of size-``m`` subsets of the first
    ``j`` candidates obeys ``R_{j+1, m} = R_{j, m} ∪ (R_{j, m-1} + [x_{j+1} - p, x_{j+1} + p])``; each is kept
    as sorted intervals ``P_{j, m} ⊇ R_{j, m}``. (1) Merging gaps ``<= 2 delta_j`` at step ``j`` keeps every
    point within ``D = sum delta_j`` of a true member (the induction of :func:`theory.coverage_error`, size by
    size: a shift moves a point and its witness together). (2) An interval of size ``m`` needs ``r = k - m``
    more of the remaining candidates; its final values lie in ``[l + low_r, r_end + high_r]`` (the sums of the
    ``r`` smallest ``x - p`` and largest ``x + p`` of the suffix), so it is dropped when that range misses the
    window, recording ``l + low_r`` (or ``r_end + high_r``), an attainable final value, as the nearest point
    beyond the window; intervals that cannot reach size ``k`` are dropped. The result is the computed
    ``sup dist(z, P_{n, k}) + D + 2 r``, with ``r`` the float64 rounding bound of :func:`_rounding_bound`.

    Args:
        candidates: 1-D finite candidates.
        size: ``k`` in ``[0, n]``.
        lo: Window left end (default ``-sqrt(k)``).
        hi: Window right end (default ``sqrt(k)``), ``hi >= lo``.
        perturbation: ``p >= 0``.
        tol: ``0`` (exact) or the allowed overestimate (at least the float64 resolution).
        max_intervals: Total interval count above which the certified mode starts merging.

    Returns:
        The (certified upper bound on the) fixed-size coverage error.

    Raises:
        ValueError: On bad input, ``lo > hi``, ``size`` outside ``[0, n]``, or ``C(n, k) > 2^24`` with
            ``tol = 0``.
    """
    from theory.subset_sum.fixed_size import _check_size, _fixed_sums

    x = check_candidates(candidates)
    k = _check_size("size", size, x.size)
    lo = -math.sqrt(k) if lo is None else check_real("lo", lo)
    hi = math.sqrt(k) if hi is None else check_real("hi", hi)
    if lo > hi:
        raise ValueError(f"lo must be <= hi (a window [lo, hi]), got lo={lo}, hi={hi}")
    p = check_perturbation(perturbation)
    tol = check_range("tol", tol, 0.0, None)
    if tol == 0.0:
        if math.comb(x.size, k) > FIXED_COVERAGE_MAX_SUBSETS:
            raise ValueError(
                f"exact fixed-size coverage (tol=0) needs C(n, k) <= 2^24 subsets, got C({x.size}, {k}) = "
                f"{math.comb(x.size, k)}; pass tol > 0 for the certified mode"
            )
        s = np.sort(_fixed_sums(x, k))
        return _sup_distance(s - k * p, s + k * p, lo, hi)
    max_intervals = check_int("max_intervals", max_intervals, 4)
    resolution = 4.0 * _rounding_bound(x, lo, hi, p)
    if tol < resolution:
        raise ValueError(f"tol must be 0 (exact) or >= {resolution:.3g} (float64 resolution), got {tol}")
    return _certified_fixed(x, k, lo, hi, p, tol, max_intervals)
