r"""Second-order RigL: drop/grow choices that account for interactions through Hessian-vector products.

Our PROPOSAL (``algorithms.md`` §5.2; no published "second-order RigL" was found). With effective weights
``w~ = W * M``, dense gradient ``g`` and Hessian ``H`` (both w.r.t. ``w~``), the loss change of a move
``v`` is
``dL ~ g.v + 1/2 v.H v`` (second-order Taylor expansion). Candidates are scored by the one swap rule of the
toolkit, :func:`networks.loss_change.marginal_scores` (the quadratic model's exact marginal effect of
candidate ``i`` on a proposed change set ``S`` with ``u = H v_S``), with ``h_i = H_ii`` (Hutchinson estimate
``mean(z * Hz)``, z Rademacher, when ``rigl2_hutchinson > 0``; cheap mode ``h_i := 0``). Moves: dropping
active ``i`` gives ``v_i = -w_i``; growing inactive ``j`` (zero
init, then one SGD step of size ``eta`` = the current LR) gives ``v_j = -eta g_j`` (RigL's one-step view).

At a RigL update step (same schedule, counts and bookkeeping as :class:`~networks.training.rigl.RigL`):

1. first-order proposals per layer: ``D0`` = the ``n`` active weights of smallest ``|w|`` (RigL's drop),
   ``G0`` = the ``n`` inactive weights of largest ``|g|`` (RigL's grow); candidate pools of
   ``ceil(rigl2_pool * n)`` each, chosen the same way;
2. ``rigl2_hvps = 2`` (default; prune set first, then the regrow set given it): ``u1 = H v(D0)``, choose the
   ``n`` drops with the smallest ``s``; then ``u2 = H (v(D*) + v(G0))``, choose the ``n`` grows with the
   smallest ``s``. ``rigl2_hvps = 1``: one ``u = H (v(D0) + v(G0))`` scores both pools;
3. apply as RigL (new weights 0, momentum reset, no optimizer step). The HVPs are joint over all masked
   layers (cross-layer curvature included), on this step's batch, via ``networks.hvp`` (double backward
   w.r.t. the effective weights; BatchNorm buffers restored). Under DDP the products are all-reduced.

Differences from first-order RigL, by construction: grow candidates are previously inactive weights only
(a just-dropped weight is not regrown in the same update), and ``n`` is capped by the inactive count.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, ClassVar

from networks.training.base import StepContext, register_method
from networks.training.rigl import RigL, RigLParams, RigLState
from theory.plumbing.configs import help_field
from theory.validate import check_int, check_range

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["RigL2Params", "SecondOrderRigL"]


@dataclasses.dataclass(frozen=True)
class RigL2Params(RigLParams):
    """Second-order RigL: RigL's schedule (``rigl_*``) plus the candidate pool and the HVP plan."""

    prefix: ClassVar[str] = "rigl2_"

    pool: float = help_field(3.0, "second-order RigL: candidate pool size as a multiple of the update count")
    hvps: int = help_field(2, "second-order RigL: 1 (joint) or 2 (prune first, then grow) HVPs per update")
    hutchinson: int = help_field(0, "second-order RigL: Hutchinson samples for diag(H) (0: h_i := 0)")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("rigl2_pool", self.pool, 1.0, None)
        check_int("rigl2_hvps", self.hvps, 1, 2)
        check_int("rigl2_hutchinson", self.hutchinson, 0, 64)


@dataclasses.dataclass
class RigL2State(RigLState):
    """RigL's state plus the number of Hessian-vector products."""

    hvp_calls: int = 0


@register_method("rigl2")
class SecondOrderRigL(RigL):
    """RigL whose drop and grow sets are chosen by the second-order marginal scores (1-2 HVPs per update)."""

    Params: ClassVar[type] = RigL2Params
    State: ClassVar[type] = RigL2State

    def _products(self, ctx: StepContext, vectors: list[dict[str, torch.Tensor]]) -> list:
        self.state.hvp_calls += len(vectors)
        return ctx.hvps(vectors)

    def _hutchinson(self, ctx: StepContext, keys: dict[str, str]) -> dict[str, torch.Tensor] | None:
        import torch

        n = self.params.hutchinson
        if n == 0:
            return None
        zs = []
        for _ in range(n):
            z = {}
            for name, key in keys.items():
                w = ctx.layers[name].weight
                bits = torch.randint(0, 2, w.shape, generator=ctx.generator)
                z[key] = (bits * 2 - 1).to(device=w.device, dtype=w.dtype)
            zs.append(z)
        prods = self._products(ctx, zs)
        return {
            name: sum(z[key] * p[key] for z, p in zip(zs, prods, strict=True)) / n
            for name, key in keys.items()
        }

    def drop_and_grow(self, ctx: StepContext, alpha: float) -> None:
        """Second-order drop, then second-order grow given the drops (see the module docstring)."""
        import torch

        from networks.loss_change import marginal_scores
        from networks.masks import bottom_count_mask, top_count_mask

        keys = {name: (f"{name}.weight" if name else "weight") for name in ctx.layers}
        eta = ctx.lr
        info = {}
        for name, layer in ctx.layers.items():
            old = layer.weight_mask.clone()
            nnz = int(old.sum())
            n = min(int(alpha * nnz), old.numel() - nnz)
            w = layer.weight.detach()
            g = layer.dense_grad
            if g is None:
                raise RuntimeError(f"layer {name!r} has no captured dense gradient")
            pool = math.ceil(self.params.pool * n)
            drop_key = torch.where(old, -w.abs(), torch.full_like(w, -math.inf))
            grow_key = torch.where(old, torch.full_like(w, -math.inf), g.abs())
            info[name] = {
                "old": old,
                "n": n,
                "w": w,
                "g": g,
                "d0": top_count_mask(drop_key, n),
                "g0": top_count_mask(grow_key, n),
                "dpool": top_count_mask(drop_key, min(pool, nnz)),
                "gpool": top_count_mask(grow_key, min(pool, old.numel() - nnz)),
            }

        def v_of(
            drop: dict[str, torch.Tensor], grow: dict[str, torch.Tensor] | None
        ) -> dict[str, torch.Tensor]:
            out = {}
            for name, it in info.items():
                v = torch.where(drop[name], -it["w"], torch.zeros_like(it["w"]))
                if grow is not None:
                    v = v + torch.where(grow[name], -eta * it["g"], torch.zeros_like(it["w"]))
                out[keys[name]] = v
            return out

        d0 = {k: it["d0"] for k, it in info.items()}
        g0 = {k: it["g0"] for k, it in info.items()}
        h = self._hutchinson(ctx, keys)
        if self.params.hvps == 1:
            (u,) = self._products(ctx, [v_of(d0, g0)])
            u_drop = u_grow = u
        else:
            (u_drop,) = self._products(ctx, [v_of(d0, None)])
        chosen_drop = {}
        for name, it in info.items():
            h_l = None if h is None else h[name]
            s = marginal_scores(it["g"], -it["w"], u_drop[keys[name]], it["d0"], h_l)
            chosen_drop[name] = bottom_count_mask(s, it["n"], it["dpool"])
        if self.params.hvps == 2:
            (u_grow,) = self._products(ctx, [v_of(chosen_drop, g0)])
        new_masks = {}
        for name, it in info.items():
            if it["n"] == 0:
                continue
            v = -eta * it["g"]
            s = marginal_scores(it["g"], v, u_grow[keys[name]], it["g0"], None if h is None else h[name])
            grown = bottom_count_mask(s, it["n"], it["gpool"])
            new_masks[name] = ((it["old"] & ~chosen_drop[name]) | grown, grown)
        self.apply_masks(ctx, new_masks)

    def summary(self, ctx: StepContext) -> dict[str, Any]:
        """RigL's summary plus the number of Hessian-vector products."""
        return {**super().summary(ctx), "hvp_calls": self.state.hvp_calls}
