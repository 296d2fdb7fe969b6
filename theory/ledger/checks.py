"""The check types of the ledger: what a claim's checks are and how each one runs.

* :class:`SymbolicCheck`: sympy identities of a derivation (and :class:`theory.symbolic.BoundAgreement`
  items: a registered bound against its sympy form); reports ``derivation-checked``, never ``verified``.
* :class:`PropertyCheck`: a hypothesis property over the exact solvers; a failure carries the shrunk
  example.
* :class:`NumericCheck`: the newest evidence file of a producer, re-decided by its pre-registered rule.
* :class:`NoCheck`: an explicit marker for a claim with no check that could fail.

sympy and hypothesis are imported only when a check runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from theory import validate
from theory.ledger.evidence import EVIDENCE_DIR, scan_evidence

if TYPE_CHECKING:
    from theory.ledger.claim import Claim

#: Check statuses. ``verified``: a check ran that would have failed had the claim been false (a property
#: held, or evidence whose rule says consistent). ``derivation-checked``: sympy checked the algebra of the
#: derivation (never enough for a claim on its own). ``inconclusive``: evidence exists but its rule could
#: not decide. ``pending``: no evidence yet. ``no-check``: the claim has no check (NoCheck).
STATUSES = ("verified", "derivation-checked", "failed", "inconclusive", "pending", "no-check", "error")

# How an evidence verdict maps to a ledger status.
_VERDICT_STATUS = {"consistent": "verified", "inconsistent": "failed", "inconclusive": "inconclusive"}


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    """What running one check produced.

    Attributes:
        status: One of :data:`STATUSES`.
        evidence: One line saying what was shown (or why not).
        counterexample: The (shrunk) failing input, as text, when the check failed.
        rule: For evidence decided by a rule: the rule's one-line statement.
        constants: The rule's constants with their origin.
        detectable: The smallest deviation the rule's design could detect.
    """

    status: str
    evidence: str
    counterexample: str | None = None
    rule: str | None = None
    constants: Mapping[str, Any] | None = None
    detectable: str | None = None


@dataclasses.dataclass(frozen=True)
class SymbolicCheck:
    """A sympy check: an expression that must simplify to 0, or a statement that must reduce to True.

    Attributes:
        description: Short label shown in the ledger table.
        build: Zero-argument callable returning a sympy expression (``kind="zero"``), a sympy boolean
            or relational (``kind="true"``), or a Python ``bool``. A callable keeps sympy out of import
            time. It may also return a list/tuple of such items: all must hold.
        kind: ``"zero"`` (each expression simplifies to 0), ``"true"`` (each statement is True), or
            ``"auto"`` (booleans and relationals must be True, other expressions must be 0).
    """

    description: str
    build: Callable[[], Any]
    kind: str = "auto"

    def __post_init__(self) -> None:
        validate.check_choice("kind", self.kind, ("auto", "zero", "true"))
        if not callable(self.build):
            raise ValueError(f"build must be a zero-argument callable, got {type(self.build).__name__}")

    kind_name = "symbolic"

    @property
    def label(self) -> str:
        """Table label: ``sympy: <description>``."""
        return f"sympy: {self.description}"

    def run(self, claim: Claim, *, runs_root: Path, max_examples: int, seed: int | None) -> CheckOutcome:
        """Simplify the expression(s); on failure search for a small witness."""
        from theory.symbolic import BoundAgreement

        built = self.build()
        items = list(built) if isinstance(built, list | tuple) else [built]
        if not items:
            return CheckOutcome("error", "the check built no expression")
        for i, item in enumerate(items):
            kind = _item_kind(item) if self.kind == "auto" else self.kind
            holds, residual = _sympy_holds(item, kind)
            if holds:
                continue
            where = f"item {i + 1} of {len(items)}: " if len(items) > 1 else ""
            if isinstance(item, BoundAgreement):
                return CheckOutcome("failed", f"{where}{item.description}")
            if isinstance(item, bool):
                return CheckOutcome("failed", f"{where}a numeric cross-check (Python bool) returned False")
            witness = _sympy_witness(item, kind)
            if witness is not None:
                return CheckOutcome(
                    "failed", f"{where}false at {witness[0]} (value {witness[1]})", witness[0]
                )
            return CheckOutcome(
                "failed", f"{where}not proved by sympy; residual {_short(residual)} (no small witness found)"
            )
        agreements = sum(isinstance(item, BoundAgreement) for item in items)
        algebra = len(items) - agreements
        text = f"sympy proves {algebra} identit{'y' if algebra == 1 else 'ies'} of the derivation"
        if agreements:
            text += f"; {agreements} registered bound(s) match their sympy form"
        # The algebra of a derivation is not evidence for the claim it supports: never "verified".
        return CheckOutcome("derivation-checked", text)


@dataclasses.dataclass(frozen=True)
class PropertyCheck:
    """A property over random instances, run with hypothesis against the exact solvers.

    Attributes:
        description: Short label shown in the ledger table.
        strategy: Zero-argument callable returning a hypothesis strategy (hypothesis is imported only
            when the check runs).
        predicate: ``predicate(example) -> bool``; True where the claim holds. Raising
            ``AssertionError`` counts as False; any other exception is reported as an ``error``.
    """

    description: str
    strategy: Callable[[], Any]
    predicate: Callable[[Any], bool]

    def __post_init__(self) -> None:
        if not callable(self.strategy) or not callable(self.predicate):
            raise ValueError("strategy and predicate must both be callables")

    kind_name = "property"

    @property
    def label(self) -> str:
        """Table label: ``hypothesis: <description>``."""
        return f"hypothesis: {self.description}"

    def run(self, claim: Claim, *, runs_root: Path, max_examples: int, seed: int | None) -> CheckOutcome:
        """Run under hypothesis; report the shrunk falsifying example on failure."""
        import hypothesis
        from hypothesis import HealthCheck, Verbosity, given, settings

        # Hypothesis replays the minimal failing example last before raising, so the last failing
        # example recorded here is the shrunk one.
        last_failure: list[tuple[Any, BaseException | None]] = []
        predicate = self.predicate

        def body(example: Any) -> None:
            try:
                ok = predicate(example)
            except AssertionError as err:
                last_failure.append((example, None))
                raise AssertionError(str(err)) from None
            except Exception as err:
                last_failure.append((example, err))
                raise
            if not ok:
                last_failure.append((example, None))
                raise AssertionError("predicate returned False")

        test = given(self.strategy())(body)
        test = settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=seed is None,
            print_blob=False,
            report_multiple_bugs=False,
            verbosity=Verbosity.quiet,
            suppress_health_check=list(HealthCheck),
        )(test)
        if seed is not None:
            test = hypothesis.seed(seed)(test)
        try:
            test()
        except AssertionError:
            example = last_failure[-1][0] if last_failure else "?"
            return CheckOutcome(
                "failed", f"falsified; minimal example {_short(example)}", _short(example, 2000)
            )
        except Exception as err:
            if last_failure and last_failure[-1][1] is not None:
                example = last_failure[-1][0]
                return CheckOutcome(
                    "error",
                    f"{type(err).__name__}: {_short(err)} at minimal example {_short(example)}",
                    _short(example, 2000),
                )
            return CheckOutcome("error", f"{type(err).__name__}: {_short(err)}")
        return CheckOutcome("verified", f"held on {max_examples} hypothesis examples")


@dataclasses.dataclass(frozen=True)
class NumericCheck:
    """A measured claim: its status comes from the newest evidence file written by a producer.

    Attributes:
        description: What is measured and by which command (shown in the table).
        evidence_id: Evidence file to read; defaults to ``<claim>.<part>`` for a part, else the claim id.
        part: Which part of a two-part claim this check decides (one of ``Claim.parts``), or None.
    """

    description: str
    evidence_id: str | None = None
    part: str | None = None

    kind_name = "numeric"

    def __post_init__(self) -> None:
        if self.part is not None and (not isinstance(self.part, str) or not _is_word(self.part)):
            raise ValueError(
                f"part must be None or a non-empty word without spaces or dots, got {self.part!r}"
            )

    @property
    def label(self) -> str:
        """Table label: ``evidence: <description>`` (with the part, if any)."""
        where = f" [{self.part}]" if self.part else ""
        return f"evidence{where}: {self.description}"

    def key(self, claim: Claim) -> str:
        """The evidence id this check reads for ``claim``."""
        if self.evidence_id:
            return self.evidence_id
        return f"{claim.id}.{self.part}" if self.part else claim.id

    def run(self, claim: Claim, *, runs_root: Path, max_examples: int, seed: int | None) -> CheckOutcome:
        """Re-decide the newest evidence with its rule (pending when there is none)."""
        key = self.key(claim)
        found, problems = scan_evidence(runs_root)
        if key in problems:
            return CheckOutcome("error", problems[key])
        record = found.get(key)
        if record is None:
            return CheckOutcome("pending", f"no evidence {key!r} yet under {Path(runs_root) / EVIDENCE_DIR}")
        verdict, summary = record["verdict"], record["summary"]
        rule = constants = detectable = None
        note = ""
        if record.get("rule_id"):
            # Re-decide from the recorded data with today's rule and bounds: the stored verdict is only
            # what the producer printed, never trusted on its own.
            from theory.rules import apply_rule

            result = apply_rule(record["rule_id"], record["details"])
            if result.verdict != verdict:
                note = f" (recorded verdict {verdict!r}, re-applied rule says {result.verdict!r})"
            verdict, summary = result.verdict, result.summary
            rule, constants, detectable = result.rule, dict(result.constants), result.detectable
        else:
            note = " (no pre-registered rule recorded: the producer's own verdict)"
        text = f"{verdict}: {summary} [{record['run']}]{note}"
        return CheckOutcome(
            _VERDICT_STATUS[verdict], text, rule=rule, constants=constants, detectable=detectable
        )


@dataclasses.dataclass(frozen=True)
class NoCheck:
    """Explicit marker: the claim is recorded but the toolkit has no check that could fail.

    Attributes:
        reason: Why there is no check.
    """

    reason: str

    kind_name = "none"

    @property
    def label(self) -> str:
        """Table label."""
        return "none"

    def run(self, claim: Claim, *, runs_root: Path, max_examples: int, seed: int | None) -> CheckOutcome:
        """Always ``no-check`` with the reason."""
        return CheckOutcome("no-check", self.reason)


CHECK_TYPES = (SymbolicCheck, PropertyCheck, NumericCheck, NoCheck)


def _is_word(text: str) -> bool:
    return bool(text) and not any(c in text for c in "./\\ \t\n")


def _item_kind(item: Any) -> str:
    import sympy

    from theory.symbolic import BoundAgreement

    if isinstance(item, BoundAgreement):
        return "true"
    return "true" if isinstance(item, bool | sympy.logic.boolalg.Boolean) else "zero"


def _sympy_holds(item: Any, kind: str) -> tuple[bool, Any]:
    import sympy

    from theory.symbolic import BoundAgreement

    if isinstance(item, BoundAgreement):
        return item.holds, item.description
    if isinstance(item, bool):
        return item, item
    if kind == "zero":
        residual = sympy.simplify(item)
        return residual == 0, residual
    if item is sympy.true:
        return True, item
    if item is sympy.false:
        return False, item
    reduced = sympy.simplify(item)
    return reduced is sympy.true, reduced


def _sympy_witness(item: Any, kind: str, *, limit: int = 400) -> tuple[str, str] | None:
    """Search small points (in order of size) consistent with the symbols' assumptions for a violation."""
    import sympy

    if isinstance(item, bool):
        return None
    symbols = sorted(item.free_symbols, key=lambda s: s.name)
    if not symbols:
        value = sympy.N(item)
        bad = (kind == "zero" and value != 0) or (kind == "true" and value is sympy.false)
        return ("(no free symbols)", str(value)) if bad else None
    values = [sympy.Integer(0)]
    for k in range(1, 4):
        values += [sympy.Integer(k), sympy.Integer(-k), sympy.Rational(1, k + 1), sympy.Rational(-1, k + 1)]
    tried = 0
    # Points are visited by increasing total "size", so the first witness is a small one.
    for point in sorted(
        itertools.product(range(len(values)), repeat=len(symbols)), key=lambda p: (sum(p), p)
    ):
        if tried >= limit:
            break
        assignment = {}
        for s, idx in zip(symbols, point, strict=True):
            v = values[idx]
            if not _consistent(s, v):
                break
            assignment[s] = v
        else:
            tried += 1
            try:
                value = item.subs(assignment)
                value = sympy.simplify(value)
                if kind == "zero":
                    num = complex(sympy.N(value))
                    bad = math.isfinite(num.real) and math.isfinite(num.imag) and abs(num) > 1e-12
                else:
                    bad = value is sympy.false
            except (TypeError, ValueError, ZeroDivisionError, AttributeError):
                continue
            if bad:
                text = ", ".join(f"{s}={v}" for s, v in assignment.items())
                return text, str(value)
    return None


def _consistent(symbol: Any, value: Any) -> bool:
    checks = {
        "positive": value > 0,
        "negative": value < 0,
        "nonnegative": value >= 0,
        "nonpositive": value <= 0,
        "nonzero": value != 0,
        "integer": value.is_integer,
    }
    for name, ok in checks.items():
        if getattr(symbol, f"is_{name}") and not ok:
            return False
    return True


def _short(obj: Any, n: int = 120) -> str:
    text = " ".join(str(obj).split())
    return text if len(text) <= n else text[: n - 3] + "..."
