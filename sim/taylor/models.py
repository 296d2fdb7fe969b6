"""The Taylor experiments' models (smooth activations, masked "scores" layers) and their score training."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theory.registry import lookup, register
from theory.validate import check_choice

__all__ = ["ACTIVATIONS", "TAYLOR_MODELS", "build_taylor_model", "register_taylor_model", "train_scores"]

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
