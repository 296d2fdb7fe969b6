"""Figure 6: the Dying Ratio of Edge-Popup over training at several densities.

Records: training runs of experiment ``ep-dying`` (metric ``dying_ratio`` per step; ``final.json``).
The Dying Ratio d_t is the fraction of prunable weights never selected by the mask in any training
forward pass up to step t (Iwasawa, Hirakawa, Matsuo, JSAI 2023 / the "Soft iEP" ICLR 2024 submission,
Eq. 2; our definition in the training code). It starts at the sparsity 1 - density and never increases;
(1 - density) - d_T is the fraction of initially pruned weights that were ever tried.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from figures.baselines import dense_baseline, draw_dense, epoch_curves
from figures.records import TrainingRun, aligned_mean, group_by, seed_stats, training_runs
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


def final_dying(run: TrainingRun) -> float:
    """Final dying ratio: ``final.json`` if recorded, else the last logged value (NaN if neither)."""
    if run.final.get("dying_ratio") is not None:
        return float(run.final["dying_ratio"])
    _, values = run.series("dying_ratio")
    return float(values[-1]) if values.size else math.nan


def density_of(run: TrainingRun) -> float:
    """The run's target density (config, else final.json)."""
    value = run.get("density")
    return float(value) if value is not None else math.nan


def build(runs_root: Path) -> FigureResult:
    """Build figure 6 from ``ep-dying`` training runs."""
    runs = training_runs(runs_root, "ep-dying")
    groups = group_by(runs, density_of)
    rec = PlotRecorder()
    fig, (ax_t, ax_d, ax_a) = new_figure(3, width=4.2)
    table = []
    for i, (density, members) in enumerate(groups.items()):
        accs = epoch_curves(members)
        if accs:
            xa, sa = aligned_mean(accs)
            rec.line(
                ax_a,
                "accuracy",
                f"density={density:g}",
                xa,
                sa.mean,
                lo=sa.lo,
                hi=sa.hi,
                label=f"density {density:g}",
                color=color(i),
                marker=None,
            )
        curves = [r.series("dying_ratio") for r in members]
        curves = [c for c in curves if c[0].size]
        if curves:
            xs, st = aligned_mean(curves)
            rec.line(
                ax_t,
                "over_training",
                f"density={density:g}",
                xs,
                st.mean,
                lo=st.lo,
                hi=st.hi,
                label=f"density {density:g} ({st.n} seeds)",
                color=color(i),
                marker=None,
            )
        fs = seed_stats(final_dying(r) for r in members)
        table.append(
            {
                "density": density,
                "initial_dying_ratio": 1.0 - density,
                "final_dying_ratio": fs.mean,
                "final_sd": fs.std,
                "seeds": fs.n,
                "explored_fraction": (1.0 - density) - fs.mean,
            }
        )
    dens = np.array([t["density"] for t in table])
    rec.points(
        ax_d,
        "final",
        "final dying ratio",
        dens,
        [t["final_dying_ratio"] for t in table],
        lo=[t["final_dying_ratio"] - t["final_sd"] for t in table],
        hi=[t["final_dying_ratio"] + t["final_sd"] for t in table],
        label="final d_T (mean ± s.d.)",
        color=color(0),
        marker=marker(0),
    )
    rec.line(
        ax_d,
        "final",
        "initial 1-density",
        dens,
        1.0 - dens,
        label="initial d_0 = 1 − density",
        color=REFERENCE_COLOR,
        linestyle=":",
        marker=None,
    )
    rec.points(
        ax_d,
        "final",
        "explored",
        dens,
        [t["explored_fraction"] for t in table],
        label="explored (1 − density) − d_T",
        color=color(1),
        marker=marker(1),
    )
    ax_t.set(xlabel=LABELS["step"], ylabel=LABELS["dying_ratio"], ylim=(0, None))
    ax_t.set_title(f"Edge-Popup dying ratio during training\n{SPREAD_NOTE}")
    ax_t.legend(fontsize=7)
    ax_d.set(xlabel=LABELS["density"], ylabel="fraction of prunable weights", ylim=(0, None))
    ax_d.set_title("final dying ratio vs density")
    ax_d.legend(fontsize=7)
    dense_line = draw_dense(rec, ax_a, "accuracy", dense_baseline(runs_root, runs))
    ax_a.set(xlabel="epoch", ylabel=LABELS["test_acc"])
    ax_a.set_title("test accuracy during training")
    if ax_a.get_legend_handles_labels()[0]:
        ax_a.legend(fontsize=7, loc="lower right")
    panel_label(ax_t, "a")
    panel_label(ax_d, "b")
    panel_label(ax_a, "c")
    summary = [dense_line] + [
        f"density {t['density']:g}: final dying ratio {t['final_dying_ratio']:.3f} ± {t['final_sd']:.3f} "
        f"({t['seeds']} seeds; starts at {t['initial_dying_ratio']:.3f})"
        for t in table
    ]
    return FigureResult(fig, rec.rows, summary, {"final dying ratio vs density": table})


register_figure(
    FigureSpec(
        name="fig06_dying",
        title="Dying Ratio of Edge-Popup over training at several densities",
        caption="Fraction of prunable weights never selected up to each step (mean ± 1 s.d. over seeds), "
        "and the final value against density, with its starting value 1 − density and the fraction of "
        "initially pruned weights ever tried; right: test accuracy per epoch with the dense SGD baseline "
        "(dashed, band ±1 s.d.).",
        experiments=("ep-dying", "ep-vs-dense"),
        claims=("ep-dying-ratio-grows", "ep-mask-turnover-small"),
        build=build,
    )
)
