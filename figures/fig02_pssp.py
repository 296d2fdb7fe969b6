"""Figure 2: Xiong et al.'s PSSP experiment, minimal n (90% success) vs perturbation/eta.

Records: ``pssp-min-n`` (one row per setup, eta and perturbation ratio with the paired n90, its interval
``n90_low`` .. ``n90_high``: every n whose Clopper-Pearson interval holds 90%, and the success counts at
n90) and, when present, ``xiong-n90`` (paired n90 vs absolute perturbation on [-1/2, 1/2] against each
version of Xiong's Theorem 1), drawn as panel d. Setup from Xiong, Liao, Kyrillidis (AISTATS 2023,
arXiv 2210.16589), poster "PSSP experiments": the smallest n such that 90% of random candidate sets give an
eta-approximation, plotted against perturbation/eta for several eta. Panel a is the setup that reproduces
the poster (``panel = a`` rows: product candidates, every z in [-1, 1]); panels b and c are the other
readings of the poster's sentence (``panel = b`` rows). The ratio axis is symmetric-log so that ratio 0
(plain SubsetSum) sits on the same axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from figures.records import MissingRecordsError, load_sweep, num
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import LABELS, PlotRecorder, color, marker, new_figure, panel_label


def _series(rows: list[dict], key) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return {k: sorted(v, key=lambda r: num(r["ratio"])) for k, v in out.items()}


def _n90_line(ax, rec: PlotRecorder, panel: str, series: str, cell: list[dict], **style) -> None:
    rec.line(
        ax,
        panel,
        series,
        [num(r["ratio"]) for r in cell],
        [num(r["n_min"]) for r in cell],
        lo=[num(r["n90_low"]) for r in cell],
        hi=[num(r["n90_high"]) for r in cell],
        **style,
    )


def _point(r: dict) -> str:
    return f"{num(r['n_min']):g} [{num(r['n90_low']):g}, {num(r['n90_high']):g}] at ratio {num(r['ratio']):g}"


def _ratio_axis(ax, ratios: list[float]) -> None:
    positive = [v for v in ratios if v > 0]
    ax.set_xscale("symlog", linthresh=min(positive) if positive else 1.0, linscale=0.5)
    ax.set_xticks(ratios, [f"{v:g}" for v in ratios], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel(LABELS["ratio"] + " (symlog)")


def build(runs_root: Path) -> FigureResult:
    """Build figure 2 from ``pssp-min-n`` (and, when recorded, ``xiong-n90``) records."""
    rows = load_sweep(runs_root, "pssp-min-n").rows
    try:
        shapes = load_sweep(runs_root, "xiong-n90").rows
    except MissingRecordsError:
        shapes = []
    main = [r for r in rows if r.get("panel", "a") == "a"]
    others = [r for r in rows if r.get("panel", "a") == "b"]
    rec = PlotRecorder()
    fig, axes = new_figure(2 + bool(others) + bool(shapes), width=4.4)
    ax = axes[0]
    summary, table = [], []
    ratios = sorted({num(r["ratio"]) for r in rows})
    by_eta = _series(main, lambda r: num(r["eta"]))
    for i, eta in enumerate(sorted(by_eta, reverse=True)):
        cell = by_eta[eta]
        style = {"label": f"η = {eta:g}", "color": color(i), "marker": marker(i)}
        _n90_line(ax, rec, "n90", f"eta={eta:g}", cell, **style)
        table += [{"eta": eta, "ratio": num(r["ratio"]), "n90": num(r["n_min"])} for r in cell]
        first, last = cell[0], cell[-1]
        summary.append(f"eta={eta:g}: n90 {_point(first)} -> {_point(last)}")
    reading = str(main[0].get("reading", "")) if main else ""
    trials = int(np.median([num(r["trials"]) for r in rows]))
    summary.append(f"panel a: {reading} (distribution/statistic/window), {trials} paired trials per point")
    _ratio_axis(ax, ratios)
    ax.set(ylabel="n90: minimal n with ≥ 90% success")
    ax.set_title(f"a: {reading}", fontsize=10)
    ax.legend(fontsize=8)
    panel_label(ax, "a")
    if others:
        _readings_panels(axes[1], axes[2], rec, main, others, ratios, summary)
    if shapes:
        _shape_panel(axes[-1], rec, shapes, summary)
    return FigureResult(fig, rec.rows, summary, {"n90": table})


def _readings_panels(ax_b, ax_c, rec, main, others, ratios, summary) -> None:
    # b: every reading at the largest eta they share with panel a; c: n90 at ratio 0 against eta.
    eta_b = max(num(r["eta"]) for r in others)
    setups = {str(main[0]["reading"]): main, **_series(others, lambda r: str(r["reading"]))}
    for i, (name, cell) in enumerate(setups.items()):
        cell = sorted(cell, key=lambda r: num(r["ratio"]))
        style = {"color": "black" if i == 0 else color(i), "marker": marker(i)}
        at_b = [r for r in cell if num(r["eta"]) == eta_b]
        if at_b:
            _n90_line(ax_b, rec, "readings", f"{name} eta={eta_b:g}", at_b, label=name, **style)
        base = sorted((r for r in cell if num(r["ratio"]) == 0.0), key=lambda r: num(r["eta"]))
        rec.line(
            ax_c,
            "readings_ratio0",
            name,
            [num(r["eta"]) for r in base],
            [num(r["n_min"]) for r in base],
            lo=[num(r["n90_low"]) for r in base],
            hi=[num(r["n90_high"]) for r in base],
            label=name,
            **style,
        )
        summary.append(
            f"reading {name}: n90 at ratio 0 = "
            + ", ".join(f"{num(r['n_min']):g} (eta={num(r['eta']):g})" for r in base)
        )
    _ratio_axis(ax_b, ratios)
    ax_b.set(ylabel="n90")
    ax_b.set_title(f"b: readings of the setup, η = {eta_b:g}", fontsize=10)
    low, high = ax_c.get_ylim()
    ax_c.set_ylim(low, high + 0.6 * (high - low))  # room above the lines for the legend
    ax_c.legend(fontsize=7, title="distribution/statistic/window", title_fontsize=7, loc="upper left", ncol=2)
    ax_c.set_xscale("log")
    ax_c.invert_xaxis()
    ax_c.set(xlabel="η (log; smaller to the right)", ylabel="n90 without perturbation")
    ax_c.set_title("c: readings, no perturbation", fontsize=10)
    panel_label(ax_b, "b")
    panel_label(ax_c, "c")


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
    ax.set_title("d: n90(ε)/n90(0) vs Theorem 1, z in [-1/2, 1/2]", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    panel_label(ax, "d")


register_figure(
    FigureSpec(
        name="fig02_pssp",
        title="Xiong PSSP: minimal n (90% success) vs perturbation/eta",
        caption="n90, the smallest number of candidates for which at least 90% of random candidate sets "
        "give an η-approximation, against the allowed per-candidate perturbation (ratio to η); every "
        "ratio on the same candidate sets (paired), bands: the n90 interval (every n whose 95% "
        "Clopper-Pearson interval holds 90%). a: product candidates U[0,1]·U[-1,1], every z in [-1, 1] "
        "(the setup that reproduces the poster); b: the other readings of the poster's setup (uniform "
        "candidates, one random target per trial, window [-1/2, 1/2]) at one η; c: their n90 without "
        "perturbation against η; d (when recorded): paired n90(ε)/n90(0) for every z in [-1/2, 1/2] "
        "against the ratio each version of Xiong's Theorem 1 predicts (AISTATS, slides, OPT 2022).",
        experiments=("pssp-min-n", "xiong-n90"),
        claims=(
            "pssp-perturbation-helps",
            "pssp-perturbation-shape",
            "xiong-thm1-aistats",
            "xiong-thm1-slides",
            "xiong-thm1-opt22",
        ),
        build=build,
    )
)
