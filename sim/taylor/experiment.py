"""The ``taylor`` experiment: its registration, the run over (model, seed) cells, and its evidence.

One run directory ``runs/taylor/<config hash>/`` (a :class:`theory.plumbing.rundir.RunDir`) holds
``config.json``, ``env.json``, ``cells/<model>_seed<s>.json`` (one trained model each; a re-run skips
finished cells), ``training/<model>_seed<s>/`` (the shared trainer's ``checkpoint.pt`` and
``metrics.csv`` of that model's score training), ``swaps.csv`` (:data:`~sim.taylor.swaps.SWAP_COLUMNS`),
``slopes.csv`` (:data:`~sim.taylor.cells.SLOPE_COLUMNS`), ``interdependency.csv``
(:data:`~sim.taylor.interdependency.INTERDEP_COLUMNS`), ``hvp_checks.json`` and ``DONE``. The evidence
(``taylor-first-order``, ``taylor-second-order``, ``second-order-swaps-better``, each decided by the rule
of the same id in :mod:`theory.rules.taylor`) is read back from the cells, so a verdict always comes from
the recorded numbers and the current rule.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from sim.experiments import Context, Experiment, register_experiment
from sim.taylor.cells import SLOPE_COLUMNS, run_cell
from sim.taylor.config import PRESETS, TaylorConfig, validate
from sim.taylor.evidence import evidence_details
from sim.taylor.hvp_checks import hvp_checks
from sim.taylor.interdependency import INTERDEP_COLUMNS
from sim.taylor.swaps import SWAP_COLUMNS
from theory.plumbing.progress import progress
from theory.plumbing.records import read_json
from theory.plumbing.rundir import RunDir

__all__ = ["CLAIMS", "TAYLOR", "run_taylor", "taylor_config"]

CLAIMS = ("taylor-first-order", "taylor-second-order", "second-order-swaps-better")


def _cells(cfg: TaylorConfig) -> list[tuple[str, int]]:
    return [(m, s) for m in cfg.models for s in cfg.seeds]


def _cell_file(model: str, seed: int) -> str:
    return f"cells/{model}_seed{int(seed)}.json"


def _results(cfg: TaylorConfig, rundir: RunDir) -> list[dict[str, Any]]:
    return [rundir.read_json(_cell_file(m, s)) for m, s in _cells(cfg)]


def run(cfg: TaylorConfig, rundir: RunDir, ctx: Context) -> dict[str, int]:
    """Compute the missing cells, then write the tables and the HVP checks; returns the cell counts."""
    from networks.devices import resolve_device

    validate(cfg)
    dev = resolve_device(ctx.device)
    computed = reused = 0
    for model_name, seed in progress(_cells(cfg), desc="taylor", quiet=ctx.quiet):
        name = _cell_file(model_name, seed)
        if rundir.exists(name):
            reused += 1
            continue
        train_dir = rundir.path / "training" / f"{model_name}_seed{int(seed)}"
        rundir.write_json(name, run_cell(cfg, model_name, seed, device=dev, train_dir=train_dir))
        computed += 1
    results = _results(cfg, rundir)
    rundir.write_csv("swaps.csv", [r for res in results for r in res["swaps"]], list(SWAP_COLUMNS))
    rundir.write_csv("slopes.csv", [r for res in results for r in res["slopes"]], list(SLOPE_COLUMNS))
    inter = [r for res in results for r in res["interdependency"]]
    rundir.write_csv("interdependency.csv", inter, list(INTERDEP_COLUMNS))
    if not rundir.exists("hvp_checks.json"):
        checks = hvp_checks(device=dev, eps=cfg.fd_eps)
        checks["trained_models_vs_fd_max"] = max(float(res["hvp_fd_error"]) for res in results)
        rundir.write_json("hvp_checks.json", checks)
    return {"computed": computed, "reused": reused}


def evidence(rundir: RunDir) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{claim: (rule id, details)}`` from the recorded cells and HVP checks (rule id = claim id)."""
    cfg = rundir.config
    results = _results(cfg, rundir)
    details = evidence_details(
        cfg,
        swaps=[r for res in results for r in res["swaps"]],
        slopes=[r for res in results for r in res["slopes"]],
        inter=[r for res in results for r in res["interdependency"]],
        checks=rundir.read_json("hvp_checks.json"),
        training={f"{res['model']}/seed{res['seed']}": res["info"] for res in results},
    )
    return {claim: (claim, details[claim]) for claim in CLAIMS}


TAYLOR = register_experiment(
    Experiment(
        name="taylor",
        description="Taylor loss-change experiments: HVP checks, remainder slopes, swaps, interdependency",
        config=TaylorConfig,
        presets=PRESETS,
        run=run,
        evidence=evidence,
        claims=CLAIMS,
    )
)


def taylor_config(scale: str = "quick", **overrides: Any) -> TaylorConfig:
    """The ``taylor`` experiment's preset at ``scale`` with ``overrides`` applied and validated.

    Raises:
        ValueError: On an unknown scale or field, or an invalid value.
    """
    names = {f.name for f in dataclasses.fields(TaylorConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown TaylorConfig fields {unknown}; valid fields: {sorted(names)}")
    return validate(TAYLOR.preset(scale, **overrides))


def run_taylor(
    cfg: TaylorConfig | str = "quick",
    *,
    runs_root: str | Path = "runs",
    device: Any = "cpu",
    quiet: bool = False,
) -> dict[str, Any]:
    """Run (or reuse) the ``taylor`` experiment in-process and write its evidence (``TAYLOR.execute``).

    Args:
        cfg: A :class:`TaylorConfig` or a preset name ("quick", "default", "full").
        runs_root: Root of the run directories.
        device: Where to compute ("cpu", "cuda", "auto", ...).
        quiet: No progress bar.

    Returns:
        Dict with ``rundir`` (the run directory's path), ``verdicts`` and ``summaries`` (claim id -> ...),
        ``computed`` and ``reused`` cell counts, ``hvp_checks``.
    """
    if isinstance(cfg, str):
        cfg = taylor_config(cfg)
    validate(cfg)
    res = TAYLOR.execute(cfg, runs_root=runs_root, quiet=quiet, device=str(device))
    counts = res.output or {"computed": 0, "reused": len(_cells(cfg))}
    ev = Path(runs_root) / "evidence"
    return {
        "rundir": res.rundir.path,
        "verdicts": dict(res.verdicts),
        "summaries": {c: read_json(ev / f"{c}.json")["summary"] for c in res.verdicts},
        **counts,
        "hvp_checks": res.rundir.read_json("hvp_checks.json"),
    }
