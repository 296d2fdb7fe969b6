"""Sparse tickets of a chosen density against the source width (Natale et al., NeurIPS 2024, Theorem 3).

For a fixed target (a random ``d -> d -> d_out`` ReLU MLP in Pensia et al.'s family: every layer's
weights U[-1, 1] divided by the layer's spectral norm, so ``||W|| = 1``) and a fixed accuracy ``eps``,
every source width ``n`` (blocks of ``2n`` units per input column) is tried with ``method="sparse"`` at
each density of a geometric grid; the smallest measured density (kept / source parameters) whose
certificate is ``<= eps`` is the measurement. The fewest-candidates Pensia ticket (``method="pensia"``,
the same ``n``) is built for comparison, and the rule reports Theorem 3's block ``n*`` and Theorem 5's
lower bound for the same counts (:mod:`theory.rules.rfss`, rule ``rfss-sparse-ticket``).

Records: ``tickets.csv`` (one row per ticket) and ``evidence.json``.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from sim.experiments import Context, Experiment, register_experiment
from theory.plumbing.configs import help_field
from theory.plumbing.rundir import RunDir

EVIDENCE_FILE = "evidence.json"
EVIDENCE_ID = "rfss-sparse-ticket"


@dataclasses.dataclass(frozen=True)
class SparseConfig:
    """Sparse (fixed-size) tickets vs source width at fixed eps."""

    eps: float = help_field(0.06, "certified accuracy (Theorem 5 needs eps < 1/16)")
    widths: tuple[int, ...] = help_field((12, 16, 20, 24, 28, 32), "candidates per half-block n (width)")
    densities: tuple[float, ...] = help_field(
        tuple(float(v) for v in np.round(np.geomspace(0.03, 0.3, 10), 5)), "requested densities (grid)"
    )
    dims: tuple[int, ...] = help_field((4, 4, 2), "target widths d_0, d_1, ..., d_L")
    target_seed: int = help_field(0, "seed of the random target")
    seeds: tuple[int, ...] = help_field((1,), "seeds of the random sources")


PRESETS = {
    "quick": SparseConfig(widths=(16, 24), densities=(0.05, 0.1, 0.2)),
    "default": SparseConfig(),
    "full": SparseConfig(widths=(12, 16, 20, 24, 28, 32, 36, 40), seeds=(1, 2, 3, 4)),
}


def make_target(dims: tuple[int, ...], seed: int):
    """A bias-free ReLU MLP with each layer's U[-1, 1] weights divided by their spectral norm."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    mods: list[Any] = []
    for i, (d_in, d_out) in enumerate(itertools.pairwise(dims)):
        lin = torch.nn.Linear(d_in, d_out, bias=False)
        w = torch.rand(d_out, d_in, generator=gen, dtype=torch.float64) * 2 - 1
        with torch.no_grad():
            lin.weight.copy_((w / torch.linalg.matrix_norm(w, ord=2)).float())
        mods.append(lin)
        if i < len(dims) - 2:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def _ticket_row(ticket, method: str, n: int, seed: int, requested: float | None) -> dict:
    rep = ticket.report()
    return {
        "method": method,
        "n": n,
        "seed": seed,
        "density_requested": requested,
        "layer_density": rep.get("layer_density"),
        "subset_sizes": rep.get("subset_sizes"),
        "density": rep["kept_params"] / rep["source_params"],
        "kept": rep["kept_params"],
        "source": rep["source_params"],
        "certified": rep["certified_bound"],
        "failed": rep["num_failed_weights"],
    }


def _cell(item: tuple) -> list[dict]:
    """All tickets of one (width, seed): the density grid with ``sparse``, and one ``pensia`` ticket."""
    from networks.construct import construct_ticket

    cfg, n, seed = item
    target = make_target(cfg.dims, cfg.target_seed)
    rows = []
    for gamma in cfg.densities:
        try:
            t = construct_ticket(
                target, eps=cfg.eps, method="sparse", density=gamma, candidates_per_weight=n, seed=seed
            )
        except ValueError as err:
            if "density must be >=" not in str(err):
                raise
            continue  # below the smallest density this width allows (one unit per weight): not a ticket
        rows.append(_ticket_row(t, "sparse", n, seed, gamma))
    t = construct_ticket(target, eps=cfg.eps, method="pensia", candidates_per_weight=n, seed=seed)
    rows.append(_ticket_row(t, "pensia", n, seed, None))
    return rows


def run_sparse_tickets(cfg: SparseConfig, rundir: RunDir, ctx: Context) -> dict:
    """Build every ticket and record them (``tickets.csv``, ``evidence.json``)."""
    items = [(cfg, n, s) for n in cfg.widths for s in cfg.seeds]
    rows = [r for cell in ctx.executor.map(_cell, items) for r in cell]
    details = {
        "eps": cfg.eps,
        "dims": list(cfg.dims),
        "target_seed": cfg.target_seed,
        "densities": list(cfg.densities),
        "rows": rows,
    }
    rundir.write_json(EVIDENCE_FILE, {EVIDENCE_ID: details})
    flat = [
        {
            **{k: v for k, v in r.items() if k not in ("layer_density", "subset_sizes")},
            "layer_density": ";".join(f"{v:.6g}" for v in r["layer_density"] or []),
            "subset_sizes": ";".join(str(v) for v in r["subset_sizes"] or []),
        }
        for r in rows
    ]
    rundir.write_csv("tickets.csv", flat, fieldnames=list(flat[0]))
    return details


def sparse_evidence(rundir: RunDir) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{rfss-sparse-ticket: (rule, details)}``."""
    if not rundir.exists(EVIDENCE_FILE):
        return {}
    return {eid: (eid, d) for eid, d in rundir.read_json(EVIDENCE_FILE).items()}


register_experiment(
    Experiment(
        "sparse-tickets",
        "sparse tickets of a chosen density vs source width (Natale et al. 2024 Theorem 3)",
        SparseConfig,
        PRESETS,
        run_sparse_tickets,
        sparse_evidence,
        (EVIDENCE_ID,),
    )
)
