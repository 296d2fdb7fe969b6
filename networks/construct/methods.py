"""The constructions (registry ``METHODS``): Pensia, Xiong and da Cunha blocks for one target layer.

Every method replaces an affine target layer ``y -> W y + beta`` (``W`` of shape ``(d_out, d_in)``) with two
random source layers and prunes them:

* **First source layer, block-diagonal after pruning.** Each input column ``j`` (plus one constant-1
  column per layer when the target has a bias: those units are realised as first-layer biases) owns a block
  of ``2n`` hidden units with first-layer weights ``a_i`` (only the ``(i, j)`` entry of the unit's row is
  kept). The hidden width is ``2n (d_in [+1])``, shared by all outputs ``k``.
* **Second source layer** ``b`` of shape ``(d_out, units)``, i.i.d. U[-1, 1]; for each ``(k, j)`` a subset
  of block ``j`` is kept. Units with ``a_i > 0`` form the ``+`` half: for ``x_j >= 0`` they give
  ``x_j * sum_S+ a_i b_ki``; units with ``a_i < 0`` form the ``-`` half and give ``x_j * sum_S- a_i b_ki`` for
  ``x_j < 0``. So both halves solve SubsetSum over the products ``a_i b_ki`` with target ``W_kj``
  (``w x = relu(w x) - relu(-w x)``; Pensia et al. NeurIPS 2020, §3.2 of the toolkit reference note).
  When the input is non-negative (after a ReLU, or declared) only the ``+`` half is needed, and for the
  constant bias column too.

Methods:
* ``pensia`` (Pensia et al. 2020, arXiv:2006.07990, construction of Thm 1): ``a_i`` i.i.d. U[-1, 1]; the
  sign of ``a_i`` assigns unit ``i`` to a half (first-layer sign pruning wastes no unit: each SubsetSum
  instance sees ``Binomial(2n, 1/2)`` candidates, ``n`` on average).
* ``xiong`` (Xiong, Liao, Kyrillidis, AISTATS 2023, Thm 2 construction, slides p.33): ``a_i = +1`` for
  the first ``n`` units of a block and ``-1`` for the rest (exactly ``n`` candidates per half, the
  candidates are ``+-b_ki`` themselves) and the kept second-layer weights are perturbed by at most
  ``perturbation`` in max-norm: for subset ``S`` every kept weight gets the same shift
  ``y = sign(a) clip((w - sum_S a b) / |S|, -p, p)`` (the exact PSSP optimum for fixed ``S``).
* ``dacunha`` (da Cunha, Natale, Viennot, ICLR 2022) for targets containing ``Conv2d``: a ``kh x kw``
  conv into ``2n c_in kh kw`` channels whose kernels keep one entry each, a ReLU, then a ``1 x 1`` conv.
  This is the Pensia block applied to the conv's ``unfold`` columns, with the ReLU split (so inputs of
  any sign). It is wider than da Cunha et al.'s ``~C c_in log(...)`` channels by the factor ``kh kw``:
  their tighter channel sharing is not implemented. Linear layers of the same target use ``pensia``.

Weights must lie in [-1, 1] (the range the SubsetSum theorems cover): larger ones are refused with a
message naming the layer (rescale the target yourself; ReLU networks are positively homogeneous).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

import theory
from networks.construct.sparse import sparse_first_layer
from theory.registry import register

__all__ = ["METHODS", "build_layer", "register_method"]

#: method name -> {"perturbable": bool, "first_layer": fn(n_cols, n, gen, dtype) -> a (n_cols, 2n)}
METHODS: dict[str, dict] = {}


def register_method(
    name: str,
    *,
    first_layer: Callable | None,
    perturbable: bool,
    conv_only: bool = False,
    fixed_size: bool = False,
    build: Callable | None = None,
) -> None:
    """Register a construction (refuses duplicate names).

    ``fixed_size``: every kept subset has exactly ``size`` units (``build_layer(..., size=k)``, the
    fixed-size solver ``theory.best_subsets(..., size=k)``) instead of the fewest units within the budget.
    ``build`` replaces the 2L layer-by-layer build (the depth L+1 construction).
    """
    register(
        METHODS,
        "method",
        name,
        {
            "first_layer": first_layer,
            "perturbable": perturbable,
            "conv_only": conv_only,
            "fixed_size": fixed_size,
            "build": build,
        },
    )


def _uniform_first(n_cols: int, n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n_cols, 2 * n, generator=gen, dtype=torch.float64) * 2 - 1


def _pm_one_first(n_cols: int, n: int, gen: torch.Generator) -> torch.Tensor:
    half = torch.cat([torch.ones(n, dtype=torch.float64), -torch.ones(n, dtype=torch.float64)])
    return half.expand(n_cols, 2 * n).clone()


register_method("pensia", first_layer=_uniform_first, perturbable=False)
register_method("xiong", first_layer=_pm_one_first, perturbable=True)
register_method("dacunha", first_layer=_uniform_first, perturbable=False, conv_only=True)
# Fixed-size subsets per weight (Natale et al. NeurIPS 2024): see networks.construct.sparse.
register_method("sparse", first_layer=sparse_first_layer, perturbable=False, fixed_size=True)


def _burkholz_build(*args, **kwargs):
    """Depth L+1 (Burkholz NeurIPS 2022): :func:`networks.construct.burkholz.construct_burkholz`."""
    from networks.construct.burkholz import construct_burkholz

    return construct_burkholz(*args, **kwargs)


register_method("burkholz", first_layer=None, perturbable=False, build=_burkholz_build)

# Rows solved per call; bounds the (rows, 2n) candidate tensors.
_ROWS_PER_CALL = 1 << 17


def build_layer(
    spec,
    *,
    method: str,
    n: int,
    tol_weight: float,
    tol_bias: float,
    perturbation: float,
    gen: torch.Generator,
    device: torch.device,
    size: int | None = None,
) -> dict:
    """Draw the random source block for one target layer and prune it.

    ``size``: for a ``fixed_size`` method, the number of units kept per weight and half.

    Returns:
        A dict with ``a``, ``col``, ``b``, ``pert``, ``mask2`` (for :class:`ConstructedLayer`), ``e_plus``,
        ``e_minus`` (error matrices, float64 ``(d_out, n_cols)``; ``e_minus`` None for non-negative input),
        ``errors`` (per weight, max over halves), ``tol`` (per column tolerance) and ``at_limit`` (bool
        ``(d_out, n_cols)``: a half of that weight was beyond the exact engine's limits, so its subset is
        the best found, not proven optimal).
    """
    w = spec.weight
    d_out, d_in = w.shape
    big = float(w.abs().max())
    if spec.bias is not None:
        big = max(big, float(spec.bias.abs().max()))
    if big > 1.0:
        raise ValueError(
            f"target weights must lie in [-1, 1] (the range the SubsetSum constructions cover); a layer has "
            f"max |w| = {big:.4g}. Divide it by a constant c and multiply the next layer by c (ReLU is "
            "positively homogeneous), or rescale the output"
        )
    target = w if spec.bias is None else torch.cat([w, spec.bias[:, None]], dim=1)
    n_cols = target.shape[1]
    a = METHODS[method]["first_layer"](n_cols, n, gen)  # (n_cols, 2n)
    b = torch.rand(d_out, n_cols * 2 * n, generator=gen, dtype=torch.float64) * 2 - 1
    prods = b.view(d_out, n_cols, 2 * n) * a  # (d_out, n_cols, 2n)
    signed_cols = torch.zeros(n_cols, dtype=torch.bool)
    if not spec.nonneg_input:
        signed_cols[:d_in] = True
    tol = torch.full((n_cols,), float(tol_weight), dtype=torch.float64)
    if spec.bias is not None:
        tol[-1] = float(tol_bias)
    mask2 = torch.zeros(d_out, n_cols, 2 * n, dtype=torch.bool)
    pert = torch.zeros(d_out, n_cols, 2 * n, dtype=torch.float64)
    at_limit = torch.zeros(d_out, n_cols, dtype=torch.bool)
    approx = {}
    for half, sign in (("plus", 1.0), ("minus", -1.0)):
        cols = torch.arange(n_cols) if half == "plus" else torch.nonzero(signed_cols).flatten()
        approx[half] = torch.zeros(d_out, n_cols, dtype=torch.float64)
        if cols.numel() == 0:
            continue
        valid_cols = (a[cols] * sign) > 0  # (c, 2n)
        per_k = cols.numel()
        k_step = max(1, _ROWS_PER_CALL // per_k)
        for k0 in range(0, d_out, k_step):
            ks = slice(k0, min(d_out, k0 + k_step))
            cand = prods[ks][:, cols].reshape(-1, 2 * n)
            valid = valid_cols.expand(prods[ks].shape[0], -1, -1).reshape(-1, 2 * n)
            tgt = target[ks][:, cols].reshape(-1)
            budget = tol[cols].expand(prods[ks].shape[0], -1).reshape(-1)
            # The exact float64 engine (theory.best_subsets): per row the fewest units within the budget,
            # the minimal-error subset where none qualifies; rows beyond its limits are flagged.
            solve_kw = {"size": size} if METHODS[method]["fixed_size"] else {"max_error": budget}
            sol = theory.best_subsets(
                cand,
                tgt,
                valid=valid,
                perturbation=perturbation,
                device=None if device.type == "cpu" else device,
                **solve_kw,
            )
            m = torch.from_numpy(_host(sol.masks)).reshape(-1, per_k, 2 * n)
            at_limit[ks, cols] |= ~torch.from_numpy(_host(sol.exact)).reshape(-1, per_k)
            mask2[ks, cols] |= m  # halves use disjoint units: merge, never overwrite
            # The unperturbed sums of the kept products (the perturbation below closes the gap).
            values = (m * prods[ks][:, cols]).sum(-1)
            shift = torch.zeros_like(values)
            if perturbation > 0:
                size = m.sum(-1).to(torch.float64)
                gap = (target[ks][:, cols] - values) / size.clamp_min(1)
                shift = gap.clamp(-perturbation, perturbation) * (size > 0)
                # y_i = sign(a_i) * shift, so that a_i * y_i = shift for every kept unit (|a_i| = 1).
                pert[ks, cols] = torch.where(m, a[cols].sign() * shift[..., None], pert[ks, cols])
            # Recompute the realised weight from the kept network itself (float64).
            kept_pert = torch.where(m, pert[ks, cols], torch.zeros(()))
            realised = (m * a[cols] * (b.view(d_out, n_cols, 2 * n)[ks][:, cols] + kept_pert)).sum(-1)
            approx[half][ks, cols] = realised
    e_plus = approx["plus"] - target
    e_minus = (approx["minus"] - target) if signed_cols.any() else None
    errors = e_plus.abs()
    if e_minus is not None:
        errors = torch.where(signed_cols, torch.maximum(errors, e_minus.abs()), errors)
    col = torch.arange(n_cols).repeat_interleave(2 * n)
    return {
        "a": a.reshape(-1).to(device),
        "col": col.to(device),
        "b": b.to(device),
        "pert": pert.reshape(d_out, -1).to(device),
        "mask2": mask2.reshape(d_out, -1).to(device),
        "e_plus": e_plus,
        "e_minus": e_minus,
        "signed_cols": signed_cols,
        "errors": errors,
        "tol": tol,
        "at_limit": at_limit,
    }


def _host(arr) -> np.ndarray:
    """A result field of ``theory.best_subsets`` (numpy array or tensor on any device) as numpy."""
    return arr.cpu().numpy() if hasattr(arr, "cpu") else np.asarray(arr)


def default_n(tolerance: float, constant: float) -> int:
    """Pensia-form candidates per half: ``n = ceil(C log2(1 / tau))`` for per-weight tolerance ``tau``.

    Pensia et al. (2020, Thm 1) need ``n = C log(d_in d_out L / eps)`` per weight; our per-weight tolerance
    ``tau`` is ``eps`` divided by a polynomial in the widths and depth (see ``construct_ticket``), so the
    two agree. ``C`` is not given numerically by any of the papers (reference note §2); 3 is the
    value of Pensia et al.'s code (``n = c * round(log2(1/eps))``, c = 3).
    """
    return max(1, math.ceil(constant * math.log2(1.0 / tolerance)))
