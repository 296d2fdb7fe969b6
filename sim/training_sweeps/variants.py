"""The variants of each training sweep: ``(label, TrainConfig)`` pairs, every variant at every seed.

Each function maps a :class:`sim.training_sweeps.config.TrainingSweepConfig` to the list of runs of one
sweep. Imports no torch (``networks.training.config`` is plain dataclasses).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from networks.training.config import TrainConfig
from sim.training_sweeps.config import TrainingSweepConfig


def _base(cfg: TrainingSweepConfig) -> tuple[TrainConfig, tuple[int, ...]]:
    base = TrainConfig(
        model=cfg.model,
        dataset=cfg.dataset,
        hidden=tuple(cfg.hidden),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        log_every=cfg.log_every,
    )
    return base, tuple(cfg.seeds)


def _seeded(variants: Sequence[tuple[str, Any]], seeds: Sequence[int]) -> list[tuple[str, Any]]:
    return [(label, dataclasses.replace(cfg, seed=s)) for label, cfg in variants for s in seeds]


def ep_vs_dense(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """EP at six densities and the dense SGD baseline, on MNIST-1D and scikit-learn's 8x8 digits."""
    base, seeds = _base(cfg)
    dens = (0.05, 0.1, 0.3, 0.5, 0.7, 0.9)
    variants = []
    # Both offline datasets: MNIST-1D (the base) and scikit-learn's 8x8 digits.
    for data in (base, dataclasses.replace(base, dataset="digits")):
        variants += [("ep", dataclasses.replace(data, method="ep", density=d)) for d in dens]
        variants.append(("dense", dataclasses.replace(data, method="dense", density=1.0, lr=0.1)))
    return _seeded(variants, seeds)


def ep_dying(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """EP at four densities, metrics logged every step (the Dying Ratio over training)."""
    base, seeds = _base(cfg)
    return _seeded(
        [
            ("ep", dataclasses.replace(base, method="ep", density=d, log_every=1))
            for d in (0.1, 0.3, 0.5, 0.7)
        ],
        seeds,
    )


def ep_hparams(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """EP at density 0.3 with one hyperparameter changed at a time."""
    base, seeds = _base(cfg)
    ep = dataclasses.replace(base, method="ep", density=0.3)
    variants = [("base", ep)]
    variants += [(f"lr={v}", dataclasses.replace(ep, lr=v)) for v in (0.1, 2.0)]
    variants += [(f"batch_size={v}", dataclasses.replace(ep, batch_size=v)) for v in (64, 256)]
    variants += [(f"weight_decay={v}", dataclasses.replace(ep, weight_decay=v)) for v in (0.0, 1e-3)]
    variants += [("weight_init=kaiming_normal", dataclasses.replace(ep, weight_init="kaiming_normal"))]
    variants += [
        ("score_init=kaiming_uniform_relu", dataclasses.replace(ep, score_init="kaiming_uniform_relu"))
    ]
    return _seeded(variants, seeds)


def _iep_base(cfg: TrainingSweepConfig) -> tuple[Any, tuple[int, ...]]:
    # iEP's budget "total" splits the epochs over 3 cycles.
    base, seeds = _base(cfg)
    return dataclasses.replace(base, epochs=cfg.iep_epochs), seeds


def iep(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """EP vs soft vs hard iEP at two densities and matched compute."""
    base, seeds = _iep_base(cfg)
    variants = []
    for d in (0.05, 0.2):
        # Matched compute: EP's epochs are split over iEP's 3 cycles.
        variants.append(("ep", dataclasses.replace(base, method="ep", density=d)))
        for mode in ("soft", "hard"):
            variants.append(
                (
                    mode,
                    dataclasses.replace(
                        base, method="iep", density=d, iep_mode=mode, iep_cycles=3, iep_budget="total"
                    ),
                )
            )
    return _seeded(variants, seeds)


def iep_rewind(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """Hard iEP with the four rewinding variants at two densities."""
    base, seeds = _iep_base(cfg)
    variants = []
    for d in (0.05, 0.2):
        for rewind in ("finetune", "lr_rewind", "score_rewind", "score_reinit"):
            variants.append(
                (
                    rewind,
                    dataclasses.replace(
                        base,
                        method="iep",
                        density=d,
                        iep_mode="hard",
                        iep_cycles=3,
                        iep_budget="total",
                        iep_rewind=rewind,
                        iep_finetune_lr=0.05,
                    ),
                )
            )
    return _seeded(variants, seeds)


def pgd_ep(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """PGD+EP over a density grid at four perturbation sizes eps."""
    base, seeds = _base(cfg)
    grid = (1.0, 0.9, 0.7, 0.5, 0.3, 0.1)
    epochs = cfg.pgd_epochs
    variants = [
        (
            f"eps={eps}",
            dataclasses.replace(
                base,
                method="pgd_ep",
                pgd_eps=eps,
                pgd_epochs=epochs,
                pgd_lr=0.1,
                pgd_densities=grid,
                epochs=epochs,
            ),
        )
        for eps in (0.0, 0.01, 0.03, 0.1)
    ]
    return _seeded(variants, seeds)


def rigl(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """RigL vs second-order RigL at 80% and 90% sparsity."""
    base, seeds = _base(cfg)
    interval = cfg.rigl_interval
    variants = [
        (
            m,
            dataclasses.replace(
                base,
                method=m,
                density=round(1 - s, 10),
                lr=0.1,
                rigl_interval=interval,
                log_every=cfg.rigl_log_every,
            ),
        )
        for s in (0.8, 0.9)
        for m in ("rigl", "rigl2")
    ]
    return _seeded(variants, seeds)
