"""Mask swaps and their predicted loss change: directions, Taylor predictions, and the swap rules.

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
* :func:`marginal_scores`: THE second-order swap rule, the quadratic model's marginal loss change of
  each candidate given a proposed set; :func:`second_order_swaps` and second-order RigL
  (``networks.training.second_order_rigl``) both choose their sets by it.
* :func:`swap_direction`, :func:`apply_swap`, :func:`predict_loss_change`: the move of a mask change,
  the change itself, and its first- or second-order Taylor prediction.

Every set is chosen by :func:`networks.masks.bottom_count_mask` (the lowest scores, ties to the lowest
flat index).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from networks.hvp import Params, dot, effective_params, loss_grad_hvp, masked_modules
from networks.masks import bottom_count_mask
from theory.validate import check_int

__all__ = [
    "allocate",
    "apply_swap",
    "candidate_directions",
    "first_order_swaps",
    "marginal_scores",
    "predict_loss_change",
    "random_swaps",
    "second_order_swaps",
    "selection_direction",
    "swap_capacities",
    "swap_direction",
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
    return bottom_count_mask(score, max(int(count), 0), eligible)


def marginal_scores(
    g: torch.Tensor, v: torch.Tensor, u: torch.Tensor, in_set: torch.Tensor, h: torch.Tensor | None = None
) -> torch.Tensor:
    r"""The quadratic model's marginal loss change of each candidate move, given a proposed set ``S``.

    With ``Q(S) = g.v_S + 1/2 v_S.H v_S`` and ``u = H v_S`` (algorithms.md §5.1-5.2, this toolkit's
    PROPOSAL), the exact marginal effect of candidate ``i`` with its own move ``v_i`` is

        s_i = g_i v_i + v_i u_i - 1/2 h_i v_i^2     if i in S      (= Q(S) - Q(S \ i))
        s_i = g_i v_i + v_i u_i + 1/2 h_i v_i^2     if i not in S  (= Q(S + i) - Q(S))

    with ``h_i = H_ii`` (e.g. a Hutchinson estimate), or ``h_i := 0`` (cheap mode) when ``h`` is None.

    Args:
        g: Dense gradient.
        v: Each candidate's own move (``-w`` to drop, ``+w`` to add, ``-eta g`` for a one-step grow).
        u: ``H v_S`` for the proposed set ``S``.
        in_set: Bool, membership in ``S``.
        h: Diagonal Hessian estimate, or None for ``h := 0``.

    Returns:
        ``s`` with the shape of ``g`` (lower = more loss decrease).
    """
    s = g * v + v * u
    if h is not None:
        sign = torch.where(in_set, -0.5, 0.5).to(v.dtype)
        s = s + sign * h * v * v
    return s


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
                score = marginal_scores(g[n], dirs[n], u[n], chosen[n])
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


def predict_loss_change(
    g: Mapping[str, torch.Tensor],
    v: Mapping[str, torch.Tensor],
    Hv: Mapping[str, torch.Tensor] | None = None,
    *,
    order: int | None = None,
) -> float:
    """Taylor prediction of ``L(w_eff + v) - L(w_eff)``.

    First order: ``g.v``; second order: ``g.v + 1/2 v.(H v)`` (algorithms.md §5.1). Pass ``Hv`` by
    keyword when in doubt: the positional order is ``(g, v, Hv)``.

    Args:
        g: Dense gradient dict (from :func:`loss_and_grad`).
        v: Direction dict (e.g. :func:`swap_direction`).
        Hv: ``H v`` (from :func:`hvp`); needed for second order.
        order: 1 or 2; default 2 when ``Hv`` is given, else 1.

    Returns:
        The predicted loss change (float64).

    Raises:
        ValueError: If ``order`` is not 1 or 2, or order 2 is asked without ``Hv``.
    """
    order = (2 if Hv is not None else 1) if order is None else order
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    first = dot(g, v)
    if order == 1:
        return first
    if Hv is None:
        raise ValueError("order=2 needs Hv (the Hessian-vector product H v)")
    return first + 0.5 * dot(v, Hv)


def _as_bool_mask(sel: Any, shape: torch.Size, device: torch.device, what: str) -> torch.Tensor:
    t = torch.as_tensor(sel, device=device)
    if t.numel() == 0:
        return torch.zeros(shape, dtype=torch.bool, device=device)
    if t.dtype == torch.bool:
        if t.shape != shape:
            raise ValueError(f"{what}: bool mask has shape {tuple(t.shape)}, expected {tuple(shape)}")
        return t
    if t.is_floating_point():
        raise ValueError(f"{what}: give flat integer indices or a bool mask, got dtype {t.dtype}")
    idx = t.reshape(-1).long()
    n = math.prod(shape)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(f"{what}: flat indices must lie in [0, {n - 1}]")
    if torch.unique(idx).numel() != idx.numel():
        raise ValueError(f"{what}: repeated indices")
    out = torch.zeros(n, dtype=torch.bool, device=device)
    out[idx] = True
    return out.reshape(shape)


def _swap_masks(
    model: nn.Module, drop: Mapping[str, Any], grow: Mapping[str, Any]
) -> dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]]:
    masked = masked_modules(model)
    unknown = sorted((set(drop) | set(grow)) - set(masked))
    if unknown:
        raise ValueError(f"unknown masked weights {unknown}; valid names: {sorted(masked)}")
    out = {}
    for name, mod in masked.items():
        with torch.no_grad():
            current = mod.mask() if callable(getattr(mod, "mask", None)) else mod.effective_weight() != 0
        current = current.to(torch.bool)
        dev = current.device
        d = _as_bool_mask(drop.get(name, []), current.shape, dev, f"drop[{name!r}]")
        gr = _as_bool_mask(grow.get(name, []), current.shape, dev, f"grow[{name!r}]")
        if bool((d & ~current).any()):
            raise ValueError(f"drop[{name!r}] names weights that are not in the current mask")
        if bool((gr & current).any()):
            raise ValueError(f"grow[{name!r}] names weights that are already in the current mask")
        out[name] = (mod, current, d, gr)
    return out


def swap_direction(model: nn.Module, drop: Mapping[str, Any], grow: Mapping[str, Any]) -> Params:
    """The effective-weight move ``v = dm * w`` of a mask change (drop: ``dm = -1``, grow: ``dm = +1``).

    Args:
        model: The model; ``w`` is each masked layer's raw (frozen) ``weight``.
        drop: Weight-name -> flat indices or bool mask of currently kept weights to remove.
        grow: Weight-name -> flat indices or bool mask of currently removed weights to add.

    Returns:
        Dict over ALL masked layers (zeros where nothing changes), so ``effective_params + v`` is the
        effective weight after :func:`apply_swap`.

    Raises:
        ValueError: On unknown names, bad indices, dropping an unkept or growing a kept weight.
    """
    out = {}
    for name, (mod, _, d, gr) in _swap_masks(model, drop, grow).items():
        w = mod.weight.detach()
        out[name] = torch.where(d, -w, torch.where(gr, w, torch.zeros_like(w)))
    return out


def apply_swap(model: nn.Module, drop: Mapping[str, Any], grow: Mapping[str, Any]) -> None:
    """Change the masks in place: remove ``drop``, add ``grow``.

    ``mask_mode == "fixed"`` layers get their bool mask buffer edited (through ``set_mask`` when the
    layer has one). ``mask_mode == "scores"`` layers (Edge-Popup: mask = per-layer top-k of ``|scores|``)
    need as many grows as drops per layer; the scores of each dropped/grown pair are exchanged, which
    keeps the multiset of scores, hence the top-k threshold, and moves exactly those weights across it.
    The resulting ``mask()`` is checked against the intended one.

    Args:
        model: The model.
        drop: As in :func:`swap_direction`.
        grow: As in :func:`swap_direction`.

    Raises:
        ValueError: On invalid selections or unbalanced counts in a scores-mode layer.
        RuntimeError: If the layer's mask afterwards is not the intended one (ties in the scores).
    """
    plan = _swap_masks(model, drop, grow)
    with torch.no_grad():
        for name, (mod, current, d, gr) in plan.items():
            if not (d.any() or gr.any()):
                continue
            target = (current & ~d) | gr
            mode = getattr(mod, "mask_mode", None)
            if mode == "scores":
                nd, ng = int(d.sum()), int(gr.sum())
                if nd != ng:
                    raise ValueError(
                        f"{name}: a scores-mode layer keeps its density, "
                        f"so drops ({nd}) must equal grows ({ng})"
                    )
                scores = mod.scores
                flat = scores.data.view(-1)
                di = torch.nonzero(d.reshape(-1)).squeeze(1)
                gi = torch.nonzero(gr.reshape(-1)).squeeze(1)
                sd, sg = flat[di].clone(), flat[gi].clone()
                flat[di], flat[gi] = sg, sd
            elif callable(getattr(mod, "set_mask", None)):
                mod.set_mask(target)
            else:
                buf = _mask_buffer(mod)
                if buf is None:
                    raise ValueError(
                        f"{name}: cannot change the mask of {type(mod).__name__} (mask_mode={mode!r}); "
                        "supported: mask_mode 'scores', a set_mask() method, "
                        "or one bool buffer shaped like weight"
                    )
                buf.copy_(target)
            now = mod.mask() if callable(getattr(mod, "mask", None)) else mod.effective_weight() != 0
            if not torch.equal(now.to(torch.bool), target):
                raise RuntimeError(
                    f"{name}: mask after the swap differs from the intended one (tied scores?)"
                )


def _mask_buffer(mod: nn.Module) -> torch.Tensor | None:
    cands = [
        b
        for _, b in mod.named_buffers(recurse=False)
        if b is not None and b.dtype == torch.bool and b.shape == mod.weight.shape
    ]
    return cands[0] if len(cands) == 1 else None
