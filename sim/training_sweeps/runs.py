"""Running a training sweep: every ``(variant, TrainConfig)`` trained (or reused) inside the sweep's run dir.

The sweep's run directory (``runs/<sweep>/<hash>/``, a :class:`theory.plumbing.rundir.RunDir` opened by
:meth:`sim.experiments.Experiment.execute`) holds each training run at
``runs/<trainhash>/seed_<s>/`` (config.json, env.json, metrics.csv, final.json, checkpoint.pt, DONE: the
ordinary run directory of :func:`networks.training.train`), so an interrupted sweep resumes every
unfinished run and reuses every finished one. After the runs it writes ``summary.csv`` (one row per
run: the varied config fields, ``variant``, ``seed`` and the final metrics with raw counts) and
``runs.json`` (the same rows with each run's ``final.json``, what the evidence is read from).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from theory.plumbing.configs import config_to_dict, run_dir
from theory.plumbing.rundir import RunDir

#: The subfolder of a sweep's run directory that holds its training runs.
RUNS = "runs"
#: The rows with each run's final record (the evidence reads these).
ROWS_FILE = "runs.json"


def _run_cell(item: tuple[dict[str, Any], str, bool, str]) -> dict[str, Any]:
    """Train one config (top-level so process pools can pickle it); single-threaded torch."""
    import torch

    from networks.training import TrainConfig, TrainingDiverged, run_path, train
    from theory.plumbing.configs import config_from_dict

    cfg_dict, root, quiet, device = item
    torch.set_num_threads(1)
    cfg = config_from_dict(TrainConfig, cfg_dict)
    try:
        res = train(cfg, root, experiment=RUNS, device=device, quiet=quiet)
    except TrainingDiverged as err:
        return {"run_dir": str(run_path(root, RUNS, cfg)), "final": None, "error": str(err)}
    return {"run_dir": str(res.run_dir), "final": res.final, "error": None}


def _finished(root: Path, cfg: Any) -> dict[str, Any] | None:
    """The record of an already finished run with exactly this config, read without importing torch."""
    # The trainer's layout: <root>/runs/<hash of cfg with seed 0>/seed_<seed>/, config.json holds cfg.
    run = RunDir(run_dir(root, RUNS, dataclasses.replace(cfg, seed=0), seed=cfg.seed), cfg)
    if not run.done or not run.exists("final.json"):
        return None
    try:
        run.check_config()
    except ValueError:
        return None  # let the trainer report the difference
    return {"run_dir": str(run.path), "final": run.read_json("final.json"), "error": None}


_SUMMARY_CFG = (
    "method",
    "dataset",
    "model",
    "density",
    "seed",
    "lr",
    "batch_size",
    "weight_decay",
    "weight_init",
    "score_init",
    "epochs",
    "iep_mode",
    "iep_rewind",
    "iep_cycles",
    "iep_budget",
    "pgd_eps",
    "rigl_distribution",
)
_SUMMARY_FINAL = (
    "test_acc",
    "test_correct",
    "test_total",
    "test_loss",
    "final_density",
    "dying_ratio",
    "steps",
)


def _plain(v: Any) -> Any:
    return ",".join(map(str, v)) if isinstance(v, tuple) else v


def run_training_sweep(
    name: str, configs: list[tuple[str, Any]], rundir: RunDir, ctx: Any
) -> list[dict[str, Any]]:
    """Train (or reuse) every config of a sweep in ``rundir``; write ``summary.csv`` and ``runs.json``.

    Args:
        name: The sweep (the ``experiment`` column).
        configs: ``(variant, TrainConfig)`` pairs (:mod:`sim.training_sweeps.variants`).
        rundir: The sweep's run directory.
        ctx: The :class:`sim.experiments.Context` (executor, quiet, device).

    Returns:
        One row per run, in config order, each with its final record under ``final``.
    """
    results = [_finished(rundir.path, cfg) for _, cfg in configs]
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        items = [(config_to_dict(configs[i][1]), str(rundir.path), ctx.quiet, ctx.device) for i in todo]
        for i, res in zip(todo, ctx.executor.map(_run_cell, items), strict=True):
            results[i] = res
    rows = []
    for (variant, cfg), res in zip(configs, results, strict=True):
        row: dict[str, Any] = {"experiment": name, "variant": variant}
        row.update({k: _plain(getattr(cfg, k)) for k in _SUMMARY_CFG})
        final = res["final"] or {}
        for k in _SUMMARY_FINAL:
            row[k] = final.get("density" if k == "final_density" else k)
        row["error"] = res["error"] or ""
        row["run_dir"] = res["run_dir"]
        rows.append(row)
    rundir.write_csv("summary.csv", rows)
    rundir.write_json(
        ROWS_FILE, [{**row, "final": res["final"] or {}} for row, res in zip(rows, results, strict=True)]
    )
    return [{**row, "final": res["final"] or {}} for row, res in zip(rows, results, strict=True)]
