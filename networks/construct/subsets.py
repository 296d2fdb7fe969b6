"""Batched exact SubsetSum for constructions: the fewest candidates within a per-row budget.

A construction solves one SubsetSum problem per (output, input, half) triple: hundreds of thousands of
small problems whose candidates are the products ``a_i * b_ki`` of one ReLU block (or the second-layer
weights themselves for Xiong's ``u = +-1`` block). This module answers them exactly, on any torch
device, with two vectorised searches:

* **Deepening by cardinality** (``max_error`` mode). For ``k = 0, 1, 2, ...`` all ``C(m, k)`` subsets
  of size ``k`` of the still-unresolved rows are summed at once (rows in chunks, combinations as one
  index tensor); a row is resolved at the first ``k`` whose best size-``k`` subset is within its
  budget, and keeps that best one. This is exactly "the fewest elements among subsets with
  error <= budget, ties toward the smaller error". Construction budgets are met by subsets of 1-4
  elements for almost every row, so this is fast.
* **Meet in the middle grouped by cardinality** for the rows left over once ``C(m, k)`` gets large,
  and for ``max_error=None`` (plain minimal error). Each half's subset sums are split by cardinality;
  for every pair of half-cardinalities the nearest sum is found with a batched ``searchsorted``. This
  gives, per row and per total cardinality ``K``, the exact minimal error over subsets of size ``K``,
  from which both modes are read off. Exact, but its cost grows like ``2^(m/2)``; it is used only for
  ``m <= MITM_MAX_CANDIDATES`` valid candidates, beyond which left-over rows keep the best subset the
  deepening found (they are then budget failures and are reported as such by the caller).

Perturbation (Xiong et al., AISTATS 2023, eq. (1); toolkit reference note §1.1): a subset ``S`` reaches
every value in ``[sum_S - |S| p, sum_S + |S| p]``, so its error is ``max(0, |sum_S - z| - |S| p)``. Both
searches use that exact form.

The toolkit's general solver is ``theory.best_subsets`` (same contract); this private engine exists
because constructions need the minimum-cardinality mode on ~10^6 rows with per-row validity masks and
per-row budgets, and the tests cross-check it against a brute-force oracle (and against
``theory.best_subsets`` where that is installed).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import torch

__all__ = ["MITM_MAX_CANDIDATES", "SubsetSolution", "solve_subsets"]

#: Largest number of valid candidates per row for which left-over rows get the exact meet-in-the-middle.
MITM_MAX_CANDIDATES = 30
# Elements (rows x combinations x k) materialised at once; bounds memory to ~100 MB in float64.
_CHUNK_ELEMENTS = 1 << 23
# Deepening stops once a size class has more subsets than this; the rest goes to meet in the middle.
_DEEPEN_MAX_COMBOS = 1 << 15


@dataclasses.dataclass(frozen=True)
class SubsetSolution:
    """The chosen subsets of a batch of problems.

    Attributes:
        masks: Bool ``(R, m)``, True for selected candidates.
        values: Float64 ``(R,)``, the unperturbed sums of the selected candidates.
        errors: Float64 ``(R,)``, ``max(0, |value - target| - |S| * perturbation)``.
        sizes: Int64 ``(R,)``, the subset sizes.
    """

    masks: torch.Tensor
    values: torch.Tensor
    errors: torch.Tensor
    sizes: torch.Tensor


def _compact(cands: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Move each row's valid candidates to the front (stable); padding becomes +inf."""
    order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)
    counts = valid.sum(dim=1)
    width = int(counts.max().item()) if counts.numel() else 0
    order = order[:, :width]
    c = torch.gather(cands, 1, order)
    pos = torch.arange(width, device=cands.device)
    c = torch.where(pos[None, :] < counts[:, None], c, torch.full_like(c, math.inf))
    return c, order, counts


def _errors(sums: torch.Tensor, targets: torch.Tensor, sizes: torch.Tensor | int, p: float) -> torch.Tensor:
    err = (sums - targets).abs()
    if p > 0:
        if isinstance(sizes, torch.Tensor):
            sizes = sizes.to(torch.float64)  # long * float would round through float32
        err = (err - sizes * p).clamp_min(0.0)
    # inf - inf (padding) cannot occur: targets are finite, padding only enters sums as +inf.
    return torch.nan_to_num(err, nan=math.inf)


def solve_subsets(
    candidates: torch.Tensor,
    targets: torch.Tensor,
    *,
    valid: torch.Tensor | None = None,
    max_error: torch.Tensor | float | None = None,
    perturbation: float = 0.0,
) -> SubsetSolution:
    """Solve ``R`` independent SubsetSum problems exactly (see the module docstring).

    Args:
        candidates: ``(R, m)`` finite floats.
        targets: ``(R,)`` finite floats.
        valid: Optional bool ``(R, m)``; False candidates are never selected.
        max_error: ``None`` for the minimal-error subset per row; otherwise a scalar or ``(R,)`` budget:
            per row the fewest candidates with error <= budget (ties: smaller error), falling back to the
            minimal-error subset when none qualifies.
        perturbation: Per-candidate perturbation ``p >= 0`` (Xiong et al.'s epsilon).

    Returns:
        A :class:`SubsetSolution` on ``candidates.device``, float64.

    Raises:
        ValueError: On shape mismatch, non-finite input or negative perturbation/budget.
    """
    if candidates.ndim != 2:
        raise ValueError(f"candidates must have shape (R, m), got {tuple(candidates.shape)}")
    rows, m = candidates.shape
    if targets.shape != (rows,):
        raise ValueError(f"targets must have shape ({rows},), got {tuple(targets.shape)}")
    if not (torch.isfinite(candidates).all() and torch.isfinite(targets).all()):
        raise ValueError("candidates and targets must be finite (no NaN or inf)")
    if not (perturbation >= 0 and math.isfinite(perturbation)):
        raise ValueError(f"perturbation must be in [0, inf), got {perturbation!r}")
    dev = candidates.device
    cands = candidates.to(torch.float64)
    t = targets.to(torch.float64)
    valid = torch.ones(rows, m, dtype=torch.bool, device=dev) if valid is None else valid.to(dev, torch.bool)
    if valid.shape != (rows, m):
        raise ValueError(f"valid must have shape ({rows}, {m}), got {tuple(valid.shape)}")
    if max_error is not None:
        budget = torch.as_tensor(max_error, dtype=torch.float64, device=dev).expand(rows).clone()
        if not (torch.isfinite(budget).all() and (budget >= 0).all()):
            raise ValueError("max_error must be finite and >= 0")
    c, order, counts = _compact(cands, valid)
    width = c.shape[1]
    best_pos = torch.full((rows, max(width, 1)), -1, dtype=torch.long, device=dev)
    best_err = torch.empty(rows, dtype=torch.float64, device=dev)
    # Rows are bucketed by their number of valid candidates so that no work is spent on padding.
    for cnt in torch.unique(counts).tolist():
        idx = torch.nonzero(counts == cnt).flatten()
        e, pos = _solve_dense(c[idx, :cnt], t[idx], None if max_error is None else budget[idx], perturbation)
        best_err[idx] = e
        best_pos[idx, : pos.shape[1]] = pos
    # Back to the caller's column order.
    masks = torch.zeros(rows, m, dtype=torch.bool, device=dev)
    used = best_pos >= 0
    if width:
        cols = torch.gather(order, 1, best_pos.clamp_min(0)[:, :width])
        r_idx, k_idx = torch.nonzero(used[:, :width], as_tuple=True)
        masks[r_idx, cols[r_idx, k_idx]] = True
    values = (cands * masks).sum(dim=1)
    sizes = masks.sum(dim=1)
    errors = _errors(values, t, sizes, perturbation)
    return SubsetSolution(masks=masks, values=values, errors=errors, sizes=sizes)


@functools.lru_cache(maxsize=256)
def _combinations_cpu(width: int, k: int) -> torch.Tensor:
    # torch.combinations builds a width**k grid first; itertools enumerates only the C(width, k) rows.
    flat = itertools.chain.from_iterable(itertools.combinations(range(width), k))
    return torch.tensor(list(flat), dtype=torch.long).reshape(-1, k)


def _combinations(width: int, k: int, device: torch.device) -> torch.Tensor:
    return _combinations_cpu(width, k).to(device)


def _solve_dense(
    c: torch.Tensor, t: torch.Tensor, budget: torch.Tensor | None, perturbation: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows with the same number of (all valid) candidates: errors and chosen positions (-1 padded)."""
    rows, width = c.shape
    dev = c.device
    max_error = budget
    # Best found so far: error, size, and chosen positions in the compacted row (-1 = unused).
    best_err = _errors(torch.zeros_like(t), t, 0, perturbation)
    best_pos = torch.full((rows, max(width, 1)), -1, dtype=torch.long, device=dev)
    best_size = torch.zeros(rows, dtype=torch.long, device=dev)
    if max_error is not None:
        resolved = best_err <= budget
        k = 1
        while k <= width and math.comb(width, k) <= _DEEPEN_MAX_COMBOS:
            todo = torch.nonzero(~resolved).flatten()
            if todo.numel() == 0:
                k += 1
                continue
            combos = _combinations(width, k, dev)  # (C, k)
            step = max(1, _CHUNK_ELEMENTS // (combos.shape[0] * k))
            for start in range(0, todo.numel(), step):
                idx = todo[start : start + step]
                sums = c[idx][:, combos].sum(dim=-1)  # (r, C); padded entries make the sum +inf
                err = _errors(sums, t[idx, None], k, perturbation)
                e_min, arg = err.min(dim=1)
                ok = e_min <= budget[idx]
                better = ok | (e_min < best_err[idx])
                upd = idx[better]
                best_err[upd] = e_min[better]
                best_size[upd] = k
                best_pos[upd] = -1
                best_pos[upd, :k] = combos[arg[better]]
                resolved[idx[ok]] = True
            k += 1
        left = torch.nonzero(~resolved).flatten()
    else:
        left = torch.arange(rows, device=dev)
    if left.numel():
        exact = left if width <= MITM_MAX_CANDIDATES else left[:0]
        if exact.numel():
            w = width
            per_row = (1 << (w - w // 2)) * max(w, 1)
            step = max(1, _CHUNK_ELEMENTS // per_row)
            parts = [
                _mitm_by_size(c[exact[i : i + step]], t[exact[i : i + step]], perturbation)
                for i in range(0, exact.numel(), step)
            ]
            table_err = torch.cat([q[0] for q in parts])
            table_pos = torch.cat([q[1] for q in parts])
            # table_err: (r, w + 1) minimal error per subset size; pick per mode.
            if max_error is None:
                size = table_err.argmin(dim=1)  # first minimum -> smallest size among ties
            else:
                ok = table_err <= budget[exact, None]
                first_ok = torch.where(
                    ok.any(dim=1), ok.to(torch.int8).argmax(dim=1), table_err.argmin(dim=1)
                )
                size = first_ok
            rr = torch.arange(exact.numel(), device=dev)
            best_err[exact] = table_err[rr, size]
            best_size[exact] = size
            best_pos[exact] = -1
            best_pos[exact, :w] = table_pos[rr, size]
    return best_err, best_pos


def _half_sums(c: torch.Tensor, offset: int, h: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All 2^h subset sums of columns [offset, offset + h) with their cardinalities and bit patterns."""
    dev = c.device
    codes = torch.arange(1 << h, device=dev)
    bits = ((codes[:, None] >> torch.arange(h, device=dev)[None, :]) & 1).to(torch.float64)  # (2^h, h)
    block = c[:, offset : offset + h]
    # inf * 0 would be NaN: sum only the selected (finite or +inf) entries.
    sums = torch.where(bits[None].bool(), block[:, None, :], torch.zeros((), dtype=c.dtype, device=dev)).sum(
        -1
    )
    return sums, bits.sum(dim=1).long(), bits.bool()


def _mitm_by_size(c: torch.Tensor, t: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact minimal error per subset size, by meet in the middle over cardinality classes.

    Returns:
        ``(err, pos)``: ``err`` ``(r, w + 1)`` minimal error over subsets of each size (inf when the
        row has fewer valid candidates), ``pos`` ``(r, w + 1, w)`` compacted positions of one optimal
        subset per size, padded with -1.
    """
    r, w = c.shape
    dev = c.device
    ha = w // 2
    hb = w - ha
    sa, ca, bits_a = _half_sums(c, 0, ha)  # (r, 2^ha)
    sb, cb, bits_b = _half_sums(c, ha, hb)
    err = torch.full((r, w + 1), math.inf, dtype=torch.float64, device=dev)
    arg_a = torch.zeros((r, w + 1), dtype=torch.long, device=dev)
    arg_b = torch.zeros((r, w + 1), dtype=torch.long, device=dev)
    rows = torch.arange(r, device=dev)
    for kb in range(hb + 1):
        ids_b = torch.nonzero(cb == kb).flatten()
        vals_b, srt = torch.sort(sb[:, ids_b], dim=1)
        ids_sorted = ids_b[srt]  # (r, nb) code of each sorted B subset
        nb = ids_b.numel()
        step = max(1, _CHUNK_ELEMENTS // max(1, (1 << ha) * 4))
        for start in range(0, r, step):
            sl = slice(start, start + step)
            need = (t[sl, None] - sa[sl]).contiguous()  # (rc, 2^ha) wanted B sums
            vb = vals_b[sl].contiguous()
            j = torch.searchsorted(vb, need)
            best_e = None
            for cand_j in (j - 1, j):
                jj = cand_j.clamp(0, nb - 1)
                s = sa[sl] + torch.gather(vb, 1, jj)
                e = _errors(s, t[sl, None], ca[None, :] + kb, p)
                if best_e is None:
                    best_e, best_j = e, jj
                else:
                    take = e < best_e
                    best_e = torch.where(take, e, best_e)
                    best_j = torch.where(take, jj, best_j)
            # Reduce over A subsets within each total size K = |A| + kb.
            for ka in range(ha + 1):
                cols = torch.nonzero(ca == ka).flatten()
                e_k, a_pos = best_e[:, cols].min(dim=1)
                kk = ka + kb
                rr = rows[sl]
                take = e_k < err[rr, kk]
                sel = rr[take]
                err[sel, kk] = e_k[take]
                arg_a[sel, kk] = cols[a_pos[take]]
                arg_b[sel, kk] = torch.gather(
                    ids_sorted[sl], 1, torch.gather(best_j[:, cols], 1, a_pos[:, None])
                )[take, 0]
    # Decode subset positions.
    sel_a = bits_a[arg_a]  # (r, w+1, ha)
    sel_b = bits_b[arg_b]  # (r, w+1, hb)
    sel = torch.cat([sel_a, sel_b], dim=-1)  # (r, w+1, w)
    pos_grid = torch.arange(w, device=dev).expand_as(sel)
    # Sorted so that selected positions come first, then -1 padding.
    pos = torch.where(sel, pos_grid, torch.full_like(pos_grid, w + 1))
    pos, _ = torch.sort(pos, dim=-1)
    pos = torch.where(pos > w, torch.full_like(pos, -1), pos)
    return err, pos
