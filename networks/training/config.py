"""The training run configuration: one frozen dataclass giving the flags, ``config.json`` and run hash.

Every field of :class:`TrainConfig` becomes a ``slth train`` flag (``--iep-cycles`` for ``iep_cycles``), is
written to the run's ``config.json``, and, when it differs from its default, enters the run hash
(``theory.plumbing.configs.config_hash``). The seed is *not* part of the hash: the seeds of one config share
``runs/<experiment>/<hash>/`` and differ in ``seed_<s>/``.

Runtime choices that do not change the result (device, quiet, the data root) are not fields.

Words: ``density`` is the fraction of weights KEPT, ``sparsity = 1 - density`` the fraction removed.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from theory.plumbing.configs import help_field
from theory.validate import check_choice, check_int, check_range

__all__ = ["TrainConfig", "validate_config"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Mask or weight training of one model on one dataset (EP, iEP, IteRand, PGD+EP, RigL, dense)."""

    method: str = help_field("ep", "training method (see networks.training.TRAINING_METHODS)")
    model: str = help_field("mlp", "model name (see networks.models.MODELS)")
    dataset: str = help_field("mnist1d", "dataset name (see networks.data.DATASETS)")
    density: float = help_field(0.5, "target fraction of prunable weights KEPT, in (0, 1]")
    hidden: tuple[int, ...] = help_field((128, 128), "hidden widths of the 'mlp' model (ignored by others)")
    epochs: int = help_field(10, "training epochs (per iEP cycle when --iep-budget per_cycle)")
    batch_size: int = help_field(128, "minibatch size (global, across DDP ranks)")
    lr: float = help_field(0.1, "initial learning rate")
    lr_schedule: Literal["cosine", "constant"] = help_field(
        "cosine", "learning-rate schedule: cosine annealing per step within each cycle, or constant"
    )
    momentum: float = help_field(0.9, "SGD momentum")
    nesterov: bool = help_field(False, "Nesterov momentum")
    weight_decay: float = help_field(
        1e-4, "weight decay (on scores for EP-type methods, as in Ramanujan et al.)"
    )
    weight_init: str = help_field("signed_kaiming_constant", "weight init (see networks.inits.WEIGHT_INITS)")
    score_init: str = help_field("kaiming_uniform_a_sqrt5", "score init (see networks.inits.SCORE_INITS)")
    seed: int = help_field(0, "seed of weights, scores, data order and method randomness (not hashed)")
    log_every: int = help_field(1, "log train loss / dying ratio / turnover every this many steps")
    # iterative Edge-Popup (Iwasawa et al.)
    iep_cycles: int = help_field(3, "iEP: number of cycles K; density of cycle c is density**(c/K)")
    iep_mode: Literal["soft", "hard"] = help_field(
        "soft", "iEP: soft searches the full space each cycle, hard only inside the previous mask"
    )
    iep_rewind: Literal["lr_rewind", "finetune", "score_rewind", "score_reinit"] = help_field(
        "lr_rewind",
        "iEP: what happens at a cycle start (scores kept + LR rewound; low constant LR; "
        "scores rewound to init; scores re-drawn)",
    )
    iep_budget: Literal["per_cycle", "total"] = help_field(
        "per_cycle",
        "iEP: --epochs per cycle, or --epochs in total split evenly over cycles (matched compute)",
    )
    iep_finetune_lr: float = help_field(0.01, "iEP finetune: the constant LR of cycles after the first")
    # IteRand (Chijiwa et al.)
    iterand_lambda: float = help_field(0.1, "IteRand: probability of re-drawing each pruned weight")
    iterand_period: int = help_field(300, "IteRand: re-randomise every this many steps (K_per)")
    # PGD + Edge-Popup (Xiong et al., Alg. 1)
    pgd_eps: float = help_field(
        0.0, "PGD+EP: max-norm bound eps of the weight perturbation (0: plain EP grid)"
    )
    pgd_epochs: int = help_field(1, "PGD+EP: epochs of projected gradient steps on the weights")
    pgd_lr: float = help_field(0.01, "PGD+EP: step size of the projected gradient steps")
    pgd_densities: tuple[float, ...] = help_field(
        (0.9, 0.7, 0.5, 0.3, 0.1), "PGD+EP: grid of densities searched by EP after the perturbation"
    )
    # RigL (Evci et al.) and second-order RigL
    rigl_distribution: Literal["erk", "uniform"] = help_field(
        "erk", "RigL: per-layer density allocation (Erdos-Renyi-kernel or uniform)"
    )
    rigl_alpha: float = help_field(0.3, "RigL: initial update fraction alpha (cosine-annealed)")
    rigl_interval: int = help_field(100, "RigL: steps between mask updates (Delta T)")
    rigl_end_fraction: float = help_field(0.75, "RigL: no mask updates after this fraction of training")
    rigl2_pool: float = help_field(
        3.0, "second-order RigL: candidate pool size as a multiple of the update count"
    )
    rigl2_hvps: int = help_field(
        2, "second-order RigL: 1 (joint) or 2 (prune first, then grow) HVPs per update"
    )
    rigl2_hutchinson: int = help_field(0, "second-order RigL: Hutchinson samples for diag(H) (0: h_i := 0)")


_SCHEMA_RANGES = {
    "epochs": (1, None),
    "batch_size": (1, None),
    "log_every": (1, None),
    "iep_cycles": (1, 100),
    "iterand_period": (1, None),
    "pgd_epochs": (0, None),
    "rigl_interval": (1, None),
    "rigl2_hvps": (1, 2),
    "rigl2_hutchinson": (0, 64),
    "seed": (0, None),
}


def validate_config(cfg: TrainConfig) -> TrainConfig:
    """Check every field of ``cfg`` against its allowed range and the registries.

    Args:
        cfg: The config to check.

    Returns:
        ``cfg`` unchanged.

    Raises:
        ValueError: Naming the field and the allowed range or the valid names.
    """
    from networks.training.base import load_builtin_methods

    check_choice("method", cfg.method, sorted(load_builtin_methods()))
    check_range("density", cfg.density, 0.0, 1.0, lo_open=True)
    for name, (lo, hi) in _SCHEMA_RANGES.items():
        check_int(name, getattr(cfg, name), lo, hi)
    check_range("lr", cfg.lr, 0.0, None, lo_open=True)
    check_range("momentum", cfg.momentum, 0.0, 1.0, hi_open=True)
    check_range("weight_decay", cfg.weight_decay, 0.0, None)
    check_range("iep_finetune_lr", cfg.iep_finetune_lr, 0.0, None, lo_open=True)
    check_range("iterand_lambda", cfg.iterand_lambda, 0.0, 1.0)
    check_range("pgd_eps", cfg.pgd_eps, 0.0, None)
    check_range("pgd_lr", cfg.pgd_lr, 0.0, None, lo_open=True)
    if not cfg.pgd_densities:
        raise ValueError("pgd_densities must hold at least one density in (0, 1]")
    for d in cfg.pgd_densities:
        check_range("pgd_densities entry", d, 0.0, 1.0, lo_open=True)
    check_range("rigl_alpha", cfg.rigl_alpha, 0.0, 1.0, hi_open=True)
    check_range("rigl_end_fraction", cfg.rigl_end_fraction, 0.0, 1.0)
    check_range("rigl2_pool", cfg.rigl2_pool, 1.0, None)
    if any(h < 1 for h in cfg.hidden):
        raise ValueError(f"hidden widths must be >= 1, got {cfg.hidden}")
    if cfg.iep_budget == "total" and cfg.epochs % cfg.iep_cycles:
        raise ValueError(
            f"iep_budget 'total' needs epochs divisible by iep_cycles, got epochs={cfg.epochs}, "
            f"iep_cycles={cfg.iep_cycles}"
        )
    if cfg.momentum == 0.0 and cfg.nesterov:
        raise ValueError("nesterov needs momentum in (0, 1)")
    return cfg
