"""Exact per-tensor top-k masks, faster than one full ``kthvalue`` on large CPU tensors (a proposal).

:func:`bracketed_topk_mask` returns exactly ``networks.layers.topk_mask(scores, density)`` (same count
``kept_count``, same threshold value, ties to the lowest flat index), but finds the threshold by sample
bracketing (the idea of Floyd and Rivest, "Algorithm 489: SELECT", CACM 1975): the k-th largest value of an
evenly strided sample of ~8k entries gives a value bracket ``[lo, hi]`` around the threshold; one pass counts
the entries above ``hi`` and gathers those inside the bracket (a few percent of the tensor), and
``kthvalue`` runs on that small set only. If the bracket misses (possible only for adversarial orderings),
it falls back to the full ``kthvalue``, so the result is always exact. Never sorts the whole tensor.

Measured on one (shared, loaded) CPU thread for a 500x784 tensor: ``topk_mask`` 8-10 ms vs 6.5-8 ms here,
a modest gain; the rest of an Edge-Popup step's overhead is the elementwise work around the mask.
The Edge-Popup forward in ``networks.layers`` could use it for
tensors above ``min_numel``; it needs one host synchronisation per call to check the bracket.
"""

from __future__ import annotations

import math

import torch

__all__ = ["bracketed_topk_mask"]


def _exact_threshold(flat: torch.Tensor, k: int) -> torch.Tensor:
    return torch.kthvalue(flat, flat.numel() - k + 1).values


def bracketed_topk_mask(
    scores: torch.Tensor, density: float, *, sample: int = 8192, min_numel: int = 1 << 16
) -> torch.Tensor:
    """Bool mask of the ``kept_count(numel, density)`` largest entries, ties to the lowest flat index.

    Args:
        scores: Finite floating tensor, any shape and device.
        density: Fraction kept, in ``(0, 1]``.
        sample: Approximate sample size used to bracket the threshold.
        min_numel: Below this size the plain full ``kthvalue`` is used.

    Returns:
        A bool tensor shaped like ``scores``, identical to ``networks.layers.topk_mask(scores, density)``.

    Raises:
        ValueError: If ``density`` is not in ``(0, 1]``.
    """
    from networks.layers import kept_count

    flat = scores.detach().reshape(-1)
    n = flat.numel()
    k = kept_count(n, density)
    if k == n:
        return torch.ones_like(scores, dtype=torch.bool)
    threshold = None
    if n >= min_numel:
        stride = max(1, n // sample)
        samp = flat[::stride]
        ns = samp.numel()
        # Position of the threshold in the ascending sample, +- 4 sqrt(ns) (>= 8 binomial sd).
        pos = ns * (n - k) / n
        margin = 4.0 * math.sqrt(ns) + 2.0
        lo_i = int(min(max(math.floor(pos - margin), 1), ns))
        hi_i = int(min(max(math.ceil(pos + margin), 1), ns))
        ordered = torch.sort(samp).values  # ~8k entries: cheap
        lo_v, hi_v = ordered[lo_i - 1], ordered[hi_i - 1]
        above = int((flat > hi_v).sum())
        inside = (flat >= lo_v) & (flat <= hi_v)
        n_in = int(inside.sum())
        need = k - above
        if 1 <= need <= n_in:
            vals = flat[inside]
            threshold = torch.kthvalue(vals, n_in - need + 1).values
    if threshold is None:
        threshold = _exact_threshold(flat, k)
    above_t = flat > threshold
    at = flat == threshold
    take = at & (torch.cumsum(at, dim=0) <= k - above_t.sum())
    return (above_t | take).reshape(scores.shape)
