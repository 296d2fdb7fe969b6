"""Step-time ratios of the mask-training methods, on CPU (and CUDA when available).

Measures, on the same model and the same batch:

* EP training step (forward + straight-through backward + SGD on scores + Dying Ratio update, every step)
  / dense SGD step of the ordinary model (goal: <= 1.3x; masks by the warm-started selection, never by
  sorting the whole tensor), and / the same EP step whose layers build the mask by sorting all scores
  every step, as the reference implementation does (``allenai/hidden-networks`` ``GetSubnet``: a full
  ``sort`` of the scores per forward), the baseline the selection is measured against;
* RigL ordinary step (fixed mask, dense-gradient capture) / dense step, and one RigL mask update
  (drop + grow on every layer) / dense step;
* one second-order RigL mask update (2 HVPs) / one first-order RigL update.

Models: ``fc2`` (784-500-10, batch 128 of 784 features) and ``conv4`` (batch 64 of 3x32x32 on CPU).
With ``--floors`` two more EP steps are timed in the same run, as bounds on what a faster selection could
reach (neither is Edge-Popup: their masks never change): ``ep_frozen_fwd`` builds the mask and
``weight * mask`` once and reuses them at every step (selection and product free; backward, Dying Ratio
and optimizer as in EP), and ``ep_frozen_all`` also caches ``weight * sgn(scores)`` so the score
gradient is one product. A selection, however fast, that leaves the rest of the step as it is cannot
beat ``ep_frozen_fwd``.
The steps are timed round-robin; each ratio is given twice, from the medians of wall-clock time and of
process CPU time (``cpu`` columns: steadier on a shared machine, since time spent descheduled is not
counted; with several torch threads it includes their spin-waits).
Run from the repository root:
``PYTHONPATH=. python benchmarks/bench_train.py [--device cpu|cuda|all] [--ep-only] [--floors] [--threads N]``
(or after ``pip install -e .``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import types

import torch
import torch.nn.functional as F

from networks.devices import resolve_device
from networks.layers import _score_grad
from networks.masks import kept_count, masked_layers
from networks.models import build_model
from networks.training import DyingRatioTracker, TrainConfig
from networks.training.base import StepContext
from networks.training.rigl import RigL
from networks.training.second_order_rigl import SecondOrderRigL

CASES = {"fc2": ((784,), 128), "conv4": ((3, 32, 32), 64)}
#: The ``--floors`` baselines and the ``freeze`` argument of :func:`_ep_step` that builds each.
FLOORS = {"ep_frozen_fwd": "fwd", "ep_frozen_all": "all"}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_interleaved(
    fns: dict, device: torch.device, *, reps: dict, repeats: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall-clock and process-CPU seconds per call of each function, measured round-robin.

    Timing the functions one after the other biased the first one (oneDNN primitive caches, CPU clock
    ramp-up, allocator warm-up): conv4's dense step came out 2x slower than EP's. Interleaving the
    repeats exposes every function to the same machine state.
    """
    for fn in fns.values():
        for _ in range(2):
            fn()
    _sync(device)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t, c = time.perf_counter(), time.process_time()
            for _ in range(reps[name]):
                fn()
            _sync(device)
            samples[name].append((time.perf_counter() - t) / reps[name])
            cpu[name].append((time.process_time() - c) / reps[name])
    med = {name: statistics.median(v) for name, v in samples.items()}
    return med, {name: statistics.median(v) for name, v in cpu.items()}


def _sort_mask(layer) -> torch.Tensor:
    """The reference implementation's mask: sort all of ``|scores|``, keep the top ``kept_count``.

    The timing baseline only (``allenai/hidden-networks`` ``utils/conv_type.py`` ``GetSubnet`` sorts the
    flattened scores at every forward); ties are ordered by the sort, not by index as in the toolkit.
    """
    key = layer._rank_key().detach().reshape(-1)
    k = kept_count(key.numel(), layer.density)
    mask = torch.zeros(key.numel(), dtype=torch.bool, device=key.device)
    mask[key.sort().indices[key.numel() - k :]] = True
    return mask.reshape(layer.scores.shape)


def _build(name: str, device: torch.device, **kw):
    in_shape, _ = CASES[name]
    gen = torch.Generator().manual_seed(0)
    return build_model(name, in_shape=in_shape, num_classes=10, generator=gen, **kw).to(device)


class _FrozenWeight(torch.autograd.Function):
    """A floor baseline's effective weight: a precomputed ``weight * mask``; score gradient ``grad * ws``.

    ``ws`` is ``weight * sgn(scores)`` when the sign is frozen too, else None (then the gradient is
    EP's own, ``networks.layers._score_grad``, at the current scores).
    """

    @staticmethod
    def forward(ctx, scores, weight, w_eff, ws):
        ctx.save_for_backward(scores, weight, ws)
        return w_eff.view_as(w_eff)  # a view: the frozen tensor itself gets no autograd history

    @staticmethod
    def backward(ctx, grad):
        scores, weight, ws = ctx.saved_tensors
        g = grad * ws if ws is not None else _score_grad(grad, weight, scores, by_abs=True)
        return g, None, None, None


def _freeze(layer, sign: bool) -> None:
    """Make ``layer`` reuse its current mask and product at every forward (a timing floor, not EP)."""
    with torch.no_grad():
        w_eff = layer.weight * layer.mask()
        ws = layer.weight * torch.sgn(layer.scores) if sign else None

    def effective_weight(self):
        return _FrozenWeight.apply(self.scores, self.weight, w_eff, ws)

    layer.effective_weight = types.MethodType(effective_weight, layer)


def _ep_step(
    name: str,
    device: torch.device,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    sort_baseline: bool,
    freeze: str = "",
):
    """One Edge-Popup training step with the Dying Ratio updated at every step (a closure).

    ``freeze``: "" (Edge-Popup), "fwd" or "all" (the ``--floors`` baselines of the module docstring).
    """
    ep = _build(name, device, masked=True, density=0.5, weight_init="signed_kaiming_constant")
    layers = masked_layers(ep)
    if sort_baseline:
        for layer in layers.values():
            layer._scores_mask = types.MethodType(_sort_mask, layer)
    for layer in layers.values() if freeze else ():
        _freeze(layer, sign=freeze == "all")
    opt = torch.optim.SGD(
        [p for p in ep.parameters() if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=1e-4
    )
    tracker = DyingRatioTracker({k: v.mask() for k, v in layers.items()})

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(ep(x), y).backward()
        tracker.update({k: v.weight_mask for k, v in layers.items()})
        opt.step()

    return step


def _ep_columns(t: dict[str, float], cpu: dict[str, float]) -> dict[str, float]:
    """The EP columns (RigL columns are NaN until filled in) from wall and CPU medians."""
    return {
        "dense_step_ms": 1e3 * t["dense"],
        "ep_step_ms": 1e3 * t["ep"],
        "cpu_dense_ms": 1e3 * cpu["dense"],
        "cpu_ep_ms": 1e3 * cpu["ep"],
        "ep/dense": t["ep"] / t["dense"],
        "cpu ep/dense": cpu["ep"] / cpu["dense"],
        "ep/ep_sort": t["ep"] / t["ep_sort"],
        "cpu ep/ep_sort": cpu["ep"] / cpu["ep_sort"],
        **dict.fromkeys(("rigl_step/dense", "rigl_update/dense", "rigl2_update/rigl_update"), float("nan")),
        "rigl2_update/dense": float("nan"),
        **{f"{f}/dense": t[f] / t["dense"] if f in t else float("nan") for f in FLOORS},
        **{f"cpu {f}/dense": cpu[f] / cpu["dense"] if f in cpu else float("nan") for f in FLOORS},
    }


def bench(
    name: str, device: torch.device, repeats: int, ep_only: bool = False, floors: bool = False
) -> dict[str, float]:
    in_shape, bs = CASES[name]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(bs, *in_shape, generator=g).to(device)
    y = torch.randint(0, 10, (bs,), generator=g).to(device)
    reps = 20 if name == "fc2" or device.type == "cuda" else 3

    dense = _build(name, device)
    opt_d = torch.optim.SGD(dense.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    def dense_step():
        opt_d.zero_grad(set_to_none=True)
        F.cross_entropy(dense(x), y).backward()
        opt_d.step()

    ep_step = _ep_step(name, device, x, y, sort_baseline=False)
    # The sort baseline: the same model, optimizer and tracker; only the mask comes from a full sort.
    ep_sort_step = _ep_step(name, device, x, y, sort_baseline=True)
    ep_fns = {"dense": dense_step, "ep": ep_step, "ep_sort": ep_sort_step}
    if floors:
        for floor, freeze in FLOORS.items():
            ep_fns[floor] = _ep_step(name, device, x, y, sort_baseline=False, freeze=freeze)
    if ep_only:
        t, cpu = _time_interleaved(ep_fns, device, reps=dict.fromkeys(ep_fns, reps), repeats=repeats)
        return _ep_columns(t, cpu)

    rg = _build(name, device, masked=True, density=0.1, mask_mode="fixed")
    rl = masked_layers(rg)
    for layer in rl.values():
        layer.capture_dense_grad = True
    opt_r = torch.optim.SGD([p for p in rg.parameters() if p.requires_grad], lr=0.01, momentum=0.9)

    def rigl_step():
        opt_r.zero_grad(set_to_none=True)
        F.cross_entropy(rg(x), y).backward()
        opt_r.step()

    rigl_step()
    cfg = TrainConfig(method="rigl", density=0.1)
    # A stand-in for the trainer's StepContext: what drop_and_grow reads (hvps as the context computes them).
    tr = types.SimpleNamespace(
        model=rg, layers=rl, optimizer=opt_r, generator=torch.Generator().manual_seed(2), lr=0.01,
        all_reduce_mean=lambda tensors: None, step=1, batch=(x, y),
    )  # fmt: skip
    tr.hvps = lambda vectors: StepContext.hvps(tr, vectors)
    first, second = RigL(cfg), SecondOrderRigL(TrainConfig(method="rigl2", density=0.1))
    saved = {k: (v.weight_mask.clone(), v.weight.detach().clone()) for k, v in rl.items()}

    def restore():
        with torch.no_grad():
            for k, v in rl.items():
                v.weight_mask.copy_(saved[k][0])
                v.weight.copy_(saved[k][1])

    def first_update():
        restore()
        first.drop_and_grow(tr, 0.3)

    def second_update():
        restore()
        second.drop_and_grow(tr, 0.3)

    def restore_only():
        restore()

    t, cpu = _time_interleaved(
        {
            **ep_fns,
            "rigl": rigl_step,
            "restore": restore_only,
            "up1": first_update,
            "up2": second_update,
        },
        device,
        reps={
            **dict.fromkeys((*ep_fns, "rigl", "restore", "up1"), reps),
            "up2": max(1, reps // 2),
        },
        repeats=repeats,
    )
    t_dense, t_rigl = t["dense"], t["rigl"]
    t_up1 = t["up1"] - t["restore"]
    t_up2 = t["up2"] - t["restore"]
    return {
        **_ep_columns(t, cpu),
        "rigl_step/dense": t_rigl / t_dense,
        "rigl_update/dense": t_up1 / t_dense,
        "rigl2_update/rigl_update": t_up2 / t_up1,
        "rigl2_update/dense": t_up2 / t_dense,
    }


def main() -> None:
    """Print the table for each device."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="all", help="cpu, cuda or all (default: all available)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--ep-only", action="store_true", help="time only the dense, EP and EP-sort steps")
    ap.add_argument("--floors", action="store_true", help="also time the frozen-mask floors (docstring)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [resolve_device(n) for n in names if n != "cuda" or torch.cuda.is_available()]
    cols = [
        "dense_step_ms",
        "ep_step_ms",
        "cpu_dense_ms",
        "cpu_ep_ms",
        "ep/dense",
        "cpu ep/dense",
        "ep/ep_sort",
        "cpu ep/ep_sort",
        "rigl_step/dense",
        "rigl_update/dense",
        "rigl2_update/rigl_update",
        "rigl2_update/dense",
    ]
    if args.floors:
        cols += [f"{p}{f}/dense" for f in FLOORS for p in ("", "cpu ")]
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, load {os.getloadavg()}")
    print("| device | model | " + " | ".join(cols) + " |")
    print("|" + "---|" * (len(cols) + 2))
    for dev in devices:
        for name in CASES:
            r = bench(name, dev, args.repeats, args.ep_only, args.floors)
            print(f"| {dev} | {name} | " + " | ".join(f"{r[c]:.3g}" for c in cols) + " |", flush=True)


if __name__ == "__main__":
    main()
