"""Epsilon-perturbed SubsetSum sweeps: pssp-min-n and xiong-thm1.

Source: Xiong, Liao, Kyrillidis, "Strong Lottery Ticket Hypothesis with epsilon-perturbation",
AISTATS 2023 (PMLR 206:6879-6902, arXiv:2210.16589): the PSSP experiment ("the number n such that 90%
of the randomly generated candidate sets with n elements give an eta approximation of z", poster) and
Theorem 1 (AISTATS poster wording, failure probability ``exp(-(n-K)(1+eps)^2/(8(3-eps))) + exp(-K)`` for
a 2-eta approximation of every z in [-1/2, 1/2]); theory.md §1.2 and §1.5.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sim.coverage import scan_min_n
from sim.engine import EXACT_MAX_N, CellSpec, default_tol, run_cells
from sim.store import RunStore
from sim.sweeps.common import SweepOutcome, attach_evidence, proportion_columns, track
from sim.sweeps.rss import _check_etas, _check_ns
from theory.support.progress import progress
from theory.support.validate import check_choice, check_range


def run_pssp_min_n(cfg: Any, *, runs_root: str | Path, executor: Any, quiet: bool = True) -> SweepOutcome:
    """Minimal n reaching the success level vs perturbation/eta; evidence ``pssp-perturbation-helps``.

    For each eta and ratio, ``perturbation = ratio * eta`` and n is scanned upward
    (:func:`sim.coverage.scan_min_n`, decision rule: first n with point estimate >= level).

    Evidence rule: per eta, compare n_min at the largest ratio with n_min at ratio 0. *Inconsistent* if
    for some eta the perturbed n_min is larger by more than 1 (more than the scan's resolution);
    *consistent* if it is never larger by more than 1 and strictly smaller for at least one eta;
    *inconclusive* otherwise (including when a level was not reached or ratio 0 is missing).

    Args:
        cfg: A ``PsspMinNConfig``.
        runs_root: The run root.
        executor: An open executor.
        quiet: Hide progress bars.

    Returns:
        The :class:`SweepOutcome`.
    """
    etas = _check_etas(cfg.etas)
    check_choice("statistic", cfg.statistic, ("target", "coverage"))
    level = check_range("level", cfg.level, 0.0, 1.0, lo_open=True)
    ratios = [check_range("ratios", r, 0.0, None) for r in cfg.ratios]
    store = RunStore(runs_root, "pssp-min-n", cfg).open()
    outcome = SweepOutcome("pssp-min-n", store.path, [])
    rows = []
    grid = [(eta, r) for eta in etas for r in ratios]
    for eta, ratio in progress(grid, desc="pssp", quiet=quiet):
        base = {
            "statistic": cfg.statistic,
            "distribution": cfg.distribution,
            "lo": cfg.lo,
            "hi": cfg.hi,
            "perturbation": ratio * eta,
            "seed": cfg.seed,
        }
        before = store.finished_keys()
        res = scan_min_n(
            eta, level=level, trials=cfg.trials, base=base, executor=executor, store=store, n_max=cfg.n_max
        )
        after = store.finished_keys()
        outcome.computed |= after - before
        at = res.at_n_min
        rows.append(
            {
                "statistic": cfg.statistic,
                "distribution": cfg.distribution,
                "lo": cfg.lo,
                "hi": cfg.hi,
                "eta": eta,
                "perturbation": ratio * eta,
                "ratio": ratio,
                "level": level,
                "n_min": res.n_min if res.n_min is not None else "",
                "successes": at.successes if at else "",
                "trials": cfg.trials,
                "p": at.p if at else "",
                "ci_low": at.ci_low if at else "",
                "ci_high": at.ci_high if at else "",
                "n_start": res.n_start,
            }
        )
    store.write_results(rows)
    outcome.rows = rows
    _pssp_evidence(outcome, runs_root, rows, ratios)
    return outcome


def _pssp_evidence(
    outcome: SweepOutcome, runs_root: str | Path, rows: list[dict], ratios: list[float]
) -> None:
    top = max(ratios)
    comps = []
    for eta in sorted({r["eta"] for r in rows}):
        by_ratio = {r["ratio"]: r["n_min"] for r in rows if r["eta"] == eta}
        if 0.0 in by_ratio and top > 0 and by_ratio[0.0] != "" and by_ratio[top] != "":
            comps.append({"eta": eta, "n_min_unperturbed": by_ratio[0.0], "n_min_perturbed": by_ratio[top]})
    worse = [c for c in comps if c["n_min_perturbed"] > c["n_min_unperturbed"] + 1]
    better = [c for c in comps if c["n_min_perturbed"] < c["n_min_unperturbed"]]
    if worse:
        verdict = "inconsistent"
        summary = (
            f"perturbation ratio {top} needs more candidates than none at {len(worse)} of {len(comps)} etas"
        )
    elif comps and better:
        verdict = "consistent"
        summary = (
            f"ratio {top} lowers the 90%-success n at {len(better)} of {len(comps)} etas and never raises it "
            "beyond the scan's resolution"
        )
    else:
        verdict = "inconclusive"
        summary = f"no eta where perturbation ratio {top} changes the minimal n (compared {len(comps)} etas)"
    attach_evidence(outcome, runs_root, "pssp-perturbation-helps", verdict, summary, {"comparisons": comps})


def link_eta(n: int, perturbation: float, K: float, C: float) -> float | None:
    """The eta tied to n by ``n = C (log(1/eta)/(1+eps) + K)`` (Theorem 1's O() with constant C).

    Xiong et al.'s Theorem 1 (AISTATS poster) holds "as long as n = O(log(1/eta)/(1+eps) + K)" without
    the constant; we make it the explicit parameter C and solve ``eta = exp(-(n/C - K)(1+eps))``.

    Returns:
        eta, or None when ``n/C <= K`` (no eta < 1 satisfies the relation).
    """
    expo = (n / C - K) * (1.0 + perturbation)
    return math.exp(-expo) if expo > 0 else None


def run_xiong_thm1(cfg: Any, *, runs_root: str | Path, executor: Any, quiet: bool = True) -> SweepOutcome:
    """Theorem 1's failure bound vs measured failure rate; evidence ``xiong-thm1-aistats``.

    A trial fails when the coverage error on [-1/2, 1/2] with perturbation eps exceeds ``2 eta``, eta
    from :func:`link_eta`. A row is *vacuous* when the bound is >= 1 and *violated* when the
    Clopper-Pearson interval of the failure rate lies entirely above the bound.

    Evidence rule: *consistent* when for some link constant C no row is violated and at least one row
    is non-vacuous; *inconsistent* when every C in the grid has a violated row; *inconclusive* when
    every row is vacuous or unlinked.

    Args:
        cfg: A ``XiongThm1Config``.
        runs_root: The run root.
        executor: An open executor.
        quiet: Hide progress bars.

    Returns:
        The :class:`SweepOutcome`.
    """
    from theory.bounds import xiong_thm1_failure_probability

    ns = _check_ns(cfg.ns)
    eps_grid = [check_range("perturbations", e, 0.0, 3.0, hi_open=True) for e in cfg.perturbations]
    Ks = [check_range("Ks", k, 0.0, None) for k in cfg.Ks]
    Cs = [check_range("link_constants", c, 0.0, None, lo_open=True) for c in cfg.link_constants]
    store = RunStore(runs_root, "xiong-thm1", cfg).open()
    outcome = SweepOutcome("xiong-thm1", store.path, [])
    plan = {}
    for n in ns:
        for eps in eps_grid:
            thr = [2 * e for K in Ks for C in Cs if K <= n and (e := link_eta(n, eps, K, C)) is not None]
            if not thr:
                continue
            tol = default_tol(thr) if n > EXACT_MAX_N else 0.0
            plan[(n, eps)] = (CellSpec("coverage", n, cfg.distribution, -0.5, 0.5, eps, cfg.seed, tol), thr)
    specs = [s for s, _ in plan.values()]
    thresholds = {s.key(): thr for s, thr in plan.values()}
    cells = run_cells(specs, cfg.trials, thresholds=thresholds, executor=executor, store=store, quiet=quiet)
    track(outcome, cells)
    rows = []
    for (n, eps), (spec, _) in plan.items():
        c = cells[spec.key()]
        for K in Ks:
            if K > n:
                continue
            bound = xiong_thm1_failure_probability(n, eps, K)
            for C in Cs:
                eta = link_eta(n, eps, K, C)
                if eta is None:
                    continue
                _, f, a = c.counts(2 * eta)
                pc = proportion_columns(f, a, cfg.trials)  # failures, widened by the ambiguous ones
                rows.append(
                    {
                        "n": n,
                        "perturbation": eps,
                        "K": K,
                        "C": C,
                        "eta": eta,
                        "bound": bound,
                        "failures": f,
                        "ambiguous": a,
                        "trials": cfg.trials,
                        "p_fail": pc["p"],
                        "ci_low": pc["ci_low"],
                        "ci_high": pc["ci_high"],
                        "vacuous": bool(bound >= 1.0),
                        "violated": bool(pc["ci_low"] > bound),
                        "mode": "certified" if spec.certified else "exact",
                    }
                )
    store.write_results(rows)
    outcome.rows = rows
    per_c = {}
    for C in Cs:
        rc = [r for r in rows if r["C"] == C]
        per_c[repr(C)] = {
            "rows": len(rc),
            "violated": sum(r["violated"] for r in rc),
            "non_vacuous": sum(not r["vacuous"] for r in rc),
        }
    ok = [C for C, d in per_c.items() if d["violated"] == 0 and d["non_vacuous"] > 0]
    if not any(d["non_vacuous"] for d in per_c.values()):
        verdict, summary = "inconclusive", "every measured row has a vacuous bound (>= 1)"
    elif ok:
        verdict = "consistent"
        summary = f"no violation for link constant C in {ok} (n = C(log(1/eta)/(1+eps) + K))"
    else:
        verdict = "inconsistent"
        summary = "the measured failure rate's CI lies above the bound for every link constant tried"
    attach_evidence(outcome, runs_root, "xiong-thm1-aistats", verdict, summary, {"per_link_constant": per_c})
    return outcome
