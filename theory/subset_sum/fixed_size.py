"""Exact fixed-size SubsetSum (RFSS): the best subset of exactly ``k`` (or at most ``k``) candidates.

Problem (Natale, Ferré, Giambartolomei, Giroire, Mallmann-Trenn, "On the Sparsity of the Strong Lottery
Ticket Hypothesis", NeurIPS 2024, arXiv:2410.14754, the Random Fixed-Size Subset Sum): given candidates
``x_1..x_n``, a target ``z`` and a size ``k``, find ``S`` with ``|S| = k`` minimising ``|sum_S x - z|``.
With a perturbation ``p >= 0`` (Xiong et al. AISTATS 2023, PSSP) the error of ``S`` is
``max(0, |s - z| - |S| p)``; for a fixed size it is monotone in ``|s - z|``, so the unperturbed
nearest sum is optimal.

Meet in the middle by cardinality split: the candidates are cut into halves ``A`` (first ``n // 2``) and
``B``; every size-``k`` subset is a size-``k1`` subset of ``A`` joined with a size-``k2 = k - k1`` subset of
``B``. For each split the ``C(|A|, k1)`` sums of ``A`` are matched against the sorted ``C(|B|, k2)`` sums of
``B``: for a query ``q = z - a`` only the two neighbours of ``q`` among the sorted ``b`` can minimise
``|a + b - z|``. Everything is vectorised over rows, subsets and queries (the only Python loops run over
the ``k + 1`` splits and the ``k`` positions of a subset). Time ``O(sum_k1 C(n/2, k1) log)`` per row.

Exactness: the search compares the float64 sums ``a + b`` of the two halves (for dyadic candidates these
are exact, and the tie rule below is then exact too); the returned errors are recomputed from the chosen
indices (``math.fsum`` for :func:`best_subset_fixed`, the sequential sum in increasing column order, the
engine's canonical sum, for :func:`best_subsets_fixed`).

Coverage of a window by ``k``-subsets (:func:`theory.coverage.coverage_error_fixed`, using this module's
subset enumeration): exact by enumerating the
``C(n, k)`` reachable intervals (``n <= 24``), or certified within ``tol > 0`` by an interval-union
recursion over the pairs (prefix, size) that extends :mod:`theory.coverage`'s certificate.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np

from theory.inputs import check_candidates, check_perturbation, check_real, to_numpy
from theory.subset_sum import engine, single
from theory.subset_sum.engine import BatchSubsetResult
from theory.subset_sum.single import MAX_N, SubsetResult, evaluate_subset
from theory.validate import check_int

#: Largest number of candidates of the single-target fixed-size solver (its tie rule packs int64 bitmasks).
FIXED_MAX_N = MAX_N
#: Largest half-group ``C(ceil(w/2), k1)`` the batched solver enumerates (``C(24, 12) = 2.7e6`` fits).
FIXED_MAX_HALF = 1 << 22
# Elements (rows x half-subsets) materialised at once per split.
_CHUNK_ELEMENTS = 1 << 21


@functools.lru_cache(maxsize=256)
def _combos(width: int, k: int) -> np.ndarray:
    """All size-``k`` subsets of ``range(width)`` as a ``(C(width, k), k)`` int64 array, rows increasing."""
    count = math.comb(width, k)
    flat = itertools.chain.from_iterable(itertools.combinations(range(width), k))
    out = np.fromiter(flat, dtype=np.int64, count=count * k).reshape(count, k)
    out.setflags(write=False)
    return out


def _sums(x: np.ndarray, combos: np.ndarray) -> np.ndarray:
    """``(rows, C)`` sums of each combination, added left to right (increasing column order)."""
    s = np.zeros((x.shape[0], combos.shape[0]))
    for j in range(combos.shape[1]):  # k positions, each vectorised over rows and subsets
        s = s + x[:, combos[:, j]]
    return s


def _codes(combos: np.ndarray, shift: int = 0) -> np.ndarray:
    """int64 bitmask ``sum_i 2^(i + shift)`` of every combination."""
    if combos.shape[1] == 0:
        return np.zeros(combos.shape[0], np.int64)
    return (np.int64(1) << (combos + shift)).sum(axis=1)


def _rank(bs: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per row, the number of entries of the sorted ``bs`` that are ``<= q`` (for every query)."""
    r, cb = bs.shape
    cq = q.shape[1]
    order = np.argsort(np.concatenate([bs, q], axis=1), axis=1, kind="stable")  # b first on ties
    is_b = order < cb
    before = np.cumsum(is_b, axis=1)
    qid = order[~is_b].reshape(r, cq) - cb
    cnt = np.empty((r, cq), dtype=np.int64)
    np.put_along_axis(cnt, qid, before[~is_b].reshape(r, cq), axis=1)
    return cnt


def _split_best(x: np.ndarray, z: np.ndarray, k1: int, k2: int, n_a: int) -> tuple:
    """The two neighbour pairs of every A-subset's query, for one cardinality split ``k = k1 + k2``.

    Returns:
        ``(a, bs, ob, left, right, d_left, d_right)``: the A sums ``(rows, C_A)``, the sorted B sums and
        their order, the sorted positions of the largest ``b <= z - a`` and the smallest ``b > z - a``,
        and the distances ``|a + b - z|`` there (``inf`` where no such ``b`` exists).
    """
    ca = _combos(n_a, k1)
    cb = _combos(x.shape[1] - n_a, k2) + n_a
    a = _sums(x, ca)
    b = _sums(x, cb)
    ob = np.argsort(b, axis=1, kind="stable")
    bs = np.take_along_axis(b, ob, axis=1)
    cnt = _rank(bs, z[:, None] - a)
    width = bs.shape[1]
    left = np.clip(cnt - 1, 0, width - 1)
    right = np.clip(cnt, 0, width - 1)
    d_left = np.where(cnt > 0, np.abs(a + np.take_along_axis(bs, left, axis=1) - z[:, None]), np.inf)
    d_right = np.where(cnt < width, np.abs(a + np.take_along_axis(bs, right, axis=1) - z[:, None]), np.inf)
    return a, bs, ob, left, right, d_left, d_right


def _fixed_rows(x: np.ndarray, z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact best size-``k`` subset of every row of ``x`` (all columns usable).

    Returns:
        ``(idx, dist)``: ``(rows, k)`` sorted column indices of a minimiser of ``|s - z|`` and the minimal
        half-sum distance per row. Among minimisers found, the first in split order wins (deterministic).
    """
    rows, w = x.shape
    n_a = w // 2
    best_d = np.full(rows, np.inf)
    best_idx = np.zeros((rows, k), dtype=np.int64)
    for k1 in range(max(0, k - (w - n_a)), min(k, n_a) + 1):
        k2 = k - k1
        ca = _combos(n_a, k1)
        cb = _combos(w - n_a, k2) + n_a
        step = max(1, _CHUNK_ELEMENTS // (ca.shape[0] + cb.shape[0]))
        for s in range(0, rows, step):
            sl = slice(s, s + step)
            _, _, ob, left, right, d_left, d_right = _split_best(x[sl], z[sl], k1, k2, n_a)
            d = np.concatenate([d_left, d_right], axis=1)
            j = np.argmin(d, axis=1)
            dj = d[np.arange(d.shape[0]), j]
            side_right = j >= ca.shape[0]
            ia = np.where(side_right, j - ca.shape[0], j)
            pos = np.where(side_right, right[np.arange(d.shape[0]), ia], left[np.arange(d.shape[0]), ia])
            jb = ob[np.arange(d.shape[0]), pos]
            better = dj < best_d[sl]
            sel = np.flatnonzero(better)
            best_d[sl][sel] = dj[sel]
            chosen = np.concatenate([ca[ia[sel]], cb[jb[sel]]], axis=1)
            best_idx[s + sel] = chosen
    return best_idx, best_d


def _fixed_single(x: np.ndarray, z: float, k: int) -> tuple[float, int]:
    """Best size-``k`` subset of one row under the tie rule ``(|s - z|, mask)``: ``(dist, mask)``.

    Among the pairs at the minimal distance for a query, every B-subset with the same sum is an equal
    candidate (a run of equal sorted sums), so the run's smallest bitmask is taken (segmented minimum).
    """
    w = x.size
    n_a = w // 2
    xr = x[None, :]
    zr = np.array([z])
    best: tuple[float, int] | None = None
    for k1 in range(max(0, k - (w - n_a)), min(k, n_a) + 1):
        k2 = k - k1
        ca = _combos(n_a, k1)
        cb = _combos(w - n_a, k2) + n_a
        _, bs, ob, left, right, d_left, d_right = _split_best(xr, zr, k1, k2, n_a)
        dmin = float(min(d_left.min(), d_right.min()))
        bs, ob = bs[0], ob[0]
        code_a = _codes(ca)
        code_b = _codes(cb)[ob]  # in sorted-B order
        starts = np.flatnonzero(np.concatenate([[True], bs[1:] != bs[:-1]]))
        run_min = np.minimum.reduceat(code_b, starts)
        masks = []
        for d, pos in ((d_left[0], left[0]), (d_right[0], right[0])):
            hit = np.flatnonzero(d == dmin)
            if hit.size:
                run = np.searchsorted(starts, pos[hit], side="right") - 1
                masks.append(code_a[hit] | run_min[run])
        mask = int(np.concatenate(masks).min())
        if best is None or (dmin, mask) < best:
            best = (dmin, mask)
    assert best is not None
    return best


def half_group_size(w: int, sizes: Any) -> int:
    """Largest half-group ``C(|half|, k1)`` the batched solver enumerates for ``w`` candidates, ``sizes``."""
    n_a = w // 2
    out = 1
    for k in sizes:
        for k1 in range(max(0, k - (w - n_a)), min(k, n_a) + 1):
            out = max(out, math.comb(n_a, k1), math.comb(w - n_a, k - k1))
    return out


def within_limit(w: int, k: int, *, at_most: bool = False) -> bool:
    """Whether :func:`best_subsets_fixed` solves rows of ``w`` valid candidates for size ``k`` exactly."""
    return half_group_size(w, range(k + 1) if at_most else [k]) <= FIXED_MAX_HALF


def _check_size(name: str, value: Any, n: int) -> int:
    return check_int(name, value, 0, n)


def allowed_sizes(size: int | None, max_size: int | None, n: int) -> list[int]:
    """The subset sizes a fixed-size problem allows: ``[size]``, or ``0 .. max_size``.

    Raises:
        ValueError: On neither or both of ``size`` and ``max_size``, or one outside ``[0, n]``.
    """
    if (size is None) == (max_size is None):
        raise ValueError("pass exactly one of size (exactly k kept) and max_size (at most k kept)")
    if size is not None:
        return [_check_size("size", size, n)]
    return list(range(_check_size("max_size", max_size, n) + 1))


def best_subset_fixed(
    candidates: Any,
    target: float,
    *,
    size: int | None = None,
    max_size: int | None = None,
    perturbation: float = 0.0,
) -> SubsetResult:
    """The exact best subset of exactly ``size`` (or at most ``max_size``) candidates for one target.

    Source: Natale et al. NeurIPS 2024 (arXiv:2410.14754), the Random Fixed-Size Subset Sum; the
    perturbed error ``max(0, |s - z| - |S| p)`` is Xiong et al.'s (AISTATS 2023).

    Tie rule (as :func:`theory.best_subset`): the key ``(error, |S|, |s - z|, mask)``, ``mask =
    sum_{i in S} 2^i``; exact for candidates with exactly representable subset sums (e.g. dyadic).

    Args:
        candidates: 1-D array of ``n`` finite values, ``1 <= n <= 48``.
        target: The target ``z`` (finite).
        size: The subset size ``k`` in ``[0, n]`` (exactly ``k`` kept).
        max_size: Alternatively, at most ``k`` kept, ``k`` in ``[0, n]``.
        perturbation: ``p >= 0``, the largest shift of each kept candidate.

    Returns:
        A :class:`~theory.subset_sum.SubsetResult`; value and error recomputed with ``math.fsum``.

    Raises:
        ValueError: On bad candidates or target, a negative perturbation, neither or both of ``size`` and
            ``max_size``, or a size outside ``[0, n]``.
    """
    x = check_candidates(candidates, max_n=FIXED_MAX_N, hint=" (fixed-size meet in the middle)")
    z = check_real("target", target)
    p = check_perturbation(perturbation)
    sizes = allowed_sizes(size, max_size, x.size)
    best_key: tuple | None = None
    for k in sizes:
        dist, mask = _fixed_single(x, z, k)
        key = (max(0.0, dist - k * p), k, dist, mask)
        if best_key is None or key < best_key:
            best_key = key
    assert best_key is not None
    mask = best_key[3]
    indices = tuple(i for i in range(x.size) if (mask >> i) & 1)
    value, error = evaluate_subset(x, indices, z, perturbation=p)
    return SubsetResult(indices=indices, value=value, error=error)


def _canonical_rows(x: np.ndarray, z: np.ndarray, idx: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Canonical values and errors of index rows ``idx`` ``(m, K)``, increasing, padded with ``n`` (none).

    The sum adds the kept candidates one by one in increasing column order: the engine's canonical sum
    (:mod:`theory.subset_sum.engine`), so errors of both solvers compare bit for bit.
    """
    m, n = x.shape
    s = np.zeros(m)
    rows = np.arange(m)
    for j in range(idx.shape[1]):  # K positions, vectorised over rows
        col = idx[:, j]
        s = s + np.where(col < n, x[rows, np.minimum(col, n - 1)], 0.0)
    reach = (idx < n).sum(axis=1) * p
    return s + np.clip(z - s, -reach, reach), np.maximum(0.0, np.abs(s - z) - reach)


def best_subsets_fixed(
    candidates: Any,
    targets: Any,
    *,
    size: int | None = None,
    max_size: int | None = None,
    perturbation: float = 0.0,
    valid: Any = None,
) -> BatchSubsetResult:
    """``m`` fixed-size problems at once: per row the best subset of exactly ``size`` (at most ``max_size``).

    Source: Natale et al. NeurIPS 2024 (RFSS). Rows are compacted (valid candidates first, stable) and
    bucketed by their number of valid candidates; each bucket is solved by the vectorised cardinality-split
    meet in the middle. ``max_size`` ranks by ``(error, |S|)``: the smallest error, ties toward fewer
    candidates. Among subsets equal in (error, size) the returned one is deterministic but unspecified.

    Args:
        candidates: ``(m, n)`` finite values.
        targets: ``(m,)`` finite targets.
        size: Exactly ``k`` kept per row, ``0 <= k <= `` every row's number of valid candidates.
        max_size: Alternatively, at most ``k`` kept per row (``k >= 0``).
        perturbation: ``p >= 0``.
        valid: Optional boolean ``(m, n)``; candidates marked False are never selected.

    Returns:
        A :class:`~theory.subset_sum.engine.BatchSubsetResult` (numpy); ``exact`` is True for every row
        (rows beyond the limit are refused, not approximated).

    Raises:
        ValueError: On bad shapes or values, neither or both of ``size`` and ``max_size``, a row with fewer
            valid candidates than ``size``, or rows beyond :func:`within_limit` (half-groups of more than
            ``2^22`` subsets).
    """
    x = to_numpy(candidates)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"candidates must be a 2-D array (m, n) with n >= 1 columns, got shape {x.shape}")
    m, n = x.shape
    if not np.all(np.isfinite(x)):
        raise ValueError("candidates must be finite real numbers in (-inf, inf); found NaN or inf")
    z = to_numpy(targets)
    if z.shape != (m,) or not np.all(np.isfinite(z)):
        raise ValueError(f"targets must be finite with shape (m,) = ({m},), got shape {z.shape}")
    p = check_perturbation(perturbation)
    k_req = allowed_sizes(size, max_size, n)[-1]  # the size, or the largest size allowed
    if valid is None:
        ok = np.ones((m, n), dtype=bool)
    else:
        ok = np.asarray(valid.detach().cpu().numpy() if hasattr(valid, "detach") else valid)
        if ok.shape != (m, n) or ok.dtype != np.bool_:
            raise ValueError(
                f"valid must be a boolean array of shape (m, n) = ({m}, {n}), got {ok.dtype} {ok.shape}"
            )
    counts = ok.sum(axis=1)
    if m and not within_limit(int(counts.max()), k_req, at_most=max_size is not None):
        raise ValueError(
            f"rows of {int(counts.max())} valid candidates need half-groups of "
            f"{half_group_size(int(counts.max()), [k_req])} subsets for size {k_req}, beyond the exact "
            f"meet in the middle's limit of {FIXED_MAX_HALF} (a limit of the solver)"
        )
    if size is not None and m and counts.min() < k_req:
        raise ValueError(
            f"size must be <= every row's number of valid candidates (min {int(counts.min())}), got {k_req}"
        )
    order = np.argsort(~ok, axis=1, kind="stable")
    xc = np.take_along_axis(x, order, axis=1)
    masks = np.zeros((m, n), dtype=bool)
    for w in np.unique(counts).tolist():
        rows = np.flatnonzero(counts == w)
        xw, zw = xc[rows, :w], z[rows]
        ks = [k_req] if size is not None else list(range(min(k_req, w) + 1))
        best_err = np.full(rows.size, np.inf)
        best_k = np.zeros(rows.size, dtype=np.int64)
        chosen: dict[int, np.ndarray] = {}
        for k in ks:  # ascending k: a strictly smaller error is needed to prefer a larger subset
            idx, _ = _fixed_rows(xw, zw, k)
            _, err = _canonical_rows(xw, zw, idx, p)
            better = err < best_err
            best_err = np.where(better, err, best_err)
            best_k = np.where(better, k, best_k)
            chosen[k] = idx
        for k, idx in chosen.items():
            sel = np.flatnonzero(best_k == k)
            if sel.size and k:
                cols = order[rows[sel][:, None], idx[sel]]
                masks[rows[sel][:, None], cols] = True
    sizes = masks.sum(axis=1).astype(np.int64)
    kmax = int(sizes.max()) if m else 0
    idx_sorted = np.sort(np.where(masks, np.arange(n)[None, :], n), axis=1)[:, :kmax]
    values, errors = _canonical_rows(x, z, idx_sorted, p)
    exact = np.ones(m, dtype=bool)
    return BatchSubsetResult(masks=masks, values=values, errors=errors, sizes=sizes, exact=exact)


def _fixed_sums(x: np.ndarray, k: int) -> np.ndarray:
    """All ``C(n, k)`` size-``k`` subset sums (unsorted), by joining the cardinality groups of two halves."""
    n_a = x.size // 2
    parts = []
    for k1 in range(max(0, k - (x.size - n_a)), min(k, n_a) + 1):
        a = _sums(x[None, :], _combos(n_a, k1))[0]
        b = _sums(x[None, :], _combos(x.size - n_a, k - k1) + n_a)[0]
        parts.append((a[:, None] + b[None, :]).ravel())
    return np.concatenate(parts)


# ----------------------------------------------------------------------------------------------------
# The public entry points (``theory.best_subset``, ``theory.best_subsets``): the solvers of single /
# engine, with ``size=`` / ``max_size=`` sent to the fixed-size ones.
# The dispatch lives here, not in those modules, so no module imports back into this one.


def best_subset(
    candidates: Any,
    target: float,
    *,
    perturbation: float = 0.0,
    size: int | None = None,
    max_size: int | None = None,
) -> SubsetResult:
    """:func:`theory.subset_sum.single.best_subset`; with ``size`` / ``max_size``, :func:`best_subset_fixed`.

    Args:
        candidates: 1-D candidates (``n <= 48``).
        target: The target ``z``.
        perturbation: ``p >= 0`` (Xiong et al. 2023, PSSP).
        size: Keep exactly this many candidates (fixed-size SubsetSum, Natale et al. NeurIPS 2024).
        max_size: Keep at most this many.

    Returns:
        A :class:`~theory.subset_sum.SubsetResult`.
    """
    if size is None and max_size is None:
        return single.best_subset(candidates, target, perturbation=perturbation)
    return best_subset_fixed(candidates, target, size=size, max_size=max_size, perturbation=perturbation)


def best_subsets(
    candidates: Any,
    targets: Any,
    *,
    perturbation: float = 0.0,
    max_error: Any = None,
    valid: Any = None,
    device: Any = None,
    chunk_rows: int | None = None,
    num_threads: int | None = None,
    size: int | None = None,
    max_size: int | None = None,
) -> BatchSubsetResult:
    """:func:`theory.subset_sum.engine.best_subsets`; with ``size`` / ``max_size``, the fixed-size solver.

    The fixed-size solver runs in numpy; with ``device`` its result fields are moved there as tensors.
    ``max_error`` is not combined with a size (the fixed-size mode ranks by error).

    Args:
        candidates: ``(m, n)`` candidates.
        targets: ``(m,)`` targets.
        perturbation: ``p >= 0``.
        max_error: Error budget(s) of the fewest-candidates mode (not with ``size`` / ``max_size``).
        valid: Optional boolean ``(m, n)``.
        device: ``None`` (numpy) or a torch device.
        chunk_rows: Rows per chunk of the engine.
        num_threads: Threads of the engine's numpy back end.
        size: Exactly this many kept per row.
        max_size: At most this many kept per row.

    Returns:
        A :class:`~theory.subset_sum.engine.BatchSubsetResult`.
    """
    if size is None and max_size is None:
        return engine.best_subsets(
            candidates,
            targets,
            perturbation=perturbation,
            max_error=max_error,
            valid=valid,
            device=device,
            chunk_rows=chunk_rows,
            num_threads=num_threads,
        )
    if max_error is not None:
        raise ValueError("max_error must be None with size or max_size (fixed-size mode ranks by error)")
    res = best_subsets_fixed(
        candidates, targets, size=size, max_size=max_size, perturbation=perturbation, valid=valid
    )
    if device is None:
        return res
    import torch  # lazily: `import theory` must stay torch-free

    fields = ("masks", "values", "errors", "sizes", "exact")
    return BatchSubsetResult(*(torch.as_tensor(getattr(res, f), device=torch.device(device)) for f in fields))
