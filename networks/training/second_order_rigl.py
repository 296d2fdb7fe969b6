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

import math
from typing import Any

import torch

from networks.loss_change import marginal_scores
from networks.masks import bottom_count_mask, top_count_mask
from networks.training.base import register_method
from networks.training.rigl import RigL

__all__ = ["SecondOrderRigL"]


@register_method("rigl2")
class SecondOrderRigL(RigL):
    """RigL whose drop and grow sets are chosen by the second-order marginal scores (1-2 HVPs per update)."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.hvp_calls = 0

    def _products(
        self, tr: Any, x: torch.Tensor, y: torch.Tensor, vectors: list[dict[str, torch.Tensor]]
    ) -> list:
        from networks import hvp as hvp_mod

        _, _, prods = hvp_mod.loss_grad_hvp(tr.model, (x, y), vectors, train=True)
        self.hvp_calls += len(vectors)
        flat = [t for p in prods for t in p.values()]
        tr.all_reduce_mean(flat)
        return prods

    def _hutchinson(
        self, tr: Any, x: torch.Tensor, y: torch.Tensor, keys: dict[str, str]
    ) -> dict[str, torch.Tensor] | None:
        n = self.cfg.rigl2_hutchinson
        if n == 0:
            return None
        zs = []
        for _ in range(n):
            z = {}
            for name, key in keys.items():
                w = tr.layers[name].weight
                bits = torch.randint(0, 2, w.shape, generator=tr.generator)
                z[key] = (bits * 2 - 1).to(device=w.device, dtype=w.dtype)
            zs.append(z)
        prods = self._products(tr, x, y, zs)
        return {
            name: sum(z[key] * p[key] for z, p in zip(zs, prods, strict=True)) / n
            for name, key in keys.items()
        }

    def drop_and_grow(self, tr: Any, alpha: float, x: torch.Tensor, y: torch.Tensor) -> None:
        """Second-order drop, then second-order grow given the drops (see the module docstring)."""
        keys = {name: (f"{name}.weight" if name else "weight") for name in tr.layers}
        eta = tr.lr
        info = {}
        for name, layer in tr.layers.items():
            old = layer.weight_mask.clone()
            nnz = int(old.sum())
            n = min(int(alpha * nnz), old.numel() - nnz)
            w = layer.weight.detach()
            g = layer.dense_grad
            if g is None:
                raise RuntimeError(f"layer {name!r} has no captured dense gradient")
            pool = math.ceil(self.cfg.rigl2_pool * n)
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
        h = self._hutchinson(tr, x, y, keys)
        if self.cfg.rigl2_hvps == 1:
            (u,) = self._products(tr, x, y, [v_of(d0, g0)])
            u_drop = u_grow = u
        else:
            (u_drop,) = self._products(tr, x, y, [v_of(d0, None)])
        chosen_drop = {}
        for name, it in info.items():
            h_l = None if h is None else h[name]
            s = marginal_scores(it["g"], -it["w"], u_drop[keys[name]], it["d0"], h_l)
            chosen_drop[name] = bottom_count_mask(s, it["n"], it["dpool"])
        if self.cfg.rigl2_hvps == 2:
            (u_grow,) = self._products(tr, x, y, [v_of(chosen_drop, g0)])
        new_masks = {}
        for name, it in info.items():
            if it["n"] == 0:
                continue
            v = -eta * it["g"]
            s = marginal_scores(it["g"], v, u_grow[keys[name]], it["g0"], None if h is None else h[name])
            grown = bottom_count_mask(s, it["n"], it["gpool"])
            new_masks[name] = ((it["old"] & ~chosen_drop[name]) | grown, grown)
        self.apply_masks(tr, new_masks)

    def summary(self, tr: Any) -> dict[str, Any]:
        """RigL's summary plus the number of Hessian-vector products."""
        return {**super().summary(tr), "hvp_calls": self.hvp_calls}

    def state_dict(self) -> dict[str, Any]:
        """RigL's state plus the HVP count."""
        return {**super().state_dict(), "hvp_calls": self.hvp_calls}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore RigL's state and the HVP count."""
        super().load_state_dict(state, device)
        self.hvp_calls = int(state["hvp_calls"])
