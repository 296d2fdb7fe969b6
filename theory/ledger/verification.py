"""Running the ledger: :func:`verify` runs the checks, :func:`claim_verdict` turns them into a verdict.

``slth verify`` and the report both call :func:`claim_verdict`: ``consistent`` only when every part has
a verified check and no check failed, errored or is still open.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from theory import validate
from theory.ledger.checks import STATUSES, CheckOutcome, NumericCheck, _short
from theory.ledger.claim import CLAIMS, Claim, get_claim, load_builtin_claims
from theory.ledger.evidence import VERDICTS


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
    load_builtin_claims()
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
