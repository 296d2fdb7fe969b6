"""Pieces shared by the sweep runners: the outcome record, interval columns, and the evidence record.

A runner records the raw data of each of its evidence ids in ``evidence.json`` of its run directory
(:func:`save_evidence`); the experiment's ``evidence`` (:func:`sweep_evidence`) reads them back and
:meth:`sim.experiments.Experiment.execute` hands them to ``theory.ledger.write_evidence``, so the
verdict always comes from the pre-registered rule of the same id (:mod:`theory.rules`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from theory.plumbing.rundir import RunDir
from theory.stats import clopper_pearson

if TYPE_CHECKING:
    from sim.cells import CellSamples

#: The file of a sweep's run directory holding ``{evidence_id: details}``.
EVIDENCE_FILE = "evidence.json"


@dataclass
class SweepOutcome:
    """What a sweep run produced.

    Attributes:
        experiment: The sweep name.
        path: The run directory.
        rows: The rows written to ``results.csv``.
        computed: Keys of cells (partly) computed in this call.
        reused: Keys of cells reused from earlier calls.
        evidence: ``{evidence_id: details}`` recorded for the ledger (also in ``evidence.json``).
    """

    experiment: str
    path: Path
    rows: list[dict[str, Any]]
    computed: set[str] = field(default_factory=set)
    reused: set[str] = field(default_factory=set)
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)


def open_sweep(experiment: str, rundir: RunDir) -> tuple[Any, SweepOutcome]:
    """The opened cell store of a sweep's run directory and its empty :class:`SweepOutcome`."""
    from sim.store import RunStore

    return RunStore(rundir).open(), SweepOutcome(experiment, rundir.path, [])


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


def save_evidence(
    outcome: SweepOutcome, rundir: RunDir, evidence_id: str, details: Mapping[str, Any]
) -> None:
    """Record ``details`` as the raw data of ``evidence_id`` (in ``evidence.json``, rewritten atomically)."""
    outcome.evidence[evidence_id] = dict(details)
    rundir.write_json(EVIDENCE_FILE, outcome.evidence)


def sweep_evidence(rundir: RunDir) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{evidence_id: (rule_id, details)}`` of a finished sweep: each id is decided by its own rule."""
    if not rundir.exists(EVIDENCE_FILE):
        return {}
    return {eid: (eid, details) for eid, details in rundir.read_json(EVIDENCE_FILE).items()}
