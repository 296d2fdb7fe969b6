"""Figure 11: RigL vs second-order RigL, training curves and final accuracy at 80% and 90% sparsity.

Records: training runs of experiment ``rigl`` (metric ``test_acc`` per step; ``final.json``). RigL is
Evci et al. (ICML 2020, arXiv 1911.11134): drop by weight magnitude, grow by dense-gradient magnitude.
Second-order RigL (``rigl2``) is this toolkit's proposal (reference notes, algorithms.md §5.2): choose
the pruned set first, then the regrown set given it, from Hessian-vector products.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from figures.baselines import dense_baseline, draw_dense
from figures.fig06_dying import density_of
from figures.records import accuracy_percent, aligned_mean, group_by, seed_stats, training_runs
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import LABELS, SPREAD_NOTE, PlotRecorder, color, marker, new_figure, panel_label

METHOD_NAMES = {"rigl": "RigL", "rigl2": "second-order RigL"}
LINESTYLES = ("-", "--", ":", "-.")


def _pct(values: np.ndarray) -> np.ndarray:
    return values * 100.0 if values.size and np.nanmax(values) <= 1.0 else values


def build(runs_root: Path) -> FigureResult:
    """Build figure 11 from ``rigl`` training runs."""
    runs = training_runs(runs_root, "rigl")
    methods = group_by(runs, key=lambda r: str(r.config.get("method", "?")))
    sparsities = sorted({round(1.0 - density_of(r), 6) for r in runs})
    rec = PlotRecorder()
    fig, (ax_c, ax_f, ax_t) = new_figure(3, width=4.4)
    dense = dense_baseline(runs_root, runs)
    table = []
    width = 0.4 / max(len(methods), 1)
    for mi, (method, members) in enumerate(methods.items()):
        name = METHOD_NAMES.get(method, method)
        by_s = group_by(members, key=lambda r: round(1.0 - density_of(r), 6))
        finals = []
        for s, rs in by_s.items():
            curves = [r.series("test_acc") for r in rs]
            curves = [(x, _pct(y)) for x, y in curves if x.size]
            if curves:
                xs, st = aligned_mean(curves)
                rec.line(
                    ax_c,
                    "curves",
                    f"{name} s={s:g}",
                    xs,
                    st.mean,
                    lo=st.lo,
                    hi=st.hi,
                    label=f"{name}, sparsity {s:.0%}",
                    color=color(mi),
                    linestyle=LINESTYLES[sparsities.index(s) % len(LINESTYLES)],
                    marker=None,
                )
            st = seed_stats(accuracy_percent(r) for r in rs)
            finals.append((s, st))
            ts = seed_stats(r.final.get("update_cpu_s") for r in rs)
            table.append(
                {"method": name, "sparsity": s, "test_acc": st.mean, "sd": st.std, "seeds": st.n}
                | {"update_cpu_s": ts.mean, "update_cpu_sd": ts.std}
            )
        pos = np.array([sparsities.index(s) for s, _ in finals]) + (mi - (len(methods) - 1) / 2) * width
        # Dots with error bars, not bars: the accuracy axis does not start at 0.
        rec.points(
            ax_f,
            "final",
            name,
            pos,
            [st.mean for _, st in finals],
            lo=[st.lo for _, st in finals],
            hi=[st.hi for _, st in finals],
            label=name,
            color=color(mi),
            marker=marker(mi),
            markersize=7,
        )
        tstats = [(t["update_cpu_s"], t["update_cpu_sd"]) for t in table if t["method"] == name]
        rec.points(
            ax_t,
            "update_time",
            name,
            pos,
            [1e3 * m for m, _ in tstats],
            lo=[1e3 * (m - sd) for m, sd in tstats],
            hi=[1e3 * (m + sd) for m, sd in tstats],
            label=name,
            color=color(mi),
            marker=marker(mi),
            markersize=7,
        )
    draw_dense(rec, ax_c, "curves", dense)
    dense_line = draw_dense(rec, ax_f, "final", dense)
    ax_t.set_xticks(range(len(sparsities)), [f"{s:.0%}" for s in sparsities])
    ax_t.set_xlim(-0.6, len(sparsities) - 0.4)
    ax_t.set(xlabel=LABELS["sparsity"], ylabel="CPU ms per mask update", ylim=(0, None))
    ax_t.set_title("time per mask update")
    ax_t.legend(fontsize=7)
    panel_label(ax_t, "c")
    ax_c.set(xlabel=LABELS["step"], ylabel=LABELS["test_acc"])
    ax_c.set_title(f"test accuracy during training\n{SPREAD_NOTE}")
    ax_c.legend(fontsize=7)
    ax_f.set_xticks(range(len(sparsities)), [f"{s:.0%}" for s in sparsities])
    ax_f.set_xlim(-0.6, len(sparsities) - 0.4)
    accs = [t["test_acc"] - t["sd"] for t in table if np.isfinite(t["test_acc"])]
    tops = [t["test_acc"] + t["sd"] for t in table if np.isfinite(t["test_acc"])]
    if accs:
        ax_f.set_ylim(max(0.0, min(accs) - 5.0), max(tops) + 0.25 * (max(tops) - min(accs) + 5.0))
    ax_f.set(xlabel=LABELS["sparsity"], ylabel="final " + LABELS["test_acc"])
    ax_f.set_title(f"final accuracy ({SPREAD_NOTE})")
    ax_f.legend(fontsize=7, loc="upper right", ncols=2)
    panel_label(ax_c, "a")
    panel_label(ax_f, "b")
    summary = [dense_line]
    for s in sparsities:
        at = [t for t in table if t["sparsity"] == s]
        summary.append(
            f"sparsity {s:.0%}: "
            + ", ".join(
                f"{t['method']} {t['test_acc']:.2f}±{t['sd']:.2f} ({t['seeds']} seeds, "
                f"{1e3 * t['update_cpu_s']:.1f} CPU ms/update)"
                for t in at
            )
        )
    return FigureResult(fig, rec.rows, summary, {"final accuracy": table})


register_figure(
    FigureSpec(
        name="fig11_rigl",
        title="RigL vs second-order RigL at 80% and 90% sparsity",
        caption="Test accuracy during training and at the end (mean ± 1 s.d. over seeds) for RigL and the "
        "second-order (Hessian-vector-product) RigL update at each sparsity, with the dense SGD baseline "
        "(dashed), and the CPU time per mask update.",
        experiments=("rigl", "ep-vs-dense"),
        claims=("rigl-second-order",),
        build=build,
    )
)
