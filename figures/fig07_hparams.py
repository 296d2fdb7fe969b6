"""Figure 7: Dying Ratio vs test accuracy across Edge-Popup hyperparameters, one point per run.

Records: training runs of experiment ``ep-hparams``. Each run changes one hyperparameter (learning
rate, batch size, weight decay, weight init or score init) from a base setting; a run's group is the set
of these fields whose value differs from the most common value across the runs ("base" if none).
The Spearman rank correlation between final dying ratio and accuracy over all runs is reported with its
interval, and the quadratic fit (the reference's inverse U for a ResNet) is drawn with the interval of
its curvature: both computed by the rule of claim ``ep-dying-accuracy-correlation``
(:mod:`theory.rules.practice`). The fitted curve is drawn only over the dying ratios that hold runs
(:func:`covered_ranges`) and never above 100% (:func:`fit_curve`): across an empty stretch the quadratic
shows nothing measured, and there it once peaked above 100%. The dense SGD baseline of the same dataset
and model is the dashed line.
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
#: The fitted curve is broken where consecutive runs' dying ratios lie more than this share of their
#: x-range apart: no run there, so the curve would show the fit where nothing was measured (display
#: choice). Above 1/3, the largest gap of four evenly spaced runs (the fewest the fit takes), so evenly
#: spread runs are never broken.
GAP_SHARE = 0.4
#: The fitted curve is not drawn above this accuracy (percent): accuracy cannot exceed it (display choice).
ACC_MAX = 100.0


def covered_ranges(x: list[float] | np.ndarray, gap_share: float = GAP_SHARE) -> list[tuple[float, float]]:
    """The x-ranges that hold data: sorted ``x`` split where a gap exceeds ``gap_share`` of its range.

    Args:
        x: Finite abscissae (at least one).
        gap_share: Largest gap, as a share of ``max(x) - min(x)``, drawn across; in (0, 1].

    Returns:
        ``[(lo, hi), ...]`` in increasing order; a range of one distinct value has ``lo == hi``.

    Raises:
        ValueError: If ``x`` is empty or not finite, or ``gap_share`` is outside (0, 1].
    """
    if not 0.0 < gap_share <= 1.0:
        raise ValueError(f"gap_share must lie in (0, 1], got {gap_share!r}")
    xs = np.unique(np.asarray(x, dtype=float))
    if xs.size == 0 or not np.isfinite(xs).all():
        raise ValueError(f"x must be a non-empty array of finite numbers, got {x!r}")
    limit = gap_share * float(xs[-1] - xs[0])
    breaks = np.flatnonzero(np.diff(xs) > limit)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [xs.size - 1]])
    return [(float(xs[i]), float(xs[j])) for i, j in zip(starts, ends, strict=True)]


def fit_curve(
    coef: tuple[float, float, float], ranges: list[tuple[float, float]], y_max: float, n: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """The quadratic ``a + b x + c x^2`` sampled over each range, NaN between ranges and above ``y_max``.

    About ``n`` points in all, shared between the ranges by their width (at least 2 each); a range of one
    value is left out (a curve needs two). NaN rows break the drawn line and are kept in the CSV, so
    the CSV holds exactly what is drawn.
    """
    a, b, c = coef
    wide = [(lo, hi) for lo, hi in ranges if hi > lo]
    total = sum(hi - lo for lo, hi in wide)
    xs: list[np.ndarray] = []
    for k, (lo, hi) in enumerate(wide):
        if k:
            xs.append(np.array([np.nan]))
        xs.append(np.linspace(lo, hi, max(2, round(n * (hi - lo) / total))))
    x = np.concatenate(xs) if xs else np.array([])
    y = a + b * x + c * x**2
    y[y > y_max] = np.nan
    return x, y


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
        ranges = covered_ranges(xs[ok])
        grid, curve = fit_curve((q["a"], q["b"], q["c"]), ranges, ACC_MAX)
        rec.line(
            ax,
            "runs",
            "quadratic fit",
            grid,
            curve,
            label=f"quadratic fit, c = {q['c']:.3g} [{q['c_low']:.3g}, {q['c_high']:.3g}]",
            color="gray",
            linestyle="-.",
            marker=None,
        )
        summary.append(f"Spearman rho(dying ratio, accuracy) = {iv.text()} (95% Fisher-z, {iv.n} runs)")
        summary.append(
            f"quadratic fit: curvature c = {q['c']:.3g} [{q['c_low']:.3g}, {q['c_high']:.3g}], drawn over "
            + ", ".join(f"[{lo:.3g}, {hi:.3g}]" for lo, hi in ranges)
            + (f" (not drawn where above {ACC_MAX:g}%)" if np.isnan(curve[np.isfinite(grid)]).any() else "")
        )
        ax.set_title(ax.get_title() + f"\nSpearman rho = {iv.text()}", fontsize=9)
    summary.append(draw_dense(rec, ax, "runs", dense_baseline(runs_root, runs)))
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return FigureResult(fig, rec.rows, summary, {"settings": table})


register_figure(
    FigureSpec(
        name="fig07_hparams",
        title="Dying Ratio vs accuracy across Edge-Popup hyperparameters",
        caption="Final dying ratio and test accuracy of every run; colour: which hyperparameter was changed "
        "from the base setting (black edge), marker: its value; dash-dot: quadratic fit over all runs, drawn "
        f"only over the dying ratios that hold runs (broken across a gap wider than {GAP_SHARE:g} of their "
        f"range) and not above {ACC_MAX:g}% (display choices: NaN rows of the CSV); "
        "dashed: dense SGD baseline (band ±1 s.d. over seeds).",
        experiments=("ep-hparams", "ep-vs-dense"),
        claims=("ep-dying-accuracy-correlation",),
        build=build,
    )
)
