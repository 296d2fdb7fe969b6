"""RigL and SET: dynamic sparse training with explicit masks, plus the ERK / uniform density allocations.

RigL (Evci, Gale, Menick, Castro, Elsen, "Rigging the Lottery: Making All Tickets Winners", ICML 2020,
arXiv 1911.11134, Alg. 1; reference ``google-research/rigl`` ``rigl/sparse_optimizers_base.py``,
``rigl/sparse_utils.py``). Weights train by SGD under fixed masks (``networks.layers`` ``mask_mode="fixed"``).
Every ``rigl_interval`` steps ``t`` with ``0 < t < T_end = rigl_end_fraction * total_steps``, per layer:

* ``n_prune = int(alpha_t * nnz)`` with the cosine-annealed ``alpha_t = alpha/2 (1 + cos(pi t / T_end))``;
* drop: keep the ``nnz - n_prune`` active weights of largest ``|W|``;
* grow: the ``n_prune`` largest *grow scores* among the non-survivors (RigL: the DENSE gradient
  ``|dL/d(W*M)|`` of this step's batch, captured by the layers also where ``M = 0``; SET: uniform random;
  a just-dropped weight may be regrown and then keeps its value, ``reinit_when_same=False``);
* truly new connections start at ``W = 0`` with their momentum reset to 0;
* the optimizer does NOT step on an update iteration (the reference's ``cond(mask_update, apply_grads)``).

So ``nnz`` per layer never changes. Following jaxpruner (``algorithms/sparse_trainers.py``) RigL is SET with
one override, :meth:`SET.grow_scores`. Ties are broken by the lowest flat index (``top_count_mask``) rather
than the reference's tiny random noise, which keeps updates deterministic. Not taken from the reference: no
update at step 0 (the first is at ``t = rigl_interval``), and ``uniform`` puts every layer (the first one
too) at the target density so the budget is met exactly.

Initial masks are uniformly random with exact per-layer counts (the method's generator).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from networks.masks import top_count_mask
from networks.training.base import Method, register_method

__all__ = ["DENSITY_ALLOCATIONS", "SET", "RigL", "erk_densities", "uniform_densities"]


def uniform_densities(shapes: Sequence[Sequence[int]], density: float) -> list[float]:
    """Every layer at ``density``.

    Raises:
        ValueError: If ``density`` is not in (0, 1].
    """
    from theory.validate import check_range

    check_range("density", density, 0.0, 1.0, lo_open=True)
    return [float(density)] * len(shapes)


def erk_densities(shapes: Sequence[Sequence[int]], density: float, *, power: float = 1.0) -> list[float]:
    """Erdos-Renyi-kernel per-layer densities meeting the global budget exactly.

    Evci et al. 2020, Sec. 3 ("Sparsity distribution"), ``rigl/sparse_utils.py`` ``erdos_renyi_kernel``:
    layer ``l`` gets ``d_l = eps * p_l`` with ``p_l = (sum(shape_l) / prod(shape_l)) ** power`` (for a conv,
    ``(c_out + c_in + h + w) / (c_out c_in h w)``), and ``eps`` solves
    ``sum_l d_l N_l = density * sum_l N_l``.
    A layer whose ``d_l`` would exceed 1 is made dense and ``eps`` re-solved, largest ``p_l`` first, until
    no layer exceeds 1. Hence ``sum_l d_l N_l = density * N`` (up to float rounding) and ``0 < d_l <= 1``.

    Args:
        shapes: Weight shapes of the prunable layers.
        density: Global fraction kept, in (0, 1].
        power: ``erk_power_scale`` (1.0 in the paper).

    Returns:
        One density per layer.

    Raises:
        ValueError: If ``density`` is not in (0, 1] or a shape is empty.
    """
    from theory.validate import check_range

    check_range("density", density, 0.0, 1.0, lo_open=True)
    sizes = [math.prod(s) for s in shapes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"shapes must be non-empty weight shapes, got {list(map(tuple, shapes))}")
    raw = [(sum(s) / math.prod(s)) ** power for s in shapes]
    dense: set[int] = set()
    total = sum(sizes)
    while True:
        free = [i for i in range(len(shapes)) if i not in dense]
        if not free:
            return [1.0] * len(shapes)
        budget = density * total - sum(sizes[i] for i in dense)
        eps = budget / sum(raw[i] * sizes[i] for i in free)
        worst = max(free, key=lambda i: raw[i])
        if eps * raw[worst] > 1.0:
            dense.add(worst)
            continue
        return [1.0 if i in dense else eps * raw[i] for i in range(len(shapes))]


DENSITY_ALLOCATIONS = {"erk": erk_densities, "uniform": uniform_densities}


@register_method("set")
class SET(Method):
    """SET (Mocanu et al., Nature Communications 2018): magnitude drop, random regrowth, RigL's schedule."""

    mask_mode = "fixed"

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.updating = False
        self.updates = 0
        self.layer_densities: dict[str, float] = {}

    # ------------------------------------------------------------------------------------- schedule
    def end_step(self, tr: Any) -> int:
        """``T_end``: no updates from this step on."""
        return int(self.cfg.rigl_end_fraction * tr.total_steps)

    def is_update_step(self, tr: Any) -> bool:
        """``0 < t < T_end`` and ``t`` a multiple of ``rigl_interval``."""
        t = tr.step
        return 0 < t < self.end_step(tr) and t % self.cfg.rigl_interval == 0

    def update_fraction(self, tr: Any) -> float:
        """Cosine-annealed ``alpha_t = alpha/2 (1 + cos(pi t / T_end))``."""
        return self.cfg.rigl_alpha * 0.5 * (1.0 + math.cos(math.pi * tr.step / max(self.end_step(tr), 1)))

    # ----------------------------------------------------------------------------------------- hooks
    def setup(self, tr: Any) -> None:
        """Allocate per-layer densities (ERK or uniform) and draw exact-count random masks."""
        from networks.masks import kept_count

        shapes = [tuple(layer.weight.shape) for layer in tr.layers.values()]
        alloc = DENSITY_ALLOCATIONS[self.cfg.rigl_distribution](shapes, self.cfg.density)
        self.layer_densities = dict(zip(tr.layers, alloc, strict=True))
        for (name, layer), d in zip(tr.layers.items(), alloc, strict=True):
            k = kept_count(layer.weight.numel(), d)
            order = torch.randperm(layer.weight.numel(), generator=tr.generator)
            mask = torch.zeros(layer.weight.numel(), dtype=torch.bool)
            mask[order[:k]] = True
            layer.density = d
            layer.set_mask(mask.reshape(layer.weight.shape).to(layer.weight.device))
            self.layer_densities[name] = d

    def configure_cycle(self, tr: Any, cycle: Any) -> None:
        """Per-layer densities stay as allocated; capture dense gradients for the grow criterion."""
        for name, layer in tr.layers.items():
            if name in self.layer_densities:
                layer.density = self.layer_densities[name]
            layer.capture_dense_grad = True

    def grow_scores(self, tr: Any, name: str, layer: Any) -> torch.Tensor:
        """SET: uniform random scores from the method's generator."""
        return torch.rand(layer.weight.shape, generator=tr.generator).to(layer.weight.device)

    def after_backward(self, tr: Any, x: torch.Tensor, y: torch.Tensor) -> None:
        """On an update step: drop by magnitude, grow by :meth:`grow_scores`, zero-init, reset momentum."""
        self.updating = self.is_update_step(tr)
        if not self.updating:
            return
        alpha = self.update_fraction(tr)
        self.drop_and_grow(tr, alpha, x, y)
        self.updates += 1
        tr.log("rigl_update_fraction", alpha)

    def drop_and_grow(self, tr: Any, alpha: float, x: torch.Tensor, y: torch.Tensor) -> None:
        """The first-order update of every layer (overridden by second-order RigL)."""
        new_masks = {}
        for name, layer in tr.layers.items():
            old = layer.weight_mask
            nnz = int(old.sum())
            n_prune = int(alpha * nnz)
            if n_prune == 0:
                continue
            drop_score = torch.where(
                old, layer.weight.detach().abs(), torch.full_like(layer.weight, -math.inf)
            )
            survivors = top_count_mask(drop_score, nnz - n_prune)
            grow = self.grow_scores(tr, name, layer).to(layer.weight.dtype)
            grow = torch.where(survivors, torch.full_like(grow, -math.inf), grow)
            grown = top_count_mask(grow, n_prune)
            new_masks[name] = (survivors | grown, grown & ~old)
        self.apply_masks(tr, new_masks)

    def apply_masks(self, tr: Any, new_masks: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Set masks; truly new connections get ``W = 0`` and zero momentum."""
        opt_state = tr.optimizer.state if tr.optimizer is not None else {}
        with torch.no_grad():
            for name, (mask, new) in new_masks.items():
                layer = tr.layers[name]
                layer.weight.masked_fill_(new, 0.0)
                buf = opt_state.get(layer.weight, {}).get("momentum_buffer")
                if buf is not None:
                    buf.masked_fill_(new, 0.0)
                layer.set_mask(mask)

    def should_step_optimizer(self, tr: Any) -> bool:
        """No optimizer step on a mask-update iteration."""
        return not self.updating

    def summary(self, tr: Any) -> dict[str, Any]:
        """Per-layer densities and the number of mask updates."""
        return {"layer_densities": self.layer_densities, "mask_updates": self.updates}

    def state_dict(self) -> dict[str, Any]:
        """Per-layer densities and the update count."""
        return {"layer_densities": dict(self.layer_densities), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore per-layer densities and the update count."""
        self.layer_densities = {k: float(v) for k, v in state["layer_densities"].items()}
        self.updates = int(state["updates"])


@register_method("rigl")
class RigL(SET):
    """RigL: SET with the grow score overridden by the dense gradient magnitude ``|dL/d(W*M)|``."""

    def grow_scores(self, tr: Any, name: str, layer: Any) -> torch.Tensor:
        """``|dense gradient|`` of this step's batch (all-reduced across DDP ranks)."""
        if layer.dense_grad is None:
            raise RuntimeError(
                f"layer {name!r} has no captured dense gradient; capture_dense_grad must be on"
            )
        return layer.dense_grad.abs()
