"""Benchmark of the exact and certified SubsetSum solvers in ``theory`` (a script, not a test).

Usage::

    python benchmarks/bench_theory.py            # full run (several minutes on 2 cores)
    python benchmarks/bench_theory.py --quick    # smaller sizes, under a minute

Prints one table:

1. ``best_subset`` (meet-in-the-middle) for n = 20..44, against brute-force enumeration of all 2^n sums
   measured in the same run up to n = 24 and extrapolated (x2 per extra candidate) beyond, labelled so.
2. ``coverage_error`` exact (tol = 0) vs certified (tol > 0) for n = 16..24, and certified alone up to
   n = 64 at tol 1e-4 and 1e-6.
3. ``best_subsets`` (float64 exact) throughput on the Pensia workload (397,000 problems, n = 21,
   candidates U[0,1] * U[-1,1], targets U[-0.5, 0.5]) next to the float32 search alone (the prune pass,
   labelled "float32 search, not exact") measured in the same run, with how many rows that pass alone
   gets wrong; the fewest-candidates mode (e = 0.01 and e = 1e-6 on all rows); torch-cpu on a
   subsample, CUDA when available; the ratio against a per-row brute force measured on a subsample.

Every row gives wall-clock seconds and process CPU seconds (all threads); on a shared machine the CPU
time is the steadier number. ``--only batched`` runs section 3 alone; ``--baseline CHECKOUT`` first times
``best_subsets`` of this tree against that checkout's on 40,000 Pensia rows (alternating processes, one
thread each, minimum CPU time of three), the side-by-side speed-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from theory import best_subset, best_subsets, coverage_error
from theory.subset_sum.engine import _canonical, float32_search

ROWS: list[tuple[str, str, str, str, str, str]] = []
#: Process CPU seconds of the latest :func:`timed` call (all threads; steadier than wall time on a
#: shared machine, since time spent descheduled is not counted).
LAST_CPU = [0.0]


def row(section: str, case: str, seconds: float | None, rate: str, note: str = "") -> None:
    cpu = "-" if seconds is None else f"{LAST_CPU[0]:.3f}"
    ROWS.append((section, case, "-" if seconds is None else f"{seconds:.3f}", cpu, rate, note))
    print(f"  {section:<14} {case:<36} {ROWS[-1][2]:>9} {cpu:>9}  {rate:<22} {note}", flush=True)


def timed(fn, *args, **kwargs):
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    LAST_CPU[0] = time.process_time() - cpu
    return out, time.perf_counter() - start


def brute_best_error(x: np.ndarray, z: float) -> float:
    """Minimal |sum - z| over all 2^n subsets by plain enumeration (vectorised doubling)."""
    sums = np.zeros(1)
    for v in x:
        sums = np.concatenate([sums, sums + v])
    return float(np.abs(sums - z).min())


def bench_best_subset(quick: bool, rng: np.random.Generator) -> None:
    sizes = range(20, 37, 4) if quick else range(20, 45, 4)
    brute_max = 22 if quick else 24
    t_brute_ref = None
    for n in sizes:
        x = rng.uniform(-1, 1, n)
        res, t = timed(best_subset, x, 0.3)
        if n <= brute_max:
            err, tb = timed(brute_best_error, x, 0.3)
            assert abs(err - res.error) <= 1e-12, (err, res.error)
            t_brute_ref, n_ref = tb, n
            row("best_subset", f"n={n} p=0", t, f"x{tb / t:,.0f} vs brute", f"brute {tb:.3f}s measured")
        else:
            tb = t_brute_ref * 2.0 ** (n - n_ref)
            row("best_subset", f"n={n} p=0", t, f"x{tb / t:,.0f} vs brute", f"brute ~{tb:.0f}s EXTRAPOLATED")
    for n in (30, 40) if not quick else (30,):
        x = rng.uniform(-1, 1, n)
        _, t = timed(best_subset, x, 0.3, perturbation=0.01)
        row("best_subset", f"n={n} p=0.01", t, "")


def bench_coverage(quick: bool, rng: np.random.Generator) -> None:
    for n in (16, 20) if quick else (16, 20, 24):
        x = rng.uniform(-1, 1, n)
        exact, te = timed(coverage_error, x)
        cert, tc = timed(coverage_error, x, tol=1e-6)
        assert exact <= cert <= exact + 1e-6
        row("coverage", f"n={n} exact", te, f"E={exact:.3e}")
        row("coverage", f"n={n} certified tol=1e-6", tc, f"E={cert:.3e}", f"x{te / tc:.1f} vs exact")
    grid = [(32, 1e-4), (64, 1e-4)] if quick else [(n, tol) for n in (32, 48, 64) for tol in (1e-4, 1e-6)]
    for n, tol in grid:
        x = rng.uniform(-1, 1, n)
        cert, tc = timed(coverage_error, x, tol=tol)
        row("coverage", f"n={n} certified tol={tol:g}", tc, f"E<={cert:.3e}")


def bench_batched(quick: bool, rng: np.random.Generator) -> None:
    m = 20_000 if quick else 397_000
    n = 21
    x = rng.uniform(0, 1, (m, n)) * rng.uniform(-1, 1, (m, n))
    z = rng.uniform(-0.5, 0.5, m)
    print(f"  load average before the Pensia workload: {os.getloadavg()}", flush=True)
    sub = 8
    per_row = []
    cpu_brute = 0.0
    for r in range(sub):
        _, t = timed(brute_best_error, x[r], z[r])
        per_row.append(t)
        cpu_brute += LAST_CPU[0]
    LAST_CPU[0] = cpu_brute
    brute_rate = 1.0 / float(np.mean(per_row))
    row("best_subsets", f"brute force, {sub} rows", float(np.sum(per_row)), f"{brute_rate:,.1f} problems/s")
    masks32, t32 = timed(float32_search, x, z)
    row(
        "best_subsets",
        f"float32 search, not exact m={m}",
        t32,
        f"{m / t32:,.0f} problems/s",
        "prune pass alone",
    )
    res, t = timed(best_subsets, x, z)
    _, err32 = _canonical(x, z, masks32, 0.0)
    worse = int(np.sum(err32 > res.errors))
    row(
        "best_subsets",
        f"numpy exact min-error m={m}",
        t,
        f"{m / t:,.0f} problems/s",
        f"x{t / t32:.2f} the float32 search; it was suboptimal in {worse} rows (max excess "
        f"{float(np.max(err32 - res.errors)):.2g}); all exact: {bool(res.exact.all())}",
    )
    for e in (0.01, 1e-6):
        mf = m
        res, t = timed(best_subsets, x[:mf], z[:mf], max_error=e)
        row(
            "best_subsets",
            f"numpy exact fewest e={e:g} m={mf}",
            t,
            f"{mf / t:,.0f} problems/s",
            f"x{mf / t / brute_rate:,.0f} vs brute; mean |S|={res.sizes.mean():.2f}",
        )
    print(f"  load average after: {os.getloadavg()}", flush=True)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    mt = min(m, 2_000)
    for label, e in (("min-error", None), ("fewest e=0.01", 0.01)):
        _, t = timed(best_subsets, x[:mt], z[:mt], max_error=e, device="cpu")
        row("best_subsets", f"torch-cpu exact {label} m={mt}", t, f"{mt / t:,.0f} problems/s")
    if torch.cuda.is_available():
        for label, e in (("min-error", None), ("fewest e=0.01", 0.01)):
            best_subsets(x[:1000], z[:1000], max_error=e, device="cuda")  # warm-up
            torch.cuda.synchronize()
            _, t = timed(best_subsets, x, z, max_error=e, device="cuda")
            row("best_subsets", f"cuda exact {label} m={m}", t, f"{m / t:,.0f} problems/s")
    else:
        row("best_subsets", "cuda", None, "skipped", "no CUDA device")


_AB_WORKER = """
import sys, time
import theory
assert theory.__file__.startswith(sys.argv[3]), (theory.__file__, sys.argv[3])
import numpy as np
from theory import best_subsets
rng = np.random.default_rng(2020)
m, e = int(sys.argv[1]), (None if sys.argv[2] == "none" else float(sys.argv[2]))
x = rng.uniform(0, 1, (m, 21)) * rng.uniform(-1, 1, (m, 21))
z = rng.uniform(-0.5, 0.5, m)
best_subsets(x[:256], z[:256], max_error=e, num_threads=1)
t, c = time.perf_counter(), time.process_time()
best_subsets(x, z, max_error=e, num_threads=1)
print(time.perf_counter() - t, time.process_time() - c)
"""


def bench_against(baseline: str, quick: bool) -> None:
    """This tree's ``best_subsets`` against another checkout's, alternating processes (one thread each).

    Same workload (Pensia: n = 21, product candidates), same seed; each process imports one tree and
    times one solve. The rounds alternate baseline and this tree so that load changes hit both; the
    minimum process CPU time of each is reported and their ratio.
    """
    import subprocess

    here = str(Path(__file__).resolve().parent.parent)
    m = 8_000 if quick else 40_000
    for label, e in (("min-error", "none"), ("fewest e=0.01", "0.01"), ("fewest e=1e-6", "1e-06")):
        cpu: dict[str, list[float]] = {"baseline": [], "this tree": []}
        walls: dict[str, list[float]] = {"baseline": [], "this tree": []}
        for _ in range(3):
            for name, tree in (("baseline", baseline), ("this tree", here)):
                env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1"}
                out = subprocess.run(
                    [sys.executable, "-c", _AB_WORKER, str(m), e, str(Path(tree).resolve())],
                    env=env,
                    cwd=tree,  # `python -c` puts the working directory first on sys.path
                    capture_output=True,
                    text=True,
                )
                if out.returncode:
                    raise RuntimeError(f"the timing process for {tree} failed:\n{out.stderr}")
                wall_s, cpu_s = (float(v) for v in out.stdout.split())
                cpu[name].append(cpu_s)
                walls[name].append(wall_s)
        base, mine = min(cpu["baseline"]), min(cpu["this tree"])
        LAST_CPU[0] = mine
        row(
            "vs baseline",
            f"{label} m={m}, 1 thread",
            walls["this tree"][cpu["this tree"].index(mine)],
            f"x{mine / base:.2f} the baseline",
            f"CPU s, min of 3: this tree {mine:.3f}, baseline {base:.3f} ({baseline})",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under a minute)")
    parser.add_argument("--only", choices=("batched",), help="run one section only")
    parser.add_argument(
        "--baseline",
        metavar="CHECKOUT",
        help="also time best_subsets against this checkout's (e.g. /work/main)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"cpu_count={os.cpu_count()} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"  {'section':<14} {'case':<36} {'seconds':>9} {'cpu s':>9}  {'rate / ratio':<22} note")
    if args.only is None:
        bench_best_subset(args.quick, rng)
        bench_coverage(args.quick, rng)
    if args.baseline:
        bench_against(args.baseline, args.quick)
    bench_batched(args.quick, np.random.default_rng(2020))  # its own stream: the same workload with --only


if __name__ == "__main__":
    main()
