"""Atomic, checkable run records and the description of the environment a run used.

A result file is either the old complete version or the new complete version, never half written:
we write to a temporary file in the same directory, flush and fsync it, then ``os.replace`` it. A write
that fails (a full disk, a read-only file system) raises :class:`RecordWriteError` naming the record that
was not saved; the previous version stays as it was.

Records a resume trusts are *stamped*: :func:`write_record` stores a schema id and the SHA-256 of the
content under the key ``"_record"``, and :func:`read_record` checks both (and the keys the schema
requires). :func:`load_record` is the resume-side read: a record that fails is moved aside to
``<file>.corrupt-<n>`` (never deleted) with a one-line warning, and the caller recomputes it; under
``--strict`` (:func:`set_strict`) it raises :class:`RecordError` instead. A record without a stamp (written
by hand or by an older toolkit) is read with its schema check only.

Fault injection (for ``tests/faults``; environment variables, so subprocesses inherit them):

* ``SLTH_FAULT_KILL=<k>:<phase>``: SIGKILL this process at its ``k``-th atomic write, ``phase`` ``torn``
  (half the temporary file written), ``before`` (temporary file complete, not renamed) or ``after``
  (renamed);
* ``SLTH_FAULT_ENOSPC=<k>``: the ``k``-th and every later write fails with ``ENOSPC`` (a full disk);
* ``SLTH_FAULT_LOG=<file>``: append the path of every completed write to ``<file>``.
"""

from __future__ import annotations

import csv
import errno
import functools
import hashlib
import io
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


class RecordError(ValueError):
    """A record failed validation: unreadable, another schema, or content that does not match its hash.

    Attributes:
        path: The record's file.
        reason: Why it failed (one line).
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}")


class RecordWriteError(OSError):
    """A record could not be written (full disk, read-only file system); the previous version is intact."""

    def __str__(self) -> str:
        return str(self.strerror)


STAMP_KEY = "_record"
STRICT_ENV = "SLTH_STRICT"
FAULT_KILL_ENV = "SLTH_FAULT_KILL"
FAULT_ENOSPC_ENV = "SLTH_FAULT_ENOSPC"
FAULT_LOG_ENV = "SLTH_FAULT_LOG"
_FAULT_PHASES = ("torn", "before", "after")
_writes = 0  # atomic writes made by this process (the fault hooks count them)


def reset_write_count() -> None:
    """Restart the fault hooks' count of atomic writes (a forked test child calls it)."""
    global _writes
    _writes = 0


def _fault_plan() -> tuple[int | None, str, int | None]:
    kill, phase = None, ""
    spec = os.environ.get(FAULT_KILL_ENV)
    if spec:
        k, _, phase = spec.partition(":")
        if phase not in _FAULT_PHASES:
            raise ValueError(f"{FAULT_KILL_ENV} must be <k>:<phase>, phase in {_FAULT_PHASES}; got {spec!r}")
        kill = int(k)
    full = os.environ.get(FAULT_ENOSPC_ENV)
    return kill, phase, int(full) if full else None


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename).

    Args:
        path: Destination; parent directories are created.
        data: The bytes to write.

    Returns:
        The destination as a ``Path``.

    Raises:
        RecordWriteError: The write failed (e.g. ``ENOSPC``); the message names the record that was not
            saved; ``path`` still holds its previous version (or nothing) and no temporary file is left.
    """
    global _writes
    path = Path(path)
    _writes += 1
    kill, phase, full = _fault_plan()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        # mkstemp creates 0600; give the result the permissions an ordinary open() would (umask applied).
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            if full is not None and _writes >= full:
                fh.write(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if kill == _writes and phase == "torn":
                fh.write(data[: len(data) // 2])
                fh.flush()
                _die()
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if kill == _writes and phase == "before":
            _die()
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        what = "the previous version is intact" if path.exists() else "no previous version existed"
        raise RecordWriteError(
            err.errno,
            f"could not write {path} ({err.strerror or err}): this record was not saved ({what}); "
            "free space or fix the disk, then re-run the same command to resume",
        ) from err
    except BaseException:
        # Leave no temp file behind when interrupted.
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    log = os.environ.get(FAULT_LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{path}\n")
    if kill == _writes and phase == "after":
        _die()
    return path


def _read_umask() -> int:
    # os.umask can only be read by setting it; restore it at once. Read once at import: setting it is
    # process-wide, so doing this on every write could race with files created by other threads.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically.

    Floats are written with ``repr`` precision (JSON's default), so nothing is rounded.
    """
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_write_csv(
    path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], fieldnames: Sequence[str] | None = None
) -> Path:
    """Write tidy ``rows`` (dicts) as CSV atomically.

    Args:
        path: Destination.
        rows: One mapping per row.
        fieldnames: Column order; defaults to the keys of the first row, then any new keys in order seen.

    Returns:
        The destination as a ``Path``.
    """
    rows = list(rows)
    if fieldnames is None:
        seen: dict[str, None] = {}
        for row in rows:
            for key in row:
                seen.setdefault(key, None)
        fieldnames = list(seen)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return atomic_write_text(path, buf.getvalue())


def content_digest(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys, no spaces; what a stamp records)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stamped(obj: Mapping[str, Any], schema: str) -> dict[str, Any]:
    """``obj`` as plain JSON data with its stamp ``{"schema", "sha256"}`` under :data:`STAMP_KEY`."""
    if not isinstance(schema, str) or not schema:
        raise ValueError(f"schema must be a non-empty string, got {schema!r}")
    data = json.loads(json.dumps(dict(obj), default=_json_default))
    data.pop(STAMP_KEY, None)
    data[STAMP_KEY] = {"schema": schema, "sha256": content_digest(data)}
    return data


def write_record(path: str | os.PathLike, obj: Mapping[str, Any], schema: str) -> Path:
    """Write the JSON record ``obj`` atomically, stamped with ``schema`` and its content hash."""
    return atomic_write_json(path, stamped(obj, schema))


def read_record(path: str | os.PathLike, schema: str, required: Sequence[str] = ()) -> dict[str, Any]:
    """Read and check a record written by :func:`write_record`; returns it without its stamp.

    Args:
        path: The record.
        schema: The schema id it must carry.
        required: Keys the record must hold.

    Raises:
        FileNotFoundError: When it does not exist.
        RecordError: When it is not a JSON object, carries another schema, its content does not match its
            hash, or it lacks a required key.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordError(path, f"unreadable ({err})") from err
    if not isinstance(obj, dict):
        raise RecordError(path, f"expected a JSON object ({schema}), found {type(obj).__name__}")
    stamp = obj.pop(STAMP_KEY, None)
    if stamp is not None:
        if not isinstance(stamp, dict) or stamp.get("schema") != schema:
            found = stamp.get("schema") if isinstance(stamp, dict) else stamp
            raise RecordError(path, f"schema {found!r}, expected {schema!r}")
        digest = content_digest(obj)
        if stamp.get("sha256") != digest:
            raise RecordError(
                path,
                f"content does not match its hash (recorded sha256 {str(stamp.get('sha256'))[:12]}..., "
                f"content {digest[:12]}...): changed after it was written",
            )
    missing = [k for k in required if k not in obj]
    if missing:
        raise RecordError(path, f"missing keys {missing} of schema {schema!r}")
    return obj


def set_strict(on: bool) -> None:
    """Make records that fail validation stop the run (``--strict``) instead of being moved aside.

    Stored in the environment (``SLTH_STRICT``) so that worker processes inherit it.
    """
    if on:
        os.environ[STRICT_ENV] = "1"
    else:
        os.environ.pop(STRICT_ENV, None)


def strict() -> bool:
    """Whether ``--strict`` is in force (see :func:`set_strict`)."""
    return os.environ.get(STRICT_ENV, "") == "1"


def set_aside(path: str | os.PathLike) -> Path:
    """Move ``path`` to ``<path>.corrupt-<n>`` (the first free ``n``), never deleting anything."""
    path = Path(path)
    n = 1
    while path.with_name(f"{path.name}.corrupt-{n}").exists():
        n += 1
    dest = path.with_name(f"{path.name}.corrupt-{n}")
    os.replace(path, dest)
    return dest


def recover(err: RecordError) -> Path:
    """Handle a record that failed validation: move it aside with a one-line warning (or refuse).

    Returns:
        Where the record went.

    Raises:
        RecordError: Under ``--strict``, with the reason and what to do.
    """
    if strict():
        raise RecordError(
            err.path,
            f"{err.reason}; --strict: refusing to go on (move the file away, or re-run without --strict "
            "to move it aside and recompute it)",
        ) from err
    dest = set_aside(err.path)
    print(f"warning: {err.path}: {err.reason}; moved to {dest.name}, recomputing it", file=sys.stderr)
    return dest


def load_record(path: str | os.PathLike, schema: str, required: Sequence[str] = ()) -> dict[str, Any] | None:
    """The record at ``path`` if it exists and passes :func:`read_record`, else None (see :func:`recover`).

    Raises:
        RecordError: Under ``--strict``, when the record fails validation.
    """
    try:
        return read_record(path, schema, required)
    except FileNotFoundError:
        return None
    except RecordError as err:
        recover(err)
        return None


def check_writable(root: str | os.PathLike) -> Path:
    """Refuse a runs root that cannot be written, before any work starts.

    Raises:
        RecordWriteError: One line naming the root and the reason.
    """
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".slth-write-probe.", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise RecordWriteError(
            err.errno,
            f"runs root {root} is not writable ({err.strerror or err}); nothing was run: choose another "
            "--runs-root or make it writable",
        ) from err
    return root


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """Read a CSV file into a list of dicts (values stay strings)."""
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def environment_info() -> dict[str, Any]:
    """Describe the software and hardware a run used.

    torch is reported only if it is already imported, so that calling this never pays torch's import
    cost in numpy-only runs.
    """
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "git_sha": _git_sha(),
    }
    for mod in ("numpy", "scipy", "sympy", "torch"):
        m = sys.modules.get(mod)
        if m is not None:
            info[mod] = getattr(m, "__version__", "?")
    torch = sys.modules.get("torch")
    if torch is not None:
        info["cuda_available"] = bool(torch.cuda.is_available())
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name(0)
            info["cuda_version"] = torch.version.cuda
    info["slth_toolkit"] = toolkit_version()
    return info


@functools.cache
def toolkit_version() -> str:
    """The installed toolkit's version, ``"source"`` when running from a tree that is not installed."""
    try:
        from importlib.metadata import version

        return version("slth-toolkit")
    except Exception:  # not installed: running from a source tree
        return "source"


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays, Paths and tuples-in-sets come through here.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        # float() first: numpy 2 reprs np.float64 (a float subclass) as "np.float64(0.5)".
        return repr(float(v))
    if hasattr(v, "item") and callable(v.item):
        return _csv_value(v.item())
    return v
