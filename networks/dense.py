"""Ordinary (dense) training and evaluation: target networks and partly-trained models.

``train_dense`` is plain minibatch SGD with momentum on every parameter that requires a gradient, so
it also trains the scores of a masked model in "scores" mode or the weights in "fixed" mode; the
mask-search algorithms with their own schedules live in ``networks.training``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from networks.data import Dataset, batches
from networks.devices import resolve_device
from theory.plumbing.progress import progress
from theory.validate import check_choice, check_int, check_range

__all__ = ["evaluate", "train_dense"]


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


def train_dense(
    model: nn.Module,
    dataset: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    device: torch.device | str = "cpu",
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    schedule: Literal["cosine", "constant"] = "cosine",
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
    quiet: bool = True,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train ``model`` with minibatch SGD (momentum) and evaluate on the test split after each epoch.

    The learning rate follows ``schedule``: "cosine" sets ``lr * (1 + cos(pi * e / epochs)) / 2`` at
    the start of epoch ``e`` (Edge-Popup's per-epoch cosine, hidden-networks ``utils/schedulers.py``),
    "constant" keeps ``lr``. The batch order comes from ``torch.Generator().manual_seed(seed)``.

    Args:
        model: The model; trained in place and moved to ``device``.
        dataset: Training and test tensors.
        epochs: Passes over the training set (>= 0).
        lr: Initial learning rate (> 0).
        batch_size: Examples per step.
        seed: Seed of the batch order.
        device: Where to train.
        weight_decay: L2 penalty (SGD's ``weight_decay``).
        momentum: SGD momentum in ``[0, 1)``.
        schedule: "cosine" or "constant".
        loss_fn: Loss of logits and labels.
        quiet: Hide the progress bar.

    Returns:
        ``(model, history)``; ``history`` has one dict per epoch (plus epoch 0, before training):
        ``epoch, lr, train_loss, test_loss, test_correct, test_total, test_acc``.

    Raises:
        ValueError: On invalid hyperparameters or a model without trainable parameters.
    """
    epochs = check_int("epochs", epochs, 0)
    lr = check_range("lr", lr, 0.0, None, lo_open=True)
    batch_size = check_int("batch_size", batch_size, 1)
    weight_decay = check_range("weight_decay", weight_decay, 0.0)
    momentum = check_range("momentum", momentum, 0.0, 1.0, hi_open=True)
    check_choice("schedule", schedule, ("cosine", "constant"))
    dev = resolve_device(device)
    model.to(dev).train()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (requires_grad=True)")
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(check_int("seed", seed, 0))
    x_train, y_train = dataset.x_train.to(dev), dataset.y_train.to(dev)

    def record(epoch: int, current_lr: float, train_loss: float) -> dict[str, Any]:
        correct, total, test_loss = evaluate(
            model, dataset.x_test, dataset.y_test, device=dev, loss_fn=loss_fn
        )
        return {
            "epoch": epoch,
            "lr": current_lr,
            "train_loss": train_loss,
            "test_loss": test_loss,
            "test_correct": correct,
            "test_total": total,
            "test_acc": correct / max(total, 1),
        }

    history = [record(0, lr, float("nan"))]
    for epoch in progress(range(epochs), desc="train_dense", quiet=quiet):
        current_lr = lr if schedule == "constant" else lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
        for group in opt.param_groups:
            group["lr"] = current_lr
        loss_sum, seen = torch.zeros((), device=dev), 0
        for xb, yb in batches(x_train, y_train, batch_size, generator=gen, shuffle=True):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            # Accumulate on the device; one host sync per epoch instead of one per step.
            loss_sum += loss.detach() * yb.numel()
            seen += int(yb.numel())
        history.append(record(epoch + 1, current_lr, float(loss_sum) / max(seen, 1)))
    return model, history
