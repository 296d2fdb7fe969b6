"""Frozen dataclass configs as the single source of truth (the open_lth model).

From one ``@dataclass(frozen=True)`` class the toolkit derives:

* the command-line flags (:func:`add_config_arguments`, :func:`config_from_namespace`), with help text
  taken from each field's ``metadata["help"]``;
* the saved ``config.json`` (:func:`config_to_dict`, :func:`config_from_dict`);
* the run-directory hash (:func:`config_hash`), computed from the non-default fields only, so that
  adding a field with a default does not rename existing runs;
* the run directory ``<root>/<experiment>/<hash>/seed_<s>/`` (:func:`run_dir`).

Supported field types: ``int``, ``float``, ``str``, ``bool``, ``typing.Literal[...]`` of strings,
``tuple[int, ...]``, ``tuple[float, ...]``, ``tuple[str, ...]`` and ``X | None`` of those.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")

HASH_LENGTH = 12


def help_field(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with help text (shown by ``--help``).

    Args:
        default: The default value (immutable: tuples, not lists).
        help: One-line description, with units.
        **kwargs: Passed to ``dataclasses.field``.

    Returns:
        A ``dataclasses.field``.
    """
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def _resolved_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def _coerce(tp: Any, value: Any) -> Any:
    """Convert a JSON/argparse value to the field's declared type."""
    tp, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise ValueError("None is not allowed for a non-optional field")
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(str, allowed))}; got {value!r}")
        return value
    if origin is tuple:
        (elem, *_rest) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        return tuple(_coerce(elem, v) for v in value)
    if tp is bool:
        return value if isinstance(value, bool) else _parse_bool(str(value))
    if tp is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        return float(value)
    if tp is str:
        return str(value)
    raise TypeError(f"unsupported config field type {tp!r}")


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *, prefix: str = "") -> None:
    """Add one ``--flag`` per field of the dataclass ``cls`` to ``parser``.

    Field ``learning_rate`` becomes ``--learning-rate``. Defaults are shown in the help; booleans take
    ``--flag`` / ``--no-flag``; tuples take comma-separated values.

    Args:
        parser: The parser (or argument group) to extend.
        cls: A dataclass type.
        prefix: Optional prefix for nested configs (``prefix="rigl_"`` gives ``--rigl-...``).
    """
    hints = _resolved_hints(cls)
    group = parser.add_argument_group(
        cls.__name__, (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else None
    )
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        flag = "--" + (prefix + f.name).replace("_", "-")
        tp, _ = _unwrap_optional(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = f.metadata.get("help", "")
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            help_text += " (required)"
        else:
            help_text += f" (default: {default!r})"
        dest = prefix + f.name
        if tp is bool:
            group.add_argument(
                flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
            continue
        kwargs: dict[str, Any] = {"dest": dest, "default": None, "help": help_text}
        if typing.get_origin(tp) is typing.Literal:
            kwargs["choices"] = list(typing.get_args(tp))
        elif typing.get_origin(tp) is tuple:
            kwargs["metavar"] = "A,B,..."
        elif tp in (int, float):
            kwargs["type"] = tp
        group.add_argument(flag, **kwargs)


def config_from_namespace(
    cls: type[C], ns: argparse.Namespace, *, prefix: str = "", base: C | None = None
) -> C:
    """Build a ``cls`` instance from parsed flags; unset flags keep ``base``'s (or the default) value.

    Args:
        cls: The dataclass type.
        ns: Parsed arguments from a parser extended by :func:`add_config_arguments`.
        prefix: The prefix used there.
        base: Values to start from (e.g. a preset); defaults to ``cls()``'s defaults.

    Returns:
        The config instance.

    Raises:
        ValueError: If a value does not fit its field's type.
    """
    values = config_to_dict(base) if base is not None else {}
    hints = _resolved_hints(cls)
    for f in dataclasses.fields(cls):
        v = getattr(ns, prefix + f.name, None)
        if v is not None:
            try:
                values[f.name] = _coerce(hints[f.name], v)
            except (ValueError, TypeError) as err:
                raise ValueError(f"--{(prefix + f.name).replace('_', '-')}: {err}") from None
    return config_from_dict(cls, values)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The config as a JSON-ready dict (tuples become lists)."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Rebuild a config from :func:`config_to_dict` output, refusing unknown keys.

    Raises:
        ValueError: On unknown keys or values that do not fit a field's type.
    """
    hints = _resolved_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}; valid fields: {sorted(names)}")
    kwargs = {}
    for k, v in data.items():
        try:
            kwargs[k] = _coerce(hints[k], v)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{cls.__name__}.{k}: {err}") from None
    return cls(**kwargs)


def _non_default_items(cfg: Any) -> dict[str, Any]:
    items = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        default = f.default if f.default is not dataclasses.MISSING else dataclasses.MISSING
        if default is dataclasses.MISSING or v != default:
            items[f.name] = list(v) if isinstance(v, tuple) else v
    return items


def config_hash(cfg: Any) -> str:
    """A short, stable hash of the config's class name and its non-default fields.

    Floats are serialised with ``repr`` (exact round trip), keys sorted; fields equal to their default
    are left out, so adding a new defaulted field keeps every existing hash.
    """
    payload = {"__class__": type(cfg).__name__, **_non_default_items(cfg)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def config_diff(a: Any, b: Any) -> list[str]:
    """Human-readable differences between two configs of the same class (``field: a -> b``)."""
    da, db = config_to_dict(a), config_to_dict(b)
    return [
        f"{k}: {da.get(k)!r} -> {db.get(k)!r}" for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k)
    ]


def run_dir(root: str | Path, experiment: str, cfg: Any, seed: int | None = None) -> Path:
    """``<root>/<experiment>/<hash>/seed_<seed>/`` (or without the seed level when ``seed`` is None)."""
    path = Path(root) / experiment / config_hash(cfg)
    return path if seed is None else path / f"seed_{int(seed)}"
