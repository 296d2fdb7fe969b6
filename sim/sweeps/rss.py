"""Random SubsetSum sweeps: rss-success, rss-constant and rss-per-target.

Sources: Lueker (1998), "Exponentially small bounds on the expected optimum of the partition and subset
sum problems", Random Structures & Algorithms 12(1):51-62, Corollary 2.5 [SECONDARY quote]; Pensia et
al. (NeurIPS 2020, arXiv:2006.07990), Corollary 3.3 form ``n >= C log(1/eps)`` and their code's
``n = 3 round(log2(1/eps))`` [PRIMARY code]; see theory.md §2.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict
from typing import Any

import numpy as np

import theory
from sim.cells import EXACT_MAX_N, CellSpec, default_tol, run_cells, trial_inputs
from sim.distributions import get_distribution
from sim.experiments import Context
from sim.monte_carlo import counting_start, lueker_implied_constant, make_spec, scan_min_n
from sim.sweeps.common import SweepOutcome, check_seeds, open_sweep, proportion_columns, save_evidence, track
from theory.plumbing.progress import progress
from theory.plumbing.rundir import RunDir
from theory.validate import check_int, check_range

#: The multiplier of Pensia et al.'s code, ``n = 3 round(log2(1/eps))`` (acnagle/optimal-lottery-tickets).
PENSIA_CODE_C = 3


def _check_etas(etas: Any, name: str = "etas") -> list[float]:
    etas = [check_range(name, e, 0.0, 1.0, lo_open=True, hi_open=True) for e in etas]
    if not etas:
        raise ValueError(f"{name} must hold at least one accuracy in (0, 1)")
    return etas


def _check_ns(ns: Any) -> list[int]:
    ns = [check_int("ns", n, 1, 64) for n in ns]
    if not ns:
        raise ValueError("ns must hold at least one candidate count in [1, 64]")
    return ns


# --------------------------------------------------------------------------------------------------
# rss-success
# --------------------------------------------------------------------------------------------------
def run_rss_success(cfg: Any, rundir: RunDir, ctx: Context) -> SweepOutcome:
    """Success probability vs n for each eta and window; evidence for ``pensia-rss-log``.

    Evidence ``pensia-rss-log`` (rule :func:`theory.rules.rss.pensia_rss_log`, stated before the data):
    the restated C is calibrated on ``calibration_seed``, then ``test_trials`` trials at ``seed`` are run
    at ``n = ceil(3 log2(1/eta))`` (code form, C from the source) and ``n = ceil(C log(2/eta))`` (restated
    form) for every ``test_etas`` entry; see :func:`_pensia_evidence`. The success-vs-n grid above is the
    figure's data, not the evidence.

    An experiment runner (``run(cfg, rundir, ctx)``, :class:`sim.experiments.Experiment`), ``cfg`` a
    ``RssSuccessConfig``; returns the :class:`SweepOutcome`.
    """
    etas = _check_etas(cfg.etas)
    ns = _check_ns(cfg.ns)
    get_distribution(cfg.distribution)
    widths = [check_range("half_widths", r, 0.0, None, lo_open=True) for r in cfg.half_widths]
    store, outcome = open_sweep("rss-success", rundir)
    executor, quiet = ctx.executor, ctx.quiet
    tol = default_tol(etas)
    specs = {
        (r, n): CellSpec(
            "coverage",
            n,
            cfg.distribution,
            -r,
            r,
            cfg.perturbation,
            cfg.seed,
            tol if n > EXACT_MAX_N else 0.0,
        )
        for r in widths
        for n in ns
    }
    cells = run_cells(
        list(specs.values()), cfg.trials, thresholds=etas, executor=executor, store=store, quiet=quiet
    )
    track(outcome, cells)
    rows = []
    for (r, n), spec in specs.items():
        c = cells[spec.key()]
        for eta in etas:
            s, f, a = c.counts(eta)
            rows.append(
                {
                    "distribution": cfg.distribution,
                    "lo": -r,
                    "hi": r,
                    "eta": eta,
                    "n": n,
                    "perturbation": cfg.perturbation,
                    "successes": s,
                    "trials": cfg.trials,
                    **proportion_columns(s, a, cfg.trials),
                    "failures": f,
                    "ambiguous": a,
                    "mode": "certified" if spec.certified else "exact",
                }
            )
    store.write_results(rows)
    outcome.rows = rows
    _pensia_evidence(cfg, outcome, rundir, store, executor)
    return outcome


def _pensia_evidence(
    cfg: Any, outcome: SweepOutcome, rundir: RunDir, store: Any, executor: Any
) -> None:
    """Calibrate the restated C, then measure failures at ``n = ceil(bound(eta, C))`` (both forms).

    Pre-registered (the rule is :func:`theory.rules.rss.pensia_rss_log`): calibration seed
    ``calibration_seed``, window [-1, 1]: for every test eta with ``calibration_trials * eta >= 1`` the
    smallest n whose measured failure rate is <= eta (:func:`sim.monte_carlo.scan_min_n` at level
    ``1 - eta``); C = the smallest constant with ``C log(2/eta) >= n`` at all of them. Test seed ``seed``:
    ``test_trials`` trials at the code form's ``n = ceil(3 log2(1/eta))`` and the restated form's
    ``n = ceil(C log(2/eta))`` for every test eta.
    """
    from theory.rules import rss as rules

    etas = _check_etas(cfg.test_etas, "test_etas")
    t_test = check_int("test_trials", cfg.test_trials, 1)
    t_cal = check_int("calibration_trials", cfg.calibration_trials, 1)
    check_seeds(cfg.seed, cfg.calibration_seed)
    base = {"distribution": cfg.distribution, "lo": -1.0, "hi": 1.0, "seed": cfg.calibration_seed}
    cal = []
    for eta in etas:
        if t_cal * eta < 1.0:
            continue  # a failure rate <= eta is not resolved with fewer than 1/eta trials
        scan = scan_min_n(
            eta, level=1.0 - eta, trials=t_cal, base=base, executor=executor, store=store, n_max=64
        )
        cal.append({"eta": eta, "n_min": scan.n_min})
    calibration = {"seed": cfg.calibration_seed, "trials": t_cal, "etas": cal}
    consts = rules.pensia_constants({"calibration": calibration})
    plan = []
    for form, C in consts.items():
        if C is None:
            continue
        for eta in etas:
            n = math.ceil(rules._pensia_n(form, eta, C) - 1e-9)
            if n > 64:
                continue  # beyond the certified solver's range: a limit of the design, not a failure
            plan.append((form, eta, n, make_spec(n, eta, distribution=cfg.distribution, seed=cfg.seed)))
    cells = run_cells(
        [s for *_, s in plan],
        t_test,
        thresholds={s.key(): [eta] for _, eta, _, s in plan},
        executor=executor,
        store=store,
    )
    track(outcome, cells)
    rows = []
    for form, eta, n, s in plan:
        _, f, a = cells[s.key()].counts(eta)
        rows.append({"form": form, "eta": eta, "n": n, "failures": f, "ambiguous": a, "trials": t_test})
    details = {"distribution": cfg.distribution, "seed": cfg.seed, "calibration": calibration, "rows": rows}
    save_evidence(outcome, rundir, "pensia-rss-log", details)


# --------------------------------------------------------------------------------------------------
# rss-constant
# --------------------------------------------------------------------------------------------------
def _first_reaching(p: np.ndarray, level: float, censor: int) -> np.ndarray:
    # p: (..., k) success estimates over the scanned n; index of the first column >= level (censor if none).
    hit = p >= level
    first = np.argmax(hit, axis=-1)
    return np.where(hit.any(axis=-1), first, censor)


def run_rss_constant(cfg: Any, rundir: RunDir, ctx: Context) -> SweepOutcome:
    """Empirical constant C in ``n = C log2(1/eta)``, with bootstrap intervals; evidence ``lueker-cor2.5``.

    Two criteria per eta: the smallest n whose estimated success probability reaches ``level`` (0.9),
    and the smallest n whose estimated failure probability is at most eta (level ``1 - eta``; only
    resolved when ``trials >= 1/eta``, flagged in the ``resolved`` column). Per eta, ``C = n_min /
    log2(1/eta)``; the fitted C is the least-squares slope through the origin ``sum n L / sum L^2``
    with ``L = log2(1/eta)``. Intervals: percentile bootstrap (each cell's trials resampled
    independently, the scan's decision rule re-applied, censored at ``n_last + 1``).
    Comparison columns: ``C_lueker``, the largest Lueker constant consistent with n_min at that level
    (:func:`sim.monte_carlo.lueker_implied_constant`, natural log as in Corollary 2.5), and Pensia's code
    constant 3 (base-2 log).

    Evidence ``lueker-cor2.5`` (rule :func:`theory.rules.rss.lueker_cor25`, stated before the data): C
    calibrated on ``calibration_seed`` from n90 at ``lueker_etas``, then ``lueker_trials`` trials at
    ``seed`` at the solved ``n = ceil(lueker_min_n(eta, 1 - level, C))``; see :func:`_lueker_evidence`.

    An experiment runner (``run(cfg, rundir, ctx)``, :class:`sim.experiments.Experiment`), ``cfg`` a
    ``RssConstantConfig``; returns the :class:`SweepOutcome`.
    """
    etas = _check_etas(cfg.etas)
    level = check_range("level", cfg.level, 0.0, 1.0, lo_open=True, hi_open=True)
    check_int("resamples", cfg.resamples, 10)
    store, outcome = open_sweep("rss-constant", rundir)
    executor, quiet = ctx.executor, ctx.quiet
    base = {"distribution": cfg.distribution, "lo": cfg.lo, "hi": cfg.hi, "seed": cfg.seed}
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(0x5EED, 1)))
    criteria = {"level": lambda eta: level, "fail<=eta": lambda eta: max(level, 1.0 - eta)}
    per_eta: dict[str, list[dict]] = {c: [] for c in criteria}
    reps: dict[str, list[np.ndarray]] = {c: [] for c in criteria}
    for eta in progress(etas, desc="etas", quiet=quiet):
        scan = scan_min_n(
            eta,
            level=max(level, 1.0 - eta),
            trials=cfg.trials,
            base=base,
            executor=executor,
            store=store,
            n_max=cfg.n_max,
            quiet=True,
        )
        specs = [make_spec(r.n, eta, **base) for r in scan.scanned]
        cells = run_cells(specs, cfg.trials, thresholds=[eta], executor=executor, store=store)
        track(outcome, cells)
        ns = np.array([s.n for s in specs])
        # Ambiguous trials count as failures in the bootstrap (conservative; they are reported).
        succ = np.stack([cells[s.key()].errors <= eta for s in specs])  # (k, T)
        boot_p = np.stack(
            [
                succ[j][rng.integers(0, cfg.trials, size=(cfg.resamples, cfg.trials))].mean(axis=1)
                for j in range(len(specs))
            ],
            axis=1,
        )  # (B, k)
        L = math.log2(1.0 / eta)
        for crit, lvl_of in criteria.items():
            lvl = lvl_of(eta)
            hit = [r for r in scan.scanned if r.p >= lvl]
            first = hit[0] if hit else None
            idx = _first_reaching(boot_p, lvl, len(specs))
            n_b = np.where(idx < len(specs), ns[np.minimum(idx, len(specs) - 1)], ns[-1] + 1).astype(float)
            reps[crit].append(n_b)
            c_b = n_b / L
            row = {
                "scope": "eta",
                "distribution": cfg.distribution,
                "lo": cfg.lo,
                "hi": cfg.hi,
                "criterion": crit,
                "level": lvl,
                "eta": eta,
                "log2_inv_eta": L,
                "n_min": first.n if first else "",
                "C": first.n / L if first else "",
                "C_low": float(np.quantile(c_b, 0.025, method="lower")),
                "C_high": float(np.quantile(c_b, 0.975, method="higher")),
                "C_lueker": lueker_implied_constant(first.n, eta, lvl) if first else "",
                "C_pensia_code": PENSIA_CODE_C,
                "n_pensia_code": PENSIA_CODE_C * round(L),
                "n_start": counting_start(eta, cfg.lo, cfg.hi, 0.0),
                "successes": first.successes if first else "",
                "trials": cfg.trials,
                "p": first.p if first else "",
                "ci_low": first.ci_low if first else "",
                "ci_high": first.ci_high if first else "",
                "resolved": bool(crit == "level" or cfg.trials * eta >= 1.0),
            }
            per_eta[crit].append(row)
    rows = []
    Ls = np.array([math.log2(1.0 / e) for e in etas])
    for crit in criteria:
        rows.extend(per_eta[crit])
        found = [r for r in per_eta[crit] if r["n_min"] != ""]
        n_hat = np.array([r["n_min"] for r in found], dtype=float)
        L_hat = np.array([r["log2_inv_eta"] for r in found])
        boot = np.stack(reps[crit], axis=1)  # (B, n_etas)
        fit_b = (boot * Ls).sum(axis=1) / (Ls**2).sum()
        rows.append(
            {
                "scope": "fit",
                "distribution": cfg.distribution,
                "lo": cfg.lo,
                "hi": cfg.hi,
                "criterion": crit,
                "C": float((n_hat * L_hat).sum() / (L_hat**2).sum()) if found else "",
                "C_low": float(np.quantile(fit_b, 0.025, method="lower")),
                "C_high": float(np.quantile(fit_b, 0.975, method="higher")),
                "C_pensia_code": PENSIA_CODE_C,
                "trials": cfg.trials,
            }
        )
    store.write_results(rows)
    outcome.rows = rows
    _lueker_evidence(cfg, outcome, rundir, store, executor)
    return outcome


def _lueker_evidence(
    cfg: Any, outcome: SweepOutcome, rundir: RunDir, store: Any, executor: Any
) -> None:
    """Calibrate Lueker's C, then measure success at ``n = ceil(lueker_min_n(eta, 1 - level, C))``.

    Pre-registered (the rule is :func:`theory.rules.rss.lueker_cor25`): window [-1/2, 1/2], U[-1, 1]
    as in Corollary 2.5. Calibration seed: n90 per ``lueker_etas`` (:func:`sim.monte_carlo.scan_min_n` at
    ``level``); C = the smallest constant whose solved bound is >= every calibration n90. Test seed:
    ``lueker_trials`` trials at the solved n for every eta.
    """
    from theory.bounds import lueker_min_n
    from theory.rules import rss as rules

    etas = _check_etas(cfg.lueker_etas, "lueker_etas")
    trials = check_int("lueker_trials", cfg.lueker_trials, 1)
    check_seeds(cfg.seed, cfg.calibration_seed)
    base = {"distribution": "uniform", "lo": -0.5, "hi": 0.5, "seed": cfg.calibration_seed}
    cal = []
    for eta in etas:
        scan = scan_min_n(
            eta, level=cfg.level, trials=trials, base=base, executor=executor, store=store, n_max=64
        )
        cal.append({"eta": eta, "n90": scan.n_min})
    calibration = {"seed": cfg.calibration_seed, "trials": trials, "etas": cal}
    C = rules.lueker_constant(calibration, cfg.level)
    plan = []
    for eta in etas if C is not None else []:
        n = math.ceil(lueker_min_n(eta, 1.0 - cfg.level, C=C) - 1e-9)
        if n <= 64:
            plan.append((eta, n, make_spec(n, eta, lo=-0.5, hi=0.5, seed=cfg.seed)))
    cells = run_cells(
        [s for *_, s in plan],
        trials,
        thresholds={s.key(): [e] for e, _, s in plan},
        executor=executor,
        store=store,
    )
    track(outcome, cells)
    rows = []
    for eta, n, s in plan:
        succ, _, a = cells[s.key()].counts(eta)
        rows.append({"eta": eta, "n": n, "successes": succ, "ambiguous": a, "trials": trials})
    details = {"level": cfg.level, "seed": cfg.seed, "calibration": calibration, "rows": rows}
    save_evidence(outcome, rundir, "lueker-cor2.5", details)


# --------------------------------------------------------------------------------------------------
# rss-per-target
# --------------------------------------------------------------------------------------------------
def _batch_errors_and_sizes(
    x: np.ndarray, z: float, p: float, etas: list[float]
) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    targets = np.full(x.shape[0], z)
    runs = [theory.best_subsets(x, targets, perturbation=p)]
    runs += [theory.best_subsets(x, targets, perturbation=p, max_error=e) for e in etas]
    if not all(np.all(r.exact) for r in runs):
        raise RuntimeError(f"rss-per-target: n = {x.shape[1]} is beyond theory.best_subsets' exact limits")
    sizes = {e: np.asarray(r.sizes) for e, r in zip(etas, runs[1:], strict=True)}
    return np.asarray(runs[0].errors, dtype=np.float64), sizes


def per_target_chunk(task: tuple[dict, int, int, float, list[float]]) -> dict[str, Any]:
    """Worker entry point: best error and smallest sufficient subset sizes for trials ``[a, b)``.

    Args:
        task: ``(spec dict, start, stop, target, etas)``.

    Returns:
        ``{"errors": [...], "sizes": {str(eta): [...]}}``.
    """
    spec_d, a, b, z, etas = task
    spec = CellSpec(**spec_d)
    x = np.stack([trial_inputs(spec, t)[0] for t in range(a, b)])
    err, sizes = _batch_errors_and_sizes(x, z, spec.perturbation, etas)
    return {"errors": err.tolist(), "sizes": {repr(e): sizes[e].astype(int).tolist() for e in etas}}


def run_rss_per_target(cfg: Any, rundir: RunDir, ctx: Context) -> SweepOutcome:
    """One fixed target: failure rate, mean best error, and the smallest sufficient subset vs n.

    For each n and trial, ``theory.best_subsets`` gives the minimal error and, with ``max_error=eta``,
    the fewest candidates reaching error <= eta (the sparsest ticket for that weight). Failure means
    minimal error > eta; subset sizes are averaged over successful trials.

    Args:
        cfg: A ``RssPerTargetConfig``.
        rundir: Its run directory (opened by :meth:`sim.experiments.Experiment.execute`).
        ctx: The executor and progress setting (:class:`sim.experiments.Context`).

    Returns:
        The :class:`SweepOutcome` (no ledger claim: this sweep describes tickets, it tests no bound).
    """
    from theory.stats import clopper_pearson

    etas = _check_etas(cfg.etas)
    ns = _check_ns(cfg.ns)
    z = check_range("target", cfg.target)
    trials = check_int("trials", cfg.trials, 1)
    store, outcome = open_sweep("rss-per-target", rundir)
    executor = ctx.executor
    tag = hashlib.sha256(json.dumps([z, etas]).encode()).hexdigest()[:8]
    specs = {n: CellSpec("target", n, cfg.distribution, -1.0, 1.0, cfg.perturbation, cfg.seed) for n in ns}
    records: dict[int, dict] = {}
    tasks = []
    for n, spec in specs.items():
        key = f"{spec.key()}-pt{tag}"
        rec = store.load_cell(key)
        if rec is not None and rec["trials"] >= trials:
            records[n] = rec
            outcome.reused.add(key)
            continue
        size = 64
        tasks.extend(
            (n, key, (asdict(spec), s, min(s + size, trials), z, etas)) for s in range(0, trials, size)
        )
    results = executor.map(per_target_chunk, [t for *_, t in tasks])
    for n in {t[0] for t in tasks}:
        key = next(k for m, k, _ in tasks if m == n)
        chunks = [r for (m, _, _), r in zip(tasks, results, strict=True) if m == n]
        rec = {
            "trials": trials,
            "errors": [e for c in chunks for e in c["errors"]],
            "sizes": {repr(e): [s for c in chunks for s in c["sizes"][repr(e)]] for e in etas},
        }
        store.save_cell(key, rec)
        records[n] = rec
        outcome.computed.add(key)
    rows = []
    for n in ns:
        rec = records[n]
        err = np.asarray(rec["errors"][:trials])
        for eta in etas:
            size = np.asarray(rec["sizes"][repr(eta)][:trials])
            ok = err <= eta
            fails = int((~ok).sum())
            low, high = clopper_pearson(fails, trials)
            rows.append(
                {
                    "distribution": cfg.distribution,
                    "target": z,
                    "eta": eta,
                    "n": n,
                    "perturbation": cfg.perturbation,
                    "failures": fails,
                    "trials": trials,
                    "p_fail": fails / trials,
                    "ci_low": low,
                    "ci_high": high,
                    "mean_error": float(err.mean()),
                    "median_error": float(np.median(err)),
                    "mean_subset_size": float(size[ok].mean()) if ok.any() else "",
                    "median_subset_size": float(np.median(size[ok])) if ok.any() else "",
                }
            )
    store.write_results(rows)
    outcome.rows = rows
    return outcome
