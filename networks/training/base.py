"""The algorithm base class, its step context, and the ``TRAINING_METHODS`` registry.

A training *method* is a set of hooks on the shared trainer (:mod:`networks.training.trainer`), in the
style of jaxpruner's ``BaseUpdater``: the trainer owns the loop, the data order, logging and checkpoints;
a method decides what is trainable, the cycle plan (densities, epochs, learning rates), and what happens
around each step. Per step the trainer calls, in order::

    before_step -> forward/backward -> (DDP gradient all-reduce) -> tracker.update(masks used)
    -> after_backward -> optimizer.step() if should_step_optimizer() -> after_step

and around cycles ``on_cycle_start`` (fresh cycle only: rewinds, re-draws), ``configure_cycle`` (fresh
cycle and resume: densities, trainable flags), ``on_cycle_end``. Every hook sees a :class:`StepContext`
(the model, its masked layers, the optimizer, this step's batch, the step counters, the method's
generator, logging, evaluation and Hessian-vector products), never the trainer itself.

A method declares, as nested dataclasses on its class:

* ``Params``: its hyperparameters, a frozen dataclass validated in ``__post_init__``, with a ``prefix``
  class attribute; field ``cycles`` of ``IEPParams`` (prefix ``iep_``) is the ``slth train`` flag
  ``--iep-cycles``, the ``config.json`` key and the hashed field ``iep_cycles`` of
  :class:`~networks.training.config.TrainConfig`, which is generated from the registered methods' params
  (a trailing underscore, for a Python keyword, is dropped: ``lambda_`` -> ``iterand_lambda``; a field
  inherited from a parent params class keeps the parent's prefix). The method reads ``self.params``.
* ``State``: what it keeps across a resume, a dataclass of tensors, numbers, strings, lists and dicts
  (so checkpoints load with ``torch.load(..., weights_only=True)``); the method reads and writes
  ``self.state``, and :meth:`Method.state_dict` / :meth:`Method.load_state_dict` are generic.

Adding a method is one file (a :class:`Method` subclass with its ``Params`` and ``State``, decorated with
:func:`register_method`) plus its registration: an entry of ``_BUILTIN_MODULES`` here, or importing the
file before :mod:`networks.training.config` is first imported (``tests/networks/test_training_methods.py``
shows it with a method written to a temporary file). The contract tests there are parametrised over
``TRAINING_METHODS`` and check every registered method automatically.

Importing a method module must not import torch (the CLI builds ``TrainConfig`` from the methods'
params at registration): method modules import torch inside their hooks.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from theory.registry import lookup, register

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from networks.training.config import TrainConfig
    from networks.training.trainer import Trainer

__all__ = [
    "TRAINING_METHODS",
    "Cycle",
    "Method",
    "NoParams",
    "NoState",
    "StepContext",
    "flat_fields",
    "get_method",
    "load_builtin_methods",
    "register_method",
]

TRAINING_METHODS: dict[str, type[Method]] = {}


def register_method(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator adding a :class:`Method` subclass to ``TRAINING_METHODS`` as ``name`` (unique).

    Raises:
        ValueError: On a duplicate name, a ``Params`` that is not a frozen dataclass, or (once
            ``TrainConfig`` has been generated) a ``Params`` field that ``TrainConfig`` does not hold.
    """

    def deco(cls: type[Method]) -> type[Method]:
        params = cls.Params
        if not dataclasses.is_dataclass(params) or not params.__dataclass_params__.frozen:
            raise ValueError(f"method {name!r}: Params must be a frozen dataclass")
        if not dataclasses.is_dataclass(cls.State):
            raise ValueError(f"method {name!r}: State must be a dataclass")
        config = sys.modules.get("networks.training.config")
        built = getattr(config, "TrainConfig", None) if config is not None else None
        if built is not None:
            have = {f.name for f in dataclasses.fields(built)}
            missing = sorted(set(flat_fields(params).values()) - have)
            if missing:
                raise ValueError(
                    f"method {name!r} declares params {missing} after TrainConfig was generated; import "
                    "the method's module before networks.training.config (or list it in _BUILTIN_MODULES)"
                )
        cls.name = name
        return register(TRAINING_METHODS, "method", name, cls)

    return deco


_BUILTIN_MODULES = ("ep", "iep", "iterand", "pgd_ep", "rigl", "second_order_rigl", "bounded_adam")


def load_builtin_methods() -> dict[str, type[Method]]:
    """Import the built-in method modules (which register themselves) and return ``TRAINING_METHODS``."""
    import importlib

    for mod in _BUILTIN_MODULES:
        importlib.import_module(f"networks.training.{mod}")
    return TRAINING_METHODS


def get_method(name: str) -> type[Method]:
    """The registered method class ``name``; the error lists the valid names."""
    load_builtin_methods()
    return lookup(TRAINING_METHODS, "method", name)


@dataclasses.dataclass(frozen=True)
class NoParams:
    """A method without hyperparameters of its own."""

    prefix: ClassVar[str] = ""


@dataclasses.dataclass
class NoState:
    """A method without state of its own."""


def flat_fields(params: type) -> dict[str, str]:
    """``{params field: TrainConfig field}``: the prefix of the class that declares the field, plus its name.

    A trailing underscore (for a Python keyword, ``lambda_``) is dropped from the flat name.
    """
    out = {}
    for f in dataclasses.fields(params):
        owner = next(c for c in params.__mro__ if f.name in inspect.get_annotations(c))
        out[f.name] = owner.__dict__.get("prefix", "") + f.name.rstrip("_")
    return out


def params_hints(params: type) -> dict[str, Any]:
    """Resolved type hints of a params class (its module's names; the annotations are strings)."""
    return typing.get_type_hints(params)


@dataclasses.dataclass(frozen=True)
class Cycle:
    """One phase of training with its own learning-rate schedule.

    Attributes:
        index: Position in the plan, from 0.
        epochs: Epochs in this cycle.
        density: Fraction kept in this cycle (per layer for EP-type methods; global for RigL).
        lr: Initial learning rate of the cycle.
        schedule: "cosine" (annealed to 0 over the cycle) or "constant".
        kind: Free label for the method ("ep", "pgd", ...), logged in final.json.
    """

    index: int
    epochs: int
    density: float
    lr: float
    schedule: str = "cosine"
    kind: str = "train"


class StepContext:
    """What a method's hooks see of the run: a narrow, live view of the trainer.

    Attributes (read-only unless stated): ``model``; ``layers`` (masked layers by module name);
    ``optimizer`` (None when nothing is trainable); ``generator`` (the method's CPU ``torch.Generator``:
    IteRand draws, score re-draws, SET, Hutchinson; CPU so that a seed gives the same run on every
    device); ``device``; ``step`` (global steps done), ``total_steps``, ``lr`` (this step's learning
    rate); ``cycle`` (the current :class:`Cycle`) and ``is_last_cycle``; ``batch`` (this step's
    ``(x, y)`` shard, None outside a step); ``tracker`` (the Dying Ratio tracker or None).
    """

    __slots__ = ("_tr",)

    def __init__(self, trainer: Trainer) -> None:
        self._tr = trainer

    model = property(lambda self: self._tr.model)
    layers = property(lambda self: self._tr.layers)
    optimizer = property(lambda self: self._tr.optimizer)
    generator = property(lambda self: self._tr.generator)
    device = property(lambda self: self._tr.device)
    step = property(lambda self: self._tr.step)
    total_steps = property(lambda self: self._tr.total_steps)
    lr = property(lambda self: self._tr.lr)
    batch = property(lambda self: self._tr.batch)
    tracker = property(lambda self: self._tr.tracker)

    @property
    def cycle(self) -> Cycle:
        """The current cycle of the plan."""
        tr = self._tr
        return tr.plan[min(tr.cycle, len(tr.plan) - 1)]

    @property
    def is_last_cycle(self) -> bool:
        """Whether the current cycle is the plan's last."""
        return self.cycle.index == self._tr.plan[-1].index

    def log(self, name: str, value: float) -> None:
        """Append one tidy metric row at the current step/epoch/cycle."""
        self._tr.log(name, value)

    def evaluate(self, split: str = "test") -> tuple[int, int, float]:
        """Correct count, total and mean loss on ``split`` ("test" or "train"), in eval mode."""
        return self._tr.evaluate(split)

    def drop_tracker(self) -> None:
        """Stop tracking the Dying Ratio (e.g. once a method reports its own per-phase ratios)."""
        self._tr.tracker = None

    def all_reduce_mean(self, tensors: Sequence[torch.Tensor]) -> None:
        """Average per-shard means in place across DDP ranks (no-op in one process)."""
        self._tr.all_reduce_mean(tensors)

    def hvps(self, vectors: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """``H v`` for each direction (effective-weight dicts) on this step's batch, all-reduced under DDP.

        Through :func:`networks.hvp.loss_grad_hvp` in train mode (BatchNorm buffers restored).
        """
        from networks import hvp

        _, _, prods = hvp.loss_grad_hvp(self.model, self.batch, vectors, train=True)
        self.all_reduce_mean([t for p in prods for t in p.values()])
        return prods


def _moved(value: Any, device: Any) -> Any:
    """``value`` with every tensor (also inside dicts, lists and tuples) moved to ``device``."""
    if hasattr(value, "to") and hasattr(value, "dtype"):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _moved(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_moved(v, device) for v in value)
    return value


class Method:
    """Base of every training method: hooks with do-nothing defaults (plain Edge-Popup behaviour).

    Class attributes say how the trainer builds the model:

    Attributes:
        name: Registry name (set by :func:`register_method`).
        Params: The hyperparameters (a frozen dataclass with a ``prefix``; see the module docstring).
        State: The resumable state (a dataclass; see the module docstring).
        masked: Build the model with masked layers (False: an ordinary dense model).
        mask_mode: "scores" (Edge-Popup: masks from trainable scores) or "fixed" (RigL: explicit masks).
        tracks_dying: Keep a Dying Ratio tracker (every masked method does).
        reset_tracker_each_cycle: Start a fresh tracker at every cycle start (independent searches).
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    State: ClassVar[type] = NoState
    masked: ClassVar[bool] = True
    mask_mode: ClassVar[str] = "scores"
    tracks_dying: ClassVar[bool] = True
    reset_tracker_each_cycle: ClassVar[bool] = False

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.params = self.params_from(cfg)
        self.state = self.State()

    @classmethod
    def params_from(cls, cfg: TrainConfig) -> Any:
        """This method's ``Params`` from the flat config fields (validated by its ``__post_init__``)."""
        return cls.Params(**{f: getattr(cfg, flat) for f, flat in flat_fields(cls.Params).items()})

    @classmethod
    def check_config(cls, cfg: TrainConfig) -> None:
        """Checks that tie this method's params to the common fields (none by default).

        Raises:
            ValueError: Naming the fields.
        """

    # ------------------------------------------------------------------------------------------ plan
    def cycles(self) -> list[Cycle]:
        """The cycle plan; one cosine cycle of ``cfg.epochs`` epochs at ``cfg.density`` by default."""
        c = self.cfg
        return [Cycle(0, c.epochs, c.density, c.lr, c.lr_schedule, "train")]

    def initial_density(self) -> float:
        """Density the model is built with (the first cycle's)."""
        return self.cycles()[0].density

    # ---------------------------------------------------------------------------------------- hooks
    def setup(self, ctx: StepContext) -> None:
        """Once, after the model is built on a fresh run (not on resume)."""

    def configure_cycle(self, ctx: StepContext, cycle: Cycle) -> None:
        """At every cycle entry, fresh or resumed: set layer densities and trainable flags."""
        for layer in ctx.layers.values():
            layer.density = cycle.density

    def on_cycle_start(self, ctx: StepContext, cycle: Cycle) -> None:
        """At a fresh cycle start only (before ``configure_cycle``): rewinds, re-draws."""

    def trainable(self, ctx: StepContext) -> list[torch.nn.Parameter]:
        """The parameters the optimizer updates (those with ``requires_grad``)."""
        return [p for p in ctx.model.parameters() if p.requires_grad]

    def make_optimizer(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """The optimizer of a cycle: SGD with the config's momentum, Nesterov flag and weight decay."""
        import torch

        c = self.cfg
        return torch.optim.SGD(
            params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov, weight_decay=c.weight_decay
        )

    def before_step(self, ctx: StepContext) -> None:
        """Before the forward pass of a step (``ctx.batch`` is the step's batch)."""

    def after_backward(self, ctx: StepContext) -> None:
        """After backward (and the DDP gradient all-reduce), before the optimizer step."""

    def should_step_optimizer(self, ctx: StepContext) -> bool:
        """Whether the optimizer steps this iteration (RigL: not on a mask-update step)."""
        return True

    def after_step(self, ctx: StepContext) -> None:
        """After the (possible) optimizer step."""

    def on_cycle_end(self, ctx: StepContext, cycle: Cycle) -> None:
        """After the last step (and the evaluation) of a cycle."""

    def summary(self, ctx: StepContext) -> dict[str, Any]:
        """Method-specific entries for ``final.json``."""
        return {}

    # ------------------------------------------------------------------------------------- resume
    def state_dict(self) -> dict[str, Any]:
        """The ``State`` fields, tensors on the CPU (for the checkpoint)."""
        return {f.name: _moved(getattr(self.state, f.name), "cpu") for f in dataclasses.fields(self.state)}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore :meth:`state_dict` output, tensors onto ``device``."""
        names = {f.name for f in dataclasses.fields(self.state)}
        if set(state) != names:
            raise ValueError(
                f"method {self.name!r}: checkpoint state has fields {sorted(state)}, expected {sorted(names)}"
            )
        self.state = self.State(**{k: _moved(v, device) for k, v in state.items()})
