"""Width versus accuracy of the constructions, the certificate under attack, and trained targets (figure 5).

Two experiments (:class:`sim.experiments.Experiment`, registered at the end of this module):
``construct-width`` and ``construct-targets``.

``construct-width`` (:func:`run_construct_width`) writes ``runs/construct-width/<hash>/`` and the raw
data of four claims (:func:`width_evidence`):

* **Width laws** (``pensia-thm1-width``, ``dacunha-cnn-width``): for each seed (a fresh random target
  layer and source network) and each per-weight tolerance ``eps`` of a grid, the smallest ``n`` (units per
  half-block, scanned upward from 1) at which the construction succeeds (fraction of weights within
  ``eps`` at least ``success_level``). The rules (:mod:`theory.rules.construction`) compare the bound's
  log law with a power law in ``1/eps`` on these numbers.
* **Width factor** (``xiong-thm2-width``): the same minimal ``n`` for ``xiong`` with and without the
  perturbation, on *independent* draws (disjoint seed ranges for the two arms), against the predicted
  factor ``1/(1+p)`` (AISTATS) and ``1/(log(1+p)+1)`` (slides).
* **Certificate** (``construction-certificate.certificate``): multi-layer targets (depth 2 and 3, with and
  without biases; Linear with ``pensia`` and ``xiong``, Conv2d with ``dacunha``; signed and non-negative
  input domains; and targets whose ticket is exact up to rounding) probed with random inputs of the domain
  and with projected gradient ascent on ``||target(x) - ticket(x)||`` inside it.

``results.csv`` holds one row per construction tried (method, perturbation, seed, eps, candidates,
success_fraction, failed, weights, kept_ratio, certified_bound); ``certificate.csv`` one row per
certificate case. ``construct-targets`` (:func:`run_construct_targets`) builds tickets of small trained
targets (``slth construct`` run directories under ``runs/construct/``) and records the paired accuracy
data of ``construction-certificate.accuracy`` (:func:`targets_evidence`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from sim.experiments import Context, Experiment, register_experiment
from theory.plumbing.configs import help_field
from theory.plumbing.progress import progress
from theory.plumbing.rundir import RunDir

__all__ = [
    "TargetsConfig",
    "WidthConfig",
    "certificate_cases",
    "run_construct_targets",
    "run_construct_width",
    "targets_evidence",
    "width_evidence",
]

#: Seed offsets of the two xiong arms: disjoint from each other and from the pensia/dacunha seeds, so the
#: perturbed and unperturbed minima come from independent draws of target and source.
XIONG_UNPERTURBED_OFFSET = 1000
XIONG_PERTURBED_OFFSET = 2000
#: The trained targets the accuracy evidence is evaluated on (fixed before the data: the digits MLP and
#: CNN, non-negative pixel inputs). Other targets (mnist1d-mlp) are constructed for the figure only.
ACCURACY_TARGETS = ("digits-mlp", "digits-cnn")


@dataclasses.dataclass(frozen=True)
class WidthConfig:
    """Width-vs-eps sweep of the constructions and the certificate attack."""

    eps: tuple[float, ...] = help_field(
        (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5), "per-weight tolerances"
    )
    d_in: int = help_field(4, "target layer input width")
    d_out: int = help_field(4, "target layer output width")
    max_candidates: int = help_field(40, "largest n tried")
    perturbation: float = help_field(
        0.2, "xiong perturbation of the perturbed arm (factor 1/(1+p) far enough from 1 to be tested)"
    )
    success_level: float = help_field(0.99, "success fraction needed")
    seeds: int = help_field(10, "seeds per arm (target and source drawn from each)")
    seed: int = help_field(200, "first seed (0-199 were used to choose the design: disjoint)")
    conv_channels: int = help_field(1, "channels of the conv target of the dacunha arm (3x3 kernel)")
    conv_side: int = help_field(4, "input side of the conv target (non-negative inputs)")
    cert_candidates: int = help_field(6, "n of the certificate cases (coarse: non-trivial errors)")
    cert_probes: int = help_field(2000, "random probes per certificate case")
    cert_starts: int = help_field(32, "projected-gradient-ascent starts per certificate case")
    cert_steps: int = help_field(40, "ascent steps per start")


# Design of the width sweep. The law rules decide only when the nearest power law (alpha = 0.25) lies
# >= 2 standard errors of the seed-mean curve from the fitted log law: that needs a wide eps range and
# ~10 seeds (seed-to-seed spread of the minimal n is ~2). The range stops at 3e-5 because, for 16
# weights, the minimal n there reaches ~24, where Pensia's product candidates pass the construction
# solver's exact range (30 valid candidates per half): beyond it cells censor (no n succeeds) and the
# rules say inconclusive. The design was chosen on exploratory runs with seeds 0-199 (d = 4 and 6);
# the recorded runs use seeds from 200 (quick) and 300 (full), disjoint from them.
WIDTH_PRESETS = {
    "quick": WidthConfig(),
    "default": WidthConfig(),
    "full": WidthConfig(
        eps=(1e-1, 5e-2, 2e-2, 1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 5e-5, 3e-5),
        seeds=30,
        seed=300,
        cert_probes=20000,
        cert_starts=256,
        cert_steps=200,
    ),
}


# cells.json stores rows with sorted keys; the CSV keeps this column order whatever the source.
_COLUMNS = (
    "method",
    "perturbation",
    "seed",
    "eps",
    "candidates",
    "success_fraction",
    "failed",
    "weights",
    "kept_ratio",
    "certified_bound",
)
_CERT_COLUMNS = (
    "case",
    "kind",
    "depth",
    "bias",
    "method",
    "perturbation",
    "nonnegative",
    "exact_target",
    "candidates",
    "certified_bound",
    "exact_arithmetic_bound",
    "random_max",
    "adversarial_max",
    "random_probes",
    "adversarial_starts",
    "adversarial_steps",
)


def _uniform_(net, gen) -> None:
    """Weights and biases U[-1/2, 1/2] from ``gen`` (float64)."""
    import torch

    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=torch.float64) - 0.5)


def _target(cfg: WidthConfig, seed: int):
    import torch
    from torch import nn

    net = nn.Sequential(nn.Linear(cfg.d_in, cfg.d_out, bias=False)).double()
    _uniform_(net, torch.Generator().manual_seed(seed))
    return net


def _conv_target(cfg: WidthConfig, seed: int):
    """One 3x3 conv layer (da Cunha et al.'s setting: non-negative inputs), weights U[-1/2, 1/2]."""
    import torch
    from torch import nn

    c = cfg.conv_channels
    net = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False)).double()
    _uniform_(net, torch.Generator().manual_seed(seed + 1))
    return net


def _arms(cfg: WidthConfig) -> list[tuple[str, float, str, list[int]]]:
    """(method, perturbation, target kind, seeds) of the width sweep."""
    base = [cfg.seed + i for i in range(cfg.seeds)]
    return [
        ("pensia", 0.0, "linear", base),
        ("dacunha", 0.0, "conv", base),
        ("xiong", 0.0, "linear", [s + XIONG_UNPERTURBED_OFFSET for s in base]),
        ("xiong", cfg.perturbation, "linear", [s + XIONG_PERTURBED_OFFSET for s in base]),
    ]


# --------------------------------------------------------------------------------------------------
# The certificate under attack
# --------------------------------------------------------------------------------------------------
def _mlp(depth: int, bias: bool, seed: int):
    import torch
    from torch import nn

    dims = [6, 5, 4, 3][: depth + 1]
    mods: list = []
    for i in range(depth):
        mods.append(nn.Linear(dims[i], dims[i + 1], bias=bias))
        if i < depth - 1:
            mods.append(nn.ReLU())
    net = nn.Sequential(*mods).double()
    _uniform_(net, torch.Generator().manual_seed(seed))
    return net, (6,)


def _cnn(depth: int, bias: bool, seed: int):
    """Conv (and for depth 3 a second conv), ReLU, Flatten, Linear on 2 x 5 x 5 inputs."""
    import torch
    from torch import nn

    mods: list = []
    if depth == 3:
        mods += [nn.Conv2d(2, 2, 3, padding=1, bias=bias), nn.ReLU()]
    mods += [nn.Conv2d(2, 2, 3, stride=2, padding=1, bias=bias), nn.ReLU(), nn.Flatten()]
    mods += [nn.Linear(2 * 3 * 3, 3, bias=bias)]
    net = nn.Sequential(*mods).double()
    _uniform_(net, torch.Generator().manual_seed(seed))
    return net, (2, 5, 5)


def _exactly_representable(net, ticket):
    """``net`` with every weight replaced by the ticket's realised weight.

    Its next ticket is exact up to rounding (the certificate's exact-arithmetic part is ~0, the measured
    error is pure rounding).
    """
    import copy

    import torch
    from torch import nn

    out = copy.deepcopy(net)
    affine = [m for m in out if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        for m, (ep, _em), spec in zip(affine, ticket.error_matrices, ticket.specs, strict=True):
            d = spec.weight.shape[1]
            m.weight.copy_((spec.weight + ep[:, :d]).reshape(m.weight.shape))
            if m.bias is not None:
                m.bias.copy_(spec.bias + ep[:, d])
    return out


def _case(kind: str, depth: int, bias: bool, method: str, p: float, nonneg: bool, exact: bool) -> dict:
    return dict(
        kind=kind,
        depth=depth,
        bias=bias,
        method=method,
        perturbation=p,
        nonnegative=nonneg,
        exact_target=exact,
    )


def certificate_cases() -> list[dict]:
    """The certificate cases: (kind, depth, bias, method, perturbation, nonnegative, exact_target)."""
    cases = []
    for depth in (2, 3):
        for bias in (False, True):
            for nonneg in (False, True):
                for method, p in (("pensia", 0.0), ("xiong", 0.01)):
                    cases.append(_case("linear", depth, bias, method, p, nonneg, False))
                cases.append(_case("conv", depth, bias, "dacunha", 0.0, nonneg, False))
        for bias in (False, True):
            cases.append(_case("linear", depth, bias, "pensia", 0.0, True, True))
    for i, c in enumerate(cases):
        c["case"] = (
            f"{c['kind']}-d{c['depth']}-{'bias' if c['bias'] else 'nobias'}-{c['method']}"
            f"{'-p' + str(c['perturbation']) if c['perturbation'] else ''}"
            f"-{'nonneg' if c['nonnegative'] else 'signed'}{'-exact' if c['exact_target'] else ''}-{i}"
        )
    return cases


def _domain_points(n: int, shape: tuple[int, ...], nonneg: bool, gen):
    """``n`` random points of the domain.

    Uniform directions (abs'd when non-negative), radii ``U[0,1]^(1/d)``; half of the points are put on
    the sphere (norm 1), where the error is largest.
    """
    import torch

    x = torch.randn(n, *shape, generator=gen, dtype=torch.float64)
    if nonneg:
        x = x.abs()
    flat = x.flatten(1)
    dim = flat.shape[1]
    radius = torch.rand(n, generator=gen, dtype=torch.float64) ** (1.0 / dim)
    radius[: n // 2] = 1.0
    return (flat / flat.norm(dim=1, keepdim=True) * radius[:, None]).reshape(n, *shape)


def _project(z, nonneg: bool):
    """Euclidean projection onto the unit ball, intersected with ``x >= 0`` when ``nonneg``.

    Clamp, then scale: exact for a ball centred at the origin intersected with a convex cone.
    """
    if nonneg:
        z = z.clamp_min(0.0)
    norm = z.flatten(1).norm(dim=1).clamp_min(1.0)
    return z / norm.reshape(-1, *([1] * (z.ndim - 1)))


def _attack(net, ticket, x0, nonneg: bool, steps: int) -> float:
    """Projected gradient ascent of ``||net(x) - ticket(x)||`` from ``x0``.

    Returns the largest gap measured (through ``Ticket.measure``, which checks the domain) over all
    iterates.
    """
    import torch

    module = ticket.as_module()
    z = _project(x0.clone(), nonneg)
    best = ticket.measure(net, z)
    shape = (-1, *([1] * (z.ndim - 1)))
    for k in range(steps):
        step = 0.3 * (0.05 ** (k / max(1, steps - 1)))  # geometric decay 0.3 -> 0.015
        z = z.detach().requires_grad_(True)
        gap = (net(z) - module(z)).flatten(1).norm(dim=1).sum()
        (grad,) = torch.autograd.grad(gap, z)
        with torch.no_grad():
            z = _project(
                z + step * grad / grad.flatten(1).norm(dim=1).clamp_min(1e-300).reshape(shape), nonneg
            )
        best = max(best, ticket.measure(net, z))
    return best


def _certificate_case(case: dict, cfg: WidthConfig, index: int) -> dict:
    import torch

    from networks.construct import construct_ticket

    seed = cfg.seed + index
    build = _mlp if case["kind"] == "linear" else _cnn
    net, shape = build(case["depth"], case["bias"], seed)
    kwargs = dict(
        method=case["method"],
        perturbation=case["perturbation"],
        budget="per-weight",
        nonnegative_input=case["nonnegative"],
        input_shape=shape,
        seed=seed,
    )
    if case["exact_target"]:
        first = construct_ticket(net, eps=0.05, candidates_per_weight=cfg.cert_candidates, **kwargs)
        net = _exactly_representable(net, first)
        # A tolerance below any float64 error: the solver returns the best subset, the realised one.
        ticket = construct_ticket(net, eps=1e-300, candidates_per_weight=cfg.cert_candidates, **kwargs)
    else:
        ticket = construct_ticket(net, eps=0.05, candidates_per_weight=cfg.cert_candidates, **kwargs)
    gen = torch.Generator().manual_seed(10_000 + seed)
    probes = _domain_points(cfg.cert_probes, shape, case["nonnegative"], gen)
    random_max = ticket.measure(net, probes)
    # Starts: the worst random probes and fresh random points.
    with torch.no_grad():
        gaps = (net(probes) - ticket.as_module()(probes)).flatten(1).norm(dim=1)
    top = probes[gaps.argsort(descending=True)[: cfg.cert_starts // 2]]
    starts = torch.cat([top, _domain_points(cfg.cert_starts - len(top), shape, case["nonnegative"], gen)])
    adversarial_max = _attack(net, ticket, starts, case["nonnegative"], cfg.cert_steps)
    return {
        **case,
        "candidates": cfg.cert_candidates,
        "certified_bound": ticket.certified_bound(),
        "exact_arithmetic_bound": ticket.exact_arithmetic_bound(),
        "random_max": random_max,
        "adversarial_max": adversarial_max,
        "random_probes": cfg.cert_probes,
        "adversarial_starts": cfg.cert_starts,
        "adversarial_steps": cfg.cert_steps,
    }


# --------------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------------
def _minimal_n(
    cfg: WidthConfig, net, kind: str, method: str, p: float, seed: int, eps: float, start: int = 1
):
    """Scan ``n = start, start + 1, ...``: (first n reaching the success level or None, rows of every try).

    ``start`` may be the minimal n of a larger eps for the same seed: for a fixed seed and n the random
    draws do not depend on eps, and every weight within a smaller eps is within a larger one, so no
    ``n`` below that minimum can succeed at the smaller eps. Starting there gives the same first ``n`` as
    a scan from 1 (the sweep's statistic is unchanged) at a fraction of the cost.
    """
    from networks.construct import construct_ticket

    conv_shape = (cfg.conv_channels, cfg.conv_side, cfg.conv_side)
    rows = []
    for n in range(start, cfg.max_candidates + 1):
        ticket = construct_ticket(
            net,
            eps=eps,
            method=method,
            perturbation=p,
            budget="per-weight",
            candidates_per_weight=n,
            nonnegative_input=kind == "conv",
            input_shape=conv_shape if kind == "conv" else None,
            seed=seed,
        )
        rep = ticket.report()
        rows.append(
            {
                "method": method,
                "perturbation": p,
                "seed": seed,
                "eps": eps,
                "candidates": n,
                "success_fraction": rep["success_fraction"],
                "failed": rep["num_failed_weights"],
                "weights": ticket.target_weights,
                "kept_ratio": rep["kept_ratio"],
                "certified_bound": rep["certified_bound"],
            }
        )
        if rep["success_fraction"] >= cfg.success_level:
            return n, rows
    return None, rows


@contextlib.contextmanager
def _one_torch_thread():
    """Run torch on one intra-op thread, restoring the caller's setting after.

    Every tensor of these sweeps is tiny: on a shared 2-core machine a thread pool per process only adds
    contention (measured: ~2 s instead of ~0.1 s per construction under load).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_construct_width(cfg: WidthConfig, rundir: RunDir, ctx: Context) -> Path:
    """Run the width sweep and the certificate attack into ``rundir``; a re-run resumes.

    The sweep is sequential (each cell is a vectorised construction) on one torch thread.

    Args:
        cfg: The sweep's config.
        rundir: Its run directory (``<runs_root>/construct-width/<hash>``).
        ctx: Progress setting (the executor is not used).

    Returns:
        The run directory's path.
    """
    with _one_torch_thread():
        return _run_width(rundir, cfg, ctx.quiet)


def _run_width(rundir: RunDir, cfg: WidthConfig, quiet: bool) -> Path:
    # Resume: every finished cell (width cell or certificate case) is in cells.json, written atomically
    # after each one; a re-run skips those cells.
    state = rundir.read_json(CELLS) if rundir.exists(CELLS) else {}
    state.setdefault("cells", {})
    state.setdefault("certificate", {})
    cells = [(m, p, kind, s, e) for m, p, kind, seeds in _arms(cfg) for s in seeds for e in cfg.eps]
    # Per (arm, seed), eps from the largest down: each scan starts at the previous eps's minimum.
    desc = sorted(cfg.eps, reverse=True)
    order = [(m, p, kind, s, e) for m, p, kind, seeds in _arms(cfg) for s in seeds for e in desc]
    for method, p, kind, seed, eps in progress(order, desc="construct-width", quiet=quiet):
        key = f"{method}@{p}@{seed}@{eps}"
        if key in state["cells"]:
            continue
        larger = [e for e in cfg.eps if e > eps]
        start = 1
        if larger:
            prev = state["cells"][f"{method}@{p}@{seed}@{min(larger)}"]["minimal"]
            if prev is None:  # no n <= max_candidates succeeded at a larger eps: none will here
                state["cells"][key] = {"minimal": None, "rows": []}
                rundir.write_json(CELLS, state)
                continue
            start = prev
        net = _target(cfg, seed) if kind == "linear" else _conv_target(cfg, seed)
        found, rows = _minimal_n(cfg, net, kind, method, p, seed, eps, start=start)
        state["cells"][key] = {"minimal": found, "rows": rows}
        rundir.write_json(CELLS, state)
    cases = certificate_cases()
    for i, case in enumerate(progress(cases, desc="construct-certificate", quiet=quiet)):
        if case["case"] in state["certificate"]:
            continue
        state["certificate"][case["case"]] = _certificate_case(case, cfg, i)
        rundir.write_json(CELLS, state)
    rows = [row for m, p, _k, s, e in cells for row in state["cells"][f"{m}@{p}@{s}@{e}"]["rows"]]
    rundir.write_csv("results.csv", rows, fieldnames=list(_COLUMNS))
    cert_rows = [state["certificate"][c["case"]] for c in cases]
    rundir.write_csv("certificate.csv", cert_rows, fieldnames=list(_CERT_COLUMNS))
    rundir.write_json("fits.json", {"pensia": width_evidence(rundir)["pensia-thm1-width"][1]})
    return rundir.path


#: The resume state of construct-width: every finished width cell and certificate case.
CELLS = "cells.json"


def width_evidence(rundir: RunDir) -> dict[str, tuple[str, dict[str, Any]]]:
    """The raw data of the four construct-width evidence ids, read from ``cells.json``.

    Each id is decided by the rule of the same name (:mod:`theory.rules.construction`).
    """
    cfg: WidthConfig = rundir.config
    state = rundir.read_json(CELLS)
    cases = certificate_cases()

    def minima(method: str, p: float) -> tuple[list[int], list[list[int | None]]]:
        seeds = next(s for m, q, _k, s in _arms(cfg) if (m, q) == (method, p))
        table = [[state["cells"][f"{method}@{p}@{s}@{e}"]["minimal"] for e in cfg.eps] for s in seeds]
        return seeds, table

    common = {
        "eps": list(cfg.eps),
        "success_level": cfg.success_level,
        "max_candidates": cfg.max_candidates,
    }
    seeds, table = minima("pensia", 0.0)
    pensia = {**common, "d_in": cfg.d_in, "d_out": cfg.d_out, "depth": 1, "seeds": seeds, "n_min": table}
    seeds, table = minima("dacunha", 0.0)
    dacunha = {
        **common,
        "kernel": 3,
        "c_in": cfg.conv_channels,
        "c_out": cfg.conv_channels,
        "depth": 1,
        "seeds": seeds,
        "n_min": table,
    }
    s0, t0 = minima("xiong", 0.0)
    s1, t1 = minima("xiong", cfg.perturbation)
    xiong = {
        **common,
        "d_in": cfg.d_in,
        "d_out": cfg.d_out,
        "depth": 1,
        "perturbation": cfg.perturbation,
        "seeds_unperturbed": s0,
        "n_min_unperturbed": t0,
        "seeds_perturbed": s1,
        "n_min_perturbed": t1,
    }
    certificate = {"dtype": "float64", "cases": [state["certificate"][c["case"]] for c in cases]}
    details = {
        "pensia-thm1-width": pensia,
        "dacunha-cnn-width": dacunha,
        "xiong-thm2-width": xiong,
        "construction-certificate.certificate": certificate,
    }
    return {eid: (eid, d) for eid, d in details.items()}


@dataclasses.dataclass(frozen=True)
class TargetsConfig:
    """Tickets of small trained targets: target vs ticket accuracy and kept ratio."""

    targets: tuple[str, ...] = help_field(
        ("digits-mlp", "digits-cnn", "mnist1d-mlp"), "trained presets to construct tickets of"
    )
    eps: float = help_field(0.01, "per-weight tolerance (Pensia et al.'s convention)")


def run_construct_targets(cfg: TargetsConfig, rundir: RunDir, ctx: Context) -> list[Path]:
    """Construct tickets of trained presets (target_acc vs ticket_acc, kept_ratio) for figure 5.

    Pensia et al.'s convention and width: every weight within ``eps``, ``n = 21`` candidates per
    half-block. Weights that miss the budget (a few on MNIST-1D, whose signed inputs need both halves of
    every block) are recorded with the accuracies, not hidden. Each ticket is an ordinary ``slth
    construct`` run directory under ``<runs_root>/construct/``; ``rundir`` gets ``targets.json``, the
    paired counts (same test examples for target and ticket) of the targets in ``ACCURACY_TARGETS``.
    Torch runs on one thread (the training and the construction are deterministic whatever the
    machine's core count).
    """
    with _one_torch_thread():
        return _run_targets(cfg, rundir, ctx)


def _run_targets(cfg: TargetsConfig, rundir: RunDir, ctx: Context) -> list[Path]:
    from networks.construct.cli import ConstructConfig, run_construct
    from theory.plumbing.records import read_json

    outs, entries = [], []
    for name in progress(cfg.targets, desc="construct-targets", quiet=ctx.quiet):
        one = ConstructConfig(
            target=name,
            eps=cfg.eps,
            budget="per-weight",
            candidates_per_weight=21,
            method="dacunha" if name.endswith("cnn") else "pensia",
            nonnegative_input=name.startswith("digits"),
        )
        out = run_construct(one, runs_root=ctx.runs_root, quiet=ctx.quiet)
        outs.append(out)
        rep = read_json(out / "report.json")
        if name not in ACCURACY_TARGETS:
            continue
        entries.append(
            {
                "target": name,
                "method": one.method,
                "eps": cfg.eps,
                "target_acc": rep["target_acc"],
                "ticket_acc": rep["ticket_acc"],
                "paired": rep["paired"],
                "num_failed_weights": rep["num_failed_weights"],
                "run": str(out),
            }
        )
    rundir.write_json("targets.json", {"targets": entries})
    return outs


def targets_evidence(rundir: RunDir) -> dict[str, tuple[str, dict[str, Any]]]:
    """``construction-certificate.accuracy`` from ``targets.json`` (none when no accuracy target ran)."""
    details = rundir.read_json("targets.json")
    eid = "construction-certificate.accuracy"
    return {eid: (eid, details)} if details["targets"] else {}


register_experiment(
    Experiment(
        "construct-width",
        "candidates per weight vs eps for the constructions, and the certificate under attack",
        WidthConfig,
        WIDTH_PRESETS,
        run_construct_width,
        width_evidence,
        (
            "pensia-thm1-width",
            "dacunha-cnn-width",
            "xiong-thm2-width",
            "construction-certificate.certificate",
        ),
    )
)
register_experiment(
    Experiment(
        "construct-targets",
        "tickets of small trained targets: kept ratio and accuracy",
        TargetsConfig,
        {"quick": TargetsConfig(), "default": TargetsConfig(), "full": TargetsConfig()},
        run_construct_targets,
        targets_evidence,
        ("construction-certificate.accuracy",),
    )
)
