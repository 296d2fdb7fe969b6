"""The raw data of the training sweeps' evidence, read back from a sweep's ``runs.json``.

Each function maps the sweep's rows (:func:`sim.training_sweeps.runs.run_training_sweep`) to
``{evidence_id: (rule_id, details)}``; the rule of each id (:mod:`theory.rules.practice`, stated before
the data: paired comparisons over the shared seeds, t-intervals at alpha = 0.05, each with its
detectable effect) decides. Runs that failed are left out of ``details`` (they are in ``summary.csv``);
an id whose every run failed gets no evidence (nothing to decide on).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.training_sweeps.config import TrainingSweepConfig
from sim.training_sweeps.runs import ROWS_FILE
from theory.plumbing.records import read_csv
from theory.plumbing.rundir import RunDir

Evidence = dict[str, tuple[str, dict[str, Any]]]

_RUN_FIELDS = (
    "variant",
    "method",
    "dataset",
    "model",
    "density",
    "seed",
    "test_acc",
    "test_correct",
    "test_total",
    "dying_ratio",
)
_PGD_FIELDS = ("eps", "seed", "density", "sparsity", "test_acc", "test_correct", "test_total", "train_loss")


def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r["error"] and r["test_acc"] is not None]


def _per_seed(rows: list[dict[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """The raw per-run numbers a rule reads: one row per finished run, only ``fields`` (JSON-ready)."""
    return [{k: r[k] for k in fields} for r in _ok(rows)]


def _each(ids: Sequence[str], details: dict[str, Any]) -> Evidence:
    # Each id is decided by the pre-registered rule of the same name.
    return {eid: (eid, details) for eid in ids} if details["per_seed"] else {}


def pgd_grid_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (run, density of the PGD+EP grid) with its accuracy and counts."""
    out = []
    for r in _ok(rows):
        final = r["final"]
        for p in final.get("grid", []):
            out.append(
                {
                    "eps": r["pgd_eps"],
                    "seed": r["seed"],
                    "density": p["density"],
                    "sparsity": p["sparsity"],
                    "test_acc": p["test_acc"],
                    "test_correct": p["test_correct"],
                    "test_total": p["test_total"],
                    "train_loss": p["train_loss"],
                    "dying_ratio": p["dying_ratio"],
                    "selected": p["density"] == final.get("selected_density"),
                    "run_dir": r["run_dir"],
                }
            )
    return out


def iep_cycle_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (run, iEP cycle): the cycle's density, Dying Ratio and accuracy."""
    out = []
    for r in _ok(rows):
        for c in r["final"].get("cycles", []):
            out.append(
                {
                    "variant": r["variant"],
                    "method": r["method"],
                    "target_density": r["density"],
                    "seed": r["seed"],
                    "cycle": c["cycle"],
                    "cycle_density": c["density"],
                    "dying_ratio": c["dying_ratio"],
                    "test_acc": c["test_acc"],
                    "test_correct": c["test_correct"],
                    "test_total": c["test_total"],
                    "run_dir": r["run_dir"],
                }
            )
    return out


def _rows(rundir: RunDir) -> list[dict[str, Any]]:
    return rundir.read_json(ROWS_FILE)


def ep_vs_dense(rundir: RunDir) -> Evidence:
    """``testbed-ep-near-dense``: EP at density 0.5 and dense SGD on every (dataset, model) of the sweep."""
    rows = [r for r in _per_seed(_rows(rundir), _RUN_FIELDS) if r["method"] == "dense" or r["density"] == 0.5]
    return _each(["testbed-ep-near-dense"], {"per_seed": rows})


def ep_dying(rundir: RunDir) -> Evidence:
    """``ep-dying-ratio-grows`` and ``ep-mask-turnover-small`` from the ep-dying runs."""
    details = {"per_seed": _per_seed(_rows(rundir), _RUN_FIELDS)}
    return _each(["ep-dying-ratio-grows", "ep-mask-turnover-small"], details)


def ep_hparams(rundir: RunDir) -> Evidence:
    """``ep-dying-accuracy-correlation`` over the hyperparameter variants (one point per run)."""
    return _each(["ep-dying-accuracy-correlation"], {"per_seed": _per_seed(_rows(rundir), _RUN_FIELDS)})


def _epoch_end_value(run: dict[str, Any], name: str, step: int) -> float | None:
    """A run's metric ``name`` as logged at the end of the epoch that ends at ``step`` (None if absent).

    The trainer logs ``dying_ratio`` every ``log_every`` steps and at each epoch end; both can carry the
    same step number (the step log counts the update in progress), so the epoch-end row is told by its
    epoch: ``step / steps_per_epoch - 1``.
    """
    final = run["final"]
    steps, epochs = int(final.get("steps") or 0), int(final.get("epochs") or 0)
    path = Path(run["run_dir"]) / "metrics.csv"
    if not epochs or steps % epochs or step % (steps // epochs) or not path.exists():
        return None
    epoch = step // (steps // epochs) - 1
    for m in read_csv(path):
        if m["name"] == name and int(float(m["step"])) == step and int(float(m["epoch"])) == epoch:
            return float(m["value"])
    return None


def _with_early(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-seed rows with ``early_step`` and ``early_dying_ratio`` (rule ``iep-soft-beats-ep.early``).

    iEP rows: the step at which the first cycle ended and the dying ratio there (``final["cycles"][0]``).
    EP rows: EP's dying ratio after the same number of steps as soft iEP's first cycle at the same
    density and seed (its epoch-end log, ``metrics.csv``); None where no soft run or no log matches.
    """
    ok = _ok(rows)
    soft_end = {}
    for r in ok:
        if r["variant"] == "soft" and r["final"].get("cycles"):
            soft_end[(float(r["density"]), int(r["seed"]))] = int(r["final"]["cycles"][0]["end_step"])
    out = []
    for r in ok:
        row = {k: r[k] for k in _RUN_FIELDS}
        step = value = None
        cycles = r["final"].get("cycles") or []
        if r["method"] == "iep" and cycles:
            step, value = int(cycles[0]["end_step"]), cycles[0]["dying_ratio"]
        elif r["variant"] == "ep":
            step = soft_end.get((float(r["density"]), int(r["seed"])))
            value = None if step is None else _epoch_end_value(r, "dying_ratio", step)
        row["early_step"], row["early_dying_ratio"] = (step, value) if value is not None else (None, None)
        out.append(row)
    return out


def _fresh_seeds(rundir: RunDir) -> list[int]:
    """``iep-hard-beats-ep``'s seeds: the sweep's ``iep_worst_seeds`` if EP ran there (``iep_worst_ep``)."""
    cfg = rundir.config
    fields = dataclasses.asdict(cfg) if isinstance(cfg, TrainingSweepConfig) else dict(cfg)
    seeds = fields.get("iep_worst_seeds") if fields.get("iep_worst_ep") else ()
    return sorted(int(s) for s in seeds or ())


def iep(rundir: RunDir) -> Evidence:
    """EP, soft and hard iEP, IteRand: six claims (parts) decided on one record, each by its own rule.

    The claims stated before the fresh seeds' EP runs existed read the rows without them (their designs
    stay as stated); ``iep-hard-beats-ep`` names the fresh seeds and its rule reads only those;
    ``iep-soft-beats-ep.early`` reads every row with its first-cycle dying ratio.
    """
    rows = _rows(rundir)
    fresh = _fresh_seeds(rundir)
    per_seed = _with_early(rows)
    earlier = [r for r in per_seed if not (r["variant"] == "ep" and r["seed"] in fresh)]
    out = _each(
        [
            "iep-soft-beats-ep.accuracy",
            "iep-soft-beats-ep.dying-ratio",
            "iep-hard-worst-case",
            "iterand-lowers-dying",
        ],
        {"per_seed": earlier},
    )
    out.update(_each(["iep-soft-beats-ep.early"], {"per_seed": per_seed}))
    out.update(_each(["iep-hard-beats-ep"], {"per_seed": per_seed, "fresh_seeds": fresh}))
    return out


def iep_rewind(rundir: RunDir) -> Evidence:
    """``iep-rewind-variants`` in two parts (rewinding beats EP; LR rewinding is best)."""
    details = {"per_seed": _per_seed(_rows(rundir), _RUN_FIELDS)}
    return _each(["iep-rewind-variants.beat-ep", "iep-rewind-variants.lr-best"], details)


def rigl(rundir: RunDir) -> Evidence:
    """``rigl-second-order`` in two parts (accuracy, extra CPU time per update); sparsity = 1 - density."""
    out = []
    for r in _ok(_rows(rundir)):
        row = {k: r[k] for k in _RUN_FIELDS}
        row["sparsity"] = round(1 - float(r["density"]), 6)
        row["update_cpu_s"] = r["final"].get("update_cpu_s")
        row["mask_updates"] = r["final"].get("mask_updates")
        out.append(row)
    return _each(["rigl-second-order.accuracy", "rigl-second-order.extra-time"], {"per_seed": out})


def pgd_ep(rundir: RunDir) -> Evidence:
    """``pgd-ep-perturbation-helps`` in two parts, both from the PGD+EP grid."""
    grid = [{k: p[k] for k in (*_PGD_FIELDS, "selected")} for p in pgd_grid_rows(_rows(rundir))]
    ids = ["pgd-ep-perturbation-helps.accuracy-rises", "pgd-ep-perturbation-helps.best-sparsity-falls"]
    return _each(ids, {"per_seed": grid})
