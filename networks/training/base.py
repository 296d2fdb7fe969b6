"""The algorithm base class and the ``TRAINING_METHODS`` registry.

A training *method* is a set of hooks on the shared trainer (:mod:`networks.training.trainer`), in the
style of jaxpruner's ``BaseUpdater``: the trainer owns the loop, the data order, logging and checkpoints;
a method decides what is trainable, the cycle plan (densities, epochs, learning rates), and what happens
around each step. Per step the trainer calls, in order::

    before_step -> forward/backward -> (DDP gradient all-reduce) -> tracker.update(masks used)
    -> after_backward -> optimizer.step() if should_step_optimizer() -> after_step

and around cycles ``on_cycle_start`` (fresh cycle only: rewinds, re-draws), ``configure_cycle`` (fresh
cycle and resume: densities, trainable flags), ``on_cycle_end``. Methods keep any state they need across a
resume in :meth:`Method.state_dict` (tensors, numbers, lists and dicts only, so that checkpoints load with
``torch.load(..., weights_only=True)``).

Add a method with :func:`register_method`; the contract tests in ``tests/networks/test_training_methods.py``
are parametrised over ``TRAINING_METHODS`` and check every registered method automatically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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
    "get_method",
    "load_builtin_methods",
    "register_method",
]

TRAINING_METHODS: dict[str, type[Method]] = {}


def register_method(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator adding a :class:`Method` subclass to ``TRAINING_METHODS`` as ``name`` (unique)."""

    def deco(cls: type[Method]) -> type[Method]:
        cls.name = name
        return register(TRAINING_METHODS, "method", name, cls)

    return deco


_BUILTIN_MODULES = ("ep", "iep", "iterand", "pgd_ep", "rigl", "second_order_rigl")


def load_builtin_methods() -> dict[str, type[Method]]:
    """Import the built-in method modules (which register themselves) and return ``TRAINING_METHODS``.

    Kept out of import time so that ``import networks.training.config`` (CLI registration) needs no torch.
    """
    import importlib

    for mod in _BUILTIN_MODULES:
        importlib.import_module(f"networks.training.{mod}")
    return TRAINING_METHODS


def get_method(name: str) -> type[Method]:
    """The registered method class ``name``; the error lists the valid names."""
    load_builtin_methods()
    return lookup(TRAINING_METHODS, "method", name)


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


class Method:
    """Base of every training method: hooks with do-nothing defaults (plain Edge-Popup behaviour).

    Class attributes say how the trainer builds the model:

    Attributes:
        name: Registry name (set by :func:`register_method`).
        masked: Build the model with masked layers (False: an ordinary dense model).
        mask_mode: "scores" (Edge-Popup: masks from trainable scores) or "fixed" (RigL: explicit masks).
        tracks_dying: Keep a Dying Ratio tracker (every masked method does).
        reset_tracker_each_cycle: Start a fresh tracker at every cycle start (independent searches).
    """

    name: ClassVar[str] = ""
    masked: ClassVar[bool] = True
    mask_mode: ClassVar[str] = "scores"
    tracks_dying: ClassVar[bool] = True
    reset_tracker_each_cycle: ClassVar[bool] = False

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg

    # ------------------------------------------------------------------------------------------ plan
    def cycles(self) -> list[Cycle]:
        """The cycle plan; one cosine cycle of ``cfg.epochs`` epochs at ``cfg.density`` by default."""
        c = self.cfg
        return [Cycle(0, c.epochs, c.density, c.lr, c.lr_schedule, "train")]

    def initial_density(self) -> float:
        """Density the model is built with (the first cycle's)."""
        return self.cycles()[0].density

    # ---------------------------------------------------------------------------------------- hooks
    def setup(self, tr: Trainer) -> None:
        """Once, after the model is built on a fresh run (not on resume)."""

    def configure_cycle(self, tr: Trainer, cycle: Cycle) -> None:
        """At every cycle entry, fresh or resumed: set layer densities and trainable flags."""
        for layer in tr.layers.values():
            layer.density = cycle.density

    def on_cycle_start(self, tr: Trainer, cycle: Cycle) -> None:
        """At a fresh cycle start only (before ``configure_cycle``): rewinds, re-draws."""

    def trainable(self, tr: Trainer) -> list[torch.nn.Parameter]:
        """The parameters the optimizer updates (those with ``requires_grad``)."""
        return [p for p in tr.model.parameters() if p.requires_grad]

    def before_step(self, tr: Trainer, x: torch.Tensor, y: torch.Tensor) -> None:
        """Before the forward pass of a step."""

    def after_backward(self, tr: Trainer, x: torch.Tensor, y: torch.Tensor) -> None:
        """After backward (and the DDP gradient all-reduce), before the optimizer step."""

    def should_step_optimizer(self, tr: Trainer) -> bool:
        """Whether the optimizer steps this iteration (RigL: not on a mask-update step)."""
        return True

    def after_step(self, tr: Trainer) -> None:
        """After the (possible) optimizer step."""

    def on_cycle_end(self, tr: Trainer, cycle: Cycle) -> None:
        """After the last step (and the evaluation) of a cycle."""

    def summary(self, tr: Trainer) -> dict[str, Any]:
        """Method-specific entries for ``final.json``."""
        return {}

    # ------------------------------------------------------------------------------------- resume
    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (tensors, numbers, strings, lists and dicts only)."""
        return {}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore :meth:`state_dict` output, tensors onto ``device``."""
