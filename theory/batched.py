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
  (order-preserving bits of the float32 sum, then the subset's bitmask), and the neighbour search is one
  more linear merge of the sorted queries with the sorted half-sums; no binary search, no Python loop
  over rows or subsets. Chunks of rows run on a small thread pool (numpy releases the GIL in sorts).
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
from theory.support.validate import check_int, check_range

#: Largest ``n`` accepted (two halves of at most ``2^16`` sums per row).
MAX_N = 32
_FLAG = np.uint64(1 << 31)
_BIG = 1 << 30


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


def _sortable(v: np.ndarray) -> np.ndarray:
    """Map float32 to uint32 so that unsigned order equals float order (sign-magnitude flip)."""
    u = v.view(np.uint32)
    return u ^ np.where(u >> np.uint32(31), np.uint32(0xFFFFFFFF), np.uint32(0x80000000))


def _unsortable(u: np.ndarray) -> np.ndarray:
    u = u.astype(np.uint32)
    return (u ^ np.where(u >> np.uint32(31), np.uint32(0x80000000), np.uint32(0xFFFFFFFF))).view(np.float32)


def _pack(v: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return (_sortable(v).astype(np.uint64) << np.uint64(32)) | ids.astype(np.uint64)


def _np_sorted_keys(x32: np.ndarray) -> np.ndarray:
    """Sorted packed keys ``(float32 sum bits << 32) | (size << 16) | mask`` of all subsets of each row."""
    rows, h = x32.shape
    vals = np.zeros((rows, 1), dtype=np.float32)
    ids = np.zeros((rows, 1), dtype=np.uint32)
    keys = _pack(vals, ids)
    for i in range(h):  # h doublings; both halves are sorted runs, so the stable sort is a linear merge
        # ids are (size << 16) | mask, so equal sums are ordered by size, then mask
        shifted = _pack(vals + x32[:, i : i + 1], (ids + np.uint32(1 << 16)) | np.uint32(1 << i))
        keys = np.concatenate([keys, shifted], axis=1)
        keys.sort(axis=1, kind="stable")
        vals = _unsortable(keys >> np.uint64(32))
        ids = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return keys


class _NumpyChunk:
    """Half-sums and the neighbour search for one chunk of rows (numpy)."""

    def __init__(self, xs32: np.ndarray, z32: np.ndarray, n_a: int):
        rows = xs32.shape[0]
        a_keys = _np_sorted_keys(xs32[:, :n_a])
        a_vals = _unsortable(a_keys >> np.uint64(32))
        a_ids = (a_keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        a_by_mask = np.empty_like(a_vals)
        np.put_along_axis(a_by_mask, (a_ids & np.uint32(0xFFFF)).astype(np.int64), a_vals, axis=1)
        q = (z32[:, None] - a_vals)[:, ::-1]
        q_keys = _pack(np.ascontiguousarray(q), a_ids[:, ::-1] | np.uint32(1 << 31))
        q_keys.sort(axis=1, kind="stable")  # nearly sorted already: only ties in q move
        self.q_keys = q_keys
        self.a_mask = (q_keys & np.uint64(0xFFFF)).astype(np.int64)
        self.a_vals = np.take_along_axis(a_by_mask, self.a_mask, axis=1)
        self.b_keys = _np_sorted_keys(xs32[:, n_a:])
        self.rows = rows

    def group(self, members: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """B values, B masks (sorted) of one cardinality group, and each query's rank in them."""
        b_keys = self.b_keys
        if members is not None:
            b_keys = b_keys[members[b_keys & np.uint64(0xFFFF)]].reshape(self.rows, -1)
        merged = np.concatenate([b_keys, self.q_keys], axis=1)
        merged.sort(axis=1, kind="stable")
        n_q = self.q_keys.shape[1]
        pos = np.nonzero(merged & _FLAG)[1].reshape(self.rows, n_q)
        rank = pos - np.arange(n_q)[None, :]  # number of B sums <= the query
        b_vals = _unsortable(b_keys >> np.uint64(32))
        b_mask = (b_keys & np.uint64(0xFFFF)).astype(np.int64)
        return b_vals, b_mask, rank


# ----------------------------------------------------------------------------------------------------
# shared reduction (written against a tiny array interface so both back ends use the same logic)


class _Ops:
    """The handful of array operations the reduction needs, for numpy or torch."""

    def __init__(self, torch_module: Any = None):
        self.t = torch_module

    def take(self, arr: Any, idx: Any) -> Any:
        return np.take_along_axis(arr, idx, axis=1) if self.t is None else self.t.gather(arr, 1, idx)

    def rowmin(self, arr: Any) -> Any:
        return arr.min(axis=1) if self.t is None else arr.amin(dim=1)

    def first_true(self, cond: Any) -> Any:
        if self.t is None:
            return np.argmax(cond, axis=1)
        return self.t.argmax(cond.to(self.t.uint8), dim=1)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b) if self.t is None else self.t.where(cond, a, b)

    def cat(self, arrs: list) -> Any:
        return np.concatenate(arrs, axis=1) if self.t is None else self.t.cat(arrs, dim=1)

    def f64(self, arr: Any) -> Any:
        return arr.astype(np.float64) if self.t is None else arr.double()


def _reduce(ops: _Ops, err: Any, size: Any, mask: Any, max_error: float | None, best: dict) -> None:
    """Fold one group's candidates into the running per-row bests of both ranking modes."""
    inf = float("inf")
    e1 = ops.rowmin(err)
    tie = err == e1[:, None]
    s1 = ops.rowmin(ops.where(tie, size, _BIG))
    j = ops.first_true(tie & (size == s1[:, None]))
    m1 = ops.take(mask, j[:, None])[:, 0]
    better = (e1 < best["err"]) | ((e1 == best["err"]) & (s1 < best["size"]))
    best["err"] = ops.where(better, e1, best["err"])
    best["size"] = ops.where(better, s1, best["size"])
    best["mask"] = ops.where(better, m1, best["mask"])
    if max_error is None:
        return
    prim = ops.where(err <= max_error, size, _BIG)
    s2 = ops.rowmin(prim)
    tie = prim == s2[:, None]
    e2 = ops.rowmin(ops.where(tie, err, inf))
    j = ops.first_true(tie & (err == e2[:, None]))
    m2 = ops.take(mask, j[:, None])[:, 0]
    better = (s2 < best["csize"]) | ((s2 == best["csize"]) & (e2 < best["cerr"]))
    best["cerr"] = ops.where(better, e2, best["cerr"])
    best["csize"] = ops.where(better, s2, best["csize"])
    best["cmask"] = ops.where(better, m2, best["cmask"])


def _group_candidates(
    ops: _Ops,
    a_vals: Any,
    a_mask: Any,
    a_size: Any,
    b_vals: Any,
    b_mask: Any,
    b_size: Any,
    rank: Any,
    z64: Any,
    p: float,
    n_a: int,
    run_first: Any = None,
) -> tuple[Any, Any, Any]:
    """Errors, sizes and full masks of both neighbours of every query in one group."""
    count = b_vals.shape[1]
    errs, sizes, masks = [], [], []
    a64 = ops.f64(a_vals)
    for side, idx in enumerate((rank, rank - 1)):
        ok = (idx >= 0) & (idx < count)
        idx = idx.clip(0, count - 1)
        if side == 1 and run_first is not None:
            # The successor is the first of its run of equal sums, the predecessor the last; sizes may
            # differ inside a run (zero candidates, equal sums), so move to the run's first element,
            # which has the smallest size (B keys are ordered by value, then size).
            idx = ops.take(run_first, idx)
        bv = ops.f64(ops.take(b_vals, idx))
        bm = ops.take(b_mask, idx)
        size = a_size + (b_size if not hasattr(b_size, "shape") else ops.take(b_size, idx))
        dist = (a64 + bv - z64[:, None]).abs() if ops.t is not None else np.abs(a64 + bv - z64[:, None])
        err = (dist - size * p).clip(min=0.0) if ops.t is not None else np.maximum(dist - size * p, 0.0)
        errs.append(ops.where(ok, err, float("inf")))
        sizes.append(size)
        masks.append(a_mask | (bm << n_a))
    return ops.cat(errs), ops.cat(sizes), ops.cat(masks)


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
    table = np.zeros(1, dtype=np.int64)
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
    chunk = _NumpyChunk(xs32, z.astype(np.float32), n_a)
    ops = _Ops()
    pop = _popcount_table(max(n_a, n_b))
    a_size = pop[chunk.a_mask]
    best = _init_best(rows, np.full, np.int64, np.float64)
    if p == 0.0 and max_error is None:
        b_vals, b_mask, rank = chunk.group(None)
        run_first = _run_first(np, b_vals, np.maximum.accumulate)
        err, size, mask = _group_candidates(
            ops, chunk.a_vals, chunk.a_mask, a_size, b_vals, b_mask, pop[b_mask], rank, z, p, n_a, run_first
        )
        _reduce(ops, err, size, mask, max_error, best)
    else:
        sizes_b = pop[: 2**n_b]
        for g in range(n_b + 1):
            if _groups_done(best, g, max_error, np.all):
                break
            b_vals, b_mask, rank = chunk.group(sizes_b == g)
            err, size, mask = _group_candidates(
                ops, chunk.a_vals, chunk.a_mask, a_size, b_vals, b_mask, g, rank, z, p, n_a
            )
            _reduce(ops, err, size, mask, max_error, best)
    return _final_masks(best, max_error, np.where)


def _groups_done(best: dict, g: int, max_error: float | None, all_: Any) -> bool:
    """True when no group of size >= g can improve any row (group g only holds subsets of size >= g)."""
    if max_error is None:
        return bool(all_((best["err"] == 0.0) & (best["size"] <= g)))
    return bool(all_(best["csize"] < g))


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
    if p == 0.0 and max_error is None:
        groups = [None]
    else:
        groups = list(range(n_b + 1))
    for g in groups:
        if g is not None and _groups_done(best, g, max_error, torch.all):
            break
        run_first = None
        if g is None:
            # Columns pre-ordered by size and a stable sort: equal sums end up ordered by size.
            by_size = torch.argsort(pop[: 2**n_b], stable=True)
            b_vals, order = torch.sort(b_all[:, by_size], dim=1, stable=True)
            b_mask = by_size[order]
            b_size = pop[b_mask]
            run_first = _run_first(torch, b_vals, torch.cummax)
        else:
            cols = torch.nonzero(pop[: 2**n_b] == g)[:, 0]
            b_vals, order = torch.sort(b_all[:, cols], dim=1)
            b_mask = cols[order]
            b_size = g
        rank = torch.searchsorted(b_vals.contiguous(), q, right=True)  # number of B sums <= the query
        err, size, mask = _group_candidates(
            ops, a_vals, a_mask, a_size, b_vals, b_mask, b_size, rank, z64, p, n_a, run_first
        )
        _reduce(ops, err, size, mask, max_error, best)
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
        chunk_rows: Rows per chunk (bounds memory); default 1024 for numpy, 8192 for torch on CPU and
            65536 on an accelerator.
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
        chunk = check_int("chunk_rows", chunk_rows, 1) if chunk_rows is not None else 1024
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
    default = 8192 if dev.type == "cpu" else 65536
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
