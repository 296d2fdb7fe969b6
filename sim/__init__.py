"""sim: Monte Carlo evidence for the bounds and checks of the Taylor loss-change formulas.

Called from Python, everything runs in this process unless the caller names another executor
(``executor="process"``, ``"submitit"``, ``"dask"``): a plain script, a script on standard input and a
notebook all work and run their top level once. The command line uses a process pool by default.

Public names (imported on first use, so ``import sim`` and ``slth --help`` stay cheap):

* ``coverage_probability``, ``min_candidates``, ``CoverageResult``, ``MinCandidatesResult``
  (:mod:`sim.monte_carlo`);
* ``clopper_pearson``, ``bootstrap_interval`` (:mod:`theory.stats`);
* ``get_executor``, ``register_executor``, ``EXECUTORS`` (:mod:`sim.executors`);
* ``DISTRIBUTIONS``, ``register_distribution``, ``get_distribution`` (:mod:`sim.distributions`);
* ``Experiment``, ``EXPERIMENTS``, ``get_experiment``, ``register_experiment``, ``load_experiments``
  (:mod:`sim.experiments`): every producer of records (sweeps, training sweeps, constructions, Taylor);
* ``RunStore`` (:mod:`sim.store`), ``CellSpec``, ``run_cells`` (:mod:`sim.cells`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "coverage_probability": "sim.monte_carlo",
    "min_candidates": "sim.monte_carlo",
    "CoverageResult": "sim.monte_carlo",
    "MinCandidatesResult": "sim.monte_carlo",
    "clopper_pearson": "theory.stats",
    "bootstrap_interval": "theory.stats",
    "get_executor": "sim.executors",
    "register_executor": "sim.executors",
    "EXECUTORS": "sim.executors",
    "DISTRIBUTIONS": "sim.distributions",
    "register_distribution": "sim.distributions",
    "get_distribution": "sim.distributions",
    "Experiment": "sim.experiments",
    "EXPERIMENTS": "sim.experiments",
    "get_experiment": "sim.experiments",
    "register_experiment": "sim.experiments",
    "load_experiments": "sim.experiments",
    "RunStore": "sim.store",
    "CellSpec": "sim.cells",
    "run_cells": "sim.cells",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # PEP 562 lazy re-export: numpy/scipy load only when a numeric name is first used.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
