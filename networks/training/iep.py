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

from typing import Any

import torch

from networks.training.base import Cycle, Method, register_method

__all__ = ["IterativeEdgePopup", "iep_densities"]


def iep_densities(density: float, cycles: int) -> list[float]:
    """Geometric cycle densities ``density ** (c / cycles)`` for ``c = 1..cycles`` (last one = ``density``).

    Raises:
        ValueError: If ``density`` is not in (0, 1] or ``cycles < 1``.
    """
    from theory.validate import check_int, check_range

    check_range("density", density, 0.0, 1.0, lo_open=True)
    check_int("cycles", cycles, 1)
    out = [density ** (c / cycles) for c in range(1, cycles + 1)]
    out[-1] = float(density)  # exact, not a rounded power
    return out


@register_method("iep")
class IterativeEdgePopup(Method):
    """iEP: K cycles of EP at geometrically decreasing density (soft or hard; four rewinding variants)."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.init_scores: dict[str, torch.Tensor] = {}
        self.allowed: dict[str, torch.Tensor] = {}

    def cycles(self) -> list[Cycle]:
        """K cycles at ``density ** (c/K)``; epochs per cycle from the budget; LR per rewind variant."""
        c = self.cfg
        epochs = c.epochs if c.iep_budget == "per_cycle" else c.epochs // c.iep_cycles
        out = []
        for i, d in enumerate(iep_densities(c.density, c.iep_cycles)):
            if i > 0 and c.iep_rewind == "finetune":
                out.append(Cycle(i, epochs, d, c.iep_finetune_lr, "constant", "finetune"))
            else:
                out.append(Cycle(i, epochs, d, c.lr, c.lr_schedule, c.iep_mode))
        return out

    def setup(self, tr: Any) -> None:
        """Remember the initial scores (for ``score_rewind``)."""
        self.init_scores = {k: layer.scores.detach().clone() for k, layer in tr.layers.items()}

    def on_cycle_start(self, tr: Any, cycle: Cycle) -> None:
        """Rewind or re-draw scores (cycles after the first); restrict hard iEP to the previous mask."""
        if cycle.index == 0:
            return
        from networks.inits import init_scores

        with torch.no_grad():
            for k, layer in tr.layers.items():
                if self.cfg.iep_rewind == "score_rewind":
                    layer.scores.copy_(self.init_scores[k])
                elif self.cfg.iep_rewind == "score_reinit":
                    fresh = torch.empty(layer.scores.shape, dtype=layer.scores.dtype)
                    init_scores(fresh, self.cfg.score_init, generator=tr.generator, density=cycle.density)
                    layer.scores.copy_(fresh.to(layer.scores.device))
                if self.cfg.iep_mode == "hard":
                    layer.scores.mul_(self.allowed[k])

    def after_backward(self, tr: Any, x: torch.Tensor, y: torch.Tensor) -> None:
        """Hard iEP: no gradient outside the allowed set (so those scores stay exactly 0)."""
        if self.cfg.iep_mode != "hard" or not self.allowed:
            return
        for k, layer in tr.layers.items():
            if layer.scores.grad is not None:
                layer.scores.grad.mul_(self.allowed[k])

    def on_cycle_end(self, tr: Any, cycle: Cycle) -> None:
        """Hard iEP: the cycle's final mask becomes the next cycle's search space."""
        if self.cfg.iep_mode == "hard":
            self.allowed = {k: layer.mask().detach().clone() for k, layer in tr.layers.items()}

    def summary(self, tr: Any) -> dict[str, Any]:
        """The cycle densities."""
        return {"cycle_densities": [c.density for c in self.cycles()]}

    def state_dict(self) -> dict[str, Any]:
        """Initial scores and the hard-mode allowed masks."""
        return {
            "init_scores": {k: v.cpu() for k, v in self.init_scores.items()},
            "allowed": {k: v.cpu() for k, v in self.allowed.items()},
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore initial scores and allowed masks."""
        self.init_scores = {k: v.to(device) for k, v in state["init_scores"].items()}
        self.allowed = {k: v.to(device) for k, v in state["allowed"].items()}
