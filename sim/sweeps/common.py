"""Pieces shared by the sweep runners: the outcome record and the evidence hand-off to the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.engine import CellSamples
from theory.stats import clopper_pearson


@dataclass
class SweepOutcome:
    """What a sweep run produced.

    Attributes:
        experiment: The sweep name.
        path: The run directory.
        rows: The rows written to ``results.csv``.
        computed: Keys of cells (partly) computed in this call.
        reused: Keys of cells reused from earlier calls.
        evidence: ``{claim_id: verdict}`` written to the ledger.
    """

    experiment: str
    path: Path
    rows: list[dict[str, Any]]
    computed: set[str] = field(default_factory=set)
    reused: set[str] = field(default_factory=set)
    evidence: dict[str, str] = field(default_factory=dict)


def track(outcome: SweepOutcome, cells: dict[str, CellSamples]) -> None:
    """Record which cells were computed and which reused."""
    for key, c in cells.items():
        if c.computed:
            outcome.computed.add(key)
            outcome.reused.discard(key)
        elif key not in outcome.computed:
            outcome.reused.add(key)


def proportion_columns(successes: int, ambiguous: int, trials: int, confidence: float = 0.95) -> dict:
    """``p, ci_low, ci_high`` for a success count, widened to cover any resolution of ambiguous trials."""
    low, _ = clopper_pearson(successes, trials, confidence)
    _, high = clopper_pearson(successes + ambiguous, trials, confidence)
    return {"p": successes / trials, "ci_low": low, "ci_high": high}


def check_seeds(seed: int, calibration_seed: int) -> None:
    """Refuse a calibration seed equal to the test seed (their random streams must be disjoint)."""
    from theory.validate import check_int

    check_int("seed", seed, 0)
    check_int("calibration_seed", calibration_seed, 0)
    if seed == calibration_seed:
        raise ValueError(
            "calibration_seed must differ from seed (disjoint calibration and test streams), "
            f"got {seed!r} for both"
        )


def write_rule_evidence(outcome: SweepOutcome, runs_root: str | Path, evidence_id: str, details: dict) -> str:
    """Write ``details`` as evidence ``evidence_id``, decided by the pre-registered rule of the same name.

    ``theory.ledger.write_evidence`` applies the rule (and ``slth verify`` re-applies it on reading).

    Returns:
        The verdict.
    """
    from theory.ledger import write_evidence
    from theory.plumbing import records

    path = write_evidence(runs_root, evidence_id, run=str(outcome.path), details=details, rule_id=evidence_id)
    verdict = records.read_json(path)["verdict"]
    outcome.evidence[evidence_id] = verdict
    return verdict
