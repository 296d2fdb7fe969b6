"""Adam on every weight of an ordinary model, projected onto a box ``[-bound, bound]`` after each step.

The training of the small construction targets (``networks.construct.targets``): the SubsetSum results
cover targets with weights in ``[-1/2, 1/2]`` (Lueker 1998; Pensia et al., NeurIPS 2020, Thm 1 assumes
bounded weights), so every parameter is clipped to the box after every step (the Euclidean projection onto
it); the trained accuracy is what it is under that constraint. Adam (Kingma & Ba, ICLR 2015) with the
config's ``lr`` and torch's default betas, no weight decay; ``--batch-size`` equal to the training-set size
gives full-batch steps.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, ClassVar

from networks.training.base import Cycle, Method, StepContext, register_method
from theory.plumbing.configs import help_field
from theory.validate import check_range

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["BoundedAdam", "BoundedAdamParams"]


@dataclasses.dataclass(frozen=True)
class BoundedAdamParams:
    """Box-constrained Adam (construction targets)."""

    prefix: ClassVar[str] = "box_"

    bound: float = help_field(0.5, "bounded_adam: every weight is clipped to [-bound, bound] after each step")

    def __post_init__(self) -> None:
        check_range("box_bound", self.bound, 0.0, None, lo_open=True)


@register_method("bounded_adam")
class BoundedAdam(Method):
    """Adam on all weights of the unmasked model, then the projection onto ``[-bound, bound]``."""

    Params = BoundedAdamParams
    masked = False
    tracks_dying = False

    def cycles(self) -> list[Cycle]:
        """One cycle at density 1."""
        c = self.cfg
        return [Cycle(0, c.epochs, 1.0, c.lr, c.lr_schedule, "bounded_adam")]

    def make_optimizer(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """Adam at the config's learning rate (no weight decay)."""
        import torch

        return torch.optim.Adam(params, lr=self.cfg.lr)

    def after_step(self, ctx: StepContext) -> None:
        """Project every parameter onto the box."""
        import torch

        b = self.params.bound
        with torch.no_grad():
            for p in ctx.model.parameters():
                p.clamp_(-b, b)
