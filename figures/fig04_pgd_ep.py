"""Figure 4: Xiong et al.'s PGD + Edge-Popup, test accuracy over (sparsity x perturbation).

Records: training runs of experiment ``pgd-ep``. Xiong, Liao, Kyrillidis (AISTATS 2023, poster table
"SGD finds a good weight perturbation") report test accuracy for sparsity s (fraction pruned) x
perturbation scale eps (max-norm of the weight change) with the best entry of each column in bold; we
draw the same table as an annotated heatmap (mean over seeds) with each column's best cell boxed, then
the best accuracy and the best s per eps.

A run contributes either one cell (its config's density/sparsity and perturbation, final ``test_acc``)
or, when its ``final.json`` holds a ``grid`` list of ``{sparsity|density, test_acc|test_correct/test_total}``
entries (EP run over a sparsity grid after one PGD phase), one cell per grid entry.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from figures.baselines import dense_baseline, draw_dense
from figures.records import TrainingRun, accuracy_percent, group_by, seed_stats, training_runs
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import LABELS, OKABE_ITO, SPREAD_NOTE, PlotRecorder, new_figure, panel_label

PERTURBATION_KEYS = ("perturbation", "pgd_eps", "eps", "epsilon")


def _first(mapping: dict[str, Any], keys: tuple[str, ...], default: Any = None) -> Any:
    for k in keys:
        if mapping.get(k) is not None:
            return mapping[k]
    return default


def _sparsity(entry: dict[str, Any]) -> float | None:
    if entry.get("sparsity") is not None:
        return float(entry["sparsity"])
    if entry.get("density") is not None:
        return round(1.0 - float(entry["density"]), 10)
    return None


def _acc(entry: dict[str, Any]) -> float:
    if entry.get("test_correct") is not None and entry.get("test_total"):
        return 100.0 * float(entry["test_correct"]) / float(entry["test_total"])
    acc = float(entry.get("test_acc", math.nan))
    return acc * 100.0 if acc <= 1.0 else acc


def cells(runs: list[TrainingRun]) -> list[tuple[float, float, int, float]]:
    """``(sparsity, eps, seed, accuracy %)`` for every cell the runs recorded."""
    out = []
    for run in runs:
        eps = float(_first(run.config, PERTURBATION_KEYS, _first(run.final, PERTURBATION_KEYS, 0.0)))
        seed = int(run.config.get("seed", 0))
        grid = run.final.get("grid")
        if isinstance(grid, list) and grid:
            for entry in grid:
                s = _sparsity(entry)
                if s is not None:
                    out.append((round(s, 10), eps, seed, _acc(entry)))
            continue
        s = _sparsity(run.config)
        if s is None:
            s = _sparsity(run.final)
        if s is not None:
            out.append((round(s, 10), eps, seed, accuracy_percent(run)))
    return out


def build(runs_root: Path) -> FigureResult:
    """Build figure 4 from ``pgd-ep`` training runs."""
    runs = training_runs(runs_root, "pgd-ep", metrics=False)
    data = cells(runs)
    ss = sorted({c[0] for c in data})
    es = sorted({c[1] for c in data})
    groups = group_by(data, key=lambda c: (c[0], c[1]))
    mean = np.full((len(ss), len(es)), np.nan)
    std = np.full_like(mean, np.nan)
    nseeds = []
    for (s, e), items in groups.items():
        st = seed_stats([c[3] for c in items])
        mean[ss.index(s), es.index(e)] = st.mean
        std[ss.index(s), es.index(e)] = st.std
        nseeds.append(st.n)
    rec = PlotRecorder()
    fig, (ax_h, ax_b, ax_s) = new_figure(3, width=4.0)
    fig.set_figwidth(13.0)
    image = rec.heatmap(ax_h, "heatmap", "test_acc_mean", es, ss, mean, fmt="{:.1f}")
    fig.colorbar(image, ax=ax_h, label="mean test accuracy (%)")
    best_s, best_acc, best_lo, best_hi = [], [], [], []
    from matplotlib.patches import Rectangle

    from theory.rules.practice import best_sparsity

    for j, _e in enumerate(es):
        col = mean[:, j]
        if not np.isfinite(col).any():
            best_s.append(math.nan)
            best_acc.append(math.nan)
            best_lo.append(math.nan)
            best_hi.append(math.nan)
            continue
        # The same best-sparsity rule as the evidence (theory.rules.practice), here on the seed means.
        s_best = best_sparsity({ss[k]: float(col[k]) for k in range(len(ss)) if np.isfinite(col[k])})
        i = list(ss).index(s_best)
        ax_h.add_patch(
            Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=OKABE_ITO["vermillion"], lw=2.2)
        )
        best_s.append(ss[i])
        best_acc.append(col[i])
        best_lo.append(col[i] - std[i, j])
        best_hi.append(col[i] + std[i, j])
    ax_h.set(xlabel=LABELS["perturbation"], ylabel=LABELS["sparsity"])
    seeds = f"{min(nseeds)}" if min(nseeds) == max(nseeds) else f"{min(nseeds)}-{max(nseeds)}"
    ax_h.set_title(f"test accuracy (%), mean of {seeds} seeds\nboxed: best sparsity per column")
    x = np.array(es, dtype=float)
    positive = x[x > 0]
    rec.points(
        ax_b, "best_acc", "best accuracy", x, best_acc, lo=best_lo, hi=best_hi, color=OKABE_ITO["blue"]
    )
    ax_b.plot(x, best_acc, color=OKABE_ITO["blue"], alpha=0.5)
    dense_line = draw_dense(rec, ax_b, "best_acc", dense_baseline(runs_root, runs))
    if ax_b.get_legend_handles_labels()[0]:
        ax_b.legend(fontsize=7, loc="lower right")
    ax_b.set(xlabel=LABELS["perturbation"] + " (symlog)", ylabel="best test accuracy over s (%)")
    ax_b.set_title(f"best accuracy per ε\n{SPREAD_NOTE}")
    rec.points(ax_s, "best_s", "best sparsity", x, best_s, color=OKABE_ITO["orange"], marker="s")
    ax_s.plot(x, best_s, color=OKABE_ITO["orange"], alpha=0.5)
    ax_s.set(
        xlabel=LABELS["perturbation"] + " (symlog)",
        ylabel="best sparsity s (fraction removed)",
        ylim=(-0.05, 1.0),
    )
    ax_s.set_title("sparsity of the best cell per ε")
    for a in (ax_b, ax_s):
        # Symmetric log so that eps = 0 (plain Edge-Popup) sits on the same axis as the positive eps.
        lt = float(positive.min()) if positive.size else 1.0
        a.set_xscale("symlog", linthresh=lt, linscale=0.5)
        a.set_xticks(x, [f"{e:g}" for e in es])
        a.set_xlim(x.min() - 0.5 * lt, x.max() * 1.6 if x.max() > 0 else lt)
        a.minorticks_off()
    for a, letter in zip((ax_h, ax_b, ax_s), "abc", strict=True):
        panel_label(a, letter)
    table = [
        {"perturbation": e, "best_sparsity": best_s[j], "best_acc": best_acc[j]} for j, e in enumerate(es)
    ]
    summary = [
        f"eps={t['perturbation']:g}: best s={t['best_sparsity']:g}, acc={t['best_acc']:.2f}%" for t in table
    ]
    summary.append(dense_line)
    if len(es) > 1 and np.isfinite(best_acc[0]) and np.isfinite(best_acc[-1]):
        summary.append(
            f"best accuracy changes by {best_acc[-1] - best_acc[0]:+.2f} points "
            f"from eps={es[0]:g} to {es[-1]:g}"
        )
    return FigureResult(fig, rec.rows, summary, {"best cell per perturbation": table})


register_figure(
    FigureSpec(
        name="fig04_pgd_ep",
        title="Xiong PGD+EP: accuracy over sparsity x perturbation",
        caption="Test accuracy of Edge-Popup subnetworks after an ε-bounded PGD perturbation of the random "
        "weights (mean over seeds; boxed: best sparsity per ε), then the best accuracy (±1 s.d. over seeds) "
        "and the best sparsity as functions of ε; dashed: dense SGD baseline (band ±1 s.d.).",
        experiments=("pgd-ep", "ep-vs-dense"),
        claims=("pgd-ep-perturbation-helps",),
        build=build,
    )
)
