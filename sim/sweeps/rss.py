"""Random SubsetSum sweeps: rss-success, rss-constant and rss-per-target.

Sources: Lueker (1998), "Exponentially small bounds on the expected optimum of the partition and subset
sum problems", Random Structures & Algorithms 12(1):51-62, Corollary 2.5 [SECONDARY quote]; Pensia et
al. (NeurIPS 2020, arXiv:2006.07990), Corollary 3.3 form ``n >= C log(1/eps)`` and their code's
``n = 3 round(log2(1/eps))`` [PRIMARY code]; see theory.md §2.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

import theory
from sim.coverage import counting_start, lueker_implied_constant, make_spec, scan_min_n
from sim.distributions import get_distribution
from sim.engine import EXACT_MAX_N, CellSpec, default_tol, run_cells, trial_inputs
from sim.store import RunStore
from sim.sweeps.common import SweepOutcome, attach_evidence, proportion_columns, track
from theory.support.progress import progress
from theory.support.validate import check_int, check_range

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
def run_rss_success(cfg: Any, *, runs_root: str | Path, executor: Any, quiet: bool = True) -> SweepOutcome:
    """Success probability vs n for each eta and window; evidence for ``pensia-rss-log``.

    Evidence rule: Pensia et al.'s code uses ``n = 3 round(log2(1/eps))`` candidates and the Corollary 3.3
    form promises failure probability <= eps on [-1, 1] for U[-1, 1] candidates. For every uniform,
    window [-1, 1] row with ``n >= 3 round(log2(1/eta))`` the failure rate is compared with eta: the
    claim is *inconsistent* if the Clopper-Pearson interval of the certified failures lies entirely
    above eta in some row, *consistent* if at least one such row exists and none does, and
    *inconclusive* if no row reaches the code's n.

    Args:
        cfg: A ``RssSuccessConfig``.
        runs_root: The run root.
        executor: An open executor.
        quiet: Hide progress bars.

    Returns:
        The :class:`SweepOutcome`.
    """
    etas = _check_etas(cfg.etas)
    ns = _check_ns(cfg.ns)
    get_distribution(cfg.distribution)
    widths = [check_range("half_widths", r, 0.0, None, lo_open=True) for r in cfg.half_widths]
    store = RunStore(runs_root, "rss-success", cfg).open()
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
    outcome = SweepOutcome("rss-success", store.path, [])
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
    _pensia_evidence(outcome, runs_root, rows)
    return outcome


def _pensia_evidence(outcome: SweepOutcome, runs_root: str | Path, rows: list[dict]) -> None:
    from theory.stats import clopper_pearson

    tested, bad = [], []
    for row in rows:
        if row["distribution"] != "uniform" or row["lo"] != -1.0 or row["hi"] != 1.0 or row["perturbation"]:
            continue
        n_code = PENSIA_CODE_C * round(math.log2(1.0 / row["eta"]))
        if row["n"] < n_code:
            continue
        fail_low, fail_high = clopper_pearson(row["failures"], row["trials"])
        rec = {"eta": row["eta"], "n": row["n"], "failures": row["failures"], "trials": row["trials"]}
        rec.update(fail_ci_low=fail_low, fail_ci_high=fail_high)
        tested.append(rec)
        if fail_low > row["eta"]:
            bad.append(rec)
    if not tested:
        verdict = "inconclusive"
        summary = "no uniform [-1,1] row reaches Pensia's code count n = 3 round(log2(1/eta)); extend ns"
    elif bad:
        verdict = "inconsistent"
        summary = (
            f"failure rate CI lies above eta in {len(bad)} of {len(tested)} rows "
            "with n >= 3 round(log2(1/eta))"
        )
    else:
        verdict = "consistent"
        summary = (
            f"in all {len(tested)} rows with n >= 3 round(log2(1/eta)) the failure rate is compatible "
            "with <= eta (Clopper-Pearson 95%)"
        )
    attach_evidence(
        outcome, runs_root, "pensia-rss-log", verdict, summary, {"tested": tested, "violations": bad}
    )


# --------------------------------------------------------------------------------------------------
# rss-constant
# --------------------------------------------------------------------------------------------------
def _first_reaching(p: np.ndarray, level: float, censor: int) -> np.ndarray:
    # p: (..., k) success estimates over the scanned n; index of the first column >= level (censor if none).
    hit = p >= level
    first = np.argmax(hit, axis=-1)
    return np.where(hit.any(axis=-1), first, censor)


def run_rss_constant(cfg: Any, *, runs_root: str | Path, executor: Any, quiet: bool = True) -> SweepOutcome:
    """Empirical constant C in ``n = C log2(1/eta)``, with bootstrap intervals; evidence ``lueker-cor2.5``.

    Two criteria per eta: the smallest n whose estimated success probability reaches ``level`` (0.9),
    and the smallest n whose estimated failure probability is at most eta (level ``1 - eta``; only
    resolved when ``trials >= 1/eta``, flagged in the ``resolved`` column). Per eta, ``C = n_min /
    log2(1/eta)``; the fitted C is the least-squares slope through the origin ``sum n L / sum L^2``
    with ``L = log2(1/eta)``. Intervals: percentile bootstrap (each cell's trials resampled
    independently, the scan's decision rule re-applied, censored at ``n_last + 1``).
    Comparison columns: ``C_lueker``, the largest Lueker constant consistent with n_min at that level
    (:func:`sim.coverage.lueker_implied_constant`, natural log as in Corollary 2.5), and Pensia's code
    constant 3 (base-2 log).

    Evidence rule for ``lueker-cor2.5`` (Lueker's C is never given numerically, so only the shape can be
    tested): *consistent* when the implied constants at level 0.9 over >= 3 etas agree within a factor 2
    (one constant explains n_min ~ log(1/eta)); *inconsistent* when they grow monotonically with
    log(1/eta) by more than a factor 3 (super-logarithmic growth); *inconclusive* otherwise.

    Args:
        cfg: A ``RssConstantConfig``.
        runs_root: The run root.
        executor: An open executor.
        quiet: Hide progress bars.

    Returns:
        The :class:`SweepOutcome`.
    """
    etas = _check_etas(cfg.etas)
    level = check_range("level", cfg.level, 0.0, 1.0, lo_open=True, hi_open=True)
    check_int("resamples", cfg.resamples, 10)
    store = RunStore(runs_root, "rss-constant", cfg).open()
    outcome = SweepOutcome("rss-constant", store.path, [])
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
    _lueker_evidence(outcome, runs_root, per_eta["level"], level)
    return outcome


def _lueker_evidence(outcome: SweepOutcome, runs_root: str | Path, rows: list[dict], level: float) -> None:
    pts = [(r["eta"], r["C_lueker"]) for r in rows if r["C_lueker"] != ""]
    pts.sort(key=lambda t: -t[0])  # increasing log(1/eta)
    cs = [c for _, c in pts]
    details = {"level": level, "implied_C": [{"eta": e, "C": c} for e, c in pts]}
    edge = 8.0 * math.log(1.0 / (1.0 - level))  # below this n the bound is < level for every C > 0
    if len(cs) < 3 or min(cs) <= 0:
        verdict = "inconclusive"
        c_lo, c_hi = (min(cs), max(cs)) if cs else (math.nan, math.nan)
        summary = (
            f"untestable here: at n_min < 8 ln(1/(1-{level})) = {edge:.1f} Lueker's bound stays below "
            f"{level} for every C > 0 (implied C {c_lo:.3g}..{c_hi:.3g}); use smaller eta"
        )
    elif max(cs) / min(cs) <= 2.0:
        verdict = "consistent"
        summary = (
            f"one constant fits: implied Lueker C in [{min(cs):.3g}, {max(cs):.3g}] over {len(cs)} etas "
            f"(n_min at success level {level} grows like log(1/eta))"
        )
    elif all(b >= a for a, b in itertools.pairwise(cs)) and max(cs) / min(cs) > 3.0:
        verdict = "inconsistent"
        summary = f"implied Lueker C grows with log(1/eta) from {min(cs):.3g} to {max(cs):.3g}"
    else:
        verdict = "inconclusive"
        summary = f"implied Lueker C varies in [{min(cs):.3g}, {max(cs):.3g}] without a clear trend"
    attach_evidence(outcome, runs_root, "lueker-cor2.5", verdict, summary, details)


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


def run_rss_per_target(cfg: Any, *, runs_root: str | Path, executor: Any, quiet: bool = True) -> SweepOutcome:
    """One fixed target: failure rate, mean best error, and the smallest sufficient subset vs n.

    For each n and trial, ``theory.best_subsets`` gives the minimal error and, with ``max_error=eta``,
    the fewest candidates reaching error <= eta (the sparsest ticket for that weight). Failure means
    minimal error > eta; subset sizes are averaged over successful trials.

    Args:
        cfg: A ``RssPerTargetConfig``.
        runs_root: The run root.
        executor: An open executor.
        quiet: Hide progress bars.

    Returns:
        The :class:`SweepOutcome` (no ledger claim: this sweep describes tickets, it tests no bound).
    """
    from theory.stats import clopper_pearson

    etas = _check_etas(cfg.etas)
    ns = _check_ns(cfg.ns)
    z = check_range("target", cfg.target)
    trials = check_int("trials", cfg.trials, 1)
    store = RunStore(runs_root, "rss-per-target", cfg).open()
    outcome = SweepOutcome("rss-per-target", store.path, [])
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
