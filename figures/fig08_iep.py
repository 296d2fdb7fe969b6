"""Figure 8: iterative Edge-Popup (soft and hard) vs Edge-Popup: accuracy vs density, dying ratio per cycle.

Records: training runs of experiment ``iep``. iEP (Iwasawa, Hirakawa, Matsuo, JSAI 2023; the "Soft
iEP" ICLR 2024 submission) repeats EP in cycles with a density falling to the target; soft iEP searches
the full weight space every cycle, hard iEP only inside the previous cycle's mask. The dying ratio per
cycle is the one logged at each cycle end; EP's over training its epoch-end values. Panel d marks the
fresh seeds (the sweep's ``iep_worst_seeds``) on which hard iEP >= EP is decided.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from figures.baselines import dense_baseline, draw_dense, epoch_curves
from figures.fig06_dying import density_of
from figures.records import TrainingRun, accuracy_percent, aligned_mean, group_by, seed_stats, training_runs
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import (
    LABELS,
    REFERENCE_COLOR,
    SPREAD_NOTE,
    PlotRecorder,
    color,
    marker,
    new_figure,
    panel_label,
)

MODE_KEYS = ("mode", "iep_mode", "search", "pruning")


def variant(run: TrainingRun) -> str:
    """``"EP"``, ``"iEP soft"``, ``"iEP hard"`` or ``"IteRand"`` (other methods: their name)."""
    method = str(run.config.get("method", "?"))
    if method != "iep":
        return {"ep": "EP", "iterand": "IteRand"}.get(method, method)
    for key in MODE_KEYS:
        if run.config.get(key) in ("soft", "hard"):
            return f"iEP {run.config[key]}"
    if isinstance(run.config.get("soft"), bool):
        return "iEP soft" if run.config["soft"] else "iEP hard"
    return "iEP"


def _seed_range(counts: list[int]) -> str:
    lo, hi = min(counts), max(counts)
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def log_density_axis(ax, densities: list[float]) -> None:
    """Log-scaled density axis ticked at the densities used, labelled plainly (0.05, not 5×10⁻²)."""
    ax.set_xscale("log")
    ticks = sorted(set(densities))
    ax.set_xticks(ticks, [f"{d:g}" for d in ticks])
    ax.minorticks_off()
    ax.set_xlabel(LABELS["density"] + " (log)")


def accuracy_vs_density(
    rec: PlotRecorder, ax, panel: str, groups: dict[str, list[TrainingRun]]
) -> list[dict[str, float | str]]:
    """Plot mean ± s.d. accuracy vs density per group; return the table of numbers."""
    table = []
    for i, (name, members) in enumerate(groups.items()):
        by_d = group_by(members, density_of)
        dens = np.array(list(by_d))
        stats = [seed_stats(accuracy_percent(r) for r in rs) for rs in by_d.values()]
        rec.stats_line(
            ax,
            panel,
            name,
            dens,
            stats,
            label=f"{name} ({_seed_range([s.n for s in stats])} seeds)",
            color=color(i),
            marker=marker(i),
        )
        for d, s in zip(dens, stats, strict=True):
            table.append(
                {"variant": name, "density": float(d), "test_acc": s.mean, "sd": s.std, "seeds": s.n}
            )
    log_density_axis(ax, [t["density"] for t in table])
    ax.set(ylabel=LABELS["test_acc"])
    return table


def _epoch_end_dying(run: TrainingRun) -> dict[float, float]:
    """``{epochs done: dying ratio}`` at each epoch end (the last ``dying_ratio`` row of each epoch)."""
    return {e + 1: v for e, v in run.last_per("dying_ratio", "epoch").items()}


def _cycle_end_dying(run: TrainingRun) -> dict[float, float]:
    """``{epochs done: dying ratio}`` at each iEP cycle end.

    The trainer logs ``cycle_dying_ratio`` at each cycle end (its epoch column counts the epochs done);
    older records only ``dying_ratio``: the last value of each cycle, at its epoch + 1.
    """
    x, y = run.series("cycle_dying_ratio", x="epoch")
    if x.size:
        return dict(zip(x.tolist(), y.tolist(), strict=True))
    out: dict[float, tuple[float, float, float]] = {}
    for r in run.metrics:
        if r.get("name") == "dying_ratio":
            c, step = float(r.get("cycle", 0)), float(r.get("step", 0))
            if c not in out or step >= out[c][0]:
                out[c] = (step, float(r.get("epoch", 0)) + 1, float(r["value"]))
    return {e: v for _, e, v in (out[c] for c in sorted(out))}


def _dying_panel(
    rec: PlotRecorder, ax, groups: dict[str, list[TrainingRun]], d_show: float
) -> tuple[list[dict[str, float | str]], float | None]:
    """Panel c: iEP's dying ratio at each cycle end and EP's (IteRand's) over training, vs epoch.

    Returns the table and the epoch of soft iEP's first cycle end (the ``iep-soft-beats-ep.early``
    test's step, marked by a dotted vertical line), None without soft iEP cycles.
    """
    from theory.rules.practice import NEAR_ZERO

    table: list[dict[str, float | str]] = []
    early_epoch = None
    for i, (name, members) in enumerate(groups.items()):
        at_d = [r for r in members if density_of(r) == d_show]
        if not at_d:
            continue
        iterative = name.startswith("iEP")
        per_run = [(_cycle_end_dying if iterative else _epoch_end_dying)(r) for r in at_d]
        xs = sorted(set.intersection(*(set(p) for p in per_run)))
        if not xs:
            continue
        stats = [seed_stats(p[x] for p in per_run) for x in xs]
        rec.stats_line(
            ax,
            "dying",
            name,
            xs,
            stats,
            label=f"{name} ({'each cycle end' if iterative else 'each epoch end'})",
            color=color(i),
            marker=marker(i) if iterative else None,
            linestyle="-" if iterative else "--",
        )
        kind = "cycle end" if iterative else "epoch end"
        table += [
            {"variant": name, "epoch": x, "at": kind, "dying_ratio": s.mean, "sd": s.std, "seeds": s.n}
            for x, s in zip(xs, stats, strict=True)
        ]
        if name == "iEP soft":
            early_epoch = xs[0]
    rec.hline(ax, "dying", "near zero", NEAR_ZERO, label=f"near zero ({NEAR_ZERO:g})")
    if early_epoch is not None:
        ax.axvline(early_epoch, color=REFERENCE_COLOR, linestyle=":", linewidth=0.8)
    ax.set(xlabel="epoch", ylabel=LABELS["dying_ratio"], ylim=(0, None))
    ax.set_title(f"dying ratio over training (density {d_show:g})\ndotted: soft iEP's first cycle end")
    ax.legend(fontsize=7, loc="center right")
    return table, early_epoch


def _fresh_seeds(runs: list[TrainingRun]) -> list[int]:
    """The sweep's ``iep_worst_seeds`` (its ``config.json``, two levels above the runs' folder)."""
    seeds: set[int] = set()
    for run in runs:
        sweep = run.path.parents[2] / "config.json"
        if sweep.exists():
            seeds |= {int(s) for s in json.loads(sweep.read_text()).get("iep_worst_seeds") or ()}
    return sorted(seeds)


def _fresh_panel(
    rec: PlotRecorder, ax, groups: dict[str, list[TrainingRun]], d_show: float
) -> tuple[list[dict[str, float | str]], str]:
    """Panel d: hard iEP minus EP test accuracy per seed at ``d_show``; the fresh seeds decide.

    The seeds the ordering was seen on are drawn grey; the fresh seeds (``iep-hard-beats-ep``) in
    colour with their mean and 95% t-interval (:func:`theory.rules.practice.t_interval`).
    """
    from theory.rules.practice import IEP_ACC_REF, t_interval

    def by_seed(name: str) -> dict[int, float]:
        return {
            int(r.get("seed", -1)): accuracy_percent(r)
            for r in groups.get(name, [])
            if density_of(r) == d_show
        }

    hard, ep = by_seed("iEP hard"), by_seed("EP")
    fresh = set(_fresh_seeds([r for rs in groups.values() for r in rs]))
    seeds = sorted(set(hard) & set(ep))
    table: list[dict[str, float | str]] = [
        {"seed": s, "hard_minus_ep": hard[s] - ep[s], "fresh": s in fresh} for s in seeds
    ]
    for tag, keep, col in (("seen seeds", False, "0.6"), ("fresh seeds", True, color(2))):
        xs = [s for s in seeds if (s in fresh) == keep]
        if xs:
            rec.scatter(ax, "fresh", tag, xs, [hard[s] - ep[s] for s in xs], label=tag, color=col, zorder=3)
    rec.hline(ax, "fresh", "zero", 0.0)
    rec.hline(ax, "fresh", "reference gain", 100 * IEP_ACC_REF, label=f"+{100 * IEP_ACC_REF:g} (reference)")
    diffs = [hard[s] - ep[s] for s in seeds if s in fresh]
    if len(diffs) >= 2:
        iv = t_interval(diffs)
        x0, x1 = min(fresh & set(seeds)), max(fresh & set(seeds))
        rec.line(
            ax,
            "fresh",
            "fresh mean",
            [x0, x1],
            [iv.mean, iv.mean],
            lo=[iv.low, iv.low],
            hi=[iv.high, iv.high],
            label="fresh mean, 95% t-interval",
            color=color(2),
            marker=None,
        )
        line = (
            f"hard iEP minus EP at density {d_show:g}, fresh seeds {x0}-{x1} ({iv.n} paired): {iv.text()} "
            "accuracy points"
        )
    else:
        line = (
            f"hard iEP minus EP at density {d_show:g}: no fresh seeds recorded (iep-hard-beats-ep undecided)"
        )
    ax.set(xlabel="seed", ylabel="hard iEP minus EP test accuracy (points)")
    ax.set_title(f"hard iEP minus EP per seed (density {d_show:g})\nfresh seeds decide iep-hard-beats-ep")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return table, line


def build(runs_root: Path) -> FigureResult:
    """Build figure 8 from ``iep`` training runs."""
    runs = training_runs(runs_root, "iep")
    groups = group_by(runs, variant)
    rec = PlotRecorder()
    fig, (ax_a, ax_t, ax_c, ax_d) = new_figure(4, width=4.2)
    table = accuracy_vs_density(rec, ax_a, "accuracy", groups)
    dense_line = draw_dense(rec, ax_a, "accuracy", dense_baseline(runs_root, runs))
    ax_a.set_title(f"accuracy vs density\n{SPREAD_NOTE}")
    ax_a.legend(fontsize=7)
    d_show = min(density_of(r) for r in runs)
    for i, (name, members) in enumerate(groups.items()):
        at_d = [r for r in members if density_of(r) == d_show]
        curves = epoch_curves(at_d)
        if curves:
            xs, sc = aligned_mean(curves)
            rec.line(
                ax_t, "curves", name, xs, sc.mean, lo=sc.lo, hi=sc.hi, label=name, color=color(i), marker=None
            )
    ax_t.set(xlabel="epoch", ylabel=LABELS["test_acc"])
    ax_t.set_title(f"test accuracy during training (density {d_show:g})")
    if ax_t.get_legend_handles_labels()[0]:
        ax_t.legend(fontsize=7, loc="lower right")
    cyc_table, early_epoch = _dying_panel(rec, ax_c, groups, d_show)
    fresh_table, fresh_line = _fresh_panel(rec, ax_d, groups, d_show)
    panel_label(ax_a, "a")
    panel_label(ax_t, "b")
    panel_label(ax_c, "c")
    panel_label(ax_d, "d")
    summary = [dense_line]
    for d in sorted({t["density"] for t in table}):
        best = max((t for t in table if t["density"] == d), key=lambda t: t["test_acc"])
        row = ", ".join(
            f"{t['variant']} {t['test_acc']:.2f}±{t['sd']:.2f}" for t in table if t["density"] == d
        )
        summary.append(f"density {d:g}: {row} (best: {best['variant']})")
    if early_epoch is not None:
        summary.append(f"soft iEP's first cycle ends at epoch {early_epoch:g} (the early test's step)")
    summary.append(fresh_line)
    tables = {"accuracy": table, "dying ratio per cycle": cyc_table, "hard minus EP per seed": fresh_table}
    return FigureResult(fig, rec.rows, summary, tables)


register_figure(
    FigureSpec(
        name="fig08_iep",
        title="iEP soft vs hard vs EP: accuracy vs density, dying ratio per cycle",
        caption="Test accuracy (mean ± 1 s.d. over seeds) of Edge-Popup and iterative Edge-Popup with soft "
        "and hard search spaces and of IteRand against density (dense SGD dashed), test accuracy per epoch "
        "at the lowest density, the dying ratio at the end of each iEP cycle and EP's and IteRand's at "
        "each epoch end at the lowest density (soft iEP's first cycle end dotted), and hard iEP minus EP "
        "accuracy per seed there (the fresh seeds, with their mean and 95% t-interval, decide "
        "iep-hard-beats-ep).",
        experiments=("iep", "ep-vs-dense"),
        claims=("iep-soft-beats-ep", "iep-hard-worst-case", "iterand-lowers-dying", "iep-hard-beats-ep"),
        build=build,
    )
)
