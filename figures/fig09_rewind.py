"""Figure 9: iEP rewinding variants (fine-tune, LR rewind, score rewind, score re-init) at several densities.

Records: training runs of experiment ``iep-rewind``. The variants follow the hard-iEP ablation of the
"Soft iEP" ICLR 2024 submission (FT, LR, SRw, SRi), by analogy with Renda et al. (ICLR 2020, arXiv
2003.02389): between cycles keep the scores and continue at a low LR (fine-tune), keep the scores and
restart the LR schedule (LR rewind), reset the scores to their initial values (score rewind), or draw
new random scores (score re-init).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from figures.fig06_dying import density_of, final_dying
from figures.fig08_iep import accuracy_vs_density, log_density_axis
from figures.records import TrainingRun, group_by, seed_stats, training_runs
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import SPREAD_NOTE, PlotRecorder, color, marker, new_figure, panel_label

REWIND_KEYS = ("rewind", "rewinding", "iep_rewind", "rewind_mode")
NAMES = {
    "finetune": "fine-tune",
    "lr_rewind": "LR rewind",
    "score_rewind": "score rewind",
    "score_reinit": "score re-init",
}


def rewind_variant(run: TrainingRun) -> str:
    """Human-readable rewinding variant of an iEP run (``"?"`` if not recorded)."""
    for key in REWIND_KEYS:
        if run.config.get(key) is not None:
            return NAMES.get(str(run.config[key]), str(run.config[key]))
    return "?"


def build(runs_root: Path) -> FigureResult:
    """Build figure 9 from ``iep-rewind`` training runs."""
    runs = training_runs(runs_root, "iep-rewind", metrics=False)
    order = list(NAMES.values())
    groups = group_by(runs, rewind_variant)
    groups = dict(sorted(groups.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))
    rec = PlotRecorder()
    fig, (ax_a, ax_d) = new_figure(2, width=4.6)
    table = accuracy_vs_density(rec, ax_a, "accuracy", groups)
    ax_a.set_title(f"iEP rewinding variants: accuracy\n{SPREAD_NOTE}")
    ax_a.legend(fontsize=7)
    for i, (name, members) in enumerate(groups.items()):
        by_d = group_by(members, density_of)
        stats = [seed_stats(final_dying(r) for r in rs) for rs in by_d.values()]
        rec.line(
            ax_d,
            "dying",
            name,
            np.array(list(by_d)),
            [s.mean for s in stats],
            lo=[s.lo for s in stats],
            hi=[s.hi for s in stats],
            label=name,
            color=color(i),
            marker=marker(i),
        )
    log_density_axis(ax_d, [t["density"] for t in table])
    ax_d.set(ylabel="final dying ratio (fraction)", ylim=(0, None))
    ax_d.set_title("final dying ratio")
    ax_d.legend(fontsize=7)
    panel_label(ax_a, "a")
    panel_label(ax_d, "b")
    summary = []
    for d in sorted({t["density"] for t in table}):
        at = [t for t in table if t["density"] == d]
        best = max(at, key=lambda t: t["test_acc"])
        summary.append(
            f"density {d:g}: "
            + ", ".join(f"{t['variant']} {t['test_acc']:.2f}±{t['sd']:.2f}" for t in at)
            + f" (best: {best['variant']})"
        )
    return FigureResult(fig, rec.rows, summary, {"accuracy": table})


register_figure(
    FigureSpec(
        name="fig09_rewind",
        title="iEP rewinding variants at several densities",
        caption="Test accuracy and final dying ratio (mean ± 1 s.d. over seeds) of iterative Edge-Popup "
        "with four ways to continue between cycles: fine-tune, LR rewind, score rewind, score re-init.",
        experiments=("iep-rewind",),
        claims=("iep-soft-beats-ep",),
        build=build,
    )
)
