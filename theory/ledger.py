"""The claims ledger: every theorem, bound and empirical claim the toolkit tests, with its checks.

A :class:`Claim` holds a statement, its source (paper, theorem, version) and one or more checks:

* :class:`SymbolicCheck`: a sympy identity that must simplify to 0, or a sympy statement that must
  reduce to ``True``. When it does not, the ledger searches small integer/rational points for a
  witness where the identity is false and reports the simplest one it finds. It checks the algebra of
  a derivation (and, through :class:`BoundAgreement` items, that the registered bound functions are
  that algebra), never the claim itself: it reports ``derivation-checked``, not ``verified``.
* :class:`PropertyCheck`: a hypothesis strategy plus a predicate over the exact solvers. It runs under
  hypothesis; a failure is reported with hypothesis's *shrunk* (minimal) falsifying example.
* :class:`NumericCheck`: reads the evidence file that a Monte Carlo sweep or a training run wrote with
  :func:`write_evidence`; "pending" until one exists, "inconclusive" when its rule says so. A claim
  with two parts (``Claim.parts``) has one numeric check per part, reading ``<claim>.<part>``.
* :class:`NoCheck`: an explicit marker for a claim the toolkit records but cannot test, with the reason.

Nothing is reported ``verified`` without a check that could have failed. :func:`claim_verdict` turns
a claim's check results into its verdict (``slth verify`` and the report both call it): ``consistent``
only when every part has a verified check and no check failed, errored or is still open.

A claim declares the bounds of :data:`theory.bounds.BOUNDS` it rests on (``Claim.bounds``); its checks
must evaluate them, so replacing a declared bound by a NaN-returning function makes every check that
passed fail or error (``tests/theory/test_mutation.py``).

Evidence files (the contract with ``sim`` and ``networks``): ``<runs_root>/evidence/<evidence_id>.json``
(the claim id, or ``<claim>.<part>``) holding ``{"claim", "verdict", "summary", "run", "details",
"written_at"}`` with ``verdict`` one of ``consistent``, ``inconsistent``, ``inconclusive``, and, when a
pre-registered rule decided it (:mod:`theory.rules`), ``rule_id``, ``rule``, ``constants`` and
``detectable``. :class:`NumericCheck` re-applies the rule to ``details`` when it runs and carries the
rule, its constants and its detectable effect into the :class:`CheckResult`.

Registering your own claim (a ``.py`` file loaded with ``slth verify --claims my_claims.py``)::

    from theory.ledger import Claim, PropertyCheck, register_claim

    register_claim(Claim(
        id="my-claim",
        statement="Perturbation never increases the SubsetSum error.",
        source="My paper, Lemma 3 (arXiv v2)",
        checks=(PropertyCheck("error(p) <= error(0)", strategy=my_strategy, predicate=my_predicate),),
    ))

``strategy`` is a zero-argument callable returning a hypothesis strategy (so hypothesis is imported
only when the check runs) and ``predicate(example)`` returns ``True`` when the claim holds there. See
``examples/my_claim.py`` for a complete example.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import importlib.util
import itertools
import json
import math
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from theory import registry, validate
from theory.plumbing import records

VERDICTS = ("consistent", "inconsistent", "inconclusive")
#: Check statuses. ``verified``: a check ran that would have failed had the claim been false (a property
#: held, or evidence whose rule says consistent). ``derivation-checked``: sympy checked the algebra of the
#: derivation (never enough for a claim on its own). ``inconclusive``: evidence exists but its rule could
#: not decide. ``pending``: no evidence yet. ``no-check``: the claim has no check (NoCheck).
STATUSES = ("verified", "derivation-checked", "failed", "inconclusive", "pending", "no-check", "error")
EVIDENCE_DIR = "evidence"
_EVIDENCE_KEYS = ("claim", "verdict", "summary", "run", "details", "written_at")

# How an evidence verdict maps to a ledger status.
_VERDICT_STATUS = {"consistent": "verified", "inconsistent": "failed", "inconclusive": "inconclusive"}


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------
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
class BoundAgreement:
    """A numeric item of a :class:`SymbolicCheck`: a registered bound evaluated against its sympy form.

    Built by :mod:`theory.symbolic`, which evaluates the function registered in
    :data:`theory.bounds.BOUNDS` (looked up when the check runs) at sample points and compares it with
    the sympy expression the derivation is about. So the symbolic check is about the implemented bound:
    if that function is wrong (or returns NaN) the check fails.

    Attributes:
        description: What was compared, with the worst point (shown when it fails).
        holds: Whether every sample point agreed.
    """

    description: str
    holds: bool


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
        found, problems = _scan_evidence(runs_root)
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


# --------------------------------------------------------------------------------------------------
# Claims and their registry
# --------------------------------------------------------------------------------------------------
def _is_word(text: str) -> bool:
    return bool(text) and not any(c in text for c in "./\\ \t\n")


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
    from theory import bounds as _bounds

    unknown = [b for b in claim.bounds if b not in _bounds.BOUNDS]
    if unknown:
        raise ValueError(
            f"claim {claim.id!r} declares unknown bound(s) {unknown}; valid bounds: "
            f"{', '.join(sorted(_bounds.BOUNDS))}"
        )
    return registry.register(CLAIMS, "claim", claim.id, claim)


def get_claim(claim_id: str) -> Claim:
    """Look up a registered claim; the error lists the valid ids."""
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


# --------------------------------------------------------------------------------------------------
# Evidence files
# --------------------------------------------------------------------------------------------------
def write_evidence(
    runs_root: str | Path,
    claim_id: str,
    *,
    run: str | Path | None,
    details: Mapping[str, Any] | None = None,
    rule_id: str | None = None,
    verdict: str | None = None,
    summary: str | None = None,
) -> Path:
    """Attach a measurement to a claim: write ``<runs_root>/evidence/<claim_id>.json`` atomically.

    The preferred form names a pre-registered rule (:mod:`theory.rules`): ``rule_id`` is applied to
    ``details`` here, and again by ``slth verify`` when it reads the file, so the verdict always comes from
    the current code of the rule and the bounds it evaluates. The record then also holds the rule's text,
    constants and detectable effect. Without ``rule_id`` the producer's own ``verdict`` and ``summary``
    are stored as they are.

    Args:
        runs_root: The run root (``runs`` by default in the CLIs).
        claim_id: The evidence id: a claim id, or ``<claim>.<part>`` for one part of a two-part claim.
        run: The run directory holding the raw results (or None).
        details: JSON-serialisable raw data behind the verdict (what the rule reads).
        rule_id: Name of a rule in :data:`theory.rules.RULES`.
        verdict: Without ``rule_id``: ``consistent``, ``inconsistent`` or ``inconclusive``.
        summary: Without ``rule_id``: one line, what was measured and why this verdict.

    Returns:
        The path written.

    Raises:
        ValueError: On an unknown verdict or rule, a multi-line or empty summary, or a bad claim id.
    """
    if not isinstance(claim_id, str) or not claim_id or any(c in claim_id for c in "/\\ \t\n"):
        raise ValueError(f"claim_id must be a non-empty string without spaces or slashes, got {claim_id!r}")
    if details is not None and not isinstance(details, Mapping):
        raise ValueError(f"details must be a dict, got {type(details).__name__}")
    extra: dict[str, Any] = {}
    if rule_id is not None:
        from theory.rules import apply_rule

        result = apply_rule(rule_id, dict(details or {}))
        verdict, summary = result.verdict, result.summary
        extra = {
            "rule_id": rule_id,
            "rule": result.rule,
            "constants": dict(result.constants),
            "detectable": result.detectable,
        }
    validate.check_choice("verdict", verdict, VERDICTS)
    if not isinstance(summary, str) or not summary.strip() or "\n" in summary:
        raise ValueError(f"summary must be one non-empty line, got {summary!r}")
    record = {
        "claim": claim_id,
        "verdict": verdict,
        "summary": summary.strip(),
        "run": None if run is None else str(run),
        "details": dict(details or {}),
        "written_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds"),
        **extra,
    }
    return records.atomic_write_json(Path(runs_root) / EVIDENCE_DIR / f"{claim_id}.json", record)


def read_evidence(runs_root: str | Path) -> dict[str, dict[str, Any]]:
    """Read every evidence file under ``<runs_root>/evidence``.

    Args:
        runs_root: The run root.

    Returns:
        ``{claim_id: record}`` with the newest record (by ``written_at``) per claim; files that are not
        valid evidence records are left out (``slth verify`` reports them as errors).
    """
    found, _ = _scan_evidence(runs_root)
    return found


def _scan_evidence(runs_root: str | Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    folder = Path(runs_root) / EVIDENCE_DIR
    found: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.glob("*.json")):
        try:
            record = records.read_json(path)
            missing = [
                k for k in ("claim", "verdict", "summary", "run", "details", "written_at") if k not in record
            ]
            if missing:
                raise ValueError(f"missing keys {missing}")
            if record["verdict"] not in VERDICTS:
                raise ValueError(f"verdict {record['verdict']!r} not in {VERDICTS}")
        except (OSError, ValueError, TypeError, json.JSONDecodeError) as err:
            problems[path.stem] = f"unreadable evidence file {path}: {err}"
            continue
        key = record["claim"]
        if key not in found or str(record["written_at"]) >= str(found[key]["written_at"]):
            found[key] = record
    return found, problems


# --------------------------------------------------------------------------------------------------
# Running the ledger
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One row of the ledger: one check of one claim.

    Attributes:
        claim: Claim id.
        source: The claim's source.
        check: The check's label (kind and description).
        status: One of :data:`STATUSES`.
        evidence: One line of evidence or explanation.
        counterexample: Shrunk failing input, when a check failed.
        seconds: Wall time the check took.
        kind: ``symbolic``, ``property``, ``numeric`` or ``none``.
        part: The claim part a numeric check decides (None: the whole claim).
        evidence_id: The evidence id a numeric check reads.
        rule: The rule that decided the evidence (one line), when one did.
        constants: That rule's constants with their origin.
        detectable: The smallest deviation that rule's design could detect.
    """

    claim: str
    source: str
    check: str
    status: str
    evidence: str
    counterexample: str | None = None
    seconds: float = 0.0
    kind: str = ""
    part: str | None = None
    evidence_id: str | None = None
    rule: str | None = None
    constants: Mapping[str, Any] | None = None
    detectable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


def verify(
    claim_ids: Iterable[str] | None = None,
    *,
    runs_root: str | Path = "runs",
    max_examples: int = 100,
    seed: int | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run the checks of the given claims (all registered claims by default).

    Args:
        claim_ids: Ids to check; ``None`` checks every registered claim.
        runs_root: Where numeric checks look for ``evidence/*.json``.
        max_examples: Hypothesis examples per property check.
        seed: Hypothesis seed; ``None`` runs derandomized (the same examples every time).
        on_result: Called with each result as soon as it is known (progress output).

    Returns:
        One :class:`CheckResult` per (claim, check), in registry order.

    Raises:
        ValueError: If an id is unknown (the message lists the valid ids) or ``max_examples`` < 1.
    """
    max_examples = validate.check_int("max_examples", max_examples, 1)
    ids = list(CLAIMS) if claim_ids is None else list(dict.fromkeys(claim_ids))
    claims = [get_claim(i) for i in ids]
    results = []
    for claim in claims:
        for check in claim.checks:
            start = time.perf_counter()
            try:
                outcome = check.run(claim, runs_root=Path(runs_root), max_examples=max_examples, seed=seed)
            except Exception as err:  # a broken check is reported, never allowed to stop the ledger
                last = traceback.extract_tb(err.__traceback__)[-1]
                where = f" ({Path(last.filename).name}:{last.lineno})"
                outcome = CheckOutcome("error", f"{type(err).__name__}: {_short(err)}{where}")
            numeric = isinstance(check, NumericCheck)
            result = CheckResult(
                claim=claim.id,
                source=claim.source,
                check=check.label,
                status=outcome.status,
                evidence=outcome.evidence,
                counterexample=outcome.counterexample,
                seconds=time.perf_counter() - start,
                kind=check.kind_name,
                part=check.part if numeric else None,
                evidence_id=check.key(claim) if numeric else None,
                rule=outcome.rule,
                constants=None if outcome.constants is None else dict(outcome.constants),
                detectable=outcome.detectable,
            )
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def summarize(results: Sequence[CheckResult]) -> dict[str, int]:
    """Count results per status (every status present, zeros included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for r in results:
        counts[r.status] += 1
    return counts


@dataclasses.dataclass(frozen=True)
class ClaimVerdict:
    """A claim's verdict from its check results (see :func:`claim_verdict`).

    Attributes:
        claim: Claim id.
        verdict: ``consistent``, ``inconsistent`` or ``inconclusive``.
        reason: One line: which checks decided it, or what is missing.
        derivation_checked: Whether a sympy check of the derivation passed (shown as "derivation
            checked"; never enough for ``consistent`` on its own).
        derivation_only: Whether that is all the claim has (every check is ``derivation-checked``).
    """

    claim: str
    verdict: str
    reason: str
    derivation_checked: bool = False
    derivation_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


_OPEN = ("pending", "inconclusive", "no-check")


def claim_verdict(claim: Claim | None, results: Sequence[CheckResult], *, claim_id: str = "") -> ClaimVerdict:
    """The verdict of one claim from its check results: the one rule ``slth verify`` and the report use.

    * any check ``failed`` -> ``inconsistent`` (the failing checks are the reason);
    * any check ``error`` -> ``inconclusive``;
    * ``consistent`` only when every part (the whole claim when it has no parts) has a ``verified``
      check and no check is pending, inconclusive or missing;
    * otherwise ``inconclusive``, saying what is open. A passed sympy check (``derivation-checked``) is
      reported as "derivation checked" but never makes a claim consistent: it checks the algebra of
      the bound, not the claim.

    Args:
        claim: The registered claim (its ``parts``), or None for an id the registry does not know.
        results: Check results; only those of this claim are used.
        claim_id: The id when ``claim`` is None.

    Returns:
        The :class:`ClaimVerdict`.
    """
    cid = claim.id if claim is not None else claim_id
    rows = [r for r in results if r.claim == cid]
    derived = any(r.status == "derivation-checked" for r in rows)
    only = bool(rows) and all(r.status == "derivation-checked" for r in rows)

    def verdict(v: str, reason: str) -> ClaimVerdict:
        return ClaimVerdict(cid, v, reason, derived, only)

    if not rows:
        if claim is None:
            return verdict("inconclusive", "claim not registered in the ledger and no check ran for it")
        return verdict("inconclusive", "the ledger's checks did not run for this claim")
    failed = [r for r in rows if r.status == "failed"]
    if failed:
        return verdict("inconsistent", "failed: " + "; ".join(f"{r.check}: {r.evidence}" for r in failed))
    errors = [r for r in rows if r.status == "error"]
    if errors:
        return verdict(
            "inconclusive",
            "a check raised an error: " + "; ".join(f"{r.check}: {r.evidence}" for r in errors),
        )
    if all(r.status == "no-check" for r in rows):
        return verdict("inconclusive", "no check implemented for this claim: " + rows[0].evidence)
    parts = tuple(claim.parts) if claim is not None else ()
    units = parts or (None,)
    missing: list[str] = []
    described: set[int] = set()
    for part in units:
        mine = [r for r in rows if r.part == part] if part is not None else rows
        if any(r.status == "verified" for r in mine):
            continue
        described.update(id(r) for r in mine)
        what = f"part {part!r}" if part is not None else "the claim"
        if not mine:
            missing.append(f"{what}: no check")
        elif all(r.status == "derivation-checked" for r in mine):
            missing.append(
                f"{what}: derivation checked only (sympy checked the algebra of its bounds; no check that "
                "could refute the claim itself)"
            )
        else:
            missing.append(
                f"{what}: " + "; ".join(f"{r.status}: {r.evidence}" for r in mine if r.status in _OPEN)
            )
    # A part can be verified while another check of the claim is still open (e.g. a property held but
    # the measured half has no evidence yet): the claim is not consistent until that one is decided too.
    still_open = [r for r in rows if r.status in _OPEN and id(r) not in described]
    if not missing and not still_open:
        shown = "; ".join(f"{r.check}" for r in rows if r.status == "verified")
        extra = " (derivation also checked)" if derived else ""
        return verdict("consistent", f"verified: {shown}{extra}")
    if still_open:
        missing.append("still open: " + "; ".join(f"{r.check}: {r.status}: {r.evidence}" for r in still_open))
    return verdict("inconclusive", " | ".join(missing))


def claim_verdicts(
    results: Sequence[CheckResult], claims: Mapping[str, Claim] | None = None
) -> list[ClaimVerdict]:
    """:func:`claim_verdict` for every claim that has results (in result order).

    Args:
        results: Output of :func:`verify`.
        claims: The registry to take parts from (default :data:`CLAIMS`).

    Returns:
        One verdict per claim id.
    """
    table = CLAIMS if claims is None else claims
    ids = list(dict.fromkeys(r.claim for r in results))
    return [claim_verdict(table.get(i), results, claim_id=i) for i in ids]


def format_table(results: Sequence[CheckResult], *, width: int = 44) -> str:
    """Plain-text table with columns claim, source, check, status, evidence.

    Args:
        results: Output of :func:`verify`.
        width: Longer cells are cut to this many characters (full text is in ``--json``).

    Returns:
        The table, followed by a one-line count per status.
    """
    header = ("claim", "source", "check", "status", "evidence")
    rows = [
        (r.claim, _short(r.source, width), _short(r.check, width), r.status, _short(r.evidence, 2 * width))
        for r in results
    ]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(header)]

    # The last column is not padded, so lines carry no trailing spaces.
    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)) + "  " + cells[-1]

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    counts = summarize(results)
    out.append("")
    out.append(", ".join(f"{k}: {v}" for k, v in counts.items()))
    return "\n".join(out)


def format_rules(results: Sequence[CheckResult]) -> str:
    """The rules behind the numeric checks: per evidence id, the rule, its constants and detectable effect.

    Args:
        results: Output of :func:`verify`.

    Returns:
        One block per numeric check that has evidence (empty string when none has).
    """
    out = []
    for r in results:
        if r.kind != "numeric" or r.status == "pending":
            continue
        out.append(f"{r.claim} [{r.evidence_id}] ({r.status})")
        if r.rule is None:
            out.append("    rule: none recorded (the producer's own verdict, not re-decided)")
            continue
        consts = "; ".join(f"{k}={_short(v, 200)}" for k, v in (r.constants or {}).items()) or "(none)"
        out += [f"    rule: {r.rule}", f"    constants: {consts}", f"    detectable: {r.detectable}"]
    return "\n".join(out)


def format_verdicts(verdicts: Sequence[ClaimVerdict], *, width: int = 160) -> str:
    """Per-claim verdict lines (from :func:`claim_verdicts`) and a count per verdict.

    Args:
        verdicts: The claims' verdicts.
        width: Longer reasons are cut to this many characters.

    Returns:
        The lines, followed by a one-line count per verdict.
    """
    cw = max([5] + [len(v.claim) for v in verdicts])
    out = [
        f"{v.claim.ljust(cw)}  {v.verdict.ljust(12)}  "
        + ("[derivation checked] " if v.derivation_checked else "")
        + _short(v.reason, width)
        for v in verdicts
    ]
    counts = {k: sum(v.verdict == k for v in verdicts) for k in VERDICTS}
    out += ["", ", ".join(f"{k}: {n}" for k, n in counts.items())]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# sympy helpers
# --------------------------------------------------------------------------------------------------
def _item_kind(item: Any) -> str:
    import sympy

    if isinstance(item, BoundAgreement):
        return "true"
    return "true" if isinstance(item, bool | sympy.logic.boolalg.Boolean) else "zero"


def _sympy_holds(item: Any, kind: str) -> tuple[bool, Any]:
    import sympy

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


# Built-in claims register themselves on import; imported last because they use the classes above.
from theory import claims as _builtin_claims  # noqa: E402, F401
