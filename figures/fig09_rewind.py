"""Figure 9: iEP rewinding variants (fine-tune, LR rewind, score rewind, score re-init) against EP.

Records: training runs of experiment ``iep-rewind``. The variants follow the hard-iEP ablation of the
"Soft iEP" ICLR 2024 submission (FT, LR, SRw, SRi), by analogy with Renda et al. (ICLR 2020, arXiv
2003.02389): between cycles keep the scores and continue at a low LR (fine-tune), keep the scores and
restart the LR schedule (LR rewind), reset the scores to their initial values (score rewind), or draw
new random scores (score re-init).
"""

from __future__ import annotations

import math
from pathlib import Path

from figures.baselines import dense_baseline, draw_dense, epoch_curves
from figures.fig06_dying import density_of, final_dying
from figures.records import TrainingRun, accuracy_percent, aligned_mean, group_by, seed_stats, training_runs
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import LABELS, SPREAD_NOTE, PlotRecorder, color, marker, new_figure, panel_label

REWIND_KEYS = ("rewind", "rewinding", "iep_rewind", "rewind_mode")
NAMES = {
    "finetune": "fine-tune",
    "lr_rewind": "LR rewind",
    "score_rewind": "score rewind",
    "score_reinit": "score re-init",
}


def rewind_variant(run: TrainingRun) -> str:
    """Human-readable rewinding variant of an iEP run (``"EP"`` for the EP arm, ``"?"`` if not recorded)."""
    if run.config.get("method") == "ep":
        return "EP"
    for key in REWIND_KEYS:
        if run.config.get(key) is not None:
            return NAMES.get(str(run.config[key]), str(run.config[key]))
    return "?"


def build(runs_root: Path) -> FigureResult:
    """Build figure 9 from ``iep-rewind`` training runs."""
    runs = training_runs(runs_root, "iep-rewind")
    order = ["EP", *NAMES.values()]
    groups = group_by(runs, rewind_variant)
    groups = dict(sorted(groups.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))
    rec = PlotRecorder()
    fig, (ax_a, ax_c, ax_d) = new_figure(3, width=4.0)
    names = list(groups)
    table = []
    for i, (name, members) in enumerate(groups.items()):
        st = seed_stats(accuracy_percent(r) for r in members)
        dy = seed_stats(final_dying(r) for r in members)
        dens = sorted({density_of(r) for r in members})
        table.append(
            {"variant": name, "density": dens[0] if len(dens) == 1 else math.nan, "test_acc": st.mean}
            | {"sd": st.std, "seeds": st.n, "dying_ratio": dy.mean, "dying_sd": dy.std}
        )
        rec.points(
            ax_a,
            "accuracy",
            name,
            [i],
            [st.mean],
            lo=[st.lo],
            hi=[st.hi],
            label=None,
            color=color(i),
            marker=marker(i),
            markersize=7,
        )
        rec.points(
            ax_d,
            "dying",
            name,
            [i],
            [dy.mean],
            lo=[dy.lo],
            hi=[dy.hi],
            label=None,
            color=color(i),
            marker=marker(i),
            markersize=7,
        )
        curves = epoch_curves(members)
        if curves:
            xs, sc = aligned_mean(curves)
            rec.line(
                ax_c,
                "curves",
                name,
                xs,
                sc.mean,
                lo=sc.lo,
                hi=sc.hi,
                label=f"{name} ({sc.n} seeds)",
                color=color(i),
                marker=None,
            )
    dense_line = draw_dense(rec, ax_a, "accuracy", dense_baseline(runs_root, runs))
    for ax in (ax_a, ax_d):
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    density = sorted({density_of(r) for r in runs})
    ax_a.set(xlabel="variant", ylabel=LABELS["test_acc"])
    ax_a.set_title(f"final accuracy, density {', '.join(f'{d:g}' for d in density)}\n{SPREAD_NOTE}")
    if ax_a.get_legend_handles_labels()[0]:
        ax_a.legend(fontsize=7, loc="lower right")
    ax_c.set(xlabel="epoch (cycles of equal length)", ylabel=LABELS["test_acc"])
    ax_c.set_title("test accuracy during training")
    if ax_c.get_legend_handles_labels()[0]:
        ax_c.legend(fontsize=7, loc="lower right")
    ax_d.set(xlabel="variant", ylabel="final dying ratio (fraction)", ylim=(0, None))
    ax_d.set_title("final dying ratio")
    panel_label(ax_a, "a")
    panel_label(ax_c, "b")
    panel_label(ax_d, "c")
    best = max(table, key=lambda t: t["test_acc"])
    summary = [
        ", ".join(f"{t['variant']} {t['test_acc']:.2f}±{t['sd']:.2f}" for t in table)
        + f" (best: {best['variant']})",
        dense_line,
    ]
    return FigureResult(fig, rec.rows, summary, {"accuracy": table})


register_figure(
    FigureSpec(
        name="fig09_rewind",
        title="iEP rewinding variants against EP",
        caption="Final test accuracy (mean ± 1 s.d. over seeds, dense SGD dashed), test accuracy per epoch "
        "and final dying ratio of Edge-Popup and of hard iterative Edge-Popup with four ways to continue "
        "between cycles: fine-tune, LR rewind, score rewind, score re-init (matched compute).",
        experiments=("iep-rewind", "ep-vs-dense"),
        claims=("iep-rewind-variants",),
        build=build,
    )
)
