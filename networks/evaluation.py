"""Evaluation of a model on a split: accuracy counts and mean loss, in eval mode.

The one evaluation routine: the trainer (``networks.training.Trainer.evaluate``) and the Taylor
experiments call it. Training of every kind (the dense baseline, mask search) is the trainer's
(``networks.training``, method ``dense`` for ordinary SGD on every weight).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from networks.data import batches
from networks.devices import resolve_device
from theory.validate import check_int

__all__ = ["evaluate"]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 1024,
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
) -> tuple[int, int, float]:
    """Accuracy counts and mean loss of ``model`` on ``(x, y)`` in eval mode.

    The model's train/eval mode is restored afterwards.

    Args:
        model: The model (moved to ``device``).
        x: Inputs.
        y: Integer labels.
        device: Where to compute.
        batch_size: Examples per forward pass (memory only; the result does not depend on it).
        loss_fn: Per-batch loss with ``reduction="sum"`` support (default cross-entropy).

    Returns:
        ``(correct, total, mean_loss)``.
    """
    dev = resolve_device(device)
    batch_size = check_int("batch_size", batch_size, 1)
    was_training = model.training
    model.to(dev).eval()
    correct, total, loss_sum = 0, 0, 0.0
    try:
        for xb, yb in batches(x, y, batch_size, shuffle=False):
            xb, yb = xb.to(dev), yb.to(dev)
            out = model(xb)
            loss_sum += float(loss_fn(out, yb, reduction="sum"))
            correct += int((out.argmax(dim=1) == yb).sum())
            total += int(yb.numel())
    finally:
        model.train(was_training)
    return correct, total, loss_sum / max(total, 1)
