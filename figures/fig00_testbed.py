"""Figure 0: the CPU test bed, Edge-Popup against dense SGD on each (dataset, model) of ``ep-vs-dense``.

Records: training runs of experiment ``ep-vs-dense`` (``final.json``; metric ``test_acc`` per epoch).
Top row: final test accuracy against density (mean ± 1 s.d. over seeds) with the dense baseline as a
line and band, one panel per (dataset, model): the test bed's acceptance is dense >= 97% on digits and
>= 85% on MNIST-1D, EP at density 0.5 within 5 points (claim ``testbed-ep-near-dense``). Bottom row:
test accuracy per epoch of EP at density 0.5 and of dense SGD (the schedules converge).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from figures.baselines import draw_dense, epoch_curves
from figures.fig06_dying import density_of
from figures.records import accuracy_percent, aligned_mean, group_by, seed_stats, training_runs
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import LABELS, SPREAD_NOTE, PlotRecorder, color, marker, new_figure, panel_label


def build(runs_root: Path) -> FigureResult:
    """Build figure 0 from ``ep-vs-dense`` training runs."""
    runs = training_runs(runs_root, "ep-vs-dense")
    cells = group_by(runs, key=lambda r: (str(r.get("dataset")), str(r.get("model"))))
    rec = PlotRecorder()
    n = len(cells)
    fig, axes = new_figure(n, 2, width=3.6, height=3.0)
    summary, table = [], []
    for j, ((dataset, model), members) in enumerate(cells.items()):
        ax_d, ax_c = axes[j], axes[n + j]
        panel = f"{dataset}/{model}"
        dense = [r for r in members if r.get("method") == "dense"]
        ep = [r for r in members if r.get("method") == "ep"]
        ds = seed_stats(accuracy_percent(r) for r in dense)
        draw_dense(rec, ax_d, panel, ds)
        by_d = group_by(ep, density_of)
        stats = {d: seed_stats(accuracy_percent(r) for r in rs) for d, rs in by_d.items()}
        dens = np.array(sorted(stats))
        rec.points(
            ax_d,
            panel,
            "EP",
            dens,
            [stats[d].mean for d in dens],
            lo=[stats[d].lo for d in dens],
            hi=[stats[d].hi for d in dens],
            label=f"Edge-Popup ({max((s.n for s in stats.values()), default=0)} seeds)",
            color=color(0),
            marker=marker(0),
        )
        ax_d.set(xlabel=LABELS["density"], ylabel=LABELS["test_acc"])
        ax_d.set_title(f"{dataset}, {model}", fontsize=9)
        ax_d.legend(fontsize=7, loc="lower right")
        for i, (label, group) in enumerate(
            (("dense SGD", dense), ("EP density 0.5", [r for r in ep if density_of(r) == 0.5]))
        ):
            curves = epoch_curves(group)
            if not curves:
                continue
            xs, st = aligned_mean(curves)
            rec.line(
                ax_c,
                f"{panel} curves",
                label,
                xs,
                st.mean,
                lo=st.lo,
                hi=st.hi,
                label=f"{label} ({st.n} seeds)",
                color=color(i + 1) if i else "black",
                marker=None,
            )
        ax_c.set(xlabel="epoch", ylabel=LABELS["test_acc"])
        ax_c.legend(fontsize=7, loc="lower right")
        panel_label(ax_d, "abcdefgh"[j])
        panel_label(ax_c, "abcdefgh"[n + j])
        half = stats.get(0.5)
        gap = ds.mean - half.mean if half is not None and ds.n else float("nan")
        summary.append(
            f"{dataset}/{model}: dense {ds.mean:.2f}% ± {ds.std:.2f} ({ds.n} seeds); EP at density 0.5 "
            f"{half.mean if half else float('nan'):.2f}% (gap {gap:.2f} points)"
        )
        for d in dens:
            table.append(
                {"dataset": dataset, "model": model, "density": float(d), "test_acc": stats[d].mean}
                | {"sd": stats[d].std, "seeds": stats[d].n, "dense_acc": ds.mean, "dense_sd": ds.std}
            )
    fig.suptitle(f"CPU test bed: Edge-Popup vs dense SGD ({SPREAD_NOTE})", fontsize=9)
    return FigureResult(fig, rec.rows, summary, {"EP and dense accuracy": table})


register_figure(
    FigureSpec(
        name="fig00_testbed",
        title="CPU test bed: Edge-Popup accuracy vs density against the dense baseline",
        caption="Top: final test accuracy of Edge-Popup per density (mean ± 1 s.d. over seeds) and dense "
        "SGD (dashed line and band) for each dataset and model. Bottom: test accuracy per epoch of dense "
        "SGD and of EP at density 0.5.",
        experiments=("ep-vs-dense",),
        claims=("testbed-ep-near-dense",),
        build=build,
    )
)
