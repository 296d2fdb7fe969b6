"""IteRand: Edge-Popup with iterative re-randomisation of the pruned weights.

Chijiwa, Yamaguchi, Ida, Umakoshi, Inoue, "Pruning Randomly Initialized Neural Networks with Iterative
Randomization", NeurIPS 2021, arXiv 2106.09269, Alg. 1; repo ``dchiji-ntt/iterand``
(``models/networks/sparse_modules.py``, ``rerand_mode: bernoulli``). Every ``K_per = iterand_period`` steps,
before that step's forward, each currently *pruned* weight is replaced, independently with probability
``lambda = iterand_lambda``, by a fresh draw from the same weight distribution::

    B ~ Bernoulli(lambda),  R ~ weight_init       W <- where(~M & B, R, W)

Kept weights are never touched and scores are not reset. Draws come from the method's CPU generator (so
the run is reproducible and device-independent). ``lambda = 0`` is exactly EP. Unlike the reference, which
ranks raw scores, we rank ``|scores|`` as our EP does, so the only difference from EP is the re-draw.
"""

from __future__ import annotations

from typing import Any

import torch

from networks.training.base import Method, register_method

__all__ = ["IteRand"]


@register_method("iterand")
class IteRand(Method):
    """EP plus a Bernoulli(lambda) re-draw of pruned weights every ``iterand_period`` steps."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.redraws = 0

    def before_step(self, tr: Any, x: torch.Tensor, y: torch.Tensor) -> None:
        """Re-randomise pruned weights when the step count is a positive multiple of the period."""
        if tr.step == 0 or tr.step % self.cfg.iterand_period or self.cfg.iterand_lambda == 0.0:
            return
        from networks.inits import init_weight

        with torch.no_grad():
            for layer in tr.layers.values():
                w = layer.weight
                fresh = torch.empty(w.shape, dtype=torch.float32)
                init_weight(fresh, self.cfg.weight_init, generator=tr.generator, density=layer.density)
                coin = torch.rand(w.shape, generator=tr.generator) < self.cfg.iterand_lambda
                replace = coin.to(w.device) & ~layer.mask()
                w.copy_(torch.where(replace, fresh.to(device=w.device, dtype=w.dtype), w))
        self.redraws += 1

    def summary(self, tr: Any) -> dict[str, Any]:
        """How many re-randomisations happened."""
        return {"iterand_redraws": self.redraws}

    def state_dict(self) -> dict[str, Any]:
        """The re-draw count."""
        return {"redraws": self.redraws}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore the re-draw count."""
        self.redraws = int(state["redraws"])
