"""Batched exact (perturbed) SubsetSum: ``m`` independent problems of ``n`` candidates each.

This is the workload of the Pensia et al. construction (NeurIPS 2020, arXiv:2006.07990, Sec. 3.2 /
their ``subset-sum/`` experiment: one problem of n = 21 candidates per target weight, 397,000 weights).
Each row is solved by meet-in-the-middle over its two halves (``A``: the first ``n // 2`` candidates,
``B``: the rest): for every half-sum ``a`` the two neighbours of ``z - a`` among the sorted sums of ``B``
are examined. With ``p > 0`` or in the minimum-cardinality mode the error or the ranking depends on the
size of the subset, so ``B`` is searched one cardinality group at a time (inside a group the error is
monotone in ``|a + b - z|``, so the two neighbours are still the only candidates).

Back ends:

* numpy (``device=None``): sorted half-sums are built by repeated stable merges of packed 64-bit keys
  (the bits of a non-negative float32 sum, then the subset's size and bitmask; see
  :func:`_np_sorted_keys`), and the neighbour search is one more linear merge of the sorted queries with
  the sorted half-sums; no binary search, no Python loop over rows or subsets. Chunks of rows run on a
  small thread pool (numpy releases the GIL in sorts and ufuncs).
* torch (``device="cpu"``, ``"cuda"``, ...): ``torch.sort`` and the batched ``torch.searchsorted`` on
  the device. torch is imported only here, inside the function.

Precision: the search runs in float32 (half the memory traffic); the chosen subsets' values and errors
are then recomputed in float64. So the returned error is optimal up to the float32 rounding of the sums
(an absolute slack of about ``n * 2^-24 * (sum |x| + |z|)``, ~1e-6 for the Pensia workload); for
candidates whose subset sums are exact in float32 (small dyadic rationals) it is exactly optimal.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from theory.inputs import check_perturbation, to_numpy
from theory.validate import check_int, check_range

#: Largest ``n`` accepted (two halves of at most ``2^16`` sums per row).
MAX_N = 32
_FLAG = np.uint64(1 << 31)
_BIG = 1 << 14  # larger than any subset size; fits int16


@dataclass(frozen=True)
class BatchSubsetResult:
    """Optimal subsets for a batch of problems.

    Attributes:
        masks: Boolean ``(m, n)``; row ``r`` marks the candidates kept for target ``r``.
        values: ``(m,)`` reached values after the optimal perturbation, float64.
        errors: ``(m,)`` errors ``max(0, |s - z| - |S| p)``, recomputed in float64 from ``masks``.
    """

    masks: Any
    values: Any
    errors: Any


# ----------------------------------------------------------------------------------------------------
# numpy back end


def _high_floats(keys: np.ndarray) -> np.ndarray:
    """The float32 stored in the high 32 bits of each uint64 key (a strided view, no copy)."""
    return keys.view(np.float32).reshape(*keys.shape, 2)[..., 1 if np.little_endian else 0]


def _np_sorted_keys(x32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys of all subsets of each row, with the sums shifted to be non-negative.

    Writing ``c = sum of the negative x_i``, every subset sum is ``c + T`` where ``T`` is a subset sum of
    ``|x|`` (a negative ``x_i`` is "added" by leaving it out). Non-negative float32 values sort like their
    raw bits, so a key is just ``(bits(T) << 32) | (|S| << 16) | mask(S)`` for the true subset ``S``, and
    equal sums are ordered by size, then mask. Each of the ``h`` doublings merges two sorted runs (a linear
    stable sort) and updates the ids by one integer addition.

    Returns:
        ``(keys, c)``: uint64 keys of shape ``(rows, 2^h)`` sorted per row, and the float32 offsets ``c``.
    """
    h = x32.shape[1]
    neg = x32 < 0
    size0 = neg.sum(axis=1).astype(np.uint64)
    mask0 = (neg.astype(np.uint64) << np.arange(h, dtype=np.uint64)).sum(axis=1)
    keys = ((size0 << np.uint64(16)) | mask0)[:, None]
    mag = np.abs(x32)
    offset = np.where(neg, x32, np.float32(0)).sum(axis=1, dtype=np.float32)
    for i in range(h):  # h doublings; both halves are sorted runs, so the stable sort is a linear merge
        step = (1 << 16) + (1 << i)
        # Positive x_i joins (size + 1, bit set); negative x_i leaves (size - 1, bit cleared): modular add.
        delta = np.where(neg[:, i], np.uint64(2**64 - step), np.uint64(step))[:, None]
        high = (_high_floats(keys) + mag[:, i : i + 1]).view(np.uint32).astype(np.uint64) << np.uint64(32)
        shifted = high | ((keys & np.uint64(0xFFFFFFFF)) + delta)
        keys = np.concatenate([keys, shifted], axis=1)
        keys.sort(axis=1, kind="stable")
    return keys, offset


class _NumpyChunk:
    """Half-sums and the neighbour search for one chunk of rows (numpy).

    Works in the shifted coordinates of :func:`_np_sorted_keys`: ``a = c_A + T_a``, ``b = c_B + T_b``, so
    ``|a + b - z| = |T_a + T_b - zq|`` with ``zq = z - c_A - c_B`` (exposed as ``self.zq``).
    """

    def __init__(self, xs32: np.ndarray, z32: np.ndarray, n_a: int):
        rows = xs32.shape[0]
        a_keys, c_a = _np_sorted_keys(xs32[:, :n_a])
        self.b_keys, c_b = _np_sorted_keys(xs32[:, n_a:])
        self.b_size = ((self.b_keys >> np.uint64(16)) & np.uint64(0x1F)).astype(np.int16)
        self.zq = z32 - c_a - c_b
        t_a = np.ascontiguousarray(_high_floats(a_keys))
        a_ids = a_keys & np.uint64(0xFFFFFFFF)
        t_by_mask = np.empty_like(t_a)
        np.put_along_axis(t_by_mask, (a_ids & np.uint64(0xFFFF)).astype(np.int64), t_a, axis=1)
        # Queries T_b ~ zq - T_a, ascending; negative ones clamp to +0.0 (every T_b >= 0 lies above them,
        # and the smallest T_b, 0, is still examined as the predecessor).
        q = (self.zq[:, None] - t_a)[:, ::-1]
        q = np.where(q > 0, q, np.float32(0))
        q_keys = (q.view(np.uint32).astype(np.uint64) << np.uint64(32)) | a_ids[:, ::-1] | _FLAG
        q_keys.sort(axis=1, kind="stable")  # nearly sorted already: only ties in q move
        self.q_keys = q_keys
        self.a_mask = (q_keys & np.uint64(0xFFFF)).astype(np.int64)
        self.a_size = ((q_keys >> np.uint64(16)) & np.uint64(0x1F)).astype(np.int16)
        self.a_vals = np.take_along_axis(t_by_mask, self.a_mask, axis=1)
        self.rows = rows

    def group(
        self, size: int | None, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sorted ``T_b``, masks and sizes of one cardinality group of B, and each query's rank in it.

        Args:
            size: The group's subset size, or ``None`` for all of B.
            rows: Optional row indices to restrict to.
        """
        b_keys = self.b_keys if rows is None else self.b_keys[rows]
        q_keys = self.q_keys if rows is None else self.q_keys[rows]
        count = b_keys.shape[0]
        b_size = self.b_size if rows is None else self.b_size[rows]
        if size is not None:
            b_keys = b_keys[b_size == size].reshape(count, -1)
            b_size = None
        merged = np.concatenate([b_keys, q_keys], axis=1)
        merged.sort(axis=1, kind="stable")  # two sorted runs: a linear merge
        n_q = q_keys.shape[1]
        width = merged.shape[1]
        # The query flag is bit 31 of each key's low 32-bit word: test it on a uint32 view (no temporary).
        low = merged.view(np.uint32).reshape(count, width, 2)[..., 0 if np.little_endian else 1]
        flat = np.flatnonzero(low >= np.uint32(1 << 31))
        pos = (flat - np.repeat(np.arange(count) * width, n_q)).reshape(count, n_q)
        rank = pos - np.arange(n_q)[None, :]  # number of B sums <= the query
        b_vals = np.ascontiguousarray(_high_floats(b_keys))
        b_mask = (b_keys & np.uint64(0xFFFF)).astype(np.int64)
        return b_vals, b_mask, b_size, rank


# ----------------------------------------------------------------------------------------------------
# shared reduction (written against a tiny array interface so both back ends use the same logic)


class _Ops:
    """The handful of array operations the reduction needs, for numpy or torch."""

    def __init__(self, torch_module: Any = None):
        self.t = torch_module

    def take(self, arr: Any, idx: Any) -> Any:
        if self.t is not None:
            return self.t.gather(arr, 1, idx)
        # Flat indexing is several times faster than take_along_axis for (rows, k) index arrays.
        offsets = (np.arange(arr.shape[0]) * arr.shape[1])[:, None]
        return arr.reshape(-1)[idx + offsets]

    def rowmin(self, arr: Any) -> Any:
        return arr.min(axis=1) if self.t is None else arr.amin(dim=1)

    def first_true(self, cond: Any) -> Any:
        if self.t is None:
            return np.argmax(cond, axis=1)
        return self.t.argmax(cond.to(self.t.uint8), dim=1)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b) if self.t is None else self.t.where(cond, a, b)

    def f64(self, arr: Any) -> Any:
        return arr.astype(np.float64) if self.t is None else arr.double()

    def abs(self, arr: Any) -> Any:
        return np.abs(arr) if self.t is None else arr.abs()

    def relu(self, arr: Any) -> Any:
        return np.maximum(arr, np.float32(0.0)) if self.t is None else arr.clamp(min=0.0)


def _reduce(ops: _Ops, err: Any, size: Any, mask_of: Any, max_error: float | None, best: dict) -> None:
    """Fold one set of candidates ``(rows, k)`` into the running per-row bests of both ranking modes.

    ``mask_of(j)`` returns the full bitmask of candidate column ``j[r]`` of every row ``r``; masks are
    only materialised for the winners.
    """
    inf = float("inf")
    e1 = ops.rowmin(err)
    tie = err == e1[:, None]
    s1 = ops.rowmin(ops.where(tie, size, _BIG))
    m1 = mask_of(ops.first_true(tie & (size == s1[:, None])))
    better = (e1 < best["err"]) | ((e1 == best["err"]) & (s1 < best["size"]))
    best["err"] = ops.where(better, ops.f64(e1), best["err"])
    best["size"] = ops.where(better, s1, best["size"])
    best["mask"] = ops.where(better, m1, best["mask"])
    if max_error is None:
        return
    prim = ops.where(err <= max_error, size, _BIG)
    s2 = ops.rowmin(prim)
    tie = prim == s2[:, None]
    e2 = ops.rowmin(ops.where(tie, err, inf))
    m2 = mask_of(ops.first_true(tie & (err == e2[:, None])))
    better = (s2 < best["csize"]) | ((s2 == best["csize"]) & (e2 < best["cerr"]))
    best["cerr"] = ops.where(better, ops.f64(e2), best["cerr"])
    best["csize"] = ops.where(better, s2, best["csize"])
    best["cmask"] = ops.where(better, m2, best["cmask"])


def _fold_group(
    ops: _Ops,
    a_vals: Any,
    a_mask: Any,
    a_size: Any,
    b_vals: Any,
    b_mask: Any,
    b_size: Any,
    rank: Any,
    z32: Any,
    p: Any,
    n_a: int,
    max_error: float | None,
    best: dict,
    run_first: Any = None,
) -> None:
    """Score both neighbours of every query in one group (float32) and fold them into ``best``.

    Scores use float32 ``|a + b - z|``: exact when the sums are (dyadic inputs), otherwise within the
    float32 slack documented in the module docstring; the winners' errors are recomputed in float64.
    """
    count = b_vals.shape[1]
    for side, idx in enumerate((rank, rank - 1)):
        ok = (idx >= 0) & (idx < count)
        idx = idx.clip(0, count - 1)
        if side == 1 and run_first is not None:
            # The successor is the first of its run of equal sums, the predecessor the last; sizes may
            # differ inside a run (zero candidates, equal sums), so move to the run's first element,
            # which has the smallest size (B is ordered by value, then size).
            idx = ops.take(run_first, idx)
        size = a_size + (ops.take(b_size, idx) if hasattr(b_size, "shape") else b_size)
        dist = ops.abs(a_vals + ops.take(b_vals, idx) - z32[:, None])
        err = ops.where(ok, ops.relu(dist - size * p) if p else dist, float("inf"))

        def mask_of(j: Any, idx: Any = idx) -> Any:
            col = j[:, None]
            return ops.take(a_mask, col)[:, 0] | (ops.take(b_mask, ops.take(idx, col))[:, 0] << n_a)

        _reduce(ops, err, size, mask_of, max_error, best)


def _run_first(xp: Any, vals: Any, cummax: Any) -> Any:
    """Per position of a row-sorted array, the index of the first element of its run of equal values."""
    cols = xp.arange(vals.shape[1], device=vals.device) if xp is not np else np.arange(vals.shape[1])
    new = (
        xp.ones(vals.shape, dtype=xp.bool, device=vals.device) if xp is not np else np.ones(vals.shape, bool)
    )
    new[:, 1:] = vals[:, 1:] != vals[:, :-1]
    starts = xp.where(new, cols, 0)
    return cummax(starts, axis=1) if xp is np else cummax(starts, dim=1).values


def _popcount_table(bits: int) -> np.ndarray:
    table = np.zeros(1, dtype=np.int16)
    for _ in range(bits):
        table = np.concatenate([table, table + 1])
    return table


def _search_values(x: np.ndarray, z: np.ndarray, ok: np.ndarray, p: float) -> np.ndarray:
    """float32 search candidates; forbidden ones become a value no optimal subset can contain.

    A forbidden candidate is replaced by ``V = 4 (sum |x| + n p + |z|) + 1``: any subset holding it has
    ``|s - z| - |S| p > |z|``, worse than the empty subset (error ``|z|``), and with ``max_error < |z|``
    it never qualifies; with ``max_error >= |z|`` the empty subset (size 0) wins the size ranking.
    """
    big = 4.0 * (np.abs(x).sum(axis=1) + x.shape[1] * p + np.abs(z)) + 1.0
    return np.where(ok, x, big[:, None]).astype(np.float32)


def _solve_chunk_numpy(
    x: np.ndarray, z: np.ndarray, ok: np.ndarray, p: float, max_error: float | None
) -> np.ndarray:
    rows, n = x.shape
    n_a = n // 2
    n_b = n - n_a
    xs32 = _search_values(x, z, ok, p)
    z32 = z.astype(np.float32)
    p32 = np.float32(p)  # a numpy scalar keeps the scoring arithmetic in float32
    chunk = _NumpyChunk(xs32, z32, n_a)
    ops = _Ops()
    best = _init_best(rows, np.full, np.int64, np.float64)
    if p == 0.0:
        # One merge against all of B gives the minimal error (ties toward fewer elements).
        b_vals, b_mask, b_size, rank = chunk.group(None)
        run_first = _run_first(np, b_vals, np.maximum.accumulate)
        _fold_group(
            ops,
            chunk.a_vals,
            chunk.a_mask,
            chunk.a_size,
            b_vals,
            b_mask,
            b_size,
            rank,
            chunk.zq,
            p32,
            n_a,
            None,
            best,
            run_first,
        )
        if max_error is None:
            return best["mask"]
        # Minimum cardinality: rows whose minimal error exceeds the budget keep the fallback; the others
        # start from the minimal-error subset (it qualifies) and search the size groups below its size.
        qualifies = best["err"] <= max_error
        best["cerr"] = np.where(qualifies, best["err"], np.inf)
        best["csize"] = np.where(qualifies, best["size"], _BIG)
        best["cmask"] = np.where(qualifies, best["mask"], 0)
        active = qualifies
    else:
        active = np.ones(rows, dtype=bool)
    for g in range(n_b + 1):
        # Group g only holds subsets of size >= g: rows that cannot improve any more drop out.
        if max_error is None:
            live = active & ~((best["err"] == 0.0) & (best["size"] <= g))
        else:
            live = active & ~(best["csize"] < g)
        sel = np.flatnonzero(live)
        if sel.size == 0:
            break
        b_vals, b_mask, _, rank = chunk.group(g, sel)
        sub = {key: value[sel] for key, value in best.items()}
        _fold_group(
            ops,
            chunk.a_vals[sel],
            chunk.a_mask[sel],
            chunk.a_size[sel],
            b_vals,
            b_mask,
            g,
            rank,
            chunk.zq[sel],
            p32,
            n_a,
            max_error,
            sub,
        )
        for key, value in sub.items():
            best[key][sel] = value
    return _final_masks(best, max_error, np.where)


def _init_best(rows: int, full: Any, int_dtype: Any, float_dtype: Any, **kw: Any) -> dict:
    return {
        "err": full(rows, np.inf, dtype=float_dtype, **kw),
        "size": full(rows, _BIG, dtype=int_dtype, **kw),
        "mask": full(rows, 0, dtype=int_dtype, **kw),
        "cerr": full(rows, np.inf, dtype=float_dtype, **kw),
        "csize": full(rows, _BIG, dtype=int_dtype, **kw),
        "cmask": full(rows, 0, dtype=int_dtype, **kw),
    }


def _final_masks(best: dict, max_error: float | None, where: Any) -> Any:
    if max_error is None:
        return best["mask"]
    return where(best["csize"] < _BIG, best["cmask"], best["mask"])


# ----------------------------------------------------------------------------------------------------
# torch back end


def _torch_all_sums(torch: Any, x32: Any) -> Any:
    """All ``2^h`` subset sums per row in bitmask order, accumulated left to right (as in numpy)."""
    sums = torch.zeros((x32.shape[0], 1), dtype=x32.dtype, device=x32.device)
    for i in range(x32.shape[1]):
        sums = torch.cat([sums, sums + x32[:, i : i + 1]], dim=1)
    return sums


def _solve_chunk_torch(
    torch: Any, x: np.ndarray, z: np.ndarray, ok: np.ndarray, p: float, max_error: float | None, device: Any
) -> Any:
    rows, n = x.shape
    n_a = n // 2
    n_b = n - n_a
    xs32 = torch.from_numpy(_search_values(x, z, ok, p)).to(device)
    z64 = torch.from_numpy(z).to(device)
    z32 = z64.float()
    ops = _Ops(torch)
    pop = torch.from_numpy(_popcount_table(max(n_a, n_b))).to(device)
    a_vals = _torch_all_sums(torch, xs32[:, :n_a])
    a_mask = torch.arange(2**n_a, device=device).expand(rows, -1)
    a_size = pop[: 2**n_a].expand(rows, -1)
    q = (z32[:, None] - a_vals).contiguous()
    b_all = _torch_all_sums(torch, xs32[:, n_a:])
    best = {
        key: torch.full((rows,), init, dtype=dtype, device=device)
        for key, init, dtype in (
            ("err", float("inf"), torch.float64),
            ("size", _BIG, torch.int64),
            ("mask", 0, torch.int64),
            ("cerr", float("inf"), torch.float64),
            ("csize", _BIG, torch.int64),
            ("cmask", 0, torch.int64),
        )
    }
    if p == 0.0:
        # One search against all of B gives the minimal error (ties toward fewer elements): columns
        # pre-ordered by size and a stable sort put equal sums in order of size.
        by_size = torch.argsort(pop[: 2**n_b], stable=True)
        b_vals, order = torch.sort(b_all[:, by_size], dim=1, stable=True)
        b_mask = by_size[order]
        rank = torch.searchsorted(b_vals.contiguous(), q, right=True)  # number of B sums <= the query
        run_first = _run_first(torch, b_vals, torch.cummax)
        _fold_group(
            ops, a_vals, a_mask, a_size, b_vals, b_mask, pop[b_mask], rank, z32, p, n_a, None, best, run_first
        )
        if max_error is None:
            return best["mask"]
        qualifies = best["err"] <= max_error  # as in the numpy back end: seed, then smaller sizes only
        best["cerr"] = torch.where(qualifies, best["err"], float("inf"))
        best["csize"] = torch.where(qualifies, best["size"], _BIG)
        best["cmask"] = torch.where(qualifies, best["mask"], 0)
        active = qualifies
    else:
        active = torch.ones(rows, dtype=torch.bool, device=device)
    for g in range(n_b + 1):
        if max_error is None:
            live = active & ~((best["err"] == 0.0) & (best["size"] <= g))
        else:
            live = active & ~(best["csize"] < g)
        sel = torch.nonzero(live)[:, 0]
        if sel.numel() == 0:
            break
        cols = torch.nonzero(pop[: 2**n_b] == g)[:, 0]
        b_vals, order = torch.sort(b_all[sel][:, cols], dim=1)
        b_mask = cols[order]
        rank = torch.searchsorted(b_vals.contiguous(), q[sel], right=True)
        sub = {key: value[sel] for key, value in best.items()}
        _fold_group(
            ops,
            a_vals[sel],
            a_mask[sel],
            a_size[sel],
            b_vals,
            b_mask,
            g,
            rank,
            z32[sel],
            p,
            n_a,
            max_error,
            sub,
        )
        for key, value in sub.items():
            best[key][sel] = value
    return _final_masks(best, max_error, torch.where)


# ----------------------------------------------------------------------------------------------------
# public entry point


def best_subsets(
    candidates: Any,
    targets: Any,
    *,
    perturbation: float = 0.0,
    max_error: float | None = None,
    valid: Any = None,
    device: Any = None,
    chunk_rows: int | None = None,
    num_threads: int | None = None,
) -> BatchSubsetResult:
    """Solve ``m`` independent (perturbed) SubsetSum problems exactly, vectorised over rows.

    Row ``r`` asks for a subset ``S`` of ``candidates[r]`` approximating ``targets[r]``; its error is
    ``max(0, |sum_S x - z| - |S| p)`` (Xiong et al. AISTATS 2023 PSSP; ``p = 0``: plain SubsetSum as in
    Pensia et al. NeurIPS 2020).

    Ranking: with ``max_error=None`` each row gets a subset of minimal error, ties broken toward fewer
    elements. With ``max_error=e`` each row gets, among the subsets with error ``<= e``, one with the
    FEWEST elements (ties toward smaller error), which gives sparser tickets; rows where no subset reaches
    ``e`` fall back to the minimal-error subset. Which of several subsets equal in (error, size) is
    returned is deterministic but unspecified. The ranking uses float32 sums (see the module docstring):
    errors are optimal, and the ``<= e`` test exact, up to float32 rounding of the sums.

    Args:
        candidates: ``(m, n)`` finite values, ``1 <= n <= 32`` (numpy array, nested list or tensor).
        targets: ``(m,)`` finite targets.
        perturbation: ``p >= 0``, the largest shift of each kept candidate.
        max_error: ``None`` (minimal error) or ``e >= 0`` (minimum-cardinality mode).
        valid: Optional boolean ``(m, n)``; candidates marked False are never selected (e.g. units removed
            by sign pruning in a construction).
        device: ``None`` for the numpy back end, or a torch device (``"cpu"``, ``"cuda"``) for the torch
            back end; then the result fields are tensors on that device.
        chunk_rows: Rows per chunk (bounds memory); by default about ``2^21`` (numpy), ``2^24`` (torch
            on CPU) or ``2^27`` (accelerator) half-sums per chunk, e.g. 1024 / 8192 / 65536 rows at n = 21.
        num_threads: Threads for the numpy back end (default: the CPU count).

    Returns:
        A :class:`BatchSubsetResult` with ``masks`` (bool ``(m, n)``), ``values`` and ``errors``
        (``(m,)``, recomputed in float64 from the masks).

    Raises:
        ValueError: On a non-2-D or empty candidate array, ``n > 32``, NaN/inf, targets of the wrong shape,
            a negative perturbation or max_error, a ``valid`` of the wrong shape, or values so large that
            float32 sums would overflow.
    """
    x = to_numpy(candidates)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"candidates must be a 2-D array (m, n) with 1 <= n <= {MAX_N}, got shape {x.shape}")
    m, n = x.shape
    if n > MAX_N:
        raise ValueError(f"candidates must have 1 <= n <= {MAX_N} columns, got n = {n}")
    if not np.all(np.isfinite(x)):
        raise ValueError("candidates must be finite real numbers in (-inf, inf); found NaN or inf")
    z = to_numpy(targets)
    if z.shape != (m,):
        raise ValueError(f"targets must have shape (m,) = ({m},) to match candidates, got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("targets must be finite real numbers in (-inf, inf); found NaN or inf")
    p = check_perturbation(perturbation)
    if max_error is not None:
        max_error = check_range("max_error", max_error, 0.0, None)
    if valid is None:
        ok = np.ones((m, n), dtype=bool)
    else:
        ok = np.asarray(valid.detach().cpu().numpy() if hasattr(valid, "detach") else valid)
        if ok.shape != (m, n) or ok.dtype != np.bool_:
            raise ValueError(
                f"valid must be a boolean array of shape (m, n) = ({m}, {n}), got {ok.dtype} {ok.shape}"
            )
    scale = 4.0 * (np.abs(x).sum(axis=1) + n * p + np.abs(z)) + 1.0 if m else np.zeros(0)
    if m and float(scale.max()) * n > 1e37:
        raise ValueError(
            "candidates, targets and perturbation must be small enough for float32 sums (|x| sums < 1e36)"
        )

    if device is None:
        # About 2^21 half-sums of B per chunk (1024 rows at n = 21), so memory stays bounded for large n.
        default = max(16, min(1024, (1 << 21) >> (n - n // 2)))
        chunk = check_int("chunk_rows", chunk_rows, 1) if chunk_rows is not None else default
        threads = (
            check_int("num_threads", num_threads, 1) if num_threads is not None else (os.cpu_count() or 1)
        )
        starts = list(range(0, m, chunk))

        def work(s: int) -> np.ndarray:
            e = slice(s, s + chunk)
            return _solve_chunk_numpy(x[e], z[e], ok[e], p, max_error)

        if threads > 1 and len(starts) > 1:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                parts = list(pool.map(work, starts))
        else:
            parts = [work(s) for s in starts]
        full = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        masks, values, errors = _finish(x, z, full, p)
        return BatchSubsetResult(masks=masks, values=values, errors=errors)

    import torch  # lazily: `import theory` must stay torch-free

    dev = torch.device(device)
    budget = 1 << (24 if dev.type == "cpu" else 27)  # half-sums of B per chunk
    default = max(64, min(8192 if dev.type == "cpu" else 65536, budget >> (n - n // 2)))
    chunk = check_int("chunk_rows", chunk_rows, 1) if chunk_rows is not None else default
    parts = [
        _solve_chunk_torch(
            torch, x[s : s + chunk], z[s : s + chunk], ok[s : s + chunk], p, max_error, dev
        ).cpu()
        for s in range(0, m, chunk)
    ]
    full = torch.cat(parts).numpy() if parts else np.zeros(0, dtype=np.int64)
    masks, values, errors = _finish(x, z, full, p)
    return BatchSubsetResult(
        masks=torch.from_numpy(masks).to(dev),
        values=torch.from_numpy(values).to(dev),
        errors=torch.from_numpy(errors).to(dev),
    )


def _finish(
    x: np.ndarray, z: np.ndarray, full: np.ndarray, p: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bool masks from bitmasks, then values and errors recomputed in float64."""
    n = x.shape[1]
    masks = ((full[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    sums = np.where(masks, x, 0.0).sum(axis=1)
    reach = masks.sum(axis=1) * p
    values = sums + np.clip(z - sums, -reach, reach)
    errors = np.maximum(0.0, np.abs(sums - z) - reach)
    return masks, values, errors
