"""Benchmark of the Monte Carlo engine (a script, not a test).

    python benchmarks/bench_sim.py [--quick]

Prints four tables:

0. the coverage decision (``theory.coverage.coverage_decision``, batched) against the certified-estimate
   path it replaces in the PSSP scans (``coverage_error(tol = 0.1 eta)``, refined by 10x while the
   certificate straddles eta), on the figure's workload: product candidates, every z in [-1, 1], at
   perturbation 0 and eta; CPU seconds of this process per trial (the machine is shared), their ratio,
   and whether the answers agree (``--device cuda`` adds the torch path on that device);

1. coverage trials per second at n = 16, 20, 24 (exact) and 32, 40 (certified, tol = 0.1 eta) on one CPU
   worker, next to a brute-force baseline measured in the same run where it fits in memory: every one of
   the 2^n subset sums enumerated with a 0/1 matrix product, then the same gap scan;
2. the wall-clock speedup of the ``process`` executor from 1 to 2 workers on the same cells;
3. one Hessian-vector product's time as a multiple of one gradient (``networks.hvp``) on masked models.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

# Run from a source checkout without installing: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _brute_coverage(x: np.ndarray, lo: float, hi: float) -> float:
    """Baseline (p = 0): all 2^n sums by a 0/1 matrix product, sorted, then theory's gap scan."""
    from theory.coverage import _sup_distance
    from theory.oracle import all_masks

    sums = np.sort(all_masks(x.size).astype(np.float64) @ x)
    return _sup_distance(sums, sums, lo, hi)


def _certified_decide(x: np.ndarray, eta: float, p: float) -> bool | None:
    """The previous path: certified estimate, refined while its certificate cannot call the threshold."""
    import theory

    tol = 0.1 * eta
    while tol >= 1e-2 * eta:
        e = float(theory.coverage_error(x, perturbation=p, tol=tol))
        if e <= eta:
            return True
        if e - tol > eta:
            return False
        tol /= 10.0
    return None  # still ambiguous (reported by the old path, never guessed)


def _cpu(fn) -> tuple[float, object]:
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def decision_table(quick: bool, device: str | None) -> list[str]:
    from theory.coverage import coverage_decision

    rng = np.random.default_rng(0)
    lines = [
        "| eta | n | p/eta | certified s/trial | decision s/trial | ratio | agree | decision torch s/trial |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cases = [(1e-3, 22), (1e-4, 26), (1e-5, 29)]
    for eta, n in cases:
        t_old = 2 if (quick or eta < 1e-4) else 6
        t_new = 50 if quick else 200
        x = rng.uniform(0, 1, (t_new, n)) * rng.uniform(-1, 1, (t_new, n))
        for ratio in (0.0, 1.0):
            p = ratio * eta
            old_rows = x[:t_old]
            c_old, old = _cpu(lambda rows=old_rows, e=eta, p=p: [_certified_decide(r, e, p) for r in rows])
            c_new, new = _cpu(lambda x=x, e=eta, p=p: coverage_decision(x, e, perturbation=p).covered)
            agree = all(o is None or o == bool(v) for o, v in zip(old, new[:t_old], strict=True))
            torch_col = "not run"
            if device:
                coverage_decision(x[:4], eta, perturbation=p, device=device)  # warm-up
                t0 = time.perf_counter()
                got = coverage_decision(x, eta, perturbation=p, device=device).covered
                same = bool((got == new).all())
                torch_col = f"{(time.perf_counter() - t0) / t_new:.2e} (wall, same: {same})"
            per_old, per_new = c_old / t_old, c_new / t_new
            lines.append(
                f"| {eta:g} | {n} | {ratio:g} | {per_old:.3g} | {per_new:.3g} | {per_old / per_new:.0f}x "
                f"| {agree} | {torch_col} |"
            )
    return lines


def coverage_table(quick: bool) -> list[str]:
    from sim.cells import CellSpec, coverage_statistic, trial_inputs

    eta = 1e-3
    lines = [
        "| n | mode | trials | sim trials/s | brute-force trials/s | speedup |",
        "|---|------|--------|--------------|----------------------|---------|",
    ]
    for n in (16, 20, 24, 32, 40):
        mode = "exact" if n <= 24 else "certified"
        tol = 0.0 if mode == "exact" else 0.1 * eta
        trials = {16: 40, 20: 10, 24: 3, 32: 5, 40: 3}[n] // (2 if quick else 1) or 1
        spec = CellSpec("coverage", n, "uniform", -1.0, 1.0, tol=0.1 * eta)  # tol only names the stream
        xs = [trial_inputs(spec, t)[0] for t in range(trials)]
        try:
            t_sim = _timed(lambda xs=xs, tol=tol: [coverage_statistic(x, -1.0, 1.0, 0.0, tol) for x in xs])
            sim_rate = f"{trials / t_sim:.3g}"
        except (RuntimeError, ValueError) as err:
            sim_rate, t_sim = f"unavailable ({err})", None
        if n <= 20:
            t_bf = _timed(lambda xs=xs: [_brute_coverage(x, -1.0, 1.0) for x in xs])
            bf_rate = f"{trials / t_bf:.3g}"
            speed = f"{t_bf / t_sim:.2f}x" if t_sim else "n/a"
        else:
            bf_rate, speed = "not run (2^n x n matrix > memory)", "n/a"
        lines.append(f"| {n} | {mode} | {trials} | {sim_rate} | {bf_rate} | {speed} |")
    return lines


def workers_table(quick: bool) -> list[str]:
    from sim.cells import CellSpec, run_cells
    from sim.executors import get_executor

    specs = [CellSpec("coverage", n, "uniform", -1.0, 1.0, seed=s) for n in (14, 15, 16) for s in range(2)]
    trials = 40 if quick else 120
    lines = ["| workers | wall s (after pool start) | trials/s | speedup |", "|---|---|---|---|"]
    base = None
    results = {}
    for workers in (1, 2):
        with get_executor("process", workers) as ex:
            ex.map(abs, [0] * workers)  # start the pool outside the timing
            t = _timed(lambda ex=ex, w=workers: results.__setitem__(w, run_cells(specs, trials, executor=ex)))
        base = base or t
        lines.append(f"| {workers} | {t:.2f} | {len(specs) * trials / t:.3g} | {base / t:.2f}x |")
    same = all(np.array_equal(results[1][k].errors, results[2][k].errors) for k in results[1])
    lines.append(f"\nresults bit-identical between 1 and 2 workers: {same}")
    return lines


def hvp_table(quick: bool) -> list[str]:
    try:
        import torch

        from networks.hvp import hvp, loss_and_grad
        from networks.models import build_model
    except ImportError as err:
        return [f"HVP benchmark skipped: {err}"]
    lines = ["| model | batch | grad ms | HVP ms | HVP / grad |", "|---|---|---|---|---|"]
    cases = [("mlp", (40,), 256), ("fc2", (784,), 256)]
    for name, in_shape, batch in cases:
        gen = torch.Generator().manual_seed(0)
        model = build_model(name, in_shape=in_shape, num_classes=10, masked=True, density=0.5, generator=gen)
        x = torch.randn((batch, *in_shape), generator=gen)
        y = torch.randint(0, 10, (batch,), generator=gen)
        _, g = loss_and_grad(model, (x, y))
        reps = 3 if quick else 10
        t_g = _timed(lambda model=model, x=x, y=y: loss_and_grad(model, (x, y)), repeat=reps)
        t_h = _timed(lambda model=model, x=x, y=y, g=g: hvp(model, (x, y), g), repeat=reps)
        lines.append(f"| {name} | {batch} | {1e3 * t_g:.2f} | {1e3 * t_h:.2f} | {t_h / t_g:.2f} |")
    return lines


def main() -> None:
    """Run the four benchmarks and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials (a smoke run)")
    parser.add_argument("--skip-hvp", action="store_true", help="leave out the torch part")
    parser.add_argument("--device", default=None, help="torch device for the decision's torch row (cuda)")
    args = parser.parse_args()
    print("## Coverage decision vs certified estimate (CPU s of this process per trial; product, [-1, 1])\n")
    print("\n".join(decision_table(args.quick, args.device)))
    print("## Coverage trials/s (one CPU worker, eta = 1e-3 for the certified tol)\n")
    print("\n".join(coverage_table(args.quick)))
    print("\n## process executor, 1 vs 2 workers (n = 14..16 exact cells)\n")
    print("\n".join(workers_table(args.quick)))
    if not args.skip_hvp:
        print("\n## HVP cost relative to one gradient (CPU)\n")
        print("\n".join(hvp_table(args.quick)))


if __name__ == "__main__":
    main()
