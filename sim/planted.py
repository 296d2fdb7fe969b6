"""Experiment ``planted-ticket``: can EP, iEP and IteRand find a certified ticket planted in their network?

Plant 'n' Seek (Fischer & Burkholz, ICLR 2022, arXiv 2111.11153; reference theory.md §4.6) plants
tickets of known, extreme sparsity in random networks and reports that pruning algorithms do not find
them ("current limitations in ticket sparsity are likely of algorithmic rather than fundamental nature").
Here the planted ticket is a *certified* construction of a trained target, so theory (the construction)
and practice (the mask search) run on the same network:

1. train the target (``networks.construct.targets.train_preset``: the digits ``target-mlp`` through the
   shared trainer) and construct its ticket (``networks.construct_ticket``, Pensia et al., every weight
   within ``eps``, ``n`` candidates per half-block); its source network, with all weights U[-1, 1], and
   the planted mask are :func:`networks.planted.planted_source` (``planted.pt``; the planted ticket's
   accuracy, measured by the same masked forward the searches use, in ``planted.json``);
2. calibrate the learning rate of each arm on the calibration seeds (disjoint from the test seeds), at
   the planted density (``calibrate_per_factor``: at every factor) for every learning rate of the grid;
   the lowest final training loss picks it (``calibration.csv``; the test split is never used to choose);
3. run every method (EP, soft iEP, hard iEP, IteRand) at every density factor (the nominal density is
   ``factor x`` the planted density; every layer keeps ``factor x`` its planted fraction, see
   :mod:`networks.planted`) for every test seed, paired: a seed gives every method the same scores and
   data order. Each run is an ordinary trainer run under ``runs/``; ``runs.csv`` adds what the run
   recovered of the planted mask (precision, recall, chance recall, dying ratio of the planted edges).

The source is searched with its logits scaled by :class:`networks.planted.FanInScale` (the per-layer
Kaiming scale at the current density; predictions unchanged). Without it (``fan_in_scale=False``, the
setting of the first default runs) iEP's first cycle, at density ``d ** (1/3)`` (0.27 nominal, 0.63 in
the wide layers), starts from a training loss of about 164, the ReLU network dies within that cycle
(training loss exactly ln 10, gradients zero) and soft and hard iEP give the same chance-level result,
since with unchanged scores a smaller top-k is a subset of the previous mask either way. The settings
(12 epochs, the lr grid 0.01/0.03, the scale) were chosen on prototype runs of calibration seeds 100 and
101 only; the lr per arm is then picked inside every run on the calibration seeds (``settings.json``).

Evidence ``planted-ticket-missed.accuracy`` and ``planted-ticket-missed.recovery`` (rules in
:mod:`theory.rules.planted`).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from sim.construction import _one_torch_thread  # one torch thread per process: tiny tensors
from sim.experiments import Context, Experiment, register_experiment
from theory.plumbing.configs import help_field
from theory.plumbing.progress import progress
from theory.plumbing.rundir import RunDir
from theory.validate import check_int, check_range

__all__ = ["METHODS", "PRESETS", "PlantedConfig"]

#: Arm name -> TrainConfig fields (iEP: matched compute, ``epochs`` split over the cycles).
METHODS: dict[str, dict[str, Any]] = {
    "ep": {"method": "ep"},
    "iep-soft": {"method": "iep", "iep_mode": "soft", "iep_budget": "total"},
    "iep-hard": {"method": "iep", "iep_mode": "hard", "iep_budget": "total"},
    "iterand": {"method": "iterand"},
}
#: The training runs' folder inside the experiment's run directory (as the training sweeps).
RUNS = "runs"
#: ``cfg.model`` of the runs: the source network is passed to the trainer, never built by name.
MODEL_NAME = "planted"
#: The linear target presets (``networks.planted`` plants linear tickets only).
PLANTABLE = ("digits-mlp", "mnist1d-mlp")
EVIDENCE = ("planted-ticket-missed.accuracy", "planted-ticket-missed.recovery")


@dataclasses.dataclass(frozen=True)
class PlantedConfig:
    """A planted certified ticket and the mask searches run on its source network."""

    target: str = help_field("digits-mlp", "trained target preset (networks.construct.targets.PRESETS)")
    target_seed: int = help_field(0, "seed of the target's training")
    target_epochs: int = help_field(60, "target training length (5 x epochs full-batch Adam steps)")
    eps: float = help_field(0.01, "per-weight tolerance of the construction (Pensia et al.'s convention)")
    candidates_per_weight: int = help_field(21, "n: candidates per half-block (Pensia et al. use 21)")
    source_seed: int = help_field(0, "seed of the random source network (construction and unused entries)")
    methods: tuple[str, ...] = help_field(tuple(METHODS), "arms: ep, iep-soft, iep-hard, iterand")
    factors: tuple[float, ...] = help_field((0.5, 1.0, 2.0), "densities as multiples of the planted one")
    seeds: tuple[int, ...] = help_field(tuple(range(8)), "test seeds (paired across arms)")
    calibration_seeds: tuple[int, ...] = help_field(
        (100, 101), "seeds of the lr calibration and of the settings' tuning (not test seeds)"
    )
    lrs: tuple[float, ...] = help_field((0.01, 0.03), "learning-rate grid of the calibration")
    calibrate_per_factor: bool = help_field(
        False, "calibrate the lr at every density factor (default: at the planted density, used at all)"
    )
    epochs: int = help_field(12, "epochs per run (iEP: in total, split over its cycles)")
    fan_in_scale: bool = help_field(
        True, "scale the logits by the per-layer fan-in scale at the current density (FanInScale)"
    )
    batch_size: int = help_field(128, "minibatch size")
    momentum: float = help_field(0.9, "SGD momentum")
    weight_decay: float = help_field(0.0, "weight decay on the scores")
    iep_cycles: int = help_field(3, "iEP cycles (density of cycle c: density**(c/K))")
    iterand_lambda: float = help_field(0.1, "IteRand: probability of re-drawing a pruned weight")
    iterand_period: int = help_field(12, "IteRand: steps between re-draws (about one epoch)")

    def __post_init__(self) -> None:
        if self.target not in PLANTABLE:
            raise ValueError(f"target must be one of {list(PLANTABLE)}, got {self.target!r}")
        check_int("target_seed", self.target_seed, 0)
        check_int("target_epochs", self.target_epochs, 1)
        check_range("eps", self.eps, 0.0, None, lo_open=True)
        check_int("candidates_per_weight", self.candidates_per_weight, 1, 64)
        check_int("source_seed", self.source_seed, 0)
        unknown = [m for m in self.methods if m not in METHODS]
        if not self.methods or unknown:
            raise ValueError(f"methods must be a non-empty subset of {list(METHODS)}, got {self.methods}")
        if 1.0 not in self.factors or any(not (f > 0 and math.isfinite(f)) for f in self.factors):
            raise ValueError(
                f"factors must be positive and include 1.0 (the planted density), got {self.factors}"
            )
        if not self.seeds or not self.calibration_seeds or set(self.seeds) & set(self.calibration_seeds):
            raise ValueError(
                f"seeds and calibration_seeds must be non-empty and disjoint, got {self.seeds} and "
                f"{self.calibration_seeds}"
            )
        for s in (*self.seeds, *self.calibration_seeds):
            check_int("seeds", s, 0)
        if not self.lrs or any(not (lr > 0) for lr in self.lrs):
            raise ValueError(f"lrs must be a non-empty tuple of positive learning rates, got {self.lrs}")
        check_int("epochs", self.epochs, 1)
        if self.epochs % self.iep_cycles:
            raise ValueError(f"epochs ({self.epochs}) must be divisible by iep_cycles ({self.iep_cycles})")
        check_int("batch_size", self.batch_size, 1)
        check_range("momentum", self.momentum, 0.0, 1.0, hi_open=True)
        check_range("weight_decay", self.weight_decay, 0.0, None)
        check_int("iep_cycles", self.iep_cycles, 1, 100)
        check_range("iterand_lambda", self.iterand_lambda, 0.0, 1.0)
        check_int("iterand_period", self.iterand_period, 1)


PRESETS = {
    "quick": PlantedConfig(
        methods=("ep", "iep-soft", "iep-hard", "iterand"),
        factors=(1.0,),
        seeds=(0, 1),
        calibration_seeds=(100,),
        lrs=(0.01,),
        epochs=6,
    ),
    "default": PlantedConfig(),
    "full": PlantedConfig(
        factors=(0.25, 0.5, 1.0, 2.0, 4.0),
        seeds=tuple(range(16)),
        calibration_seeds=(100, 101, 102),
        lrs=(0.003, 0.01, 0.03, 0.1),
        calibrate_per_factor=True,
        epochs=60,
    ),
}


# ---------------------------------------------------------------------------------------- the ticket
def _plant(cfg: PlantedConfig, rundir: RunDir) -> dict[str, Any]:
    """Train the target, construct its ticket, write ``planted.pt`` and ``planted.json`` (resumable)."""
    if rundir.exists("planted.json") and rundir.exists("planted.pt"):
        return rundir.read_json("planted.json")
    import torch

    from networks import construct_ticket
    from networks.construct.targets import train_preset
    from networks.evaluation import evaluate
    from networks.planted import planted_source, save_planted

    target, data = train_preset(cfg.target, seed=cfg.target_seed, epochs=cfg.target_epochs)
    ticket = construct_ticket(
        target,
        eps=cfg.eps,
        method="pensia",
        budget="per-weight",
        candidates_per_weight=cfg.candidates_per_weight,
        nonnegative_input=cfg.target.startswith("digits"),
        seed=cfg.source_seed,
    )
    source = planted_source(ticket, seed=cfg.source_seed)
    x, y = data.x_test, data.y_test
    t_correct, total, _ = evaluate(target, x, y, device="cpu")
    planted_model = source.plant(source.model(scaled=cfg.fan_in_scale))
    p_correct, p_total, p_loss = evaluate(planted_model, x, y, device="cpu")
    temperature = planted_model.scale.temperature() if cfg.fan_in_scale else 1.0
    with torch.no_grad():
        # The masked model computes the ticket times the temperature (up to float32 rounding): the same
        # forward EP evaluates; the scale changes the logits, never the predictions.
        gap = float((planted_model(x).double() / temperature - ticket(x.double())).abs().max())
    report = ticket.report()
    info = {
        "target": cfg.target,
        "target_correct": t_correct,
        "planted_correct": p_correct,
        "test_total": total,
        "target_acc": t_correct / total,
        "planted_acc": p_correct / p_total,
        "planted_loss": p_loss,
        "num_classes": data.num_classes,
        "temperature_at_planted_density": temperature,
        "planted_density": source.density,
        "planted_edges": sum(source.planted_counts.values()),
        "source_weights": sum(source.sizes.values()),
        "layer_sizes": source.sizes,
        "planted_counts": source.planted_counts,
        "allocation": source.allocation,
        "max_unclipped_factor": source.max_density() / source.density,
        "max_output_gap_vs_ticket": gap,
        "certified_bound": report["certified_bound"],
        "kept_ratio": report["kept_ratio"],
        "num_failed_weights": report["num_failed_weights"],
        **source.meta,
    }
    save_planted(rundir.file("planted.pt"), source)
    rundir.write_json("planted.json", info)
    return info


# ------------------------------------------------------------------------------------------ the runs
def _train_config(cfg: PlantedConfig, arm: str, density: float, lr: float, seed: int) -> Any:
    from networks.training import TrainConfig

    return TrainConfig(
        model=MODEL_NAME,
        dataset=cfg.target.split("-")[0],
        density=density,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        # IteRand re-draws pruned weights from the source's own law, U[-1, 1].
        weight_init="uniform",
        seed=seed,
        log_every=10**6,
        iep_cycles=cfg.iep_cycles,
        iterand_lambda=cfg.iterand_lambda,
        iterand_period=cfg.iterand_period,
        **METHODS[arm],
    )


def _cell(item: tuple[dict[str, Any], str, str, bool, bool]) -> dict[str, Any]:
    """Train one config on the planted source network; return its final numbers and what it recovered.

    Top-level so that process pools can pickle it; the source comes from ``planted.pt``.
    """
    import torch

    from networks.planted import chance_recall, load_planted, recovery
    from networks.training import TrainConfig, TrainingDiverged, train
    from networks.training.trainer import derive_seed
    from theory.plumbing.configs import config_from_dict

    cfg_dict, root, device, quiet, scaled = item
    cfg = config_from_dict(TrainConfig, cfg_dict)
    source = load_planted(Path(root) / "planted.pt")
    with _one_torch_thread():
        gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "init"))
        model = source.model(cfg.density, score_init=cfg.score_init, generator=gen, scaled=scaled)
        try:
            res = train(
                cfg, root, experiment=RUNS, device=device, quiet=quiet, model=model, checkpoint_every=10**6
            )
        except TrainingDiverged as err:
            return {"error": str(err)}
        state = torch.load(res.run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    masks = {k: state["model"][f"{k}.weight_mask"] for k in source.layers}
    rec = recovery(masks, source.planted_masks(), state["tracker"]["ever"])
    planted = source.planted_masks()
    # IteRand re-draws pruned weights: the share of planted edges whose source weight is still there.
    intact = sum(
        int((state["model"][f"{k}.weight"].eq(v["weight"]) & planted[k]).sum())
        for k, v in source.layers.items()
    ) / max(1, rec["planted"])
    final = res.final
    return {
        "error": "",
        "run_dir": str(res.run_dir),
        "test_correct": final["test_correct"],
        "test_total": final["test_total"],
        "test_acc": final["test_acc"],
        "test_loss": final["test_loss"],
        "density": final["density"],
        "dying_ratio": final["dying_ratio"],
        "chance_recall": chance_recall(source, cfg.density),
        "planted_intact": intact,
        **rec,
    }


def _final_train_loss(run_dir: str) -> float:
    """The last epoch's mean training loss of a run (``metrics.csv``), NaN when absent."""
    from theory.plumbing.records import read_csv

    rows = [r for r in read_csv(Path(run_dir) / "metrics.csv") if r["name"] == "train_loss_epoch"]
    return float(rows[-1]["value"]) if rows else math.nan


def _map(ctx: Context, cfg: PlantedConfig, rundir: RunDir, configs: list[Any], desc: str) -> list[dict]:
    from theory.plumbing.configs import config_to_dict

    items = [(config_to_dict(c), str(rundir.path), ctx.device, ctx.quiet, cfg.fan_in_scale) for c in configs]
    out = list(progress(ctx.executor.map(_cell, items), total=len(items), desc=desc, quiet=ctx.quiet))
    return out


def run_planted(cfg: PlantedConfig, rundir: RunDir, ctx: Context) -> list[dict[str, Any]]:
    """Plant, calibrate, search (see the module docstring); writes calibration.csv and runs.csv."""
    with _one_torch_thread():
        info = _plant(cfg, rundir)
    d0 = info["planted_density"]
    # 2. Calibration on the calibration seeds: every arm x lr at the planted density (or at every factor
    # with calibrate_per_factor); the lowest final training loss picks the lr (the test split never does).
    cal_factors = cfg.factors if cfg.calibrate_per_factor else (1.0,)
    calib = [
        (arm, f, lr, s, _train_config(cfg, arm, f * d0, lr, s))
        for arm in cfg.methods
        for f in cal_factors
        for lr in cfg.lrs
        for s in cfg.calibration_seeds
    ]
    results = _map(ctx, cfg, rundir, [c for *_, c in calib], "planted-ticket calibration")
    calib_rows = []
    for (arm, f, lr, s, _), res in zip(calib, results, strict=True):
        loss = _final_train_loss(res["run_dir"]) if not res["error"] else math.inf
        calib_rows.append(
            {
                "arm": arm,
                "factor": f,
                "lr": lr,
                "seed": s,
                "train_loss": loss,
                "test_acc": res.get("test_acc"),
            }
        )
    chosen: dict[tuple[str, float], float] = {}
    for arm in cfg.methods:
        for f in cal_factors:
            mine = [r for r in calib_rows if r["arm"] == arm and r["factor"] == f]
            by_lr = {lr: math.fsum(r["train_loss"] for r in mine if r["lr"] == lr) for lr in cfg.lrs}
            best = min(cfg.lrs, key=lambda lr: (by_lr[lr], lr))  # ties: the smaller lr
            for g in cfg.factors if not cfg.calibrate_per_factor else (f,):
                chosen[(arm, g)] = best
    for r in calib_rows:
        r["chosen"] = chosen[(r["arm"], r["factor"])] == r["lr"]
    rundir.write_csv("calibration.csv", calib_rows)
    # The settings the rules echo with their origin (tuned on the calibration seeds, never the test seeds).
    rundir.write_json(
        "settings.json",
        {
            "epochs": cfg.epochs,
            "batch_size": cfg.batch_size,
            "momentum": cfg.momentum,
            "weight_decay": cfg.weight_decay,
            "iep_cycles": cfg.iep_cycles,
            "fan_in_scale": cfg.fan_in_scale,
            "lr_grid": list(cfg.lrs),
            "lr_chosen": {arm: chosen[(arm, 1.0)] for arm in cfg.methods},
            "calibration_seeds": list(cfg.calibration_seeds),
            "test_seeds": list(cfg.seeds),
        },
    )
    # 3. The paired runs.
    plan = [
        (arm, f, s, _train_config(cfg, arm, f * d0, chosen[(arm, f)], s))
        for arm in cfg.methods
        for f in cfg.factors
        for s in cfg.seeds
    ]
    results = _map(ctx, cfg, rundir, [c for *_, c in plan], "planted-ticket runs")
    rows = []
    for (arm, f, s, tcfg), res in zip(plan, results, strict=True):
        run = str(Path(res["run_dir"]).relative_to(rundir.path)) if res.get("run_dir") else ""
        res = {k: v for k, v in res.items() if k != "run_dir"}
        rows.append(
            {
                "arm": arm,
                "factor": f,
                "seed": s,
                "lr": tcfg.lr,
                "nominal_density": tcfg.density,
                "run": run,
                **res,
            }
        )
    rundir.write_csv("runs.csv", rows)
    return rows


_ROW_KEYS = (
    "arm",
    "factor",
    "seed",
    "lr",
    "test_correct",
    "test_total",
    "kept",
    "planted",
    "hits",
    "recall",
    "precision",
    "chance_recall",
    "planted_dying_ratio",
    "dying_ratio",
    "planted_intact",
    "error",
)


def _evidence(rundir: RunDir) -> dict[str, tuple[str, dict[str, Any]]]:
    from theory.plumbing.records import read_csv

    info = rundir.read_json("planted.json")
    rows = []
    for r in read_csv(rundir.file("runs.csv")):
        row: dict[str, Any] = {}
        for k in _ROW_KEYS:
            v = r.get(k, "")
            if k in ("arm", "error"):
                row[k] = v or ""
            elif k in ("seed", "test_correct", "test_total", "kept", "planted", "hits"):
                row[k] = int(v) if v not in ("", None) else None
            else:
                row[k] = float(v) if v not in ("", None) else None
        rows.append(row)
    details = {
        "planted": {
            k: info[k]
            for k in (
                "planted_correct",
                "target_correct",
                "test_total",
                "planted_density",
                "planted_edges",
                "source_weights",
                "certified_bound",
                "num_failed_weights",
                "num_classes",
            )
        },
        "settings": rundir.read_json("settings.json"),
        "per_seed": rows,
    }
    return {eid: (eid, details) for eid in EVIDENCE}


register_experiment(
    Experiment(
        "planted-ticket",
        "EP, iEP and IteRand on the source network of a planted certified ticket (Plant 'n' Seek)",
        PlantedConfig,
        PRESETS,
        run_planted,
        _evidence,
        EVIDENCE,
    )
)
