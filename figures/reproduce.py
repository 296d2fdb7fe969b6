"""``slth reproduce``: run or reuse every producer, run the claims ledger, draw the figures, write the report.

Stages, each timed (printed as a table at the end and written to ``<out>/timings.csv``):

1. **producers**: the quick- (or full-) scale runs the selected figures need, by calling the producers'
   public functions (:data:`PRODUCERS`). Producers resume on their own: a finished cell or run is
   reused, so re-running ``slth reproduce`` after an interruption only does the missing work. A
   producer that raises is recorded as failed and the others still run.
2. **ledger**: ``theory.ledger.verify`` over every registered claim (its numeric checks read the
   evidence files the producers just wrote), printed with ``theory.ledger.format_table``.
3. **figures**: each selected figure from the recorded runs, into ``<out>/<name>.{png,pdf,csv}``.
4. **report**: ``<out>/report.md`` and ``<out>/report.html``.

The exit status is 0 when every stage succeeded and 1 otherwise (a failed producer, a figure that could
not be built, a broken ledger). Claims found inconsistent are findings, shown in the report; they do
not by themselves make the run fail.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from figures.report import ClaimEntry, FigureEntry, StageEntry, claim_entries, write_report
from theory.plumbing.records import atomic_write_csv
from theory.registry import register
from theory.validate import check_choice, check_int

SCALES = ("quick", "full")


@dataclass(frozen=True)
class Producer:
    """A function that writes the records some figures read.

    Attributes:
        name: Registry key (used in figure specs' ``producers``).
        description: What it runs.
        run: ``run(runs_root, *, scale, workers, quiet[, device][, executor])``; must resume (reuse
            finished work). ``executor`` (a ``sim.executors`` object) is passed only to producers that
            accept it.
    """

    name: str
    description: str
    run: Callable[..., Any]


PRODUCERS: dict[str, Producer] = {}


def register_producer(producer: Producer) -> Producer:
    """Add ``producer`` to :data:`PRODUCERS` (refuses a duplicate name)."""
    return register(PRODUCERS, "producer", producer.name, producer)


def call_with_supported(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` passing only the keyword arguments its signature accepts (all if it takes ``**kw``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(*args, **kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(*args, **kwargs)
    return fn(*args, **{k: v for k, v in kwargs.items() if k in params})


def _resolve(candidates: Sequence[tuple[str, str]]) -> Callable[..., Any]:
    """The first ``module.attribute`` of ``candidates`` that exists.

    Raises:
        RuntimeError: Listing what was tried, when none exists (the producer is not installed yet).
    """
    tried = []
    for module, attr in candidates:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            # Only a missing producer module is tolerated; an import error inside it is a real failure.
            if err.name is None or not module.startswith(err.name):
                raise
            tried.append(f"{module} (module missing)")
            continue
        fn = getattr(mod, attr, None)
        if fn is not None:
            return fn
        tried.append(f"{module}.{attr} (missing)")
    raise RuntimeError("producer function not found; tried " + ", ".join(tried))


def _sim_sweep(name: str) -> Callable[..., Any]:
    def run(
        runs_root: Path,
        *,
        scale: str,
        workers: int | None,
        quiet: bool,
        device: str | None = None,
        executor: Any = None,
    ) -> Any:
        sweeps = importlib.import_module("sim.sweeps")
        sweep = sweeps.get_sweep(name)
        return sweep.run(
            sweep.config(scale),
            runs_root=str(runs_root),
            executor="process" if executor is None else executor,
            workers=workers,
            quiet=quiet,
        )

    return run


def _taylor(
    runs_root: Path, *, scale: str, workers: int | None, quiet: bool, device: str | None = None
) -> Any:
    fn = _resolve([("sim.taylor", "run_taylor")])
    return fn(scale, runs_root=runs_root, device=device or "cpu", quiet=quiet)


def _named(candidates: Sequence[tuple[str, str]]) -> Callable[..., Any]:
    def run(
        runs_root: Path, *, scale: str, workers: int | None, quiet: bool, device: str | None = None
    ) -> Any:
        fn = _resolve(candidates)
        kwargs = {"scale": scale, "workers": workers, "quiet": quiet}
        if device is not None:
            kwargs["device"] = device
        return call_with_supported(fn, runs_root, **kwargs)

    return run


def _practice(name: str) -> Callable[..., Any]:
    return _named([("sim.practice", "run_" + name.replace("-", "_"))])


for _name, _desc in (
    ("rss-success", "Random SubsetSum success probability vs n (sim sweep)"),
    ("rss-constant", "fitted constant C of n = C log2(1/eta) (sim sweep)"),
    ("pssp-min-n", "Xiong PSSP minimal n vs perturbation/eta (sim sweep)"),
    ("xiong-thm1", "Xiong Theorem 1 bound vs measured failure rate (sim sweep)"),
    ("xiong-n90", "Xiong Theorem 1 versions: paired n90 vs perturbation (sim sweep)"),
):
    register_producer(Producer(_name, _desc, _sim_sweep(_name)))
register_producer(
    Producer(
        "taylor",
        "Taylor loss-change experiments: swaps and interdependency (sim.taylor)",
        _taylor,
    )
)
for _name in ("pgd-ep", "ep-dying", "ep-hparams", "iep", "iep-rewind", "rigl"):
    register_producer(Producer(_name, f"training sweep {_name!r} (sim.practice)", _practice(_name)))
register_producer(
    Producer(
        "construct-width",
        "candidates per weight vs eps for the constructions (sim.construction)",
        _named([("sim.construction", "run_construct_width")]),
    )
)
register_producer(
    Producer(
        "construct-targets",
        "tickets of small trained targets: kept ratio and accuracy (sim.construction)",
        _named([("sim.construction", "run_construct_targets")]),
    )
)


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
    ledger = importlib.import_module("theory.ledger")
    for target in claim_files:
        ledger.load_claims(target)
    results = call_with_supported(ledger.verify, runs_root=runs_root, max_examples=max_examples)
    return results, ledger.format_table(results), dict(ledger.CLAIMS), dict(ledger.read_evidence(runs_root))


def reproduce(
    *,
    scale: str = "quick",
    only: Sequence[str] | None = None,
    runs_root: str | Path = "runs",
    out: str | Path = "figures/out",
    workers: int | None = None,
    quiet: bool = False,
    skip_producers: bool = False,
    max_examples: int = 50,
    device: str | None = None,
    claim_files: Sequence[str] = (),
    executor: Any = None,
) -> ReproduceResult:
    """Run the whole reproduction; see the module docstring.

    Args:
        scale: ``"quick"`` (CPU minutes) or ``"full"`` (GPU-size runs).
        only: Figure names to make (default: all); only their producers run.
        runs_root: Where runs are written and read.
        out: Where figures, the report and ``timings.csv`` go.
        workers: Worker processes for the producers (None: their default).
        quiet: No progress bars or per-stage lines (the final tables still print).
        skip_producers: Only redraw figures and the report from existing records.
        max_examples: Hypothesis examples per property check of the ledger.
        device: Torch device for the producers that train or take gradients (``cpu``, ``cuda``,
            ``auto``); None keeps each producer's default (CPU).
        claim_files: Extra claims (``.py`` files or modules calling ``theory.ledger.register_claim``).
        executor: A ``sim.executors`` executor (kept open; the caller closes it) or name for the producers
            that accept one (the SubsetSum sweeps); None keeps their default (a local process pool).

    Returns:
        A :class:`ReproduceResult`; ``exit_code`` is 1 when any stage failed.

    Raises:
        ValueError: On an unknown scale or figure name, or a bad ``workers``.
    """
    from figures.registry import all_figures, get_figure, render
    from theory.plumbing.progress import progress

    check_choice("scale", scale, SCALES)
    if workers is not None:
        check_int("workers", workers, 1)
    names = list(all_figures()) if not only else [get_figure(n).name for n in dict.fromkeys(only)]
    specs = [get_figure(n) for n in names]
    runs_root, out = Path(runs_root), Path(out)
    stages: list[StageEntry] = []

    # 1. producers
    needed = list(dict.fromkeys(p for s in specs for p in s.producers))
    for pname in progress(needed, desc="producers", quiet=quiet):
        if skip_producers:
            stages.append(StageEntry(f"producer {pname}", "skipped", 0.0, "--skip-producers"))
            continue
        producer = PRODUCERS.get(pname)
        start = time.perf_counter()
        if producer is None:
            stages.append(
                StageEntry(f"producer {pname}", "failed", 0.0, "no producer registered under this name")
            )
            continue
        _say(quiet, f"[reproduce] producer {pname}: {producer.description}")
        try:
            extra = {} if executor is None else {"executor": executor}
            call_with_supported(
                producer.run, runs_root, scale=scale, workers=workers, quiet=quiet, device=device, **extra
            )
            stages.append(StageEntry(f"producer {pname}", "ok", time.perf_counter() - start))
        except Exception as err:  # one producer failing must not lose the others' results
            if not quiet:
                traceback.print_exc(file=sys.stderr)
            stages.append(
                StageEntry(f"producer {pname}", "failed", time.perf_counter() - start, _short_error(err))
            )

    # 2. ledger
    start = time.perf_counter()
    ledger_results: list[Any] = []
    ledger_table, claims, evidence = "", None, {}
    try:
        ledger_results, ledger_table, claims, evidence = call_with_supported(
            run_ledger, runs_root, max_examples=max_examples, claim_files=tuple(claim_files)
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
            evidence = dict(importlib.import_module("theory.ledger").read_evidence(runs_root))
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
            out, figures=entries, claims=claim_rows, stages=stages, ledger_table=ledger_table, header=header
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
