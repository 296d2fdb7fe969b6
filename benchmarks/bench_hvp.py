"""Cost of one Hessian-vector product relative to one gradient, on the same model and batch.

Both are taken w.r.t. the effective weights by ``networks.hvp`` (``loss_and_grad`` vs ``hvp``, i.e.
one forward + backward vs one forward + backward + double backward), so the ratio isolates the
reverse-over-reverse product. Dagreou et al. (ICLR 2024 blogpost "How to compute Hessian-vector
products?") measured 2-4x on large models; this script reports our ratio on the toolkit's models:

* ``mlp`` (40-256-256-10, masked, density 0.5) on an MNIST-1D batch;
* ``conv4`` (Conv-4: 64-64-128-128 3x3 convs + 256-256-10 classifier, masked) on an 8x8 digits batch;

in float32 and float64, on the CPU and on CUDA when present. Median of ``--repeats`` timed calls
after warm-up. Run: ``python benchmarks/bench_hvp.py [--device cpu|cuda|all] [--repeats 10]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from networks.data import load_dataset
from networks.hvp import effective_params, hvp, loss_and_grad
from networks.models import build_model

CASES = (
    ("mlp", "mnist1d", {"hidden": (256, 256)}, 256),
    ("conv4", "digits", {}, 128),
)


def _timed(fn, device: torch.device, repeats: int) -> float:
    for _ in range(2):  # warm-up (allocator, kernels, autograd caches)
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(device: torch.device, dtype: torch.dtype, repeats: int) -> list[dict]:
    rows = []
    for name, dataset, kw, batch_size in CASES:
        data = load_dataset(dataset)
        gen = torch.Generator().manual_seed(0)
        model = build_model(
            name,
            in_shape=data.in_shape,
            num_classes=data.num_classes,
            masked=True,
            density=0.5,
            generator=gen,
            device=device,
            **kw,
        ).to(dtype)
        model.eval()
        batch = (data.x_train[:batch_size].to(device, dtype), data.y_train[:batch_size].to(device))
        params = effective_params(model)
        v = {k: torch.randn(p.shape, generator=gen, dtype=dtype).to(device) for k, p in params.items()}
        t_grad = _timed(lambda model=model, batch=batch: loss_and_grad(model, batch), device, repeats)
        t_hvp = _timed(lambda model=model, batch=batch, v=v: hvp(model, batch, v), device, repeats)
        rows.append(
            {
                "model": name,
                "dataset": dataset,
                "batch": batch_size,
                "params": sum(p.numel() for p in params.values()),
                "device": str(device),
                "dtype": str(dtype).replace("torch.", ""),
                "grad_ms": 1e3 * t_grad,
                "hvp_ms": 1e3 * t_hvp,
                "ratio": t_hvp / t_grad,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="all", help="cpu, cuda or all (cuda only when present)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d != "cuda" or torch.cuda.is_available()]
    rows = []
    for d in devices:
        for dtype in (torch.float32, torch.float64):
            rows += bench(torch.device(d), dtype, args.repeats)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| model | dataset | batch | params | device | dtype | grad (ms) | HVP (ms) | HVP / grad |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['dataset']} | {r['batch']} | {r['params']} | {r['device']} | {r['dtype']} "
            f"| {r['grad_ms']:.2f} | {r['hvp_ms']:.2f} | {r['ratio']:.2f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
