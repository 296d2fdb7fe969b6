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

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from networks.training.base import Cycle, Method, StepContext, register_method
from theory.plumbing.configs import help_field
from theory.validate import check_choice, check_int, check_range

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["DENSITY_ALLOCATIONS", "SET", "RigL", "RigLParams", "erk_densities", "uniform_densities"]


def uniform_densities(shapes: Sequence[Sequence[int]], density: float) -> list[float]:
    """Every layer at ``density``.

    Raises:
        ValueError: If ``density`` is not in (0, 1].
    """
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


@dataclasses.dataclass(frozen=True)
class RigLParams:
    """RigL (Evci et al.) and SET: the mask-update schedule and the density allocation."""

    prefix: ClassVar[str] = "rigl_"

    distribution: Literal["erk", "uniform"] = help_field(
        "erk", "RigL: per-layer density allocation (Erdos-Renyi-kernel or uniform)"
    )
    alpha: float = help_field(0.3, "RigL: initial update fraction alpha (cosine-annealed)")
    interval: int = help_field(100, "RigL: steps between mask updates (Delta T)")
    end_fraction: float = help_field(0.75, "RigL: no mask updates after this fraction of training")

    def __post_init__(self) -> None:
        check_choice("rigl_distribution", self.distribution, tuple(DENSITY_ALLOCATIONS))
        check_range("rigl_alpha", self.alpha, 0.0, 1.0, hi_open=True)
        check_int("rigl_interval", self.interval, 1)
        check_range("rigl_end_fraction", self.end_fraction, 0.0, 1.0)


@dataclasses.dataclass
class RigLState:
    """Per-layer densities as allocated, and the number of mask updates so far."""

    layer_densities: dict = dataclasses.field(default_factory=dict)
    updates: int = 0


@register_method("set")
class SET(Method):
    """SET (Mocanu et al., Nature Communications 2018): magnitude drop, random regrowth, RigL's schedule."""

    Params: ClassVar[type] = RigLParams
    State: ClassVar[type] = RigLState
    mask_mode = "fixed"

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.updating = False  # within one step only: whether this step updates the masks
        # CPU seconds spent in drop_and_grow in this process (a measurement, not state: a checkpoint
        # stays a function of the seed; a resumed run reports only the updates since the resume).
        self.update_seconds = 0.0
        self.timed_updates = 0

    # ------------------------------------------------------------------------------------- schedule
    def end_step(self, ctx: StepContext) -> int:
        """``T_end``: no updates from this step on."""
        return int(self.params.end_fraction * ctx.total_steps)

    def is_update_step(self, ctx: StepContext) -> bool:
        """``0 < t < T_end`` and ``t`` a multiple of ``rigl_interval``."""
        t = ctx.step
        return 0 < t < self.end_step(ctx) and t % self.params.interval == 0

    def update_fraction(self, ctx: StepContext) -> float:
        """Cosine-annealed ``alpha_t = alpha/2 (1 + cos(pi t / T_end))``."""
        return self.params.alpha * 0.5 * (1.0 + math.cos(math.pi * ctx.step / max(self.end_step(ctx), 1)))

    # ----------------------------------------------------------------------------------------- hooks
    def setup(self, ctx: StepContext) -> None:
        """Allocate per-layer densities (ERK or uniform) and draw exact-count random masks."""
        import torch

        from networks.masks import kept_count

        shapes = [tuple(layer.weight.shape) for layer in ctx.layers.values()]
        alloc = DENSITY_ALLOCATIONS[self.params.distribution](shapes, self.cfg.density)
        self.state.layer_densities = dict(zip(ctx.layers, alloc, strict=True))
        for (name, layer), d in zip(ctx.layers.items(), alloc, strict=True):
            k = kept_count(layer.weight.numel(), d)
            order = torch.randperm(layer.weight.numel(), generator=ctx.generator)
            mask = torch.zeros(layer.weight.numel(), dtype=torch.bool)
            mask[order[:k]] = True
            layer.density = d
            layer.set_mask(mask.reshape(layer.weight.shape).to(layer.weight.device))
            self.state.layer_densities[name] = d

    def configure_cycle(self, ctx: StepContext, cycle: Cycle) -> None:
        """Per-layer densities stay as allocated; capture dense gradients for the grow criterion."""
        for name, layer in ctx.layers.items():
            if name in self.state.layer_densities:
                layer.density = self.state.layer_densities[name]
            layer.capture_dense_grad = True

    def grow_scores(self, ctx: StepContext, name: str, layer: Any) -> torch.Tensor:
        """SET: uniform random scores from the method's generator."""
        import torch

        return torch.rand(layer.weight.shape, generator=ctx.generator).to(layer.weight.device)

    def after_backward(self, ctx: StepContext) -> None:
        """On an update step: drop by magnitude, grow by :meth:`grow_scores`, zero-init, reset momentum."""
        self.updating = self.is_update_step(ctx)
        if not self.updating:
            return
        alpha = self.update_fraction(ctx)
        start = time.process_time()
        self.drop_and_grow(ctx, alpha)
        self.update_seconds += time.process_time() - start
        self.timed_updates += 1
        self.state.updates += 1
        ctx.log("rigl_update_fraction", alpha)

    def drop_and_grow(self, ctx: StepContext, alpha: float) -> None:
        """The first-order update of every layer (overridden by second-order RigL)."""
        import torch

        from networks.masks import top_count_mask

        new_masks = {}
        for name, layer in ctx.layers.items():
            old = layer.weight_mask
            nnz = int(old.sum())
            n_prune = int(alpha * nnz)
            if n_prune == 0:
                continue
            drop_score = torch.where(
                old, layer.weight.detach().abs(), torch.full_like(layer.weight, -math.inf)
            )
            survivors = top_count_mask(drop_score, nnz - n_prune)
            grow = self.grow_scores(ctx, name, layer).to(layer.weight.dtype)
            grow = torch.where(survivors, torch.full_like(grow, -math.inf), grow)
            grown = top_count_mask(grow, n_prune)
            new_masks[name] = (survivors | grown, grown & ~old)
        self.apply_masks(ctx, new_masks)

    def apply_masks(self, ctx: StepContext, new_masks: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Set masks; truly new connections get ``W = 0`` and zero momentum."""
        import torch

        opt_state = ctx.optimizer.state if ctx.optimizer is not None else {}
        with torch.no_grad():
            for name, (mask, new) in new_masks.items():
                layer = ctx.layers[name]
                layer.weight.masked_fill_(new, 0.0)
                buf = opt_state.get(layer.weight, {}).get("momentum_buffer")
                if buf is not None:
                    buf.masked_fill_(new, 0.0)
                layer.set_mask(mask)

    def should_step_optimizer(self, ctx: StepContext) -> bool:
        """No optimizer step on a mask-update iteration."""
        return not self.updating

    def summary(self, ctx: StepContext) -> dict[str, Any]:
        """Per-layer densities, the number of mask updates and the CPU seconds per timed update."""
        per_update = self.update_seconds / self.timed_updates if self.timed_updates else None
        return {
            "layer_densities": self.state.layer_densities,
            "mask_updates": self.state.updates,
            "update_cpu_s": per_update,
        }


@register_method("rigl")
class RigL(SET):
    """RigL: SET with the grow score overridden by the dense gradient magnitude ``|dL/d(W*M)|``."""

    def grow_scores(self, ctx: StepContext, name: str, layer: Any) -> torch.Tensor:
        """``|dense gradient|`` of this step's batch (all-reduced across DDP ranks)."""
        if layer.dense_grad is None:
            raise RuntimeError(
                f"layer {name!r} has no captured dense gradient; capture_dense_grad must be on"
            )
        return layer.dense_grad.abs()
