"""Sparse tickets of a chosen density: fixed-size subsets per weight (Natale et al., NeurIPS 2024).

Source: Natale, Ferré, Giambartolomei, Giroire, Mallmann-Trenn, "On the Sparsity of the Strong Lottery
Ticket Hypothesis", NeurIPS 2024 (arXiv:2410.14754), Theorem 3 [PRIMARY, partly]: a 2l-layer random
network whose layer pair ``i`` has blocks of ``n_i*`` units contains, w.p. >= 1 - eps, a subnetwork of
density ``gamma`` that eps-approximates the target; the proof solves one Random Fixed-Size Subset Sum per
target weight (subsets of a fixed size), which is what fixes the density.

Method ``sparse`` (registered in :mod:`networks.construct.methods`): the layout of ``pensia`` (one block of
``2n`` hidden units per input column, ``w x = relu(w x) - relu(-w x)``), with first-layer weights
``+|u|`` for the first ``n`` units of a block and ``-|u|`` for the other ``n`` (``u`` iid U[-1, 1]: a
U[-1, 1] draw with exactly ``n`` units of each sign), so every SubsetSum instance has exactly ``n``
candidates ``a_i b_ki``; each weight and half keeps exactly ``k`` of them (the exact fixed-size solver
``theory.best_subsets(..., size=k)``). ``k`` is chosen per layer from the requested density
(:func:`subset_size`): the largest ``k`` whose kept count (``k`` second-layer edges per instance, plus at
most one first-layer edge per used unit) stays ``<= density`` times the layer's source parameters. The
certificate is the same Lipschitz composition as for every method, from the actual errors.

Conv2d target layers get the same blocks on the conv's ``unfold`` columns (the ``dacunha`` layout: a
``kh x kw`` conv into ``2n c_in kh kw`` channels whose kernels keep one entry each, a ReLU, a ``1 x 1``
conv), so each kernel entry is one fixed-size SubsetSum and the density is counted per layer as for a
Linear one (:func:`layer_counts` reads the reshaped ``(c_out, c_in kh kw)`` weight).
"""

from __future__ import annotations

import math

import torch

from theory import bounds


def sparse_first_layer(n_cols: int, n: int, gen: torch.Generator) -> torch.Tensor:
    """First-layer weights ``+|u|`` for the first ``n`` units of each block and ``-|u|`` for the rest."""
    mag = torch.rand(n_cols, 2 * n, generator=gen, dtype=torch.float64)
    sign = torch.cat([torch.ones(n, dtype=torch.float64), -torch.ones(n, dtype=torch.float64)])
    return mag * sign


def layer_counts(spec, n: int) -> tuple[int, int, int]:
    """``(source_params, instances, usable_units)`` of one target layer's source block.

    Source parameters as counted by ``construct_ticket``: ``2n`` units per column, a dense first layer
    and its biases, and the dense second layer. Instances: one SubsetSum per weight and half (the ``-``
    half only for signed input columns). Usable units: those of the halves that are solved.
    """
    d_out, d_in = spec.weight.shape
    n_cols = d_in + (0 if spec.bias is None else 1)
    units = 2 * n * n_cols
    source = units * d_in + units + d_out * units
    signed = 0 if spec.nonneg_input else d_in
    instances = d_out * (n_cols + signed)
    return source, instances, n * (n_cols + signed)


def subset_size(spec, n: int, density: float) -> int:
    """The largest ``k <= n/2`` with kept ``instances k + min(usable, instances k) <= density * source``.

    Raises:
        ValueError: If even ``k = 1`` keeps more than ``density`` of the layer (widen the source: larger n).
    """
    source, instances, usable = layer_counts(spec, n)
    best = 0
    for k in range(1, max(1, n // 2) + 1):  # k <= n/2: Theorem 2's range, and C(n, k) is largest at n/2
        if instances * k + min(usable, instances * k) <= density * source:
            best = k
    if best == 0:
        low = (instances + min(usable, instances)) / source
        raise ValueError(
            f"density must be >= {low:.4g} for a layer of shape {tuple(spec.weight.shape)} with n = {n} "
            f"candidates (one unit per weight and half), got {density}; use a larger candidates_per_weight"
        )
    return best


def theorem3_density(d_prev: int, d: int, depth: int, eps: float, n: float, *, c_amp: float) -> float | None:
    """The smallest density ``gamma`` in ``(0, 1/2]`` whose Theorem 3 block ``n*`` is ``<= n`` (None: none).

    Inverts :func:`theory.bounds.rfss_thm3_block` by bisection (``n*`` decreases in ``gamma`` over the
    range searched; the bisection keeps the invariant ``n*(hi) <= n``).
    """
    block = bounds.get_bound("rfss-thm3-block")
    if block(d_prev, d, depth, eps, 0.5, c_amp=c_amp) > n:
        return None
    lo, hi = 1e-9, 0.5
    if block(d_prev, d, depth, eps, lo, c_amp=c_amp) <= n:
        return lo
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if block(d_prev, d, depth, eps, mid, c_amp=c_amp) <= n else (mid, hi)
    return hi
