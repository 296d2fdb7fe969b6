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

import dataclasses
from typing import Any, ClassVar

from networks.training.base import Method, StepContext, register_method
from theory.plumbing.configs import help_field
from theory.validate import check_int, check_range

__all__ = ["IteRand", "IteRandParams"]


@dataclasses.dataclass(frozen=True)
class IteRandParams:
    """IteRand (Chijiwa et al.)."""

    prefix: ClassVar[str] = "iterand_"

    lambda_: float = help_field(0.1, "IteRand: probability of re-drawing each pruned weight")
    period: int = help_field(300, "IteRand: re-randomise every this many steps (K_per)")

    def __post_init__(self) -> None:
        check_range("iterand_lambda", self.lambda_, 0.0, 1.0)
        check_int("iterand_period", self.period, 1)


@dataclasses.dataclass
class IteRandState:
    """How many re-randomisations happened."""

    redraws: int = 0


@register_method("iterand")
class IteRand(Method):
    """EP plus a Bernoulli(lambda) re-draw of pruned weights every ``iterand_period`` steps."""

    Params = IteRandParams
    State = IteRandState

    def before_step(self, ctx: StepContext) -> None:
        """Re-randomise pruned weights when the step count is a positive multiple of the period."""
        p = self.params
        if ctx.step == 0 or ctx.step % p.period or p.lambda_ == 0.0:
            return
        import torch

        from networks.inits import init_weight

        with torch.no_grad():
            for layer in ctx.layers.values():
                w = layer.weight
                fresh = torch.empty(w.shape, dtype=torch.float32)
                init_weight(fresh, self.cfg.weight_init, generator=ctx.generator, density=layer.density)
                coin = torch.rand(w.shape, generator=ctx.generator) < p.lambda_
                replace = coin.to(w.device) & ~layer.mask()
                w.copy_(torch.where(replace, fresh.to(device=w.device, dtype=w.dtype), w))
        self.state.redraws += 1

    def summary(self, ctx: StepContext) -> dict[str, Any]:
        """How many re-randomisations happened."""
        return {"iterand_redraws": self.state.redraws}
