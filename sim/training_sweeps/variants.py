"""The variants of each training sweep: ``(label, TrainConfig)`` pairs, every variant at every seed.

Each function maps a :class:`sim.training_sweeps.config.TrainingSweepConfig` to the list of runs of one
sweep. Every arm of a sweep runs at the same seeds, and a seed fixes the frozen weights, the initial
scores and the data order (``networks.training.trainer.derive_seed``), so the arms are paired. Imports no
torch (``networks.training.config`` is plain dataclasses).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from networks.training.config import TrainConfig
from sim.training_sweeps.config import TrainingSweepConfig

#: EP densities of ``ep-vs-dense`` (0.5 is the test bed's acceptance point).
EP_DENSITIES = (0.05, 0.1, 0.3, 0.5, 0.7, 0.9)
#: Densities of ``ep-dying`` (sparsity 0.3 .. 0.95, the source's Table 1 spans 0.2 .. 0.832).
DYING_DENSITIES = (0.05, 0.1, 0.3, 0.5, 0.7)
#: Densities of ``iep`` (sparsity 0.9 and 0.95: "most visibly at high sparsity").
IEP_DENSITIES = (0.05, 0.1)
#: Density of ``iep-rewind``.
REWIND_DENSITY = 0.1
#: The PGD+EP grid: sparsity 0, 0.1, .., 0.9 (Xiong et al.'s grid).
PGD_DENSITIES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
#: iEP cycles (the source does not state K; algorithms.md §3.3 PROPOSAL).
IEP_CYCLES = 3


def _base(cfg: TrainingSweepConfig) -> TrainConfig:
    return TrainConfig(
        model=cfg.model,
        dataset=cfg.dataset,
        hidden=tuple(cfg.hidden),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        log_every=cfg.log_every,
    )


def _seeded(variants: Sequence[tuple[str, Any]], seeds: Sequence[int]) -> list[tuple[str, Any]]:
    return [(label, dataclasses.replace(c, seed=s)) for label, c in variants for s in seeds]


def _ep(base: TrainConfig, density: float, **kw: Any) -> TrainConfig:
    return dataclasses.replace(base, method="ep", density=density, **kw)


def _dense(base: TrainConfig, cfg: TrainingSweepConfig) -> TrainConfig:
    return dataclasses.replace(base, method="dense", density=1.0, lr=cfg.dense_lr)


def ep_vs_dense(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """EP at six densities and dense SGD: the MLP on ``dataset``, each conv net on ``conv_dataset``."""
    base = _base(cfg)
    runs = _seeded([("ep", _ep(base, d)) for d in EP_DENSITIES] + [("dense", _dense(base, cfg))], cfg.seeds)
    for model in cfg.conv_models:
        conv = dataclasses.replace(base, model=model, dataset=cfg.conv_dataset, epochs=cfg.conv_epochs)
        arms = [("ep", _ep(conv, d)) for d in (0.1, 0.3, 0.5, 0.7)] + [("dense", _dense(conv, cfg))]
        runs += _seeded(arms, cfg.conv_seeds)
    return runs


def ep_dying(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """EP at five densities, metrics logged every step (the Dying Ratio and turnover over training)."""
    base = _base(cfg)
    return _seeded([("ep", _ep(base, d, log_every=1)) for d in DYING_DENSITIES], cfg.seeds)


def hparam_variants(cfg: TrainingSweepConfig) -> list[tuple[str, dict[str, Any]]]:
    """The one-at-a-time hyperparameter changes of ``ep-hparams``, relative to the base run."""
    out: list[tuple[str, dict[str, Any]]] = [("base", {})]
    out += [(f"lr={cfg.lr * f:g}", {"lr": cfg.lr * f}) for f in (0.03, 0.1, 0.3, 3.0)]
    out += [(f"batch_size={b}", {"batch_size": b}) for b in (cfg.batch_size // 4, cfg.batch_size * 4)]
    out += [(f"weight_decay={w:g}", {"weight_decay": w}) for w in (0.0, 1e-3, 1e-2)]
    out += [(f"weight_init={w}", {"weight_init": w}) for w in ("kaiming_normal", "kaiming_uniform")]
    out += [(f"score_init={s}", {"score_init": s}) for s in ("kaiming_uniform_relu",)]
    return out


def ep_hparams(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """EP at density 0.3 with one hyperparameter changed at a time (lr, batch, wd, weight/score init)."""
    ep = _ep(_base(cfg), 0.3)
    return _seeded(
        [(label, dataclasses.replace(ep, **kw)) for label, kw in hparam_variants(cfg)], cfg.hparam_seeds
    )


def _iep(base: TrainConfig, density: float, mode: str, rewind: str = "lr_rewind") -> TrainConfig:
    # Matched compute: the epochs of one EP run are split over iEP's cycles (budget "total").
    return dataclasses.replace(
        base,
        method="iep",
        density=density,
        iep_mode=mode,
        iep_cycles=IEP_CYCLES,
        iep_budget="total",
        iep_rewind=rewind,
        iep_finetune_lr=base.lr * 0.1,
    )


def _iep_base(cfg: TrainingSweepConfig) -> TrainConfig:
    # Matched compute: every arm trains the same epochs, a multiple of the cycles (rounded up).
    epochs = IEP_CYCLES * -(-cfg.epochs // IEP_CYCLES)
    return dataclasses.replace(_base(cfg), epochs=epochs)


def iep(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """EP vs soft iEP vs hard iEP vs IteRand at two high sparsities and matched compute."""
    base = _iep_base(cfg)
    variants = []
    for d in IEP_DENSITIES:
        variants.append(("ep", _ep(base, d)))
        variants += [(mode, _iep(base, d, mode)) for mode in ("soft", "hard")]
        variants.append(
            (
                "iterand",
                dataclasses.replace(base, method="iterand", density=d, iterand_period=cfg.iterand_period),
            )
        )
    # The worst-case test (soft minus hard accuracy at the sparsest density) gets more paired seeds; EP
    # runs there too, so that hard minus EP (iep-hard-beats-ep) is decided on seeds it was never seen on.
    worst = [("ep", _ep(base, IEP_DENSITIES[0]))] if cfg.iep_worst_ep else []
    worst += [(mode, _iep(base, IEP_DENSITIES[0], mode)) for mode in ("soft", "hard")]
    return _seeded(variants, cfg.seeds) + _seeded(worst, cfg.iep_worst_seeds)


def iep_rewind(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """Hard iEP with the four rewinding variants, and EP, at one density (matched compute)."""
    base = _iep_base(cfg)
    variants = [("ep", _ep(base, REWIND_DENSITY))]
    variants += [
        (r, _iep(base, REWIND_DENSITY, "hard", r))
        for r in ("finetune", "lr_rewind", "score_rewind", "score_reinit")
    ]
    return _seeded(variants, cfg.seeds)


def pgd_ep(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """PGD+EP over the sparsity grid 0..0.9 at each perturbation size eps (Xiong et al., Alg. 1)."""
    base = _base(cfg)
    variants = [
        (
            f"eps={eps:g}",
            dataclasses.replace(
                base,
                method="pgd_ep",
                pgd_eps=eps,
                pgd_epochs=cfg.pgd_epochs,
                pgd_lr=cfg.dense_lr,
                pgd_densities=PGD_DENSITIES,
                epochs=cfg.pgd_epochs,
            ),
        )
        for eps in cfg.pgd_eps
    ]
    return _seeded(variants, cfg.seeds)


def rigl(cfg: TrainingSweepConfig) -> list[tuple[str, Any]]:
    """RigL vs second-order RigL at 80% and 90% sparsity."""
    base = _base(cfg)
    variants = [
        (
            m,
            dataclasses.replace(
                base,
                method=m,
                density=round(1 - s, 10),
                lr=cfg.dense_lr,
                rigl_interval=cfg.rigl_interval,
                log_every=cfg.rigl_log_every,
            ),
        )
        for s in (0.8, 0.9)
        for m in ("rigl", "rigl2")
    ]
    return _seeded(variants, cfg.seeds)
