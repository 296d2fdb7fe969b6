"""Training sweeps that produce the practice evidence: the CPU test bed and every training claim.

Each sweep is a :class:`sim.experiments.Experiment` whose config is a
:class:`~sim.training_sweeps.config.TrainingSweepConfig` (presets ``default``: the CPU test bed, a wide
MLP on scikit-learn digits at 8 paired seeds plus a wide 1-D conv net on MNIST-1D; ``quick``: a smoke run
of the same code path; ``full``: CIFAR-10 with Conv-4/6/8 and ResNet-18 at the hidden-networks
defaults, for a GPU). Its run trains every ``(variant, TrainConfig)`` of
:mod:`~sim.training_sweeps.variants` at every seed, through the executor of the call (each run
single-threaded), inside the sweep's run directory (:mod:`~sim.training_sweeps.runs`); its evidence
comes from :mod:`~sim.training_sweeps.evidence`, decided by the rules of :mod:`theory.rules.practice`.

* ``ep-vs-dense``: EP accuracy vs density and the dense baseline; claim ``testbed-ep-near-dense``.
* ``ep-dying``: Dying Ratio and turnover over training (every step) at five densities; claims
  ``ep-dying-ratio-grows``, ``ep-mask-turnover-small``.
* ``ep-hparams``: Dying Ratio and accuracy across lr, batch size, weight decay, weight and score init;
  claim ``ep-dying-accuracy-correlation``.
* ``iep``: EP vs soft vs hard iEP vs IteRand at matched compute (also ``cycles.csv``); claims
  ``iep-soft-beats-ep`` (``.accuracy``, ``.dying-ratio``, ``.early``), ``iep-hard-worst-case``,
  ``iterand-lowers-dying``, ``iep-hard-beats-ep`` (on the fresh seeds ``iep_worst_seeds`` only).
* ``iep-rewind``: hard iEP with the four rewinding variants, and EP; claim ``iep-rewind-variants``.
* ``pgd-ep``: PGD+EP accuracy over sparsity 0..0.9 x eps (``grid.csv``); claim
  ``pgd-ep-perturbation-helps`` (``.accuracy-rises``, ``.best-sparsity-falls``).
* ``rigl``: RigL vs second-order RigL at 80% and 90% sparsity; claim ``rigl-second-order``
  (``.accuracy``, ``.extra-time``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.experiments import Context, Experiment, register_experiment
from sim.training_sweeps import evidence, variants
from sim.training_sweeps.config import DEFAULT, FULL, QUICK, TrainingSweepConfig
from sim.training_sweeps.runs import run_training_sweep
from theory.plumbing.rundir import RunDir

PRESETS = {"quick": QUICK, "default": DEFAULT, "full": FULL}


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


_sweep(
    "ep-vs-dense",
    "EP accuracy vs density, and dense SGD",
    variants.ep_vs_dense,
    evidence.ep_vs_dense,
    ("testbed-ep-near-dense",),
)
_sweep(
    "ep-dying",
    "Dying Ratio and turnover over training per density",
    variants.ep_dying,
    evidence.ep_dying,
    ("ep-dying-ratio-grows", "ep-mask-turnover-small"),
)
_sweep(
    "ep-hparams",
    "Dying Ratio vs accuracy across hyperparameters",
    variants.ep_hparams,
    evidence.ep_hparams,
    ("ep-dying-accuracy-correlation",),
)
_sweep(
    "iep",
    "EP vs soft vs hard iEP vs IteRand, matched compute",
    variants.iep,
    evidence.iep,
    (
        "iep-soft-beats-ep.accuracy",
        "iep-soft-beats-ep.dying-ratio",
        "iep-soft-beats-ep.early",
        "iep-hard-worst-case",
        "iterand-lowers-dying",
        "iep-hard-beats-ep",
    ),
    _cycles_table,
)
_sweep(
    "iep-rewind",
    "hard iEP rewinding variants vs EP",
    variants.iep_rewind,
    evidence.iep_rewind,
    ("iep-rewind-variants.beat-ep", "iep-rewind-variants.lr-best"),
)
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
    ("rigl-second-order.accuracy", "rigl-second-order.extra-time"),
)
