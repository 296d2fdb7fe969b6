"""Figure 10: Taylor models of the loss change under mask swaps, and first- vs second-order swap selection.

Records: the ``taylor`` experiment's ``swaps.csv`` (model, order, k, predicted, actual, seed) and
``interdependency.csv`` (model, rule, k, loss_decrease, seed).

The loss-change model is the Taylor expansion in the effective weights (see the reference notes,
algorithms.md §5.1): dL ~ g.v (first order) and g.v + v.Hv/2 (second order) for the swap direction v. The
second-order selection accounts for the interaction between swapped weights through H v.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from figures.records import group_by, load_sweep, seed_stats
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import REFERENCE_COLOR, SPREAD_NOTE, PlotRecorder, color, marker, new_figure, panel_label


def _order_name(order: object) -> str:
    text = str(order)
    return {"1": "first order", "2": "second order", "first": "first order", "second": "second order"}.get(
        text, text
    )


def build(runs_root: Path) -> FigureResult:
    """Build figure 10 from the ``taylor`` experiment's ``swaps.csv`` and ``interdependency.csv``."""
    swaps = load_sweep(runs_root, "taylor", table="swaps.csv").rows
    try:
        inter = load_sweep(runs_root, "taylor", table="interdependency.csv").rows
    except FileNotFoundError:
        inter = []
    rec = PlotRecorder()
    fig, axes = new_figure(3 if inter else 2, width=4.2)
    ax_s, ax_e = axes[0], axes[1]
    summary = []
    # One series per (Taylor order, how the swaps were chosen) when the records say how.
    orders = group_by(swaps, key=lambda r: (str(r["order"]), str(r.get("selection") or "")))
    order_names = sorted({o for o, _ in orders})
    selections = sorted({sel for _, sel in orders})
    actual_all = np.array([abs(float(r["actual"])) for r in swaps])
    nonzero = actual_all[actual_all > 0]
    linthresh = float(np.percentile(nonzero, 5)) if nonzero.size else 1e-6
    err_table = []
    for (order, selection), rows in orders.items():
        name = _order_name(order) + (f", {selection} swaps" if selection else "")
        i, j = order_names.index(order), selections.index(selection)
        rec.scatter(
            ax_s,
            "pred_vs_actual",
            name,
            [float(r["actual"]) for r in rows],
            [float(r["predicted"]) for r in rows],
            label=name,
            color=color(i),
            marker=marker(j),
            s=14,
            alpha=0.75,
        )
        by_k = group_by(rows, key=lambda r: float(r["k"]))
        ks, med = [], []
        for k, rs in by_k.items():
            rel = [
                abs(float(r["predicted"]) - float(r["actual"])) / abs(float(r["actual"]))
                for r in rs
                if float(r["actual"]) != 0
            ]
            if rel:
                ks.append(k)
                med.append(float(np.median(rel)))
                err_table.append({"order": name, "k": k, "median_relative_error": med[-1], "n": len(rel)})
        rec.line(
            ax_e,
            "relative_error",
            name,
            ks,
            med,
            label=name,
            color=color(i),
            marker=marker(j),
            linestyle=("-", "--", ":")[j % 3],
        )
        if ks:
            summary.append(
                f"{name}: median relative error {med[0]:.3g} at k={ks[0]:g}, {med[-1]:.3g} at k={ks[-1]:g}"
            )
    values = np.array([float(r[c]) for r in swaps for c in ("actual", "predicted")])
    if values.size and (values > 0).all():
        lo, hi = float(values.min()) / 1.5, float(values.max()) * 1.5
        ax_s.set_xscale("log")
        ax_s.set_yscale("log")
        scale_note = "log-log"
    else:
        hi = float(np.max(np.abs(values))) * 1.5 if values.size else 1.0
        lo = -hi
        ax_s.set_xscale("symlog", linthresh=linthresh)
        ax_s.set_yscale("symlog", linthresh=linthresh)
        # Explicit ticks every other decade outside the linear band: the default ones collide near 0.
        first = math.ceil(math.log10(linthresh)) + 1
        last = math.ceil(math.log10(hi))
        decades = [10.0**k for k in range(last, first - 1, -2)]
        ticks = sorted([-d for d in decades] + [0.0] + decades)
        ax_s.set_xticks(ticks, [f"{t:.0e}" if t else "0" for t in ticks], rotation=45, fontsize=7)
        ax_s.set_yticks(ticks, [f"{t:.0e}" if t else "0" for t in ticks], fontsize=7)
        ax_s.minorticks_off()
        scale_note = f"symlog, linear below {linthresh:.1g}"
    ax_s.plot([lo, hi], [lo, hi], color=REFERENCE_COLOR, linestyle=":", label="predicted = actual")
    ax_s.set(xlim=(lo, hi), ylim=(lo, hi))
    ax_s.set(xlabel="actual loss change ΔL (nats)", ylabel="predicted ΔL (nats)")
    ax_s.set_title(f"swaps of k weights, all k and seeds\n({scale_note})")
    ax_s.legend(fontsize=7)
    ax_e.set_xscale("log")
    ax_e.set_yscale("log")
    ax_e.set(xlabel="weights swapped k (count)", ylabel="median |pred − actual| / |actual| (ratio)")
    models = sorted({str(r.get("model", "")) for r in swaps})
    ax_e.set_title(f"Taylor model error vs number of swaps\n(median over seeds; models: {', '.join(models)})")
    ax_e.legend(fontsize=7)
    panel_label(ax_s, "a")
    panel_label(ax_e, "b")
    tables = {"relative error": err_table}
    if inter:
        ax_i = axes[2]
        rules = group_by(inter, key=lambda r: (str(r.get("model", "")), str(r["rule"])))
        rule_names = sorted({key[1] for key in rules})
        models = sorted({key[0] for key in rules})
        gap_table = []
        means: dict[tuple[str, str], dict[float, float]] = {}
        for (model, rule), rows in rules.items():
            by_k = group_by(rows, key=lambda r: float(r["k"]))
            stats = [seed_stats(float(r["loss_decrease"]) for r in rs) for rs in by_k.values()]
            means[(model, rule)] = {k: s.mean for k, s in zip(by_k, stats, strict=True)}
            label = (
                f"{rule} ({model}, {max(s.n for s in stats)} seeds)"
                if len(models) > 1
                else f"{rule} rule ({max(s.n for s in stats)} seeds)"
            )
            rec.stats_line(
                ax_i,
                "interdependency",
                f"{model}/{rule}",
                list(by_k),
                stats,
                label=label,
                color=color(rule_names.index(rule)),
                marker=marker(models.index(model)),
            )
        ax_i.set_xscale("log")
        ax_i.set(xlabel="swaps k (count; k pruned + k regrown)", ylabel="actual loss decrease (nats)")
        ax_i.set_title(f"first- vs second-order swap selection\n{SPREAD_NOTE}")
        ax_i.legend(fontsize=7)
        panel_label(ax_i, "c")
        if len(rule_names) == 2:
            first, second = sorted(rule_names, key=lambda r: (not r.startswith("first"), r))
            for model in models:
                a, b = means.get((model, first), {}), means.get((model, second), {})
                for k in sorted(set(a) & set(b)):
                    gap_table.append(
                        {"model": model, "k": k, f"{first}": a[k], f"{second}": b[k], "gap": b[k] - a[k]}
                    )
            if gap_table:
                last = gap_table[-1]
                summary.append(
                    f"{second} - {first} loss decrease: {gap_table[0]['gap']:+.3g} "
                    f"at k={gap_table[0]['k']:g}, "
                    f"{last['gap']:+.3g} at k={last['k']:g} ({last['model']})"
                )
        tables["interdependency gap"] = gap_table
    if not math.isfinite(linthresh):
        summary.append("no nonzero actual loss changes recorded")
    return FigureResult(fig, rec.rows, summary, tables)


register_figure(
    FigureSpec(
        name="fig10_taylor",
        title="Taylor loss-change models and interdependency-aware swaps",
        caption="(a) Predicted vs actual loss change for swaps of k weights with the first- and second-order "
        "Taylor models; (b) their median relative error vs k; (c) actual loss decrease when the k swaps are "
        "chosen by the first-order rule or by the interdependency-aware second-order rule (mean ± 1 s.d. "
        "over seeds).",
        experiments=("taylor",),
        claims=("taylor-first-order", "taylor-second-order", "second-order-swaps-better"),
        build=build,
    )
)
