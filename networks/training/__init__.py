"""Mask training: Edge-Popup, iEP, IteRand, PGD+EP, RigL/SET, second-order RigL, the Dying Ratio, runs.

Entry points: :func:`train` (one config, one seed, resumable run directory), ``slth train`` (the CLI),
:mod:`networks.training.ddp` (torchrun). Names are resolved lazily (PEP 562) so that importing
``networks.training.config`` for CLI registration does not import torch; reading ``TRAINING_METHODS``
from here registers every built-in method first.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "TRAINING_METHODS",
    "Cycle",
    "DistInfo",
    "DyingRatioTracker",
    "Method",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "derive_seed",
    "erk_densities",
    "get_method",
    "iep_densities",
    "load_builtin_methods",
    "register_method",
    "run_path",
    "train",
    "uniform_densities",
    "validate_config",
]

_WHERE = {
    "Cycle": "base",
    "Method": "base",
    "get_method": "base",
    "load_builtin_methods": "base",
    "register_method": "base",
    "TrainConfig": "config",
    "validate_config": "config",
    "DyingRatioTracker": "dying",
    "iep_densities": "iep",
    "erk_densities": "rigl",
    "uniform_densities": "rigl",
    "DistInfo": "trainer",
    "TrainResult": "trainer",
    "Trainer": "trainer",
    "TrainingDiverged": "trainer",
    "derive_seed": "trainer",
    "run_path": "trainer",
    "train": "trainer",
}


def __getattr__(name: str) -> Any:
    if name == "TRAINING_METHODS":
        from networks.training.base import load_builtin_methods

        return load_builtin_methods()
    if name in _WHERE:
        return getattr(importlib.import_module(f"networks.training.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'networks.training' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
