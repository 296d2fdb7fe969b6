"""The SubsetSum sweeps: a registry of named experiments, each with a quick and a full scale.

``slth sim sweep NAME [--scale quick|full] [--workers K] [--runs-root runs] [--quiet]`` runs one. A sweep
writes ``runs/<experiment>/<hash>/`` (config.json, env.json, results.csv, cells/) and attaches a verdict
to its ledger claim with ``theory.ledger.write_evidence``. Re-running the same command reuses finished
cells and resumes unfinished ones.

This module imports no numpy: the runners are named as ``"module:function"`` and imported on use.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any

from sim.sweeps.configs import (
    PsspMinNConfig,
    RssConstantConfig,
    RssPerTargetConfig,
    RssSuccessConfig,
    XiongN90Config,
    XiongThm1Config,
)
from theory.registry import lookup, register

SCALES = ("quick", "full")


@dataclass(frozen=True)
class Sweep:
    """A registered sweep.

    Attributes:
        name: The experiment name (also the run directory name).
        description: One line for ``--help``.
        config_cls: Its frozen dataclass config.
        quick: The quick-scale config (seconds to a couple of minutes on 2 cores).
        full: The full-scale config (the paper figures).
        runner: ``"module:function"``; the function takes ``(config, *, runs_root, executor, quiet)``
            and returns a :class:`sim.sweeps.common.SweepOutcome`.
        claims: Ledger claim ids the sweep writes evidence for.
    """

    name: str
    description: str
    config_cls: type
    quick: Any
    full: Any
    runner: str
    claims: tuple[str, ...]

    def config(self, scale: str = "quick", **overrides: Any) -> Any:
        """The config at ``scale`` with ``overrides`` applied."""
        from theory.validate import check_choice

        base = self.quick if check_choice("scale", scale, SCALES) == "quick" else self.full
        return dataclasses.replace(base, **overrides)

    def run(
        self,
        config: Any = None,
        *,
        runs_root: str = "runs",
        executor: Any = "process",
        workers: int | None = None,
        quiet: bool = True,
    ) -> Any:
        """Run the sweep (quick scale when ``config`` is None) and return its outcome."""
        from sim.executors import get_executor

        cfg = self.quick if config is None else config
        if not isinstance(cfg, self.config_cls):
            raise ValueError(f"config must be a {self.config_cls.__name__}, got {type(cfg).__name__}")
        module, func = self.runner.split(":")
        fn = getattr(importlib.import_module(module), func)
        own = isinstance(executor, str)
        ex = get_executor(executor, workers) if own else executor
        try:
            return fn(cfg, runs_root=runs_root, executor=ex, quiet=quiet)
        finally:
            if own:
                ex.close()


SWEEPS: dict[str, Sweep] = {}


def register_sweep(sweep: Sweep) -> Sweep:
    """Register a sweep (refuses duplicate names)."""
    return register(SWEEPS, "sweep", sweep.name, sweep)


def get_sweep(name: str) -> Sweep:
    """Look up a sweep; the error lists the valid names."""
    return lookup(SWEEPS, "sweep", name)


register_sweep(
    Sweep(
        "rss-success",
        "success probability vs n for several eta and target windows",
        RssSuccessConfig,
        RssSuccessConfig(
            ns=(2, 4, 6, 8, 10, 12, 14, 16), trials=200, test_etas=(1e-1, 3e-2, 1e-3), test_trials=200
        ),
        RssSuccessConfig(),
        "sim.sweeps.rss:run_rss_success",
        ("pensia-rss-log",),
    )
)
register_sweep(
    Sweep(
        "rss-constant",
        "empirical C in n = C log2(1/eta) (level 0.9 and failure <= eta), vs Lueker and Pensia",
        RssConstantConfig,
        RssConstantConfig(etas=(1e-1, 3e-2, 1e-2, 3e-3), trials=100, resamples=300, lueker_trials=100),
        RssConstantConfig(),
        "sim.sweeps.rss:run_rss_constant",
        ("lueker-cor2.5",),
    )
)
register_sweep(
    Sweep(
        "pssp-min-n",
        "minimal n for 90% success vs perturbation/eta, paired (Xiong's PSSP experiment)",
        PsspMinNConfig,
        PsspMinNConfig(etas=(1e-2, 1e-3, 1e-4), ratios=(0.0, 0.5, 2.0, 5.0), trials=200),
        PsspMinNConfig(),
        "sim.sweeps.pssp:run_pssp_min_n",
        ("pssp-perturbation-helps",),
    )
)
register_sweep(
    Sweep(
        "rss-per-target",
        "one target: failure rate, mean error and smallest sufficient subset vs n",
        RssPerTargetConfig,
        RssPerTargetConfig(ns=(4, 8, 12, 16, 20), trials=100),
        RssPerTargetConfig(),
        "sim.sweeps.rss:run_rss_per_target",
        (),
    )
)
register_sweep(
    Sweep(
        "xiong-thm1",
        "Xiong Theorem 1 failure bound vs measured failure rate over n, eps, K (eta calibrated per n)",
        XiongThm1Config,
        XiongThm1Config(ns=(10, 13, 16), trials=200, calibration_trials=200),
        XiongThm1Config(),
        "sim.sweeps.pssp:run_xiong_thm1",
        ("xiong-thm1-aistats",),
    )
)
register_sweep(
    Sweep(
        "xiong-n90",
        "paired n90 vs perturbation against the AISTATS, slides and OPT-2022 versions of Xiong's Theorem 1",
        XiongN90Config,
        XiongN90Config(thresholds=(1e-2, 1e-3), trials=200, calibration_trials=200, n_max=24),
        XiongN90Config(),
        "sim.sweeps.pssp:run_xiong_n90",
        ("xiong-thm1-aistats", "xiong-thm1-slides", "xiong-thm1-opt22"),
    )
)
