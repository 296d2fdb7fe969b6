"""Validation of the arrays and scalars the SubsetSum solvers accept.

Every solver funnels its arguments through these helpers, so bad input always ends in a ``ValueError``
that names the argument and the allowed range, never in a wrong number or a hang.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory.validate import check_range


def to_numpy(value: Any) -> np.ndarray:
    """Convert a numpy array, a sequence or a torch tensor (on any device) to a float64 numpy array.

    torch is never imported here: a tensor is recognised by its ``detach`` method.
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().double().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"expected an array of real numbers, got {type(value).__name__}") from None
    return arr


def check_candidates(candidates: Any, *, max_n: int | None = None, hint: str = "") -> np.ndarray:
    """Check a 1-D, non-empty, finite candidate vector.

    Args:
        candidates: The candidate values.
        max_n: Largest allowed length, or ``None``.
        hint: Extra text for the too-long error (what to do instead).

    Returns:
        The candidates as a float64 array of shape ``(n,)``.

    Raises:
        ValueError: If the input is not 1-D, is empty, holds NaN/inf, or is longer than ``max_n``.
    """
    x = to_numpy(candidates)
    if x.ndim != 1:
        raise ValueError(f"candidates must be a 1-D array of length >= 1, got shape {x.shape}")
    if x.size == 0:
        raise ValueError("candidates must hold at least one value (length >= 1), got an empty array")
    if not np.all(np.isfinite(x)):
        raise ValueError("candidates must be finite real numbers in (-inf, inf); found NaN or inf")
    if max_n is not None and x.size > max_n:
        raise ValueError(f"candidates must have length in [1, {max_n}], got {x.size}{hint}")
    return x


def check_perturbation(perturbation: float) -> float:
    """Check the PSSP perturbation bound ``p`` (each kept candidate may move by at most ``p``)."""
    return check_range("perturbation", perturbation, 0.0, None)


def check_real(name: str, value: float) -> float:
    """Check a finite real scalar (a target or an interval end)."""
    return check_range(name, value, None, None)
