"""Benchmark of the executors on one sweep (a script, not a test).

    python benchmarks/bench_executors.py [--quick] [--ns 12,14,16,18] [--trials 1024]

Runs the same ``rss-per-target`` sweep (one fixed target, exact batched SubsetSum per trial; chunks of 64
trials are the work items) through ``inprocess`` (the baseline) and through ``process``, ``submitit``
(its local executor: real job processes that pickle results to a job folder, as on SLURM) and ``dask``
(a ``LocalCluster``) on 1 and 2 workers, each into a fresh run root, and prints one table:

* start-up: seconds until the executor has returned one trivial ``map`` (pool, cluster or first job);
* sweep: seconds for the sweep itself on the started executor (best of ``--repeats``, each into a fresh
  run root), and its throughput in trials per second;
* speedup of the sweep over ``inprocess``, and whether ``results.csv`` is byte-identical to the baseline's.

submitit's local executor starts two processes per job (a controller and the task) in every ``map``
call, and the sweep's work is one ``map``; on SLURM the queue wait replaces that start-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import operator
import sys
import tempfile
import time
from pathlib import Path

# Run from a source checkout without installing: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    from sim.executors import get_executor
    from sim.sweeps import get_sweep

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller sweep (seconds)")
    parser.add_argument("--ns", default=None, help="candidate counts (default 12,14,16,18; quick 10,12)")
    parser.add_argument("--trials", type=int, default=None, help="trials per n (default 1024; quick 256)")
    parser.add_argument("--workers", default="1,2", help="worker counts to time (default 1,2)")
    parser.add_argument("--repeats", type=int, default=None, help="sweep runs per arm, best kept (default 3)")
    args = parser.parse_args(argv)
    ns = tuple(int(v) for v in (args.ns or ("10,12" if args.quick else "12,14,16,18")).split(","))
    trials = args.trials or (256 if args.quick else 1024)
    workers = [int(w) for w in args.workers.split(",")]
    repeats = args.repeats or (1 if args.quick else 3)

    sweep = get_sweep("rss-per-target")
    cfg = dataclasses.replace(sweep.quick, ns=ns, trials=trials)
    total = len(ns) * trials
    arms = [("inprocess", 1)] + [(name, w) for name in ("process", "submitit", "dask") for w in workers]
    rows, baseline = [], None
    with tempfile.TemporaryDirectory(prefix="bench-executors-") as tmp:
        # Warm-up (imports, first-call caches of this process), so the baseline is not charged for them.
        sweep.run(cfg, runs_root=f"{tmp}/warm-up", executor="inprocess")
        for name, w in arms:
            kwargs = {"cluster": "local", "folder": f"{tmp}/jobs-{w}"} if name == "submitit" else {}
            t0 = time.perf_counter()
            ex = get_executor(name, w, **kwargs)
            try:
                ex.map(operator.neg, list(range(w)))  # start the pool / cluster / first jobs
                start = time.perf_counter() - t0
                best, data = float("inf"), b""
                for r in range(repeats):  # a fresh run root each time: nothing is reused
                    t1 = time.perf_counter()
                    out = sweep.run(cfg, runs_root=f"{tmp}/{name}-{w}-{r}", executor=ex)
                    best = min(best, time.perf_counter() - t1)
                    data = (out.path / "results.csv").read_bytes()
            finally:
                ex.close()
            if baseline is None:
                baseline = (best, data)
            rows.append((name, w, start, best, baseline[0] / best, data == baseline[1]))
    print(
        f"rss-per-target sweep: n in {list(ns)}, {trials} trials each ({total} trials, chunks of 64); "
        f"sweep time: best of {repeats}\n"
    )
    print("| executor | workers | start-up s | sweep s | trials/s | speedup vs inprocess | identical |")
    print("|----------|---------|------------|---------|----------|----------------------|-----------|")
    for name, w, start, run, speed, same in rows:
        print(
            f"| {name} | {w} | {start:.2f} | {run:.2f} | {total / run:.0f} | {speed:.2f}x | "
            f"{'yes' if same else 'NO'} |"
        )
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
