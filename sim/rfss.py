"""Monte Carlo of the Random Fixed-Size Subset Sum (RFSS): Theorem 2 and Corollary 1 with intervals.

Source: Natale, Ferré, Giambartolomei, Giroire, Mallmann-Trenn, "On the Sparsity of the Strong Lottery
Ticket Hypothesis", NeurIPS 2024 (arXiv:2410.14754), Theorem 2 and Corollary 1 [PRIMARY]; reference
theory.md §9. Candidates are iid U[-1, 1] (sum-bounded by Lemma 1).

* **Theorem 2** (evidence ``rfss-thm2``): at ``n = min n with n >= c_hyp log2(k/eps)/H2(k/n)``
  (:func:`theory.bounds.rfss_thm2_min_n`) over a grid of ``k``, ``eps`` and ``c_hyp``, the probability
  that some ``k``-subset sum is within ``eps`` of a fixed ``z`` (``z = 0`` and the window's edge
  ``z = sqrt k``, where the density of a ``k``-sum is lowest), by the exact fixed-size solver
  (``theory.best_subsets(..., size=k)``). The estimate of ``c_thm`` is the smallest probability over the
  cells with ``c_hyp >= 1``; the smallest ``c_hyp`` at which every cell's 95% lower end is at least
  :data:`theory.rules.rfss.THM2_FLOOR` is reported too.
* **Corollary 1** (evidence ``rfss-cor1``): on a calibration seed, each trial draws a sequence of
  candidates and the smallest prefix length whose ``k``-subsets cover the whole window
  ``[-sqrt k, sqrt k]`` within ``eps`` (exact fixed-size coverage; nested prefixes, so coverage is
  monotone in ``n`` per trial); the smallest ``n`` with success rate ``>= 1 - eps`` gives
  ``c_amp(k, eps) = n H2(k/n) / log2^2(k/eps)``, and ``c_amp`` is their maximum. On the test seed
  (disjoint stream) the success rate is measured at ``n = rfss_cor1_min_n(k, eps, c_amp)``.

Every trial's randomness is ``default_rng(SeedSequence([seed, cell, ...]))``: results do not depend on
the executor or the number of workers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

import theory
from sim.cells import keyed_rng
from sim.experiments import Context, Experiment, register_experiment
from sim.sweeps.common import check_seeds
from theory import bounds
from theory.plumbing.configs import help_field
from theory.plumbing.rundir import RunDir
from theory.stats import clopper_pearson
from theory.subset_sum.fixed_size import FIXED_MAX_HALF, within_limit

#: Largest C(n, k) for which the coverage scan uses the exact mode; above it the certified one.
_EXACT_COVERAGE_SUBSETS = 1 << 21
#: Longest candidate sequence of a Corollary 1 test trial (a limit of the design, reported per row).
_MAX_TEST_N = 1 << 13
EVIDENCE_FILE = "evidence.json"


@dataclasses.dataclass(frozen=True)
class RfssConfig:
    """Theorem 2 and Corollary 1 of Natale et al. 2024 by Monte Carlo."""

    ks: tuple[int, ...] = help_field((2, 4, 8), "subset sizes k of the Theorem 2 grid")
    epss: tuple[float, ...] = help_field((0.1, 0.03, 0.01), "accuracies eps of the Theorem 2 grid")
    c_hyps: tuple[float, ...] = help_field((0.5, 1.0, 2.0), "hypothesis constants c_hyp of the grid")
    z_fracs: tuple[float, ...] = help_field((0.0, 1.0), "fixed targets z = frac * sqrt(k)")
    trials: int = help_field(200, "trials per Theorem 2 cell")
    cor_ks: tuple[int, ...] = help_field((1, 2, 4), "subset sizes k of the Corollary 1 cells")
    cor_epss: tuple[float, ...] = help_field((0.2, 0.1), "accuracies eps (< 1/2) of the Corollary 1 cells")
    cor_trials: int = help_field(200, "calibration trials per Corollary 1 cell")
    cor_test_trials: int = help_field(200, "test trials per Corollary 1 cell")
    max_n: int = help_field(128, "longest candidate sequence of the Corollary 1 scan")
    seed: int = help_field(2, "test seed (1 was used to revise the rfss-thm2 rule: see its docstring)")
    calibration_seed: int = help_field(0, "calibration seed (Corollary 1's c_amp), disjoint from seed")


PRESETS = {
    "quick": RfssConfig(
        ks=(2, 4),
        epss=(0.1, 0.03),
        c_hyps=(1.0, 2.0),
        trials=60,
        cor_ks=(1, 2),
        cor_epss=(0.2,),
        cor_trials=60,
        cor_test_trials=60,
        max_n=40,
    ),
    "default": RfssConfig(),
    "full": RfssConfig(
        ks=(2, 4, 8, 16),
        epss=(0.1, 0.03, 0.01, 0.003),
        c_hyps=(0.5, 1.0, 1.5, 2.0, 3.0),
        trials=1000,
        cor_ks=(1, 2, 4, 8),
        cor_epss=(0.2, 0.1, 0.05),
        cor_trials=500,
        cor_test_trials=1000,
        max_n=48,
    ),
}


def _uniform(rng: np.random.Generator, shape: Any) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, shape)


# --------------------------------------------------------------------------------------------------
# Theorem 2
# --------------------------------------------------------------------------------------------------
def _thm2_cell(item: tuple) -> dict:
    seed, index, k, eps, c_hyp, z_frac, trials = item
    n = bounds.rfss_thm2_min_n(k, eps, c_hyp=c_hyp)
    row = {"k": k, "eps": eps, "c_hyp": c_hyp, "z_frac": z_frac, "n": n, "trials": trials}
    if not within_limit(n, k):
        return {**row, "hits": None, "limit": f"n = {n}: half-groups beyond {FIXED_MAX_HALF} (solver limit)"}
    x = _uniform(keyed_rng(seed, 2, index), (trials, n))
    z = np.full(trials, z_frac * math.sqrt(k))
    res = theory.best_subsets(x, z, size=k)
    return {**row, "hits": int(np.sum(res.errors < eps)), "limit": None}


def _thm2(cfg: RfssConfig, ctx: Context) -> list[dict]:
    items = []
    for k in cfg.ks:
        for eps in cfg.epss:
            for c_hyp in cfg.c_hyps:
                for z_frac in cfg.z_fracs:
                    items.append((cfg.seed, len(items), k, eps, c_hyp, z_frac, cfg.trials))
    return ctx.executor.map(_thm2_cell, items)


# --------------------------------------------------------------------------------------------------
# Corollary 1
# --------------------------------------------------------------------------------------------------
def _covered(x: np.ndarray, k: int, eps: float) -> tuple[bool, bool]:
    """``(covered, ambiguous)``: every z in [-sqrt k, sqrt k] within eps of a k-subset sum of ``x``."""
    if x.size < k:
        return False, False
    if math.comb(x.size, k) <= _EXACT_COVERAGE_SUBSETS:
        return theory.coverage_error(x, size=k) < eps, False
    tol = eps / 100.0
    e = theory.coverage_error(x, size=k, tol=tol)
    return e < eps, eps <= e < eps + tol  # certified: E_true <= e <= E_true + tol


def _covered_by_prefix(x: np.ndarray, k: int, eps: float) -> tuple[bool, bool]:
    """:func:`_covered` of ``x``, settled early when a prefix already covers (coverage is monotone)."""
    m = max(2 * k, 2)
    while m < x.size:
        if _covered(x[:m], k, eps)[0]:
            return True, False
        m *= 2
    return _covered(x, k, eps)


def _first_cover(x: np.ndarray, k: int, eps: float) -> int | None:
    """Smallest prefix length of ``x`` whose k-subsets cover the window (None: not even all of ``x``).

    Coverage is monotone in the prefix length (a longer prefix has more k-subsets), so the length is
    bracketed by doubling from ``2k`` (cheap: most trials cover early) and then bisected.
    """
    lo, hi = k - 1, max(2 * k, 2)  # a prefix shorter than k has no k-subset
    while not _covered(x[: min(hi, x.size)], k, eps)[0]:
        if hi >= x.size:
            return None
        lo, hi = hi, min(2 * hi, x.size)
    hi = min(hi, x.size)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _covered(x[:mid], k, eps)[0] else (mid, hi)
    return hi


def _cor_calibration_cell(item: tuple) -> dict:
    seed, index, k, eps, trials, max_n = item
    rng = keyed_rng(seed, 3, index)
    firsts = [_first_cover(_uniform(rng, max_n), k, eps) for _ in range(trials)]
    return {"k": k, "eps": eps, "trials": trials, "max_n": max_n, "first_cover": firsts}


def _cor_test_cell(item: tuple) -> dict:
    seed, index, k, eps, trials, n = item
    row = {"k": k, "eps": eps, "n": n, "trials": trials}
    if n > _MAX_TEST_N:
        return {**row, "successes": None, "ambiguous": None, "limit": f"n = {n} > {_MAX_TEST_N}"}
    rng = keyed_rng(seed, 4, index)
    outcomes = [_covered_by_prefix(_uniform(rng, n), k, eps) for _ in range(trials)]
    return {
        **row,
        "successes": sum(c for c, _ in outcomes),
        "ambiguous": sum(a for _, a in outcomes),
        "limit": None,
    }


def _cor1(cfg: RfssConfig, ctx: Context) -> dict:
    from theory.rules.rfss import cor1_constant

    cells = [(k, eps) for k in cfg.cor_ks for eps in cfg.cor_epss]
    cal_items = [
        (cfg.calibration_seed, i, k, eps, cfg.cor_trials, cfg.max_n) for i, (k, eps) in enumerate(cells)
    ]
    calibration = {"seed": cfg.calibration_seed, "cells": ctx.executor.map(_cor_calibration_cell, cal_items)}
    c_amp = cor1_constant(calibration)
    rows: list[dict] = []
    if c_amp is not None:
        test_items = [
            (cfg.seed, i, k, eps, cfg.cor_test_trials, bounds.rfss_cor1_min_n(k, eps, c_amp=c_amp))
            for i, (k, eps) in enumerate(cells)
        ]
        rows = ctx.executor.map(_cor_test_cell, test_items)
    return {"confidence": 0.95, "calibration": calibration, "test_seed": cfg.seed, "rows": rows}


def run_rfss(cfg: RfssConfig, rundir: RunDir, ctx: Context) -> dict:
    """Run both Monte Carlo designs and record their raw data (``evidence.json``, ``thm2.csv``)."""
    check_seeds(cfg.seed, cfg.calibration_seed)
    evidence = rundir.read_json(EVIDENCE_FILE) if rundir.exists(EVIDENCE_FILE) else {}
    if "rfss-thm2" not in evidence:
        evidence["rfss-thm2"] = {"confidence": 0.95, "seed": cfg.seed, "rows": _thm2(cfg, ctx)}
        rundir.write_json(EVIDENCE_FILE, evidence)
    if "rfss-cor1" not in evidence:
        evidence["rfss-cor1"] = _cor1(cfg, ctx)
        rundir.write_json(EVIDENCE_FILE, evidence)
    csv_rows = []
    for r in evidence["rfss-thm2"]["rows"]:
        lo, hi = (math.nan, math.nan) if r["hits"] is None else clopper_pearson(r["hits"], r["trials"], 0.95)
        csv_rows.append(
            {
                **r,
                "p": math.nan if r["hits"] is None else r["hits"] / r["trials"],
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    rundir.write_csv("thm2.csv", csv_rows, fieldnames=list(csv_rows[0]))
    return evidence


def rfss_evidence(rundir: RunDir) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{evidence_id: (rule_id, details)}``: ``rfss-thm2`` and ``rfss-cor1``, each decided by its rule."""
    if not rundir.exists(EVIDENCE_FILE):
        return {}
    return {eid: (eid, d) for eid, d in rundir.read_json(EVIDENCE_FILE).items()}


register_experiment(
    Experiment(
        "rfss",
        "fixed-size SubsetSum: Theorem 2 hit probability and Corollary 1 c_amp (Natale et al. 2024)",
        RfssConfig,
        PRESETS,
        run_rfss,
        rfss_evidence,
        ("rfss-thm2", "rfss-cor1"),
    )
)
