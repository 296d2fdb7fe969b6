"""Figure 2: Xiong et al.'s PSSP experiment, minimal n (90% success) vs perturbation/eta.

Records: ``pssp-min-n`` (one row per (eta, perturbation) with the minimal n, its interval ``n90_low`` ..
``n90_high`` when the paired producer wrote it, and the success counts at it) and, when present,
``xiong-n90`` (paired n90 vs absolute perturbation on [-1/2, 1/2], with the n each version of Xiong's
Theorem 1 predicts from its constant calibrated at eps = 0), drawn as a third panel of ratios n90(eps)/n90(0).
Setup from Xiong, Liao, Kyrillidis (AISTATS 2023, arXiv 2210.16589), poster "PSSP experiments": the
smallest n such that 90% of random candidate sets give an eta-approximation, plotted against the ratio
perturbation/eta for several eta. The ratio axis is symmetric-log so that ratio 0 (no perturbation,
plain SubsetSum) sits on the same axis.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from figures.records import MissingRecordsError, load_sweep, num
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import LABELS, PlotRecorder, color, marker, new_figure, panel_label


def build(runs_root: Path) -> FigureResult:
    """Build figure 2 from ``pssp-min-n`` records."""
    sweep = load_sweep(runs_root, "pssp-min-n")
    rows = sweep.rows
    etas = sorted({num(r["eta"]) for r in rows}, reverse=True)
    try:
        shapes = load_sweep(runs_root, "xiong-n90").rows
    except MissingRecordsError:
        shapes = []
    rec = PlotRecorder()
    fig, axes = new_figure(3 if shapes else 2, width=4.4)
    ax, ax_p = axes[0], axes[1]
    summary, table = [], []
    positive = [num(r["ratio"]) for r in rows if num(r["ratio"]) > 0]
    linthresh = min(positive) if positive else 1.0
    for i, eta in enumerate(etas):
        cell = sorted((r for r in rows if num(r["eta"]) == eta), key=lambda r: num(r["ratio"]))
        ratio = np.array([num(r["ratio"]) for r in cell])
        n_min = np.array([num(r["n_min"]) for r in cell])
        band = {}
        if cell and "n90_low" in cell[0]:
            # The interval of n90 itself: every n whose Clopper-Pearson interval reaches the 90% level.
            band = {"lo": [num(r["n90_low"]) for r in cell], "hi": [num(r["n90_high"]) for r in cell]}
        rec.line(
            ax,
            "n_min",
            f"eta={eta:g}",
            ratio,
            n_min,
            label=f"η = {eta:g}",
            color=color(i),
            marker=marker(i),
            **band,
        )
        p = np.array([num(r["p"]) for r in cell])
        rec.points(
            ax_p,
            "p_at_n_min",
            f"eta={eta:g}",
            ratio,
            p,
            lo=[num(r["ci_low"]) for r in cell],
            hi=[num(r["ci_high"]) for r in cell],
            label=f"η = {eta:g}",
            color=color(i),
            marker=marker(i),
        )
        base = n_min[ratio == 0]
        n0 = float(base[0]) if base.size else math.nan
        for r in cell:
            table.append({"eta": eta, "ratio": num(r["ratio"]), "n_min": num(r["n_min"]), "p": num(r["p"])})
        summary.append(
            f"eta={eta:g}: n_min {n0:g} without perturbation -> {n_min[-1]:g} "
            f"at perturbation/eta={ratio[-1]:g}"
        )
    ratios = sorted({num(r["ratio"]) for r in rows})
    for a in (ax, ax_p):
        a.set_xscale("symlog", linthresh=linthresh, linscale=0.5)
        a.set_xticks(ratios, [f"{v:g}" for v in ratios])
        a.minorticks_off()
        a.set_xlabel(LABELS["ratio"] + " (symlog)")
    ax.set(ylabel="minimal n with ≥90% success (count)")
    stat = str(rows[0].get("statistic", "coverage")) if rows else "coverage"
    lo, hi = num(rows[0].get("lo", -1.0)), num(rows[0].get("hi", 1.0))
    what = "one random target" if stat == "target" else "every target"
    summary.append(f"success: {what} in [{lo:g}, {hi:g}] within eta (statistic '{stat}')")
    ax.set_title(f"Xiong PSSP: minimal n vs perturbation/η\n(success: {what} in [{lo:g}, {hi:g}] within η)")
    ax.legend()
    trials = int(np.median([num(r["trials"]) for r in rows]))
    ax_p.hlines(0.9, *ax_p.get_xlim(), colors="black", linestyles=":", label="90% level")
    lows = [num(r["ci_low"]) for r in rows if num(r["ci_low"]) == num(r["ci_low"])]
    ax_p.set(ylabel=LABELS["p_success"], ylim=(max(0.0, min(lows, default=0.0) - 0.05), 1.01))
    ax_p.set_title(f"success at the minimal n (95% Clopper-Pearson, {trials} trials)")
    ax_p.legend(loc="lower right")
    panel_label(ax, "a")
    panel_label(ax_p, "b")
    if shapes:
        _shape_panel(axes[2], rec, shapes, summary)
    return FigureResult(fig, rec.rows, summary, {"minimal n": table})


def _shape_panel(ax, rec: PlotRecorder, rows: list[dict], summary: list[str]) -> None:
    # Measured paired n90(eps)/n90(0) against each version's predicted n(eps)/n(0) (constants cancel).
    thresholds = sorted({num(r["threshold"]) for r in rows}, reverse=True)
    positive = [num(r["perturbation"]) for r in rows if num(r["perturbation"]) > 0]
    styles = {"aistats": "--", "slides": ":", "opt22": "-."}
    for i, thr in enumerate(thresholds):
        cell = sorted((r for r in rows if num(r["threshold"]) == thr), key=lambda r: num(r["perturbation"]))
        eps = np.array([num(r["perturbation"]) for r in cell])
        base = num(cell[0]["n_min"])
        rec.line(
            ax,
            "n90_ratio",
            f"measured threshold={thr:g}",
            eps,
            [num(r["n_min"]) / base for r in cell],
            lo=[num(r["n90_low"]) / base for r in cell],
            hi=[num(r["n90_high"]) / base for r in cell],
            label=f"measured, threshold {thr:g}",
            color=color(i),
            marker=marker(i),
        )
        for v, ls in styles.items():
            p0 = num(cell[0][f"predicted_{v}"])
            rec.line(
                ax,
                "n90_ratio",
                f"{v} threshold={thr:g}",
                eps,
                [num(r[f"predicted_{v}"]) / p0 for r in cell],
                label=f"{v} prediction" if i == 0 else None,
                color=color(i),
                linestyle=ls,
                marker=None,
            )
        last = cell[-1]
        summary.append(
            f"xiong-n90 threshold={thr:g}: n90 {base:g} -> {num(last['n_min']):g} at eps={eps[-1]:g} "
            f"(predicted AISTATS {num(last['predicted_aistats']):.1f}, "
            f"slides {num(last['predicted_slides']):.1f}, OPT22 {num(last['predicted_opt22']):.1f})"
        )
    ax.set_xscale("symlog", linthresh=min(positive) if positive else 1.0, linscale=0.5)
    ax.set(xlabel="perturbation ε (absolute, symlog)", ylabel="n90(ε) / n90(0)", ylim=(0, 1.1))
    ax.set_title("paired n90 vs Theorem 1 versions\n(every z in [-1/2, 1/2]; band: n90 interval)")
    ax.legend(fontsize=7, loc="lower left")
    panel_label(ax, "c")


register_figure(
    FigureSpec(
        name="fig02_pssp",
        title="Xiong PSSP: minimal n (90% success) vs perturbation/eta",
        caption="Smallest number of candidates n for which at least 90% of random candidate sets give an "
        "η-approximation (of one random target, or of every target in the window, as the panel title "
        "says), as the allowed per-candidate perturbation grows (ratio to η); "
        "middle: the success probability measured at that n, with 95% Clopper-Pearson intervals; right "
        "(when recorded): paired n90(ε)/n90(0) for every z in [-1/2, 1/2] against the ratio each version "
        "of Xiong's Theorem 1 predicts (AISTATS, slides, OPT 2022).",
        experiments=("pssp-min-n", "xiong-n90"),
        claims=("pssp-perturbation-helps", "xiong-thm1-aistats", "xiong-thm1-slides", "xiong-thm1-opt22"),
        build=build,
    )
)
