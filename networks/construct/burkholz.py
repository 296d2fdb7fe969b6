"""Depth L+1 tickets (Burkholz, NeurIPS 2022, arXiv:2205.02321): one fixed random source, pruned.

Layout (reference note §10.2, read from the authors' code RelationalML/LT-existence [PRIMARY]). For a
target ``x -> W_L relu(... relu(W_1 x + beta_1) ...) + beta_L`` with widths ``n_0, ..., n_L``:

* **Source layer 1** (the one extra layer): ``r_1 = 2 rho`` univariate units per input (channel for a
  conv target: a ``1 x 1`` conv), weights ``a ~ U(-2, 2)``, plus a *bias block* of ``rho`` units (the
  code has ``r_1``; departure 5) whose only kept parameter is their bias ``b ~ U(0, 2)``. The dense
  random layer has every unit connected to every input and a bias; pruning keeps one input per
  univariate unit and only the bias of a bias unit.
* **Source layer l+1, 1 <= l < L**: ``rho`` *copies* of every target neuron of layer ``l`` and ``rho``
  *constant* units (about 1), all with the target's activation (ReLU) and bias 0; dense random weights
  ``U(-1, 1)`` from the whole previous source layer (a conv with the target's kernel, stride and
  padding for a conv target layer).
* **Source layer L+1**: the ``n_L`` outputs, one copy each, no constants.

Pruning = exact SubsetSum per target parameter and copy (:func:`theory.best_subsets`, float64):

* target layer 1, weight ``W_1[j, q]`` for copy ``c`` of neuron ``j``: over the products ``a_m C[(j,c), m]``
  of the units ``m`` of input ``q``'s block, once over the units with ``a_m > 0`` and once over
  ``a_m < 0`` (``c relu(a x) = c a relu(x)`` or ``-c a relu(-x)``, and ``w x = w relu(x) - w relu(-x)``);
  a non-negative input needs only the first. For a conv, each kernel tap is its own SubsetSum over the
  layer-2 weights of that tap. Biases (and the layer-2 constants, target 1) are SubsetSums over
  ``b_m C[(j,c), m]`` on the bias block (``relu(b) = b``), through the kernel's centre tap;
* later target layers ``l``: weight ``W_l[k, j]`` for copy ``c'`` of neuron ``k``: over the ``rho``
  edges from the copies of neuron ``j`` (each already outputs about ``relu`` of the target neuron);
  biases and new constants over the ``rho`` edges from the previous constants.

Departures from the authors' code, on purpose: (1) one fixed random network is pruned (the code draws
weights only where a block needs them and redraws failed blocks, §10.1); a weight that misses its
tolerance stays in ``failed_weights``, and the certificate uses the actual errors. (2) Every
parameter is solved, also ``|w| <= eps`` (the engine returns the empty subset when it suffices). (3) A
bias unit used by a bias SubsetSum keeps its bias (the code's constant step overwrote it, §10.9).
(4) Constants and the bias block exist only where a later bias needs them (a bias-free target, like
Pensia's MNIST network, gets none; the code recursed forever there, §10.9). (5) The bias block has
``rho`` units instead of ``r_1 = 2 rho``: all of them have ``b > 0`` and serve every bias SubsetSum. (6) A
first-layer SubsetSum sees at most ``MITM_MAX_VALID`` (32) units of its sign (the exact engine's
meet-in-the-middle range); further units of that sign in the block stay pruned (only for rho >= ~28).

Certificate. With ``f_l`` the target after layer ``l``, ``r_l >= ||f_l||`` (as in
:mod:`networks.construct.certificate`), ``Delta_l`` a bound on the norm of the stacked errors of all
copies ``(g_l^(c) - f_l)_c``, and ``K_l`` on ``||kappa_l - 1||`` (the ``rho`` constants)::

    Delta_l = ||G_l|| Delta_{l-1} + ||E_l|| r_{l-1} + ||V_l|| K_{l-1} + ||e_l||,
    K_l     = ||U_l|| K_{l-1} + ||eta_l||,          Delta_0 = K_0 = 0, r_0 = radius,

where ``G_l`` is the kept copy-to-copy matrix, ``E_l`` the stacked weight errors of the output copies
(``[E+, -E-]`` for a signed input), ``V_l`` the kept constant-to-copy edges, ``e_l`` the bias errors,
``U_l`` the constant-to-constant edges and ``eta_l`` the constants' errors (conv operators get the patch
factor ``sqrt(P)``, biases ``sqrt(positions)``). Proof: the pre-activation of output copy ``c'`` minus
the target's is ``sum_c V^(c',c) (g^(c) - f) + (W^ - W) f + V^b (kappa - 1) + (V^b 1 - beta)``; stack over
``c'``, take norms, and use that ReLU is 1-Lipschitz and ``relu(1) = 1``. ``Delta_L`` (one copy) bounds
``sup ||target(x) - ticket(x)||``. Rounding: the realised sums are float64 (their own rounding
``gamma_{k+1} sum |terms|`` inflates every error norm, through Higham's bound as in
:mod:`networks.construct.certificate`), and each rounded forward pass adds ``gamma_{N+3} || |M| || Z``
per source layer (``Z`` a bound on the ticket's hidden norm) plus the target's own rounding term.

Norms are exact spectral norms (SVD) up to :data:`_SVD_MAX` entries, and the upper bound
``sqrt(||M||_1 ||M||_inf)`` beyond (Hölder), so the certificate is always an upper bound.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import theory
from networks.construct.certificate import (
    FLOAT64_ROUNDOFF,
    LayerNorms,
    check_bound_arguments,
    gamma,
    target_rounding,
)
from networks.construct.ticket import DOMAIN_SLACK_ULPS, Ticket, patch_factor, spectral_norm, unit_roundoff
from theory.bounds import BURKHOLZ_CODE_RHO
from theory.subset_sum.engine import MITM_MAX_VALID

__all__ = [
    "BURKHOLZ_RHO",
    "DepthLayer",
    "DepthNorms",
    "DepthTicket",
    "compose_depth_bound",
    "construct_burkholz",
    "source_layout",
    "source_weight_rows",
]

#: Copies per target neuron (and SubsetSum candidates per later weight): Burkholz's code default
#: ``--ssa_size 15`` [PRIMARY] (``theory.bounds.BURKHOLZ_CODE_RHO``).
BURKHOLZ_RHO = BURKHOLZ_CODE_RHO
#: Matrices up to this many entries get an exact spectral norm; larger ones the Hölder upper bound.
_SVD_MAX = 1 << 24
#: Rows solved per call of the exact engine (bounds the candidate arrays), and the estimated number of
#: in-window subsets one call may list (the fewest mode's memory: ~250 bytes each).
_ROWS_PER_CALL = 1 << 16
_PAIRS_PER_CALL = 1 << 20


@dataclasses.dataclass(frozen=True, kw_only=True)
class DepthNorms(LayerNorms):
    """Norm bounds of one target layer of a depth L+1 ticket (module docstring notation).

    The fields of :class:`~networks.construct.certificate.LayerNorms` (``op`` = ``A_l``, ``bias`` = ``B_l``,
    ``err_op`` = ``||E_l||`` and ``err_bias`` = ``||e_l||`` with the realised-sum rounding included,
    ``abs_op``, ``terms``, ``ticket_abs_op`` (bound on the norm of the absolute kept matrix of the layer's
    source layer(s)), ``ticket_abs_bias`` (the kept first-layer biases, first layer only) and
    ``ticket_terms``; ``realise_terms`` is unused: the rounding of the realised sums is in ``err_op``),
    and these, keyword-only:

    Attributes:
        copy_op: ``||G_l||`` (0 for the first layer).
        const_op: ``||V_l||`` (constant-to-copy edges, times ``sqrt(positions)``).
        const_prop: ``||U_l||`` (constant-to-constant edges).
        const_err: ``||eta_l||`` (0 without constants).
        first_abs_op: First layer only: the norm bound of the univariate layer's absolute weights.
        worst_op: ``||S_l||``, ``S_l[k, q]`` the largest (over copies of ``k``) sum of the absolute kept
            edges of weight ``(k, q)`` (second recursion, module docstring).
        worst_err_op: Norm over neurons of the largest (over copies) row norm of the weight errors.
        worst_err_bias: Norm over neurons of the largest bias error (times ``sqrt(positions)``).
        worst_const_op: Norm over neurons of the largest row norm of constant-to-copy edges.
    """

    copy_op: float
    const_op: float
    const_prop: float
    const_err: float
    first_abs_op: float = 0.0
    worst_op: float = 0.0
    worst_err_op: float = 0.0
    worst_err_bias: float = 0.0
    worst_const_op: float = 0.0


def compose_depth_bound(
    layers: list[DepthNorms], radius: float = 1.0, *, forward_roundoff: float = 0.0
) -> float:
    """Certified ``sup ||target(x) - ticket(x)||`` over ``||x|| <= radius`` (module docstring recursion).

    Args:
        layers: Per target layer.
        radius: Input radius (>= 0).
        forward_roundoff: Unit roundoff of both forward passes (0: exact arithmetic).

    Returns:
        The bound (inflated by a relative 1e-9 against the rounding of the norms).
    """
    check_bound_arguments(radius, forward_roundoff=forward_roundoff)
    u = float(forward_roundoff)
    delta, worst, kappa, t, r = 0.0, 0.0, 0.0, 0.0, float(radius)
    z = float(radius)  # bound on the ticket's hidden-state norm (rounded forward)
    for i, ln in enumerate(layers):
        rounding = 0.0
        if u > 0:
            g = gamma(ln.ticket_terms + 3, u)
            if i == 0:
                # Source layer 1: one product a x per unit (plus a cast), then the layer-2 dot products.
                z1 = (ln.first_abs_op * z + ln.ticket_abs_bias) * (1 + gamma(3, u))
                rounding = gamma(3, u) * (ln.first_abs_op * z + ln.ticket_abs_bias) * ln.ticket_abs_op
                rounding += g * ln.ticket_abs_op * z1
                z = ln.ticket_abs_op * z1 * (1 + g)
            else:
                rounding = g * ln.ticket_abs_op * z
                z = ln.ticket_abs_op * z * (1 + g)
            t = ln.op * t + target_rounding(ln, r + t, u)
        new_delta = ln.copy_op * delta + ln.err_op * r + ln.const_op * kappa + ln.err_bias + rounding
        worst = (
            ln.worst_op * worst
            + ln.worst_err_op * r
            + ln.worst_const_op * kappa
            + ln.worst_err_bias
            + rounding
        )
        kappa = ln.const_prop * kappa + ln.const_err + rounding
        delta = new_delta
        r = ln.op * r + ln.bias
    # Both recursions bound the same output error (one copy at the last layer): take the smaller.
    return (min(delta, worst) + t) * (1.0 + 1e-9)


def _norm_bound(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> float:
    """Spectral norm of the sparse matrix ``(rows, cols, vals)``: exact when small, Hölder bound else."""
    if vals.size == 0:
        return 0.0
    if shape[0] * shape[1] <= _SVD_MAX:
        m = np.zeros(shape)
        np.add.at(m, (rows, cols), vals)
        return spectral_norm(torch.from_numpy(m))
    a = np.abs(vals)
    col_sums = np.bincount(cols, weights=a, minlength=shape[1])
    row_sums = np.bincount(rows, weights=a, minlength=shape[0])
    return math.sqrt(float(col_sums.max()) * float(row_sums.max()))


def _worst_copy(values: torch.Tensor, copies: int) -> torch.Tensor:
    """Per target neuron, the largest value over its copies (rows ``j * copies + c``)."""
    return values.reshape(-1, copies, *values.shape[1:]).amax(dim=1)


def _max_row_terms(rows: np.ndarray, shape: tuple[int, int]) -> int:
    """Most kept entries in one row (the products a rounded dot product sums; zeros add nothing)."""
    return int(np.bincount(rows, minlength=shape[0]).max()) if rows.size else 0


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Unit counts of the source network (module docstring layout)."""

    rho: int
    r1: int
    in_blocks: int
    bias_block: bool
    need_const: tuple[bool, ...]  # per target layer l < L-1: constants in source layer l+2
    units: tuple[int, ...]  # per source layer 1..L+1
    copies: tuple[int, ...]  # per target layer: rho, last 1
    positions: tuple[int, ...]  # per target layer: output positions (1 for linear)
    in_positions: tuple[int, ...]  # per target layer: input positions (1 for linear)


def source_layout(specs, positions_out, positions_in, *, rho: int) -> _Layout:
    """The L+1 source layout for parsed target ``specs`` (§10.2), constants only where needed."""
    depth = len(specs)
    has_bias = [s.bias is not None for s in specs]
    need_const = tuple(any(has_bias[m] for m in range(l + 1, depth)) for l in range(depth - 1))
    first = specs[0]
    in_blocks = first.conv["in_channels"] if first.kind == "conv" else first.weight.shape[1]
    bias_block = has_bias[0] or (depth > 1 and need_const[0])
    r1 = 2 * rho
    # The bias block has rho units, not the code's r_1 = 2 rho: b > 0, so every bias unit is usable by
    # every bias SubsetSum (the factor 2 is the +/- split, which bias units do not need).
    units = [r1 * in_blocks + (rho if bias_block else 0)]
    copies = []
    for l, spec in enumerate(specs):
        n_l = spec.weight.shape[0]
        if l == depth - 1:
            units.append(n_l)
            copies.append(1)
        else:
            units.append(rho * n_l + (rho if need_const[l] else 0))
            copies.append(rho)
    return _Layout(
        rho,
        r1,
        in_blocks,
        bias_block,
        need_const,
        tuple(units),
        tuple(copies),
        tuple(positions_out),
        tuple(positions_in),
    )


def _taps(spec) -> int:
    return 1 if spec.kind == "linear" else spec.conv["kernel_size"][0] * spec.conv["kernel_size"][1]


def _centre(spec) -> int:
    if spec.kind == "linear":
        return 0
    kh, kw = spec.conv["kernel_size"]
    return (kh // 2) * kw + kw // 2


def _in_features(layout: _Layout, specs, s: int) -> int:
    """Columns of the matrix view of source layer ``s >= 2`` (units x taps, or flattened features)."""
    spec = specs[s - 2]
    prev = layout.units[s - 2]
    if spec.kind == "conv":
        return prev * _taps(spec)
    return prev * (layout.in_positions[s - 2] if spec.flatten_before else 1)


def source_weight_rows(seed: int, layout: _Layout, specs, s: int, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of source layer ``s``'s dense random weights (matrix view), float64.

    Layer 1: ``(units, inputs)`` U(-2, 2), then one more row block for the biases is drawn by
    :func:`_first_layer`. Layers ``s >= 2``: U(-1, 1) of shape ``(units_s, features)``. Each layer has its
    own stream (``SeedSequence(seed).spawn``), read row-major, so any row range is reproducible.
    """
    streams = np.random.SeedSequence(int(seed)).spawn(len(layout.units) + 1)
    bits = np.random.PCG64(streams[s])
    cols = _in_features(layout, specs, s)
    bits.advance(start * cols)  # a PCG64 double uses one 64-bit draw
    return np.random.Generator(bits).random((stop - start, cols)) * 2.0 - 1.0


def _first_layer(seed: int, layout: _Layout, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Source layer 1 in full: dense weights ``(units, n_in)`` U(-2, 2) and biases ``(units,)`` U(0, 2)."""
    streams = np.random.SeedSequence(int(seed)).spawn(len(layout.units) + 1)
    rng = np.random.Generator(np.random.PCG64(streams[0]))
    w = rng.random((layout.units[0], n_in)) * 4.0 - 2.0
    b = rng.random(layout.units[0]) * 2.0
    return w, b


class DepthLayer(nn.Module):
    """One pruned source layer of a depth L+1 ticket (kept weights only; the rest are zero).

    Linear layers hold a sparse COO weight ``(out, in)``, conv layers a dense kernel.
    """

    def __init__(
        self,
        kind: str,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        *,
        conv: dict | None,
        flatten_before: bool,
        relu: bool,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.conv = conv
        self.flatten_before = flatten_before
        self.relu_after = relu
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    @property
    def b(self) -> torch.Tensor:
        """The kept weights (``Ticket.measure`` and ``accuracy`` read the device from ``layers[0].b``)."""
        return self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pruned source layer on ``x``."""
        if self.flatten_before:
            x = x.flatten(1)
        w = self.weight.to(x.dtype)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        if self.kind == "conv":
            out = F.conv2d(x, w, bias, stride=self.conv["stride"], padding=self.conv["padding"])
        else:
            out = torch.sparse.mm(w, x.T).T
            if bias is not None:
                out = out + bias
        return torch.relu(out) if self.relu_after else out


@dataclasses.dataclass
class DepthTicket(Ticket):
    """A certified depth L+1 ticket (same report and measurement interface as :class:`Ticket`).

    ``norms`` holds :class:`DepthNorms`; ``layers`` the ``L + 1`` :class:`DepthLayer` modules;
    ``candidates_per_weight`` is ``[rho]``; ``meta["layout"]`` the source unit counts.
    """

    def certified_bound(self, radius: float = 1.0, *, dtype: torch.dtype = torch.float64) -> float:
        """Certified sup error on the input domain, both forward passes in ``dtype`` (rounding included)."""
        u = unit_roundoff(dtype)
        return compose_depth_bound(
            self.norms, float(radius) * (1 + DOMAIN_SLACK_ULPS * u), forward_roundoff=u
        )

    def exact_arithmetic_bound(self, radius: float = 1.0) -> float:
        """The certificate without the forward rounding term."""
        return compose_depth_bound(self.norms, radius)

    def source_module(self, *, masked: bool = True, seed: int = 0) -> nn.Sequential:
        """Not built for depth L+1 tickets: the dense source can be huge.

        Its rows are reproducible with :func:`source_weight_rows`.
        """
        raise ValueError("source_module is not available for method 'burkholz'; use source_weight_rows")

    def layer_counts(self) -> dict[str, Any]:
        """The source depth (L + 1); the kept parameters of every layer are in ``kept_params``."""
        return {"source_depth": len(self.layers)}


def _solve(cand, target, valid, tol, device):
    """Exact fewest-units subsets (within ``tol``) in chunks: masks, realised float64 sums, abs sums.

    The engine's fewest mode lists every subset inside the tolerance window, about
    ``2^k (2 tol) / (2 sum |x|)`` per row of ``k`` valid candidates; rows per call are chosen so that a call
    lists at most :data:`_PAIRS_PER_CALL` of them (memory), and never more than :data:`_ROWS_PER_CALL`.
    """
    rows = cand.shape[0]
    masks = np.zeros(cand.shape, dtype=bool)
    exact = np.ones(rows, dtype=bool)
    k = valid.sum(-1)
    spread = np.where(valid, np.abs(cand), 0.0).sum(-1) + tol
    listed = np.exp2(k.astype(np.float64)) * tol / spread + 1.0
    s = 0
    while s < rows:
        # Greedy: extend the chunk while its estimated listing stays within the budget.
        csum = np.cumsum(listed[s : s + _ROWS_PER_CALL])
        step = max(1, int(np.searchsorted(csum, _PAIRS_PER_CALL, side="right")))
        sl = slice(s, min(rows, s + step))
        sol = theory.best_subsets(
            cand[sl],
            target[sl],
            valid=valid[sl],
            max_error=tol[sl],
            device=None if device.type == "cpu" else device,
        )
        m = sol.masks
        masks[sl] = m.cpu().numpy() if hasattr(m, "cpu") else np.asarray(m)
        e = sol.exact
        exact[sl] = e.cpu().numpy() if hasattr(e, "cpu") else np.asarray(e)
        s = sl.stop
    realised = np.where(masks, cand, 0.0).sum(-1)
    abs_sum = np.where(masks, np.abs(cand), 0.0).sum(-1)
    return masks, realised, abs_sum, exact


class _Sparse:
    """Kept entries of one source layer's matrix view (row, col, value), accumulated per block."""

    def __init__(self, shape):
        self.shape = shape
        self.rows, self.cols, self.vals = [], [], []

    def add(self, r, c, v):
        self.rows.append(np.asarray(r, dtype=np.int64).ravel())
        self.cols.append(np.asarray(c, dtype=np.int64).ravel())
        self.vals.append(np.asarray(v, dtype=np.float64).ravel())

    def arrays(self):
        if not self.rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        r, c, v = np.concatenate(self.rows), np.concatenate(self.cols), np.concatenate(self.vals)
        key = r * self.shape[1] + c
        key, idx = np.unique(key, return_index=True)  # halves and copies may reuse an edge: keep once
        return r[idx], c[idx], v[idx]


def _colmap(layout: _Layout, specs, l: int):
    """Source columns of the copies of each target column of layer ``l >= 1``, and of the constants.

    Constants are read at the centre tap (conv) or at position 0 (flattened maps).
    Returns ``(cols (d_in, rho), const_cols (rho,))``.
    """
    spec = specs[l]
    rho = layout.copies[l - 1]
    n_prev = specs[l - 1].weight.shape[0]
    d_in = spec.weight.shape[1]
    c = np.arange(rho)
    q = np.arange(d_in)
    if spec.kind == "conv":
        taps = _taps(spec)
        ch, tap = q // taps, q % taps
        cols = ((ch[:, None] * rho + c[None, :]) * taps) + tap[:, None]
        const_cols = (rho * n_prev + c) * taps + _centre(spec)
    elif spec.flatten_before and layout.in_positions[l] > 1:
        hw = layout.in_positions[l]
        ch, pos = q // hw, q % hw
        cols = (ch[:, None] * rho + c[None, :]) * hw + pos[:, None]
        const_cols = (rho * n_prev + c) * hw
    else:
        cols = q[:, None] * rho + c[None, :]
        const_cols = rho * n_prev + c
    return cols, const_cols


def construct_burkholz(
    target: nn.Module,
    *,
    eps: float,
    specs: list,
    positions: list[int],
    in_positions: list[int],
    budget: str,
    candidates_per_weight: int | None,
    seed: int,
    device: torch.device,
    nonnegative_input: bool,
) -> DepthTicket:
    """Build and prune the depth L+1 source for parsed ``specs`` (called by ``construct_ticket``).

    Budgets: ``per-weight`` gives every weight, bias and constant the tolerance ``eps`` (the authors'
    code convention, ``--error``). ``certified`` builds the layers from the last to the first (their
    SubsetSums are independent) and gives layer ``l`` the share ``eps / L`` of the certificate: with
    ``alpha_l``, ``beta_l`` the sensitivities of the output bound to ``Delta_l`` and ``K_l`` through the
    already-built later layers, one ``t_l`` sets weight tolerances ``t_l / sqrt(h R d_in P)``, bias
    tolerances ``t_l / sqrt(R positions)`` and constant tolerances ``t_l / sqrt(rho)`` (``R`` copy rows,
    ``h`` halves), so ``alpha_l t_l (r_{l-1} + 1[bias]) + beta_l t_l 1[constants] = eps / L``.

    Returns:
        The :class:`DepthTicket` (``layers`` in source order).
    """
    depth = len(specs)
    for i, spec in enumerate(specs[:-1]):
        if not spec.relu:
            raise ValueError(
                f"method 'burkholz' needs a ReLU after every target layer but the last; layer {i} has none"
            )
    for i, spec in enumerate(specs):
        if spec.kind == "conv":
            if i > 0 and specs[i - 1].kind != "conv":
                raise ValueError("method 'burkholz': a Conv2d layer must not follow a Linear layer")
            kh, kw = spec.conv["kernel_size"]
            if any(p > (k - 1) // 2 for p, k in zip(spec.conv["padding"], (kh, kw), strict=True)):
                raise ValueError(
                    f"method 'burkholz': layer {i} pads more than half its kernel, so the centre tap that "
                    "carries the biases would read zero padding"
                )
    big = max(
        max(float(s.weight.abs().max()), 0.0 if s.bias is None else float(s.bias.abs().max())) for s in specs
    )
    if big > 1.0:
        raise ValueError(
            f"target weights must lie in [-1, 1] (the range the SubsetSum constructions cover); max |w| = "
            f"{big:.4g}"
        )
    rho = candidates_per_weight or BURKHOLZ_RHO
    lay = source_layout(specs, positions, in_positions, rho=rho)
    ops, bias_norms, abs_ops = [], [], []
    for spec, pos in zip(specs, positions, strict=True):
        pf = patch_factor(spec.conv)
        ops.append(spectral_norm(spec.weight) * pf)
        abs_ops.append(spectral_norm(spec.weight.abs()) * pf)
        bias_norms.append(0.0 if spec.bias is None else float(spec.bias.norm()) * math.sqrt(pos))
    radii = [1.0]
    for o, bn in zip(ops, bias_norms, strict=True):
        radii.append(o * radii[-1] + bn)
    started = time.perf_counter()
    built: list[dict | None] = [None] * depth
    alpha, beta = 1.0, 0.0  # sensitivities of the final bound to Delta_l and K_l
    tolerances = [0.0] * depth
    for l in reversed(range(depth)):
        spec = specs[l]
        halves = 2 if (l == 0 and not spec.nonneg_input) else 1
        rows = lay.copies[l] * spec.weight.shape[0]
        d_in = spec.weight.shape[1]
        has_c = l < depth - 1 and lay.need_const[l]
        if budget == "per-weight":
            tw = tb = tc = eps
        else:
            share = eps / depth
            denom = alpha * (radii[l] + (1.0 if spec.bias is not None else 0.0)) + (beta if has_c else 0.0)
            t_l = share / denom if denom > 0 else share
            pf = patch_factor(spec.conv)
            tw = t_l / math.sqrt(halves * rows * d_in * pf**2)
            tb = t_l / math.sqrt(rows * positions[l])
            tc = t_l / math.sqrt(lay.rho)
        tolerances[l] = tw
        out = (_build_first if l == 0 else _build_later)(
            lay, specs, l, seed=seed, tol=(tw, tb, tc), device=device, halves=halves
        )
        built[l] = out
        pos_out = math.sqrt(positions[l])
        # Sensitivities for the layer below: Delta_{l-1} enters through G_l, K_{l-1} through V_l and U_l.
        alpha, beta = (
            alpha * out["copy_op"] * patch_factor(spec.conv),
            alpha * out["const_op"] * pos_out + beta * out["const_prop"],
        )
    elapsed = time.perf_counter() - started
    norms, layers, errors, failed, limit = [], [], [], [], []
    for l, out in enumerate(built):
        spec = specs[l]
        norms.append(
            DepthNorms(
                op=ops[l],
                bias=bias_norms[l],
                copy_op=out["copy_op"] * patch_factor(spec.conv),
                err_op=out["err_op"] * patch_factor(spec.conv),
                err_bias=out["err_bias"] * math.sqrt(positions[l]),
                const_op=out["const_op"] * math.sqrt(positions[l]),
                const_prop=out["const_prop"],
                const_err=out["const_err"],
                abs_op=abs_ops[l],
                terms=spec.weight.shape[1],
                ticket_abs_op=out["abs_op"] * patch_factor(spec.conv),
                ticket_abs_bias=out.get("abs_bias", 0.0),
                ticket_terms=out["terms"],
                first_abs_op=out.get("first_abs_op", 0.0),
                worst_op=out["max_op"] * patch_factor(spec.conv),
                worst_err_op=out["max_err_op"] * patch_factor(spec.conv),
                worst_err_bias=out["max_err_bias"] * math.sqrt(positions[l]),
                worst_const_op=out["max_const_op"] * math.sqrt(positions[l]),
            )
        )
        errors.append(out["errors"])
        failed += [(l, *f) for f in out["failed"]]
        limit += [(l, *f) for f in out["limit"]]
    layers = _modules(lay, specs, built, device)
    target_weights = sum(s.weight.numel() + (0 if s.bias is None else s.bias.numel()) for s in specs)
    n_in = specs[0].weight.shape[1] if specs[0].kind == "linear" else lay.in_blocks
    source = lay.units[0] * n_in + lay.units[0]
    source += sum(lay.units[s - 1] * _in_features(lay, specs, s) for s in range(2, depth + 2))
    kept = sum(out["kept"] for out in built)
    return DepthTicket(
        method="burkholz",
        eps=eps,
        budget=budget,
        perturbation=0.0,
        layers=layers,
        tolerances=tolerances,
        candidates_per_weight=[rho],
        errors=errors,
        error_matrices=[(out["e_plus"], out["e_minus"]) for out in built],
        norms=norms,
        failed_weights=failed,
        target_weights=target_weights,
        source_params=int(source),
        kept_params=int(kept),
        specs=specs,
        meta={
            "seed": int(seed),
            "construct_seconds": elapsed,
            "device": str(device),
            "nonnegative_input": bool(nonnegative_input),
            "limit_weights": limit,
            "layout": {
                "units": list(lay.units),
                "rho": lay.rho,
                "r1": lay.r1,
                "bias_block": lay.bias_block,
                "constants": list(lay.need_const),
            },
            "source_depth": depth + 1,
        },
    )


def _rows_out(lay: _Layout, specs, l: int):
    """Output units of source layer ``l + 2``: (copy units, their target neuron), constant units."""
    n_l = specs[l].weight.shape[0]
    copies = lay.copies[l]
    copy_units = np.arange(n_l * copies)
    neuron = copy_units // copies
    const_units = (
        np.arange(n_l * copies, lay.units[l + 1]) if lay.units[l + 1] > n_l * copies else np.zeros(0, int)
    )
    return copy_units, neuron, const_units


class _Errors:
    """The errors of one target layer's SubsetSums, per copy row (one accumulator for every layer).

    Weight errors per half (``e_minus`` only with two halves), the absolute sums of the kept terms (the
    larger over halves: the realised-sum rounding bound), whether each search was exact, and the same
    for the biases (when the target layer has one).
    """

    def __init__(self, rows: int, d_in: int, *, halves: int, bias: bool) -> None:
        self.e_plus = torch.zeros(rows, d_in, dtype=torch.float64)
        self.e_minus = torch.zeros(rows, d_in, dtype=torch.float64) if halves == 2 else None
        self.abs_w = torch.zeros(rows, d_in, dtype=torch.float64)
        self.exact_w = np.ones((rows, d_in), dtype=bool)
        self.e_bias = torch.zeros(rows, dtype=torch.float64) if bias else None
        self.abs_b = torch.zeros(rows, dtype=torch.float64)
        self.exact_b = np.ones(rows, dtype=bool)

    def weights(self, sl: slice, half: int, real, target, absum, exact) -> None:
        """Record one half's realised weights ``real`` for target weights ``target`` (rows ``sl``)."""
        errors = self.e_plus if half == 0 else self.e_minus
        errors[sl] = torch.from_numpy(real.reshape(target.shape) - target)
        self.abs_w[sl] = torch.maximum(self.abs_w[sl], torch.from_numpy(absum.reshape(target.shape)))
        self.exact_w[sl] &= exact.reshape(target.shape)

    def bias(self, sl: slice, us, W, cols, mult, target, tol: float, device, kept: _Sparse) -> np.ndarray:
        """Solve the bias SubsetSums of rows ``us`` over ``mult * W[:, cols]``; returns the used columns."""
        cand = W[:, cols] * mult[None]
        m, real, absum, ex = _solve(cand, target, np.ones(cand.shape, bool), np.full(us.size, tol), device)
        self.e_bias[sl] = torch.from_numpy(real - target)
        self.abs_b[sl] = torch.from_numpy(absum)
        self.exact_b[sl] = ex
        ri, ki = np.nonzero(m)
        kept.add(us[ri], cols[ki], W[ri, cols[ki]])
        return ki

    def norms(self, g: float, copies: int) -> dict:
        """Error norms with the realised-sum rounding ``g`` (Higham) added: all copies, and the worst one."""
        e_minus, e_bias = self.e_minus, self.e_bias
        reg = self.e_plus if e_minus is None else torch.cat([self.e_plus, -e_minus], dim=1)
        abs_reg = self.abs_w if e_minus is None else torch.cat([self.abs_w, self.abs_w], dim=1)
        row_err = reg.norm(dim=1) + g * abs_reg.norm(dim=1)
        return {
            "err_op": spectral_norm(reg) + g * spectral_norm(abs_reg),
            "err_bias": 0.0 if e_bias is None else float(e_bias.norm()) + g * float(self.abs_b.norm()),
            "max_err_op": float(_worst_copy(row_err, copies).norm()),
            "max_err_bias": 0.0
            if e_bias is None
            else float(_worst_copy(e_bias.abs() + g * self.abs_b, copies).norm()),
        }

    def finish(self, tw: float, tb: float):
        """Per-weight errors (max over halves; bias = column d_in), failures and limit flags."""
        e_plus, e_minus, e_bias = self.e_plus, self.e_minus, self.e_bias
        err = e_plus.abs() if e_minus is None else torch.maximum(e_plus.abs(), e_minus.abs())
        if e_bias is not None:
            err = torch.cat([err, e_bias.abs()[:, None]], dim=1)
        tol = torch.full((err.shape[1],), tw, dtype=torch.float64)
        if e_bias is not None:
            tol[-1] = tb
        exact = torch.from_numpy(self.exact_w)
        if e_bias is not None:
            exact = torch.cat([exact, torch.from_numpy(self.exact_b)[:, None]], dim=1)
        over = err > tol[None, :] * (1 + 1e-12)
        failed = [(int(k), int(j), float(err[k, j])) for k, j in torch.nonzero(over & exact).tolist()]
        limit = [(int(k), int(j), float(err[k, j])) for k, j in torch.nonzero(~exact).tolist()]
        return err, failed, limit


def _constants(seed, lay, specs, s, const_units, cols, mult, tol, device, kept):
    """The constant units of source layer ``s``: SubsetSums to 1 over ``mult * W[:, cols]``.

    Returns ``(eta, abs_sums, used candidate indices)``; the kept edges go into ``kept``.
    """
    if not const_units.size:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    w = source_weight_rows(seed, lay, specs, s, int(const_units[0]), int(const_units[-1]) + 1)
    cand = w[:, cols] * mult[None]
    n = const_units.size
    m, real, absum, _ = _solve(cand, np.ones(n), np.ones(cand.shape, bool), np.full(n, tol), device)
    ri, ki = np.nonzero(m)
    kept.add(const_units[ri], cols[ki], w[ri, cols[ki]])
    return real - 1.0, absum, ki


def _valid_first(ok: np.ndarray) -> np.ndarray:
    """Per row, the column indices with the ``True`` ones first, each group in column order.

    A stable partition (what ``argsort(~ok, kind="stable")`` gives), computed from ranks without a sort:
    a ``True`` column goes to its rank among the row's ``True`` ones, a ``False`` column after them all.
    """
    n_true = ok.sum(axis=1, keepdims=True)
    pos = np.where(ok, np.cumsum(ok, axis=1) - 1, n_true + np.cumsum(~ok, axis=1) - 1)
    order = np.empty_like(pos)
    np.put_along_axis(order, pos, np.broadcast_to(np.arange(ok.shape[1]), ok.shape), axis=1)
    return order


def _build_first(lay: _Layout, specs, l: int, *, seed, tol, device, halves) -> dict:
    """Source layers 1 and 2 for target layer 1 (product SubsetSums, the ReLU split)."""
    tw, tb, tc = tol
    spec = specs[0]
    n_in = spec.weight.shape[1] if spec.kind == "linear" else lay.in_blocks
    w1, b1 = _first_layer(seed, lay, n_in)
    r1 = lay.r1
    unit_block = np.arange(lay.units[0]) // r1
    a = w1[np.arange(lay.units[0]), np.minimum(unit_block, n_in - 1)]  # the one kept weight per unit
    taps = _taps(spec)
    d_in = spec.weight.shape[1]
    q = np.arange(d_in)
    ch, tap = (q // taps, q % taps) if spec.kind == "conv" else (q, np.zeros(d_in, dtype=np.int64))
    units_of = ch[:, None] * r1 + np.arange(r1)[None, :]  # (d_in, r1)
    # Per half, the units of each column's block with that sign of a, padded to one width (the exact
    # engine's cost grows with the row width, so the other half's units are not passed at all).
    half_units = []
    for sign in (1.0, -1.0)[:halves]:
        ok = (a[units_of] * sign) > 0  # (d_in, r1)
        # At most MITM_MAX_VALID units per half (the engine's exact meet-in-the-middle range; wider rows
        # fall back to deepening, whose memory grew past 5 GB at rho = 30): extra units stay pruned.
        ok &= np.cumsum(ok, axis=1) <= MITM_MAX_VALID
        width = max(1, int(ok.sum(1).max()))
        order = _valid_first(ok)[:, :width]
        half_units.append((np.take_along_axis(units_of, order, 1), np.take_along_axis(ok, order, 1)))
    bias_units = lay.in_blocks * r1 + np.arange(lay.rho) if lay.bias_block else np.zeros(0, dtype=np.int64)
    cols_b = bias_units * taps + _centre(spec)
    mult_b = b1[bias_units]
    copy_units, neuron, const_units = _rows_out(lay, specs, l)
    shape = (lay.units[1], lay.units[0] * taps)
    kept = _Sparse(shape)
    used_units = np.zeros(lay.units[0], dtype=bool)
    R = copy_units.size
    acc = _Errors(R, d_in, halves=halves, bias=spec.bias is not None)
    w_t = spec.weight.numpy()
    step = max(1, _ROWS_PER_CALL // max(1, d_in))
    for s0 in range(0, R, step):
        us = copy_units[s0 : s0 + step]
        W2 = source_weight_rows(seed, lay, specs, 2, int(us[0]), int(us[-1]) + 1)
        tgt = w_t[neuron[us]]  # (rows, d_in)
        sl = slice(s0, s0 + us.size)
        for half in range(halves):
            units_h, ok_h = half_units[half]
            cols_h = units_h * taps + tap[:, None]
            cand = W2[:, cols_h] * a[units_h][None]  # (rows, d_in, K): only this half's units
            width = cand.shape[-1]
            valid = np.broadcast_to(ok_h, cand.shape)
            m, real, absum, ex = _solve(
                cand.reshape(-1, width),
                tgt.reshape(-1),
                valid.reshape(-1, width),
                np.full(tgt.size, tw),
                device,
            )
            m = m.reshape(cand.shape)
            acc.weights(sl, half, real, tgt, absum, ex)
            ri, qi, ki = np.nonzero(m)
            kept.add(us[ri], cols_h[qi, ki], W2[ri, cols_h[qi, ki]])
            used_units[units_h[qi, ki]] = True
        if spec.bias is not None:
            ki = acc.bias(sl, us, W2, cols_b, mult_b, spec.bias.numpy()[neuron[us]], tb, device, kept)
            used_units[bias_units[ki]] = True
    eta, abs_c, used = _constants(seed, lay, specs, 2, const_units, cols_b, mult_b, tc, device, kept)
    used_units[bias_units[used]] = True
    err, failed, limit = acc.finish(tw, tb)
    # Float64 rounding of the realised sums (Higham gamma_{k+1} sum |terms|), added to every error norm.
    g = gamma(lay.r1 + 1, FLOAT64_ROUNDOFF)
    const_err = float(np.linalg.norm(eta)) + g * float(np.linalg.norm(abs_c)) if eta.size else 0.0
    rows, cols, vals = kept.arrays()
    # The univariate units: one kept weight each (regular units), or the bias only (bias units).
    reg_units = used_units & (unit_block < lay.in_blocks)
    bias_kept = used_units & (unit_block >= lay.in_blocks)
    # ||A_1 x||^2 = sum_i x_i^2 sum_{kept u in block i} a_u^2: the norm is the largest block's root sum.
    first_abs = (
        math.sqrt(float(np.bincount(unit_block[reg_units], weights=a[reg_units] ** 2).max()))
        if reg_units.any()
        else 0.0
    )
    # |M| of the second source layer times the univariate values: rows sum |w2| |a| (Hölder bound).
    abs_op = _norm_bound(rows, cols, np.abs(vals), shape)
    return {
        "w1": w1,
        "b1": b1,
        "reg_units": reg_units,
        "bias_kept": bias_kept,
        "unit_block": unit_block,
        "a": a,
        "kept_entries": (rows, cols, vals),
        "shape": shape,
        "copy_op": 0.0,
        **acc.norms(g, lay.copies[0]),
        "const_op": 0.0,
        "const_prop": 0.0,
        "const_err": const_err,
        "abs_op": abs_op,
        "abs_bias": float(np.linalg.norm(b1[bias_kept])),
        "first_abs_op": first_abs,
        "max_op": 0.0,
        "max_const_op": 0.0,
        "terms": _max_row_terms(rows, shape),
        "e_plus": acc.e_plus,
        "e_minus": acc.e_minus,
        "errors": err,
        "failed": failed,
        "limit": limit,
        "kept": int(vals.size + reg_units.sum() + bias_kept.sum()),
    }


def _build_later(lay: _Layout, specs, l: int, *, seed, tol, device, halves) -> dict:
    """Source layer ``l + 2`` for target layer ``l >= 1`` (SubsetSums over the edges from the copies)."""
    tw, tb, tc = tol
    spec = specs[l]
    d_in = spec.weight.shape[1]
    cols, const_cols = _colmap(lay, specs, l)
    n_c = cols.shape[1]
    copy_units, neuron, const_units = _rows_out(lay, specs, l)
    ones = np.ones(const_cols.size)
    s = l + 2
    shape = (lay.units[s - 1], _in_features(lay, specs, s))
    kept = _Sparse(shape)
    R = copy_units.size
    acc = _Errors(R, d_in, halves=1, bias=spec.bias is not None)
    w_t = spec.weight.numpy()
    step = max(1, _ROWS_PER_CALL // max(1, d_in))
    for s0 in range(0, R, step):
        us = copy_units[s0 : s0 + step]
        W = source_weight_rows(seed, lay, specs, s, int(us[0]), int(us[-1]) + 1)
        cand = W[:, cols]  # (rows, d_in, rho)
        tgt = w_t[neuron[us]]
        m, real, absum, ex = _solve(
            cand.reshape(-1, n_c),
            tgt.reshape(-1),
            np.ones((tgt.size, n_c), bool),
            np.full(tgt.size, tw),
            device,
        )
        m = m.reshape(cand.shape)
        sl = slice(s0, s0 + us.size)
        acc.weights(sl, 0, real, tgt, absum, ex)
        ri, qi, ki = np.nonzero(m)
        kept.add(us[ri], cols[qi, ki], W[ri, cols[qi, ki]])
        if spec.bias is not None:
            acc.bias(sl, us, W, const_cols, ones, spec.bias.numpy()[neuron[us]], tb, device, kept)
    eta, abs_c, _ = _constants(seed, lay, specs, s, const_units, const_cols, ones, tc, device, kept)
    err, failed, limit = acc.finish(tw, tb)
    g = gamma(n_c + 1, FLOAT64_ROUNDOFF)
    const_err = float(np.linalg.norm(eta)) + g * float(np.linalg.norm(abs_c)) if eta.size else 0.0
    copies = lay.copies[l]
    max_op = spectral_norm(_worst_copy(acc.abs_w, copies))
    rows, cols_k, vals = kept.arrays()
    is_copy_row = rows < R
    const_col_set = np.zeros(shape[1], dtype=bool)
    if lay.need_const[l - 1]:
        const_col_set[const_cols] = True
    is_const_col = const_col_set[cols_k]
    sel = is_copy_row & ~is_const_col
    copy_op = _norm_bound(rows[sel], cols_k[sel], vals[sel], shape)
    sel = is_copy_row & is_const_col
    const_op = _norm_bound(rows[sel], cols_k[sel], vals[sel], shape)
    bias_rows = np.sqrt(np.bincount(rows[sel], weights=vals[sel] ** 2, minlength=R)[:R])
    max_const_op = float(_worst_copy(torch.from_numpy(bias_rows), copies).norm())
    sel = ~is_copy_row & is_const_col
    const_prop = _norm_bound(rows[sel], cols_k[sel], vals[sel], shape)
    return {
        "kept_entries": (rows, cols_k, vals),
        "shape": shape,
        "copy_op": copy_op,
        **acc.norms(g, copies),
        "const_op": const_op,
        "const_prop": const_prop,
        "max_op": max_op,
        "max_const_op": max_const_op,
        "const_err": const_err,
        "abs_op": _norm_bound(rows, cols_k, np.abs(vals), shape),
        "terms": _max_row_terms(rows, shape),
        "e_plus": acc.e_plus,
        "e_minus": None,
        "errors": err,
        "failed": failed,
        "limit": limit,
        "kept": int(vals.size),
    }


def _modules(lay: _Layout, specs, built: list[dict], device: torch.device) -> list[DepthLayer]:
    """The ``L + 1`` pruned source layers as modules."""
    first, spec0 = built[0], specs[0]
    n_units = lay.units[0]
    w1 = np.zeros_like(first["w1"])
    idx = np.nonzero(first["reg_units"])[0]
    w1[idx, first["unit_block"][idx]] = first["w1"][idx, first["unit_block"][idx]]
    b1 = np.where(first["bias_kept"], first["b1"], 0.0)
    if spec0.kind == "conv":
        w1_t = torch.from_numpy(w1).reshape(n_units, -1, 1, 1)
        cfg1 = {"stride": (1, 1), "padding": (0, 0)}
    else:
        w1_t = torch.from_numpy(w1).to_sparse_coo().coalesce()
        cfg1 = None
    mods = [
        DepthLayer(
            spec0.kind,
            w1_t.to(device),
            torch.from_numpy(b1).to(device),
            conv=cfg1,
            flatten_before=spec0.flatten_before,
            relu=True,
        )
    ]
    for l, out in enumerate(built):
        spec = specs[l]
        rows, cols, vals = out["kept_entries"]
        shape = out["shape"]
        last = l == len(specs) - 1
        if spec.kind == "conv":
            m = np.zeros(shape)
            m[rows, cols] = vals
            kh, kw = spec.conv["kernel_size"]
            w = torch.from_numpy(m).reshape(shape[0], -1, kh, kw)
        else:
            w = torch.sparse_coo_tensor(
                np.stack([rows, cols]), vals, shape, dtype=torch.float64, check_invariants=True
            ).coalesce()
        mods.append(
            DepthLayer(
                spec.kind,
                w.to(device),
                None,
                conv=spec.conv,
                flatten_before=spec.flatten_before,
                relu=(not last) or spec.relu,
            )
        )
    return mods
