"""The training run configuration: one frozen dataclass giving the flags, ``config.json`` and run hash.

``TrainConfig`` is generated: the common fields below plus, for every registered training method, the
fields of its own nested params dataclass (``Method.Params``, validated in its ``__post_init__``) under
their flat names (``IEPParams.cycles`` -> ``iep_cycles``; see :mod:`networks.training.base`). The flat
form is what the CLI, ``config.json`` and the hash see, so they are unchanged by where a field is declared.
Every field of ``TrainConfig`` becomes a ``slth train`` flag (``--iep-cycles`` for ``iep_cycles``), is
written to the run's ``config.json``, and, when it differs from its default, enters the run hash
(``theory.plumbing.configs.config_hash``). The seed is *not* part of the hash: the seeds of one config share
``runs/<experiment>/<hash>/`` and differ in ``seed_<s>/``.

Runtime choices that do not change the result (device, quiet, the data root) are not fields.

Words: ``density`` is the fraction of weights KEPT, ``sparsity = 1 - density`` the fraction removed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from theory.plumbing.configs import help_field
from theory.validate import check_choice, check_int, check_range

__all__ = ["TrainConfig", "validate_config"]


@dataclasses.dataclass(frozen=True)
class _CommonConfig:
    """The fields every training method shares (the base of the generated :data:`TrainConfig`)."""

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


def _generate() -> type:
    """``TrainConfig``: the common fields plus every registered method's params, under their flat names."""
    from networks.training.base import flat_fields, load_builtin_methods, params_hints

    extra: list[tuple[str, Any, Any]] = []
    owner: dict[str, str] = {}
    defaults: dict[str, Any] = {}
    for name, method in load_builtin_methods().items():
        params = method.Params
        hints = params_hints(params)
        by_name = {f.name: f for f in dataclasses.fields(params)}
        for field_name, flat in flat_fields(params).items():
            f = by_name[field_name]
            if flat in owner:  # shared with a parent method (SET, RigL and second-order RigL: rigl_*)
                if defaults[flat] != f.default:
                    raise ValueError(
                        f"methods {owner[flat]!r} and {name!r} both declare {flat!r} with different defaults"
                    )
                continue
            defaults[flat] = f.default
            owner[flat] = name
            extra.append((flat, hints[field_name], dataclasses.field(default=f.default, metadata=f.metadata)))
    cls = dataclasses.make_dataclass(
        "TrainConfig",
        extra,
        bases=(_CommonConfig,),
        frozen=True,
        namespace={"__module__": __name__, "__qualname__": "TrainConfig"},
    )
    cls.__doc__ = (
        "Mask or weight training of one model on one dataset: the common fields of "
        ":class:`_CommonConfig` plus each registered method's params (flat names, e.g. ``iep_cycles``)."
    )
    return cls


TrainConfig = _generate()


_SCHEMA_RANGES = {
    "epochs": (1, None),
    "batch_size": (1, None),
    "log_every": (1, None),
    "seed": (0, None),
}


def validate_config(cfg: Any) -> Any:
    """Check every field of ``cfg`` against its allowed range and the registries.

    The common fields here; each registered method's params through its ``Params.__post_init__`` and
    :meth:`~networks.training.base.Method.check_config` (every method's, whichever ``method`` is chosen,
    so a config is valid or not independently of the method it names).

    Args:
        cfg: The config to check.

    Returns:
        ``cfg`` unchanged.

    Raises:
        ValueError: Naming the field and the allowed range or the valid names.
    """
    from networks.training.base import load_builtin_methods

    methods = load_builtin_methods()
    check_choice("method", cfg.method, sorted(methods))
    check_range("density", cfg.density, 0.0, 1.0, lo_open=True)
    for name, (lo, hi) in _SCHEMA_RANGES.items():
        check_int(name, getattr(cfg, name), lo, hi)
    check_range("lr", cfg.lr, 0.0, None, lo_open=True)
    check_range("momentum", cfg.momentum, 0.0, 1.0, hi_open=True)
    check_range("weight_decay", cfg.weight_decay, 0.0, None)
    if any(h < 1 for h in cfg.hidden):
        raise ValueError(f"hidden widths must be >= 1, got {cfg.hidden}")
    if cfg.momentum == 0.0 and cfg.nesterov:
        raise ValueError("nesterov needs momentum in (0, 1)")
    for method in methods.values():
        method.params_from(cfg)
        method.check_config(cfg)
    return cfg
