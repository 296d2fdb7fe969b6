"""Depth L+1 (Burkholz) against depth 2L (Pensia / da Cunha) tickets, and the ``burkholz-depth`` evidence.

One experiment, ``depth-tickets`` (:func:`run_depth_tickets`), writes ``runs/depth-tickets/<hash>/``:

* ``tickets.csv``: per trained target (the digits MLP and CNN; the shared Pensia MNIST network at the
  ``full`` scale) and method, one ticket built with the same per-weight tolerance ``eps`` and the same
  number of SubsetSum candidates (``n`` per half-block for 2L, ``rho`` copies for L+1): target, method,
  source depth, source parameters, kept parameters, certified error, measured error (test inputs inside
  the certificate's radius), target and ticket accuracy (paired, float32), failed weights. The figure
  (``figures/fig14_depth.py``) and the closing-note table read it.
* ``ledger.json``: the raw data of ``burkholz-depth`` (:mod:`theory.rules.depth`): random ReLU targets of
  depth 2 and 3, each built with ``budget="certified"`` at ``rho = ceil(burkholz_rho(tau_min, C))``
  (``rho`` raised until the build's smallest tolerance needs no more), the certificate and the largest
  error over random probes of the unit ball.

Torch runs on one thread (deterministic whatever the core count); every random draw comes from a seed.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path
from typing import Any

from sim.experiments import Context, Experiment, register_experiment
from theory.plumbing.configs import help_field
from theory.plumbing.progress import progress
from theory.plumbing.rundir import RunDir

__all__ = ["DepthConfig", "depth_evidence", "run_depth_tickets"]

#: ``rho`` is raised at most this many times to meet the bound at the build's own smallest tolerance.
RHO_ITERATIONS = 4


@dataclasses.dataclass(frozen=True)
class DepthConfig:
    """Depth L+1 vs 2L tickets on trained targets, and the ledger cases of ``burkholz-depth``."""

    targets: tuple[str, ...] = help_field(
        ("digits-mlp", "digits-cnn"), "trained presets (and pensia-fc2) to build both tickets of"
    )
    eps: float = help_field(0.01, "per-weight tolerance of the target comparison")
    candidates: int = help_field(21, "n per half-block (2L) and rho copies (L+1)")
    ledger_widths: tuple[tuple[int, ...], ...] = help_field(
        ((3, 4, 2), (2, 3, 3, 2)), "widths n_0..n_L of the random ledger targets"
    )
    ledger_eps: float = help_field(0.5, "certified accuracy of the ledger cases")
    ledger_seed: int = help_field(0, "seed of the ledger targets and sources")
    probes: int = help_field(2000, "random probes per ledger case")


DEPTH_PRESETS = {
    "quick": DepthConfig(targets=("digits-mlp",), ledger_widths=((3, 4, 2),), probes=500),
    # The deeper ledger case (2-3-3-2, rho 31) alone ran past 8 minutes on 2 idle cores: full scale only.
    "default": DepthConfig(ledger_widths=((3, 4, 2),)),
    "full": DepthConfig(targets=("digits-mlp", "digits-cnn", "pensia-fc2")),
}


def _two_l_method(target: str) -> str:
    return "dacunha" if target.endswith("cnn") else "pensia"


def _target_model(name: str, seed: int):
    """(model, dataset or None, input shape, non-negative input) of a preset."""
    from networks.construct.cli import DEFAULT_PENSIA_NPZ
    from networks.construct.targets import load_pensia_fc2, train_preset

    if name == "pensia-fc2":
        # Pensia et al. standardise MNIST pixels (signed inputs): both ReLU halves are built.
        return load_pensia_fc2(DEFAULT_PENSIA_NPZ), None, (1, 28, 28), False
    model, ds = train_preset(name, seed=seed)
    return model, ds, tuple(ds.in_shape), name.startswith("digits")


def _ticket_row(name: str, method: str, model, ds, shape, nonneg: bool, cfg: DepthConfig) -> dict[str, Any]:
    import torch

    from networks.construct import construct_ticket
    from networks.construct.cli import paired_accuracy

    t = construct_ticket(
        model,
        eps=cfg.eps,
        method=method,
        budget="per-weight",
        candidates_per_weight=cfg.candidates,
        nonnegative_input=nonneg,
        input_shape=shape,
    )
    rep = t.report()
    row = {
        "target": name,
        "method": method,
        "construction": "L+1 Burkholz" if method == "burkholz" else f"2L {method}",
        "target_depth": len(t.specs),
        "source_depth": len(t.layers) if method == "burkholz" else 2 * len(t.specs),
        "eps": cfg.eps,
        "candidates": cfg.candidates,
        "target_params": t.target_weights,
        "source_params": t.source_params,
        "kept_params": t.kept_params,
        "certified_bound": rep["certified_bound"],
        "num_failed_weights": rep["num_failed_weights"],
        "construct_seconds": rep["construct_seconds"],
        "target_acc": math.nan,
        "ticket_acc": math.nan,
        "measured_error": math.nan,
        "radius": 1.0,
    }
    if ds is not None:
        x = ds.x_test.reshape(len(ds.x_test), *ds.in_shape)
        acc = paired_accuracy(model, t, x, ds.y_test)
        radius = float(x.flatten(1).to(torch.float64).norm(dim=1).max())
        row.update(
            target_acc=acc["target_acc"],
            ticket_acc=acc["ticket_acc"],
            measured_error=t.measure(model, x, radius=radius),
            radius=radius,
            certified_bound=t.certified_bound(radius),
        )
    else:
        gen = torch.Generator().manual_seed(0)
        probe = torch.randn(256, *shape, generator=gen, dtype=torch.float64)
        probe = probe / probe.flatten(1).norm(dim=1).reshape(-1, *([1] * len(shape)))
        row["measured_error"] = t.measure(model, probe)
    return row


def _ledger_target(widths: tuple[int, ...], seed: int):
    """A random ReLU MLP with weights and biases U(-1/2, 1/2) (float64), drawn from ``seed``."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        lin = nn.Linear(a, b).double()
        with torch.no_grad():
            lin.weight.copy_(torch.rand(b, a, generator=gen, dtype=torch.float64) - 0.5)
            lin.bias.copy_(torch.rand(b, generator=gen, dtype=torch.float64) - 0.5)
        mods.append(lin)
        if i < len(widths) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def _ledger_case(widths: tuple[int, ...], cfg: DepthConfig, index: int) -> dict[str, Any]:
    import torch

    from networks.construct import construct_ticket
    from networks.construct.burkholz import BURKHOLZ_RHO
    from theory import bounds
    from theory.rules.depth import BURKHOLZ_C

    seed = cfg.ledger_seed + index
    net = _ledger_target(widths, seed)
    rho = BURKHOLZ_RHO
    for _ in range(RHO_ITERATIONS):
        t = construct_ticket(
            net,
            eps=cfg.ledger_eps,
            method="burkholz",
            budget="certified",
            candidates_per_weight=rho,
            seed=seed,
        )
        need = math.ceil(bounds.burkholz_rho(min(t.tolerances), C=BURKHOLZ_C))
        if rho >= need:
            break
        rho = need
    gen = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(cfg.probes, widths[0], generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * torch.rand(cfg.probes, 1, generator=gen, dtype=torch.float64) ** 0.1
    return {
        "case": "mlp-" + "-".join(map(str, widths)),
        "target_widths": list(widths),
        "depth": len(widths) - 1,
        "source_depth": len(t.layers),
        "rho": rho,
        "min_tolerance": min(t.tolerances),
        "certified_bound": t.certified_bound(),
        "exact_arithmetic_bound": t.exact_arithmetic_bound(),
        "measured_max": t.measure(net, x),
        "num_failed": len(t.failed_weights),
        "num_limit": len(t.meta["limit_weights"]),
        "source_params": t.source_params,
        "kept_params": t.kept_params,
        "seed": seed,
    }


def run_depth_tickets(cfg: DepthConfig, rundir: RunDir, ctx: Context) -> Path:
    """Build the L+1 and 2L tickets of each target and the ledger cases (module docstring)."""
    from sim.construction import _one_torch_thread

    with _one_torch_thread():
        rows = []
        for name in progress(cfg.targets, desc="depth-tickets", quiet=ctx.quiet):
            model, ds, shape, nonneg = _target_model(name, seed=0)
            model = model.double()
            for method in (_two_l_method(name), "burkholz"):
                rows.append(_ticket_row(name, method, model, ds, shape, nonneg, cfg))
        rundir.write_csv("tickets.csv", rows)
        cases = [_ledger_case(tuple(w), cfg, i) for i, w in enumerate(cfg.ledger_widths)]
        rundir.write_json("ledger.json", {"eps": cfg.ledger_eps, "cases": cases})
    return rundir.path


def depth_evidence(rundir: RunDir) -> dict[str, tuple[str, dict[str, Any]]]:
    """``burkholz-depth`` from ``ledger.json``."""
    return {"burkholz-depth": ("burkholz-depth", rundir.read_json("ledger.json"))}


register_experiment(
    Experiment(
        "depth-tickets",
        "depth L+1 (Burkholz) vs 2L tickets of trained targets, and L+1 at the bound's width",
        DepthConfig,
        DEPTH_PRESETS,
        run_depth_tickets,
        depth_evidence,
        ("burkholz-depth",),
    )
)
