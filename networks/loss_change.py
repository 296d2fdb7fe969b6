"""Choosing mask swaps by their predicted loss change: first-order, random and interaction-aware rules.

A swap set flips kept weights out and removed weights in; flipping weight ``i`` moves the effective
weight by ``c_i = (1 - 2 m_i) w_i`` (``-w_i`` to remove, ``+w_i`` to add), so a set ``S`` moves it by
``v_S = c * 1_S`` and, to second order, changes the loss by ``Q(S) = g.v_S + 1/2 v_S.H v_S``
(algorithms.md §5.1; ``g``, ``H v`` from :mod:`networks.hvp`). Counts are kept per layer (as many in as
out in every layer, split over layers by :func:`allocate`), so every layer keeps its density, as
Edge-Popup and RigL do.

* :func:`first_order_swaps`: per layer the kept / removed weights with the most negative ``g_i c_i``
  (what EP's score gradient ``g * w`` and RigL's gradient criterion rank by).
* :func:`second_order_swaps`: prune set first, then the regrow set given the pruned set, greedily in
  chunks using ``H v_S`` (one HVP per chunk), kept only when the quadratic model prefers it.
* :func:`random_swaps`: uniformly random swaps with the same per-layer counts (a control).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from networks.hvp import dot, effective_params, loss_grad_hvp, masked_modules
from theory.validate import check_int

__all__ = [
    "allocate",
    "candidate_directions",
    "first_order_swaps",
    "random_swaps",
    "second_order_swaps",
    "selection_direction",
    "swap_capacities",
]


def allocate(k: int, capacities: Sequence[int]) -> list[int]:
    """Split ``k`` swaps over layers proportionally to their capacities (largest remainder).

    Args:
        k: Total number of swaps (drops, and as many grows).
        capacities: Per layer ``min(kept, removed)``.

    Returns:
        Per-layer counts summing to ``k``, each at most its capacity.

    Raises:
        ValueError: If ``k`` exceeds the total capacity.
    """
    caps = np.asarray(capacities, dtype=np.int64)
    total = int(caps.sum())
    k = check_int("k", k, 0, total)
    raw = k * caps / max(total, 1)
    base = np.floor(raw).astype(np.int64)
    rem = k - int(base.sum())
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:rem]] += 1
    return [int(b) for b in base]


def candidate_directions(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per masked layer: the current bool mask and the direction ``c = (1 - 2 m) * w`` of flipping each bit.

    ``c_i`` is ``-w_i`` for a kept weight (removing it) and ``+w_i`` for a removed one (adding it); the
    move of a swap set ``S`` is ``v = c * 1_S``.
    """
    masks, dirs = {}, {}
    with torch.no_grad():
        for name, mod in masked_modules(model).items():
            m = mod.mask().to(torch.bool)
            masks[name] = m
            dirs[name] = torch.where(m, -mod.weight, mod.weight).detach()
    return masks, dirs


def swap_capacities(masks: Mapping[str, Any]) -> list[int]:
    """Per layer, the most swaps it can take: ``min(kept, removed)`` of its bool mask."""
    return [int(min(int(m.sum()), m.numel() - int(m.sum()))) for m in masks.values()]


def _smallest(score: Any, eligible: Any, count: int) -> Any:
    """Bool mask of the ``count`` smallest ``score`` entries among ``eligible`` (ties by index)."""
    out = torch.zeros(score.numel(), dtype=torch.bool, device=score.device)
    if count <= 0:
        return out.view(score.shape)
    masked = torch.where(
        eligible.reshape(-1), score.reshape(-1), torch.full_like(score.reshape(-1), math.inf)
    )
    idx = torch.topk(masked, count, largest=False, sorted=False).indices
    out[idx] = True
    return out.view(score.shape)


def first_order_swaps(model: Any, g: Mapping[str, Any], k: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first-order rule: per layer, the kept and the removed weights with the most negative ``g_i c_i``.

    Args:
        model: The masked model.
        g: Dense gradient w.r.t. the effective weights (``networks.hvp.loss_and_grad``).
        k: Total swaps, split over layers by :func:`allocate`.

    Returns:
        ``(drop, grow)``: dicts weight-name -> bool mask.
    """
    masks, dirs = candidate_directions(model)
    counts = allocate(k, swap_capacities(masks))
    drop, grow = {}, {}
    for (name, m), kl in zip(masks.items(), counts, strict=True):
        f = g[name] * dirs[name]
        drop[name] = _smallest(f, m, kl)
        grow[name] = _smallest(f, ~m, kl)
    return drop, grow


def random_swaps(model: Any, k: int, generator: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Uniformly random swaps: per layer ``k_l`` random kept weights out, ``k_l`` random removed ones in."""
    masks, _ = candidate_directions(model)
    counts = allocate(k, swap_capacities(masks))
    drop, grow = {}, {}
    for (name, m), kl in zip(masks.items(), counts, strict=True):
        keys = torch.rand(m.shape, generator=generator, dtype=torch.float64).to(m.device)
        drop[name] = _smallest(keys, m, kl)
        grow[name] = _smallest(keys, ~m, kl)
    return drop, grow


def selection_direction(
    dirs: Mapping[str, Any], drop: Mapping[str, Any], grow: Mapping[str, Any]
) -> dict[str, Any]:
    """The move ``v = c * (drop | grow)`` of a swap, from :func:`candidate_directions`' ``c``."""
    return {n: dirs[n] * (drop[n] | grow[n]).to(dirs[n].dtype) for n in dirs}


def _split(n: int, parts: int) -> list[int]:
    base, extra = divmod(n, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def second_order_swaps(
    model: Any,
    batch: Sequence[Any],
    g: Mapping[str, Any],
    k: int,
    *,
    chunks: int = 4,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The interaction-aware rule: prune set first, then the regrow set given the pruned set.

    Under the quadratic model ``Q(S) = g.v_S + 1/2 v_S.H v_S`` the marginal change from adding a flip
    ``i`` to a set ``S`` is ``g_i c_i + c_i (H v_S)_i + 1/2 H_ii c_i^2`` (algorithms.md §5.1). We drop
    the diagonal term (cheap mode of algorithms.md §5.2, ``h_i := 0``) and choose greedily in
    ``chunks`` chunks per phase: each chunk takes, per layer, the candidates with the smallest
    ``g_i c_i + c_i (H v_S)_i`` given everything chosen so far (drops first, then grows conditioned on
    the drops), then one HVP updates ``H v_S``. Finally the quadratic model compares this set with the
    first-order set and the better-predicted one is returned (``fallback`` says when that was the
    first-order set), so the rule never predicts worse than the first-order rule. Source: this
    toolkit's own proposal (algorithms.md §5.2, marked PROPOSAL there; no published rule was found).

    Args:
        model: The masked model (eval mode recommended: the loss must be one fixed function).
        batch: ``(x, y)`` the loss is measured on.
        g: Dense gradient at the current effective weights.
        k: Total swaps (k out, k in), split over layers by :func:`allocate`.
        chunks: Greedy chunks per phase (one HVP each).
        params: Current effective weights (default: ``networks.hvp.effective_params(model)``).

    Returns:
        Dict with ``drop``, ``grow`` (bool masks), ``v``, ``Hv``, ``predicted_first`` and
        ``predicted_second`` (of the returned set), ``fallback`` (bool) and ``hvps`` (count).
    """
    params = effective_params(model) if params is None else params
    masks, dirs = candidate_directions(model)
    counts = allocate(k, swap_capacities(masks))
    chosen = {n: torch.zeros_like(m) for n, m in masks.items()}
    u = {n: torch.zeros_like(d) for n, d in dirs.items()}
    hvps = 0

    def hv_of(v: Mapping[str, Any]) -> dict[str, Any]:
        nonlocal hvps
        hvps += 1
        return loss_grad_hvp(model, batch, [v], params=params)[2][0]

    for phase_mask in (lambda m: m, lambda m: ~m):  # drops (kept weights), then grows (removed weights)
        plan = {n: _split(kl, chunks) for n, kl in zip(masks, counts, strict=True)}
        for c in range(chunks):
            if not any(plan[n][c] for n in masks):
                continue
            for n, m in masks.items():
                score = g[n] * dirs[n] + dirs[n] * u[n]
                eligible = phase_mask(m) & ~chosen[n]
                chosen[n] |= _smallest(score, eligible, plan[n][c])
            u = hv_of({n: dirs[n] * chosen[n].to(dirs[n].dtype) for n in dirs})
    v2 = {n: dirs[n] * chosen[n].to(dirs[n].dtype) for n in dirs}
    u2 = u if hvps else {n: torch.zeros_like(d) for n, d in dirs.items()}
    q2 = dot(g, v2) + 0.5 * dot(v2, u2)
    d1, g1 = first_order_swaps(model, g, k)
    v1 = selection_direction(dirs, d1, g1)
    u1 = hv_of(v1)
    q1 = dot(g, v1) + 0.5 * dot(v1, u1)
    fallback = q1 < q2
    if fallback:
        drop, grow, v, hv, q = d1, g1, v1, u1, q1
    else:
        drop = {n: chosen[n] & masks[n] for n in masks}
        grow = {n: chosen[n] & ~masks[n] for n in masks}
        v, hv, q = v2, u2, q2
    return {
        "drop": drop,
        "grow": grow,
        "v": v,
        "Hv": hv,
        "predicted_first": dot(g, v),
        "predicted_second": q,
        "fallback": bool(fallback),
        "hvps": hvps,
    }
