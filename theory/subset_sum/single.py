"""Exact single-target SubsetSum and epsilon-perturbed SubsetSum (PSSP) by meet-in-the-middle.

Problem (Xiong, Liao, Kyrillidis, AISTATS 2023, arXiv:2210.16589, poster eq. (1)): given candidates
``x_1..x_n``, a target ``z`` and a perturbation bound ``p >= 0``, every kept candidate ``i`` may be moved by
its own ``|y_i| <= p``. A subset ``S`` therefore reaches every value in ``[s - |S| p, s + |S| p]`` with
``s = sum_S x``, and its error is

    error(S, z) = max(0, |s - z| - |S| p),

the best shift being ``y_i = clip((z - s) / |S|, -p, p)`` for every kept ``i`` (our derivation; with
``p = 0`` this is plain SubsetSum, Lueker 1998).

The solver splits the candidates into halves ``A`` (first ``n // 2``) and ``B``, enumerates the
``2^(n/2)`` sums of each half, and for every half-sum ``a`` searches the sorted sums of ``B`` for the
neighbours of ``z - a``. With ``p > 0`` the error depends on ``|S|`` too, so ``B`` is split by cardinality
and each group is searched separately; inside a group the error is monotone in ``|s - z|``, so the two
neighbours are the only candidates. Time ``O(n 2^(n/2) log)``, memory ``O(2^(n/2))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from theory.inputs import check_candidates, check_perturbation, check_real

#: Largest ``n`` accepted by :func:`best_subset` (two halves of ``2^24`` sums, about 1 GiB of work arrays).
MAX_N = 48


@dataclass(frozen=True)
class SubsetResult:
    """The optimal subset for one target.

    Attributes:
        indices: Sorted tuple of the chosen candidate indices (empty tuple: the empty subset).
        value: The sum reached after the optimal perturbation, ``s + clip(z - s, -|S| p, |S| p)``.
        error: ``|value - z| = max(0, |s - z| - |S| p)``, recomputed from ``indices`` with
            ``math.fsum`` (correctly rounded sum).
    """

    indices: tuple[int, ...]
    value: float
    error: float


def evaluate_subset(
    candidates: Any, indices: Any, target: float, *, perturbation: float = 0.0
) -> tuple[float, float]:
    """The reached value and the error of one subset, in float64 with a correctly rounded sum.

    Args:
        candidates: 1-D candidate values.
        indices: Indices of the kept candidates (any iterable of ints).
        target: The target ``z``.
        perturbation: The bound ``p >= 0`` on each kept candidate's shift.

    Returns:
        ``(value, error)`` with ``value = s + clip(z - s, -|S| p, |S| p)`` and
        ``error = max(0, |s - z| - |S| p)``.
    """
    x = check_candidates(candidates)
    z = check_real("target", target)
    p = check_perturbation(perturbation)
    idx = [int(i) for i in indices]
    s = math.fsum(float(x[i]) for i in idx)
    reach = len(idx) * p
    value = s + min(max(z - s, -reach), reach)
    return value, max(0.0, abs(s - z) - reach)


def sorted_half_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ``2^h`` subset sums of ``values``, sorted, with each sum's bitmask and cardinality.

    Built by ``h`` doublings ``S <- merge(S, S + v)``: both runs are already sorted, so the stable sort
    is a linear merge (timsort). Each sum is accumulated left to right in index order.

    Args:
        values: Shape ``(h,)`` float64.

    Returns:
        ``(sums, masks, sizes)``: sorted float64 sums, int64 bitmasks (bit ``i`` = ``values[i]`` kept)
        and int64 cardinalities, each of shape ``(2^h,)``.
    """
    sums = np.zeros(1, dtype=np.float64)
    masks = np.zeros(1, dtype=np.int64)
    sizes = np.zeros(1, dtype=np.int64)
    for i, v in enumerate(values):  # h doublings, each vectorised over all subsets built so far
        merged = np.concatenate([sums, sums + v])
        order = np.argsort(merged, kind="stable")
        sums = merged[order]
        masks = np.concatenate([masks, masks | (1 << i)])[order]
        sizes = np.concatenate([sizes, sizes + 1])[order]
    return sums, masks, sizes


def _lexmin(*keys: np.ndarray) -> int:
    """Index of the lexicographic minimum of parallel key arrays (first key most significant)."""
    alive = np.arange(keys[0].size)
    for key in keys:
        sub = key[alive]
        alive = alive[sub == sub.min()]
        if alive.size == 1:
            break
    return int(alive[0])


def best_subset(candidates: Any, target: float, *, perturbation: float = 0.0) -> SubsetResult:
    """The exact optimal subset for one target, over all ``2^n`` subsets (meet-in-the-middle).

    Tie rule (deterministic, documented): subsets are compared by the key
    ``(error, |S|, |s - z|, mask)`` where ``mask = sum_{i in S} 2^i``. So among optimal subsets the one
    with the fewest elements wins; with ``p > 0`` several subsets may reach ``z`` exactly (error 0), and
    among those of the same size the one whose unperturbed sum is closest to ``z`` wins (the smallest
    perturbation); the last resort is the smallest bitmask (colexicographic order: the subset whose
    largest differing index is absent). The search compares float64 sums ``a + b`` of the two halves;
    for candidates whose subset sums are exactly representable (e.g. dyadic rationals) the comparison,
    and hence the tie rule, is exact, otherwise it is exact up to float64 rounding of the sums.

    Args:
        candidates: 1-D array of ``n`` finite candidate values, ``1 <= n <= 48`` (numpy, list or tensor).
        target: The target ``z`` (finite).
        perturbation: ``p >= 0``, the largest shift of each kept candidate (Xiong et al. 2023, PSSP).

    Returns:
        A :class:`SubsetResult`; ``error`` and ``value`` are recomputed from the indices with ``math.fsum``.

    Raises:
        ValueError: On non-1-D, empty or non-finite candidates, ``n > 48``, a non-finite target or a
            negative perturbation.
    """
    x = check_candidates(
        candidates,
        max_n=MAX_N,
        hint=" (meet-in-the-middle needs 2^(n/2) memory; use best_subsets for batches)",
    )
    z = check_real("target", target)
    p = check_perturbation(perturbation)
    n = x.size
    n1 = n // 2
    a, mask_a, ka = sorted_half_sums(x[:n1])
    b, mask_b, kb = sorted_half_sums(x[n1:])
    queries = z - a[::-1]  # ascending: searchsorted is far faster on sorted keys (cache locality)
    a, mask_a, ka = a[::-1], mask_a[::-1], ka[::-1]
    # p = 0: the error does not depend on |S|, one group. p > 0: one group per cardinality of B, inside
    # which the error is monotone in |a + b - z|, so only the two neighbours of z - a can be optimal.
    groups = [None] if p == 0.0 else list(range(n - n1 + 1))
    best_key: tuple | None = None
    best_mask = 0
    for g in groups:
        if g is None:
            bs, mbs, kbs = b, mask_b, kb
        else:
            keep = kb == g
            bs, mbs, kbs = b[keep], mask_b[keep], kb[keep]
        qa, qk, qm, qz = a, ka, mask_a, queries
        if best_key is not None and best_key[0] == 0.0:
            # Some subset already reaches z exactly; only strictly smaller or equal sizes can still win
            # (the key is (error, size, ...)), and sizes in this group are >= g, ascending with g.
            if g is not None and g > best_key[1]:
                break
            sel = ka + (0 if g is None else g) <= best_key[1]
            qa, qk, qm, qz = a[sel], ka[sel], mask_a[sel], queries[sel]
        if bs.size == 0 or qa.size == 0:
            continue
        pos = np.searchsorted(bs, qz, side="left")  # first b >= z - a
        # Errors of the two neighbours of every query, without identities yet (cheap); only the
        # queries that attain the minimum are examined for the tie rule.
        sides = []
        for idx, ok in ((pos, pos < bs.size), (pos - 1, pos > 0)):
            idx = np.clip(idx, 0, bs.size - 1)
            dist = np.where(ok, np.abs(qa + bs[idx] - z), np.inf)
            err = dist if g is None else np.maximum(0.0, dist - (qk + g) * p)
            sides.append((idx, dist, err))
        emin = min(float(side[2].min()) for side in sides)
        ia_list, ib_list = [], []
        for idx, _, err in sides:
            hit = np.flatnonzero(err == emin)
            ia_list.append(hit)
            ib_list.append(idx[hit])
        ia = np.concatenate(ia_list)
        ib = np.concatenate(ib_list)
        # Among equal sums of B the tie rule wants the smallest (size, mask): scan each hit's run.
        run_lo = np.searchsorted(bs, bs[ib], side="left")
        run_hi = np.searchsorted(bs, bs[ib], side="right")
        choice = run_lo
        if np.any(run_hi - run_lo > 1):
            # Sums coincide exactly somewhere: take the segmented minimum of (size, mask) per run.
            run_start = np.empty(bs.size, dtype=bool)
            run_start[0] = True
            run_start[1:] = bs[1:] != bs[:-1]
            starts = np.flatnonzero(run_start)
            packed = (kbs << 32) | mbs
            best_in_run = np.minimum.reduceat(packed, starts)
            run_of = np.searchsorted(starts, run_lo)
            # The packed key is unique per element, so matching it recovers the position.
            order = np.argsort(packed, kind="stable")
            choice = order[np.searchsorted(packed[order], best_in_run[run_of])]
        dist = np.abs(qa[ia] + bs[choice] - z)
        size = qk[ia] + kbs[choice]
        err = np.maximum(0.0, dist - size * p)
        full_mask = qm[ia] | (mbs[choice] << n1)
        j = _lexmin(err, size, dist, full_mask)
        key = (err[j], size[j], dist[j], full_mask[j])
        if best_key is None or key < best_key:
            best_key = key
            best_mask = int(full_mask[j])
    indices = tuple(i for i in range(n) if (best_mask >> i) & 1)
    value, error = evaluate_subset(x, indices, z, perturbation=p)
    return SubsetResult(indices=indices, value=value, error=error)
