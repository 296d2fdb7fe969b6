"""Figure 8: iterative Edge-Popup (soft and hard) vs Edge-Popup: accuracy vs density, dying ratio per cycle.

Records: training runs of experiment ``iep``. iEP (Iwasawa, Hirakawa, Matsuo, JSAI 2023; the "Soft
iEP" ICLR 2024 submission) repeats EP in cycles with a density falling to the target; soft iEP searches
the full weight space every cycle, hard iEP only inside the previous cycle's mask. The dying ratio per
cycle is the last value logged in each cycle.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from figures.baselines import dense_baseline, draw_dense, epoch_curves
from figures.fig06_dying import density_of, final_dying
from figures.records import TrainingRun, accuracy_percent, aligned_mean, group_by, seed_stats, training_runs
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import LABELS, SPREAD_NOTE, PlotRecorder, color, marker, new_figure, panel_label

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
        rec.line(
            ax,
            panel,
            name,
            dens,
            [s.mean for s in stats],
            lo=[s.lo for s in stats],
            hi=[s.hi for s in stats],
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


def build(runs_root: Path) -> FigureResult:
    """Build figure 8 from ``iep`` training runs."""
    runs = training_runs(runs_root, "iep")
    groups = group_by(runs, variant)
    rec = PlotRecorder()
    fig, (ax_a, ax_t, ax_c) = new_figure(3, width=4.2)
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
    cyc_table = []
    for i, (name, members) in enumerate(groups.items()):
        at_d = [r for r in members if density_of(r) == d_show]
        if not at_d:
            continue
        # The trainer logs ``cycle_dying_ratio`` at each cycle end; older records only ``dying_ratio``.
        per_cycle = [
            r.last_per("cycle_dying_ratio", "cycle") or r.last_per("dying_ratio", "cycle") for r in at_d
        ]
        cycles = sorted(set.intersection(*(set(p) for p in per_cycle))) if per_cycle else []
        if len(cycles) >= 2:
            stats = [seed_stats(p[c] for p in per_cycle) for c in cycles]
            rec.line(
                ax_c,
                "per_cycle",
                name,
                np.array(cycles) + 1,
                [s.mean for s in stats],
                lo=[s.lo for s in stats],
                hi=[s.hi for s in stats],
                label=name,
                color=color(i),
                marker=marker(i),
            )
            cyc_table += [
                {"variant": name, "cycle": c + 1, "dying_ratio": s.mean}
                for c, s in zip(cycles, stats, strict=True)
            ]
        else:
            s = seed_stats(final_dying(r) for r in at_d)
            rec.hline(
                ax_c,
                "per_cycle",
                name,
                s.mean,
                label=f"{name} (final, one cycle)",
                color=color(i),
                linestyle="--",
            )
            cyc_table.append({"variant": name, "cycle": math.nan, "dying_ratio": s.mean})
    ax_c.xaxis.get_major_locator().set_params(integer=True)
    ax_c.set(xlabel="cycle (1-based)", ylabel=LABELS["dying_ratio"], ylim=(0, None))
    ax_c.set_title(f"dying ratio at the end of each cycle (density {d_show:g})")
    ax_c.legend(fontsize=7)
    panel_label(ax_a, "a")
    panel_label(ax_t, "b")
    panel_label(ax_c, "c")
    summary = [dense_line]
    for d in sorted({t["density"] for t in table}):
        best = max((t for t in table if t["density"] == d), key=lambda t: t["test_acc"])
        row = ", ".join(
            f"{t['variant']} {t['test_acc']:.2f}±{t['sd']:.2f}" for t in table if t["density"] == d
        )
        summary.append(f"density {d:g}: {row} (best: {best['variant']})")
    return FigureResult(fig, rec.rows, summary, {"accuracy": table, "dying ratio per cycle": cyc_table})


register_figure(
    FigureSpec(
        name="fig08_iep",
        title="iEP soft vs hard vs EP: accuracy vs density, dying ratio per cycle",
        caption="Test accuracy (mean ± 1 s.d. over seeds) of Edge-Popup and iterative Edge-Popup with soft "
        "and hard search spaces and of IteRand against density (dense SGD dashed), test accuracy per epoch "
        "at the lowest density, and the dying ratio at the end of each iEP cycle at the "
        "lowest density (EP: its final value).",
        experiments=("iep", "ep-vs-dense"),
        claims=("iep-soft-beats-ep", "iep-hard-worst-case", "iterand-lowers-dying"),
        build=build,
    )
)
