"""Figure 14: depth L+1 (Burkholz) against depth 2L (Pensia / da Cunha) tickets of the same targets.

Records: ``depth-tickets`` (``tickets.csv``: one row per target and construction, same per-weight
tolerance and number of SubsetSum candidates). Panels: (a) parameters of the dense random source,
(b) kept parameters, (c) certified error next to the largest measured error on the test inputs (log
scale). Theory reference: Burkholz, NeurIPS 2022 (arXiv:2205.02321): depth L+1 "wider by a logarithmic
factor"; here the L+1 layout keeps ``rho`` copies of every hidden neuron, so its first SubsetSum layer is
``rho`` times larger than the 2L construction's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from figures.records import load_sweep, num
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import PlotRecorder, color, new_figure, panel_label


def build(runs_root: Path) -> FigureResult:
    """Build figure 14 from the ``depth-tickets`` records."""
    rows = load_sweep(runs_root, "depth-tickets", table="tickets.csv").rows
    targets = list(dict.fromkeys(str(r["target"]) for r in rows))
    kinds = ("2L", "L+1")
    rec = PlotRecorder()
    fig, axes = new_figure(3, width=4.2)
    x = np.arange(len(targets), dtype=float)
    width = 0.38
    summary, table = [], []
    for ki, kind in enumerate(kinds):
        sub = [
            next((r for r in rows if r["target"] == t and str(r["construction"]).startswith(kind)), None)
            for t in targets
        ]
        offs = x + (ki - 0.5) * width
        src = [num(r["source_params"]) if r else np.nan for r in sub]
        kept = [num(r["kept_params"]) if r else np.nan for r in sub]
        cert = [num(r["certified_bound"]) if r else np.nan for r in sub]
        meas = [num(r["measured_error"]) if r else np.nan for r in sub]
        label = "depth L+1 (Burkholz)" if kind == "L+1" else "depth 2L (Pensia / da Cunha)"
        rec.bars(axes[0], "source", kind, offs, src, width=width, label=label, color=color(ki))
        rec.bars(axes[1], "kept", kind, offs, kept, width=width, label=label, color=color(ki))
        rec.bars(
            axes[2], "certified", kind, offs, cert, width=width, label=f"{kind} certified", color=color(ki)
        )
        rec.points(
            axes[2],
            "measured",
            kind,
            offs,
            meas,
            label=f"{kind} measured",
            color="black",
            marker="v" if ki else "^",
        )
        for t, r in zip(targets, sub, strict=True):
            if r is None:
                continue
            table.append(
                {
                    k: r[k]
                    for k in (
                        "target",
                        "construction",
                        "source_depth",
                        "source_params",
                        "kept_params",
                        "certified_bound",
                        "measured_error",
                        "target_acc",
                        "ticket_acc",
                        "num_failed_weights",
                    )
                }
            )
            summary.append(
                f"{t} {r['construction']}: depth {int(num(r['source_depth']))}, "
                f"source {int(num(r['source_params']))}, kept {int(num(r['kept_params']))}, "
                f"certified {num(r['certified_bound']):.3g}, measured {num(r['measured_error']):.3g}, "
                f"accuracy {num(r['target_acc']):.2f}% -> {num(r['ticket_acc']):.2f}%"
            )
    for ax, title, ylabel in (
        (axes[0], "dense random source", "parameters"),
        (axes[1], "kept by the ticket", "parameters"),
        (axes[2], "error on ||x|| <= r (test inputs)", "sup ||target - ticket||"),
    ):
        ax.set_yscale("log")
        ax.set_xticks(x, targets, rotation=15)
        ax.set(title=title, xlabel="target", ylabel=ylabel)
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    for ax, letter in zip(axes, "abc", strict=True):
        panel_label(ax, letter)
    return FigureResult(fig, rec.rows, summary, {"tickets": table})


register_figure(
    FigureSpec(
        name="fig14_depth",
        title="Depth L+1 (Burkholz) vs depth 2L tickets: source size, kept parameters, certified error",
        caption="Per trained target, one ticket of each construction at the same per-weight tolerance and "
        "the same number of SubsetSum candidates (n per half-block for 2L, rho copies for L+1), each pruned "
        "from one fixed random source: (a) parameters of the dense source, (b) kept parameters, (c) "
        "certified sup error on the ball holding the test inputs (bars) and the largest measured error on "
        "them (markers). Single seed; no spread.",
        experiments=("depth-tickets",),
        claims=("burkholz-depth",),
        build=build,
    )
)
