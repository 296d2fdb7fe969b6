"""Figure 12: a planted certified ticket and what EP, iEP and IteRand find on its source network.

Records: experiment ``planted-ticket`` (``planted.json``: the target's and the planted ticket's accuracy
and density; ``runs.csv``: one row per run with accuracy, recall of the planted edges, chance recall and
the dying ratios; the runs' ``metrics.csv`` for the training curves). Plant 'n' Seek (Fischer & Burkholz,
ICLR 2022) plants tickets and asks whether pruning algorithms find them; here the planted ticket is a
certified construction (Pensia et al. 2020) of a trained digits MLP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from figures.fig08_iep import log_density_axis
from figures.records import aligned_mean, group_by, load_sweep, num, parse_rows, seed_stats
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import LABELS, SPREAD_NOTE, PlotRecorder, color, marker, new_figure, panel_label
from theory.plumbing.records import read_csv

EXPERIMENT = "planted-ticket"
ARM_LABELS = {"ep": "EP", "iep-soft": "iEP soft", "iep-hard": "iEP hard", "iterand": "IteRand"}


def _label(arm: str) -> str:
    return ARM_LABELS.get(arm, arm)


def _density_axis(ax, densities: list[float]) -> None:
    """The shared log density axis, ticked at the densities run with three significant digits."""
    log_density_axis(ax, densities)
    ticks = sorted(set(densities))
    ax.set_xticks(ticks, [f"{d:.3g}" for d in ticks])
    ax.minorticks_off()


def _epoch_curve(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(epoch (1-based), test accuracy %)`` of one run's ``metrics.csv``."""
    rows = [r for r in parse_rows(read_csv(path / "metrics.csv")) if r["name"] == "test_acc"]
    rows.sort(key=lambda r: num(r["epoch"]))
    return np.array([num(r["epoch"]) + 1 for r in rows]), np.array([100 * num(r["value"]) for r in rows])


def build(runs_root: Path) -> FigureResult:
    """Build figure 12 from the newest ``planted-ticket`` run directory."""
    sweep = load_sweep(runs_root, EXPERIMENT, table="runs.csv")
    info = _read_info(sweep.path)
    d0 = float(info["planted_density"])
    p_acc, t_acc = 100 * float(info["planted_acc"]), 100 * float(info["target_acc"])
    rows = [r for r in sweep.rows if not r.get("error")]
    arms = list(dict.fromkeys(str(r["arm"]) for r in rows))
    rec = PlotRecorder()
    fig, (ax_a, ax_b, ax_c, ax_d) = new_figure(2, 2, width=4.6, height=3.5)
    table: list[dict[str, Any]] = []
    for i, arm in enumerate(arms):
        by_f = group_by([r for r in rows if r["arm"] == arm], lambda r: float(r["factor"]))
        dens = np.array([f * d0 for f in by_f])
        acc = [seed_stats(100 * r["test_correct"] / r["test_total"] for r in rs) for rs in by_f.values()]
        recall = [seed_stats(r["recall"] for r in rs) for rs in by_f.values()]
        kw = {"color": color(i), "marker": marker(i)}
        rec.stats_line(
            ax_a,
            "accuracy",
            arm,
            dens,
            acc,
            label=f"{_label(arm)} ({acc[0].n} seeds)",
            **kw,
        )
        rec.stats_line(
            ax_b,
            "recall",
            arm,
            dens,
            recall,
            label=_label(arm),
            **kw,
        )
        for f, a, r_ in zip(by_f, acc, recall, strict=True):
            table.append(
                {
                    "arm": arm,
                    "factor": f,
                    "density": f * d0,
                    "test_acc": a.mean,
                    "acc_sd": a.std,
                    "recall": r_.mean,
                    "seeds": a.n,
                }
            )
    factors = sorted({float(r["factor"]) for r in rows})
    chance = group_by(rows, lambda r: float(r["factor"]))
    rec.line(
        ax_b,
        "recall",
        "chance",
        [f * d0 for f in factors],
        [float(np.mean([r["chance_recall"] for r in chance[f]])) for f in factors],
        label="random mask, same counts",
        color="0.4",
        linestyle=":",
        marker="_",
    )
    rec.hline(
        ax_a,
        "accuracy",
        "target",
        t_acc,
        label=f"target, dense trained ({t_acc:.1f}%)",
        color="0.3",
        linestyle="--",
    )
    rec.points(
        ax_a,
        "accuracy",
        "planted",
        [d0],
        [p_acc],
        label=f"planted ticket ({p_acc:.1f}%)",
        color="black",
        marker="*",
        markersize=11,
    )
    _density_axis(ax_a, [t["density"] for t in table])
    # The floor follows the data (every arm at chance shows as such), so a 5-point gap stays visible.
    low = min([t["test_acc"] - 2 * t["acc_sd"] for t in table] + [p_acc])
    ax_a.set(ylabel=LABELS["test_acc"], ylim=(max(0.0, 10 * np.floor(low / 10)), 100))
    ax_a.set_title(f"accuracy vs density (planted: {d0:.4f})\n{SPREAD_NOTE}")
    ax_a.legend(fontsize=7, loc="lower right")
    _density_axis(ax_b, [t["density"] for t in table])
    ax_b.set(ylabel="recall of planted edges (fraction)", ylim=(0, None))
    ax_b.set_title("planted edges recovered vs chance")
    ax_b.legend(fontsize=7)
    # (c) training curves at the planted density.
    at_one = [r for r in rows if float(r["factor"]) == 1.0]
    for i, arm in enumerate(arms):
        curves = [_epoch_curve(sweep.path / str(r["run"])) for r in at_one if r["arm"] == arm]
        xs, st = aligned_mean(curves)
        rec.line(
            ax_c, "curves", arm, xs, st.mean, lo=st.lo, hi=st.hi, label=_label(arm), color=color(i), marker=""
        )
    rec.hline(ax_c, "curves", "planted", p_acc, label="planted ticket", color="black", linestyle="--")
    ax_c.set(xlabel="epoch (1-based)", ylabel=LABELS["test_acc"], ylim=(0, 100))
    ax_c.set_title("test accuracy during training, planted density")
    ax_c.legend(fontsize=7)
    # (d) dying ratio of the planted edges vs of all edges, at the planted density.
    dying_table = []
    for i, arm in enumerate(arms):
        mine = [r for r in at_one if r["arm"] == arm]
        overall = seed_stats(r["dying_ratio"] for r in mine)
        planted = seed_stats(r["planted_dying_ratio"] for r in mine)
        rec.points(
            ax_d,
            "dying",
            f"{arm}/all",
            [i - 0.12],
            [overall.mean],
            lo=[overall.lo],
            hi=[overall.hi],
            label="all edges" if i == 0 else None,
            color=color(i),
            marker="o",
        )
        rec.points(
            ax_d,
            "dying",
            f"{arm}/planted",
            [i + 0.12],
            [planted.mean],
            lo=[planted.lo],
            hi=[planted.hi],
            label="planted edges" if i == 0 else None,
            color=color(i),
            marker="*",
            markersize=10,
        )
        dying_table.append({"arm": arm, "dying_ratio": overall.mean, "planted_dying_ratio": planted.mean})
    ax_d.set_xticks(range(len(arms)), [_label(a) for a in arms])
    ax_d.set(xlabel="method", ylabel=LABELS["dying_ratio"], ylim=(0, 1.02))
    ax_d.set_title("never selected: all edges (o) vs planted edges (*)")
    ax_d.legend(fontsize=7, loc="lower left")
    for ax, letter in zip((ax_a, ax_b, ax_c, ax_d), "abcd", strict=True):
        panel_label(ax, letter)
    summary = [
        f"planted ticket {p_acc:.1f}% at density {d0:.4f} ({info['planted_edges']} of "
        f"{info['source_weights']} source weights); target {t_acc:.1f}%"
    ]
    for f in factors:
        cells = [t for t in table if t["factor"] == f]
        summary.append(
            f"density {f:g} x planted: "
            + ", ".join(
                f"{_label(t['arm'])} {t['test_acc']:.1f}±{t['acc_sd']:.1f}% recall {t['recall']:.3f}"
                for t in cells
            )
        )
    return FigureResult(fig, rec.rows, summary, {"accuracy and recall": table, "dying ratio": dying_table})


def _read_info(path: Path) -> dict[str, Any]:
    import json

    with open(path / "planted.json", encoding="utf-8") as fh:
        return json.load(fh)


register_figure(
    FigureSpec(
        name="fig12_planted",
        title="A planted certified ticket: does mask search find it?",
        caption="A certified ticket (Pensia et al. construction of a trained digits MLP, every weight "
        "within 0.01) planted in its random U[-1, 1] source network, logits scaled by the per-layer fan-in "
        "scale at the current density (predictions unchanged); EP, soft and hard iEP and IteRand on "
        "that network at multiples of the planted density (every layer at its planted fraction times the "
        "factor), paired seeds, settings tuned on calibration seeds. (a) test accuracy (mean ± 1 s.d.), "
        "planted ticket and trained target; (b) "
        "recall of the planted edges and a random mask's; (c) test accuracy per epoch at the planted "
        "density; (d) dying ratio of all edges and of the planted edges at the planted density.",
        experiments=(EXPERIMENT,),
        claims=("planted-ticket-missed",),
        build=build,
    )
)
