"""Cold vs warm-started exact top-k masks, and an fc2 Edge-Popup step vs a dense SGD step (CPU).

Two tables, all numbers from the same run:

1. Mask time for score tensors of 1e4..4e6 entries at density 0.5: the cold selection
   (:func:`networks.masks.topk_mask`), the warm-started one (:class:`networks.masks.WarmTopk`)
   after a small SGD-like update of the scores (relative step ``--step``), and the unchanged-scores
   shortcut ("hit"). The update itself is not timed. Every warm mask is checked equal to the cold one.
2. One training step of ``fc2`` (784-500-10, no bias) at density 0.5: Edge-Popup (forward + straight-
   through backward + SGD with momentum on the scores) with the warm-started mask and with the cold
   one, against the dense SGD step of the same model and batch, for batch 64/128 and 1/2 threads.
   Steps are interleaved (dense, warm, cold, dense, ...) so load changes hit all three alike; the
   medians of per-block means are reported, and the ratios use the medians: of wall-clock time, and
   of process CPU time (``cpu ...`` columns; steadier on a shared machine, since time spent
   descheduled is not counted).

Run from the repository root:
``PYTHONPATH=. python benchmarks/bench_topk.py [--repeats 7] [--threads 1 2]``. The goal for the EP step is
<= 1.3x the dense step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from networks.layers import MaskedLayer
from networks.masks import WarmTopk, topk_mask
from networks.models import build_model


def _median_time(fn, reps: int, repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        samples.append((time.perf_counter() - t) / reps)
    return statistics.median(samples)


def mask_table(sizes: list[int], step: float, repeats: int) -> list[dict[str, float]]:
    rows = []
    for n in sizes:
        g = torch.Generator().manual_seed(n)
        scores = torch.rand(n, generator=g) * 2 - 1
        noise = [torch.randn(n, generator=g) * step / n**0.5 for _ in range(4)]
        reps = max(3, int(2e6 // n))
        t_cold = _median_time(lambda s=scores: topk_mask(s.abs(), 0.5), reps, repeats)
        warm = WarmTopk()
        warm(scores, 0.5)
        samples = []
        for r in range(repeats):
            total = 0.0
            for i in range(reps):
                scores.add_(noise[(r + i) % 4])
                t = time.perf_counter()
                mask = warm(scores, 0.5)
                total += time.perf_counter() - t
            samples.append(total / reps)
            if not torch.equal(mask, topk_mask(scores.abs(), 0.5)):
                raise AssertionError(f"warm mask differs from cold at n={n}")
        t_warm = statistics.median(samples)
        t_hit = _median_time(lambda s=scores, w=warm: w(s, 0.5), reps, repeats)
        rows.append(
            {
                "n": n,
                "cold_ms": 1e3 * t_cold,
                "warm_ms": 1e3 * t_warm,
                "hit_ms": 1e3 * t_hit,
                "cold/warm": t_cold / t_warm,
                "moves": warm.stats["moves"],
                "cold_calls": warm.stats["cold"],
                "small_calls": warm.stats["small"],
            }
        )
    return rows


def step_table(batch: int, repeats: int) -> dict[str, float]:
    def build(**kw):
        gen = torch.Generator().manual_seed(0)
        return build_model("fc2", in_shape=(784,), num_classes=10, generator=gen, **kw)

    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 784, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)

    def sgd_step(model):
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

        return step

    dense = build()
    warm = build(masked=True, density=0.5, weight_init="signed_kaiming_constant")
    cold = build(masked=True, density=0.5, weight_init="signed_kaiming_constant")
    for m in cold.modules():
        if isinstance(m, MaskedLayer):
            m.warm_topk = False
    steps = {"dense": sgd_step(dense), "ep_warm": sgd_step(warm), "ep_cold": sgd_step(cold)}
    reps = 10
    wall: dict[str, list[float]] = {k: [] for k in steps}
    cpu: dict[str, list[float]] = {k: [] for k in steps}
    for fn in steps.values():
        for _ in range(3):
            fn()
    for _ in range(repeats):
        for name, fn in steps.items():
            t, c = time.perf_counter(), time.process_time()
            for _ in range(reps):
                fn()
            wall[name].append((time.perf_counter() - t) / reps)
            cpu[name].append((time.process_time() - c) / reps)
    w = {k: statistics.median(v) for k, v in wall.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}
    return {
        "dense_ms": 1e3 * w["dense"],
        "ep_warm_ms": 1e3 * w["ep_warm"],
        "ep_cold_ms": 1e3 * w["ep_cold"],
        "ep_warm/dense": w["ep_warm"] / w["dense"],
        "ep_cold/dense": w["ep_cold"] / w["dense"],
        "cpu ep_warm/dense": c["ep_warm"] / c["dense"],
        "cpu ep_cold/dense": c["ep_cold"] / c["dense"],
    }


def _print(rows: list[dict], lead: dict[str, object]) -> None:
    cols = list(rows[0])
    print("| " + " | ".join([*lead, *cols]) + " |")
    print("|" + "---|" * (len(lead) + len(cols)))
    for row in rows:
        cells = [str(v) for v in lead.values()] + [f"{row[c]:.3g}" for c in cols]
        print("| " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    """Print both tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--sizes", type=int, nargs="+", default=[5_000, 10_000, 100_000, 392_000, 1_000_000, 4_000_000]
    )
    ap.add_argument("--step", type=float, default=0.01, help="L2 norm of each score update, relative")
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 128])
    args = ap.parse_args()
    print(f"torch {torch.__version__}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\nmask time, density 0.5, {threads} thread(s)")
        _print(mask_table(args.sizes, args.step, args.repeats), {"threads": threads})
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\nfc2 training step, density 0.5, {threads} thread(s)")
        for batch in args.batches:
            _print([step_table(batch, args.repeats)], {"threads": threads, "batch": batch})


if __name__ == "__main__":
    main()
