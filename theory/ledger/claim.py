"""Claims and their registry: :class:`Claim`, :data:`CLAIMS`, user claim files, the built-in claims.

The built-in claims (:mod:`theory.claims`) are data built on this module; the ledger loads them by
module name (:func:`load_builtin_claims`, called before any claim is registered or looked up), so neither
module imports the other at import time and ``theory.claims`` -> ``theory.ledger`` is the only edge.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from theory import registry
from theory.ledger.checks import CHECK_TYPES, NoCheck, NumericCheck, _is_word

#: The module that holds the built-in claims (``BUILTIN_CLAIMS``), loaded by name.
BUILTIN_CLAIMS_MODULE = "theory.claims"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim in the ledger.

    Attributes:
        id: Short unique name (lower-case words joined by ``-``).
        statement: The claim in one or two sentences, with its quantifiers and ranges.
        source: Paper, theorem/lemma and which version (or "this toolkit" for derived facts).
        checks: One or more checks (:class:`SymbolicCheck`, :class:`PropertyCheck`,
            :class:`NumericCheck`) or a single :class:`NoCheck` marker.
        tags: Free-form labels (``"rss"``, ``"pssp"``, ``"network"``, ...).
        bounds: Names in :data:`theory.bounds.BOUNDS` the claim rests on (checked at registration); its
            checks must evaluate them (the NaN-mutation test replaces them and expects failures).
        parts: For a claim with several separately measured halves, their names (``()`` = one part).
            Each part needs a :class:`NumericCheck` with that ``part``; the claim is consistent only
            when every part is verified.
    """

    id: str
    statement: str
    source: str
    checks: tuple[Any, ...]
    tags: tuple[str, ...] = ()
    bounds: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id or any(c in self.id for c in "/\\ \t\n"):
            raise ValueError(f"id must be a non-empty string without spaces or slashes, got {self.id!r}")
        for name in ("statement", "source"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} of claim {self.id!r} must be a non-empty string")
        checks = tuple(self.checks) if isinstance(self.checks, list | tuple) else (self.checks,)
        if not checks:
            raise ValueError(
                f"claim {self.id!r} needs at least one check, or NoCheck(reason) to say it has none"
            )
        for c in checks:
            if not isinstance(c, CHECK_TYPES):
                raise ValueError(
                    f"checks of claim {self.id!r} must be SymbolicCheck, PropertyCheck, NumericCheck or "
                    f"NoCheck objects, got {type(c).__name__}"
                )
        bounds = (self.bounds,) if isinstance(self.bounds, str) else tuple(self.bounds)
        if not all(isinstance(b, str) and b for b in bounds) or len(set(bounds)) != len(bounds):
            raise ValueError(f"bounds of claim {self.id!r} must be distinct bound names, got {bounds!r}")
        if bounds and all(isinstance(c, NoCheck) for c in checks):
            raise ValueError(
                f"claim {self.id!r} declares bounds {bounds} but has no check that could evaluate them"
            )
        parts = (self.parts,) if isinstance(self.parts, str) else tuple(self.parts)
        if not all(isinstance(p, str) and _is_word(p) for p in parts) or len(set(parts)) != len(parts):
            raise ValueError(
                f"parts of claim {self.id!r} must be distinct words without spaces or dots, got {parts!r}"
            )
        if len(parts) == 1:
            raise ValueError(
                f"claim {self.id!r}: parts must name two or more parts (or be empty), got {parts}"
            )
        numeric_parts = [c.part for c in checks if isinstance(c, NumericCheck)]
        stray = [p for p in numeric_parts if p is not None and p not in parts]
        if stray:
            raise ValueError(f"claim {self.id!r}: NumericCheck part(s) {stray} not in parts {parts}")
        if parts:
            unchecked = [p for p in parts if p not in numeric_parts]
            if unchecked or None in numeric_parts:
                raise ValueError(
                    f"claim {self.id!r} with parts {parts}: every part needs a NumericCheck(part=...) and "
                    f"every NumericCheck a part (parts without a check: {unchecked})"
                )
        object.__setattr__(self, "checks", checks)
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "parts", parts)

    def evidence_ids(self) -> list[str]:
        """The evidence ids the claim's numeric checks read, in check order."""
        return [c.key(self) for c in self.checks if isinstance(c, NumericCheck)]


CLAIMS: dict[str, Claim] = {}


def register_claim(claim: Claim) -> Claim:
    """Add ``claim`` to :data:`CLAIMS`.

    Args:
        claim: The claim.

    Returns:
        ``claim`` unchanged.

    Raises:
        ValueError: If a claim with the same id is already registered, or it declares a bound that is
            not in :data:`theory.bounds.BOUNDS`.
    """
    if not isinstance(claim, Claim):
        raise ValueError(f"claim must be a theory.ledger.Claim, got {type(claim).__name__}")
    # Built-in claims first, so the registry (and every table) lists them before user claims.
    load_builtin_claims()
    return _register(claim)


def _register(claim: Claim) -> Claim:
    from theory import bounds as _bounds

    unknown = [b for b in claim.bounds if b not in _bounds.BOUNDS]
    if unknown:
        raise ValueError(
            f"claim {claim.id!r} declares unknown bound(s) {unknown}; valid bounds: "
            f"{', '.join(sorted(_bounds.BOUNDS))}"
        )
    return registry.register(CLAIMS, "claim", claim.id, claim)


def get_claim(claim_id: str) -> Claim:
    """Look up a registered claim (built-in claims included); the error lists the valid ids."""
    load_builtin_claims()
    return registry.lookup(CLAIMS, "claim", claim_id)


# What each loaded file/module registered, so loading it again is a no-op while its claims are present.
_LOADED: dict[str, tuple[str, ...]] = {}


def load_claims(path_or_module: str | Path) -> list[str]:
    """Import a ``.py`` file or a dotted module that registers claims with :func:`register_claim`.

    Loading the same file or module again does nothing while its claims are still registered (so
    ``slth verify --claims x.py`` can be called repeatedly in one process); if they were removed, it
    is executed again.

    Args:
        path_or_module: A path to a Python file, or an importable module name.

    Returns:
        The ids of the claims the file or module registers.

    Raises:
        ValueError: If the file or module cannot be found.
    """
    load_builtin_claims()
    target = str(path_or_module)
    path = Path(target)
    is_file = target.endswith(".py") or path.is_file()
    key = str(path.resolve()) if is_file else target
    if key in _LOADED and all(i in CLAIMS for i in _LOADED[key]):
        return list(_LOADED[key])
    before = set(CLAIMS)
    if is_file:
        if not path.is_file():
            raise ValueError(f"claims file {target!r} does not exist")
        name = f"slth_user_claims_{len(_LOADED)}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot import claims file {target!r}")
        module = importlib.util.module_from_spec(spec)
        # Registered in sys.modules while it runs so dataclasses/pickling inside it can find it.
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        try:
            if target in sys.modules:
                importlib.reload(sys.modules[target])
            else:
                importlib.import_module(target)
        except ModuleNotFoundError as err:
            raise ValueError(
                f"claims module {target!r} not found ({err}); pass a .py path or module"
            ) from None
    added = tuple(k for k in CLAIMS if k not in before)
    _LOADED[key] = added
    return list(added)


_BUILTINS = {"loading": False}


def load_builtin_claims() -> list[str]:
    """Register the built-in claims that are not registered yet.

    Built-in claims are ``theory.claims.BUILTIN_CLAIMS`` followed by the ``CLAIMS`` tuple of every rule
    module of ``theory.rules`` that declares one (a claim may live next to the rule that decides it).

    Idempotent and cheap after the first call; the ledger's entry points (:func:`register_claim`,
    :func:`get_claim`, :func:`load_claims`, :func:`theory.ledger.verify`) call it, so ``CLAIMS`` holds
    the built-in claims, first, whenever the ledger is used. A built-in claim removed from ``CLAIMS``
    comes back on the next call.

    Returns:
        The ids of the built-in claims, in registry order.
    """
    if _BUILTINS["loading"]:  # theory.claims is being imported and calls back into the ledger
        return []
    _BUILTINS["loading"] = True
    try:
        builtin = list(importlib.import_module(BUILTIN_CLAIMS_MODULE).BUILTIN_CLAIMS)
        # A rule module may declare the claims its rules decide (``CLAIMS``), so that a new claim with a new
        # rule is one file of theory/rules/, found like the rules themselves (no list of names to edit).
        from theory.rules import rule_modules

        for module in rule_modules():
            builtin.extend(getattr(module, "CLAIMS", ()))
        for claim in builtin:
            if claim.id not in CLAIMS:
                _register(claim)
    finally:
        _BUILTINS["loading"] = False
    return [c.id for c in builtin]

