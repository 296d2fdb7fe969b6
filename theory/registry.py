"""Plain-dict registries with refusal of duplicates and errors that list the valid names.

Every family of pluggable things in the toolkit (claims, distributions, methods, models, datasets,
figures, executors) is a module-level ``dict`` plus a ``register_*`` function built on these helpers.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TypeVar

T = TypeVar("T")


def register(table: MutableMapping[str, T], kind: str, name: str, obj: T) -> T:
    """Add ``obj`` to ``table`` under ``name``.

    Args:
        table: The registry dict.
        kind: What the registry holds, for the error message (e.g. ``"method"``).
        name: The key; must be a non-empty string not already present.
        obj: The object to register.

    Returns:
        ``obj`` unchanged, so this can back a decorator.

    Raises:
        ValueError: If ``name`` is empty or already registered.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must be a non-empty string, got {name!r}")
    if name in table:
        raise ValueError(f"{kind} {name!r} is already registered; choose another name")
    table[name] = obj
    return obj


def lookup(table: Mapping[str, T], kind: str, name: str) -> T:
    """Return ``table[name]`` or raise a ``ValueError`` that lists the valid names.

    Args:
        table: The registry dict.
        kind: What the registry holds, for the error message.
        name: The key to look up.

    Returns:
        The registered object.

    Raises:
        ValueError: If ``name`` is not registered.
    """
    try:
        return table[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(table)) or "(none registered)"
        raise ValueError(f"unknown {kind} {name!r}; valid {kind}s: {valid}") from None
