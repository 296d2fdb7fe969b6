"""Taylor loss-change experiments: how well g.v and g.v + 1/2 v.Hv predict the loss change of mask swaps.

The model (algorithms.md §5.1; standard Taylor expansion): a mask change ``dm`` moves the effective
weights ``w_eff = m * w`` by ``v = dm * w`` and changes the loss by
``dL = g.v + 1/2 v.H v + O(|v|^3)`` with ``g``, ``H`` the dense gradient and Hessian w.r.t. ``w_eff``
(computed by :mod:`networks.hvp`). Everything runs in float64 on Edge-Popup-style masked models
(``mask_mode="scores"``, frozen random weights, trained scores; Ramanujan et al., CVPR 2020) that were
first trained for a few hundred steps on REAL data (MNIST-1D for the MLP, scikit-learn's 8x8 digits for
the CNN). The loss is the mean cross-entropy on a fixed batch of training examples, in eval mode (so
BatchNorm uses its running statistics and the loss is one fixed function of the weights).

Experiments (one *cell* per (model, seed): one trained model):

1. HVP checks: ``H v`` against central differences of the gradient on the trained model, and against
   the full Hessian (``torch.autograd.functional.hessian``) on tiny models (:func:`hvp_checks`).
2. Remainder scaling: along ``t v`` the first-order remainder ``L(w+tv) - L(w) - t g.v`` is O(t^2) and
   the second-order one O(t^3): log-log slopes fitted by least squares, with their standard error and
   a t-interval (:func:`remainder_slopes`). ``slopes.csv``.
3. Predicted vs actual ``dL`` of real swaps (k weights out, k in; per-layer counts, so density is kept)
   for k on a log grid up to 1000: ``runs/taylor-swaps/<hash>/results.csv`` with columns
   ``model,order,k,predicted,actual,seed`` plus ``selection`` ("random": uniformly random swaps;
   "first-order": the swaps the first-order rule picks) and ``norm_v``.
4. Interdependency: k swaps chosen by the first-order rule (the k kept weights whose removal and the k
   removed weights whose addition have the most negative ``g_i v_i``, per layer; what EP's scores and
   RigL's gradient criterion approximate) against a second-order rule that accounts for interactions
   (``networks.loss_change.second_order_swaps``: prune set first, then the regrow set GIVEN the pruned
   set, greedily in chunks with the marginal quadratic-model gain ``g_i v_i + v_i (H v_S)_i`` after each
   chunk, one HVP per chunk; the final set is whichever of the two the quadratic model predicts better).
   Actual loss decrease vs k: ``runs/taylor-interdependency/<hash>/results.csv`` with columns
   ``model,rule,k,loss_decrease,seed`` plus ``predicted_first``, ``predicted_second``, ``fallback``.

Evidence for the ledger: the raw numbers go into ``details`` (every slope fit, the HVP check errors,
the per-seed loss decreases of both swap rules on the same model) and the verdicts come from the
pre-registered rules of :mod:`theory.rules.taylor` (stated there with their constants), applied by
``theory.ledger.write_evidence`` here and again by ``slth verify``.

Records (``theory.plumbing.records``, atomic): per experiment ``config.json``, ``env.json``,
``results.csv``, per-cell files ``cells/<model>_seed<s>.json`` (re-running skips finished cells).
Evidence for the ledger claims ``taylor-first-order``, ``taylor-second-order`` and
``second-order-swaps-better`` goes to ``<runs_root>/evidence/`` via ``theory.ledger.write_evidence``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from theory.plumbing.configs import config_hash, config_to_dict, help_field, run_dir
from theory.plumbing.progress import progress
from theory.plumbing.records import (
    atomic_write_csv,
    atomic_write_json,
    environment_info,
    read_json,
)
from theory.registry import lookup, register
from theory.validate import check_choice, check_int, check_range

__all__ = [
    "EXPERIMENT_INTERDEPENDENCY",
    "EXPERIMENT_SWAPS",
    "SCALES",
    "TAYLOR_MODELS",
    "TaylorConfig",
    "build_taylor_model",
    "fit_loglog",
    "hvp_checks",
    "register_taylor_model",
    "remainder_slopes",
    "run_cell",
    "run_taylor",
    "taylor_config",
    "train_scores",
]

EXPERIMENT_SWAPS = "taylor-swaps"
EXPERIMENT_INTERDEPENDENCY = "taylor-interdependency"
SWAP_COLUMNS = ("model", "order", "k", "predicted", "actual", "seed", "selection", "norm_v")
INTERDEP_COLUMNS = (
    "model",
    "rule",
    "k",
    "loss_decrease",
    "seed",
    "predicted_first",
    "predicted_second",
    "fallback",
)
SLOPE_COLUMNS = (
    "model",
    "seed",
    "direction",
    "order",
    "expected",
    "slope",
    "se",
    "ci_low",
    "ci_high",
    "points",
    "passed",
)


# ----------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TaylorConfig:
    """Taylor loss-change experiments (defaults: the quick scale used by ``slth reproduce``)."""

    models: tuple[str, ...] = help_field(
        ("mlp", "cnn"), "models from TAYLOR_MODELS (mlp: MNIST-1D, cnn: digits)"
    )
    seeds: tuple[int, ...] = help_field((0, 1, 2), "seeds; one trained model per (model, seed)")
    density: float = help_field(0.5, "fraction of weights kept by each masked layer, in (0, 1)")
    activation: Literal["gelu", "softplus", "tanh", "relu"] = help_field(
        "gelu", "hidden activation; relu's kinks break the O(t^3) second-order remainder"
    )
    train_steps: int = help_field(200, "Edge-Popup score-training steps before the measurements")
    batch_size: int = help_field(128, "training minibatch size")
    lr: float = help_field(0.1, "SGD learning rate for the scores (momentum 0.9)")
    weight_decay: float = help_field(1e-4, "weight decay on the scores (as Edge-Popup)")
    eval_samples: int = help_field(256, "training examples in the fixed batch the loss is measured on")
    ks: tuple[int, ...] = help_field((1, 10, 100, 1000), "numbers of swaps (k out, k in)")
    slope_ks: tuple[int, ...] = help_field((1, 30), "swap sizes of the random directions for the slope fits")
    t_min: float = help_field(1e-3, "smallest step length t in the remainder fits (v -> t v, |v| = 1)")
    t_max: float = help_field(0.1, "largest step length t in the remainder fits")
    t_points: int = help_field(12, "number of t values (log-spaced) in the remainder fits")
    confidence: float = help_field(0.95, "confidence level of the slope and gap intervals")
    slope_margin: float = help_field(0.15, "tolerance below the expected slope (2 or 3) still accepted")
    chunks: int = help_field(2, "greedy chunks per phase (prune, regrow) of the second-order rule")
    fd_eps: float = help_field(1e-5, "step of the central differences checking H v")


SCALES: dict[str, TaylorConfig] = {
    "quick": TaylorConfig(),
    "full": TaylorConfig(
        seeds=tuple(range(10)),
        train_steps=2000,
        eval_samples=2048,
        ks=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
        slope_ks=(1, 10, 100),
        t_points=20,
        chunks=8,
    ),
}


def taylor_config(scale: str = "quick", **overrides: Any) -> TaylorConfig:
    """The preset for ``scale`` ("quick" or "full") with ``overrides`` applied and validated.

    Raises:
        ValueError: On an unknown scale or field, or an invalid value.
    """
    base = lookup(SCALES, "scale", scale)
    names = {f.name for f in dataclasses.fields(TaylorConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown TaylorConfig fields {unknown}; valid fields: {sorted(names)}")
    cfg = dataclasses.replace(base, **overrides)
    _validate(cfg)
    return cfg


def _validate(cfg: TaylorConfig) -> None:
    if not cfg.models:
        raise ValueError(f"models must name at least one of {sorted(TAYLOR_MODELS)}")
    for m in cfg.models:
        lookup(TAYLOR_MODELS, "taylor model", m)
    if not cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers, got {cfg.seeds}")
    for s in cfg.seeds:
        check_int("seeds", s, 0)
    check_range("density", cfg.density, 0.0, 1.0, lo_open=True, hi_open=True)
    check_choice("activation", cfg.activation, ACTIVATIONS)
    check_int("train_steps", cfg.train_steps, 0)
    check_int("batch_size", cfg.batch_size, 1)
    check_range("lr", cfg.lr, 0.0, lo_open=True)
    check_range("weight_decay", cfg.weight_decay, 0.0)
    check_int("eval_samples", cfg.eval_samples, 2)
    if not cfg.ks:
        raise ValueError("ks must list at least one number of swaps")
    for k in (*cfg.ks, *cfg.slope_ks):
        check_int("ks", k, 1)
    check_range("t_min", cfg.t_min, 0.0, lo_open=True)
    check_range("t_max", cfg.t_max, cfg.t_min, lo_open=True)
    check_int("t_points", cfg.t_points, 4)
    check_range("confidence", cfg.confidence, 0.5, 1.0, hi_open=True)
    check_range("slope_margin", cfg.slope_margin, 0.0, 1.0)
    check_int("chunks", cfg.chunks, 1)
    check_range("fd_eps", cfg.fd_eps, 0.0, 1e-2, lo_open=True)


# ----------------------------------------------------------------------------------------------------
# Models (registry) and Edge-Popup score training
# ----------------------------------------------------------------------------------------------------

ModelBuilder = Callable[..., Any]
# name -> (dataset name, builder(in_shape, num_classes, *, density, generator, activation) -> nn.Module)
TAYLOR_MODELS: dict[str, tuple[str, ModelBuilder]] = {}


def register_taylor_model(name: str, dataset: str, builder: ModelBuilder) -> ModelBuilder:
    """Register a model for the Taylor experiments.

    Args:
        name: Registry key (refuses duplicates).
        dataset: A ``networks.data.DATASETS`` name the model is trained on.
        builder: ``builder(in_shape, num_classes, *, density, generator, activation) -> nn.Module``
            whose prunable layers are ``networks.layers`` masked layers in "scores" mode
            (``activation``: a name in :data:`ACTIVATIONS`).

    Returns:
        ``builder``.
    """
    register(TAYLOR_MODELS, "taylor model", name, (dataset, builder))
    return builder


ACTIVATIONS = ("gelu", "softplus", "tanh", "relu")


def _activation(name: str) -> Any:
    from torch import nn

    check_choice("activation", name, ACTIVATIONS)
    return {"gelu": nn.GELU, "softplus": nn.Softplus, "tanh": nn.Tanh, "relu": nn.ReLU}[name]()


def _mlp(
    in_shape: Sequence[int], num_classes: int, *, density: float, generator: Any, activation: str = "gelu"
) -> Any:
    """d-128-128-classes MLP (no biases) of Edge-Popup masked linear layers."""
    from torch import nn

    from networks.layers import MaskedLinear

    kw = {"density": density, "generator": generator}
    d = int(np.prod(in_shape))
    return nn.Sequential(
        nn.Flatten(),
        MaskedLinear(d, 128, **kw),
        _activation(activation),
        MaskedLinear(128, 128, **kw),
        _activation(activation),
        MaskedLinear(128, num_classes, **kw),
    )


def _cnn(
    in_shape: Sequence[int], num_classes: int, *, density: float, generator: Any, activation: str = "gelu"
) -> Any:
    """conv3x3(8)-BN-act-conv3x3(16)-BN-act-avgpool2-linear, masked, non-affine BatchNorm.

    Small on purpose: float64 convolution double-backward is slow on CPUs. Average (not max) pooling
    keeps the loss smooth in the weights.
    """
    from torch import nn

    from networks.layers import MaskedConv2d, MaskedLinear, NonAffineBatchNorm2d

    kw = {"density": density, "generator": generator}
    c, h, w = in_shape
    return nn.Sequential(
        MaskedConv2d(c, 8, 3, padding=1, **kw),
        NonAffineBatchNorm2d(8),
        _activation(activation),
        MaskedConv2d(8, 16, 3, padding=1, **kw),
        NonAffineBatchNorm2d(16),
        _activation(activation),
        nn.AvgPool2d(2),
        nn.Flatten(),
        MaskedLinear(16 * (h // 2) * (w // 2), num_classes, **kw),
    )


register_taylor_model("mlp", "mnist1d", _mlp)
register_taylor_model("cnn", "digits", _cnn)


def build_taylor_model(
    name: str,
    in_shape: Sequence[int],
    num_classes: int,
    *,
    density: float,
    seed: int,
    activation: str = "gelu",
) -> Any:
    """Build a registered model with its random weights and scores drawn from ``seed``."""
    import torch

    _, builder = lookup(TAYLOR_MODELS, "taylor model", name)
    gen = torch.Generator().manual_seed(int(seed))
    return builder(tuple(in_shape), num_classes, density=density, generator=gen, activation=activation)


def train_scores(
    model: Any,
    x: Any,
    y: Any,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    device: Any = "cpu",
) -> list[float]:
    """Edge-Popup training: SGD (momentum 0.9) on the scores only, weights frozen.

    Args:
        model: Model with scores-mode masked layers (already on ``device``).
        x: Training inputs.
        y: Training labels.
        steps: Optimiser steps (epochs repeat with a fresh permutation).
        batch_size: Minibatch size.
        lr: Learning rate.
        weight_decay: Weight decay on the scores.
        seed: Seed of the minibatch order.
        device: Device of the model.

    Returns:
        The training loss of every step.
    """
    import torch
    import torch.nn.functional as F

    from networks.data import batches

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(int(seed) + 7919)
    losses: list[float] = []
    model.train()
    while len(losses) < steps:
        for xb, yb in batches(x, y, batch_size, generator=gen, shuffle=True, drop_last=True):
            if len(losses) >= steps:
                break
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    return losses


# ----------------------------------------------------------------------------------------------------
# Remainder scaling
# ----------------------------------------------------------------------------------------------------


def fit_loglog(t: Sequence[float], r: Sequence[float], *, confidence: float = 0.99) -> dict[str, float]:
    """Least-squares slope of ``log|r|`` against ``log t``, with its standard error and t-interval.

    Args:
        t: Positive steps.
        r: Remainders (zeros are not allowed: their logarithm is undefined).
        confidence: Two-sided level of the interval (Student t with ``n - 2`` degrees of freedom).

    Returns:
        ``slope``, ``intercept``, ``se``, ``ci_low``, ``ci_high``, ``points``.

    Raises:
        ValueError: With fewer than 3 points or non-positive values.
    """
    from scipy import stats

    x = np.log(np.asarray(t, dtype=np.float64))
    a = np.abs(np.asarray(r, dtype=np.float64))
    if x.size < 3 or x.size != a.size:
        raise ValueError(f"need at least 3 (t, r) pairs of equal length, got {x.size} and {a.size}")
    if not (np.all(np.isfinite(x)) and np.all(a > 0) and np.all(np.isfinite(a))):
        raise ValueError("t and |r| must be positive and finite")
    y = np.log(a)
    n = x.size
    xm = x - x.mean()
    sxx = float(xm @ xm)
    slope = float(xm @ (y - y.mean())) / sxx
    intercept = float(y.mean() - slope * x.mean())
    resid = y - (intercept + slope * x)
    s2 = float(resid @ resid) / (n - 2)
    se = math.sqrt(s2 / sxx)
    q = float(stats.t.ppf(0.5 + confidence / 2, n - 2))
    return {
        "slope": slope,
        "intercept": intercept,
        "se": se,
        "ci_low": slope - q * se,
        "ci_high": slope + q * se,
        "points": n,
    }


def remainder_slopes(
    model: Any,
    batch: Sequence[Any],
    v: Mapping[str, Any],
    *,
    ts: Sequence[float],
    confidence: float = 0.99,
    params: Mapping[str, Any] | None = None,
) -> dict[int, dict[str, float]]:
    """Fitted orders of the first- and second-order Taylor remainders along ``t v``.

    ``r1(t) = L(w + t v) - L(w) - t g.v`` should scale as ``t^2`` and ``r2(t) = r1(t) - t^2/2 v.Hv`` as
    ``t^3`` (Taylor's theorem with a smooth loss; ReLU networks are piecewise smooth, so a step crossing a
    kink shows up as a slope below the order). ``v`` is rescaled to unit Euclidean norm first, so ``t``
    is the step length. Points whose remainder is below the float64 noise floor (1e3 machine epsilons
    times the loss scale) are left out of the fit.

    Args:
        model: The model.
        batch: ``(x, y)``.
        v: Direction.
        ts: Positive steps.
        confidence: Level of the slope intervals.
        params: Expansion point (default: the current effective weights).

    Returns:
        ``{1: fit, 2: fit}`` as from :func:`fit_loglog`, each also with ``expected`` (2 or 3); a fit
        with fewer than 3 usable points has ``slope`` NaN.
    """
    import torch

    from networks.hvp import dot, effective_params, functional_loss, loss_grad_hvp

    params = effective_params(model) if params is None else params
    norm = math.sqrt(dot(v, v))
    if not norm > 0:
        raise ValueError("v must be a non-zero direction")
    v = {n: t / norm for n, t in v.items()}
    loss0, g, (hv,) = loss_grad_hvp(model, batch, [v], params=params)
    gv, vhv = dot(g, v), dot(v, hv)
    l0 = float(loss0)
    floor = 1e3 * np.finfo(np.float64).eps * max(1.0, abs(l0))
    r1, r2 = [], []
    data = (batch[0], *batch[1:])
    with torch.no_grad():
        for t in ts:
            lt = float(functional_loss(model, {n: params[n] + t * v[n] for n in params}, data))
            r1.append(lt - l0 - t * gv)
            r2.append(lt - l0 - t * gv - 0.5 * t * t * vhv)
    out = {}
    for order, r in ((1, r1), (2, r2)):
        t_arr, r_arr = np.asarray(ts, dtype=np.float64), np.asarray(r)
        keep = np.abs(r_arr) > floor
        if keep.sum() >= 3:
            fit = fit_loglog(t_arr[keep], r_arr[keep], confidence=confidence)
        else:
            fit = {"slope": math.nan, "intercept": math.nan, "se": math.nan}
            fit.update({"ci_low": math.nan, "ci_high": math.nan, "points": int(keep.sum())})
        fit["expected"] = order + 1
        out[order] = fit
    return out


# ----------------------------------------------------------------------------------------------------
# HVP checks
# ----------------------------------------------------------------------------------------------------


def _rel(a: Any, b: Any) -> float:
    import torch

    return float(torch.linalg.vector_norm(a - b) / torch.clamp(torch.linalg.vector_norm(b), min=1e-300))


def hvp_fd_error(model: Any, batch: Sequence[Any], v: Mapping[str, Any], *, eps: float = 1e-5) -> float:
    """Relative error of ``H v`` against the central difference ``(g(w + eps v) - g(w - eps v)) / 2 eps``."""
    from networks.hvp import effective_params, flatten, hvp, loss_and_grad

    params = effective_params(model)
    hv = flatten(hvp(model, batch, v))
    _, gp = loss_and_grad(model, batch, params={n: params[n] + eps * v[n] for n in params})
    _, gm = loss_and_grad(model, batch, params={n: params[n] - eps * v[n] for n in params})
    return _rel(hv, (flatten(gp) - flatten(gm)) / (2 * eps))


def hvp_checks(*, device: Any = "cpu", seed: int = 0, eps: float = 1e-5) -> dict[str, float]:
    """``H v`` on tiny float64 models against the full Hessian and against central differences.

    The models are a 6-5-3 masked MLP and a masked conv + non-affine BatchNorm + masked linear CNN (in
    train mode, so the loss depends on the batch statistics: the hard case), built with
    ``networks.layers``; the full Hessian comes from ``torch.autograd.functional.hessian``.

    Returns:
        Relative errors ``{"<model>_vs_hessian": ..., "<model>_vs_fd": ...}``.
    """
    import torch
    from torch import nn

    from networks.devices import resolve_device
    from networks.hvp import effective_params, flatten, functional_loss, hvp, preserved_state, unflatten
    from networks.layers import MaskedConv2d, MaskedLinear, NonAffineBatchNorm2d

    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(seed)
    mlp = nn.Sequential(
        MaskedLinear(6, 5, density=0.6, generator=gen),
        nn.Tanh(),
        MaskedLinear(5, 3, density=0.6, generator=gen),
    )
    cnn = nn.Sequential(
        MaskedConv2d(1, 3, 3, padding=1, density=0.7, generator=gen),
        NonAffineBatchNorm2d(3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        MaskedLinear(12, 3, density=0.6, generator=gen),
    )
    out = {}
    for name, model, shape in (("mlp", mlp, (9, 6)), ("cnn", cnn, (9, 1, 4, 4))):
        model = model.to(dev, torch.float64).train()
        x = torch.randn(shape, generator=gen, dtype=torch.float64).to(dev)
        y = torch.randint(0, 3, (shape[0],), generator=gen).to(dev)
        batch = (x, y)
        params = effective_params(model)
        v = {n: torch.randn(p.shape, generator=gen, dtype=torch.float64).to(dev) for n, p in params.items()}

        def f(flat: Any, model: Any = model, params: Any = params, batch: Any = batch) -> Any:
            return functional_loss(model, unflatten(flat, params), batch)

        with preserved_state(model):
            hess = torch.autograd.functional.hessian(f, flatten(params))
        hv = flatten(hvp(model, batch, v))
        out[f"{name}_vs_hessian"] = _rel(hv, hess @ flatten(v))
        out[f"{name}_vs_fd"] = hvp_fd_error(model, batch, v, eps=eps)
    return out


# ----------------------------------------------------------------------------------------------------
# One cell: one trained model
# ----------------------------------------------------------------------------------------------------


def _trained_model(
    cfg: TaylorConfig, model_name: str, seed: int, device: Any
) -> tuple[Any, tuple[Any, Any], dict]:
    import torch
    import torch.nn.functional as F

    from networks.data import load_dataset
    from networks.loss_change import candidate_directions

    dataset_name, _ = lookup(TAYLOR_MODELS, "taylor model", model_name)
    data = load_dataset(dataset_name, seed=0)
    model = build_taylor_model(
        model_name, data.in_shape, data.num_classes, density=cfg.density, seed=seed, activation=cfg.activation
    )
    model = model.to(device)
    losses = train_scores(
        model,
        data.x_train,
        data.y_train,
        steps=cfg.train_steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        seed=seed,
        device=device,
    )
    model = model.to(torch.float64).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    # A fixed batch of training examples, chosen by the seed (the same for every measurement).
    gen = torch.Generator().manual_seed(int(seed) + 104729)
    n = min(cfg.eval_samples, len(data.y_train))
    idx = torch.randperm(len(data.y_train), generator=gen)[:n]
    batch = (data.x_train[idx].to(device, torch.float64), data.y_train[idx].to(device))
    with torch.no_grad():
        test_acc = float(
            (model(data.x_test.to(device, torch.float64)).argmax(1).cpu() == data.y_test).double().mean()
        )
        eval_loss = float(F.cross_entropy(model(batch[0]), batch[1]))
    info = {
        "dataset": dataset_name,
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": float(np.mean(losses[-20:])) if losses else None,
        "eval_loss": eval_loss,
        "test_acc": test_acc,
        "weights": int(sum(m.numel() for m in candidate_directions(model)[0].values())),
    }
    return model, batch, info


def run_cell(cfg: TaylorConfig, model_name: str, seed: int, *, device: Any = "cpu") -> dict[str, Any]:
    """Train one model and run every measurement on it.

    Args:
        cfg: The configuration.
        model_name: A ``TAYLOR_MODELS`` name.
        seed: Seed of the model's weights, scores, training order and measurement batch.
        device: Where to compute.

    Numbers of swaps above the model's capacity (sum over layers of min(kept, removed)) are skipped.

    Returns:
        JSON-ready dict with ``swaps``, ``interdependency`` and ``slopes`` row lists, ``hvp_fd_error``,
        ``info`` (training summary) and ``seconds``.
    """
    import torch

    from networks.devices import resolve_device
    from networks.hvp import check_effective_forward, dot, effective_params, functional_loss, loss_grad_hvp
    from networks.loss_change import (
        candidate_directions,
        first_order_swaps,
        random_swaps,
        second_order_swaps,
        selection_direction,
        swap_capacities,
    )

    dev = resolve_device(device)
    start = time.perf_counter()
    model, batch, info = _trained_model(cfg, model_name, seed, dev)
    check_effective_forward(model, batch[0], atol=1e-10)
    params = effective_params(model)
    loss0, g, _ = loss_grad_hvp(model, batch, [], params=params)
    l0 = float(loss0)
    _, dirs = candidate_directions(model)
    total_cap = sum(swap_capacities(candidate_directions(model)[0]))
    gen = torch.Generator().manual_seed(int(seed) + 15485863)

    def loss_at(v: Mapping[str, Any]) -> float:
        with torch.no_grad():
            return float(functional_loss(model, {n: params[n] + v[n] for n in params}, batch))

    # HVP against central differences on the trained model, along a random swap direction.
    d, gr = random_swaps(model, min(10, total_cap), gen)
    fd_err = hvp_fd_error(model, batch, selection_direction(dirs, d, gr), eps=cfg.fd_eps)

    slopes = []
    ts = np.geomspace(cfg.t_min, cfg.t_max, cfg.t_points)
    for k in cfg.slope_ks:
        if k > total_cap:
            continue
        d, gr = random_swaps(model, k, gen)
        fits = remainder_slopes(
            model, batch, selection_direction(dirs, d, gr), ts=ts, confidence=cfg.confidence
        )
        for order, fit in fits.items():
            passed = bool(np.isfinite(fit["slope"]) and fit["ci_high"] >= fit["expected"] - cfg.slope_margin)
            slopes.append(
                {
                    "model": model_name,
                    "seed": seed,
                    "direction": f"random-swap-k{k}",
                    "order": order,
                    "expected": fit["expected"],
                    "slope": fit["slope"],
                    "se": fit["se"],
                    "ci_low": fit["ci_low"],
                    "ci_high": fit["ci_high"],
                    "points": fit["points"],
                    "passed": passed,
                }
            )

    swaps, inter = [], []
    for k in cfg.ks:
        if k > total_cap:
            continue
        for selection in ("random", "first-order"):
            d, gr = random_swaps(model, k, gen) if selection == "random" else first_order_swaps(model, g, k)
            v = selection_direction(dirs, d, gr)
            _, _, (hv,) = loss_grad_hvp(model, batch, [v], params=params)
            actual = loss_at(v) - l0
            p1 = dot(g, v)
            p2 = p1 + 0.5 * dot(v, hv)
            norm_v = math.sqrt(dot(v, v))
            for order, pred in ((1, p1), (2, p2)):
                swaps.append(
                    {
                        "model": model_name,
                        "order": order,
                        "k": k,
                        "predicted": pred,
                        "actual": actual,
                        "seed": seed,
                        "selection": selection,
                        "norm_v": norm_v,
                    }
                )
            if selection == "first-order":
                inter.append(
                    {
                        "model": model_name,
                        "rule": "first-order",
                        "k": k,
                        "loss_decrease": -actual,
                        "seed": seed,
                        "predicted_first": p1,
                        "predicted_second": p2,
                        "fallback": False,
                    }
                )
        so = second_order_swaps(model, batch, g, k, chunks=cfg.chunks, params=params)
        inter.append(
            {
                "model": model_name,
                "rule": "second-order",
                "k": k,
                "loss_decrease": l0 - loss_at(so["v"]),
                "seed": seed,
                "predicted_first": so["predicted_first"],
                "predicted_second": so["predicted_second"],
                "fallback": so["fallback"],
            }
        )
    info.update({"loss0": l0, "grad_norm": math.sqrt(dot(g, g)), "seconds": time.perf_counter() - start})
    return {
        "model": model_name,
        "seed": seed,
        "swaps": swaps,
        "interdependency": inter,
        "slopes": slopes,
        "hvp_fd_error": fd_err,
        "info": info,
    }


# ----------------------------------------------------------------------------------------------------
# Verdicts
# ----------------------------------------------------------------------------------------------------


def _prediction_stats(swaps: list[dict]) -> dict[str, Any]:
    """Median |actual - predicted| per (selection, k) and order, and how often order 2 is closer."""
    out: dict[str, Any] = {}
    keyed: dict[tuple, dict[int, list[float]]] = {}
    for r in swaps:
        keyed.setdefault((r["model"], r["selection"], int(r["k"]), r["seed"]), {})[int(r["order"])] = [
            float(r["predicted"]),
            float(r["actual"]),
        ]
    by_k: dict[tuple, list[tuple[float, float, float]]] = {}
    for (model, selection, k, _), orders in keyed.items():
        if 1 in orders and 2 in orders:
            actual = orders[1][1]
            by_k.setdefault((model, selection, k), []).append(
                (abs(actual - orders[1][0]), abs(actual - orders[2][0]), abs(actual))
            )
    for (model, selection, k), errs in sorted(by_k.items()):
        e = np.asarray(errs)
        out[f"{model}/{selection}/k={k}"] = {
            "median_abs_err_first": float(np.median(e[:, 0])),
            "median_abs_err_second": float(np.median(e[:, 1])),
            "median_abs_actual": float(np.median(e[:, 2])),
            "second_closer_fraction": float(np.mean(e[:, 1] < e[:, 0])),
        }
    return out


def _interdependency_pairs(inter: list[dict]) -> list[dict[str, Any]]:
    """Per (model, k, seed): the loss decreases of both rules on the same trained model (the raw pairs)."""
    pairs: dict[tuple, dict[str, float]] = {}
    for r in inter:
        pairs.setdefault((r["model"], int(r["k"]), int(r["seed"])), {})[r["rule"]] = float(r["loss_decrease"])
    return [
        {"model": m, "k": k, "seed": seed, "first": rules["first-order"], "second": rules["second-order"]}
        for (m, k, seed), rules in sorted(pairs.items())
        if "first-order" in rules and "second-order" in rules
    ]


def _finite(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats become None (strict JSON has no NaN or Infinity)."""
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _write_evidence(runs_root: Path, claim: str, *, run: Path, details: dict) -> dict[str, Any]:
    """Write the evidence through its pre-registered rule (:mod:`theory.rules.taylor`); returns the record."""
    from theory.ledger import write_evidence

    path = write_evidence(runs_root, claim, run=str(run), details=_finite(details), rule_id=claim)
    return read_json(path)


# ----------------------------------------------------------------------------------------------------
# The pipeline
# ----------------------------------------------------------------------------------------------------


def _cell_name(model: str, seed: int) -> str:
    return f"{model}_seed{int(seed)}.json"


def run_taylor(
    cfg: TaylorConfig | str = "quick",
    *,
    runs_root: str | Path = "runs",
    device: Any = "cpu",
    quiet: bool = False,
) -> dict[str, Any]:
    """Run (or resume) both Taylor experiments and write their records and ledger evidence.

    Args:
        cfg: A :class:`TaylorConfig` or a scale name ("quick", "full").
        runs_root: Root of the run directories.
        device: Where to compute ("cpu", "cuda", "auto", ...).
        quiet: No progress bar.

    Returns:
        Dict with ``swaps_dir``, ``interdependency_dir``, ``verdicts`` (claim id -> verdict), ``computed``
        and ``reused`` cell counts, ``hvp_checks``.
    """
    from networks.devices import resolve_device

    if isinstance(cfg, str):
        cfg = taylor_config(check_choice("scale", cfg, tuple(SCALES)))
    _validate(cfg)
    dev = resolve_device(device)
    root = Path(runs_root)
    swaps_dir = run_dir(root, EXPERIMENT_SWAPS, cfg)
    inter_dir = run_dir(root, EXPERIMENT_INTERDEPENDENCY, cfg)
    env = environment_info()
    env["device"] = str(dev)
    for d in (swaps_dir, inter_dir):
        atomic_write_json(d / "config.json", {**config_to_dict(cfg), "hash": config_hash(cfg)})
        atomic_write_json(d / "env.json", env)

    cells = [(m, s) for m in cfg.models for s in cfg.seeds]
    results, computed, reused = [], 0, 0
    for model_name, seed in progress(cells, desc="taylor", quiet=quiet):
        a, b = (
            swaps_dir / "cells" / _cell_name(model_name, seed),
            inter_dir / "cells" / _cell_name(model_name, seed),
        )
        if a.is_file() and b.is_file():
            results.append({**read_json(a), **read_json(b)})
            reused += 1
            continue
        res = run_cell(cfg, model_name, seed, device=dev)
        common = {"model": model_name, "seed": seed, "info": res["info"]}
        swap_part = {
            **common,
            "swaps": res["swaps"],
            "slopes": res["slopes"],
            "hvp_fd_error": res["hvp_fd_error"],
        }
        atomic_write_json(a, swap_part)
        atomic_write_json(b, {**common, "interdependency": res["interdependency"]})
        results.append(res)
        computed += 1

    swaps = [r for res in results for r in res["swaps"]]
    inter = [r for res in results for r in res["interdependency"]]
    slopes = [r for res in results for r in res["slopes"]]
    atomic_write_csv(swaps_dir / "results.csv", swaps, SWAP_COLUMNS)
    atomic_write_csv(swaps_dir / "slopes.csv", slopes, SLOPE_COLUMNS)
    atomic_write_csv(inter_dir / "results.csv", inter, INTERDEP_COLUMNS)

    checks_path = swaps_dir / "hvp_checks.json"
    if checks_path.is_file():
        checks = read_json(checks_path)
    else:
        checks = hvp_checks(device=dev, eps=cfg.fd_eps)
        checks["trained_models_vs_fd_max"] = max(float(res["hvp_fd_error"]) for res in results)
        atomic_write_json(checks_path, checks)
    info = {f"{res['model']}/seed{res['seed']}": res["info"] for res in results}

    # The decisions live in the rules (theory.rules.taylor); here only the raw data are recorded.
    common = {"margin": cfg.slope_margin, "confidence": cfg.confidence, "activation": cfg.activation}
    predictions = _prediction_stats(swaps)
    details = {
        "taylor-first-order": {
            **common,
            "fits": [r for r in slopes if int(r["order"]) == 1],
            "training": info,
            "prediction_errors": predictions,
        },
        "taylor-second-order": {
            **common,
            "fits": [r for r in slopes if int(r["order"]) == 2],
            "hvp_checks": checks,
            "prediction_errors": predictions,
        },
        "second-order-swaps-better": {"confidence": cfg.confidence, "pairs": _interdependency_pairs(inter)},
    }
    records = {
        claim: _write_evidence(
            root, claim, run=inter_dir if claim == "second-order-swaps-better" else swaps_dir, details=d
        )
        for claim, d in details.items()
    }
    verdicts = {claim: rec["verdict"] for claim, rec in records.items()}
    summaries = {claim: rec["summary"] for claim, rec in records.items()}

    return {
        "swaps_dir": swaps_dir,
        "interdependency_dir": inter_dir,
        "verdicts": verdicts,
        "summaries": summaries,
        "computed": computed,
        "reused": reused,
        "hvp_checks": checks,
    }
