"""Pre-registered evidence rules: the decision rule behind every numeric check of the ledger.

A *rule* turns the raw data a producer recorded (``details`` of an evidence file, see
:func:`theory.ledger.write_evidence`) into a verdict. It is written, with its constants, before any data
is seen, and it is applied twice with the same code: by the producer when it writes the evidence (so the
run prints its verdict) and by ``slth verify`` when it reads the evidence back (so a change to a bound or
to the rule changes the verdict; a bound replaced by one returning NaN makes the rule fail or error).

Contract of a rule ``fn(details: Mapping[str, Any]) -> RuleResult``:

* it reads only ``details`` (JSON data: counts, trials, fitted numbers) and the toolkit's math
  (``theory.bounds`` through :func:`theory.bounds.get_bound` or module attributes, ``theory.stats``);
* it states, in :attr:`RuleResult.rule`, the decision rule in one line, in :attr:`RuleResult.constants`
  the constants it used and where they came from (the source, or a calibration seed range disjoint from
  the test seeds), and in :attr:`RuleResult.detectable` the smallest deviation the design could detect
  at the scale it ran;
* it returns ``inconclusive`` whenever its ``inconsistent`` branch could not be reached at that scale;
* it raises ``ValueError`` (reported as an ``error``) when a bound it evaluates is not finite.

Rules are registered by name in :data:`RULES`; the submodules of this package hold them by family
(one module per producer family) and are all imported by :func:`load_rules`.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any

from theory import registry

VERDICTS = ("consistent", "inconsistent", "inconclusive")


@dataclasses.dataclass(frozen=True)
class Effect:
    """The effect a rule measured, next to the one the reference reports (for the claims table).

    Attributes:
        quantity: One line: what the number is (e.g. "soft iEP minus EP test accuracy at density 0.05").
        measured: The measured effect (the point estimate the rule decided on).
        lo: Lower end of its interval (NaN when the design has none).
        hi: Upper end of its interval.
        detectable: The smallest effect (same unit) the design could detect at the scale it ran.
        reference: One line: the effect the reference reports, with where (or "not reported").
        reference_value: That effect as a number in the same unit, or ``None`` when it has none.
        decides_at: One line, required when the verdict is inconclusive: the scale that would decide.
        verdict: This effect's own verdict where the rule decides effects one by one (a part's verdict
            combines them), or ``None``.
    """

    quantity: str
    measured: float
    lo: float
    hi: float
    detectable: float
    reference: str
    reference_value: float | None = None
    decides_at: str | None = None
    verdict: str | None = None

    def __post_init__(self) -> None:
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise ValueError(f"effect verdict must be one of {VERDICTS} or None, got {self.verdict!r}")
        for name in ("quantity", "reference"):
            text = getattr(self, name)
            if not isinstance(text, str) or not text.strip() or "\n" in text:
                raise ValueError(f"effect {name} must be one non-empty line, got {text!r}")
        for name in ("measured", "lo", "hi", "detectable"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (a NaN end stays NaN, which the JSON records of this toolkit read back)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RuleResult:
    """What a rule decided, and on what terms.

    Attributes:
        verdict: ``consistent``, ``inconsistent`` or ``inconclusive``.
        summary: One line: what was measured, and why this verdict.
        rule: One line: the decision rule as stated before the data.
        constants: The constants the rule used, each with its origin (JSON-ready).
        detectable: One line: the smallest deviation from the claim the design could detect.
        effects: The effects it decided on, for the claims table (training claims fill it; may be empty).
    """

    verdict: str
    summary: str
    rule: str
    constants: Mapping[str, Any]
    detectable: str
    effects: tuple[Effect, ...] = ()

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        for name in ("summary", "rule", "detectable"):
            text = getattr(self, name)
            if not isinstance(text, str) or not text.strip() or "\n" in text:
                raise ValueError(f"{name} must be one non-empty line, got {text!r}")
        object.__setattr__(self, "constants", dict(self.constants))
        object.__setattr__(self, "effects", tuple(self.effects))
        for e in self.effects:
            if not isinstance(e, Effect):
                raise ValueError(f"effects must hold Effect objects, got {type(e).__name__}")
        if self.verdict == "inconclusive" and self.effects and not any(e.decides_at for e in self.effects):
            # The claims table must say, for an undecided claim, what scale would decide it.
            raise ValueError("an inconclusive result with effects must give decides_at for an undecided one")


RULES: dict[str, Callable[[Mapping[str, Any]], RuleResult]] = {}


def register_rule(name: str) -> Callable[[Callable[..., RuleResult]], Callable[..., RuleResult]]:
    """Decorator adding a rule function to :data:`RULES` under ``name`` (duplicates refused)."""

    def deco(fn: Callable[..., RuleResult]) -> Callable[..., RuleResult]:
        return registry.register(RULES, "rule", name, fn)

    return deco


def rule_modules() -> list[Any]:
    """Import every submodule of this package (registering its rules) and return them, in name order."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def load_rules() -> dict[str, Callable[[Mapping[str, Any]], RuleResult]]:
    """Import every submodule of this package (each registers its rules) and return :data:`RULES`."""
    rule_modules()
    return RULES


def get_rule(name: str) -> Callable[[Mapping[str, Any]], RuleResult]:
    """Look up a rule by name (loading the rule modules first); the error lists the valid names."""
    return registry.lookup(load_rules(), "rule", name)


def apply_rule(name: str, details: Mapping[str, Any]) -> RuleResult:
    """Apply the rule ``name`` to recorded ``details``.

    Raises:
        ValueError: If the rule is unknown or the data or a bound it evaluates is invalid.
    """
    result = get_rule(name)(details)
    if not isinstance(result, RuleResult):
        raise ValueError(f"rule {name!r} must return a RuleResult, got {type(result).__name__}")
    return result


def finite(name: str, value: float) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``name`` when it is NaN or infinite.

    Rules call this on every bound they evaluate, so a broken bound is an error, never a verdict.
    """
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} evaluated to {v!r}; a rule needs a finite value")
    return v
