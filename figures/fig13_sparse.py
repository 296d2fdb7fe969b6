"""Figure 13: sparse tickets of a chosen density against the source width (Natale et al., NeurIPS 2024).

Records: ``sparse-tickets`` (``evidence.json``: every ticket's requested and measured density, kept and
source parameters and certified error).

(a) Density (kept / source parameters) against the block size ``n`` at fixed ``eps``: the smallest
measured density of ``method="sparse"`` whose certificate is ``<= eps`` (per source seed), the
fewest-candidates Pensia ticket at the same ``n``, and Theorem 3's promise: the smallest density ``gamma``
whose block ``n*(gamma)`` (:func:`theory.bounds.rfss_thm3_block`, ``c_amp`` of :mod:`theory.rules.rfss`)
is ``<= n``. Theorem 3 needs blocks far wider than the ones measured, so its curve starts to the right.
(b) Source parameters against kept parameters for every certified ticket, with Theorem 5's lower bound
(:func:`theory.bounds.rfss_thm5_min_params`, ``d`` = the widest target layer).
(c) Theorem 2 (records: ``rfss``, ``thm2.csv``): the probability that some k-subset of
``n = rfss_thm2_min_n(k, eps, c_hyp)`` U[-1, 1] candidates is within eps of the window's edge
``z = sqrt k``, against ``log2(1/eps)``, one line per ``(c_hyp, k)``, with 95% Clopper-Pearson bands.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from figures.records import MissingRecordsError, load_sweep, num, sweep_dirs
from figures.registry import FigureResult, FigureSpec, register_figure
from figures.style import REFERENCE_COLOR, PlotRecorder, color, marker, new_figure, panel_label
from theory import bounds
from theory.plumbing.records import read_json
from theory.rules.rfss import SPARSE_C_AMP


def _details(runs_root: Path) -> tuple[Path, dict]:
    dirs = sweep_dirs(runs_root, "sparse-tickets", "evidence.json")
    if not dirs:
        raise MissingRecordsError(f"no 'sparse-tickets' records ({Path(runs_root) / 'sparse-tickets'}) found")
    return dirs[0], read_json(dirs[0] / "evidence.json")["rfss-sparse-ticket"]


def build(runs_root: Path) -> FigureResult:
    """Build figure 13 from the ``sparse-tickets`` records."""
    from networks.construct.sparse import theorem3_density

    path, det = _details(runs_root)
    eps, dims = float(det["eps"]), [int(v) for v in det["dims"]]
    rows = det["rows"]
    rec = PlotRecorder()
    fig, axes = new_figure(3, width=4.4)
    ax, ax5 = axes[0], axes[1]
    seeds = sorted({int(r["seed"]) for r in rows})
    table, summary = [], []
    for si, seed in enumerate(seeds):
        ns, best = [], []
        for n in sorted({int(r["n"]) for r in rows}):
            ok = [
                r["density"]
                for r in rows
                if r["method"] == "sparse"
                and int(r["n"]) == n
                and int(r["seed"]) == seed
                and float(r["certified"]) <= eps
            ]
            if ok:
                ns.append(n)
                best.append(min(ok))
        rec.line(
            ax,
            "density",
            f"sparse seed {seed}",
            ns,
            best,
            color=color(0),
            marker=marker(si),
            label="sparse (fixed-size), smallest certified" if si == 0 else None,
        )
        pn = sorted(
            (int(r["n"]), r["density"])
            for r in rows
            if r["method"] == "pensia" and int(r["seed"]) == seed and float(r["certified"]) <= eps
        )
        rec.line(
            ax,
            "density",
            f"pensia seed {seed}",
            [p[0] for p in pn],
            [p[1] for p in pn],
            color=color(1),
            marker=marker(si),
            linestyle="--",
            label="Pensia, fewest candidates" if si == 0 else None,
        )
        table += [{"seed": seed, "n": n, "sparse_min_density": d} for n, d in zip(ns, best, strict=True)]
        table += [{"seed": seed, "n": n, "pensia_density": d} for n, d in pn]
    n_half = bounds.rfss_thm3_block(dims[0], dims[1], len(dims) - 1, eps, 0.5, c_amp=SPARSE_C_AMP)
    grid = np.geomspace(math.ceil(n_half), 100 * n_half, 30)
    theory = [
        theorem3_density(dims[0], dims[1], len(dims) - 1, eps, float(n), c_amp=SPARSE_C_AMP) for n in grid
    ]
    rec.line(
        ax,
        "density",
        "theorem 3",
        grid,
        [math.nan if t is None else t for t in theory],
        color=REFERENCE_COLOR,
        marker=None,
        label=f"Theorem 3 density (c_amp = {SPARSE_C_AMP:g})",
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="n (candidates per half-block; source width 2n per input)",
        ylabel="density (kept / source parameters)",
    )
    ax.set_title(f"ε = {eps:g}, target {'-'.join(map(str, dims))}")
    ax.legend(fontsize=7)
    panel_label(ax, "a")
    d = max(dims)
    for mi, method in enumerate(("sparse", "pensia")):
        pts = [
            (r["kept"], r["source"]) for r in rows if r["method"] == method and float(r["certified"]) <= eps
        ]
        rec.scatter(
            ax5,
            "thm5",
            method,
            [p[0] for p in pts],
            [p[1] for p in pts],
            color=color(mi),
            label=f"{method} (certified)",
        )
    kept_all = [r["kept"] for r in rows if float(r["certified"]) <= eps]
    if kept_all and eps < 1 / 16:
        ks = np.unique(np.geomspace(max(1, min(kept_all) / 2), max(kept_all) * 2, 30).astype(int))
        lb = [bounds.rfss_thm5_min_params(d, int(k), eps) for k in ks]
        rec.line(
            ax5,
            "thm5",
            "theorem 5",
            ks,
            lb,
            color=REFERENCE_COLOR,
            marker=None,
            label=f"Theorem 5 lower bound (d = {d})",
        )
    ax5.set(xscale="log", yscale="log", xlabel="kept parameters", ylabel="source parameters")
    ax5.legend(fontsize=7)
    panel_label(ax5, "b")
    first = {
        t["n"]: t["sparse_min_density"] for t in table if "sparse_min_density" in t and t["seed"] == seeds[0]
    }
    if first:
        lo, hi = min(first), max(first)
        summary.append(
            f"smallest certified sparse density falls from {first[lo]:.3g} (n={lo}) to {first[hi]:.3g} "
            f"(n={hi}) at eps={eps:g}; Theorem 3 asks for n* >= {n_half:.0f} (gamma = 1/2)"
        )
    thm2 = load_sweep(runs_root, "rfss", table="thm2.csv")
    ax2 = axes[2]
    edge = [r for r in thm2.rows if num(r["z_frac"]) == 1.0 and math.isfinite(num(r["p"]))]
    ks = sorted({int(num(r["k"])) for r in edge})
    for ci, c in enumerate(sorted({num(r["c_hyp"]) for r in edge})):
        for ki, k in enumerate(ks):
            pts = sorted(
                (math.log2(1.0 / num(r["eps"])), r)
                for r in edge
                if num(r["c_hyp"]) == c and int(num(r["k"])) == k
            )
            rec.line(
                ax2,
                "thm2",
                f"c_hyp={c:g} k={k}",
                [p[0] for p in pts],
                [num(p[1]["p"]) for p in pts],
                lo=[num(p[1]["ci_low"]) for p in pts],
                hi=[num(p[1]["ci_high"]) for p in pts],
                color=color(ci),
                marker=marker(ki),
                linestyle=("-", "--", ":", "-.")[ki % 4],
                label=f"c_hyp = {c:g}, k = {k}",
            )
    ax2.set(xlabel="log₂(1/ε)", ylabel="P(some k-subset within ε of z = √k)", ylim=(0, 1.02))
    ax2.set_title("Theorem 2 at n = ⌈c_hyp log₂(k/ε)/H₂(k/n)⌉")
    ax2.legend(fontsize=6, ncol=2)
    panel_label(ax2, "c")
    summary.append(f"records: {path}; {thm2.path}")
    return FigureResult(fig, rec.rows, summary, {"sparse": table})


register_figure(
    FigureSpec(
        name="fig13_sparse",
        title="Sparse tickets (fixed-size SubsetSum): density vs source width",
        caption="(a) Density of certified tickets against the block size n at fixed ε: smallest certified "
        "density of fixed-size (sparse) tickets per source seed, the fewest-candidates Pensia ticket, and "
        "Theorem 3's promised density (Natale et al. 2024; c_amp from the rfss calibration). (b) Source vs "
        "kept parameters of certified tickets with Theorem 5's lower bound. (c) Theorem 2: probability of "
        "hitting z = √k within ε at the theorem's n, per c_hyp, with 95% Clopper-Pearson bands.",
        experiments=("sparse-tickets", "rfss"),
        claims=("rfss-sparse-ticket", "rfss-thm2", "rfss-cor1"),
        build=build,
    )
)
