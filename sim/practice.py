"""Training sweeps that produce the practice evidence: EP vs dense, Dying Ratio, iEP, PGD+EP, RigL.

Each sweep is a list of :class:`networks.training.TrainConfig` (every config at >= 3 seeds) run through
``sim.executors.get_executor`` (a process pool by default; each run single-threaded) into the ordinary
training run directories ``runs/<experiment>/<hash>/seed_<s>/`` (config.json, env.json, metrics.csv,
final.json, checkpoint.pt, DONE), so re-running a sweep reuses finished runs and resumes unfinished ones.
After the runs, each sweep writes a tidy ``runs/<experiment>/summary.csv`` (one row per run: the varied
config fields, ``variant``, ``seed`` and the final metrics with raw counts) and, where a claim is measured,
ledger evidence via ``theory.ledger.write_evidence``: the raw per-seed numbers go into ``details`` and
the verdict comes from the pre-registered rule of the same evidence id in :mod:`theory.rules.practice`
(paired comparisons over the shared seeds, t-intervals at alpha = 0.05, each with its detectable effect).

Sweeps (experiment names are the record folders the figures read):

* ``ep-vs-dense``: test accuracy vs density for EP, and the dense SGD baseline, on MNIST-1D and digits.
* ``ep-dying``: Dying Ratio over training (logged every step) at several densities; claim
  ``ep-dying-ratio-grows``.
* ``ep-hparams``: Dying Ratio and accuracy across lr, batch size, weight decay, weight and score init.
* ``iep``: EP vs soft vs hard iEP at matched compute and equal densities, Dying Ratio per cycle
  (also ``runs/iep/cycles.csv``); claim ``iep-soft-beats-ep`` in two parts, ``.accuracy`` and
  ``.dying-ratio``.
* ``iep-rewind``: hard iEP with the four rewinding variants at several densities.
* ``pgd-ep``: PGD+EP accuracy over sparsity x eps (``runs/pgd-ep/grid.csv``); claim
  ``pgd-ep-perturbation-helps`` in two parts, ``.accuracy-rises`` and ``.best-sparsity-falls``.
* ``rigl``: RigL vs second-order RigL at 80% and 90% sparsity, training curves in metrics.csv; claim
  ``rigl-second-order``.

Scales: ``quick`` (MNIST-1D MLPs of 8-20 epochs; the whole set in a few minutes on 2 CPU cores)
and ``full`` (wider MLPs, 30 epochs, 5 seeds; hours on a CPU, minutes on a GPU per sweep).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from theory.registry import lookup
from theory.registry import register as _register
from theory.validate import check_choice

__all__ = [
    "PRACTICE_SWEEPS",
    "PracticeSweep",
    "register",
    "register_practice_sweep",
    "run_ep_dying",
    "run_ep_hparams",
    "run_ep_vs_dense",
    "run_iep",
    "run_iep_rewind",
    "run_pgd_ep",
    "run_practice",
    "run_rigl",
    "run_sweep",
    "sweep_configs",
]

SCALES = ("quick", "full")


@dataclasses.dataclass(frozen=True)
class PracticeSweep:
    """One training sweep.

    Attributes:
        name: Registry name, also the experiment folder (``runs/<name>/``).
        configs: ``scale -> [(variant label, TrainConfig), ...]`` (seeds included).
        evidence: Optional ``(runs_root, rows) -> None`` writing ledger evidence from the summary rows.
        extra: Optional ``(runs_root, rows) -> None`` writing extra tidy tables.
        description: One line for listings.
    """

    name: str
    configs: Callable[[str], list[tuple[str, Any]]]
    evidence: Callable[[Path, list[dict[str, Any]]], None] | None = None
    extra: Callable[[Path, list[dict[str, Any]]], None] | None = None
    description: str = ""


PRACTICE_SWEEPS: dict[str, PracticeSweep] = {}


def register_practice_sweep(sweep: PracticeSweep) -> PracticeSweep:
    """Add ``sweep`` to ``PRACTICE_SWEEPS`` (refuses duplicates)."""
    return _register(PRACTICE_SWEEPS, "practice sweep", sweep.name, sweep)


# ----------------------------------------------------------------------------------------- configs
def _base(scale: str) -> tuple[Any, tuple[int, ...]]:
    from networks.training import TrainConfig

    check_choice("scale", scale, SCALES)
    if scale == "quick":
        base = TrainConfig(
            model="mlp", dataset="mnist1d", hidden=(128, 128), epochs=20, batch_size=128, lr=0.5, log_every=4
        )
        return base, (0, 1, 2)
    base = TrainConfig(
        model="mlp", dataset="mnist1d", hidden=(256, 256), epochs=30, batch_size=128, lr=0.5, log_every=10
    )
    return base, (0, 1, 2, 3, 4)


def _seeded(variants: Sequence[tuple[str, Any]], seeds: Sequence[int]) -> list[tuple[str, Any]]:
    return [(label, dataclasses.replace(cfg, seed=s)) for label, cfg in variants for s in seeds]


def _ep_vs_dense(scale: str) -> list[tuple[str, Any]]:
    base, seeds = _base(scale)
    dens = (0.05, 0.1, 0.3, 0.5, 0.7, 0.9)
    variants = []
    # Both offline datasets: MNIST-1D (the base) and scikit-learn's 8x8 digits.
    for data in (base, dataclasses.replace(base, dataset="digits")):
        variants += [("ep", dataclasses.replace(data, method="ep", density=d)) for d in dens]
        variants.append(("dense", dataclasses.replace(data, method="dense", density=1.0, lr=0.1)))
    return _seeded(variants, seeds)


def _ep_dying(scale: str) -> list[tuple[str, Any]]:
    base, seeds = _base(scale)
    return _seeded(
        [
            ("ep", dataclasses.replace(base, method="ep", density=d, log_every=1))
            for d in (0.1, 0.3, 0.5, 0.7)
        ],
        seeds,
    )


def _ep_hparams(scale: str) -> list[tuple[str, Any]]:
    base, seeds = _base(scale)
    ep = dataclasses.replace(base, method="ep", density=0.3)
    variants = [("base", ep)]
    variants += [(f"lr={v}", dataclasses.replace(ep, lr=v)) for v in (0.1, 2.0)]
    variants += [(f"batch_size={v}", dataclasses.replace(ep, batch_size=v)) for v in (64, 256)]
    variants += [(f"weight_decay={v}", dataclasses.replace(ep, weight_decay=v)) for v in (0.0, 1e-3)]
    variants += [("weight_init=kaiming_normal", dataclasses.replace(ep, weight_init="kaiming_normal"))]
    variants += [
        ("score_init=kaiming_uniform_relu", dataclasses.replace(ep, score_init="kaiming_uniform_relu"))
    ]
    return _seeded(variants, seeds)


def _iep_base(scale: str) -> tuple[Any, tuple[int, ...]]:
    # iEP's budget "total" splits the epochs over 3 cycles: 18 (quick) or 30 (full) epochs.
    base, seeds = _base(scale)
    return dataclasses.replace(base, epochs=18 if scale == "quick" else 30), seeds


def _iep(scale: str) -> list[tuple[str, Any]]:
    base, seeds = _iep_base(scale)
    variants = []
    for d in (0.05, 0.2):
        # Matched compute: EP's epochs are split over iEP's 3 cycles.
        variants.append(("ep", dataclasses.replace(base, method="ep", density=d)))
        for mode in ("soft", "hard"):
            variants.append(
                (
                    mode,
                    dataclasses.replace(
                        base, method="iep", density=d, iep_mode=mode, iep_cycles=3, iep_budget="total"
                    ),
                )
            )
    return _seeded(variants, seeds)


def _iep_rewind(scale: str) -> list[tuple[str, Any]]:
    base, seeds = _iep_base(scale)
    variants = []
    for d in (0.05, 0.2):
        for rewind in ("finetune", "lr_rewind", "score_rewind", "score_reinit"):
            variants.append(
                (
                    rewind,
                    dataclasses.replace(
                        base,
                        method="iep",
                        density=d,
                        iep_mode="hard",
                        iep_cycles=3,
                        iep_budget="total",
                        iep_rewind=rewind,
                        iep_finetune_lr=0.05,
                    ),
                )
            )
    return _seeded(variants, seeds)


def _pgd_ep(scale: str) -> list[tuple[str, Any]]:
    base, seeds = _base(scale)
    grid = (1.0, 0.9, 0.7, 0.5, 0.3, 0.1)
    epochs = 8 if scale == "quick" else 10
    variants = [
        (
            f"eps={eps}",
            dataclasses.replace(
                base,
                method="pgd_ep",
                pgd_eps=eps,
                pgd_epochs=epochs,
                pgd_lr=0.1,
                pgd_densities=grid,
                epochs=epochs,
            ),
        )
        for eps in (0.0, 0.01, 0.03, 0.1)
    ]
    return _seeded(variants, seeds)


def _rigl(scale: str) -> list[tuple[str, Any]]:
    base, seeds = _base(scale)
    interval = 16 if scale == "quick" else 50
    variants = [
        (
            m,
            dataclasses.replace(
                base,
                method=m,
                density=round(1 - s, 10),
                lr=0.1,
                rigl_interval=interval,
                log_every=1 if scale == "quick" else 5,
            ),
        )
        for s in (0.8, 0.9)
        for m in ("rigl", "rigl2")
    ]
    return _seeded(variants, seeds)


def sweep_configs(name: str, scale: str = "quick") -> list[tuple[str, Any]]:
    """The ``(variant, TrainConfig)`` list of a registered sweep at ``scale``.

    Raises:
        ValueError: For an unknown sweep (listing the valid names) or scale.
    """
    check_choice("scale", scale, SCALES)
    return lookup(PRACTICE_SWEEPS, "practice sweep", name).configs(scale)


# --------------------------------------------------------------------------------------- execution
def _run_cell(item: tuple[dict[str, Any], str, str, bool]) -> dict[str, Any]:
    """Train one config (top-level so process pools can pickle it); single-threaded torch."""
    import torch

    from networks.training import TrainConfig, TrainingDiverged, train
    from theory.plumbing.configs import config_from_dict

    cfg_dict, runs_root, experiment, quiet = item
    torch.set_num_threads(1)
    cfg = config_from_dict(TrainConfig, cfg_dict)
    try:
        res = train(cfg, runs_root, experiment=experiment, device="cpu", quiet=quiet)
    except TrainingDiverged as err:
        from networks.training import run_path

        return {"run_dir": str(run_path(runs_root, experiment, cfg)), "final": None, "error": str(err)}
    return {"run_dir": str(res.run_dir), "final": res.final, "error": None}


def _finished(runs_root: Path, experiment: str, cfg: Any) -> dict[str, Any] | None:
    """The record of an already finished run with exactly this config, read without importing torch."""
    from theory.plumbing.configs import config_to_dict, run_dir
    from theory.plumbing.records import read_json

    directory = run_dir(runs_root, experiment, dataclasses.replace(cfg, seed=0), seed=cfg.seed)
    if not (directory / "DONE").exists() or not (directory / "final.json").exists():
        return None
    try:
        if read_json(directory / "config.json") != config_to_dict(cfg):
            return None  # let the trainer report the difference
        return {"run_dir": str(directory), "final": read_json(directory / "final.json"), "error": None}
    except (OSError, ValueError):
        return None


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


def run_sweep(
    name: str,
    runs_root: str | Path = "runs",
    *,
    scale: str = "quick",
    workers: int | None = None,
    quiet: bool = False,
    executor: str = "process",
) -> list[Path]:
    """Run (or reuse) every config of sweep ``name``; write summary, extra tables and evidence.

    Args:
        name: A key of ``PRACTICE_SWEEPS``.
        runs_root: Root of the run tree.
        scale: "quick" or "full".
        workers: Worker processes (default: the CPUs available).
        quiet: No progress bars.
        executor: A ``sim.executors`` name ("process", "inprocess", "submitit").

    Returns:
        The run directories, in config order.
    """
    from sim.executors import get_executor
    from theory.plumbing.configs import config_to_dict
    from theory.plumbing.records import atomic_write_csv

    sweep = lookup(PRACTICE_SWEEPS, "practice sweep", name)
    runs_root = Path(runs_root)
    configs = sweep_configs(name, scale)
    results: list[dict[str, Any] | None] = [_finished(runs_root, sweep.name, cfg) for _, cfg in configs]
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        items = [(config_to_dict(configs[i][1]), str(runs_root), sweep.name, quiet) for i in todo]
        ex = get_executor(executor, workers)
        try:
            for i, res in zip(todo, ex.map(_run_cell, items), strict=True):
                results[i] = res
        finally:
            ex.close()
    rows = []
    for (variant, cfg), res in zip(configs, results, strict=True):
        row: dict[str, Any] = {"experiment": sweep.name, "variant": variant, "scale": scale}
        row.update({k: _plain(getattr(cfg, k)) for k in _SUMMARY_CFG})
        final = res["final"] or {}
        for k in _SUMMARY_FINAL:
            row[k] = final.get("density" if k == "final_density" else k)
        row["error"] = res["error"] or ""
        row["run_dir"] = res["run_dir"]
        row["_final"] = final
        rows.append(row)
    atomic_write_csv(
        runs_root / sweep.name / "summary.csv", [{k: v for k, v in r.items() if k != "_final"} for r in rows]
    )
    if sweep.extra is not None:
        sweep.extra(runs_root, rows)
    if sweep.evidence is not None:
        sweep.evidence(runs_root, rows)
    return [Path(r["run_dir"]) for r in rows]


def _plain(v: Any) -> Any:
    return ",".join(map(str, v)) if isinstance(v, tuple) else v


# ---------------------------------------------------------------------------------------- evidence
def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r["error"] and r["test_acc"] is not None]


def _per_seed(rows: list[dict[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """The raw per-run numbers a rule reads: one row per finished run, only ``fields`` (JSON-ready)."""
    return [{k: r[k] for k in fields} for r in _ok(rows)]


def _write(runs_root: Path, evidence_id: str, run: Path, details: dict[str, Any]) -> None:
    """Write evidence decided by the pre-registered rule of the same name (:mod:`theory.rules.practice`)."""
    from theory.ledger import write_evidence
    from theory.plumbing.records import read_json

    if not details["per_seed"]:
        return  # every run failed: nothing to decide on (the failures are in summary.csv)
    path = write_evidence(runs_root, evidence_id, run=run, details=details, rule_id=evidence_id)
    record = read_json(path)
    print(f"evidence {evidence_id}: {record['verdict']} -- {record['summary']}")


_RUN_FIELDS = (
    "variant",
    "method",
    "density",
    "seed",
    "test_acc",
    "test_correct",
    "test_total",
    "dying_ratio",
)


def _evidence_dying(runs_root: Path, rows: list[dict[str, Any]]) -> None:
    details = {"per_seed": _per_seed(rows, _RUN_FIELDS)}
    _write(runs_root, "ep-dying-ratio-grows", runs_root / "ep-dying", details)


def _evidence_iep(runs_root: Path, rows: list[dict[str, Any]]) -> None:
    # One record of the runs, two claims: accuracy and dying ratio are decided (and reported) separately.
    details = {"per_seed": _per_seed(rows, _RUN_FIELDS)}
    for part in ("accuracy", "dying-ratio"):
        _write(runs_root, f"iep-soft-beats-ep.{part}", runs_root / "iep", details)


def _evidence_rigl(runs_root: Path, rows: list[dict[str, Any]]) -> None:
    per_seed = [{**r, "sparsity": round(1 - float(r["density"]), 6)} for r in _per_seed(rows, _RUN_FIELDS)]
    _write(runs_root, "rigl-second-order", runs_root / "rigl", {"per_seed": per_seed})


def _pgd_grid_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in _ok(rows):
        final = r["_final"]
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


def _extra_pgd(runs_root: Path, rows: list[dict[str, Any]]) -> None:
    from theory.plumbing.records import atomic_write_csv

    atomic_write_csv(runs_root / "pgd-ep" / "grid.csv", _pgd_grid_rows(rows))


_PGD_FIELDS = ("eps", "seed", "density", "sparsity", "test_acc", "test_correct", "test_total", "train_loss")


def _evidence_pgd(runs_root: Path, rows: list[dict[str, Any]]) -> None:
    grid = [{k: p[k] for k in (*_PGD_FIELDS, "selected")} for p in _pgd_grid_rows(rows)]
    details = {"per_seed": grid}
    for part in ("accuracy-rises", "best-sparsity-falls"):
        _write(runs_root, f"pgd-ep-perturbation-helps.{part}", runs_root / "pgd-ep", details)


def _extra_iep(runs_root: Path, rows: list[dict[str, Any]]) -> None:
    from theory.plumbing.records import atomic_write_csv

    out = []
    for r in _ok(rows):
        for c in r["_final"].get("cycles", []):
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
    atomic_write_csv(runs_root / "iep" / "cycles.csv", out)


for _sweep in (
    PracticeSweep("ep-vs-dense", _ep_vs_dense, description="EP accuracy vs density, and dense SGD"),
    PracticeSweep(
        "ep-dying", _ep_dying, _evidence_dying, description="Dying Ratio over training per density"
    ),
    PracticeSweep("ep-hparams", _ep_hparams, description="Dying Ratio vs accuracy across hyperparameters"),
    PracticeSweep(
        "iep", _iep, _evidence_iep, _extra_iep, description="EP vs soft vs hard iEP, matched compute"
    ),
    PracticeSweep("iep-rewind", _iep_rewind, description="hard iEP rewinding variants at several densities"),
    PracticeSweep(
        "pgd-ep", _pgd_ep, _evidence_pgd, _extra_pgd, description="PGD+EP accuracy, sparsity x eps"
    ),
    PracticeSweep("rigl", _rigl, _evidence_rigl, description="RigL vs second-order RigL at 80/90% sparsity"),
):
    register_practice_sweep(_sweep)


def run_practice(
    runs_root: str | Path = "runs",
    *,
    scale: str = "quick",
    workers: int | None = None,
    quiet: bool = False,
    only: Sequence[str] | None = None,
) -> dict[str, list[Path]]:
    """Run every practice sweep (or those in ``only``); returns run directories per sweep."""
    names = (
        list(PRACTICE_SWEEPS)
        if only is None
        else [lookup(PRACTICE_SWEEPS, "practice sweep", n).name for n in only]
    )
    return {n: run_sweep(n, runs_root, scale=scale, workers=workers, quiet=quiet) for n in names}


def run_ep_vs_dense(
    runs_root: str | Path, *, scale: str = "quick", workers: int | None = None, quiet: bool = False
) -> list[Path]:
    """EP test accuracy vs density and the dense baseline (experiment ``ep-vs-dense``)."""
    return run_sweep("ep-vs-dense", runs_root, scale=scale, workers=workers, quiet=quiet)


def run_ep_dying(
    runs_root: str | Path, *, scale: str = "quick", workers: int | None = None, quiet: bool = False
) -> list[Path]:
    """Dying Ratio over training at several densities (``ep-dying``; claim ``ep-dying-ratio-grows``)."""
    return run_sweep("ep-dying", runs_root, scale=scale, workers=workers, quiet=quiet)


def run_ep_hparams(
    runs_root: str | Path, *, scale: str = "quick", workers: int | None = None, quiet: bool = False
) -> list[Path]:
    """Dying Ratio vs accuracy across lr, batch size, weight decay, weight/score init (``ep-hparams``)."""
    return run_sweep("ep-hparams", runs_root, scale=scale, workers=workers, quiet=quiet)


def run_iep(
    runs_root: str | Path, *, scale: str = "quick", workers: int | None = None, quiet: bool = False
) -> list[Path]:
    """EP vs soft vs hard iEP at matched compute (``iep``; claim ``iep-soft-beats-ep``)."""
    return run_sweep("iep", runs_root, scale=scale, workers=workers, quiet=quiet)


def run_iep_rewind(
    runs_root: str | Path, *, scale: str = "quick", workers: int | None = None, quiet: bool = False
) -> list[Path]:
    """Hard iEP with the four rewinding variants (``iep-rewind``)."""
    return run_sweep("iep-rewind", runs_root, scale=scale, workers=workers, quiet=quiet)


def run_pgd_ep(
    runs_root: str | Path, *, scale: str = "quick", workers: int | None = None, quiet: bool = False
) -> list[Path]:
    """PGD+EP over sparsity x eps (``pgd-ep``; claim ``pgd-ep-perturbation-helps``)."""
    return run_sweep("pgd-ep", runs_root, scale=scale, workers=workers, quiet=quiet)


def run_rigl(
    runs_root: str | Path, *, scale: str = "quick", workers: int | None = None, quiet: bool = False
) -> list[Path]:
    """RigL vs second-order RigL at 80/90% sparsity (``rigl``; claim ``rigl-second-order``)."""
    return run_sweep("rigl", runs_root, scale=scale, workers=workers, quiet=quiet)


def register(subparsers: Any) -> None:
    """Add ``practice`` (``slth sim practice NAME ... | all``) to a subparsers object; imports no torch."""
    p = subparsers.add_parser(
        "practice",
        help="training sweeps for the practice figures (EP, Dying Ratio, iEP, PGD+EP, RigL)",
        description="Run (or reuse) practice training sweeps: " + ", ".join(PRACTICE_SWEEPS) + ", or all.",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="sweep names, or 'all'")
    p.add_argument(
        "--scale", choices=SCALES, default="quick", help="quick (CPU minutes) or full (default: quick)"
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: available CPUs)")
    p.add_argument("--runs-root", default="runs", help="root of the run tree (default: runs)")
    p.add_argument("--quiet", action="store_true", default=False, help="no progress bars")

    def handler(args: Any) -> int:
        names = list(PRACTICE_SWEEPS) if args.names == ["all"] else args.names
        for n in names:
            lookup(PRACTICE_SWEEPS, "practice sweep", n)
        for n in names:
            paths = run_sweep(n, args.runs_root, scale=args.scale, workers=args.workers, quiet=args.quiet)
            print(f"{n}: {len(paths)} runs; summary in {Path(args.runs_root) / n / 'summary.csv'}")
        return 0

    p.set_defaults(handler=handler)
