"""Turning a user's device argument into a ``torch.device`` that exists on this machine.

Every torch code path in the toolkit takes a ``device`` argument and passes it through
:func:`resolve_device` once, at its entry point, so that a typo or a missing GPU fails immediately
with a message that lists what this machine has, instead of deep inside a training loop.
"""

from __future__ import annotations

import torch

__all__ = ["available_devices", "resolve_device"]


def available_devices() -> list[str]:
    """The device strings usable on this machine, CPU first (``["cpu", "cuda:0", ...]``)."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``device`` to a ``torch.device`` that exists here.

    Args:
        device: ``"auto"`` (or ``None``): the first CUDA device when one is present, else the CPU;
            ``"cpu"``; ``"cuda"`` (the current CUDA device); ``"cuda:N"``; ``"mps"``; or a
            ``torch.device``.

    Returns:
        The resolved device. ``"cuda"`` resolves to an indexed device (``cuda:<current>``) so that
        results comparing devices are unambiguous.

    Raises:
        ValueError: If the string is not a device name, or names a device this machine lacks; the
            message lists the available devices.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return (
            torch.device("cuda", torch.cuda.current_device())
            if torch.cuda.is_available()
            else torch.device("cpu")
        )
    if not isinstance(device, (str, torch.device)):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device, got {device!r}"
        )
    try:
        dev = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"device {device!r} is not a device name; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' "
            f"(available here: {', '.join(available_devices())})"
        ) from None
    available = available_devices()
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} requested but CUDA is not available on this machine "
                f"(available: {', '.join(available)})"
            )
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if not 0 <= index < torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA "
                f"device(s) (available: {', '.join(available)})"
            )
        return torch.device("cuda", index)
    if dev.type == "mps" and "mps" in available:
        return torch.device("mps")
    raise ValueError(
        f"device {device!r} is not available on this machine (available: {', '.join(available)})"
    )
