"""Exact quantized tickets (Kumar & Natale, arXiv 2508.11020, Theorem 1 / Lemmas 5 and 7; reference §11).

A target ``f(x) = W_L relu(... relu(W_1 x))`` (ReLU, no biases) with weights in ``S_{delta_t}``
(``S_delta = {-1, -1 + delta, ..., 1}``, ``delta = 2^-k``) is represented **exactly** by pruning a random
depth-2L network whose weights are uniform on ``S_delta minus {0}`` (zero rejected, as in Lemma 5's proof),
when ``delta^2 <= delta_t``:

* target layer ``W`` (``d_out x d_in``) becomes a first source layer ``U`` with a block of ``width``
  hidden units per input neuron ``j`` (Lemma 7: ``M_{2i-1}`` has ``C d_{i-1} log2(1/delta)`` rows; after
  pruning unit ``i`` of block ``j`` keeps only its weight ``u_i`` on input ``j``), a ReLU, and a second
  source layer ``V`` (``d_out x d_in width``);
* ``w x = relu(w x) - relu(-w x)``: units with ``u_i > 0`` carry ``x_j >= 0``, those with ``u_i < 0``
  carry ``x_j < 0``, so each weight ``W_kj`` must be a subset sum of the products ``v_ki u_i`` of each half
  (Lemma 5's ``Z_i = b_i a_i^+``). The products lie on the ``delta^2`` grid, as does ``W_kj``
  (``delta_t >= delta^2``): in units of ``delta^2`` every instance is integer SubsetSum, solved by the
  project's exact engine (``theory.best_subsets``, exact in float64 for integers below ``2**53``) and
  every kept subset's sum re-checked in Python integers;
* no rounding ``[.]_gamma`` is needed: every value the pruned network computes on ``delta_in``-grid
  inputs is a dyadic rational, kept here as a scaled integer (:func:`exact_forward`).

Biases (not in §11.2's networks) are folded exactly: a target with biases becomes a bias-free one on the
input ``(x, 1)``, each hidden layer carrying the constant unit on (``relu(1) = 1``):
``[[W, b], [0, 1]]`` (:func:`fold_biases`).

This is a function, not a ``construct_ticket`` method: the registered methods draw U[-1, 1] sources and
certify an approximation error through float Lipschitz bounds, while this construction works on integer
grids and its check is equality in exact arithmetic (error 0), a different contract.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np

import theory
from theory.subset_sum import integer

__all__ = [
    "QuantizedTicket",
    "construct_quantized_ticket",
    "exact_forward",
    "fold_biases",
    "needed_widths",
    "quantize",
    "random_quantized_target",
    "verify_exact",
]


def _level(name: str, delta: float) -> int:
    """``k`` with ``delta = 2^-k`` (``k >= 1``)."""
    k = -math.log2(float(delta)) if float(delta) > 0 else math.inf
    if not (math.isfinite(k) and k >= 1 and k == round(k)):
        raise ValueError(f"{name} must be 2^-k with integer k >= 1, got {delta!r}")
    return round(k)


def quantize(weight: Any, delta_t: float) -> np.ndarray:
    """Round ``weight`` (entries in [-1, 1]) to ``S_{delta_t}``; returns the integers ``w / delta_t``."""
    kt = _level("delta_t", delta_t)
    w = np.asarray(weight, dtype=np.float64)
    if w.size and float(np.abs(w).max()) > 1.0:
        raise ValueError(
            f"weights must lie in [-1, 1] to be quantized to S_delta_t, max |w| = {np.abs(w).max()}"
        )
    return np.rint(w * 2**kt).astype(np.int64)


def fold_biases(layers: list[np.ndarray], biases: list[np.ndarray | None], one: int) -> list[np.ndarray]:
    """Integer layers with biases as bias-free layers on ``(x, 1)`` (module docstring): exact.

    ``[[W, b], [0, one]]`` for every hidden layer and ``[W, b]`` for the last, where ``one`` is the
    integer of 1.0 on the weights' grid (``2^kt``) and a bias of None is a zero column.
    """
    out = []
    last = len(layers) - 1
    for i, (w, b) in enumerate(zip(layers, biases, strict=True)):
        w = np.asarray(w, dtype=np.int64)
        col = np.zeros((w.shape[0], 1), dtype=np.int64) if b is None else np.asarray(b, np.int64)[:, None]
        aug = np.concatenate([w, col], axis=1)
        if i < last:
            const = np.zeros((1, aug.shape[1]), dtype=np.int64)
            const[0, -1] = one
            aug = np.concatenate([aug, const], axis=0)
        out.append(aug)
    return out


def random_quantized_target(widths: list[int], delta_t: float, rng: np.random.Generator) -> list[np.ndarray]:
    """A ``delta_t``-quantized bias-free target: integer layers uniform on ``S_{delta_t}`` (zero included)."""
    kt = _level("delta_t", delta_t)
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths must list d_0, ..., d_L (>= 1 each, L >= 1), got {widths!r}")
    return [
        rng.integers(-(2**kt), 2**kt + 1, size=(widths[i + 1], widths[i])) for i in range(len(widths) - 1)
    ]


@dataclasses.dataclass
class QuantizedTicket:
    """A pruned depth-2L source representing a quantized target (integers in units of ``delta``).

    Attributes:
        u: Per target layer, ``(d_in, width)`` first-layer weights (integers, times ``delta``); unit ``i``
            of block ``j`` has the single weight ``u[j, i]`` on input ``j`` after pruning.
        v: Per target layer, ``(d_out, d_in, width)`` second-layer weights (integers, times ``delta``).
        keep: Per target layer, ``(d_out, d_in, width)`` boolean mask of the kept second-layer weights.
        solved: Per target layer, ``(d_out, d_in)``: both halves of the weight hit exactly.
        delta: Source precision; ``delta_t``: target precision; ``width``: units per input neuron.
    """

    u: list[np.ndarray]
    v: list[np.ndarray]
    keep: list[np.ndarray]
    solved: list[np.ndarray]
    delta: float
    delta_t: float
    width: int

    @property
    def ok(self) -> bool:
        """Every weight of every layer solved exactly."""
        return all(bool(s.all()) for s in self.solved)

    @property
    def source_params(self) -> int:
        """Parameters of the dense random source (both layers of every block pair)."""
        return int(
            sum(u.shape[0] * u.shape[1] * u.shape[0] + v.size for u, v in zip(self.u, self.v, strict=True))
        )

    @property
    def kept_params(self) -> int:
        """Nonzero parameters after pruning: used first-layer units plus kept second-layer weights."""
        used = sum(int(k.any(axis=0).sum()) for k in self.keep)
        return used + int(sum(int(k.sum()) for k in self.keep))


def _draw_source(widths: list[int], delta: float, width: int, seed: Any):
    """Source weights on ``S_delta minus {0}``, drawn unit-major from one child stream per layer and factor.

    Unit-major order makes the blocks nested: the source of width ``w`` is the first ``w`` units of every
    block of the source of any larger width from the same seed (so needed widths are monotone).
    """
    k = _level("delta", delta)
    streams = np.random.SeedSequence(seed).spawn(2 * (len(widths) - 1))
    us, vs = [], []
    for i, (d_in, d_out) in enumerate(itertools.pairwise(widths)):
        ru, rv = (np.random.default_rng(s) for s in streams[2 * i : 2 * i + 2])
        us.append(np.ascontiguousarray(integer.draw_nonzero(ru, 2**k, (width, d_in)).T))
        vs.append(
            np.ascontiguousarray(np.moveaxis(integer.draw_nonzero(rv, 2**k, (width, d_out, d_in)), 0, -1))
        )
    return us, vs


def _check_precisions(delta: float, delta_t: float) -> tuple[int, int]:
    k, kt = _level("delta", delta), _level("delta_t", delta_t)
    if kt > 2 * k:
        raise ValueError(f"delta_t must be >= delta^2 (Theorem 1), got delta_t = 2^-{kt}, delta = 2^-{k}")
    return k, kt


def _layer_halves(u: np.ndarray, v: np.ndarray, w: np.ndarray, shift: int):
    """Per row ``(k, j)``: the products ``v_kji u_ji``, the units of each half, the target (delta^2 units)."""
    prods = (v * u[None, :, :]).reshape(-1, u.shape[1])  # (d_out d_in, width)
    tgt = (np.asarray(w, dtype=np.int64) << shift).reshape(-1)
    unit_sign = np.broadcast_to(np.sign(u)[None], v.shape).reshape(-1, u.shape[1])
    return prods, {"plus": unit_sign > 0, "minus": unit_sign < 0}, tgt


def _valid_first(valid: np.ndarray) -> np.ndarray:
    """Per row, the column order with the valid columns first, each part in column order.

    A stable partition, not a selection by value: valid column ``c`` goes to ``#valid before c``, an
    invalid one after all valid ones.
    """
    n_valid = valid.sum(axis=1, keepdims=True)
    dest = np.where(valid, np.cumsum(valid, axis=1) - 1, n_valid + np.cumsum(~valid, axis=1) - 1)
    order = np.empty_like(dest)
    np.put_along_axis(order, dest, np.broadcast_to(np.arange(valid.shape[1]), valid.shape), axis=1)
    return order


def _first_units(prods: np.ndarray, valid: np.ndarray, tgt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, how many candidates of the half first hit the target, and the units that takes.

    ``(count, units)``: ``count`` candidates of the half (``0`` for a zero weight: the empty subset;
    ``> number of candidates`` when none hits), reached within the first ``units`` units of the block
    (``width + 1`` when none). Decided by :func:`theory.subset_sum.integer.first_hit` (exact, verified).
    """
    rows, width = prods.shape
    count = np.zeros(rows, dtype=np.int64)
    units = np.zeros(rows, dtype=np.int64)
    n_valid = valid.sum(axis=1)
    todo = np.flatnonzero((tgt != 0) & (n_valid > 0))
    units[(tgt != 0) & (n_valid == 0)] = width + 1
    count[(tgt != 0) & (n_valid == 0)] = 1
    if todo.size:
        order = _valid_first(valid[todo])  # the half's candidates first, in unit order
        seqs = np.take_along_axis(prods[todo], order, 1)
        # Past the half's own candidates, pad with zeros: they add no sum, so a hit needs a real candidate.
        seqs = np.where(np.arange(width)[None] < n_valid[todo, None], seqs, 0)
        c = integer.first_hit(seqs, tgt[todo])
        miss = c > n_valid[todo]
        pos = np.take_along_axis(order, np.minimum(c, width)[:, None] - 1, 1)[:, 0]
        count[todo] = np.where(miss, n_valid[todo] + 1, c)
        units[todo] = np.where(miss, width + 1, pos + 1)
    return count, units


def needed_widths(
    target: list[np.ndarray], *, delta_t: float, delta: float, max_width: int, seed: Any
) -> list[np.ndarray]:
    """Per weight, the smallest block width at which both halves hit exactly (``max_width + 1``: none).

    The source is the one :func:`construct_quantized_ticket` draws from ``seed`` (nested blocks, so a
    weight solved at width ``w`` stays solved at every larger width of the same seed).
    """
    k, kt = _check_precisions(delta, delta_t)
    widths = [target[0].shape[1], *(w.shape[0] for w in target)]
    us, vs = _draw_source(widths, delta, int(max_width), seed)
    out = []
    for u, v, w in zip(us, vs, target, strict=True):
        prods, valid, tgt = _layer_halves(u, v, w, 2 * k - kt)
        need = np.maximum(*(_first_units(prods, valid[h], tgt)[1] for h in ("plus", "minus")))
        out.append(need.reshape(w.shape))
    return out


def construct_quantized_ticket(
    target: list[np.ndarray], *, delta_t: float, delta: float, width: int, seed: Any
) -> QuantizedTicket:
    """Draw the random ``delta``-quantized source and prune it to represent ``target`` exactly.

    Per weight and half, the shortest prefix of the half's candidates with an exact hit is found first
    (:func:`_first_units`); the subset is then solved by ``theory.best_subsets`` on that prefix only (the
    fewest candidates that can work, so the meet in the middle stays small) and its sum re-checked in
    Python integers.

    Args:
        target: Integer layers ``W_l`` (``(d_l, d_{l-1})``, values ``W_l * delta_t`` in ``S_{delta_t}``).
        delta_t: Target precision ``2^-kt``.
        delta: Source precision ``2^-k`` with ``delta^2 <= delta_t``.
        width: Hidden units per input neuron (both ReLU halves), ``>= 1``.
        seed: Entropy of the source (an int or a sequence of ints, as ``numpy.random.SeedSequence`` takes;
            the same seed always gives the same source).

    Returns:
        The :class:`QuantizedTicket` (``ok`` False when some weight has no exact subset at this width).

    Raises:
        ValueError: On precisions outside Theorem 1's range or a target off its grid.
        RuntimeError: When a prefix needs more than ``theory.subset_sum.MAX_N`` candidates (the engine's
            limit) or an engine answer disagrees with the integer check.
    """
    k, kt = _check_precisions(delta, delta_t)
    if int(width) < 1:
        raise ValueError(f"width must be >= 1, got {width!r}")
    widths = [target[0].shape[1], *(w.shape[0] for w in target)]
    for i, w in enumerate(target):
        if np.abs(w).max(initial=0) > 2**kt:
            raise ValueError(f"target[{i}] has entries outside S_delta_t (|w| > 1)")
    us, vs = _draw_source(widths, delta, int(width), seed)
    keeps, solved = [], []
    for u, v, w in zip(us, vs, target, strict=True):
        prods, valid, tgt = _layer_halves(u, v, w, 2 * k - kt)
        keep = np.zeros(prods.shape, dtype=bool)
        ok = np.ones(prods.shape[0], dtype=bool)
        for half in ("plus", "minus"):
            count, units = _first_units(prods, valid[half], tgt)
            hit = units <= width
            ok &= hit
            rows = np.flatnonzero(hit & (count > 0))
            if not rows.size:
                continue
            n = int(count[rows].max())
            if n > theory.subset_sum.MAX_N:
                raise RuntimeError(
                    f"a weight needs {n} candidates, beyond the exact engine's {theory.subset_sum.MAX_N}"
                )
            order = _valid_first(valid[half][rows])[:, :n]
            cand = np.take_along_axis(prods[rows], order, 1)
            sel = np.arange(n)[None] < count[rows, None]
            sol = theory.best_subsets(cand.astype(np.float64), tgt[rows].astype(np.float64), valid=sel)
            masks = np.asarray(sol.masks, dtype=bool) & sel
            # Exact integer check of the engine's answers: int64 is exact here, since first_hit already
            # refused any row whose |values| sum reaches 2**53.
            missed = np.flatnonzero(np.where(masks, cand, 0).sum(axis=1, dtype=np.int64) != tgt[rows])
            if missed.size:
                r = int(rows[missed[0]])
                raise RuntimeError(f"row {r}: the engine's subset misses a target the integer check hits")
            keep[np.broadcast_to(rows[:, None], masks.shape)[masks], order[masks]] = True
        keeps.append(keep.reshape(v.shape))
        solved.append(ok.reshape(w.shape))
    return QuantizedTicket(us, vs, keeps, solved, float(delta), float(delta_t), int(width))


def _exact_dtype(x: np.ndarray, factors: list[float]) -> Any:
    """int64 when no partial sum can reach 2**62 (then int64 arithmetic is exact), else Python ints."""
    bound = float(np.abs(np.asarray(x, dtype=np.float64)).max(initial=0.0)) + 1.0
    for f in factors:
        bound *= f
    return np.int64 if bound < 2.0**62 else object


def exact_forward(ticket: QuantizedTicket, x: np.ndarray) -> np.ndarray:
    """The pruned network on integer inputs ``x`` (``(batch, d_0)``, any fixed grid), in exact integers.

    Returns integers in units of ``(delta^2)^L`` times the input's unit (``(batch, d_L)``): int64 when a
    bound on every partial sum (``max|x|`` times, per layer, ``max|u| max|v| d_in width``) stays below
    ``2**62``, Python integers otherwise, so never a rounded value.
    """
    factors = [
        float(np.abs(u).max(initial=1)) * float(np.abs(v).max(initial=1)) * u.size
        for u, v in zip(ticket.u, ticket.v, strict=True)
    ]
    dtype = _exact_dtype(x, factors)
    h = np.asarray(x).astype(dtype)
    last = len(ticket.u) - 1
    for i, (u, v, keep) in enumerate(zip(ticket.u, ticket.v, ticket.keep, strict=True)):
        hidden = np.maximum(h[:, :, None] * u.astype(dtype)[None], 0)  # (batch, d_in, width): relu(u_i x_j)
        kept = np.where(keep, v, 0).astype(dtype)
        y = hidden.reshape(len(h), -1) @ kept.reshape(kept.shape[0], -1).T
        h = y if i == last else np.maximum(y, 0)
    return h


def target_forward(target: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The target on integer inputs, exactly (units ``delta_t^L`` times the input's unit; as above)."""
    factors = [float(np.abs(w).max(initial=1)) * w.shape[1] for w in target]
    dtype = _exact_dtype(x, factors)
    h = np.asarray(x).astype(dtype)
    for i, w in enumerate(target):
        h = h @ np.asarray(w).astype(dtype).T
        if i < len(target) - 1:
            h = np.maximum(h, 0)
    return h


def verify_exact(ticket: QuantizedTicket, target: list[np.ndarray], x: np.ndarray) -> dict:
    """Exact checks of a solved ticket: effective maps equal ``W`` (all inputs), forward equal on ``x``.

    The effective map of a block pair is, per half, ``sum_{kept i, sign u_i} v_ki u_i`` (delta^2 units); it
    must equal ``W_kj`` in both halves (then ``W x = relu`` part ``-`` ``relu`` part for every input). The
    forward pass on ``x`` compares the two networks in Python integers at a common unit.
    """
    k, kt = _level("delta", ticket.delta), _level("delta_t", ticket.delta_t)
    maps_equal = True
    for u, v, keep, w in zip(ticket.u, ticket.v, ticket.keep, target, strict=True):
        prods = (v * u[None]).astype(object)
        for sign in (1, -1):
            eff = np.where(keep & (np.sign(u)[None] == sign), prods, 0).sum(axis=-1)
            maps_equal &= bool(np.all(eff == (np.asarray(w).astype(object) * 2 ** (2 * k - kt))))
    depth = len(target)
    src = exact_forward(ticket, x).astype(object)  # Python integers: the rescaling below cannot overflow
    tgt = target_forward(target, x).astype(object) * (2 ** ((2 * k - kt) * depth))
    diff = np.abs(src - tgt)
    return {
        "maps_equal": maps_equal,
        "forward_equal": bool(np.all(diff == 0)),
        "max_diff": int(diff.max(initial=0)),
    }
