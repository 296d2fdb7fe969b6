"""iterative Edge-Popup (iEP), soft and hard, with four rewinding variants.

Iwasawa, Hirakawa, Matsuo: "Pruning Randomly Connected Neural Networks by Iterative Edge-Pop" (JSAI 2023,
2A4-GS-2-04) and "Soft iEP: On the Exploration Inefficacy of Gradient Based Strong Lottery Exploration"
(ICLR 2024 submission, openreview.net/forum?id=OXBsK3GsL6). EP is repeated for K cycles while the pruning
rate grows and the learning rate is rewound each cycle. Our precise plan (``algorithms.md`` §3.3; the cycle
formula is our choice, the papers do not state it): the density of cycle ``c = 1..K`` is
``density ** (c / K)`` (geometric, so the keep ratios multiply to the target), applied per layer.

* ``iep_mode="soft"``: every cycle searches the full original space (scores carried over, nothing disabled).
* ``iep_mode="hard"``: a cycle searches only inside the previous cycle's final mask. Implemented by setting
  the scores outside that mask to exactly 0 and zeroing their gradients, so their ``|score|`` stays 0 and
  the per-layer top-k (of fewer entries than the allowed set, all with ``|score| > 0``) never picks them.
* ``iep_rewind`` at the start of cycles 2..K (Soft-iEP submission, Table 3, after Renda et al., ICLR 2020,
  arXiv 2003.02389): ``lr_rewind`` keeps the scores and restarts the LR schedule (default); ``finetune`` keeps
  the scores and trains at the constant ``iep_finetune_lr``; ``score_rewind`` resets the scores to their
  initial values; ``score_reinit`` re-draws them from the score init (the method's generator). Every cycle
  starts with a fresh optimizer state.
* ``iep_budget="per_cycle"``: ``epochs`` per cycle (K times EP's compute, as the paper);
  ``"total"``: ``epochs / K`` per cycle, matching EP's compute (the reviewers' request).

The Dying Ratio accumulates across all cycles and is also logged at every cycle end.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from networks.training.base import Cycle, Method, StepContext, register_method
from theory.plumbing.configs import help_field
from theory.validate import check_choice, check_int, check_range

__all__ = ["IEPParams", "IterativeEdgePopup", "iep_densities"]


def iep_densities(density: float, cycles: int) -> list[float]:
    """Geometric cycle densities ``density ** (c / cycles)`` for ``c = 1..cycles`` (last one = ``density``).

    Raises:
        ValueError: If ``density`` is not in (0, 1] or ``cycles < 1``.
    """
    check_range("density", density, 0.0, 1.0, lo_open=True)
    check_int("cycles", cycles, 1)
    out = [density ** (c / cycles) for c in range(1, cycles + 1)]
    out[-1] = float(density)  # exact, not a rounded power
    return out


@dataclasses.dataclass(frozen=True)
class IEPParams:
    """iterative Edge-Popup (Iwasawa et al.)."""

    prefix: ClassVar[str] = "iep_"

    cycles: int = help_field(3, "iEP: number of cycles K; density of cycle c is density**(c/K)")
    mode: Literal["soft", "hard"] = help_field(
        "soft", "iEP: soft searches the full space each cycle, hard only inside the previous mask"
    )
    rewind: Literal["lr_rewind", "finetune", "score_rewind", "score_reinit"] = help_field(
        "lr_rewind",
        "iEP: what happens at a cycle start (scores kept + LR rewound; low constant LR; "
        "scores rewound to init; scores re-drawn)",
    )
    budget: Literal["per_cycle", "total"] = help_field(
        "per_cycle",
        "iEP: --epochs per cycle, or --epochs in total split evenly over cycles (matched compute)",
    )
    finetune_lr: float = help_field(0.01, "iEP finetune: the constant LR of cycles after the first")

    def __post_init__(self) -> None:
        check_int("iep_cycles", self.cycles, 1, 100)
        check_choice("iep_mode", self.mode, ("soft", "hard"))
        check_choice("iep_rewind", self.rewind, ("lr_rewind", "finetune", "score_rewind", "score_reinit"))
        check_choice("iep_budget", self.budget, ("per_cycle", "total"))
        check_range("iep_finetune_lr", self.finetune_lr, 0.0, None, lo_open=True)


@dataclasses.dataclass
class IEPState:
    """Initial scores (for ``score_rewind``) and, in hard mode, the previous cycle's mask per layer."""

    init_scores: dict = dataclasses.field(default_factory=dict)
    allowed: dict = dataclasses.field(default_factory=dict)


@register_method("iep")
class IterativeEdgePopup(Method):
    """iEP: K cycles of EP at geometrically decreasing density (soft or hard; four rewinding variants)."""

    Params = IEPParams
    State = IEPState

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        """``iep_budget="total"`` needs ``epochs`` divisible by ``iep_cycles``."""
        if cfg.iep_budget == "total" and cfg.epochs % cfg.iep_cycles:
            raise ValueError(
                f"iep_budget 'total' needs epochs divisible by iep_cycles, got epochs={cfg.epochs}, "
                f"iep_cycles={cfg.iep_cycles}"
            )

    def cycles(self) -> list[Cycle]:
        """K cycles at ``density ** (c/K)``; epochs per cycle from the budget; LR per rewind variant."""
        c, p = self.cfg, self.params
        epochs = c.epochs if p.budget == "per_cycle" else c.epochs // p.cycles
        out = []
        for i, d in enumerate(iep_densities(c.density, p.cycles)):
            if i > 0 and p.rewind == "finetune":
                out.append(Cycle(i, epochs, d, p.finetune_lr, "constant", "finetune"))
            else:
                out.append(Cycle(i, epochs, d, c.lr, c.lr_schedule, p.mode))
        return out

    def setup(self, ctx: StepContext) -> None:
        """Remember the initial scores (for ``score_rewind``)."""
        self.state.init_scores = {k: layer.scores.detach().clone() for k, layer in ctx.layers.items()}

    def on_cycle_start(self, ctx: StepContext, cycle: Cycle) -> None:
        """Rewind or re-draw scores (cycles after the first); restrict hard iEP to the previous mask."""
        if cycle.index == 0:
            return
        import torch

        from networks.inits import init_scores

        p = self.params
        with torch.no_grad():
            for k, layer in ctx.layers.items():
                if p.rewind == "score_rewind":
                    layer.scores.copy_(self.state.init_scores[k])
                elif p.rewind == "score_reinit":
                    fresh = torch.empty(layer.scores.shape, dtype=layer.scores.dtype)
                    init_scores(fresh, self.cfg.score_init, generator=ctx.generator, density=cycle.density)
                    layer.scores.copy_(fresh.to(layer.scores.device))
                if p.mode == "hard":
                    layer.scores.mul_(self.state.allowed[k])

    def after_backward(self, ctx: StepContext) -> None:
        """Hard iEP: no gradient outside the allowed set (so those scores stay exactly 0)."""
        if self.params.mode != "hard" or not self.state.allowed:
            return
        for k, layer in ctx.layers.items():
            if layer.scores.grad is not None:
                layer.scores.grad.mul_(self.state.allowed[k])

    def on_cycle_end(self, ctx: StepContext, cycle: Cycle) -> None:
        """Hard iEP: the cycle's final mask becomes the next cycle's search space."""
        if self.params.mode == "hard":
            self.state.allowed = {k: layer.mask().detach().clone() for k, layer in ctx.layers.items()}

    def summary(self, ctx: StepContext) -> dict[str, Any]:
        """The cycle densities."""
        return {"cycle_densities": [c.density for c in self.cycles()]}
