"""Masked layers for strong lottery tickets (Edge-Popup) and dynamic sparse training (RigL).

A masked layer holds a random weight tensor ``weight``, a score tensor ``scores`` of the same shape
and one bool buffer ``weight_mask``; its forward pass uses the *effective weight* ``weight * mask``.
Two modes:

``mask_mode="scores"`` (Edge-Popup; Ramanujan et al., CVPR 2020, arXiv 1911.13299, Sec. 3 and repo
``allenai/hidden-networks`` ``utils/conv_type.py``)
    The mask is recomputed at every forward pass as the exact per-layer top-k of the ranking key
    (``|scores|`` by default, raw ``scores`` with ``rank_by="raw"`` as in IteRand), with
    ``k = kept_count(numel, density)``. Only ``scores`` is trainable. The mask's gradient is passed
    straight through to the key, so ``dL/dkey = dL/dmask = (dL/dW_eff) * weight``; through ``|scores|``
    this becomes ``dL/dscores = sign(scores) * (dL/dW_eff) * weight`` (exactly what the reference code
    computes, since it applies the straight-through function to ``scores.abs()``; the sign keeps the
    update moving ``|s|`` in the loss-decreasing direction). ``weight_mask`` then records the mask of
    the latest forward pass (written in place), so checkpoints carry the ticket.
``mask_mode="fixed"`` (RigL; Evci et al., ICML 2020, arXiv 1911.11134)
    ``weight_mask`` is the mask, changed only by explicit calls (:meth:`MaskedLayer.set_mask` or an
    in-place write); ``weight`` (and ``bias``) are trainable and their gradient is zero where the
    mask is 0. The initial mask is a uniformly random subset of exactly ``kept_count`` weights.

Why ``weight`` is a ``requires_grad=False`` *parameter* rather than a buffer: the same layer trains it
in "fixed" mode and freezes it in "scores" mode, so switching mode is a flag flip; it appears under
``named_parameters`` for ``torch.func.functional_call``; and the state_dict key is ``weight`` either way.
Optimisers should be given ``[p for p in model.parameters() if p.requires_grad]``.

Cost of the "scores" mask: each layer keeps a :class:`WarmTopk` cache, so a training forward costs a
few vectorised passes over the scores instead of a full selection (bit-identical result; see the
class for the algorithm and the CUDA policy), and forwards with unchanged scores (evaluation) reuse
the previous mask. Set ``layer.warm_topk = False`` to always run the cold :func:`topk_mask`.

RigL needs the *dense* gradient ``dL/d(W*M)`` also where ``M = 0``: set ``capture_dense_grad = True``
on a layer (or use :func:`networks.functional.set_dense_grad_capture`) and after ``backward()`` the
layer's ``dense_grad`` holds that gradient (from the latest backward through the latest forward).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from networks.inits import init_scores, init_weight
from theory.validate import check_choice, check_range

__all__ = [
    "MASK_MODES",
    "RANK_BY",
    "MaskedConv1d",
    "MaskedConv2d",
    "MaskedLayer",
    "MaskedLinear",
    "NonAffineBatchNorm1d",
    "NonAffineBatchNorm2d",
    "WarmTopk",
    "check_density",
    "kept_count",
    "topk_mask",
]

MASK_MODES = ("scores", "fixed")
RANK_BY = ("abs", "raw")


def check_density(density: float) -> float:
    """Validate a density (fraction of weights kept) in ``(0, 1]`` and return it as a float."""
    return check_range("density", density, 0.0, 1.0, lo_open=True)


def kept_count(numel: int, density: float) -> int:
    """Number of weights a tensor of ``numel`` entries keeps at ``density``.

    ``k = max(1, floor(density * numel + 1/2))``: round half up (computed in float64), never fewer
    than one weight, never more than ``numel``. Edge-Popup's reference keeps
    ``numel - int((1 - density) * numel)``, which differs from this by at most one weight.

    Raises:
        ValueError: If ``density`` is not in ``(0, 1]`` or ``numel < 1``.
    """
    d = check_density(density)
    if numel < 1:
        raise ValueError(f"numel must be >= 1, got {numel}")
    return int(max(1, min(numel, math.floor(d * numel + 0.5))))


def _kth_largest(flat: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th largest entry of a 1-D tensor (with multiplicity), by selection on the smaller side."""
    n = flat.numel()
    # Select from the smaller side of the split so the selection holds at most half the entries; no sort.
    if k <= n - k + 1:
        return torch.topk(flat, k, largest=True, sorted=False).values.min()
    return torch.topk(flat, n - k + 1, largest=False, sorted=False).values.max()


def topk_mask(scores: torch.Tensor, density: float) -> torch.Tensor:
    """Bool mask of the ``kept_count(scores.numel(), density)`` largest entries of ``scores``.

    Ties at the threshold go to the lowest flat (row-major) index, so the result is deterministic
    and has exactly ``k`` ones. The threshold value is found by selection (``torch.topk`` on the
    smaller side), not by sorting; ties are resolved with one cumulative sum. No host-device
    synchronisation is needed. Rank by ``scores.abs()`` for Edge-Popup. Scores must be finite (NaN
    gives an undefined count). This is the cold computation; :class:`WarmTopk` gives the same mask
    faster when called repeatedly on slowly changing scores.

    Args:
        scores: Any shape, floating dtype, any device.
        density: Fraction kept, in ``(0, 1]``.

    Returns:
        A bool tensor shaped like ``scores`` on the same device.
    """
    flat = scores.detach().reshape(-1)
    n = flat.numel()
    k = kept_count(n, density)
    if k == n:
        return torch.ones_like(scores, dtype=torch.bool)
    threshold = _kth_largest(flat, k)
    above = flat > threshold
    at = flat == threshold
    still_needed = k - above.sum()
    take = at & (torch.cumsum(at, dim=0) <= still_needed)
    return (above | take).reshape(scores.shape)


class WarmTopk:
    """Exact top-k masks of a slowly changing score tensor, warm-started from the previous call.

    Edge-Popup recomputes the top-k mask of ``|scores|`` at every forward pass; SGD moves the scores
    (and hence the k-th largest value, the threshold ``T``) only a little per step. This object keeps,
    per layer, a bracket ``lo <= hi`` around the previous threshold. A call counts ``c_hi = #{v > hi}``
    and ``c_lo = #{v >= lo}`` with two vectorised comparisons; when ``c_hi < k <= c_lo`` the new
    threshold lies in ``[lo, hi]`` (at least k entries are ``>= lo``, fewer than k are ``> hi``), so it
    is the ``(k - c_hi)``-th largest entry of the small *band* ``{lo <= v <= hi}``, found by sorting
    only the band (or by partial selection when the band is large). When the bracket misses, it is
    moved towards the threshold with geometrically growing width (the counts say on which side it
    lies) a few times, then the full selection (:func:`topk_mask`'s) runs. The next bracket is set, in
    rank space, to the band entries ``m`` ranks either side of the threshold, where ``m`` follows the
    observed per-call rank drift. Every mask is built from counts taken on the current values, so it
    is bit-identical to :func:`topk_mask` (exactly k ones, ties at the threshold to the lowest flat
    index) whatever the bracket: a bad bracket costs time, never exactness.

    A second shortcut: when the scores are unchanged since the last call (same tensor, same
    ``_version``, same density and ranking, and equal values -- the value check also catches writes
    through ``.data``, which bypass the version counter), the previous mask is returned. The copy of
    the values that check needs is taken at the second call with an unchanged version (so training
    steps, which change the version at every call, never pay for it); from the third such call on,
    calls are hits. The cache holds up to two copies of the scores (values and ``|scores|``).

    Devices: the warm path runs on CPU, on NumPy views of the tensors (zero-copy): NumPy's
    comparisons into bool arrays are an order of magnitude faster than torch's CPU kernels (torch
    2.x), and the bracket logic needs the counts on the host anyway. On CUDA the counts and the band
    size would each need a device-to-host read, whereas the cold selection is sync-free and fast
    there, so on CUDA every call is the cold computation (no host synchronisation at all).

    The state is a cache only: it is not part of any ``state_dict``, pickles/deep-copies as empty, and
    :meth:`reset` clears it (masked layers call it when moved, cast or loaded).

    Attributes:
        stats: Counts of calls served by each path: ``hit`` (unchanged scores), ``warm`` (bracket hit,
            possibly after moving it), ``moves`` (bracket moves), ``cold`` (full selection).
    """

    #: Largest band sorted outright; larger bands use partial selection (never a whole-tensor sort).
    sort_cap = 1 << 15
    #: Bracket moves tried before falling back to the full selection.
    max_moves = 4

    def __init__(self) -> None:
        self.stats = {"hit": 0, "warm": 0, "moves": 0, "cold": 0}
        self.reset()

    def reset(self) -> None:
        """Forget the cached mask and bracket (the next call is a cold computation)."""
        self._stamp: tuple | None = None
        self._saved: np.ndarray | None = None
        self._saved_valid = False
        self._keybuf: np.ndarray | None = None
        self._mask: torch.Tensor | None = None
        self._bracket: tuple[np.floating, np.floating] | None = None
        self._expected: tuple[int, int] | None = None
        self._k = -1
        self._margin = 0

    def __getstate__(self) -> dict:
        return {"stats": dict(self.stats)}

    def __setstate__(self, state: dict) -> None:
        self.stats = dict(state.get("stats", {"hit": 0, "warm": 0, "moves": 0, "cold": 0}))
        self.reset()

    # ------------------------------------------------------------------------------------ calls
    def __call__(
        self, scores: torch.Tensor, density: float, *, rank_by: str = "abs", key: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The mask :func:`topk_mask` gives for the ranking key of ``scores``.

        Args:
            scores: The score tensor (its identity, version and values key the unchanged-scores cache).
            density: Fraction kept, in ``(0, 1]``.
            rank_by: "abs" ranks ``|scores|``, "raw" ranks ``scores``.
            key: The ranking key if already computed (e.g. inside an autograd graph; it is detached);
                it must equal ``scores.abs()`` or ``scores`` according to ``rank_by``.

        Returns:
            A bool tensor shaped like ``scores``. It is the cache's own tensor: do not modify it
            (clone it first).

        Raises:
            ValueError: If ``density`` is not in ``(0, 1]`` or ``rank_by`` is not "abs" or "raw".
        """
        check_choice("rank_by", rank_by, RANK_BY)
        with torch.no_grad():
            src = scores.detach()
            n = src.numel()
            k = kept_count(n, density)
            if src.device.type != "cpu" or not src.dtype.is_floating_point:
                self.stats["cold"] += 1
                return topk_mask(self._key(src, rank_by, key), density)
            stamp = (src.data_ptr(), src._version, tuple(src.shape), src.dtype, k, rank_by)
            same = stamp == self._stamp
            if same and self._saved_valid and np.array_equal(self._saved, _np(src)):
                self.stats["hit"] += 1
                return self._mask
            if k == n:
                mask = torch.ones(n, dtype=torch.bool)
                self._bracket = None
            else:
                flat = self._cpu_key(src, rank_by, key)
                a = _np(flat)
                mask = self._warm(a, k) if (k == self._k and self._bracket is not None) else None
                if mask is None:
                    mask = self._cold(flat, a, k)
            self._k = k
            # Copy the values (for the hit check) only at a second call with the same version: a
            # training step changes the version every call and never pays for the copy.
            self._saved_valid = same
            if same:
                saved = _np(src)
                old = self._saved
                if old is None or old.shape != saved.shape or old.dtype != saved.dtype:
                    self._saved = np.empty_like(saved)
                np.copyto(self._saved, saved)
            self._stamp = stamp
            self._mask = mask.reshape(src.shape)
            return self._mask

    @staticmethod
    def _key(src: torch.Tensor, rank_by: str, key: torch.Tensor | None) -> torch.Tensor:
        if key is not None:
            return key.detach()
        return src.abs() if rank_by == "abs" else src

    def _cpu_key(self, src: torch.Tensor, rank_by: str, key: torch.Tensor | None) -> torch.Tensor:
        # |scores| into a buffer kept across calls: a fresh large allocation costs page faults.
        if key is not None or rank_by != "abs" or src.dtype == torch.bfloat16:
            return self._key(src, rank_by, key).reshape(-1)
        a = _np(src).reshape(-1)
        if self._keybuf is None or self._keybuf.shape != a.shape or self._keybuf.dtype != a.dtype:
            self._keybuf = np.empty_like(a)
        np.abs(a, out=self._keybuf)
        return torch.from_numpy(self._keybuf)

    @staticmethod
    def _min_margin(n: int) -> int:
        return max(16, n >> 10)

    def _cold(self, flat: torch.Tensor, a: np.ndarray, k: int) -> torch.Tensor:
        self.stats["cold"] += 1
        n = flat.numel()
        t = _np(_kth_largest(flat, k).reshape(1))[0]
        above = a > t
        at = a == t
        need = k - np.count_nonzero(above)
        ties = np.flatnonzero(at)
        above[ties[:need]] = True  # ties at the threshold: the lowest flat indices
        # Initial bracket in value space: about +-4m ranks if the values were locally uniform.
        self._margin = min(n, max(self._margin, self._min_margin(n)))
        width = (float(a.max()) - float(a.min())) * 4 * self._margin / n
        self._set_bracket(float(t) - width, float(t) + width, None, a.dtype)
        return torch.from_numpy(above)

    def _set_bracket(self, lo: float, hi: float, expected: tuple[int, int] | None, dtype) -> None:
        # Bracket ends as scalars of the key's dtype, so every comparison is in that dtype.
        lo_d, hi_d = np.asarray(lo, dtype=dtype)[()], np.asarray(hi, dtype=dtype)[()]
        if np.isfinite(lo_d) and np.isfinite(hi_d) and lo_d <= hi_d:
            self._bracket, self._expected = (lo_d, hi_d), expected
        else:
            self._bracket, self._expected = None, None

    def _warm(self, a: np.ndarray, k: int) -> torch.Tensor | None:
        n = a.size
        lo, hi = self._bracket
        expected = self._expected
        for _ in range(self.max_moves + 1):
            gt_hi = a > hi
            c_hi = int(np.count_nonzero(gt_hi))
            if c_hi < k:
                band = a >= lo
                np.bitwise_xor(band, gt_hi, out=band)  # lo <= v <= hi, as {v > hi} is inside {v >= lo}
                idx = np.flatnonzero(band)  # the band, ascending flat indices
                c_lo = c_hi + idx.size
                if c_lo >= k:
                    break
            # Missed: move the bracket to the side the threshold is on, with a wider span, and widen
            # the rank margin of the next brackets (the drift outran it).
            self.stats["moves"] += 1
            expected = None
            self._margin = min(n, 2 * max(self._margin, self._min_margin(n)))
            lo_f, hi_f = float(lo), float(hi)
            span = 4 * max(hi_f - lo_f, abs(hi_f) * 1e-6, 1e-30)
            lo_f, hi_f = (hi_f, hi_f + span) if c_hi >= k else (lo_f - span, lo_f)
            self._set_bracket(lo_f, hi_f, None, a.dtype)
            if self._bracket is None:
                return None
            lo, hi = self._bracket
        else:
            return None
        self.stats["warm"] += 1
        if expected is not None:
            drift = max(abs(c_hi - expected[0]), abs(c_lo - expected[1]))
            self._margin = min(n, max(self._min_margin(n), 4 * drift))
        vals = a[idx]
        b, r = idx.size, k - c_hi  # 1 <= r <= b: the threshold is the r-th largest band entry
        m = self._margin
        if b <= self.sort_cap:
            ordered = np.sort(vals)[::-1]
            t = ordered[r - 1]
            # Entries m ranks either side of the threshold; where the band ends short of that,
            # extrapolate past its end at the band's mean value spacing (else brackets only shrink).
            step = (float(hi) - float(lo)) / b
            above, below = r - 1 - m, r - 1 + m
            new_hi = float(ordered[above]) if above >= 0 else float(hi) - above * step
            new_lo = float(ordered[below]) if below <= b - 1 else float(lo) - (below - b + 1) * step
        else:
            t = np.partition(vals, b - r)[b - r]
            frac = min(1.0, 2.0 * m / b)
            new_hi = float(t) + (float(hi) - float(t)) * frac
            new_lo = float(t) - (float(t) - float(lo)) * frac
        sel = vals > t
        need = r - int(np.count_nonzero(sel))  # entries equal to the threshold still to keep, >= 1
        ties = np.flatnonzero(vals == t)
        sel[ties[:need]] = True
        gt_hi[idx[sel]] = True
        self._set_bracket(new_lo, new_hi, None, a.dtype)
        if self._bracket is not None:
            e_hi = c_hi + int(np.count_nonzero(vals > self._bracket[1]))
            e_lo = c_hi + int(np.count_nonzero(vals >= self._bracket[0]))
            self._expected = (e_hi, e_lo)
        return torch.from_numpy(gt_hi)


def _np(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of a CPU tensor (bfloat16, unknown to NumPy, as an exact float32 copy)."""
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.contiguous().numpy()


class _EdgePopupWeight(torch.autograd.Function):
    """``weight * mask`` with Edge-Popup's straight-through score gradient, fused into one node.

    Forward: ``weight * mask``. Backward: ``dL/dscores = dL/dW_eff * weight`` (the straight-through
    estimator passes ``dL/dmask`` to the ranking key unchanged), times ``sign(scores)`` when the key
    is ``|scores|`` (``torch.abs``'s derivative, 0 at 0); ``dL/dweight = dL/dW_eff * mask`` if asked.
    The same gradients as ``weight * STE(|scores|, mask)`` through autograd, with fewer full-size
    temporaries (each costs page faults on CPU).
    """

    @staticmethod
    def forward(ctx, scores: torch.Tensor, weight: torch.Tensor, mask: torch.Tensor, by_abs: bool):
        ctx.by_abs = by_abs
        ctx.save_for_backward(scores, weight, mask)
        # Through uint8: torch's CPU bool -> float cast is ~20x slower than uint8 -> float (2.x).
        return mask.view(torch.uint8).to(weight.dtype).mul_(weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        scores, weight, mask = ctx.saved_tensors
        g_scores = g_weight = None
        if ctx.needs_input_grad[0]:
            g_scores = grad * weight
            if ctx.by_abs:
                g_scores.mul_(torch.sgn(scores))
        if ctx.needs_input_grad[1]:
            g_weight = grad * mask.view(torch.uint8).to(grad.dtype)
        return g_scores, g_weight, None, None


class MaskedLayer(nn.Module):
    """Common machinery of :class:`MaskedLinear`, :class:`MaskedConv1d` and :class:`MaskedConv2d`.

    Attributes:
        weight: The random weight (``requires_grad`` only in "fixed" mode).
        bias: Optional bias, unmasked (frozen in "scores" mode, trainable in "fixed" mode), or None.
        scores: The score tensor (trainable only in "scores" mode).
        weight_mask: Bool buffer, the mask (see the module docstring for its meaning per mode).
        capture_dense_grad: When True, ``dense_grad`` receives ``dL/d(weight * mask)`` at backward.
        dense_grad: The captured dense gradient, or None.
        warm_topk: When True (the default), "scores"-mode masks come from a per-layer
            :class:`WarmTopk` (bit-identical to :func:`topk_mask`, much cheaper on CPU when the scores
            change little between calls); set False to always run the cold selection.
    """

    warm_topk: bool = True

    weight: nn.Parameter
    scores: nn.Parameter
    weight_mask: torch.Tensor

    def _setup(
        self,
        weight_shape: tuple[int, ...],
        bias: bool,
        *,
        density: float,
        mask_mode: str,
        weight_init: str,
        score_init: str,
        rank_by: str,
        generator: torch.Generator | None,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        check_choice("mask_mode", mask_mode, MASK_MODES)
        check_choice("rank_by", rank_by, RANK_BY)
        self._density = check_density(density)
        self.rank_by = rank_by
        gen = torch.default_generator if generator is None else generator
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(weight_shape, **factory), requires_grad=False)
        self.scores = nn.Parameter(torch.empty(weight_shape, **factory), requires_grad=False)
        init_weight(self.weight, weight_init, generator=gen, density=self._density)
        init_scores(self.scores, score_init, generator=gen, density=self._density)
        if bias:
            self.bias = nn.Parameter(torch.empty(weight_shape[0], **factory), requires_grad=False)
            bound = 1.0 / math.sqrt(math.prod(weight_shape[1:]))
            with torch.no_grad():
                self.bias.copy_(
                    torch.rand(weight_shape[0], generator=gen, device=gen.device) * 2 * bound - bound
                )
        else:
            self.register_parameter("bias", None)
        # Warm-started exact top-k (a cache only: never in the state_dict, reset when moved/loaded).
        self._topk = WarmTopk()
        # The initial mask: top-k of |random scores|, i.e. a uniformly random exact-count subset.
        self.register_buffer("weight_mask", topk_mask(self._rank_key(), self._density))
        self.capture_dense_grad = False
        self.dense_grad: torch.Tensor | None = None
        self.mask_mode = mask_mode
        self.set_mask_mode(mask_mode)

    # ----------------------------------------------------------------------------------- settings
    @property
    def density(self) -> float:
        """Target fraction of weights kept, in ``(0, 1]``; settable (e.g. per iEP cycle).

        In "scores" mode the next forward keeps exactly ``kept_count(numel, density)`` weights. In
        "fixed" mode the mask is whatever ``weight_mask`` holds; setting the density does not change it.
        """
        return self._density

    @density.setter
    def density(self, value: float) -> None:
        self._density = check_density(value)

    @property
    def sparsity(self) -> float:
        """Fraction of weights removed, ``1 - density``."""
        return 1.0 - self._density

    def set_mask_mode(self, mode: Literal["scores", "fixed"]) -> None:
        """Switch mode; "scores" -> "fixed" freezes the current top-k mask into ``weight_mask``.

        Raises:
            ValueError: If ``mode`` is not "scores" or "fixed".
        """
        check_choice("mask_mode", mode, MASK_MODES)
        if mode == "fixed" and self.mask_mode == "scores":
            with torch.no_grad():
                self.weight_mask.copy_(self._scores_mask())
        self.mask_mode = mode
        fixed = mode == "fixed"
        self.weight.requires_grad_(fixed)
        if self.bias is not None:
            self.bias.requires_grad_(fixed)
        self.scores.requires_grad_(not fixed)

    def set_mask(self, mask: torch.Tensor) -> None:
        """Overwrite ``weight_mask`` in place (meaningful in "fixed" mode).

        Raises:
            ValueError: If ``mask`` is not a bool tensor of the weight's shape.
        """
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != self.weight.shape:
            raise ValueError(
                f"mask must be a bool tensor of shape {tuple(self.weight.shape)}, got "
                f"{getattr(mask, 'dtype', type(mask))} {tuple(getattr(mask, 'shape', ()))}"
            )
        with torch.no_grad():
            self.weight_mask.copy_(mask)

    # ------------------------------------------------------------------------------------ masking
    def _rank_key(self) -> torch.Tensor:
        return self.scores.abs() if self.rank_by == "abs" else self.scores

    def _scores_mask(self) -> torch.Tensor:
        """``topk_mask`` of the rank key: warm-started when ``warm_topk`` is set (same result)."""
        if not self.warm_topk:
            return topk_mask(self._rank_key().detach(), self._density)
        return self._topk(self.scores, self._density, rank_by=self.rank_by)

    def reset_mask_cache(self) -> None:
        """Drop the warm-start cache of the top-k mask (never needed for correctness; frees memory)."""
        self._topk.reset()

    def _apply(self, fn, *args, **kwargs):
        # Moving or casting replaces the tensors: start the cache afresh.
        self._topk.reset()
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._topk.reset()
        super()._load_from_state_dict(*args, **kwargs)

    def mask(self) -> torch.Tensor:
        """The bool mask the next forward pass uses (a fresh tensor in "scores" mode)."""
        if self.mask_mode == "fixed":
            return self.weight_mask
        return self._scores_mask().clone()

    def effective_weight(self) -> torch.Tensor:
        """``weight * mask``, differentiable w.r.t. ``scores`` (straight-through) or ``weight``."""
        if self.mask_mode == "fixed":
            return self.weight * self.weight_mask
        mask = self._scores_mask()
        with torch.no_grad():
            self.weight_mask.copy_(mask)
        return _EdgePopupWeight.apply(self.scores, self.weight, mask, self.rank_by == "abs")

    def _store_dense_grad(self, grad: torch.Tensor) -> None:
        self.dense_grad = grad.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer with the effective weight."""
        w_eff = self.effective_weight()
        if self.capture_dense_grad and w_eff.requires_grad:
            w_eff.register_hook(self._store_dense_grad)
        return self.forward_with_weight(x, w_eff)

    def forward_with_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Apply the layer's operation with an explicit (effective) weight and the layer's bias.

        Lets Hessian-vector products differentiate w.r.t. the effective weight directly, keeping the
        straight-through mask function out of the graph.
        """
        raise NotImplementedError

    def extra_repr(self) -> str:  # noqa: D102
        return f"density={self._density:g}, mask_mode={self.mask_mode}, rank_by={self.rank_by}"


class MaskedLinear(MaskedLayer):
    """A linear layer ``y = x (W*M)^T + b`` with a random weight and a mask.

    Args:
        in_features: Input size.
        out_features: Output size.
        bias: Add a (random, unmasked) bias; off by default as in Edge-Popup.
        density: Fraction of weights kept, in ``(0, 1]``.
        mask_mode: "scores" (Edge-Popup) or "fixed" (RigL); see the module docstring.
        weight_init: A name in ``networks.inits.WEIGHT_INITS``.
        score_init: A name in ``networks.inits.SCORE_INITS``.
        rank_by: Rank ``|scores|`` ("abs", Edge-Popup) or raw ``scores`` ("raw", IteRand).
        generator: Source of randomness; None uses torch's default generator (not reproducible
            unless seeded globally; the toolkit always passes one).
        device: Where the tensors live.
        dtype: Floating dtype of weight and scores.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = False,
        *,
        density: float = 1.0,
        mask_mode: Literal["scores", "fixed"] = "scores",
        weight_init: str = "kaiming_normal",
        score_init: str = "kaiming_uniform_a_sqrt5",
        rank_by: Literal["abs", "raw"] = "abs",
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self._setup(
            (self.out_features, self.in_features),
            bias,
            density=density,
            mask_mode=mask_mode,
            weight_init=weight_init,
            score_init=score_init,
            rank_by=rank_by,
            generator=generator,
            device=device,
            dtype=dtype,
        )

    def forward_with_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return F.linear(x, weight, self.bias)

    def extra_repr(self) -> str:  # noqa: D102
        return f"in_features={self.in_features}, out_features={self.out_features}, " + super().extra_repr()


class _MaskedConvNd(MaskedLayer):
    _dims = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = False,
        *,
        density: float = 1.0,
        mask_mode: Literal["scores", "fixed"] = "scores",
        weight_init: str = "kaiming_normal",
        score_init: str = "kaiming_uniform_a_sqrt5",
        rank_by: Literal["abs", "raw"] = "abs",
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()

        def tup(v: int | tuple[int, ...]) -> tuple[int, ...]:
            return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * self._dims

        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels and out_channels must be divisible by groups={groups}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size, self.stride = tup(kernel_size), tup(stride)
        self.padding, self.dilation = tup(padding), tup(dilation)
        self._setup(
            (self.out_channels, self.in_channels // self.groups, *self.kernel_size),
            bias,
            density=density,
            mask_mode=mask_mode,
            weight_init=weight_init,
            score_init=score_init,
            rank_by=rank_by,
            generator=generator,
            device=device,
            dtype=dtype,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, " + super().extra_repr()
        )


class MaskedConv2d(_MaskedConvNd):
    """A 2-D convolution with a random weight and a mask.

    Arguments as ``nn.Conv2d`` plus the keyword-only ones of :class:`MaskedLinear`; ``bias`` defaults
    to False as in Edge-Popup.
    """

    _dims = 2

    def forward_with_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class MaskedConv1d(_MaskedConvNd):
    """A 1-D convolution with a random weight and a mask.

    Arguments as ``nn.Conv1d`` plus the keyword-only ones of :class:`MaskedLinear`; ``bias`` defaults
    to False.
    """

    _dims = 1

    def forward_with_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return F.conv1d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class NonAffineBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm without learned scale/shift (``affine=False``); running statistics are tracked.

    Edge-Popup's ``NonAffineBatchNorm`` (``utils/bn_type.py``): no BN parameter is ever trained.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine=False, track_running_stats=True, device=device, dtype=dtype
        )


class NonAffineBatchNorm2d(nn.BatchNorm2d):
    """2-D BatchNorm without learned scale/shift (``affine=False``); running statistics are tracked."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine=False, track_running_stats=True, device=device, dtype=dtype
        )
