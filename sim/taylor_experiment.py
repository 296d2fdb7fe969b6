"""The ``taylor`` experiment: a bridge onto today's :func:`sim.taylor.run_taylor`.

Wave-2 helper B converts :mod:`sim.taylor` into an :class:`sim.experiments.Experiment` named
``taylor`` (config, presets, run and an ``evidence`` returning the three Taylor evidence ids). Until
that lands, this module registers the same name around the current producer, so that ``slth run
taylor``, figure 10's ``experiments=("taylor",)`` and ``slth reproduce`` work: the run calls
``run_taylor``, which still writes its own records (``taylor-swaps``, ``taylor-interdependency``) and
its evidence. DELETE this module when B's registration is merged (the two would register one name twice).
"""

from __future__ import annotations

from typing import Any

from sim.experiments import Context, Experiment, register_experiment
from sim.taylor import SCALES, TaylorConfig
from theory.plumbing.rundir import RunDir


def _run(cfg: TaylorConfig, rundir: RunDir, ctx: Context) -> dict[str, Any]:
    from sim.taylor import run_taylor

    return run_taylor(cfg, runs_root=ctx.runs_root, device=ctx.device, quiet=ctx.quiet)


register_experiment(
    Experiment(
        "taylor",
        "Taylor loss-change experiments: HVP checks, remainder slopes, swaps, interdependency",
        TaylorConfig,
        {"quick": SCALES["quick"], "default": SCALES["quick"], "full": SCALES["full"]},
        _run,
        None,  # run_taylor writes its evidence itself (helper B moves it into ``evidence``)
        ("taylor-first-order", "taylor-second-order", "second-order-swaps-better"),
    )
)
