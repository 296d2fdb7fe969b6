"""Advisory locks on run directories: one writer per run, never a stale lock.

A process that writes a run directory holds ``fcntl.flock`` on its ``.lock`` file. The kernel releases a
flock when the process exits, however it exits (a SIGKILL included), so a crashed run never leaves a lock
behind; the holder's pid, host, command and start time are written into the file only to name it in the
message another process gets. A second process asking for the same directory either waits until the
holder is gone (``--wait``: :func:`set_wait`) or gets :class:`RunInUse` at once, naming the directory and
the holder. Within one process the lock is re-entrant (counted), so nested users of one directory share it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

LOCK_FILE = ".lock"
WAIT_ENV = "SLTH_WAIT"
_HELD: dict[str, list[int]] = {}  # resolved directory -> [fd, count]


class RunInUse(RuntimeError):
    """Another process holds the run directory's lock.

    Attributes:
        directory: The run directory.
        holder: What the holder wrote about itself (pid, host, command, since); may be empty.
    """

    def __init__(self, directory: Path, holder: dict) -> None:
        self.directory = directory
        self.holder = holder
        who = (
            f"process {holder.get('pid')} on {holder.get('host')} ({holder.get('command')}, since "
            f"{holder.get('since')})"
            if holder
            else "another process"
        )
        super().__init__(
            f"run {directory} is in use by {who}; wait for it to finish, or pass --wait to wait for it"
        )


def set_wait(on: bool) -> None:
    """Make lock requests wait for the holder instead of raising :class:`RunInUse` (``--wait``)."""
    if on:
        os.environ[WAIT_ENV] = "1"
    else:
        os.environ.pop(WAIT_ENV, None)


def holder(directory: str | Path) -> dict:
    """What the current (or last) holder of ``directory``'s lock wrote about itself (``{}`` if nothing)."""
    try:
        text = (Path(directory) / LOCK_FILE).read_text(encoding="utf-8")
        info = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def acquire(directory: str | Path, *, wait: bool | None = None, poll: float = 0.05) -> None:
    """Take the lock of ``directory`` (created if missing) for this process.

    Args:
        directory: The run directory.
        wait: Wait for a holder to finish; None reads :func:`set_wait`'s setting.
        poll: Seconds between attempts while waiting.

    Raises:
        RunInUse: When another process holds it and not waiting.
        OSError: When the directory or its lock file cannot be created (e.g. a read-only runs root).
    """
    directory = Path(directory)
    key = str(directory.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        return
    if wait is None:
        wait = os.environ.get(WAIT_ENV, "") == "1"
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    raise RunInUse(directory, holder(directory)) from None
                time.sleep(poll)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300],
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
    except BaseException:
        os.close(fd)
        raise
    _HELD[key] = [fd, 1]


def release(directory: str | Path) -> None:
    """Give back one :func:`acquire` of ``directory``; the last one releases the lock."""
    key = str(Path(directory).resolve())
    entry = _HELD.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _HELD[key]
        os.close(entry[0])  # closing the descriptor releases the flock


def held(directory: str | Path) -> bool:
    """Whether this process holds ``directory``'s lock."""
    return str(Path(directory).resolve()) in _HELD


def forget_inherited() -> None:
    """In a forked child: drop the parent's entries (the child must take its own locks).

    The inherited descriptors are closed only in the child; the parent's locks stay held by the parent.
    """
    for fd, _ in _HELD.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()
