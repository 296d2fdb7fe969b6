"""Epsilon-perturbed SubsetSum sweeps: pssp-min-n, xiong-thm1 and xiong-n90.

Source: Xiong, Liao, Kyrillidis, "Strong Lottery Ticket Hypothesis with epsilon-perturbation",
AISTATS 2023 (PMLR 206:6879-6902, arXiv:2210.16589): the PSSP experiment ("the number n such that 90%
of the randomly generated candidate sets with n elements give an eta approximation of z", poster) and
Theorem 1 in its three stated versions (AISTATS poster: failure probability
``exp(-(n-K)(1+eps)^2/(8(3-eps))) + exp(-K)`` for a 2-eta approximation of every z in [-1/2, 1/2] when
``n = O(log(1/eta)/(1+eps) + K)``; slides of 28 Apr 2023; OPT 2022 poster); theory.md §1.2 and §1.5.

The decision rules live in :mod:`theory.rules.pssp`; the producers here record the raw data they read.
Minimal-n measurements are paired (:mod:`sim.sweeps.paired`): every perturbation on the same candidate
sets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.cells import EXACT_MAX_N, CellSpec, run_cells
from sim.experiments import Context
from sim.sweeps.common import SweepOutcome, check_seeds, open_sweep, proportion_columns, save_evidence, track
from sim.sweeps.paired import PrefixSpec, run_paired
from sim.sweeps.rss import _check_etas, _check_ns
from theory.plumbing.progress import progress
from theory.plumbing.rundir import RunDir
from theory.rules import pssp as pssp_rules
from theory.stats import clopper_pearson
from theory.validate import check_choice, check_int, check_range


def _n90_row(curve: dict[str, list[int]], trials: int, level: float) -> dict[str, Any]:
    """n90 (point, interval) and the success counts at the point, from one paired curve."""
    got = pssp_rules.n90_interval(curve["certain"], curve["possible"], trials, level)
    n = got["n90"]
    row: dict[str, Any] = {"n_min": n if n is not None else "", "n90_low": got["low"] or ""}
    row["n90_high"] = got["high"] if got["high"] is not None else ""
    if n is None:
        return row | {"successes": "", "p": "", "ci_low": "", "ci_high": ""}
    c, pos = curve["certain"][n - 1], curve["possible"][n - 1]
    return row | {
        "successes": c,
        "p": c / trials,
        "ci_low": clopper_pearson(c, trials)[0],
        "ci_high": clopper_pearson(pos, trials)[1],
    }


#: The evidence ids written by ``pssp-min-n`` (each with the rule of the same name), from panel a.
PSSP_MIN_N_IDS = ("pssp-perturbation-helps", "pssp-perturbation-shape")


def parse_reading(text: str) -> tuple[str, str, float]:
    """``"distribution/statistic/r"`` -> ``(distribution, statistic, r)`` (the window is ``[-r, r]``).

    Raises:
        ValueError: If the text does not have three parts, names an unknown statistic or a bad ``r``.
    """
    parts = str(text).split("/")
    if len(parts) != 3:
        raise ValueError(f"readings must look like 'product/coverage/1' (distribution/statistic/r): {text!r}")
    dist, stat, r = parts
    check_choice("readings statistic", stat, ("coverage", "target"))
    try:
        half = float(r)
    except ValueError:
        raise ValueError(f"readings: r must be a number > 0 (window [-r, r]), got {text!r}") from None
    return dist, stat, check_range("readings r", half, 0.0, None, lo_open=True)


def _paired_block(spec, etas, ratios, trials, level, store, ctx, base_row):
    """Run one setup over ``etas x ratios`` (paired): its rows, evidence blocks, and whether it computed."""
    rows, blocks, computed = [], [], False
    for eta in etas:
        ps = [r * eta for r in ratios]
        res = run_paired(spec, trials, [eta], ps, executor=ctx.executor, store=store, quiet=ctx.quiet)
        computed |= res.computed
        curves = []
        for j, ratio in enumerate(ratios):
            curve = res.curve(0, j)
            curves.append({"ratio": ratio, "perturbation": ps[j], **curve})
            row = {**base_row, "eta": eta, "perturbation": ps[j], "ratio": ratio, "level": level}
            row |= _n90_row(curve, trials, level) | {"trials": trials, "n_start": 1, "paired": True}
            rows.append(row)
        blocks.append({"eta": eta, "trials": trials, "curves": curves})
    return rows, blocks, computed


def run_pssp_min_n(cfg: Any, rundir: RunDir, ctx: Context) -> SweepOutcome:
    """Minimal n at the success level vs perturbation/eta, paired, for the poster's setup and its readings.

    Panel a (the config's ``statistic``, ``distribution`` and window): for each eta the perturbations
    ``ratio * eta`` are measured on the same candidate sets (common random numbers), ``n = 1..n_max`` as
    prefixes of each trial's candidate sequence (:mod:`sim.sweeps.paired`, exact decisions). Per
    (eta, ratio) the row holds n90 (first n whose success rate reaches ``level``), its interval
    (:func:`theory.rules.pssp.n90_interval`: every n whose Clopper-Pearson interval contains the level)
    and the counts at n90. Panel b: the same for every entry of ``readings`` at ``reading_etas``.
    Evidence (panel a only): ``pssp-perturbation-helps`` and ``pssp-perturbation-shape``
    (:mod:`theory.rules.pssp`).

    An experiment runner (``run(cfg, rundir, ctx)``, :class:`sim.experiments.Experiment`), ``cfg`` a
    ``PsspMinNConfig``; returns the :class:`SweepOutcome`.
    """
    etas = _check_etas(cfg.etas)
    reading_etas = _check_etas(cfg.reading_etas, "reading_etas") if cfg.readings else []
    check_choice("statistic", cfg.statistic, ("target", "coverage"))
    level = check_range("level", cfg.level, 0.0, 1.0, lo_open=True, hi_open=True)
    ratios = sorted({check_range("ratios", r, 0.0, None) for r in cfg.ratios})
    trials = check_int("trials", cfg.trials, 1)
    readings = [parse_reading(r) for r in cfg.readings]
    store, outcome = open_sweep("pssp-min-n", rundir)
    setups = [("a", cfg.distribution, cfg.statistic, cfg.lo, cfg.hi, etas)]
    setups += [("b", d, st, -r, r, reading_etas) for d, st, r in readings]
    rows, blocks = [], []
    for panel, dist, stat, lo, hi, setup_etas in progress(setups, desc="pssp setups", quiet=ctx.quiet):
        spec = PrefixSpec(stat, dist, lo, hi, cfg.n_max, cfg.seed)
        base = {"panel": panel, "reading": f"{dist}/{stat}/[{lo:g},{hi:g}]", "statistic": stat}
        base |= {"distribution": dist, "lo": lo, "hi": hi}
        got, got_blocks, computed = _paired_block(spec, setup_etas, ratios, trials, level, store, ctx, base)
        rows += got
        if panel == "a":
            blocks = got_blocks
        (outcome.computed if computed else outcome.reused).add(spec.key())
    store.write_results(rows)
    outcome.rows = rows
    details = {
        "level": level,
        "statistic": cfg.statistic,
        "distribution": cfg.distribution,
        "window": [cfg.lo, cfg.hi],
        "seed": cfg.seed,
        "etas": blocks,
    }
    for claim in PSSP_MIN_N_IDS:
        save_evidence(outcome, rundir, claim, details)
    return outcome


def run_xiong_thm1(cfg: Any, rundir: RunDir, ctx: Context) -> SweepOutcome:
    """Theorem 1's failure bound vs the measured failure rate; evidence ``xiong-thm1-aistats.failure-bound``.

    Pre-registered design. Per n, eta is fixed on the calibration seed before any test trial: half the
    ``quantile`` (0.5) of the unperturbed coverage error on [-1/2, 1/2], so that the unperturbed success
    probability of a 2-eta approximation is about 1/2, strictly inside (0, 1). The perturbation is
    ``eps = ratio * eta`` with small ratios: a perturbation on the candidates' scale (0.1, 0.5) makes the
    error exactly 0 in almost every trial and tests nothing. At the test seed a trial fails when the
    perturbed coverage error exceeds ``2 eta``; each row compares the failure count with
    ``theory.bounds.xiong_thm1_failure_probability(n, eps, K)`` through the rule
    :func:`theory.rules.pssp.xiong_failure_bound` (violated: the whole Clopper-Pearson interval above the
    bound).

    An experiment runner (``run(cfg, rundir, ctx)``, :class:`sim.experiments.Experiment`), ``cfg`` a
    ``XiongThm1Config``; returns the :class:`SweepOutcome`.
    """
    from theory.bounds import xiong_thm1_failure_probability

    # The calibration quantile needs exact coverage errors: n up to the exact mode (a limit of this design).
    ns = [check_int("ns", n, 1, EXACT_MAX_N) for n in _check_ns(cfg.ns)]
    ratios = [check_range("ratios", r, 0.0, None) for r in cfg.ratios]
    Ks = [check_range("Ks", k, 0.0, None) for k in cfg.Ks]
    q = check_range("quantile", cfg.quantile, 0.0, 1.0, lo_open=True, hi_open=True)
    trials = check_int("trials", cfg.trials, 1)
    cal_trials = check_int("calibration_trials", cfg.calibration_trials, 1)
    check_seeds(cfg.seed, cfg.calibration_seed)
    store, outcome = open_sweep("xiong-thm1", rundir)
    executor, quiet = ctx.executor, ctx.quiet

    def spec(n: int, eps: float, seed: int) -> CellSpec:
        return CellSpec("coverage", n, cfg.distribution, -0.5, 0.5, eps, seed, 0.0)

    # 1. Calibration (seed calibration_seed, eps = 0): eta per n.
    cal_specs = {n: spec(n, 0.0, cfg.calibration_seed) for n in ns}
    cal = run_cells(list(cal_specs.values()), cal_trials, executor=executor, store=store, quiet=quiet)
    track(outcome, cal)
    eta_of = {n: float(np.quantile(cal[s.key()].errors, q)) / 2.0 for n, s in cal_specs.items()}
    # 2. Test cells (seed seed).
    plan = {(n, r): spec(n, r * eta_of[n], cfg.seed) for n in ns for r in ratios}
    thresholds = {s.key(): [2 * eta_of[n]] for (n, _), s in plan.items()}
    cells = run_cells(list(plan.values()), trials, thresholds=thresholds, executor=executor, store=store)
    track(outcome, cells)
    rows, det_rows = [], []
    for (n, r), s in plan.items():
        eta, eps = eta_of[n], s.perturbation
        _, f, a = cells[s.key()].counts(2 * eta)
        pc = proportion_columns(f, a, trials)  # failures, widened by the ambiguous ones
        for K in Ks:
            if K > n:
                continue
            bound = xiong_thm1_failure_probability(n, eps, K)
            det_rows.append(
                {"n": n, "eta": eta, "ratio": r, "perturbation": eps, "K": K}
                | {"failures": f, "ambiguous": a, "trials": trials}
            )
            rows.append(
                {
                    "n": n,
                    "eta": eta,
                    "ratio": r,
                    "perturbation": eps,
                    "K": K,
                    "bound": bound,
                    "failures": f,
                    "ambiguous": a,
                    "trials": trials,
                    "p_fail": pc["p"],
                    "ci_low": pc["ci_low"],
                    "ci_high": pc["ci_high"],
                    "vacuous": bool(not 0.0 < bound < 1.0),
                    "degenerate": bool(f == trials or f + a == 0),
                    "violated": bool(pc["ci_low"] > bound),
                    "link_C": n / (np.log(1.0 / eta) / (1.0 + eps) + K) if K < n else "",
                    "mode": "certified" if s.certified else "exact",
                }
            )
    store.write_results(rows)
    outcome.rows = rows
    details = {
        "calibration": {"seed": cfg.calibration_seed, "quantile": q, "trials": cal_trials},
        "seed": cfg.seed,
        "rows": det_rows,
    }
    save_evidence(outcome, rundir, "xiong-thm1-aistats.failure-bound", details)
    return outcome


#: The evidence ids written by ``xiong-n90`` (each with the rule of the same name).
XIONG_SHAPE_IDS = ("xiong-thm1-aistats.eps-dependence", "xiong-thm1-slides", "xiong-thm1-opt22")


def run_xiong_n90(cfg: Any, rundir: RunDir, ctx: Context) -> SweepOutcome:
    """Paired n90 vs the perturbation against the three versions of Theorem 1.

    Pre-registered design. Success: coverage error on [-1/2, 1/2] ``<= threshold``. Calibration seed,
    eps = 0: n90 per threshold fixes each version's constant C (its predicted n equals the calibration
    n90 at eps = 0). Test seed: every perturbation of the grid on the same candidate sets (paired), n90
    with its Clopper-Pearson interval. Rules (:func:`theory.rules.pssp.shape_verdict`): a version is
    contradicted where the measured n90 interval lies entirely above its predicted ``ceil(n(eps))``; an
    eps is resolvable where the prediction lies below the n90(0) interval. Evidence:
    ``xiong-thm1-aistats.eps-dependence``, ``xiong-thm1-slides``, ``xiong-thm1-opt22``.

    An experiment runner (``run(cfg, rundir, ctx)``, :class:`sim.experiments.Experiment`), ``cfg`` a
    ``XiongN90Config``; returns the :class:`SweepOutcome`.
    """
    thrs = _check_etas(cfg.thresholds, "thresholds")
    ps = sorted({check_range("perturbations", p, 0.0, None) for p in cfg.perturbations})
    if ps[0] != 0.0:
        raise ValueError("perturbations must include 0 (the paired baseline)")
    level = check_range("level", cfg.level, 0.0, 1.0, lo_open=True, hi_open=True)
    trials = check_int("trials", cfg.trials, 1)
    cal_trials = check_int("calibration_trials", cfg.calibration_trials, 1)
    check_seeds(cfg.seed, cfg.calibration_seed)
    store, outcome = open_sweep("xiong-n90", rundir)
    executor, quiet = ctx.executor, ctx.quiet
    test = PrefixSpec("coverage", cfg.distribution, cfg.lo, cfg.hi, cfg.n_max, cfg.seed)
    calib = PrefixSpec("coverage", cfg.distribution, cfg.lo, cfg.hi, cfg.n_max, cfg.calibration_seed)
    cal = run_paired(calib, cal_trials, thrs, [0.0], executor=executor, store=store, quiet=quiet)
    res = run_paired(test, trials, thrs, ps, executor=executor, store=store, quiet=quiet)
    for r, spec in ((cal, calib), (res, test)):
        (outcome.computed if r.computed else outcome.reused).add(spec.key())
    blocks, rows = [], []
    for i, thr in enumerate(thrs):
        cal_curve = cal.curve(i, 0)
        curves = [{"perturbation": p, **res.curve(i, j)} for j, p in enumerate(ps)]
        blocks.append(
            {
                "threshold": thr,
                "trials": trials,
                "calibration": {"trials": cal_trials, **cal_curve},
                "curves": curves,
            }
        )
        cal_n90 = pssp_rules.n90_interval(cal_curve["certain"], cal_curve["possible"], cal_trials, level)[
            "n90"
        ]
        base = _n90_row(curves[0], trials, level)["n_min"]
        for c in curves:
            row = {"threshold": thr, "perturbation": c["perturbation"], "level": level, "trials": trials}
            row |= _n90_row(c, trials, level)
            row["n90_ratio"] = row["n_min"] / base if row["n_min"] != "" and base != "" else ""
            row["calibration_n90"] = cal_n90 if cal_n90 is not None else ""
            for v in pssp_rules.VERSIONS:
                eta = thr / pssp_rules.APPROX[v]
                if cal_n90 is None:
                    row[f"predicted_{v}"] = ""
                    continue
                C = pssp_rules.calibrated_constant(v, eta, cal_n90)
                row[f"predicted_{v}"] = pssp_rules.predicted_n(v, eta, c["perturbation"], C)
            rows.append(row)
    store.write_results(rows)
    outcome.rows = rows
    details = {
        "level": level,
        "seed": cfg.seed,
        "calibration_seed": cfg.calibration_seed,
        "window": [cfg.lo, cfg.hi],
        "etas": blocks,
    }
    for claim in XIONG_SHAPE_IDS:
        save_evidence(outcome, rundir, claim, details)
    return outcome
