"""Mask selection, in one place: kept counts, exact top-k, the warm-started top-k, the masked layers.

Every mask of the toolkit is chosen here:

* :func:`kept_count` -- how many weights a tensor keeps at a density (round half up, at least one);
* :func:`top_count_mask` -- THE top-k selection: the ``k`` largest entries, ties to the lowest flat
  index, by selection (``torch.topk`` on the smaller side of the split), never a full sort;
  :func:`topk_mask` (a density), :func:`bottom_count_mask` (the ``k`` smallest among eligible entries)
  and :class:`WarmTopk` (the same masks warm-started from the previous call) are built on it;
* :func:`masked_layers` -- the masked layers of a model (the ``networks.layers`` contract: a ``weight``
  tensor and a callable ``effective_weight()``), keyed by module name, in module order.

Users: the masked layers (Edge-Popup's per-forward mask), RigL/SET and second-order RigL (drop and grow
sets), the loss-change swap rules (``networks.loss_change``), the model conversions
(``networks.convert``) and the trainer.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from theory.validate import check_choice, check_range

__all__ = [
    "RANK_BY",
    "WarmTopk",
    "bottom_count_mask",
    "check_density",
    "kept_count",
    "masked_layers",
    "top_count_mask",
    "topk_mask",
]

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


def top_count_mask(score: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask of the ``k`` largest entries of ``score`` (any shape), ties to the lowest flat index.

    The one exact top-k of the toolkit. The threshold (the ``k``-th largest value, with multiplicity) is
    found by selection on the smaller side of the split, never by sorting; ties at the threshold are
    resolved with one cumulative sum, so the result is deterministic with exactly ``k`` ones, and no
    host-device synchronisation is needed. ``k = 0`` gives all False; ``-inf`` entries are chosen only
    when ``k`` exceeds the finite ones. Entries must not be NaN (NaN gives an undefined count).

    Args:
        score: Floating tensor, any shape and device.
        k: Entries to keep, in ``[0, numel]``.

    Returns:
        A bool tensor shaped like ``score`` on the same device.

    Raises:
        ValueError: If ``k`` is not in ``[0, numel]``.
    """
    flat = score.detach().reshape(-1)
    n = flat.numel()
    if not 0 <= int(k) <= n:
        raise ValueError(f"k must be in [0, {n}], got {k}")
    k = int(k)
    if k == 0:
        return torch.zeros_like(score, dtype=torch.bool)
    if k == n:
        return torch.ones_like(score, dtype=torch.bool)
    threshold = _kth_largest(flat, k)
    above = flat > threshold
    at = flat == threshold
    take = at & (torch.cumsum(at, dim=0) <= k - above.sum())
    return (above | take).reshape(score.shape)


def topk_mask(scores: torch.Tensor, density: float) -> torch.Tensor:
    """Bool mask of the ``kept_count(scores.numel(), density)`` largest entries of ``scores``.

    :func:`top_count_mask` at the count of a density. Rank by ``scores.abs()`` for Edge-Popup. This is
    the cold computation; :class:`WarmTopk` gives the same mask faster when called repeatedly on slowly
    changing scores.

    Args:
        scores: Any shape, floating dtype, any device.
        density: Fraction kept, in ``(0, 1]``.

    Returns:
        A bool tensor shaped like ``scores`` on the same device.
    """
    return top_count_mask(scores, kept_count(scores.numel(), density))


def bottom_count_mask(score: torch.Tensor, k: int, eligible: torch.Tensor | None = None) -> torch.Tensor:
    """Bool mask of the ``k`` smallest entries of ``score`` among ``eligible`` (ties to the lowest index).

    :func:`top_count_mask` of ``-score`` with the ineligible entries at ``-inf``. Used for the swap
    sets of RigL-type updates and of the loss-change rules (lowest predicted loss change first).

    Args:
        score: Floating tensor.
        k: Entries to choose, at most the number of eligible ones for a mask inside ``eligible``.
        eligible: Bool tensor shaped like ``score`` (None: every entry).

    Returns:
        A bool tensor shaped like ``score``.
    """
    key = -score.detach()
    if eligible is not None:
        key = torch.where(eligible, key, torch.full_like(key, -math.inf))
    return top_count_mask(key, k)


def _is_masked(module: nn.Module) -> bool:
    return callable(getattr(module, "effective_weight", None)) and isinstance(
        getattr(module, "weight", None), torch.Tensor
    )


def masked_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The masked layers of ``model``, keyed by module name, in module (traversal) order.

    A layer is masked when it has a ``weight`` tensor and a callable ``effective_weight()`` (the
    ``networks.layers.MaskedLayer`` contract; any user layer following it counts too).
    """
    return {name: m for name, m in model.named_modules() if _is_masked(m)}


#: The paths a :class:`WarmTopk` call can take (the keys of its ``stats``).
_PATHS = ("hit", "small", "warm", "moves", "cold")


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

    Tensors of at most :attr:`small_n` entries skip the bracket: there one ``np.partition`` finds the
    threshold faster than the bracket's fixed per-call overhead (the same mask).

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
    #: Tensors of at most this many entries skip the bracket: one partial selection (``np.partition``)
    #: costs less than the bracket's fixed overhead there (measured crossover near 2**16 on a CPU core).
    small_n = 1 << 15

    def __init__(self) -> None:
        self.stats = dict.fromkeys(_PATHS, 0)
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
        self._count_of: tuple[int, float, int] | None = None
        self._bandbuf: np.ndarray | None = None
        self._band_size = -1

    def __getstate__(self) -> dict:
        return {"stats": dict(self.stats)}

    def __setstate__(self, state: dict) -> None:
        self.stats = {**dict.fromkeys(_PATHS, 0), **state.get("stats", {})}
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
        if rank_by not in RANK_BY:
            check_choice("rank_by", rank_by, RANK_BY)
        # Every tensor below is detached (or a NumPy view), so no autograd context is needed.
        src = scores.detach()
        n = src.numel()
        # The count of the last (numel, density), memoised: the call is on every training forward.
        if self._count_of is None or self._count_of[:2] != (n, density):
            self._count_of = (n, density, kept_count(n, density))
        k = self._count_of[2]
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
        elif n <= self.small_n:
            self.stats["small"] += 1
            a = _np(self._cpu_key(src, rank_by, key))
            mask = torch.from_numpy(_mask_at(a, np.partition(a, n - k)[n - k], k))
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
        above = _mask_at(a, t, k)
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

    def _band(self, a: np.ndarray, lo: np.floating, gt_hi: np.ndarray) -> np.ndarray:
        """Ascending flat indices of ``lo <= a`` and not ``gt_hi`` (the band, ``gt_hi`` being ``a > hi``).

        The band is a small fraction of the tensor. ``np.flatnonzero`` scans every byte; when the last
        band was sparse (under 1/256 of the entries), the bool array is scanned as 64-bit words instead
        (a word is nonzero iff one of its 8 entries is in the band) and only the nonzero words are
        expanded: the same indices, in the same order, at about half the cost.
        """
        n = a.size
        words = n >> 3
        buf = self._bandbuf
        if buf is None or buf.size != n:
            buf = self._bandbuf = np.empty(n, dtype=bool)
        np.greater_equal(a, lo, out=buf)
        np.bitwise_xor(buf, gt_hi, out=buf)  # {v > hi} is inside {v >= lo}
        if words == 0 or self._band_size < 0 or self._band_size * 256 > n:
            idx = np.flatnonzero(buf)
        else:
            head = buf[: words << 3]
            w = np.flatnonzero(head.view(np.uint64) != 0)
            r = np.flatnonzero(head.reshape(words, 8)[w])
            idx = w[r >> 3] * 8 + (r & 7)
            if n & 7:
                idx = np.concatenate((idx, (words << 3) + np.flatnonzero(buf[words << 3 :])))
        self._band_size = idx.size
        return idx

    def _warm(self, a: np.ndarray, k: int) -> torch.Tensor | None:
        n = a.size
        lo, hi = self._bracket
        expected = self._expected
        for _ in range(self.max_moves + 1):
            gt_hi = a > hi
            c_hi = int(np.count_nonzero(gt_hi))
            if c_hi < k:
                idx = self._band(a, lo, gt_hi)  # lo <= v <= hi, ascending flat indices
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


def _mask_at(a: np.ndarray, t: np.floating, k: int) -> np.ndarray:
    """Mask of the ``k`` largest entries of ``a``; ``t`` is the ``k``-th largest (ties: lowest index)."""
    above = a > t
    ties = np.flatnonzero(a == t)
    above[ties[: k - np.count_nonzero(above)]] = True
    return above


def _np(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of a CPU tensor (bfloat16, unknown to NumPy, as an exact float32 copy)."""
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.contiguous().numpy()
