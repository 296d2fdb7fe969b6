"""Evidence files: what a producer (``sim``, ``networks``) writes and what :class:`NumericCheck` reads.

``<runs_root>/evidence/<evidence_id>.json`` (the claim id, or ``<claim>.<part>``) holds ``{"claim",
"verdict", "summary", "run", "details", "written_at"}``, and, when a pre-registered rule
(:mod:`theory.rules`) decided it, ``rule_id``, ``rule``, ``constants`` and ``detectable``. Files are
written atomically (temp file and rename), so a reader never sees half a record, and stamped with the
schema id ``slth.evidence/1`` and their content hash (:func:`theory.plumbing.records.write_record`). A file
that fails its check is reported, and moved aside to ``<file>.corrupt-<n>`` (re-running its producer
writes it again); under ``--strict`` reading it raises instead.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from theory import validate
from theory.plumbing import records

VERDICTS = ("consistent", "inconsistent", "inconclusive")
EVIDENCE_DIR = "evidence"
_EVIDENCE_KEYS = ("claim", "verdict", "summary", "run", "details", "written_at")
EVIDENCE_SCHEMA = "slth.evidence/1"


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
            "effects": [e.as_dict() for e in result.effects],
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
    return records.write_record(Path(runs_root) / EVIDENCE_DIR / f"{claim_id}.json", record, EVIDENCE_SCHEMA)


def read_evidence(runs_root: str | Path) -> dict[str, dict[str, Any]]:
    """Read every evidence file under ``<runs_root>/evidence``.

    Args:
        runs_root: The run root.

    Returns:
        ``{claim_id: record}`` with the newest record (by ``written_at``) per claim; files that are not
        valid evidence records are left out (``slth verify`` reports them as errors).
    """
    found, _ = scan_evidence(runs_root)
    return found


def scan_evidence(runs_root: str | Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Every evidence record (the newest per id) and, per unreadable file, why it is not valid.

    A file that fails its check (:func:`theory.plumbing.records.read_record`) is moved aside
    (:func:`theory.plumbing.records.recover`), and its problem says where it went.

    Raises:
        RecordError: Under ``--strict``, for a file that fails its check.
    """
    folder = Path(runs_root) / EVIDENCE_DIR
    found: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.glob("*.json")):
        try:
            record = records.read_record(path, EVIDENCE_SCHEMA, _EVIDENCE_KEYS)
            if record["verdict"] not in VERDICTS:
                raise records.RecordError(path, f"verdict {record['verdict']!r} not in {VERDICTS}")
        except records.RecordError as err:
            dest = records.recover(err)
            problems[path.stem] = (
                f"unreadable evidence file {path}: {err.reason} (moved to {dest.name}; re-run its producer)"
            )
            continue
        except OSError as err:
            problems[path.stem] = f"unreadable evidence file {path}: {err}"
            continue
        key = record["claim"]
        if key not in found or str(record["written_at"]) >= str(found[key]["written_at"]):
            found[key] = record
    return found, problems
