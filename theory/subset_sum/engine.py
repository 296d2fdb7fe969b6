"""Batched exact (perturbed) SubsetSum: ``m`` independent problems, the float64 optimum of every row.

This is the workload of the Pensia et al. construction (NeurIPS 2020, arXiv:2006.07990, Sec. 3.2 /
their ``subset-sum/`` experiment: one problem of n = 21 candidates per target weight, 397,000 weights) and
of the toolkit's constructions (``networks.construct``: up to ~84 columns per row, about half of them valid).

Error of a subset ``S`` of row ``r``: ``max(0, |s - z| - |S| p)`` (Xiong et al. AISTATS 2023, PSSP), where
``s`` is the *canonical float64 sum*: the selected candidates added one by one in increasing column order
(:func:`_canonical`). Every decision (optimality, the ``<= max_error`` test, ties) is taken on that value,
and the returned ``errors`` are that value, so "exact" means: no subset has a smaller canonical float64
error, and the budget test is exact in float64.

Rows are first compacted (valid candidates moved to the front, stable) and bucketed by their number ``w``
of valid candidates; each bucket is solved by the engines below.

* **Deepening by cardinality** (fewest-candidates mode, any ``w``): for ``k = 0, 1, 2, ...`` all
  ``C(w, k)`` subsets of size ``k`` are summed at once (canonical sums); a row is resolved at the first
  ``k`` whose best size-``k`` error is within its budget, which is exactly "the fewest elements, ties
  toward the smaller error". Stops once ``C(w, k)`` exceeds :data:`DEEPEN_MAX_COMBOS` (``w <= 32``: a
  cap of ``2^12`` subsets, the meet in the middle takes over).
* **Size table** (``w <= MITM_MAX_VALID``): an exact float64 meet in the middle over cardinality groups
  of both halves gives, per row and total size ``K``, the minimal error over subsets of size ``K``; both
  ranking modes are read off it (first minimal ``K``; first ``K`` within the budget).
* **float32 prune + float64 decision** (numpy, ``p = 0``: the Pensia workload): the fast
  packed-key float32 merge (:func:`_np_sorted_keys`) picks one subset per row; its canonical float64
  error ``e_up`` bounds the optimum. With the float32 rounding bound ``delta`` below, every pair of half
  subsets whose canonical error is ``<= e_up`` has float32 signed distance ``|f| <= e_up + delta``.
  ``f = fl(fl(T_a + T_b) - zq)`` is non-decreasing along the sorted half-sums of B, so for each query the
  pairs in that window are a contiguous run next to its neighbour rank: it is walked outwards until ``f``
  leaves the window (at most :data:`_WALK_STEPS` steps; rows where a walk does not end go to the size
  table), every pair in it is scored in canonical float64, and the lexicographic minimum of
  ``(error, size)`` is taken. float32 prunes, float64 decides. The fewest-candidates mode does the same
  per size group of B with the window ``budget + delta`` (:func:`_prune_fewest`): every subset within
  the budget is listed, and the fewest elements (ties: smaller error) among them win.
* Rows with ``32 < w <= 48`` in the minimal-error mode (or to settle the fewest mode) use
  :func:`theory.subset_sum.single.best_subset` row by row; beyond that a row is at the engine's limit.

Rounding bound (derivation; ``u = 2^-24``, ``S = sum |x| + |z|`` of the row, ``h = w - w // 2`` the larger
half, first order; the factor 1.01 covers the ``(1 - k u)^-1`` and ``(1 + u)`` factors for ``k <= 64``).
In the shifted coordinates of :func:`_np_sorted_keys` a subset's signed distance is
``d = T_a + c_A + T_b + c_B - z``, computed as ``f = fl(fl(T_a + T_b) - zq)`` with
``zq = fl(fl(z - c_A) - c_B)``. Rounding the candidates to float32 moves any subset sum by
``<= u sum |x|`` and ``z`` by ``<= u |z|``. ``T_a`` adds at most ``h`` non-negative terms one by one
(the first addition, to 0, is exact), so it is off by ``<= (h - 1) u`` times the sum of its terms
(Higham, Accuracy and Stability, Sec. 4.2); ``c_A`` sums the negative candidates of A, by a summation
tree of height ``<= h - 1`` (numpy's pairwise sum for ``h <= 16``), off by ``<= (h - 1) u`` times their
magnitudes. The terms of ``T_a`` and of ``c_A`` are each a part of A's candidates, so together they are
off by ``<= 2 (h - 1) u sum_A |x|``; over both halves ``<= 2 (h - 1) u S``. ``zq`` takes two roundings
of values ``<= S`` (``<= 2 u S``) and ``fl(T_a + T_b)`` one of a value ``<= S`` (``u S``). So before the
final subtraction the distance is off by ``E <= (2 (h - 1) + 5) u S``, and the subtraction adds
``u |fl(T_a + T_b) - zq| <= u (|d| + E)``. The canonical float64 sum (``<= w`` additions) and the
subtraction of ``z`` are off by ``<= (w + 2) 2^-53 S``, so a subset whose canonical error is
``<= e_ref`` has ``|d| <= e_ref + (w + 2) 2^-53 S`` and ``|f| <= e_ref + delta + 2 u e_ref`` with
``delta = 1.01 ((2 (h - 1) + 6) 2^-24 + (w + 2) 2^-53) S`` (:func:`_delta`; the ``+ 6`` leaves ``u S``
for the second-order terms; :func:`_window` adds the ``2 u e_ref``).

Back ends: numpy (``device=None``; chunks on a small thread pool, numpy releases the GIL) and torch
(``device="cpu"``, ``"cuda"``, ...; the size table and the deepening run in float64 on the device, the
same exactness). torch is imported only inside :func:`best_subsets`: ``import theory`` stays torch-free.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from theory.inputs import check_perturbation, to_numpy
from theory.subset_sum.single import MAX_N as SINGLE_MAX_N
from theory.subset_sum.single import best_subset
from theory.validate import check_int, check_range

#: Largest number of valid candidates per row solved by the batched meet in the middle.
MITM_MAX_VALID = 32
#: Deepening stops once one size class has more subsets than this (rows wider than ``MITM_MAX_VALID``).
DEEPEN_MAX_COMBOS = 1 << 23
# Below the meet-in-the-middle limit the size table is cheaper than deep enumeration.
_DEEPEN_MAX_COMBOS_MITM = 1 << 12
# Elements (rows x subsets x k) materialised at once by the deepening.
_DEEPEN_CHUNK = 1 << 22
# Steps a window walk may take on each side before its row goes to the size table.
_WALK_STEPS = 64
#: Bit 31 of a key's id marks a query (it sorts after a B sum of the same float32 value).
_FLAG = 1 << 31


@dataclass(frozen=True)
class BatchSubsetResult:
    """Optimal subsets for a batch of problems.

    Attributes:
        masks: Boolean ``(m, n)``; row ``r`` marks the candidates kept for target ``r``.
        values: ``(m,)`` reached values after the optimal perturbation, float64.
        errors: ``(m,)`` canonical float64 errors ``max(0, |s - z| - |S| p)`` of ``masks``.
        sizes: ``(m,)`` int64 subset sizes.
        exact: Boolean ``(m,)``; False where the row is beyond the engine's limits (too many valid
            candidates for the meet in the middle and not resolved by deepening): the best subset found
            so far is returned, which may not be optimal. A limit, never a verdict on the row.
    """

    masks: Any
    values: Any
    errors: Any
    sizes: Any
    exact: Any


# ----------------------------------------------------------------------------------------------------
# numpy back end


# Word order of a uint64 key seen as two uint32 words: the float32 sum is the high word, the id the low.
_HI, _LO = (1, 0) if np.little_endian else (0, 1)


def _high_floats(keys: np.ndarray) -> np.ndarray:
    """The float32 stored in the high 32 bits of each uint64 key (a strided view, no copy)."""
    return keys.view(np.float32).reshape(*keys.shape, 2)[..., _HI]


def _np_subset_keys(x32: np.ndarray, flag: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The packed keys of all subsets of each row, in bitmask order (unsorted).

    Writing ``c = sum of the negative x_i``, every subset sum is ``c + T`` where ``T`` is a subset sum of
    ``|x|`` (a negative ``x_i`` is "added" by leaving it out). Entry ``j`` of a row is the subset of
    ``|x|`` whose bits are ``j``: ``T_j`` adds its terms one by one in increasing column order (each of
    the ``h`` doublings adds ``|x_i|`` to the first ``2^i`` sums), and its id is
    ``flag | (|S| << 16) | mask(S)`` for the true subset ``S`` (bits of ``j`` flipped where ``x_i < 0``),
    updated per doubling by one modular 32-bit addition. Key ``(bits(T) << 32) | id`` is built in place:
    the float32 sums and the uint32 ids are the two words of each uint64 (no packing pass), which took
    about a fifth of the CPU time of separate arrays packed afterwards, measured side by side.

    Args:
        x32: float32 ``(rows, h)``, ``h <= 16``.
        flag: A bit above the ids (bit 31 marks queries); the modular updates never reach it.

    Returns:
        ``(keys, T, c, flip)``: uint64 ``(rows, 2^h)``, ``T`` the float32 view of their sums, the float32
        offsets ``c`` and the uint64 masks of the negative columns (``mask(S) = j ^ flip``).
    """
    rows, h = x32.shape
    neg = x32 < 0
    flip = (neg.astype(np.uint64) << np.arange(h, dtype=np.uint64)).sum(axis=1)
    mag = np.abs(x32)
    offset = np.where(neg, x32, np.float32(0)).sum(axis=1, dtype=np.float32)
    words = np.empty((rows, 1 << h, 2), dtype=np.uint32)
    sums = words.view(np.float32)[..., _HI]
    ids = words[..., _LO]
    sums[:, 0] = 0.0
    sizes = neg.sum(axis=1).astype(np.uint32) << np.uint32(16)
    ids[:, 0] = sizes | flip.astype(np.uint32) | np.uint32(flag)
    for i in range(h):  # h doublings, written in place (no concatenation)
        step = (1 << 16) + (1 << i)
        # Positive x_i joins (size + 1, bit set); negative x_i leaves (size - 1, bit cleared): modular add.
        delta = np.where(neg[:, i], np.uint32(2**32 - step), np.uint32(step))[:, None]
        np.add(sums[:, : 1 << i], mag[:, i : i + 1], out=sums[:, 1 << i : 2 << i])
        np.add(ids[:, : 1 << i], delta, out=ids[:, 1 << i : 2 << i])
    return words.view(np.uint64).reshape(rows, 1 << h), sums, offset, flip


def _np_sorted_keys(x32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys of all subsets of each row, with the sums shifted to be non-negative.

    Non-negative float32 values sort like their raw bits, so a key is just ``(bits(T) << 32) | id`` with
    the id of :func:`_np_subset_keys`; equal sums are ordered by size, then mask. The keys of a row are
    distinct, so any sort gives the same order: one (SIMD) quicksort per row, several times faster than
    merging at every doubling.

    Returns:
        ``(keys, c)``: uint64 keys of shape ``(rows, 2^h)`` sorted per row, and the float32 offsets ``c``.
    """
    keys, _, offset, _ = _np_subset_keys(x32)
    keys.sort(axis=1)
    return keys, offset


class _NumpyChunk:
    """Half-sums and the neighbour search for one chunk of rows (numpy).

    Works in the shifted coordinates of :func:`_np_sorted_keys`: ``a = c_A + T_a``, ``b = c_B + T_b``, so
    ``|a + b - z| = |T_a + T_b - zq|`` with ``zq = z - c_A - c_B`` (exposed as ``self.zq``).
    """

    def __init__(self, xs32: np.ndarray, z32: np.ndarray, n_a: int):
        rows = xs32.shape[0]
        # A's keys carry the query flag; their float words are then overwritten by the queries.
        q_keys, t_a, c_a, flip_a = _np_subset_keys(xs32[:, :n_a], flag=_FLAG)
        self.b_keys, c_b = _np_sorted_keys(xs32[:, n_a:])
        self.zq = z32 - c_a - c_b
        # T_a in bitmask order, a copy (the query words below replace them in the keys; a view that
        # happens to be contiguous, e.g. one row of one sum, must not be shared).
        t_by_bits = t_a.copy()
        # Queries T_b ~ zq - T_a, sorted ascending (keys distinct: one quicksort); negative ones clamp to
        # +0.0 (every T_b >= 0 lies above them, and the smallest T_b, 0, is still examined as the
        # predecessor): max(q, 0) leaves -0.0 as it is, and -0.0 + 0.0 = +0.0.
        np.subtract(self.zq[:, None], t_by_bits, out=t_a)
        np.maximum(t_a, np.float32(0), out=t_a)
        t_a += np.float32(0)
        q_keys.sort(axis=1)
        self.q_keys = q_keys
        # T_a of each sorted query: its bitmask position is the true mask with the negative bits flipped.
        self.a_vals = _take(t_by_bits, _code(q_keys ^ flip_a[:, None]))
        self.rows = rows

    def a_code(self, r: np.ndarray, q: np.ndarray) -> np.ndarray:
        """int64 bitmasks (over A's columns) of the queries at ``(r, q)``."""
        return _code(self.q_keys[r, q])

    def group(self, size: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted ``T_b`` and keys of one cardinality group of B, and each query's predecessor in it.

        The sums come padded by a sentinel on each side (``-inf`` before, ``+inf`` after the ``nb`` sums of
        a row), so a neighbour always exists: a sentinel's signed distance is infinite, it lies outside
        every window and stops every walk, and no bounds mask is needed on the dense arrays.

        Args:
            size: The group's subset size, or ``None`` for all of B.

        Returns:
            ``(b_pad, b_keys, base)``: float32 ``(rows, nb + 2)``, uint64 ``(rows, nb)`` (masks of selected
            entries by :func:`_code`; column ``c`` of ``b_keys`` is column ``c + 1`` of ``b_pad``), and int64
            ``(rows, queries)``: the index into ``b_pad.ravel()`` of the largest B sum ``<=`` each query
            (the row's ``-inf`` sentinel where there is none).
        """
        b_keys, q_keys = self.b_keys, self.q_keys
        count = b_keys.shape[0]
        if size is not None:
            b_size = (b_keys >> np.uint64(16)) & np.uint64(0x1F)
            b_keys = b_keys[b_size == size].reshape(count, -1)
        merged = np.concatenate([b_keys, q_keys], axis=1)
        # Distinct keys (queries carry a flag), so any sort gives the one order; two sorted runs make the
        # stable sort (timsort) a linear merge, about 4x less CPU time than the quicksort on this shape.
        merged.sort(axis=1, kind="stable")
        n_q = q_keys.shape[1]
        width = merged.shape[1]
        # The query flag is bit 31 of each key's low 32-bit word: test it on a uint32 view (no temporary).
        low = merged.view(np.uint32).reshape(count, width, 2)[..., 0 if np.little_endian else 1]
        flat = np.flatnonzero(low >= np.uint32(1 << 31))
        # Query i of row r sits at merged position rank + i, so flat = r width + rank + i, and its
        # predecessor in the padded sums is at r (nb + 2) + rank = flat - r (n_q - 2) - i.
        base = flat.reshape(count, n_q) - _base_offsets(count, n_q)
        nb = b_keys.shape[1]
        b_pad = np.empty((count, nb + 2), dtype=np.float32)
        b_pad[:, 0] = -np.inf
        b_pad[:, -1] = np.inf
        b_pad[:, 1:-1] = _high_floats(b_keys)
        return b_pad, b_keys, base


@functools.lru_cache(maxsize=32)
def _base_offsets(rows: int, n_q: int) -> np.ndarray:
    """``r (n_q - 2) + i`` for row ``r`` and query ``i`` (see :meth:`_NumpyChunk.group`), read-only."""
    out = (np.arange(rows) * (n_q - 2))[:, None] + np.arange(n_q)[None, :]
    out.flags.writeable = False
    return out


def _unpad(pos: np.ndarray, r: np.ndarray, width: int) -> np.ndarray:
    """Columns of ``b_keys`` from indices ``pos`` into ``b_pad.ravel()`` of rows ``r`` (padded width)."""
    return pos - r * width - 1


def _code(keys: np.ndarray) -> np.ndarray:
    """int64 subset bitmasks (the low 16 bits) of packed keys."""
    return (keys & np.uint64(0xFFFF)).astype(np.int64)


def _take(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``take_along_axis(arr, idx, 1)`` by flat indexing (several times faster for (rows, k) indices)."""
    offsets = (np.arange(arr.shape[0]) * arr.shape[1])[:, None]
    return arr.reshape(-1)[idx + offsets]


# ----------------------------------------------------------------------------------------------------
# canonical float64 evaluation (the one definition of a subset's error)


def _canonical(x: np.ndarray, z: np.ndarray, masks: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Canonical float64 ``(values, errors)`` of boolean ``masks`` ``(R, w)`` over candidates ``x``.

    The sum adds the selected candidates one by one in increasing column order (adding ``0.0`` for an
    unselected one changes nothing), so it does not depend on unselected or invalid columns: compacted
    and original layouts give the same bits.
    """
    s = np.zeros(x.shape[0])
    for j in range(x.shape[1]):
        s = s + np.where(masks[:, j], x[:, j], 0.0)
    reach = masks.sum(axis=1) * p
    values = s + np.clip(z - s, -reach, reach)
    return values, np.maximum(0.0, np.abs(s - z) - reach)


def _bits(codes: np.ndarray, width: int) -> np.ndarray:
    """Bool ``(..., width)`` from int64 bitmasks."""
    return ((codes[..., None] >> np.arange(width)) & 1).astype(bool)


def _delta(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The proven bound on ``|f32 - canonical float64 distance|`` per row, apart from ``2 u e_ref``.

    See the module docstring (rounding bound); :func:`_window` adds the term in ``e_ref``.
    """
    w = x.shape[1]
    h = w - w // 2
    scale = np.abs(x).sum(axis=1) + np.abs(z)
    return 1.01 * ((2 * (h - 1) + 6) * 2.0**-24 + (w + 2) * 2.0**-53) * scale


# ----------------------------------------------------------------------------------------------------
# array adapter: the deepening and the size table are written once for numpy and torch


class _Xp:
    """The few array operations the exact engines need, for numpy (``torch_module=None``) or torch."""

    def __init__(self, torch_module: Any = None, device: Any = None):
        self.t = torch_module
        self.device = device

    def asarray(self, arr: np.ndarray) -> Any:
        return arr if self.t is None else self.t.from_numpy(np.ascontiguousarray(arr)).to(self.device)

    def numpy(self, arr: Any) -> np.ndarray:
        return arr if self.t is None else arr.cpu().numpy()

    def full(self, shape: tuple, value: float, dtype: str) -> Any:
        if self.t is None:
            return np.full(shape, value, dtype=dtype)
        return self.t.full(shape, value, dtype=getattr(self.t, dtype), device=self.device)

    def sort(self, arr: Any) -> tuple[Any, Any]:
        if self.t is None:
            idx = np.argsort(arr, axis=1, kind="stable")
            return np.take_along_axis(arr, idx, axis=1), idx
        vals, idx = self.t.sort(arr, dim=1, stable=True)
        return vals, idx

    def take(self, arr: Any, idx: Any) -> Any:
        return np.take_along_axis(arr, idx, axis=1) if self.t is None else self.t.gather(arr, 1, idx)

    def rank(self, b: Any, q: Any) -> Any:
        """Per row, the number of entries of sorted ``b`` that are ``<= q`` (``q`` sorted ascending)."""
        if self.t is not None:
            return self.t.searchsorted(b.contiguous(), q.contiguous(), right=True)
        rows, nb = b.shape
        nq = q.shape[1]
        # Two sorted runs: the stable sort is a linear merge; on ties b (first) precedes q.
        order = np.argsort(np.concatenate([b, q], axis=1), axis=1, kind="stable")
        pos = np.nonzero(order >= nb)[1].reshape(rows, nq)
        return pos - np.arange(nq)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b) if self.t is None else self.t.where(cond, a, b)

    def abs(self, arr: Any) -> Any:
        return np.abs(arr) if self.t is None else arr.abs()

    def relu(self, arr: Any) -> Any:
        return np.maximum(arr, 0.0) if self.t is None else arr.clamp(min=0.0)

    def min_arg(self, arr: Any) -> tuple[Any, Any]:
        if self.t is None:
            idx = np.argmin(arr, axis=1)
            return np.take_along_axis(arr, idx[:, None], axis=1)[:, 0], idx
        vals, idx = self.t.min(arr, dim=1)
        return vals, idx

    def index(self, arr: np.ndarray) -> Any:
        return arr if self.t is None else self.t.from_numpy(arr).to(self.device)


def _subset_sums(xp: _Xp, x: Any) -> Any:
    """All ``2^h`` sums of each row in bitmask order, each accumulated in increasing column order."""
    sums = xp.full((x.shape[0], 1), 0.0, "float64")
    for i in range(x.shape[1]):
        step = sums + x[:, i : i + 1]
        sums = np.concatenate([sums, step], axis=1) if xp.t is None else xp.t.cat([sums, step], dim=1)
    return sums


def _popcount(bits: int) -> np.ndarray:
    table = np.zeros(1, dtype=np.int64)
    for _ in range(bits):
        table = np.concatenate([table, table + 1])
    return table


@functools.lru_cache(maxsize=256)
def _combinations(width: int, k: int) -> np.ndarray:
    flat = itertools.chain.from_iterable(itertools.combinations(range(width), k))
    return np.fromiter(flat, dtype=np.int64, count=math.comb(width, k) * k).reshape(-1, k)


# ----------------------------------------------------------------------------------------------------
# exact engines


def _deepen_level(xp: _Xp, x: Any, z: Any, p: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimal canonical error over the size-``k`` subsets of every row, and one minimiser (bool masks).

    The sums add the ``k`` chosen columns in increasing order: the canonical sum of :func:`_canonical`.
    """
    rows, w = x.shape
    if k == 0:
        err = xp.numpy(xp.abs(z))
        return err, np.zeros((rows, w), dtype=bool)
    combos = _combinations(w, k)
    cols = [xp.index(np.ascontiguousarray(combos[:, t])) for t in range(k)]
    step = max(1, _DEEPEN_CHUNK // (combos.shape[0] * k))
    errs, picks = [], []
    for s in range(0, rows, step):
        xs, zs = x[s : s + step], z[s : s + step]
        sums = xs[:, cols[0]]
        for t in range(1, k):
            sums = sums + xs[:, cols[t]]
        err = xp.relu(xp.abs(sums - zs[:, None]) - k * p) if p else xp.abs(sums - zs[:, None])
        e, arg = xp.min_arg(err)
        errs.append(xp.numpy(e))
        picks.append(xp.numpy(arg))
    err = np.concatenate(errs)
    masks = np.zeros((rows, w), dtype=bool)
    chosen = combos[np.concatenate(picks)]
    np.put_along_axis(masks, chosen, True, axis=1)
    return err, masks


def _size_table(xp: _Xp, x: Any, z: Any, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 meet in the middle by cardinality: per row and total size ``K``, the minimal error.

    Each half is split into its cardinality groups; for every pair of groups ``(k_a, k_b)`` the two
    neighbours of ``z - a`` among the sorted sums of the ``B`` group are the only candidates (inside a
    group pair the error ``max(0, |a + b - z| - (k_a + k_b) p)`` is monotone in ``|a + b - z|``).

    Returns:
        ``(err, codes)``: float64 ``(R, w + 1)`` (inf where no subset has that size) and int64 bitmasks
        ``(R, w + 1)`` of one minimiser per size.
    """
    rows, w = x.shape
    ha = w // 2
    hb = w - ha
    a_all = _subset_sums(xp, x[:, :ha])
    b_all = _subset_sums(xp, x[:, ha:])
    pop_a, pop_b = _popcount(ha), _popcount(hb)
    err = np.full((rows, w + 1), np.inf)
    codes = np.zeros((rows, w + 1), dtype=np.int64)
    b_groups = []
    for g in range(hb + 1):
        cols = np.flatnonzero(pop_b == g)
        vals, order = xp.sort(b_all[:, xp.index(cols)])
        b_groups.append((vals, xp.numpy(order), cols))
    r_idx = np.arange(rows)
    for ka in range(ha + 1):
        cols_a = np.flatnonzero(pop_a == ka)
        a_vals = a_all[:, xp.index(cols_a)]
        q, order_a = xp.sort(z[:, None] - a_vals)
        a_sorted = xp.take(a_vals, order_a)
        a_codes = cols_a[xp.numpy(order_a)]
        for g, (b_vals, b_order, cols_b) in enumerate(b_groups):
            nb = b_vals.shape[1]
            rank = xp.rank(b_vals, q)
            best_e, best_j = None, None
            for j in (rank - 1, rank):
                ok = (j >= 0) & (j < nb)
                jj = j.clip(0, nb - 1)
                d = xp.abs(a_sorted + xp.take(b_vals, jj) - z[:, None])
                e = xp.where(ok, xp.relu(d - (ka + g) * p) if p else d, float("inf"))
                if best_e is None:
                    best_e, best_j = e, jj
                else:
                    take = e < best_e
                    best_e, best_j = xp.where(take, e, best_e), xp.where(take, jj, best_j)
            e_row, i_row = xp.min_arg(best_e)
            e_row, i_row = xp.numpy(e_row), xp.numpy(i_row)
            size = ka + g
            better = e_row < err[:, size]
            j_row = xp.numpy(best_j)[r_idx, i_row]
            code = a_codes[r_idx, i_row] | (cols_b[b_order[r_idx, j_row]] << ha)
            err[:, size] = np.where(better, e_row, err[:, size])
            codes[:, size] = np.where(better, code, codes[:, size])
    return err, codes


def _table_chunks(xp: _Xp, x: np.ndarray, z: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_size_table` over row chunks of bounded memory (about ``2^20`` half-sums per chunk)."""
    w = x.shape[1]
    accel = xp.t is not None and xp.device.type != "cpu"
    step = max(1, (1 << (25 if accel else 20)) >> (w - w // 2))  # half-sums of B per chunk
    parts = [
        _size_table(xp, xp.asarray(x[s : s + step]), xp.asarray(z[s : s + step]), p)
        for s in range(0, x.shape[0], step)
    ]
    return np.concatenate([e for e, _ in parts]), np.concatenate([c for _, c in parts])


def _float32_stage(x: np.ndarray, z: np.ndarray) -> tuple:
    """The float32 search: per row the best neighbour pair by float32 distance (NOT exact on its own).

    Returns the chunk, the padded sorted half-sums of B with their keys and each query's predecessor
    (:meth:`_NumpyChunk.group`), the signed float32 distances of both neighbours of every query, which
    the window walk of :func:`_prune_min_error` reuses, and the chosen pair's bitmask per row.
    """
    rows, w = x.shape
    n_a = w // 2
    chunk = _NumpyChunk(x.astype(np.float32), z.astype(np.float32), n_a)
    b_pad, b_keys, base = chunk.group(None)
    # Signed float32 distances of both neighbours of every query (dense over rows x queries; a missing
    # neighbour is a sentinel, at infinite distance).
    fs = _neighbours(chunk.a_vals, b_pad, chunk.zq, base)
    d32 = np.abs(fs[0])
    np.minimum(d32, np.abs(fs[1]), out=d32)
    q_best = np.argmin(d32, axis=1)
    r_all = np.arange(rows)
    # The predecessor wins ties (as the first of the two neighbours).
    right = np.abs(fs[0][r_all, q_best]) > np.abs(fs[1][r_all, q_best])
    j_best = _unpad(base[r_all, q_best] + right, r_all, b_pad.shape[1])
    up_codes = chunk.a_code(r_all, q_best) | (_code(b_keys[r_all, j_best]) << n_a)
    return chunk, b_pad, b_keys, base, fs, up_codes


def _window_pairs(
    a_vals: np.ndarray, b_pad: np.ndarray, zq: np.ndarray, win: np.ndarray, base: np.ndarray, fs: list
) -> tuple[list, list, list, np.ndarray]:
    """Every (row, query, B position) whose float32 signed distance ``f`` satisfies ``|f| <= win[row]``.

    ``f = fl(fl(T_a + T_b) - zq)`` is non-decreasing along the sorted sums of B, so the pairs of one query
    inside the window are a contiguous run through its two neighbours (indices ``base`` and ``base + 1``
    into ``b_pad.ravel()``, distances ``fs``): walk left while ``f >= -win`` and right while
    ``f <= win``. The first step is one dense test per side (a sentinel neighbour, at infinite distance,
    fails it); only the few (row, query) pairs that pass walk on, at most :data:`_WALK_STEPS` steps, and a
    walk ends before it would step onto a sentinel.

    Returns:
        ``(rows, queries, positions, done)``: lists of index arrays (positions are columns of B's keys)
        and bool ``(R,)``, False where a walk did not end (the row's window is not exhausted).
    """
    width = b_pad.shape[1]
    b_flat = b_pad.ravel()
    cand_r, cand_q, cand_j = [], [], []
    done = np.ones(a_vals.shape[0], dtype=bool)
    for side, f in zip((-1, 1), fs, strict=True):
        # A pair inside the window also passes the walk test of its side, so one dense test selects both.
        r_i, q_i = np.nonzero((f >= -win[:, None]) if side < 0 else (f <= win[:, None]))
        pos = base[r_i, q_i] + (side > 0)
        inside = np.abs(f[r_i, q_i]) <= win[r_i]
        cand_r.append(r_i[inside])
        cand_q.append(q_i[inside])
        cand_j.append(pos[inside])
        pos = pos + side
        keep = np.isfinite(b_flat[pos])  # not a sentinel: every real sum has one on each side
        r_i, q_i, pos = r_i[keep], q_i[keep], pos[keep]
        for _ in range(_WALK_STEPS):
            if r_i.size == 0:
                break
            fw = (a_vals[r_i, q_i] + b_flat[pos]) - zq[r_i]
            wr = win[r_i]
            inside = np.abs(fw) <= wr
            cand_r.append(r_i[inside])
            cand_q.append(q_i[inside])
            cand_j.append(pos[inside])
            go_on = (fw >= -wr) if side < 0 else (fw <= wr)
            pos = pos + side
            go_on &= np.isfinite(b_flat[pos])
            r_i, q_i, pos = r_i[go_on], q_i[go_on], pos[go_on]
        done[r_i] = False
    cand_j = [_unpad(j, r, width) for j, r in zip(cand_j, cand_r, strict=True)]
    return cand_r, cand_q, cand_j, done


def _neighbours(a_vals: np.ndarray, b_pad: np.ndarray, zq: np.ndarray, base: np.ndarray) -> list:
    """float32 signed distances ``fl(fl(T_a + T_b) - zq)`` of both neighbours of every query.

    ``base`` indexes ``b_pad.ravel()`` (:meth:`_NumpyChunk.group`); the successor is the next entry.
    """
    b_flat = b_pad.ravel()
    fs = []
    for src in (b_flat, b_flat[1:]):
        f = src.take(base)
        f += a_vals  # fl(T_b + T_a) = fl(T_a + T_b)
        f -= zq[:, None]
        fs.append(f)
    return fs


def _window(e_ref: np.ndarray, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """float32 window ``e_ref + delta``, rounded up so that no pair inside it is cut off."""
    win = e_ref * (1.0 + 2.0**-23) + _delta(x, z)
    return np.nextafter(win.astype(np.float32), np.float32(np.inf))


def _numpy_chunk_rows(w: int) -> int:
    """Default rows per numpy chunk: about ``2^18`` half-sums of B.

    A chunk's merged keys (a few MiB) then stay in cache; on the Pensia workload (w = 21: 128 rows) this
    took about 30% less CPU time than chunks of ``2^21`` half-sums, measured side by side.
    """
    return max(16, min(1024, (1 << 18) >> (w - w // 2)))


def _window_codes(chunk: _NumpyChunk, win: np.ndarray, groups: Any, n_a: int) -> tuple:
    """Rows and bitmasks of every pair with ``|f| <= win[row]``, over the given B groups of ``chunk``.

    Returns:
        ``(rows, codes, done)``; ``done`` as in :func:`_window_pairs`, over all the groups.
    """
    all_r, all_codes = [], []
    done = np.ones(chunk.rows, dtype=bool)
    for g in groups:
        b_pad, b_keys, base = chunk.group(g)
        fs = _neighbours(chunk.a_vals, b_pad, chunk.zq, base)
        cr, cq, cj, ok = _window_pairs(chunk.a_vals, b_pad, chunk.zq, win, base, fs)
        done &= ok
        cr, cq, cj = np.concatenate(cr), np.concatenate(cq), np.concatenate(cj)
        all_r.append(cr)
        all_codes.append(chunk.a_code(cr, cq) | (_code(b_keys[cr, cj]) << n_a))
    return np.concatenate(all_r), np.concatenate(all_codes), done


def _prune_fewest(x: np.ndarray, z: np.ndarray, budget: np.ndarray) -> tuple:
    """Fewest-candidates subsets for ``p = 0`` rows (numpy): float32 windows, float64 decision.

    Every qualifying subset (canonical error ``<= budget``) has ``|f| <= budget + delta``. The window
    walk lists all of them, first along all of B at once (``f`` is monotone along any sorted run of B, so
    one walk per query covers every size); rows where a walk does not end are walked again per size
    group ``g`` of B, whose sorted runs are sparser. The lexicographic minimum of ``(size, error)`` among
    the listed subsets that qualify in canonical float64 is the answer (float32 prunes, float64 decides).

    Returns:
        ``(masks, done, found)``: ``masks`` and ``done`` as in :func:`_prune_min_error`; ``found`` (bool
        ``(R,)``) says whether any subset qualifies. Where ``done and not found`` no subset of the row
        qualifies (and ``masks`` is meaningless); where not ``done`` the row is unresolved.
    """
    rows, w = x.shape
    n_a = w // 2
    x32, z32 = x.astype(np.float32), z.astype(np.float32)
    win = _window(budget, x, z)
    cr, codes, done = _window_codes(_NumpyChunk(x32, z32, n_a), win, [None], n_a)
    # Every row also lists the empty subset (so each row has a candidate). Rows whose walk did not end
    # keep their (real, exactly scored) pairs and are completed per group.
    all_r, all_codes = [np.arange(rows), cr], [np.zeros(rows, dtype=np.int64), codes]
    rest = np.flatnonzero(~done)
    if rest.size:
        sub = _NumpyChunk(x32[rest], z32[rest], n_a)
        cr, codes, done_rest = _window_codes(sub, win[rest], range(w - n_a + 1), n_a)
        all_r.append(rest[cr])
        all_codes.append(codes)
        done[rest] = done_rest
    cr, codes = np.concatenate(all_r), np.concatenate(all_codes)
    masks = _bits(codes, w)
    _, err = _canonical(x[cr], z[cr], masks, 0.0)
    size = np.where(err <= budget[cr], masks.sum(axis=1), w + 1)
    order = np.lexsort((err, size, cr))
    first = order[np.unique(cr[order], return_index=True)[1]]
    return masks[first], done, size[first] <= w


def _prune_min_error(x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimal-error subsets for ``p = 0`` (numpy): float32 search, float64 decision (module docstring).

    Returns:
        ``(masks, done)``: bool ``(R, w)`` and bool ``(R,)``; rows with ``done = False`` had a window
        walk that did not end within :data:`_WALK_STEPS` steps and must be solved otherwise.
    """
    rows, w = x.shape
    n_a = w // 2
    chunk, b_pad, b_keys, base, fs, up_codes = _float32_stage(x, z)
    a_vals, zq = chunk.a_vals, chunk.zq
    # Upper bound: the float32-best pair of each row, scored in canonical float64.
    _, e_up = _canonical(x, z, _bits(up_codes, w), 0.0)
    win = _window(e_up, x, z)
    cand_r, cand_q, cand_j, done = _window_pairs(a_vals, b_pad, zq, win, base, fs)
    cr = np.concatenate([*cand_r, np.arange(rows)])
    cq = np.concatenate(cand_q)
    cj = np.concatenate(cand_j)
    codes = np.concatenate(
        [chunk.a_code(cr[: cq.size], cq) | (_code(b_keys[cr[: cq.size], cj]) << n_a), up_codes]
    )
    masks = _bits(codes, w)
    _, err = _canonical(x[cr], z[cr], masks, 0.0)
    order = np.lexsort((masks.sum(axis=1), err, cr))
    first = order[np.unique(cr[order], return_index=True)[1]]
    return masks[first], done


def float32_search(candidates: Any, targets: Any, *, num_threads: int | None = None) -> np.ndarray:
    """The float32 pass alone, for benchmarks: NOT exact (it may return a suboptimal subset).

    ``p = 0``, every candidate valid, ``n <= 32``; returns the bool masks the pass picks. The exact
    engine runs this pass and then decides in float64 (:func:`_prune_min_error`).
    """
    x, z = to_numpy(candidates), to_numpy(targets)
    w = x.shape[1]
    step = _numpy_chunk_rows(w)

    def work(s: int) -> np.ndarray:
        return _bits(_float32_stage(x[s : s + step], z[s : s + step])[-1], w)

    with ThreadPoolExecutor(max_workers=num_threads or os.cpu_count() or 1) as pool:
        return np.concatenate(list(pool.map(work, range(0, x.shape[0], step))))


def _row_best_subset(x: np.ndarray, z: np.ndarray, p: float) -> np.ndarray:
    """Minimal-error masks row by row with :func:`theory.subset_sum.single.best_subset` (``w <= 48``)."""
    masks = np.zeros(x.shape, dtype=bool)
    for r in range(x.shape[0]):
        masks[r, list(best_subset(x[r], float(z[r]), perturbation=p).indices)] = True
    return masks


def _pick(
    x: np.ndarray, z: np.ndarray, p: float, table: np.ndarray, codes: np.ndarray, budget: np.ndarray | None
) -> np.ndarray:
    """Read a size table: first minimal size (``budget=None``) or first size within the budget.

    The table ranks subsets by ``a + b`` (half sums added once, within a few ulps of the canonical sum);
    each size's minimiser is re-scored in canonical float64 and the choice is made on those values, so
    the returned error is the one the ``<= budget`` test saw.
    """
    rows, w = x.shape
    found = np.isfinite(table)
    masks = _bits(codes, w)  # (R, w + 1, w)
    _, err = _canonical(np.repeat(x, w + 1, axis=0), np.repeat(z, w + 1), masks.reshape(-1, w), p)
    err = np.where(found, err.reshape(rows, w + 1), np.inf)
    size = np.argmin(err, axis=1)
    if budget is not None:
        ok = err <= budget[:, None]
        size = np.where(ok.any(axis=1), np.argmax(ok, axis=1), size)
    return masks[np.arange(rows), size]


def _solve_bucket(
    xp: _Xp, x: np.ndarray, z: np.ndarray, budget: np.ndarray | None, p: float, fast: bool
) -> tuple[np.ndarray, np.ndarray]:
    """All rows of one width ``w`` (every candidate valid). Returns ``(masks (R, w), exact (R,))``."""
    rows, w = x.shape
    exact = np.ones(rows, dtype=bool)

    def min_error(sel: np.ndarray) -> np.ndarray:
        if w > SINGLE_MAX_N:
            raise AssertionError("unreachable: callers check the width")
        if w > MITM_MAX_VALID:
            return _row_best_subset(x[sel], z[sel], p)
        if fast and p == 0.0:
            masks, done = _prune_min_error(x[sel], z[sel])
            if not done.all():
                rest = np.flatnonzero(~done)
                table, codes = _table_chunks(xp, x[sel][rest], z[sel][rest], p)
                masks[rest] = _pick(x[sel][rest], z[sel][rest], p, table, codes, None)
            return masks
        table, codes = _table_chunks(xp, x[sel], z[sel], p)
        return _pick(x[sel], z[sel], p, table, codes, None)

    if budget is None and w <= SINGLE_MAX_N:
        return min_error(np.arange(rows)), exact
    # Deepening: exact for every row it resolves; also the best found so far for rows at a limit.
    cap = _DEEPEN_MAX_COMBOS_MITM if w <= MITM_MAX_VALID else DEEPEN_MAX_COMBOS
    out = np.zeros((rows, w), dtype=bool)
    best_err = np.full(rows, np.inf)
    left = np.arange(rows)
    k_done = -1
    xd, zd = xp.asarray(x), xp.asarray(z)
    for k in range(w + 1):
        # Per row at most ``cap`` subsets of one size (beyond the meet in the middle, 2^23 subsets of k
        # elements still cost less than one row of best_subset at w = 42: 2 x 2^21 sums, sorted).
        if left.size == 0 or math.comb(w, k) > cap:
            break
        sel = xp.index(left)
        err, masks = _deepen_level(xp, xd[sel], zd[sel], p, k)
        hit = err <= budget[left] if budget is not None else np.zeros(left.size, dtype=bool)
        improve = hit | (err < best_err[left])
        out[left[improve]] = masks[improve]
        best_err[left[improve]] = err[improve]
        left = left[~hit]
        k_done = k
    if left.size == 0:
        return out, exact
    if w > SINGLE_MAX_N or (budget is None):
        exact[left] = False  # beyond the engine: the best subset of the sizes enumerated
        return out, exact
    if w <= MITM_MAX_VALID and not (fast and p == 0.0):
        table, codes = _table_chunks(xp, x[left], z[left], p)
        out[left] = _pick(x[left], z[left], p, table, codes, budget[left])
        return out, exact
    if w <= MITM_MAX_VALID:  # here fast and p == 0
        # The windows list every qualifying subset: the fewest among them is the answer; a row with none
        # has no qualifying subset at all and gets the minimal-error one. Unended walks: the size table.
        masks, done, found = _prune_fewest(x[left], z[left], budget[left])
        hit = done & found
        out[left[hit]] = masks[hit]
        none = left[done & ~found]
        if none.size:
            out[none] = min_error(none)
        rest = left[~done]
        if rest.size:
            table, codes = _table_chunks(xp, x[rest], z[rest], p)
            out[rest] = _pick(x[rest], z[rest], p, table, codes, budget[rest])
        return out, exact
    # Beyond the meet in the middle: the minimal-error subset settles a row when it misses the budget
    # (then no subset qualifies) or when its size is the first one not enumerated.
    m_min = min_error(left)
    _, e_min = _canonical(x[left], z[left], m_min, p)
    s_min = m_min.sum(axis=1)
    settled = (e_min > budget[left]) | (s_min <= k_done + 1)
    out[left[settled]] = m_min[settled]
    rest = left[~settled]
    out[rest] = m_min[~settled]  # qualifies, but a smaller qualifying subset may exist
    exact[rest] = False
    return out, exact


# ----------------------------------------------------------------------------------------------------
# public entry point


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
) -> BatchSubsetResult:
    """Solve ``m`` independent (perturbed) SubsetSum problems exactly in float64, vectorised over rows.

    Row ``r`` asks for a subset ``S`` of ``candidates[r]`` approximating ``targets[r]``; its error is
    ``max(0, |sum_S x - z| - |S| p)`` (Xiong et al. AISTATS 2023 PSSP; ``p = 0``: plain SubsetSum as in
    Pensia et al. NeurIPS 2020), with the canonical float64 sum of the module docstring.

    Ranking: with ``max_error=None`` each row gets a subset of minimal error, ties broken toward fewer
    elements. With a budget ``e_r`` each row gets, among the subsets with error ``<= e_r`` (exact float64
    test), one with the FEWEST elements (ties toward smaller error), which gives sparser tickets; rows
    where no subset reaches ``e_r`` fall back to the minimal-error subset. Which of several subsets equal
    in (error, size) is returned is deterministic but unspecified.

    Limits: rows with more than :data:`MITM_MAX_VALID` valid candidates are solved by deepening (fewest
    mode) and, up to 48 valid candidates, row by row with :func:`theory.best_subset`; a row that none of
    them settles gets ``exact = False`` and the best subset found so far.

    Args:
        candidates: ``(m, n)`` finite values, ``n >= 1`` (numpy array, nested list or tensor).
        targets: ``(m,)`` finite targets.
        perturbation: ``p >= 0``, the largest shift of each kept candidate.
        max_error: ``None`` (minimal error), a scalar ``e >= 0`` or an array ``(m,)`` of per-row budgets
            (fewest-candidates mode).
        valid: Optional boolean ``(m, n)``; candidates marked False are never selected (e.g. units removed
            by sign pruning in a construction).
        device: ``None`` for the numpy back end, or a torch device (``"cpu"``, ``"cuda"``) for the torch
            back end; then the result fields are tensors on that device.
        chunk_rows: Rows per chunk (default: about ``2^18`` half-sums per chunk for numpy, 8192 rows for
            torch on CPU, 65536 on an accelerator).
        num_threads: Threads for the numpy back end (default: the CPU count).

    Returns:
        A :class:`BatchSubsetResult`.

    Raises:
        ValueError: On a non-2-D or empty candidate array, NaN/inf, targets of the wrong shape, a negative
            perturbation, a bad ``max_error`` (negative, non-finite or of the wrong shape), a ``valid`` of
            the wrong shape or dtype, values so large that float32 sums would overflow, or bad chunking.
    """
    x = to_numpy(candidates)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"candidates must be a 2-D array (m, n) with n >= 1 columns, got shape {x.shape}")
    m, n = x.shape
    if not np.all(np.isfinite(x)):
        raise ValueError("candidates must be finite real numbers in (-inf, inf); found NaN or inf")
    z = to_numpy(targets)
    if z.shape != (m,):
        raise ValueError(f"targets must have shape (m,) = ({m},) to match candidates, got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("targets must be finite real numbers in (-inf, inf); found NaN or inf")
    p = check_perturbation(perturbation)
    budget = None
    if max_error is not None:
        budget = to_numpy(max_error)
        if budget.ndim == 0:
            budget = np.full(m, float(check_range("max_error", float(budget), 0.0, None)))
        if budget.shape != (m,) or not np.all(np.isfinite(budget)) or np.any(budget < 0):
            raise ValueError(
                f"max_error must be None, a scalar in [0, inf) or an array of shape ({m},) with entries in "
                f"[0, inf), got shape {budget.shape}"
            )
    if valid is None:
        ok = np.ones((m, n), dtype=bool)
    else:
        ok = np.asarray(valid.detach().cpu().numpy() if hasattr(valid, "detach") else valid)
        if ok.shape != (m, n) or ok.dtype != np.bool_:
            raise ValueError(
                f"valid must be a boolean array of shape (m, n) = ({m}, {n}), got {ok.dtype} {ok.shape}"
            )
    if m and float((np.abs(x).sum(axis=1) + np.abs(z)).max()) > 1e36:
        raise ValueError(
            "candidates and targets must be small enough for float32 sums (sum |x| + |z| <= 1e36)"
        )
    if chunk_rows is not None:
        check_int("chunk_rows", chunk_rows, 1)
    threads = check_int("num_threads", num_threads, 1) if num_threads is not None else (os.cpu_count() or 1)

    if device is None:
        xp = _Xp()
    else:
        import torch  # lazily: `import theory` must stay torch-free

        xp = _Xp(torch, torch.device(device))
    masks = np.zeros((m, n), dtype=bool)
    exact = np.ones(m, dtype=bool)
    # Compact every row (valid candidates first, stable) and bucket rows by their number of valid ones.
    order = np.argsort(~ok, axis=1, kind="stable")
    counts = ok.sum(axis=1)
    xc = np.take_along_axis(x, order, axis=1)
    for w in np.unique(counts).tolist():
        idx = np.flatnonzero(counts == w)
        if w == 0:
            continue  # only the empty subset
        # Rows per chunk: about 2^18 half-sums of B (numpy), larger for torch (fewer kernel launches).
        if xp.t is None:
            default = _numpy_chunk_rows(w)
        else:
            default = 8192 if xp.device.type == "cpu" else 65536
        step = chunk_rows or default
        starts = list(range(0, idx.size, step))

        def work(s: int, idx: np.ndarray = idx, w: int = w, step: int = step) -> tuple:
            rows = idx[s : s + step]
            return _solve_bucket(
                xp, xc[rows, :w], z[rows], None if budget is None else budget[rows], p, xp.t is None
            )

        if xp.t is None and threads > 1 and len(starts) > 1:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                parts = list(pool.map(work, starts))
        else:
            parts = [work(s) for s in starts]
        bucket_masks = np.concatenate([q[0] for q in parts])
        exact[idx] = np.concatenate([q[1] for q in parts])
        cols = order[idx, :w]
        r_i, k_i = np.nonzero(bucket_masks)
        masks[idx[r_i], cols[r_i, k_i]] = True
    values, errors = _canonical(x, z, masks, p)
    sizes = masks.sum(axis=1).astype(np.int64)
    if xp.t is None:
        return BatchSubsetResult(masks=masks, values=values, errors=errors, sizes=sizes, exact=exact)
    return BatchSubsetResult(
        masks=xp.asarray(masks),
        values=xp.asarray(values),
        errors=xp.asarray(errors),
        sizes=xp.asarray(sizes),
        exact=xp.asarray(exact),
    )
