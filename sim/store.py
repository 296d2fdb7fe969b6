"""Per-cell records of a Monte Carlo sweep inside its run directory, for resuming an interrupted sweep.

The run directory itself (``runs/<experiment>/<hash>/``: ``config.json``, ``env.json``, ``DONE``) is a
:class:`theory.plumbing.rundir.RunDir`, opened by :meth:`sim.experiments.Experiment.execute`. A
:class:`RunStore` adds the cell files of the Monte Carlo engine:

* ``cells/<cell-key>.json``: one finished cell (its per-trial samples). A cell is only ever written
  complete (temp file + rename), so its presence means "done": a re-run reuses it.
* ``cells/<cell-key>.part-<start>-<stop>.json``: finished chunks of an unfinished cell; a re-run keeps
  them and computes only the missing trials, then merges the parts into the cell record.
* ``results.csv``: the tidy table the figures read (one row per cell), rewritten at the end.

Cell and part files are stamped records (:func:`theory.plumbing.records.write_record`: schema id and
content hash). One that fails its check on reading (garbage, a truncated copy, an edit) is moved aside to
``<file>.corrupt-<n>`` with a one-line warning and its trials are recomputed; under ``--strict`` the sweep
stops with that message instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from theory.plumbing import records
from theory.plumbing.rundir import RunDir

_PART = re.compile(r"^(?P<key>.+)\.part-(?P<start>\d+)-(?P<stop>\d+)\.json$")
CELL_SCHEMA = "slth.cell/1"
PART_SCHEMA = "slth.cell-part/1"


class RunStore:
    """The cell files of one sweep run.

    Args:
        rundir: The sweep's run directory (:meth:`sim.experiments.Experiment.rundir`).
    """

    def __init__(self, rundir: RunDir) -> None:
        if not isinstance(rundir, RunDir):
            raise ValueError(f"rundir must be a theory.plumbing.rundir.RunDir, got {type(rundir).__name__}")
        self.rundir = rundir
        self.path = rundir.path
        self.cells_dir = self.path / "cells"

    def open(self) -> RunStore:
        """Open the run directory unless it is open (config check, ``env.json``) and create ``cells/``.

        Returns:
            ``self``.

        Raises:
            ValueError: If ``config.json`` holds a different config (the differences are listed).
        """
        if not self.rundir.is_open:  # Experiment.execute has usually opened it already
            self.rundir.open()
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        return self

    def cell_path(self, key: str) -> Path:
        """Path of a finished cell's record."""
        return self.cells_dir / f"{key}.json"

    def load_cell(self, key: str) -> dict[str, Any] | None:
        """The finished cell's record, or None (also when it failed its check and was moved aside).

        Raises:
            RecordError: Under ``--strict``, for a cell file that fails its check.
        """
        # Sweeps keep different fields in their cells (engine: trials/errors/tols; paired: low/high...):
        # the stamp's schema and content hash are the check.
        return records.load_record(self.cell_path(key), CELL_SCHEMA)

    def save_cell(self, key: str, record: Mapping[str, Any]) -> None:
        """Write a finished cell atomically, then drop its part files."""
        records.write_record(self.cell_path(key), record, CELL_SCHEMA)
        for part in self.cells_dir.glob(f"{key}.part-*.json"):
            part.unlink(missing_ok=True)

    def save_part(self, key: str, start: int, stop: int, record: Mapping[str, Any]) -> None:
        """Write the record of trials ``[start, stop)`` of an unfinished cell atomically."""
        records.write_record(self.cells_dir / f"{key}.part-{start}-{stop}.json", record, PART_SCHEMA)

    def load_parts(self, key: str) -> dict[tuple[int, int], dict[str, Any]]:
        """Finished chunks of an unfinished cell: ``{(start, stop): record}`` (failed ones moved aside)."""
        out = {}
        for path in sorted(self.cells_dir.glob(f"{key}.part-*.json")):
            m = _PART.match(path.name)
            if m and m.group("key") == key:
                rec = records.load_record(path, PART_SCHEMA)
                if rec is not None:
                    out[(int(m.group("start")), int(m.group("stop")))] = rec
        return out

    def finished_keys(self) -> set[str]:
        """Keys of every finished cell."""
        return {p.stem for p in self.cells_dir.glob("*.json") if ".part-" not in p.name}

    def write_results(self, rows: Iterable[Mapping[str, Any]], fieldnames: list[str] | None = None) -> Path:
        """Write ``results.csv`` atomically."""
        return self.rundir.write_csv("results.csv", rows, fieldnames)

    def write_json(self, name: str, obj: Any) -> Path:
        """Write an extra JSON record (e.g. a summary) atomically."""
        return self.rundir.write_json(name, obj)
