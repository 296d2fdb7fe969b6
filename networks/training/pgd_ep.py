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

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from networks.training.base import Cycle, Method, StepContext, register_method
from theory.plumbing.configs import help_field
from theory.validate import check_int, check_range

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["PGDEdgePopup", "PGDParams", "project_perturbation"]


def project_perturbation(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """``sign(delta) * min(|delta|, eps)``: the projection onto the max-norm ball of radius ``eps``."""
    return delta.clamp(min=-eps, max=eps)


@dataclasses.dataclass(frozen=True)
class PGDParams:
    """PGD + Edge-Popup (Xiong et al., Alg. 1)."""

    prefix: ClassVar[str] = "pgd_"

    eps: float = help_field(0.0, "PGD+EP: max-norm bound eps of the weight perturbation (0: plain EP grid)")
    epochs: int = help_field(1, "PGD+EP: epochs of projected gradient steps on the weights")
    lr: float = help_field(0.01, "PGD+EP: step size of the projected gradient steps")
    densities: tuple[float, ...] = help_field(
        (0.9, 0.7, 0.5, 0.3, 0.1), "PGD+EP: grid of densities searched by EP after the perturbation"
    )

    def __post_init__(self) -> None:
        check_range("pgd_eps", self.eps, 0.0, None)
        check_int("pgd_epochs", self.epochs, 0)
        check_range("pgd_lr", self.lr, 0.0, None, lo_open=True)
        if not self.densities:
            raise ValueError("pgd_densities must hold at least one density in (0, 1]")
        for d in self.densities:
            check_range("pgd_densities entry", d, 0.0, 1.0, lo_open=True)


@dataclasses.dataclass
class PGDState:
    """W0, the perturbation, the initial scores, the grid so far and the best point (with its scores)."""

    w0: dict = dataclasses.field(default_factory=dict)
    delta: dict = dataclasses.field(default_factory=dict)
    init_scores: dict = dataclasses.field(default_factory=dict)
    grid: list = dataclasses.field(default_factory=list)
    best: dict = dataclasses.field(default_factory=dict)


@register_method("pgd_ep")
class PGDEdgePopup(Method):
    """Xiong et al.'s Alg. 1: projected gradient perturbation of the weights, then EP over a density grid."""

    Params = PGDParams
    State = PGDState
    reset_tracker_each_cycle = True

    @property
    def has_pgd(self) -> bool:
        """Whether a perturbation phase runs (eps > 0 and at least one epoch)."""
        return self.params.eps > 0.0 and self.params.epochs > 0

    def cycles(self) -> list[Cycle]:
        """Optional PGD cycle at density 1, then one EP cycle per grid density."""
        c, p = self.cfg, self.params
        out = []
        if self.has_pgd:
            out.append(Cycle(0, p.epochs, 1.0, p.lr, "constant", "pgd"))
        for d in p.densities:
            out.append(Cycle(len(out), c.epochs, float(d), c.lr, c.lr_schedule, "ep"))
        return out

    def setup(self, ctx: StepContext) -> None:
        """Remember W0 and the initial scores; the perturbation starts at 0."""
        import torch

        st = self.state
        st.w0 = {k: layer.weight.detach().clone() for k, layer in ctx.layers.items()}
        st.delta = {k: torch.zeros_like(v) for k, v in st.w0.items()}
        st.init_scores = {k: layer.scores.detach().clone() for k, layer in ctx.layers.items()}

    def configure_cycle(self, ctx: StepContext, cycle: Cycle) -> None:
        """PGD cycle: weights trainable (by us, not the optimizer); EP cycles: scores trainable."""
        super().configure_cycle(ctx, cycle)
        pgd = cycle.kind == "pgd"
        for layer in ctx.layers.values():
            layer.weight.requires_grad_(pgd)
            layer.scores.requires_grad_(not pgd)

    def trainable(self, ctx: StepContext) -> list[torch.nn.Parameter]:
        """Scores in EP cycles; nothing in the PGD cycle (the update is done in :meth:`after_backward`)."""
        return [layer.scores for layer in ctx.layers.values() if layer.scores.requires_grad]

    def on_cycle_start(self, ctx: StepContext, cycle: Cycle) -> None:
        """Every EP grid point starts from the same initial scores."""
        if cycle.kind == "ep":
            import torch

            with torch.no_grad():
                for k, layer in ctx.layers.items():
                    layer.scores.copy_(self.state.init_scores[k])

    def after_backward(self, ctx: StepContext) -> None:
        """PGD cycle: ``dW <- clip(dW - lr * grad, -eps, eps)``, ``W <- W0 + dW``."""
        if ctx.cycle.kind != "pgd":
            return
        import torch

        st = self.state
        with torch.no_grad():
            for k, layer in ctx.layers.items():
                g = layer.weight.grad
                if g is None:
                    continue
                st.delta[k] = project_perturbation(st.delta[k] - ctx.lr * g, self.params.eps)
                layer.weight.copy_(st.w0[k] + st.delta[k])

    def on_cycle_end(self, ctx: StepContext, cycle: Cycle) -> None:
        """Record the grid point; keep the best (lowest training loss, later wins ties as in Alg. 1)."""
        st = self.state
        if cycle.kind == "pgd":
            ctx.log("pgd_max_abs_delta", max(float(d.abs().max()) for d in st.delta.values()))
            return
        _, _, train_loss = ctx.evaluate("train")
        correct, total, test_loss = ctx.evaluate("test")
        point = {
            "cycle": cycle.index,
            "density": cycle.density,
            "sparsity": round(1.0 - cycle.density, 12),
            "train_loss": train_loss,
            "test_loss": test_loss,
            "test_correct": correct,
            "test_total": total,
            "test_acc": correct / total,
            "dying_ratio": None if ctx.tracker is None else ctx.tracker.dying_ratio(),
        }
        st.grid.append(point)
        ctx.log("grid_train_loss", train_loss)
        ctx.log("grid_test_acc", correct / total)
        if not st.best or train_loss <= st.best["train_loss"]:
            st.best = {
                "train_loss": train_loss,
                "density": cycle.density,
                "scores": {k: layer.scores.detach().clone() for k, layer in ctx.layers.items()},
                "point": point,
            }
        if ctx.is_last_cycle:
            import torch

            # End in the selected state, so the final evaluation and checkpoint are the chosen ticket.
            with torch.no_grad():
                for k, layer in ctx.layers.items():
                    layer.scores.copy_(st.best["scores"][k])
                    layer.density = st.best["density"]
            ctx.drop_tracker()  # per-point dying ratios are in the grid; the selected one is reported

    def summary(self, ctx: StepContext) -> dict[str, Any]:
        """The grid, the selected density, the perturbation actually applied."""
        st = self.state
        out: dict[str, Any] = {
            "pgd_eps": self.params.eps,
            "grid": st.grid,
            "selected_density": st.best.get("density"),
            "max_abs_perturbation": max(float(d.abs().max()) for d in st.delta.values()) if st.delta else 0.0,
        }
        if st.best:
            out["dying_ratio"] = st.best["point"]["dying_ratio"]
        return out
