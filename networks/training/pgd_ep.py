"""PGD + Edge-Popup: perturb the random weights within an eps max-norm ball, then prune by EP.

Xiong, Liao, Kyrillidis, "Strong Lottery Ticket Hypothesis with eps-perturbation" (AISTATS 2023; OPT 2022
workshop), Algorithm 1 "PGD+StrongLTH" (poster and slides p. 37; ``theory.md`` §1.6)::

    dW <- 0
    for t = 0..T-1:  W_hat <- dW - alpha_t grad L(W0 + dW);  dW <- sign(W_hat) min(|W_hat|, eps)
    for each density in the grid:  (loss, M) <- EdgePopup(L, W0 + dW, density);  keep the best loss

The projection is an element-wise clip, i.e. the projection onto ``||dW||_max <= eps``. Our plan: cycle 0
runs ``pgd_epochs`` epochs of these projected gradient steps on the weights of the unpruned network
(density 1, step size ``pgd_lr``, no momentum; skipped when ``eps = 0``); then one EP cycle of ``epochs``
epochs per density of ``pgd_densities``, each from the same initial scores with a rewound LR and a fresh
optimizer. "Best" is the lowest mean TRAINING loss at the cycle's end (the algorithm's ``ell``; test data
are not used for selection). ``final.json`` holds the whole grid (density, train loss, test accuracy) and the
selected density; the model ends in the selected state. The Dying Ratio is restarted for each grid point.
"""

from __future__ import annotations

from typing import Any

import torch

from networks.training.base import Cycle, Method, register_method

__all__ = ["PGDEdgePopup", "project_perturbation"]


def project_perturbation(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """``sign(delta) * min(|delta|, eps)``: the projection onto the max-norm ball of radius ``eps``."""
    return delta.clamp(min=-eps, max=eps)


@register_method("pgd_ep")
class PGDEdgePopup(Method):
    """Xiong et al.'s Alg. 1: projected gradient perturbation of the weights, then EP over a density grid."""

    reset_tracker_each_cycle = True

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.w0: dict[str, torch.Tensor] = {}
        self.delta: dict[str, torch.Tensor] = {}
        self.init_scores: dict[str, torch.Tensor] = {}
        self.grid: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {}

    @property
    def has_pgd(self) -> bool:
        """Whether a perturbation phase runs (eps > 0 and at least one epoch)."""
        return self.cfg.pgd_eps > 0.0 and self.cfg.pgd_epochs > 0

    def cycles(self) -> list[Cycle]:
        """Optional PGD cycle at density 1, then one EP cycle per grid density."""
        c = self.cfg
        out = []
        if self.has_pgd:
            out.append(Cycle(0, c.pgd_epochs, 1.0, c.pgd_lr, "constant", "pgd"))
        for d in c.pgd_densities:
            out.append(Cycle(len(out), c.epochs, float(d), c.lr, c.lr_schedule, "ep"))
        return out

    def setup(self, tr: Any) -> None:
        """Remember W0 and the initial scores; the perturbation starts at 0."""
        self.w0 = {k: layer.weight.detach().clone() for k, layer in tr.layers.items()}
        self.delta = {k: torch.zeros_like(v) for k, v in self.w0.items()}
        self.init_scores = {k: layer.scores.detach().clone() for k, layer in tr.layers.items()}

    def configure_cycle(self, tr: Any, cycle: Cycle) -> None:
        """PGD cycle: weights trainable (by us, not the optimizer); EP cycles: scores trainable."""
        super().configure_cycle(tr, cycle)
        pgd = cycle.kind == "pgd"
        for layer in tr.layers.values():
            layer.weight.requires_grad_(pgd)
            layer.scores.requires_grad_(not pgd)

    def trainable(self, tr: Any) -> list[torch.nn.Parameter]:
        """Scores in EP cycles; nothing in the PGD cycle (the update is done in :meth:`after_backward`)."""
        return [layer.scores for layer in tr.layers.values() if layer.scores.requires_grad]

    def on_cycle_start(self, tr: Any, cycle: Cycle) -> None:
        """Every EP grid point starts from the same initial scores."""
        if cycle.kind == "ep":
            with torch.no_grad():
                for k, layer in tr.layers.items():
                    layer.scores.copy_(self.init_scores[k])

    def after_backward(self, tr: Any, x: torch.Tensor, y: torch.Tensor) -> None:
        """PGD cycle: ``dW <- clip(dW - lr * grad, -eps, eps)``, ``W <- W0 + dW``."""
        if tr.plan[tr.cycle].kind != "pgd":
            return
        with torch.no_grad():
            for k, layer in tr.layers.items():
                g = layer.weight.grad
                if g is None:
                    continue
                self.delta[k] = project_perturbation(self.delta[k] - tr.lr * g, self.cfg.pgd_eps)
                layer.weight.copy_(self.w0[k] + self.delta[k])

    def on_cycle_end(self, tr: Any, cycle: Cycle) -> None:
        """Record the grid point; keep the best (lowest training loss, later wins ties as in Alg. 1)."""
        if cycle.kind == "pgd":
            tr.log("pgd_max_abs_delta", max(float(d.abs().max()) for d in self.delta.values()))
            return
        _, _, train_loss = tr.evaluate("train")
        correct, total, test_loss = tr.evaluate("test")
        point = {
            "cycle": cycle.index,
            "density": cycle.density,
            "sparsity": round(1.0 - cycle.density, 12),
            "train_loss": train_loss,
            "test_loss": test_loss,
            "test_correct": correct,
            "test_total": total,
            "test_acc": correct / total,
            "dying_ratio": None if tr.tracker is None else tr.tracker.dying_ratio(),
        }
        self.grid.append(point)
        tr.log("grid_train_loss", train_loss)
        tr.log("grid_test_acc", correct / total)
        if not self.best or train_loss <= self.best["train_loss"]:
            self.best = {
                "train_loss": train_loss,
                "density": cycle.density,
                "scores": {k: layer.scores.detach().clone() for k, layer in tr.layers.items()},
                "point": point,
            }
        if cycle.index == tr.plan[-1].index:
            # End in the selected state, so the final evaluation and checkpoint are the chosen ticket.
            with torch.no_grad():
                for k, layer in tr.layers.items():
                    layer.scores.copy_(self.best["scores"][k])
                    layer.density = self.best["density"]
            if tr.tracker is not None:
                tr.tracker = None  # per-point dying ratios are in the grid; the selected one is reported

    def summary(self, tr: Any) -> dict[str, Any]:
        """The grid, the selected density, the perturbation actually applied."""
        out: dict[str, Any] = {
            "pgd_eps": self.cfg.pgd_eps,
            "grid": self.grid,
            "selected_density": self.best.get("density"),
            "max_abs_perturbation": max(float(d.abs().max()) for d in self.delta.values())
            if self.delta
            else 0.0,
        }
        if self.best:
            out["dying_ratio"] = self.best["point"]["dying_ratio"]
        return out

    def state_dict(self) -> dict[str, Any]:
        """W0, the perturbation, initial scores, the grid so far and the best point."""
        best = dict(self.best)
        if best:
            best["scores"] = {k: v.cpu() for k, v in best["scores"].items()}
        return {
            "w0": {k: v.cpu() for k, v in self.w0.items()},
            "delta": {k: v.cpu() for k, v in self.delta.items()},
            "init_scores": {k: v.cpu() for k, v in self.init_scores.items()},
            "grid": self.grid,
            "best": best,
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore :meth:`state_dict` output."""
        self.w0 = {k: v.to(device) for k, v in state["w0"].items()}
        self.delta = {k: v.to(device) for k, v in state["delta"].items()}
        self.init_scores = {k: v.to(device) for k, v in state["init_scores"].items()}
        self.grid = list(state["grid"])
        self.best = dict(state["best"])
        if self.best:
            self.best["scores"] = {k: v.to(device) for k, v in self.best["scores"].items()}
