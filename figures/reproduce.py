"""``slth reproduce``: run or reuse experiments, run the claims ledger, draw the figures, write the report.

Stages, each timed (printed as a table at the end and written to ``<out>/timings.csv``):

1. **experiments**: the experiments the selected figures declare (``FigureSpec.experiments``) and those
   whose evidence decides the figures' claims (:func:`sim.experiments.experiments_for_claims`), each at
   the chosen preset through :meth:`sim.experiments.Experiment.execute`. A finished run is reused and an
   interrupted one resumes, so re-running ``slth reproduce`` after an interruption only does the missing
   work. An experiment that raises is recorded as failed and the others still run.
2. **ledger**: ``theory.ledger.verify`` over every registered claim (its numeric checks read the
   evidence files the producers just wrote), printed with ``theory.ledger.format_table``.
3. **figures**: each selected figure from the recorded runs, into ``<out>/<name>.{png,pdf,csv}``.
4. **report**: ``<out>/report.md`` and ``<out>/report.html``.

The exit status is 0 when every stage succeeded and 1 otherwise (a failed experiment, a figure that could
not be built, a broken ledger). Claims found inconsistent are findings, shown in the report; they do
not by themselves make the run fail.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from figures.report import (
    ClaimEntry,
    FigureEntry,
    StageEntry,
    claim_entries,
    claims_table_rows,
    write_report,
)
from sim.experiments import SCALES
from theory.plumbing.records import atomic_write_csv
from theory.validate import check_choice, check_int


@dataclass
class ReproduceResult:
    """What :func:`reproduce` did."""

    exit_code: int
    stages: list[StageEntry]
    figures: list[FigureEntry]
    claims: list[ClaimEntry]
    report_md: Path | None = None
    report_html: Path | None = None
    ledger_results: list[Any] = field(default_factory=list)


def _say(quiet: bool, *parts: Any) -> None:
    if not quiet:
        print(*parts, flush=True)


def _short_error(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".replace("\n", " ")
    return text if len(text) <= 400 else text[:397] + "..."


def run_ledger(
    runs_root: Path, *, max_examples: int = 50, claim_files: Sequence[str] = ()
) -> tuple[list[Any], str, dict[str, Any], dict]:
    """Run the ledger (plus user claims from ``claim_files``); returns results, table, CLAIMS, evidence."""
    from theory import ledger

    for target in claim_files:
        ledger.load_claims(target)
    results = ledger.verify(runs_root=runs_root, max_examples=max_examples)
    return results, ledger.format_table(results), dict(ledger.CLAIMS), dict(ledger.read_evidence(runs_root))


def reproduce(
    *,
    scale: str = "default",
    only: Sequence[str] | None = None,
    runs_root: str | Path = "runs",
    out: str | Path = "figures/out",
    workers: int | None = None,
    quiet: bool = False,
    skip_experiments: bool = False,
    max_examples: int = 50,
    device: str | None = None,
    claim_files: Sequence[str] = (),
    executor: Any = None,
) -> ReproduceResult:
    """Run the whole reproduction; see the module docstring.

    Args:
        scale: The experiments' preset: ``"quick"`` (CPU minutes), ``"default"`` or ``"full"`` (GPU-size).
        only: Figure names to make (default: all); only the experiments they and their claims need run.
        runs_root: Where runs are written and read.
        out: Where figures, the report and ``timings.csv`` go.
        workers: Workers of a named ``executor`` (None: all CPUs).
        quiet: No progress bars or per-stage lines (the final tables still print).
        skip_experiments: Only redraw figures and the report from existing records.
        max_examples: Hypothesis examples per property check of the ledger.
        device: Torch device for the experiments that train or take gradients (``cpu``, ``cuda``,
            ``auto``); None means CPU.
        claim_files: Extra claims (``.py`` files or modules calling ``theory.ledger.register_claim``).
        executor: A ``sim.executors`` executor (kept open; the caller closes it) or name, for every
            experiment; None runs in-process (safe from plain scripts, standard input and notebooks).

    Returns:
        A :class:`ReproduceResult`; ``exit_code`` is 1 when any stage failed.

    Raises:
        ValueError: On an unknown scale or figure name, or a bad ``workers``.
    """
    from figures.registry import all_figures, get_figure, render
    from sim.experiments import experiments_for_claims, get_experiment
    from theory.plumbing.progress import progress

    check_choice("scale", scale, SCALES)
    if workers is not None:
        check_int("workers", workers, 1)
    names = list(all_figures()) if not only else [get_figure(n).name for n in dict.fromkeys(only)]
    specs = [get_figure(n) for n in names]
    runs_root, out = Path(runs_root), Path(out)
    stages: list[StageEntry] = []

    # 1. experiments: those the figures read, then those deciding the figures' claims.
    declared = [e for s in specs for e in s.experiments]
    needed = list(dict.fromkeys(declared + experiments_for_claims(c for s in specs for c in s.claims)))
    for name in progress(needed, desc="experiments", quiet=quiet):
        stage = f"experiment {name}"
        if skip_experiments:
            stages.append(StageEntry(stage, "skipped", 0.0, "--skip-experiments"))
            continue
        exp = get_experiment(name)
        start = time.perf_counter()
        _say(quiet, f"[reproduce] experiment {name}: {exp.description}")
        try:
            res = exp.execute(
                scale=scale,
                runs_root=runs_root,
                executor="inprocess" if executor is None else executor,
                workers=workers,
                quiet=quiet,
                device=device or "cpu",
            )
            for evidence_id, verdict in res.verdicts.items():
                _say(quiet, f"[reproduce]   evidence {evidence_id}: {verdict}")
            detail = "reused" if res.reused else ""
            stages.append(StageEntry(stage, "ok", time.perf_counter() - start, detail))
        except Exception as err:  # one experiment failing must not lose the others' results
            if not quiet:
                traceback.print_exc(file=sys.stderr)
            stages.append(StageEntry(stage, "failed", time.perf_counter() - start, _short_error(err)))

    # 2. ledger
    start = time.perf_counter()
    ledger_results: list[Any] = []
    ledger_table, claims, evidence = "", None, {}
    try:
        ledger_results, ledger_table, claims, evidence = run_ledger(
            runs_root, max_examples=max_examples, claim_files=tuple(claim_files)
        )
        stages.append(
            StageEntry("ledger", "ok", time.perf_counter() - start, f"{len(ledger_results)} checks")
        )
        _say(quiet, "\n" + ledger_table)
    except Exception as err:
        if not quiet:
            traceback.print_exc(file=sys.stderr)
        stages.append(StageEntry("ledger", "failed", time.perf_counter() - start, _short_error(err)))
        try:
            from theory import ledger

            evidence = dict(ledger.read_evidence(runs_root))
        except Exception:  # the evidence files are still worth showing if only verify broke
            evidence = {}

    # 3. figures
    entries: list[FigureEntry] = []
    for spec in progress(specs, desc="figures", quiet=quiet):
        start = time.perf_counter()
        entry = FigureEntry(spec.name, spec.title, spec.caption, spec.claims)
        try:
            rendered, result = render(spec.name, runs_root, out)
            entry.png, entry.pdf, entry.csv = rendered.png, rendered.pdf, rendered.csv
            entry.summary, entry.tables = rendered.summary, rendered.tables
            result.figure.clear()
            stages.append(StageEntry(f"figure {spec.name}", "ok", time.perf_counter() - start))
        except Exception as err:
            if not quiet and not isinstance(err, FileNotFoundError):
                traceback.print_exc(file=sys.stderr)
            entry.error = _short_error(err)
            stages.append(
                StageEntry(f"figure {spec.name}", "failed", time.perf_counter() - start, entry.error)
            )
        entries.append(entry)

    # 4. report
    start = time.perf_counter()
    claim_rows = claim_entries(claims, ledger_results, evidence, entries)
    md = html_path = None
    header = {"runs root": str(runs_root), "scale": scale, "figures requested": ", ".join(names)}
    try:
        md, html_path = write_report(
            out,
            figures=entries,
            claims=claim_rows,
            stages=stages,
            ledger_table=ledger_table,
            header=header,
            claims_table=claims_table_rows(claims, evidence),
        )
        stages.append(StageEntry("report", "ok", time.perf_counter() - start, str(md)))
    except Exception as err:
        traceback.print_exc(file=sys.stderr)
        stages.append(StageEntry("report", "failed", time.perf_counter() - start, _short_error(err)))

    total = sum(s.seconds for s in stages)
    rows = [
        {"stage": s.name, "status": s.status, "seconds": round(s.seconds, 3), "detail": s.detail}
        for s in stages
    ]
    rows.append({"stage": "total", "status": "", "seconds": round(total, 3), "detail": ""})
    atomic_write_csv(out / "timings.csv", rows, fieldnames=["stage", "status", "seconds", "detail"])
    print(format_timings(stages))
    failed = [s.name for s in stages if s.status == "failed"]
    if md is not None:
        print(f"report: {md} and {html_path}")
    if failed:
        print(f"FAILED stages ({len(failed)}): {', '.join(failed)}", file=sys.stderr)
    return ReproduceResult(
        1 if failed else 0, stages, entries, claim_rows, md, html_path, list(ledger_results)
    )


def format_timings(stages: Sequence[StageEntry]) -> str:
    """A plain-text table of the stages with their status and wall time, plus the total."""
    width = max([len("stage"), len("total")] + [len(s.name) for s in stages])
    lines = [f"{'stage'.ljust(width)}  status   seconds", f"{'-' * width}  -------  -------"]
    for s in stages:
        lines.append(f"{s.name.ljust(width)}  {s.status.ljust(7)}  {s.seconds:7.1f}")
    lines.append(f"{'total'.ljust(width)}           {sum(s.seconds for s in stages):7.1f}")
    return "\n".join(lines)
