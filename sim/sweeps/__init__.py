"""The SubsetSum sweeps, each registered as a :class:`sim.experiments.Experiment`.

``slth run NAME [--scale quick|default|full] [--FIELD VALUE ...]`` runs one. A sweep writes
``runs/<name>/<hash>/`` (config.json, env.json, results.csv, cells/, evidence.json, DONE); its evidence
goes to the ledger through :meth:`sim.experiments.Experiment.execute`. Re-running an interrupted sweep
reuses its finished cells and resumes unfinished ones.

Presets: ``quick`` (seconds to a couple of minutes on 2 cores; also ``default``) and ``full`` (the paper
figures, the config classes' defaults).
"""

from __future__ import annotations

from sim.experiments import Experiment, register_experiment
from sim.sweeps import pssp, rss
from sim.sweeps.common import sweep_evidence
from sim.sweeps.configs import (
    PsspMinNConfig,
    RssConstantConfig,
    RssPerTargetConfig,
    RssSuccessConfig,
    XiongN90Config,
    XiongThm1Config,
)


def _sweep(name, description, config, quick, run, claims=()) -> Experiment:
    evidence = sweep_evidence if claims else None
    presets = {"quick": quick, "default": quick, "full": config()}
    return register_experiment(Experiment(name, description, config, presets, run, evidence, claims))


_sweep(
    "rss-success",
    "success probability vs n for several eta and target windows",
    RssSuccessConfig,
    RssSuccessConfig(
        ns=(2, 4, 6, 8, 10, 12, 14, 16), trials=200, test_etas=(1e-1, 3e-2, 1e-3), test_trials=200
    ),
    rss.run_rss_success,
    ("pensia-rss-log",),
)
_sweep(
    "rss-constant",
    "empirical C in n = C log2(1/eta) (level 0.9 and failure <= eta), vs Lueker and Pensia",
    RssConstantConfig,
    RssConstantConfig(etas=(1e-1, 3e-2, 1e-2, 3e-3), trials=100, resamples=300, lueker_trials=100),
    rss.run_rss_constant,
    ("lueker-cor2.5",),
)
_sweep(
    "pssp-min-n",
    "minimal n for 90% success vs perturbation/eta, paired (Xiong's PSSP experiment)",
    PsspMinNConfig,
    PsspMinNConfig(etas=(1e-2, 1e-3), reading_etas=(1e-2, 1e-3), n_max=32),
    pssp.run_pssp_min_n,
    pssp.PSSP_MIN_N_IDS,
)
_sweep(
    "rss-per-target",
    "one target: failure rate, mean error and smallest sufficient subset vs n",
    RssPerTargetConfig,
    RssPerTargetConfig(ns=(4, 8, 12, 16, 20), trials=100),
    rss.run_rss_per_target,
)
_sweep(
    "xiong-thm1",
    "Xiong Theorem 1 failure bound vs measured failure rate over n, eps, K (eta calibrated per n)",
    XiongThm1Config,
    XiongThm1Config(ns=(10, 13, 16), trials=200, calibration_trials=200),
    pssp.run_xiong_thm1,
    ("xiong-thm1-aistats.failure-bound",),
)
_sweep(
    "xiong-n90",
    "paired n90 vs perturbation against the AISTATS, slides and OPT-2022 versions of Xiong's Theorem 1",
    XiongN90Config,
    XiongN90Config(thresholds=(1e-2, 1e-3), trials=200, calibration_trials=200, n_max=24),
    pssp.run_xiong_n90,
    pssp.XIONG_SHAPE_IDS,
)
