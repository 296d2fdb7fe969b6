"""One cell of the Taylor experiments: train one model (one model name, one seed) and measure on it."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim.taylor.config import MODELS, TaylorConfig
from sim.taylor.hvp_checks import hvp_fd_error
from sim.taylor.interdependency import interdependency_rows
from sim.taylor.remainders import remainder_slopes
from sim.taylor.swaps import swap_predictions
from theory.registry import lookup

__all__ = ["SLOPE_COLUMNS", "run_cell", "train_config", "trained_model"]

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


def train_config(cfg: TaylorConfig, model_name: str, seed: int, steps_per_epoch: int) -> Any:
    """The shared trainer's config for one cell: Edge-Popup (``ep``) on the cell's model and dataset.

    Constant learning rate ``cfg.lr``, SGD momentum 0.9, weight decay on the scores, random weights
    ``kaiming_normal`` (scores ``kaiming_uniform_a_sqrt5``), enough epochs to hold ``cfg.train_steps``
    steps (training stops after exactly that many, :func:`trained_model`).
    """
    from networks.training import TrainConfig

    arch, options, dataset = lookup(MODELS, "taylor model", model_name)
    return TrainConfig(
        method="ep",
        model=arch,
        dataset=dataset,
        density=cfg.density,
        hidden=tuple(options.get("hidden", (128, 128))),
        epochs=max(1, math.ceil(cfg.train_steps / steps_per_epoch)),
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        lr_schedule="constant",
        momentum=0.9,
        weight_decay=cfg.weight_decay,
        weight_init="kaiming_normal",
        seed=int(seed),
    )


def trained_model(
    cfg: TaylorConfig, model_name: str, seed: int, device: Any, train_dir: str | Path | None = None
) -> tuple[Any, tuple[Any, Any], dict]:
    """One cell's model, score-trained by the shared :class:`networks.training.Trainer`, in float64.

    Args:
        cfg: The configuration.
        model_name: A :data:`~sim.taylor.config.MODELS` name.
        seed: The trainer's seed (weights, scores, data order) and the seed of the measurement batch.
        device: Where to compute.
        train_dir: Where the trainer writes its checkpoint and ``metrics.csv`` (a temporary folder when
            None).

    Returns:
        ``(model, batch, info)``: the trained model in float64 and eval mode with every parameter frozen,
        the fixed measurement batch (``cfg.eval_samples`` training examples chosen by the seed) and a
        training summary.
    """
    import torch
    import torch.nn.functional as F

    from networks.data import load_dataset
    from networks.loss_change import candidate_directions
    from networks.training import Trainer

    arch, options, dataset_name = lookup(MODELS, "taylor model", model_name)
    data = load_dataset(dataset_name, seed=0)
    tcfg = train_config(cfg, model_name, seed, math.ceil(len(data.y_train) / cfg.batch_size))
    model_options = {k: v for k, v in options.items() if k != "hidden"} | {"activation": cfg.activation}
    trainer = Trainer(tcfg, device=device, quiet=True, model_options=model_options)
    trainer.method.setup(trainer.ctx)
    if cfg.train_steps:
        with tempfile.TemporaryDirectory() as tmp:
            # One checkpoint, at the end: a cell is redone whole if interrupted (it takes seconds).
            every = tcfg.epochs
            trainer.fit(Path(train_dir or tmp), stop_after_steps=cfg.train_steps, checkpoint_every=every)
    losses = [r["value"] for r in trainer.rows if r["name"] == "train_loss"]
    model = trainer.model.to(torch.float64).eval()
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
        "architecture": arch,
        "train_steps": trainer.step,
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": float(np.mean(losses[-20:])) if losses else None,
        "eval_loss": eval_loss,
        "test_acc": test_acc,
        "weights": int(sum(m.numel() for m in candidate_directions(model)[0].values())),
    }
    return model, batch, info


def run_cell(
    cfg: TaylorConfig,
    model_name: str,
    seed: int,
    *,
    device: Any = "cpu",
    train_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train one model and run every measurement on it.

    Args:
        cfg: The configuration.
        model_name: A :data:`~sim.taylor.config.MODELS` name.
        seed: Seed of the model's weights, scores, training order and measurement batch.
        device: Where to compute.
        train_dir: Where the trainer keeps its checkpoint and metrics (None: a temporary folder).

    Numbers of swaps above the model's capacity (sum over layers of min(kept, removed)) are skipped.
    The random draws (the HVP check direction, the slope directions, the random swaps) come from one
    generator in that order, so a cell is a pure function of ``(cfg, model_name, seed)``.

    Returns:
        JSON-ready dict with ``swaps``, ``interdependency`` and ``slopes`` row lists, ``hvp_fd_error``,
        ``info`` (training summary) and ``seconds``.
    """
    import torch

    from networks.devices import resolve_device
    from networks.hvp import check_effective_forward, dot, effective_params, functional_loss, loss_grad_hvp
    from networks.loss_change import candidate_directions, random_swaps, selection_direction, swap_capacities

    dev = resolve_device(device)
    start = time.perf_counter()
    model, batch, info = trained_model(cfg, model_name, seed, dev, train_dir)
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

    def loss_change(v: Mapping[str, Any]) -> float:
        return loss_at(v) - l0

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

    ks = [k for k in cfg.ks if k <= total_cap]
    swaps, first = swap_predictions(
        model, batch, params, g, ks, gen, loss_change, model_name=model_name, seed=seed
    )
    inter = interdependency_rows(
        model, batch, params, g, ks, first, loss_change, chunks=cfg.chunks, model_name=model_name, seed=seed
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
