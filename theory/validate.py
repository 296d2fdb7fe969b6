"""Argument checks that fail loudly, naming the argument and the allowed range."""

from __future__ import annotations

import math
from collections.abc import Iterable


def check_range(
    name: str,
    value: float,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Check that a scalar is a finite number inside an interval.

    Args:
        name: Argument name, used in the error.
        value: The value to check.
        lo: Lower end (``None`` for unbounded).
        hi: Upper end (``None`` for unbounded).
        lo_open: Exclude ``lo`` itself.
        hi_open: Exclude ``hi`` itself.

    Returns:
        ``value`` as a float.

    Raises:
        ValueError: If ``value`` is not a finite real number in the interval.
    """
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    interval = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number in {interval}, got {value!r}") from None
    bad = (
        not math.isfinite(x)
        or (lo is not None and (x < lo or (lo_open and x == lo)))
        or (hi is not None and (x > hi or (hi_open and x == hi)))
    )
    if bad:
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return x


def check_int(name: str, value: int, lo: int | None = None, hi: int | None = None) -> int:
    """Check that ``value`` is an integer (not a bool) in ``[lo, hi]``.

    Args:
        name: Argument name, used in the error.
        value: The value to check.
        lo: Smallest allowed value, or ``None``.
        hi: Largest allowed value, or ``None``.

    Returns:
        ``value`` as an ``int``.

    Raises:
        ValueError: If ``value`` is not an integer in range.
    """
    import operator

    interval = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer in {interval}, got {value!r}")
    try:
        # operator.index accepts int and numpy integers, and refuses floats and strings.
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer in {interval}, got {value!r}") from None
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} must be an integer in {interval}, got {value!r}")
    return v


def check_choice(name: str, value: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices``.

    Args:
        name: Argument name, used in the error.
        value: The value to check.
        choices: The allowed values.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: Listing the allowed values.
    """
    allowed = list(choices)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
    return value
