"""Reading recorded runs (never live training state) and aggregating them over seeds.

Layouts read (the shared record contract):

* sweeps: ``<runs_root>/<experiment>/<hash>/`` with ``config.json`` and a tidy ``results.csv``;
* training runs of a training sweep: ``<runs_root>/<experiment>/<sweep hash>/runs/<hash>/seed_<s>/`` (the
  sweep's run directory holds its runs) with ``config.json``, ``metrics.csv`` (long format
  ``step,epoch,cycle,name,value``), ``final.json`` and a ``DONE`` marker;
* constructions: ``<runs_root>/construct/<hash>/seed_<s>/report.json``.

CSV cells are parsed into numbers where they are numbers (``"True"``/``"False"`` become booleans), so
figure code works with floats, not strings.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.training_sweeps.runs import RUNS as TRAINING_RUNS  # where a training sweep keeps its runs
from theory.plumbing.records import read_csv

_NUMPY_REPR = re.compile(r"np\.(?:float|int|uint|bool)\w*\((.*)\)")


class MissingRecordsError(FileNotFoundError):
    """Raised when a figure's records are not in the runs root (names the experiment and the path)."""


def parse_value(text: Any) -> Any:
    """Turn one CSV cell into ``bool``, ``float`` or ``int`` when it is one; otherwise keep the text."""
    if not isinstance(text, str):
        return text
    s = text.strip()
    if s in ("True", "true", "np.True_"):
        return True
    if s in ("False", "false", "np.False_"):
        return False
    if s == "":
        return None
    match = _NUMPY_REPR.fullmatch(s)
    if match:
        # numpy >= 2 scalars written with repr(), e.g. "np.float64(0.5)": read the number inside.
        s = match.group(1)
    try:
        value = float(s)
    except ValueError:
        return s
    if value.is_integer() and s.lstrip("+-").isdigit():
        return int(value)
    return value


def parse_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Apply :func:`parse_value` to every cell."""
    return [{k: parse_value(v) for k, v in row.items()} for row in rows]


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def sweep_dirs(runs_root: str | Path, experiment: str, table: str = "results.csv") -> list[Path]:
    """Hash directories of an experiment that hold the CSV ``table``, newest first."""
    base = Path(runs_root) / experiment
    if not base.is_dir():
        return []
    found = [p.parent for p in base.glob(f"*/{table}")]
    return sorted(found, key=lambda p: (p / table).stat().st_mtime, reverse=True)


@dataclass(frozen=True)
class Sweep:
    """One sweep's records: its directory, its config and its parsed result rows."""

    path: Path
    config: dict[str, Any]
    rows: list[dict[str, Any]]

    def column(self, name: str, rows: Sequence[Mapping[str, Any]] | None = None) -> np.ndarray:
        """One column of ``rows`` (default: all rows) as a float array."""
        return np.array([num(r.get(name)) for r in (self.rows if rows is None else rows)], dtype=float)


def num(v: Any) -> float:
    """A parsed cell as a float: numbers and booleans as themselves, empty or text cells as NaN."""
    if v is None or isinstance(v, str):
        return math.nan
    return float(v)


def load_sweep(
    runs_root: str | Path, experiment: str, *, run: str | None = None, table: str = "results.csv"
) -> Sweep:
    """The most recently written table of ``experiment`` (or the one whose hash is ``run``).

    Several hash directories exist when a sweep was run at several scales; the newest one is the one the
    figure shows, and its path is printed in the figure's CSV so there is no doubt which it was.

    Raises:
        MissingRecordsError: If no ``results.csv`` exists for the experiment.
    """
    dirs = sweep_dirs(runs_root, experiment, table)
    if run is not None:
        dirs = [d for d in dirs if d.name == run]
    if not dirs:
        where = Path(runs_root) / experiment
        raise MissingRecordsError(f"no {experiment!r} records ({where}/<hash>/{table}) found")
    path = dirs[0]
    config = _read_json(path / "config.json") if (path / "config.json").exists() else {}
    return Sweep(path=path, config=config, rows=parse_rows(read_csv(path / table)))


@dataclass
class TrainingRun:
    """One finished training run: config, final numbers and the long-format metrics."""

    path: Path
    config: dict[str, Any]
    final: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        """A config field, falling back to ``final.json`` (then ``default``)."""
        if key in self.config:
            return self.config[key]
        return self.final.get(key, default)

    def series(self, name: str, *, x: str = "step") -> tuple[np.ndarray, np.ndarray]:
        """``(x, value)`` arrays of one metric, sorted by ``x`` (``step``, ``epoch`` or ``cycle``)."""
        pts = [(num(r.get(x)), num(r.get("value"))) for r in self.metrics if r.get("name") == name]
        if not pts:
            return np.array([]), np.array([])
        arr = np.array(sorted(pts, key=lambda t: t[0]), dtype=float)
        return arr[:, 0], arr[:, 1]

    def last_per(self, name: str, key: str = "cycle") -> dict[float, float]:
        """The last recorded value of metric ``name`` for each value of ``key`` (e.g. per cycle)."""
        out: dict[float, tuple[float, float]] = {}
        for r in self.metrics:
            if r.get("name") != name:
                continue
            k, step = num(r.get(key)), num(r.get("step"))
            if k not in out or step >= out[k][0]:
                out[k] = (step, num(r.get("value")))
        return {k: v for k, (_, v) in sorted(out.items())}


def training_runs(
    runs_root: str | Path, experiment: str, *, require_done: bool = True, metrics: bool = True
) -> list[TrainingRun]:
    """All seed directories of a training experiment with their records.

    Args:
        runs_root: The runs root.
        experiment: Experiment name (``ep-dying``, ``iep``, ...).
        require_done: Skip runs without a ``DONE`` marker (unfinished or crashed runs).
        metrics: Also read ``metrics.csv`` (figures that only need final numbers skip it: at full
            scale it is the bulk of the bytes).

    Returns:
        Runs sorted by path (deterministic order).

    Raises:
        MissingRecordsError: If no finished run exists.
    """
    base = Path(runs_root) / experiment
    runs = []
    for seed_dir in sorted(base.glob(f"*/{TRAINING_RUNS}/*/seed_*")):
        if not (seed_dir / "final.json").exists() or (require_done and not (seed_dir / "DONE").exists()):
            continue
        config = _read_json(seed_dir / "config.json") if (seed_dir / "config.json").exists() else {}
        rows = []
        if metrics and (seed_dir / "metrics.csv").exists():
            rows = parse_rows(read_csv(seed_dir / "metrics.csv"))
        runs.append(TrainingRun(seed_dir, config, _read_json(seed_dir / "final.json"), rows))
    if not runs:
        raise MissingRecordsError(
            f"no finished {experiment!r} training runs "
            f"({base}/<sweep hash>/{TRAINING_RUNS}/<hash>/seed_<s>/DONE) found"
        )
    return runs


def construct_reports(runs_root: str | Path, experiment: str = "construct") -> list[dict[str, Any]]:
    """Every ``report.json`` under ``<runs_root>/<experiment>/<hash>/seed_<s>/`` (with ``config``, ``path``).

    Raises:
        MissingRecordsError: If there is none.
    """
    base = Path(runs_root) / experiment
    out = []
    for rep in sorted(base.glob("*/seed_*/report.json")):
        data = dict(_read_json(rep))
        cfg = rep.parent / "config.json"
        data["config"] = _read_json(cfg) if cfg.exists() else {}
        data["path"] = str(rep.parent)
        out.append(data)
    if not out:
        raise MissingRecordsError(f"no construction reports ({base}/<hash>/seed_<s>/report.json) found")
    return out


@dataclass(frozen=True)
class SeedStats:
    """Mean and spread of one quantity over seeds."""

    mean: float
    std: float
    n: int
    lo: float
    hi: float


def seed_stats(values: Iterable[float]) -> SeedStats:
    """Mean, sample s.d. (ddof=1; 0 for one seed), count, and the band ``mean ± s.d.``.

    NaNs are dropped first; with nothing left the result is all-NaN with ``n = 0``.
    """
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return SeedStats(math.nan, math.nan, 0, math.nan, math.nan)
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return SeedStats(mean, std, int(arr.size), mean - std, mean + std)


def group_by(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
    """Group ``items`` by ``key(item)``; groups in sorted key order (keys must be comparable)."""
    groups: dict[Any, list[Any]] = defaultdict(list)
    for it in items:
        groups[key(it)].append(it)
    return dict(sorted(groups.items(), key=lambda kv: _sort_key(kv[0])))


def _sort_key(k: Any) -> Any:
    if isinstance(k, tuple):
        return tuple(_sort_key(x) for x in k)
    return (0, k, "") if isinstance(k, int | float) else (1, 0, str(k))


def aligned_mean(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, SeedStatsArrays]:
    """Mean and s.d. over seeds of curves sampled at the same ``x`` (only the common ``x`` are kept)."""
    if not curves:
        empty = np.array([])
        return empty, SeedStatsArrays(empty, empty, empty, empty, 0)
    common = set(curves[0][0].tolist())
    for x, _ in curves[1:]:
        common &= set(x.tolist())
    xs = np.array(sorted(common), dtype=float)
    stack = np.vstack([np.interp(xs, x, y) if len(x) else np.full(len(xs), np.nan) for x, y in curves])
    mean = stack.mean(axis=0)
    std = stack.std(axis=0, ddof=1) if stack.shape[0] > 1 else np.zeros_like(mean)
    return xs, SeedStatsArrays(mean, std, mean - std, mean + std, stack.shape[0])


@dataclass(frozen=True)
class SeedStatsArrays:
    """Per-``x`` mean, s.d. and band over seeds."""

    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n: int


def accuracy_percent(run: TrainingRun) -> float:
    """Final test accuracy in percent, from the raw counts when recorded (exact), else ``test_acc``.

    ``test_acc`` is read as a fraction in [0, 1] (the trainer's convention); values above 1 are taken
    to be percentages already.
    """
    correct, total = run.final.get("test_correct"), run.final.get("test_total")
    if correct is not None and total:
        return 100.0 * float(correct) / float(total)
    acc = run.final.get("test_acc")
    if acc is None:
        return math.nan
    return float(acc) * 100.0 if float(acc) <= 1.0 else float(acc)
