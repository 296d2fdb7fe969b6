"""One run directory: open it, check its config, record the environment, write atomically, mark it done.

Every producer of records (training runs, Monte Carlo sweeps, constructions, Taylor experiments) keeps
its files in a :class:`RunDir` at ``<runs_root>/<experiment>/<config hash>/[seed_<s>/]``:

* ``config.json``: the resolved config, written on the first :meth:`RunDir.open`. A later open with a
  different config under the same directory is refused, and the message lists the differences
  (``field: stored -> requested``), so a hash collision or an edited file is never silently reused.
* ``env.json``: software and hardware of the latest invocation (rewritten on every open, plus any
  facts the caller adds: device, world size).
* ``DONE``: written last by :meth:`RunDir.mark_done`; its presence means every record of the run is
  complete, so a re-run returns at once. It is a stamped record listing the SHA-256 of every file in the
  directory (sweep cells included; not ``env.json``, rewritten on every open): :attr:`RunDir.done` checks
  them, and a file that changed since (a crash during a copy, a synced folder, an edit) is moved aside to
  ``<file>.corrupt-<n>`` with ``DONE`` (one-line warning; ``--strict`` refuses instead), so the run is
  redone from what is still valid. Work that is not done resumes from whatever the producer saved
  (checkpoints, finished cells).
* ``.lock``: the advisory lock (:mod:`theory.plumbing.locks`) a writing process holds from
  :meth:`RunDir.open` (or :meth:`RunDir.lock`) until it exits or calls :meth:`RunDir.release`; a second
  process gets :class:`~theory.plumbing.locks.RunInUse` (or waits, ``--wait``), so work is never done twice.

All writes go through :mod:`theory.plumbing.records` (temporary file + rename), so a record is either
the old one or the new one, never half written; the temporary files a killed process leaves are removed
by the next process that takes the lock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from theory.plumbing import configs, locks, records

DONE = "DONE"
CONFIG = "config.json"
ENV = "env.json"
DONE_SCHEMA = "slth.done/1"
#: Files of a run directory that DONE's manifest leaves out: rewritten after the run is done.
_UNLISTED = (DONE, ENV, locks.LOCK_FILE)


def _listed(name: str) -> bool:
    return name not in _UNLISTED and not name.startswith(".") and ".corrupt-" not in name


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete the temporary files (``.<name>.<random>.tmp``) of writes that a killed process left.

    Only call it holding the directory's lock: then no other process is writing there. They are never
    records (a record only appears by the rename), so nothing of value goes.
    """
    gone = []
    for folder in (directory, *(p for p in directory.iterdir() if p.is_dir())) if directory.is_dir() else ():
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            gone.append(tmp)
    return gone


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
        self._locked = False
        self._done_checked = False

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
        try:
            # Not stamped: comparing every field with the requested config is its check.
            stored = records.read_record(path, "slth.config/1")
        except records.RecordError as err:
            # The directory's name is the config's hash, so an unreadable config.json is rewritten.
            records.recover(err)
            return
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
            RunInUse: If another process holds the directory (see :meth:`lock`).
        """
        self.check_config()
        if not write:
            return self
        self.lock()
        if not (self.path / CONFIG).exists():
            records.atomic_write_json(self.path / CONFIG, self._record)
        records.atomic_write_json(self.path / ENV, {**records.environment_info(), **dict(env or {})})
        self._opened = True
        return self

    def lock(self) -> RunDir:
        """Take the directory's advisory lock (created if missing) and clear stale temporary files.

        Idempotent per object; several objects of one directory in one process share the lock.

        Returns:
            ``self``.

        Raises:
            RunInUse: Another process holds it (unless waiting, ``--wait``); names the process.
        """
        if not self._locked:
            locks.acquire(self.path)
            self._locked = True
            self._done_checked = False  # the holder we waited for may have finished (or broken) it
            remove_stale_temporaries(self.path)
        return self

    def release(self) -> None:
        """Give back the lock taken by :meth:`open` or :meth:`lock` (process exit does it too)."""
        if self._locked:
            locks.release(self.path)
            self._locked = False

    @property
    def is_open(self) -> bool:
        """True once :meth:`open` has written this directory's records in this process."""
        return self._opened

    @property
    def done(self) -> bool:
        """True when :meth:`mark_done` has run and every file it listed is unchanged.

        A file that no longer matches ``DONE``'s manifest is moved aside with ``DONE`` (see the module
        docstring), and the run counts as not done.

        Raises:
            RecordError: Under ``--strict``, instead of moving anything.
        """
        path = self.path / DONE
        if not path.exists():
            return False
        if self._done_checked:
            return True
        try:
            if path.read_bytes() == b"done\n":  # an older toolkit's marker: no manifest to check
                self._done_checked = True
                return True
            manifest = records.read_record(path, DONE_SCHEMA, ("files",))
        except records.RecordError as err:
            records.recover(err)
            return False
        for name, digest in sorted(manifest["files"].items()):
            f = self.path / name
            found = file_digest(f) if f.is_file() else None
            if found != digest:
                reason = (
                    "missing" if found is None else f"content changed since the run was done (sha256 "
                    f"{digest[:12]}... -> {found[:12]}...)"
                )
                err = records.RecordError(f, f"{reason}; listed in {path}")
                if f.is_file():
                    records.recover(err)
                elif records.strict():
                    records.recover(err)  # raises
                else:
                    print(f"warning: {f}: {reason}; recomputing it", file=sys.stderr)
                records.set_aside(path)
                return False
        self._done_checked = True
        return True

    def mark_done(self) -> None:
        """Write ``DONE`` with the digest of every file it covers; call it after the run's last record."""
        files = {
            p.relative_to(self.path).as_posix(): file_digest(p)
            for p in sorted(self.path.rglob("*"))
            if p.is_file() and _listed(p.name)
        }
        records.write_record(self.path / DONE, {"files": files}, DONE_SCHEMA)
        self._done_checked = True

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
