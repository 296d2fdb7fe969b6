"""Figure 7: Dying Ratio vs test accuracy across Edge-Popup hyperparameters, one point per run.

Records: training runs of experiment ``ep-hparams``. Each run changes one hyperparameter (learning
rate, batch size, weight decay, weight init or score init) from a base setting; a run's group is the set
of these fields whose value differs from the most common value across the runs ("base" if none).
The Spearman rank correlation between final dying ratio and accuracy over all runs is reported with its
interval, and the quadratic fit (the reference's inverse U for a ResNet) is drawn with the interval of
its curvature: both computed by the rule of claim ``ep-dying-accuracy-correlation``
(:mod:`theory.rules.practice`). The dense SGD baseline of the same dataset and model is the dashed line.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from figures.baselines import dense_baseline, draw_dense
from figures.fig06_dying import final_dying
from figures.records import TrainingRun, accuracy_percent, group_by, training_runs
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import LABELS, PlotRecorder, color, marker, new_figure, panel_label

HPARAMS: tuple[str, ...] = ("lr", "batch_size", "weight_decay", "weight_init", "score_init")


def varied_fields(runs: list[TrainingRun], fields: tuple[str, ...] = HPARAMS) -> list[str]:
    """Per run: ``"field=value"`` for each hyperparameter differing from its most common value."""
    modes = {}
    for f in fields:
        values = [repr(r.config.get(f)) for r in runs if f in r.config]
        if values:
            modes[f] = Counter(values).most_common(1)[0][0]
    labels = []
    for r in runs:
        diffs = [
            f"{f}={r.config.get(f)}" for f in modes if f in r.config and repr(r.config.get(f)) != modes[f]
        ]
        labels.append(", ".join(diffs) if diffs else "base")
    return labels


def build(runs_root: Path) -> FigureResult:
    """Build figure 7 from ``ep-hparams`` training runs."""
    runs = training_runs(runs_root, "ep-hparams", metrics=False)
    labels = varied_fields(runs)
    points = [(lab, final_dying(r), accuracy_percent(r)) for lab, r in zip(labels, runs, strict=True)]
    # One colour per hyperparameter (the part before "="), one marker per value.
    fields = sorted({lab.split("=")[0] for lab in labels})
    rec = PlotRecorder()
    fig, (ax,) = new_figure(1, width=6.8, height=4.4)
    table = []
    by_label = group_by(points, key=lambda p: p[0])
    seen_per_field: Counter[str] = Counter()
    for lab, pts in by_label.items():
        field = lab.split("=")[0]
        fi = fields.index(field)
        mi = seen_per_field[field]
        seen_per_field[field] += 1
        x = [p[1] for p in pts]
        y = [p[2] for p in pts]
        rec.scatter(
            ax,
            "runs",
            lab,
            x,
            y,
            label=f"{lab} ({len(pts)} runs)",
            color=color(fi),
            marker=marker(mi),
            s=36,
            edgecolors="black" if lab == "base" else "none",
            linewidths=0.6,
        )
        table.append(
            {"setting": lab, "runs": len(pts), "dying_ratio_mean": float(np.mean(x))}
            | {"test_acc_mean": float(np.mean(y))}
        )
    ax.set(xlabel="final " + LABELS["dying_ratio"], ylabel=LABELS["test_acc"])
    density = sorted({r.get("density") for r in runs if r.get("density") is not None})
    ax.set_title(f"Edge-Popup: one point per run (density {', '.join(f'{d:g}' for d in density)})")
    panel_label(ax, "a")
    from theory.rules.practice import quadratic_fit, spearman_interval

    xs = np.array([p[1] for p in points])
    ys = np.array([p[2] for p in points])
    summary = [f"{len(points)} runs over {len(by_label)} settings"]
    ok = np.isfinite(xs) & np.isfinite(ys)
    if ok.sum() >= 4 and np.ptp(xs[ok]) > 0 and np.ptp(ys[ok]) > 0:
        iv = spearman_interval(xs[ok].tolist(), ys[ok].tolist())
        q = quadratic_fit(xs[ok].tolist(), ys[ok].tolist())
        grid = np.linspace(xs[ok].min(), xs[ok].max(), 50)
        rec.line(
            ax,
            "runs",
            "quadratic fit",
            grid,
            q["a"] + q["b"] * grid + q["c"] * grid**2,
            label=f"quadratic fit, c = {q['c']:.3g} [{q['c_low']:.3g}, {q['c_high']:.3g}]",
            color="gray",
            linestyle="-.",
            marker=None,
        )
        summary.append(f"Spearman rho(dying ratio, accuracy) = {iv.text()} (95% Fisher-z, {iv.n} runs)")
        summary.append(f"quadratic fit: curvature c = {q['c']:.3g} [{q['c_low']:.3g}, {q['c_high']:.3g}]")
        ax.set_title(ax.get_title() + f"\nSpearman rho = {iv.text()}", fontsize=9)
    summary.append(draw_dense(rec, ax, "runs", dense_baseline(runs_root, runs)))
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return FigureResult(fig, rec.rows, summary, {"settings": table})


register_figure(
    FigureSpec(
        name="fig07_hparams",
        title="Dying Ratio vs accuracy across Edge-Popup hyperparameters",
        caption="Final dying ratio and test accuracy of every run; colour: which hyperparameter was changed "
        "from the base setting (black edge), marker: its value; dash-dot: quadratic fit over all runs; "
        "dashed: dense SGD baseline (band ±1 s.d. over seeds).",
        experiments=("ep-hparams", "ep-vs-dense"),
        claims=("ep-dying-accuracy-correlation",),
        build=build,
    )
)
