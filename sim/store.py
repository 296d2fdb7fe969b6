"""Run records of a Monte Carlo sweep, written atomically, with per-cell completion records for resuming.

Layout of one sweep run (``runs/<experiment>/<hash>/``, the hash derived from the sweep's config):

* ``config.json``: the config (plus the experiment name), written once; a different config under the
  same hash is refused.
* ``env.json``: software and hardware of the latest invocation.
* ``cells/<cell-key>.json``: one finished cell (its per-trial samples). A cell is only ever written
  complete (temp file + rename), so its presence means "done": a re-run reuses it.
* ``cells/<cell-key>.part-<start>-<stop>.json``: finished chunks of an unfinished cell; a re-run keeps
  them and computes only the missing trials, then merges the parts into the cell record.
* ``results.csv``: the tidy table the figures read (one row per cell), rewritten at the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from theory.plumbing import configs, records

_PART = re.compile(r"^(?P<key>.+)\.part-(?P<start>\d+)-(?P<stop>\d+)\.json$")


class RunStore:
    """Files of one sweep run.

    Args:
        runs_root: The run root (``runs`` by default).
        experiment: The experiment name (``rss-success``, ...).
        config: The sweep's frozen dataclass config (its hash names the directory).
    """

    def __init__(self, runs_root: str | Path, experiment: str, config: Any) -> None:
        self.experiment = experiment
        self.config = config
        self.path = configs.run_dir(runs_root, experiment, config)
        self.cells_dir = self.path / "cells"

    def open(self) -> RunStore:
        """Create the directory, write ``config.json`` (checking an existing one) and ``env.json``.

        Returns:
            ``self``.

        Raises:
            ValueError: If ``config.json`` exists with a different config (a hash collision).
        """
        cfg = {"experiment": self.experiment, **configs.config_to_dict(self.config)}
        cfg_path = self.path / "config.json"
        if cfg_path.exists():
            old = records.read_json(cfg_path)
            if old != cfg:
                raise ValueError(f"{cfg_path} holds a different config; remove the directory to start over")
        else:
            records.atomic_write_json(cfg_path, cfg)
        records.atomic_write_json(self.path / "env.json", records.environment_info())
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        return self

    def cell_path(self, key: str) -> Path:
        """Path of a finished cell's record."""
        return self.cells_dir / f"{key}.json"

    def load_cell(self, key: str) -> dict[str, Any] | None:
        """The finished cell's record, or None."""
        path = self.cell_path(key)
        return records.read_json(path) if path.exists() else None

    def save_cell(self, key: str, record: Mapping[str, Any]) -> None:
        """Write a finished cell atomically, then drop its part files."""
        records.atomic_write_json(self.cell_path(key), dict(record))
        for part in self.cells_dir.glob(f"{key}.part-*.json"):
            part.unlink(missing_ok=True)

    def save_part(self, key: str, start: int, stop: int, record: Mapping[str, Any]) -> None:
        """Write the record of trials ``[start, stop)`` of an unfinished cell atomically."""
        records.atomic_write_json(self.cells_dir / f"{key}.part-{start}-{stop}.json", dict(record))

    def load_parts(self, key: str) -> dict[tuple[int, int], dict[str, Any]]:
        """Finished chunks of an unfinished cell: ``{(start, stop): record}``."""
        out = {}
        for path in self.cells_dir.glob(f"{key}.part-*.json"):
            m = _PART.match(path.name)
            if m and m.group("key") == key:
                out[(int(m.group("start")), int(m.group("stop")))] = records.read_json(path)
        return out

    def finished_keys(self) -> set[str]:
        """Keys of every finished cell."""
        return {p.stem for p in self.cells_dir.glob("*.json") if ".part-" not in p.name}

    def write_results(self, rows: Iterable[Mapping[str, Any]], fieldnames: list[str] | None = None) -> Path:
        """Write ``results.csv`` atomically."""
        return records.atomic_write_csv(self.path / "results.csv", rows, fieldnames)

    def write_json(self, name: str, obj: Any) -> Path:
        """Write an extra JSON record (e.g. a summary) atomically."""
        return records.atomic_write_json(self.path / name, obj)
