"""Figure 15: integer random SubsetSum's phase transition and exact quantized tickets (Kumar & Natale 2025).

Records: ``quantized-tickets`` (``transition.csv``, ``widths.csv``, ``evidence.json``).

(a) P(every integer of ``[-M, M]`` is a subset sum of ``n`` integers uniform on ``{-M..-1, 1..M}``)
against ``n - n_BCP(M)``, where ``n_BCP`` solves ``n - (1/2) log2 n = log2 M``
(:func:`theory.bounds.bcp_window_n`), one line per ``M`` with 95% Clopper-Pearson bands: curves that
stay together mean the 50% point is the BCP location plus O(1).
(b) The same for one uniform random integer target (Borgs-Chayes-Pittel's setting).
(c) The 50% point ``n50`` with its Bonferroni interval (:func:`theory.rules.quantized.n50_box`) and,
hollow, the rule's statistic (mean of ``min(n, location + CAP)``, 95% normal interval) against
``log2 M``, next to the BCP location and the counting bound ``log2(2M + 1)``.
(d) Exact quantized tickets of random ``delta_t = delta^2`` targets: the hidden units per input neuron
that every weight of a target needs (median, 95% quantile and maximum over weights, test seeds) against
``log2(1/delta)``, with the calibrated ``C log2(1/delta)`` and Theorem 3's counting bound per input
neuron (``log2(2/delta_t + 1) / 2``: a two-layer source with ``2 d^2 w`` parameters).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from figures.records import load_sweep, num
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import REFERENCE_COLOR, PlotRecorder, color, marker, new_figure, panel_label
from theory import bounds
from theory.plumbing.records import read_json
from theory.rules.quantized import CAP, capped_mean, n50_box


def build(runs_root: Path) -> FigureResult:
    """Build figure 15 from the ``quantized-tickets`` records."""
    tr = load_sweep(runs_root, "quantized-tickets", table="transition.csv")
    wd = load_sweep(runs_root, "quantized-tickets", table="widths.csv")
    ev = read_json(tr.path / "evidence.json")
    rec = PlotRecorder()
    fig, axes = new_figure(4, width=4.0)
    summary, table = [], []
    for pi, kind in enumerate(("all", "one")):
        ax = axes[pi]
        ms = sorted({int(num(r["log2_m"])) for r in tr.rows if r["kind"] == kind})
        for mi, m in enumerate(ms):
            pts = sorted(
                (int(num(r["n"])), r) for r in tr.rows if r["kind"] == kind and int(num(r["log2_m"])) == m
            )
            loc = bounds.bcp_window_n(float(m))
            rec.line(
                ax,
                kind,
                f"log2 M = {m}",
                [p[0] - loc for p in pts],
                [num(p[1]["p"]) for p in pts],
                lo=[num(p[1]["ci_low"]) for p in pts],
                hi=[num(p[1]["ci_high"]) for p in pts],
                color=color(mi),
                marker=None,
                label=f"log₂M = {m}",
            )
        ax.axvline(0.0, color=REFERENCE_COLOR, linestyle=":", linewidth=1)
        ax.set(xlabel="n − n_BCP(M)", ylabel="success rate", ylim=(-0.02, 1.02))
        ax.set_title("every integer of [−M, M]" if kind == "all" else "one random target")
        ax.legend(fontsize=6, ncol=2)
        panel_label(ax, "ab"[pi])
    ax = axes[2]
    for ki, kind in enumerate(("all", "one")):
        rows = ev[f"integer-rssp-transition.{kind}"]["rows"]
        conf = 1.0 - (1.0 - float(ev[f"integer-rssp-transition.{kind}"]["confidence"])) / len(rows)
        ms, lo, pt, hi = [], [], [], []
        for r in rows:
            b = n50_box(r["needed_counts"], int(r["trials"]), int(r["n_max"]), conf)
            ms.append(float(r["log2_m"]))
            lo.append(b[0])
            pt.append(b[1])
            hi.append(b[2])
            table.append({"kind": kind, "log2_m": r["log2_m"], "n50": b[1], "n50_lo": b[0], "n50_hi": b[2]})
        rec.points(
            ax,
            "n50",
            kind,
            ms,
            pt,
            lo=lo,
            hi=hi,
            color=color(ki),
            marker=marker(ki),
            label="n50, every integer" if kind == "all" else "n50, one target",
        )
        # The rule's statistic: the mean of min(n, location + CAP), with its 95% normal interval.
        cm = [
            capped_mean(r["needed_counts"], int(r["trials"]), bounds.bcp_window_n(float(r["log2_m"])) + CAP)
            for r in rows
        ]
        half = [1.96 * (v / int(r["trials"])) ** 0.5 for (_, v, _), r in zip(cm, rows, strict=True)]
        rec.points(
            ax,
            "capped-mean",
            kind,
            [m + 0.15 for m in ms],
            [c[0] for c in cm],
            lo=[c[0] - h for c, h in zip(cm, half, strict=True)],
            hi=[c[0] + h for c, h in zip(cm, half, strict=True)],
            color=color(ki),
            marker=marker(ki),
            markerfacecolor="none",
            label="capped mean (the rule's statistic)" if ki == 0 else None,
        )
        summary.append(
            f"{kind}: n50 by log2 M " + ", ".join(f"{m:g}:{p}" for m, p in zip(ms, pt, strict=True))
        )
    grid = np.linspace(min(ms), max(ms), 50)
    rec.line(
        ax,
        "n50",
        "bcp",
        grid,
        [bounds.bcp_window_n(float(m)) for m in grid],
        color=REFERENCE_COLOR,
        marker=None,
        label="BCP: n − ½log₂n = log₂M",
    )
    rec.line(
        ax,
        "n50",
        "necessary",
        grid,
        [np.log2(2 * 2.0**m + 1) for m in grid],
        color="grey",
        linestyle="--",
        marker=None,
        label="log₂(2M+1) (counting)",
    )
    ax.set(xlabel="log₂ M", ylabel="n at 50% success")
    ax.legend(fontsize=6)
    panel_label(ax, "c")
    ax = axes[3]
    test = [r for r in wd.rows if r["set"] == "test"]
    levels = sorted({int(num(r["level"])) for r in test})
    c_cal = num(test[0]["C"]) if test else float("nan")
    for si, stat in enumerate(("median", "q95", "max")):
        ys = [float(np.mean([num(r[stat]) for r in test if int(num(r["level"])) == k])) for k in levels]
        rec.line(
            ax,
            "widths",
            stat,
            levels,
            ys,
            color=color(si),
            marker=marker(si),
            label={"median": "median weight", "q95": "95% of weights", "max": "every weight"}[stat],
        )
        table += [{"log2_inv_delta": k, f"width_{stat}": y} for k, y in zip(levels, ys, strict=True)]
    if levels:
        rec.line(
            ax,
            "widths",
            "calibrated",
            levels,
            [bounds.quantized_block_width(2.0**-k, C=c_cal) for k in levels],
            color=REFERENCE_COLOR,
            marker=None,
            label=f"C log₂(1/δ), C = {c_cal:.3g} (calibrated)",
        )
        rec.line(
            ax,
            "widths",
            "counting",
            levels,
            [bounds.quantized_counting_min_params(1, 2.0 ** (-2 * k)) / 2 for k in levels],
            color="grey",
            linestyle="--",
            marker=None,
            label="counting bound (Thm 3) per input",
        )
        summary.append(
            f"calibrated C = {c_cal:.3g}; test widths (mean over targets of the max) by log2(1/delta) "
            + ", ".join(f"{t['log2_inv_delta']}:{t['width_max']:.0f}" for t in table if "width_max" in t)
        )
    ax.set(xlabel="log₂(1/δ)  (δ_t = δ²)", ylabel="hidden units per input neuron")
    ax.legend(fontsize=6)
    panel_label(ax, "d")
    summary.append(f"records: {tr.path}")
    return FigureResult(fig, rec.rows, summary, {"quantized": table})


register_figure(
    FigureSpec(
        name="fig15_quantized",
        title="Integer random SubsetSum transition and exact quantized tickets",
        caption="(a, b) Success rate of integer SubsetSum on {−M..−1, 1..M} against n − n_BCP(M) (every "
        "integer of [−M, M]; one random target), 95% Clopper-Pearson bands. (c) The 50% point with its "
        "Bonferroni interval against log₂M, the Borgs-Chayes-Pittel location and the counting bound. (d) "
        "Hidden units per input neuron an exact quantized ticket needs (δ_t = δ²), the calibrated "
        "C log₂(1/δ) and Theorem 3's counting bound (Kumar & Natale 2025).",
        experiments=("quantized-tickets",),
        claims=("integer-rssp-transition", "quantized-ticket-exact"),
        build=build,
    )
)
