"""Tiny synthetic run records that follow the record contract, for tests, demos and docs.

``write_synthetic_runs(root)`` writes, in seconds and without training anything, one small record
directory per experiment the figures read, in exactly the layout the producers write. The numbers come
from simple closed-form models plus seeded binomial/Gaussian noise; they only need to look like the
real thing, not to be evidence of anything. ``slth figures --demo`` renders them, which is a quick way
to see every figure without running the producers.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from sim.training_sweeps.runs import RUNS as TRAINING_RUNS
from theory.plumbing.rundir import RunDir


def _write_text(path: Path, text: str) -> None:
    # Plain writes, not the atomic fsync'ed ones: this is throw-away demo data and ~900 small files.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _json(path: Path, obj: Any) -> None:
    _write_text(Path(path), json.dumps(obj, indent=1, sort_keys=True))


def _csv(path: Path, rows: list[dict[str, Any]], fieldnames: list[str] | None = None) -> None:
    if fieldnames is None:
        fieldnames = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    _write_text(Path(path), buf.getvalue())


SEEDS = (0, 1, 2)


def _cp(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    # Exact Clopper-Pearson interval (Clopper & Pearson 1934) via the beta quantiles.
    from scipy.stats import beta

    a = (1.0 - confidence) / 2.0
    lo = 0.0 if successes == 0 else float(beta.ppf(a, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(beta.ppf(1.0 - a, successes + 1, trials - successes))
    return lo, hi


def _sweep(
    root: Path,
    experiment: str,
    rows: list[dict[str, Any]],
    config: dict[str, Any],
    table: str = "results.csv",
) -> Path:
    path = root / experiment / f"synthetic{len(experiment):02d}"
    RunDir(path, {"synthetic": True, **config}).open(env={"synthetic": True})
    _csv(path / table, rows)
    return path


def _training_run(
    root: Path,
    experiment: str,
    tag: str,
    seed: int,
    config: dict[str, Any],
    final: dict[str, Any],
    metrics: list[dict[str, Any]],
) -> Path:
    # The layout of a training sweep: the sweep's run directory holds its training runs.
    path = root / experiment / "synthetic" / TRAINING_RUNS / tag / f"seed_{seed}"
    rundir = RunDir(path, {**config, "seed": seed}).open(env={"synthetic": True})
    _csv(path / "metrics.csv", metrics, fieldnames=["step", "epoch", "cycle", "name", "value"])
    _json(path / "final.json", final)
    rundir.mark_done()
    return path


def _dying_curve(density: float, steps: np.ndarray, rate: float, cycles: int = 1) -> np.ndarray:
    # Starts at 1 - density and decays towards a floor that grows as density falls; non-increasing.
    floor = (1.0 - density) ** 2 * 0.8
    return floor + (1.0 - density - floor) * np.exp(-rate * steps / max(steps.max(), 1))


def _metrics(steps: np.ndarray, named: dict[str, np.ndarray], *, steps_per_cycle: int | None = None) -> list:
    rows = []
    for i, s in enumerate(steps):
        cycle = int(s // steps_per_cycle) if steps_per_cycle else 0
        for name, values in named.items():
            rows.append(
                {
                    "step": int(s),
                    "epoch": int(s // 10),
                    "cycle": cycle,
                    "name": name,
                    "value": float(values[i]),
                }
            )
    return rows


def write_synthetic_runs(root: str | Path, *, seed: int = 0) -> Path:
    """Write one small synthetic record set per experiment under ``root``.

    Args:
        root: The runs root to fill (created if missing).
        seed: Seed of the noise (a ``numpy.random.Generator`` built from it).

    Returns:
        ``root`` as a ``Path``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    logistic = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731

    # --- Random SubsetSum: success vs n, and the fitted constant.
    rows = []
    for lo, hi in ((-1.0, 1.0), (-0.5, 0.5)):
        for eta in (1e-1, 1e-2, 1e-3):
            for n in range(4, 27, 2):
                p = float(logistic(1.2 * (n - 1.3 * math.log2(1 / eta) - 2 - (hi - lo))))
                trials = 60
                succ = int(rng.binomial(trials, p))
                cl, ch = _cp(succ, trials)
                rows.append(
                    {"distribution": "uniform", "lo": lo, "hi": hi, "eta": eta, "n": n, "perturbation": 0.0}
                    | {"successes": succ, "trials": trials, "p": succ / trials, "ci_low": cl, "ci_high": ch}
                )
    _sweep(root, "rss-success", rows, {"scale": "quick"})
    rows = []
    for crit, c_true in (("level", 1.31), ("fail<=eta", 1.62)):
        for eta in (1e-1, 1e-2, 1e-3):
            L = math.log2(1 / eta)
            n_min = round(c_true * L + 2)
            rows.append(
                {"scope": "eta", "distribution": "uniform", "lo": -1.0, "hi": 1.0, "criterion": crit}
                | {"eta": eta, "log2_inv_eta": L, "n_min": n_min, "C": n_min / L}
                | {"C_low": n_min / L - 0.2, "C_high": n_min / L + 0.2, "C_lueker": 0.4 + 0.02 * L}
            )
        rows.append(
            {"scope": "fit", "distribution": "uniform", "lo": -1.0, "hi": 1.0, "criterion": crit, "C": c_true}
            | {"C_low": c_true - 0.09, "C_high": c_true + 0.09}
        )
    _sweep(root, "rss-constant", rows, {"scale": "quick"})

    # --- Xiong PSSP: minimal n vs perturbation/eta (panel a: the poster's setup; b: other readings).
    rows = []
    setups = [("a", "product/coverage/[-1,1]", 1.3, (1e-2, 1e-3, 1e-4, 1e-5))]
    setups += [("b", "uniform/coverage/[-1,1]", 1.0, (1e-2, 1e-3))]
    setups += [("b", "product/target/[-1,1]", 0.7, (1e-2, 1e-3))]
    for panel, reading, slope, etas in setups:
        for eta in etas:
            for ratio in (0.0, 0.1, 0.3, 1.0, 3.0, 10.0):
                n_min = max(2, round(slope * math.log2(1 / eta) / (1 + 0.15 * ratio)) + 2)
                trials, succ = 50, int(rng.integers(45, 51))
                cl, ch = _cp(succ, trials)
                rows.append(
                    {"panel": panel, "reading": reading, "eta": eta, "perturbation": ratio * eta}
                    | {"ratio": ratio, "n_min": n_min, "n90_low": n_min - 1, "n90_high": n_min + 1}
                    | {"successes": succ, "trials": trials, "p": succ / trials, "ci_low": cl, "ci_high": ch}
                )
    _sweep(root, "pssp-min-n", rows, {"scale": "quick"})

    # --- Xiong Theorem 1: bound vs measured failure rate.
    rows = []
    for K in (1, 2, 4):
        for eps in (0.0, 0.5, 1.0):
            for n in (8, 12, 16, 20, 24, 28):
                bound = math.exp(-(n - K) * (1 + eps) ** 2 / (8 * (3 - eps))) + math.exp(-K)
                trials = 80
                fails = int(rng.binomial(trials, float(logistic(-(n - 14) * (1 + eps) * 0.6))))
                cl, ch = _cp(fails, trials)
                for link in (1.0, 2.0):
                    # A larger link constant C asks for a coarser eta, so fewer failures.
                    f = fails if link == 1.0 else fails // 3
                    cl, ch = _cp(f, trials)
                    rows.append(
                        {"n": n, "perturbation": eps, "K": K, "C": link, "bound": bound, "failures": f}
                        | {"trials": trials, "p_fail": f / trials, "ci_low": cl, "ci_high": ch}
                        | {"vacuous": bound >= 1.0, "violated": cl > bound}
                    )
    _sweep(root, "xiong-thm1", rows, {"scale": "quick"})

    # --- PGD + EP: one run per (sparsity, perturbation, seed).
    for s in (0.0, 0.2, 0.4, 0.6, 0.8):
        for eps in (0.0, 1e-3, 1e-2, 1e-1):
            for sd in SEEDS:
                acc = 0.80 + 0.1 * math.sqrt(eps) * (1 - s) + 0.05 * s * (1 - 4 * eps) + rng.normal(0, 0.005)
                cfg = {"method": "pgd_ep", "density": round(1 - s, 6), "perturbation": eps, "lr": 0.1}
                _training_run(
                    root, "pgd-ep", f"s{s}-e{eps}", sd, cfg, {"test_acc": acc, "density": 1 - s}, []
                )

    # --- Training-style experiments with metrics.
    steps = np.arange(0, 101, 10)
    # The test bed (ep-vs-dense): EP per density and the dense baseline, test accuracy per epoch.
    for model, top in (("mlp", 0.975), ("conv1d-wide", 0.92)):
        data = "digits" if model == "mlp" else "mnist1d"
        for density in (0.1, 0.5, 1.0):
            for sd in SEEDS:
                final = top - 0.15 * (0.5 - density) ** 2 * (density < 1) + rng.normal(0, 0.003)
                acc = final - 0.3 * np.exp(-steps / 20)
                cfg = {"method": "dense" if density == 1.0 else "ep", "density": density}
                cfg |= {"dataset": data, "model": model}
                fin = {"test_acc": float(acc[-1]), "density": density}
                tag = f"{model}-{density}"
                _training_run(root, "ep-vs-dense", tag, sd, cfg, fin, _metrics(steps, {"test_acc": acc}))
    for density in (0.1, 0.3, 0.5, 0.7):
        for sd in SEEDS:
            dr = _dying_curve(density, steps, 3.0 + rng.normal(0, 0.1))
            acc = 0.6 + 0.3 * (1 - np.exp(-steps / 30)) - 0.1 * abs(density - 0.5) + rng.normal(0, 0.01)
            m = _metrics(steps, {"dying_ratio": dr, "test_acc": acc, "train_loss": 2.0 * np.exp(-steps / 40)})
            cfg = {"method": "ep", "density": density, "lr": 0.1, "epochs": 10}
            fin = {"test_acc": float(acc[-1]), "dying_ratio": float(dr[-1]), "density": density}
            _training_run(root, "ep-dying", f"d{density}", sd, cfg, fin, m)

    base = {"method": "ep", "density": 0.3, "lr": 0.1, "batch_size": 64, "weight_decay": 1e-4}
    base |= {"weight_init": "signed_kaiming_constant", "score_init": "kaiming_uniform"}
    variants = [{}, {"lr": 0.01}, {"lr": 0.3}, {"batch_size": 16}, {"batch_size": 256}, {"weight_decay": 0.0}]
    variants += [{"weight_decay": 1e-3}, {"weight_init": "kaiming_normal"}, {"score_init": "kaiming_normal"}]
    for i, var in enumerate(variants):
        for sd in SEEDS:
            dr = float(np.clip(0.45 + 0.1 * rng.normal(), 0.0, 0.7))
            acc = 0.9 - 0.3 * dr + rng.normal(0, 0.01)
            fin = {"test_acc": acc, "dying_ratio": dr, "density": 0.3}
            _training_run(root, "ep-hparams", f"v{i}", sd, base | var, fin, [])

    for method, mode in (("ep", None), ("iep", "soft"), ("iep", "hard")):
        for density in (0.05, 0.1, 0.3):
            for sd in SEEDS:
                gain = {"ep": 0.0, "soft": 0.03, "hard": 0.01}[mode or "ep"]
                cycles = 1 if method == "ep" else 4
                dr = _dying_curve(density, steps, 4.0 if mode == "soft" else 2.0)
                acc = 0.8 + gain - 0.2 * (0.3 - density) + rng.normal(0, 0.005)
                m = _metrics(steps, {"dying_ratio": dr}, steps_per_cycle=None if cycles == 1 else 26)
                cfg = {"method": method, "density": density, "cycles": cycles}
                if mode:
                    cfg["mode"] = mode
                fin = {"test_acc": acc, "dying_ratio": float(dr[-1]), "density": density}
                _training_run(root, "iep", f"{method}-{mode}-{density}", sd, cfg, fin, m)

    for rewind in ("finetune", "lr_rewind", "score_rewind", "score_reinit"):
        for density in (0.05, 0.1, 0.3):
            for sd in SEEDS:
                gain = {"finetune": -0.02, "lr_rewind": 0.02, "score_rewind": 0.0, "score_reinit": -0.04}[
                    rewind
                ]
                acc = 0.8 + gain - 0.2 * (0.3 - density) + rng.normal(0, 0.005)
                cfg = {"method": "iep", "density": density, "mode": "hard", "rewind": rewind, "cycles": 4}
                fin = {"test_acc": acc, "dying_ratio": 0.5 * (1 - density), "density": density}
                _training_run(root, "iep-rewind", f"{rewind}-{density}", sd, cfg, fin, [])

    for method in ("rigl", "rigl2"):
        for density in (0.2, 0.1):
            for sd in SEEDS:
                bonus = 0.01 if method == "rigl2" else 0.0
                acc = (
                    0.55 + (0.35 + bonus) * (1 - np.exp(-steps / 25)) - (0.2 - density) + rng.normal(0, 0.005)
                )
                loss = 2.0 * np.exp(-steps / 30) + 0.1
                m = _metrics(steps, {"test_acc": acc, "train_loss": loss})
                cfg = {"method": method, "density": density, "lr": 0.1}
                _training_run(root, "rigl", f"{method}-{density}", sd, cfg, {"test_acc": float(acc[-1])}, m)

    # --- Constructions.
    rows = []
    for method in ("pensia", "xiong"):
        for eps in (1e-1, 1e-2, 1e-3):
            for cand in range(4, 33, 4):
                need = 1.6 * math.log2(1 / eps) * (0.75 if method == "xiong" else 1.0)
                frac = float(np.clip(logistic(2.0 * (cand - need)), 0.0, 1.0))
                frac = 1.0 if frac > 0.995 else round(frac, 4)
                rows.append({"method": method, "eps": eps, "perturbation": 0.0, "candidates": cand})
                rows[-1] |= {"success_fraction": frac}
    _sweep(root, "construct-width", rows, {"scale": "quick"})
    for i, (target, method, kept) in enumerate(
        (("digits-mlp", "pensia", 3.1), ("mnist1d-mlp", "pensia", 3.4), ("digits-mlp", "xiong", 2.6))
    ):
        path = root / "construct" / f"synthetic{i}" / "seed_0"
        rep = {"eps": 0.01, "method": method, "kept_ratio": kept, "certified_bound": 0.05}
        rep |= {"measured_error": 0.004, "target_acc": 0.95 - 0.02 * i, "ticket_acc": 0.95 - 0.02 * i}
        rep |= {"candidates_per_weight": 21, "failed_weights": 0}
        RunDir(path, {"target": target, "method": method, "eps": 0.01}).open(env={"synthetic": True})
        _json(path / "report.json", rep)

    # --- Depth L+1 (Burkholz) vs 2L tickets.
    rows = []
    for target, two_l in (("digits-mlp", "pensia"), ("digits-cnn", "dacunha")):
        for construction, depth, src, kept, cert in (
            (f"2L {two_l}", 4, 3.2e5, 6.3e3, 2.4),
            ("L+1 Burkholz", 3, 2.1e6, 8.9e4, 13.1),
        ):
            rows.append({"target": target, "construction": construction, "source_depth": depth})
            rows[-1] |= {"source_params": src, "kept_params": kept, "certified_bound": cert}
            rows[-1] |= {"measured_error": cert / 20, "target_acc": 97.2, "ticket_acc": 97.0}
            rows[-1] |= {"num_failed_weights": 2}
    _sweep(root, "depth-tickets", rows, {"scale": "quick"}, table="tickets.csv")

    # --- Taylor loss change.
    rows = []
    for sd in SEEDS:
        for k in (1, 3, 10, 30, 100, 300, 1000):
            actual = 1e-4 * k**1.3 * (1 + 0.1 * rng.normal())
            rows.append({"model": "mlp", "order": 1, "k": k, "predicted": actual * (1 - 0.004 * k**0.5)})
            rows[-1] |= {"actual": actual, "seed": sd}
            rows.append({"model": "mlp", "order": 2, "k": k, "predicted": actual * (1 - 0.0005 * k**0.5)})
            rows[-1] |= {"actual": actual, "seed": sd}
    _sweep(root, "taylor", rows, {"scale": "quick"}, table="swaps.csv")
    rows = []
    for sd in SEEDS:
        for k in (1, 3, 10, 30, 100, 300):
            first = 1e-3 * k**0.8 * (1 + 0.05 * rng.normal())
            rows.append({"model": "mlp", "rule": "first", "k": k, "loss_decrease": first, "seed": sd})
            rows.append(
                {"model": "mlp", "rule": "second", "k": k, "loss_decrease": first * (1 + 0.02 * k**0.5)}
            )
            rows[-1]["seed"] = sd
    _sweep(root, "taylor", rows, {"scale": "quick"}, table="interdependency.csv")
    _planted(root, rng)
    _rfss_records(root, rng)
    _quantized_records(root, rng)
    return root


def _planted(root: Path, rng: np.random.Generator) -> None:
    """Synthetic ``planted-ticket`` records in the producer's layout (``sim.planted``)."""
    base = root / "planted-ticket" / "synthetic"
    d0 = 0.02
    RunDir(base, {"scale": "synthetic"}).open(env={"synthetic": True})
    _json(
        base / "planted.json",
        {
            "planted_density": d0,
            "planted_acc": 0.97,
            "target_acc": 0.972,
            "planted_edges": 6000,
            "source_weights": 300000,
        },
    )
    rows = []
    for a, arm in enumerate(("ep", "iep-soft", "iep-hard", "iterand")):
        for f in (0.5, 1.0, 2.0):
            for s in range(3):
                run = f"runs/{arm}-{f:g}/seed_{s}"
                acc = 0.8 - 0.1 * a + 0.02 * rng.normal()
                curve = [
                    {
                        "step": e,
                        "epoch": e,
                        "cycle": 0,
                        "name": "test_acc",
                        "value": acc * (1 - 0.5 ** (e + 1)),
                    }
                    for e in range(6)
                ]
                _csv(base / run / "metrics.csv", curve)
                chance = f * d0 * 1.8
                rows.append(
                    {
                        "arm": arm,
                        "factor": f,
                        "seed": s,
                        "test_correct": int(360 * acc),
                        "test_total": 360,
                        "recall": chance + 0.002 * rng.normal(),
                        "chance_recall": chance,
                        "dying_ratio": 1 - f * d0 * 1.3,
                        "planted_dying_ratio": 1 - f * d0 * 2.5,
                        "error": "",
                        "run": run,
                    }
                )
    _csv(base / "runs.csv", rows)


def _rfss_records(root: Path, rng: np.random.Generator) -> None:
    """Figure 13's records: ``rfss`` (``thm2.csv``) and ``sparse-tickets`` (``evidence.json``)."""
    rows = []
    for k in (2, 4, 8):
        for eps in (0.1, 0.03, 0.01):
            for c in (1.0, 2.0):
                hits = int(rng.binomial(100, min(0.95, 0.2 * c + 0.05 * k)))
                lo, hi = _cp(hits, 100)
                rows.append({"k": k, "eps": eps, "c_hyp": c, "z_frac": 1.0, "n": 2 * k, "trials": 100,
                             "hits": hits, "limit": "", "p": hits / 100, "ci_low": lo, "ci_high": hi})
    _sweep(root, "rfss", rows, {"scale": "quick"}, table="thm2.csv")
    tickets = []
    for n in (12, 16, 24):
        for method, gamma in (("sparse", 0.1), ("sparse", 0.2), ("pensia", None)):
            density = (gamma or 0.08) * 16 / n * (1 + 0.05 * rng.normal())
            tickets.append(
                {"method": method, "n": n, "seed": 1, "density_requested": gamma, "density": density}
                | {"layer_density": [density], "subset_sizes": [2], "kept": int(3000 * density)}
                | {"source": 3000, "certified": 0.05 * rng.uniform(), "failed": 0}
            )
    details = {"eps": 0.06, "dims": [4, 4, 2], "target_seed": 0, "densities": [0.1, 0.2], "rows": tickets}
    path = root / "sparse-tickets" / "synthetic14"
    RunDir(path, {"synthetic": True, "scale": "quick"}).open(env={"synthetic": True})
    _json(path / "evidence.json", {"rfss-sparse-ticket": details})



def _quantized_records(root: Path, rng: np.random.Generator) -> None:
    """Figure 15's records (``quantized-tickets``): the rule examples as evidence, made-up widths."""
    from sim.quantized import write_tables
    from theory.rules.quantized import EXAMPLES

    path = root / "quantized-tickets" / "synthetic15"
    rundir = RunDir(path, {"synthetic": True, "scale": "quick"})
    rundir.open(env={"synthetic": True})
    _json(path / "evidence.json", {eid: details for eid, _, details in EXAMPLES})
    per = [
        {"set": "test", "level": k, "delta": 2.0**-k, "needed": [int(v) for v in rng.integers(0, 12 * k, 40)]}
        for k in (2, 3, 4)
    ]
    _json(path / "widths.json", {"C": 12.0, "per_target": per})
    write_tables(rundir, {eid: details for eid, _, details in EXAMPLES})

# ------------------------------------------------------------------------------------------------ demo
DEMO_DIR = "demo"
SYNTHETIC_COLUMN = "synthetic_data"


def demo_out_dir(out: str | Path) -> Path:
    """Where ``slth figures --demo`` writes: ``<out>/demo``, never beside the real figures in ``out``."""
    return Path(out) / DEMO_DIR


def render_demo(
    name: str, runs_root: str | Path, out_dir: str | Path, *, formats: tuple[str, ...] = ("png", "pdf")
):
    """Render figure ``name`` from synthetic records, marked as synthetic in every file it writes.

    The PNG and PDF carry the watermark and title suffix of :func:`figures.style.mark_synthetic`; the CSV
    gets a first column ``synthetic_data`` saying so on every row (and in the header of an empty table).

    Args:
        name: A registered figure name.
        runs_root: The synthetic records (:func:`write_synthetic_runs`).
        out_dir: The demo output folder (:func:`demo_out_dir`).
        formats: Image formats to write.

    Returns:
        ``(RenderedFigure, FigureResult)`` as :func:`figures.registry.render`.
    """
    import dataclasses

    from figures.registry import render
    from figures.style import SYNTHETIC_NOTE, mark_synthetic, save_figure
    from theory.plumbing.records import atomic_write_csv

    rendered, result = render(name, runs_root, out_dir, formats=())
    mark_synthetic(result.figure)
    png, pdf = save_figure(result.figure, out_dir, rendered.name, formats)
    with open(rendered.csv, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh), [])
    rows = [{SYNTHETIC_COLUMN: SYNTHETIC_NOTE, **row} for row in result.rows]
    atomic_write_csv(rendered.csv, rows, fieldnames=[SYNTHETIC_COLUMN, *header])
    return dataclasses.replace(rendered, png=png, pdf=pdf), result
