"""One run directory: open it, check its config, record the environment, write atomically, mark it done.

Every producer of records (training runs, Monte Carlo sweeps, constructions, Taylor experiments) keeps
its files in a :class:`RunDir` at ``<runs_root>/<experiment>/<config hash>/[seed_<s>/]``:

* ``config.json``: the resolved config, written on the first :meth:`RunDir.open`. A later open with a
  different config under the same directory is refused, and the message lists the differences
  (``field: stored -> requested``), so a hash collision or an edited file is never silently reused.
* ``env.json``: software and hardware of the latest invocation (rewritten on every open, plus any
  facts the caller adds: device, world size).
* ``DONE``: written last by :meth:`RunDir.mark_done`; its presence means every record of the run is
  complete, so a re-run returns at once. Work that is not done resumes from whatever the producer saved
  (checkpoints, finished cells).

All writes go through :mod:`theory.plumbing.records` (temporary file + rename), so a record is either
the old one or the new one, never half written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from theory.plumbing import configs, records

DONE = "DONE"
CONFIG = "config.json"
ENV = "env.json"


def _as_dict(config: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return configs.config_to_dict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise ValueError(f"config must be a dataclass instance or a mapping, got {type(config).__name__}")


def dict_diff(stored: Mapping[str, Any], requested: Mapping[str, Any]) -> list[str]:
    """``field: stored -> requested`` for every key whose value differs (missing keys show as None)."""
    keys = sorted(set(stored) | set(requested))
    return [
        f"{k}: {stored.get(k)!r} -> {requested.get(k)!r}" for k in keys if stored.get(k) != requested.get(k)
    ]


class RunDir:
    """The directory of one run (see the module docstring for its files).

    Args:
        path: The directory.
        config: The run's frozen dataclass config (or a JSON-ready mapping); what ``config.json`` holds.
        extra: Keys stored in ``config.json`` beside the config's fields (e.g. ``{"experiment": name}``).
    """

    def __init__(self, path: str | Path, config: Any, *, extra: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.config = config
        self._record = {**dict(extra or {}), **_as_dict(config)}
        self._opened = False

    @classmethod
    def for_config(
        cls,
        runs_root: str | Path,
        experiment: str,
        config: Any,
        *,
        seed: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> RunDir:
        """The run directory ``<runs_root>/<experiment>/<hash>/[seed_<seed>/]`` of ``config``."""
        return cls(configs.run_dir(runs_root, experiment, config, seed), config, extra=extra)

    # ------------------------------------------------------------------------------------------------
    def check_config(self) -> None:
        """Refuse a directory whose ``config.json`` holds a different config.

        Raises:
            ValueError: Naming the directory and listing the differences (stored -> requested).
        """
        path = self.path / CONFIG
        if not path.exists():
            return
        stored = records.read_json(path)
        if stored != self._record:
            diff = "; ".join(dict_diff(stored, self._record)) or "(same keys, different encoding)"
            raise ValueError(
                f"{self.path} holds a run of a different config; refusing to reuse it. Differences "
                f"(stored -> requested): {diff}"
            )

    def open(self, *, write: bool = True, env: Mapping[str, Any] | None = None) -> RunDir:
        """Create the directory, check or write ``config.json`` and rewrite ``env.json``.

        Args:
            write: False to only check the config (e.g. every DDP rank but rank 0).
            env: Extra environment facts for ``env.json`` (device, world size, ...).

        Returns:
            ``self``.

        Raises:
            ValueError: If ``config.json`` holds a different config.
        """
        self.check_config()
        if not write:
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / CONFIG).exists():
            records.atomic_write_json(self.path / CONFIG, self._record)
        records.atomic_write_json(self.path / ENV, {**records.environment_info(), **dict(env or {})})
        self._opened = True
        return self

    @property
    def is_open(self) -> bool:
        """True once :meth:`open` has written this directory's records in this process."""
        return self._opened

    @property
    def done(self) -> bool:
        """True when :meth:`mark_done` has run (every record of the run is complete)."""
        return (self.path / DONE).exists()

    def mark_done(self) -> None:
        """Write ``DONE``; call it after the run's last record."""
        records.atomic_write_text(self.path / DONE, "done\n")

    # ------------------------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        """Path of a file inside the run directory."""
        return self.path / name

    def exists(self, name: str) -> bool:
        """Whether the run directory holds ``name``."""
        return (self.path / name).exists()

    def write_json(self, name: str, obj: Any) -> Path:
        """Write a JSON record atomically."""
        return records.atomic_write_json(self.path / name, obj)

    def read_json(self, name: str) -> Any:
        """Read a JSON record."""
        return records.read_json(self.path / name)

    def write_csv(
        self, name: str, rows: Iterable[Mapping[str, Any]], fieldnames: list[str] | None = None
    ) -> Path:
        """Write a tidy CSV atomically."""
        return records.atomic_write_csv(self.path / name, rows, fieldnames)

    def write_text(self, name: str, text: str) -> Path:
        """Write a text file atomically."""
        return records.atomic_write_text(self.path / name, text)

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write a binary file atomically (e.g. a serialised checkpoint)."""
        return records.atomic_write_bytes(self.path / name, data)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"
