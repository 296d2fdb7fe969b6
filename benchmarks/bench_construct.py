"""Benchmark: the Pensia et al. (NeurIPS 2020) workload, constructed end to end.

The shared 784-500-10 MNIST target (397,000 weights; a random target of the same shape and weight
range when the npz is absent), n = 21, per-weight tolerance eps = 0.01. Prints wall time, time per
million target weights, peak memory, kept ratio and the ratio to Pensia et al.'s MIP time (77,266 s on
36 cores). Run: ``python benchmarks/bench_construct.py [--device cuda] [--nonnegative-input]``.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch
from torch import nn

from networks.construct import construct_ticket
from networks.construct.targets import load_pensia_fc2

NPZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "pensia_fc2_mnist.npz"
PENSIA_SECONDS = 77_266.0
PENSIA_KEPT_RATIO = 9.39


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--method", default="pensia", choices=["pensia", "xiong"])
    parser.add_argument("--nonnegative-input", action="store_true")
    args = parser.parse_args()
    if NPZ.exists():
        target, source = load_pensia_fc2(NPZ), "shared npz"
    else:
        gen = torch.Generator().manual_seed(0)
        target = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 500, bias=False), nn.ReLU(), nn.Linear(500, 10, bias=False)
        )
        with torch.no_grad():
            for p in target.parameters():
                p.copy_(torch.rand(p.shape, generator=gen) * (0.5407 + 0.4643) - 0.4643)
        source = "random stand-in (npz absent)"
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    ticket = construct_ticket(
        target,
        eps=0.01,
        method=args.method,
        budget="per-weight",
        candidates_per_weight=21,
        nonnegative_input=args.nonnegative_input,
        input_shape=(1, 28, 28),
        device=args.device,
    )
    wall = time.perf_counter() - start
    rep = ticket.report()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    gpu = torch.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda") else float("nan")
    millions = ticket.target_weights / 1e6
    rows = [
        ("target", source),
        ("device", args.device),
        ("method", args.method),
        ("nonnegative input", args.nonnegative_input),
        ("target weights", ticket.target_weights),
        ("wall time [s]", f"{wall:.1f}"),
        ("time per million target weights [s]", f"{wall / millions:.1f}"),
        ("peak RSS [MiB]", f"{peak_rss:.0f}"),
        ("peak CUDA memory [MiB]", f"{gpu:.0f}"),
        ("kept params (1st-layer units + 2nd-layer edges)", rep["kept_params"]),
        ("kept first layer / second layer", f"{rep['kept_first_layer']} / {rep['kept_second_layer']}"),
        ("kept ratio (ours)", f"{rep['kept_ratio']:.3f}"),
        ("kept second-layer edges per weight", f"{rep['kept_second_layer'] / ticket.target_weights:.3f}"),
        ("kept ratio (Pensia et al. 2020)", PENSIA_KEPT_RATIO),
        ("failed weights (> 0.01)", rep["num_failed_weights"]),
        ("max weight error", f"{rep['max_weight_error']:.4g}"),
        ("speed-up vs Pensia MIP (77,266 s on 36 cores)", f"{PENSIA_SECONDS / wall:.0f}x"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
