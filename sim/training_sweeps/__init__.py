"""Training sweeps that produce the practice evidence: EP vs dense, Dying Ratio, iEP, PGD+EP, RigL.

Each sweep is a :class:`sim.experiments.Experiment` whose config is a
:class:`~sim.training_sweeps.config.TrainingSweepConfig` (presets ``quick``/``default``: MNIST-1D MLPs
of 8-20 epochs, the whole set in a few minutes on 2 CPU cores; ``full``: wider MLPs, 30 epochs, 5
seeds). Its run trains every ``(variant, TrainConfig)`` of :mod:`~sim.training_sweeps.variants` at
every seed, through the executor of the call (each run single-threaded), inside the sweep's run
directory (:mod:`~sim.training_sweeps.runs`); its evidence comes from
:mod:`~sim.training_sweeps.evidence`.

* ``ep-vs-dense``: test accuracy vs density for EP, and the dense SGD baseline, on MNIST-1D and digits.
* ``ep-dying``: Dying Ratio over training (logged every step) at several densities; claim
  ``ep-dying-ratio-grows``.
* ``ep-hparams``: Dying Ratio and accuracy across lr, batch size, weight decay, weight and score init.
* ``iep``: EP vs soft vs hard iEP at matched compute and equal densities, Dying Ratio per cycle (also
  ``cycles.csv``); claim ``iep-soft-beats-ep`` in two parts, ``.accuracy`` and ``.dying-ratio``.
* ``iep-rewind``: hard iEP with the four rewinding variants at several densities.
* ``pgd-ep``: PGD+EP accuracy over sparsity x eps (``grid.csv``); claim ``pgd-ep-perturbation-helps`` in
  two parts, ``.accuracy-rises`` and ``.best-sparsity-falls``.
* ``rigl``: RigL vs second-order RigL at 80% and 90% sparsity, training curves in metrics.csv; claim
  ``rigl-second-order``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.experiments import Context, Experiment, register_experiment
from sim.training_sweeps import evidence, variants
from sim.training_sweeps.config import QUICK, TrainingSweepConfig
from sim.training_sweeps.runs import run_training_sweep
from theory.plumbing.rundir import RunDir

PRESETS = {"quick": QUICK, "default": QUICK, "full": TrainingSweepConfig()}


def _grid_table(rundir: RunDir, rows: list[dict[str, Any]]) -> None:
    rundir.write_csv("grid.csv", evidence.pgd_grid_rows(rows))


def _cycles_table(rundir: RunDir, rows: list[dict[str, Any]]) -> None:
    rundir.write_csv("cycles.csv", evidence.iep_cycle_rows(rows))


def _sweep(
    name: str,
    description: str,
    plan: Callable[[TrainingSweepConfig], list[tuple[str, Any]]],
    judge: Callable[[RunDir], evidence.Evidence] | None = None,
    claims: tuple[str, ...] = (),
    table: Callable[[RunDir, list[dict[str, Any]]], None] | None = None,
) -> Experiment:
    def run(cfg: TrainingSweepConfig, rundir: RunDir, ctx: Context) -> list[dict[str, Any]]:
        rows = run_training_sweep(name, plan(cfg), rundir, ctx)
        if table is not None:
            table(rundir, rows)
        return rows

    exp = Experiment(name, description, TrainingSweepConfig, PRESETS, run, judge, claims)
    return register_experiment(exp)


_sweep("ep-vs-dense", "EP accuracy vs density, and dense SGD", variants.ep_vs_dense)
_sweep(
    "ep-dying",
    "Dying Ratio over training per density",
    variants.ep_dying,
    evidence.ep_dying,
    ("ep-dying-ratio-grows",),
)
_sweep("ep-hparams", "Dying Ratio vs accuracy across hyperparameters", variants.ep_hparams)
_sweep(
    "iep",
    "EP vs soft vs hard iEP, matched compute",
    variants.iep,
    evidence.iep,
    ("iep-soft-beats-ep.accuracy", "iep-soft-beats-ep.dying-ratio"),
    _cycles_table,
)
_sweep("iep-rewind", "hard iEP rewinding variants at several densities", variants.iep_rewind)
_sweep(
    "pgd-ep",
    "PGD+EP accuracy, sparsity x eps",
    variants.pgd_ep,
    evidence.pgd_ep,
    ("pgd-ep-perturbation-helps.accuracy-rises", "pgd-ep-perturbation-helps.best-sparsity-falls"),
    _grid_table,
)
_sweep(
    "rigl",
    "RigL vs second-order RigL at 80/90% sparsity",
    variants.rigl,
    evidence.rigl,
    ("rigl-second-order",),
)
