"""The fault-injection harness: a fork server (``zygote.py``), kill chains and record audits."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
ZYGOTE = Path(__file__).with_name("zygote.py")
PHASES = ("torn", "before", "after")


class Zygote:
    """Talks to ``zygote.py``: each :meth:`run` is one forked ``slth`` process."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        for key in [k for k in env if k.startswith("SLTH_")]:
            env.pop(key)
        self.proc = subprocess.Popen(
            [sys.executable, str(ZYGOTE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}
        self.cpu = 0.0

    def run(self, argv: list[str], out: Path, *, env: dict | None = None, timer: float | None = None) -> dict:
        """Run ``slth argv`` in a forked child; returns ``{"rc", "seconds", "cpu"}`` (rc -9: SIGKILLed)."""
        env = {k: str(v) for k, v in (env or {}).items()}
        req = {"argv": [str(a) for a in argv], "env": env, "out": str(out), "timer": timer}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        res = json.loads(self.proc.stdout.readline())
        self.cpu += res["cpu"]
        return res

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


@pytest.fixture(scope="session")
def zygote():
    z = Zygote()
    yield z
    z.close()


@pytest.fixture
def fx():
    """The harness's helpers (test modules cannot import conftest under --import-mode=importlib)."""
    return SimpleNamespace(audit=audit_records, writes=write_log, relative=relative, phases=PHASES)


def write_log(path: Path) -> Counter:
    """How many times each record path was written (completed renames), from ``SLTH_FAULT_LOG``."""
    if not path.exists():
        return Counter()
    return Counter(line for line in path.read_text().splitlines() if line)


def relative(counter: Counter, root: Path) -> Counter:
    """The write counts keyed by path relative to ``root``."""
    return Counter(
        {str(Path(p).relative_to(root)): n for p, n in counter.items() if Path(p).is_relative_to(root)}
    )


def audit_records(root: Path) -> dict[str, list[str]]:
    """Every record under ``root`` that is half written or fails its check, every set-aside file and every
    stray temporary file (what a kill may leave; the next process taking the run's lock removes them)."""
    import torch

    from networks.training.trainer import tensor_tree_digest
    from theory.plumbing import records

    bad, aside, temps = [], [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.name
        if name == ".lock":
            continue
        if ".corrupt-" in name:
            aside.append(str(path))
            continue
        if name.startswith(".") and name.endswith(".tmp"):
            temps.append(str(path))
            continue
        try:
            if name.endswith(".json") or name == "DONE":
                if path.read_bytes() != b"done\n":
                    records.read_record(path, _schema_of(path))
            elif name.endswith(".csv"):
                with open(path, newline="", encoding="utf-8") as fh:
                    rows = list(csv.reader(fh))
                assert rows and all(len(r) == len(rows[0]) for r in rows), "ragged csv"
            elif name.endswith(".pt"):
                state = torch.load(path, weights_only=True)
                stamp = state.pop("integrity", None) if isinstance(state, dict) else None
                if stamp is not None:
                    assert stamp["sha256"] == tensor_tree_digest(state), "checkpoint digest"
        except Exception as err:  # a record that does not read back is what this audit counts
            bad.append(f"{path}: {err}")
    return {"bad": bad, "aside": aside, "temps": temps}


def _schema_of(path: Path) -> str:
    # The stamp names its schema; read_record only needs it to compare.
    obj = json.loads(path.read_text())
    return obj.get("_record", {}).get("schema", "unstamped") if isinstance(obj, dict) else "unstamped"
