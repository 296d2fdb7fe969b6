"""Kill at any point: SIGKILL each command kind at seeded random points, re-run it, compare with one run.

For each kind (a sweep, a training run, a construction, ``slth reproduce``) one uninterrupted reference
run is made, then chains of runs of the same command in a fresh runs root: each run is SIGKILLed, either
at its k-th atomic write (``SLTH_FAULT_KILL=<k>:<phase>``: half the temporary file written, temporary file
complete but not renamed, or just renamed) or after a random time, and the next run resumes from what it
left, until one run finishes. Asserted, and printed as counts:

* kill points per kind (>= 20, seeded);
* identical results: every finished chain's results equal the reference's, byte for byte (CPU);
* half-written records: after every kill, every record under the root reads back and passes its check
  (stamp, digest, weights-only load); none was set aside; no temporary file is left in a run directory
  once a run has finished (0);
* recomputed units: writes of finished work units (cells, checkpoints, DONE) beyond the reference's
  counts (0: only the unit a kill interrupted is redone, and its record had not landed).

Sweeps run with ``--executor inprocess`` here: a process pool's forkserver does not survive the fork
server's fork, and the cells are written by the process holding the run's lock either way (pools are
covered by ``test_pool_sweep_killed_resumes`` below and ``tests/sim/test_executors.py``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from theory.plumbing.records import FAULT_KILL_ENV, FAULT_LOG_ENV

MIN_KILLS = 20
TINY_RSS = [
    "--half-widths", "1.0", "--etas", "0.1,0.01", "--ns", "2,4,6,8,10,12", "--trials", "40",
    "--test-etas", "0.1", "--test-trials", "40", "--calibration-trials", "20",
]  # fmt: skip


@dataclass
class Kind:
    """One command kind: its argv, its results, which records are work units, the largest k to draw."""

    name: str
    argv: Callable[[Path], list[str]]
    results: Callable[[Path], dict]
    unit: Callable[[str], bool]
    kmax: int
    seed: int


def _json(path: Path, drop: tuple[str, ...] = ()) -> dict:
    obj = json.loads(path.read_text())
    for key in drop:
        obj.pop(key, None)
    return obj


def _only(root: Path, pattern: str) -> Path:
    (found,) = sorted(root.glob(pattern))
    return found


def _sweep_results(root: Path, experiment: str) -> dict:
    run = _only(root, f"{experiment}/*/results.csv").parent
    cells = {p.name: p.read_text() for p in sorted((run / "cells").glob("*.json")) if ".part-" not in p.name}
    evidence = {
        p.name: {k: v for k, v in _json(p).items() if k not in ("written_at", "_record", "run")}
        for p in sorted((root / "evidence").glob("*.json"))
    }
    return {"results.csv": (run / "results.csv").read_text(), "cells": cells, "evidence": evidence}


def _train_results(root: Path) -> dict:
    run = _only(root, "train/*/seed_0")
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    return {
        "final": _json(run / "final.json", ("wall_time_s", "device")),
        "metrics.csv": (run / "metrics.csv").read_text(),
        "checkpoint": ckpt["integrity"]["sha256"],
    }


def _construct_results(root: Path) -> dict:
    from networks.training.trainer import tensor_tree_digest

    run = _only(root, "construct/*/seed_0")
    return {
        "report": _json(run / "report.json", ("construct_seconds",)),
        "certificate": _json(run / "certificate.json"),
        "ticket": tensor_tree_digest(torch.load(run / "ticket.pt", weights_only=True)),
    }


def _reproduce_results(root: Path) -> dict:
    return {**_sweep_results(root, "faults-rss"), "figure": (root / "out" / "faults_fig.csv").read_text()}


def _is_cell(rel: str) -> bool:
    return "/cells/" in rel or rel.endswith("/DONE")


TRAIN = "--method ep --model mlp --dataset digits --hidden 16 --batch-size 256 --epochs 5 --log-every 1"
CONSTRUCT = "--eps 0.05 --budget per-weight --candidates-per-weight 8".split()
REPRODUCE = "--only faults_fig --max-examples 1 --executor inprocess"

KINDS = [
    Kind(
        "sweep",
        lambda root: [
            "run",
            "rss-success",
            "--runs-root",
            root,
            "--quiet",
            "--executor",
            "inprocess",
            *TINY_RSS,
        ],
        lambda root: _sweep_results(root, "rss-success"),
        _is_cell,
        kmax=4,
        seed=1401,
    ),
    Kind(
        "train",
        lambda root: ["train", "--runs-root", root, "--quiet", *TRAIN.split()],
        _train_results,
        lambda rel: rel.endswith(("/checkpoint.pt", "/DONE")),
        kmax=3,
        seed=1402,
    ),
    Kind(
        "construct",
        lambda root: [
            "construct",
            "--runs-root",
            root,
            "--quiet",
            "--target",
            root.parent / "target.pt",
            *CONSTRUCT,
        ],
        _construct_results,
        lambda rel: rel.endswith("/DONE"),
        kmax=6,
        seed=1403,
    ),
    Kind(
        "reproduce",
        lambda root: ["reproduce", "--runs-root", root, "--quiet", "--out", root / "out", *REPRODUCE.split()],
        _reproduce_results,
        _is_cell,
        kmax=8,
        seed=1404,
    ),
]


def _tiny_target(path: Path) -> None:
    from torch import nn

    from networks.construct.targets import save_target

    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    save_target(model, path, input_shape=(6,))


def _run_dir_temps(root: Path, temps: list[str]) -> list[str]:
    # A temporary file inside a run directory (one with config.json) is removed by the next run there.
    return [
        t for t in temps if any((p / "config.json").exists() for p in Path(t).parents if root in p.parents)
    ]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_kill_anywhere_then_resume_gives_the_uninterrupted_result(kind, zygote, fx, tmp_path, capsys):
    base = tmp_path / kind.name
    base.mkdir()
    _tiny_target(base / "target.pt")
    rng = np.random.default_rng(kind.seed)

    ref_root = base / "reference"
    ref = zygote.run(kind.argv(ref_root), base / "reference.out", env={FAULT_LOG_ENV: base / "reference.log"})
    assert ref["rc"] == 0, (base / "reference.out").read_text()[-3000:]
    ref_writes = fx.relative(fx.writes(base / "reference.log"), ref_root)
    expected = kind.results(ref_root)

    kills = {"write": 0, "timer": 0}
    phases = dict.fromkeys(fx.phases, 0)
    chains = identical = recomputed = half_written = set_aside = stray = 0
    while kills["write"] + kills["timer"] < MIN_KILLS:
        chains += 1
        root, log, out = base / f"chain{chains}", base / f"chain{chains}.log", base / f"chain{chains}.out"
        for attempt in range(200):
            if rng.random() < 0.2:
                env, timer, how = {FAULT_LOG_ENV: log}, float(rng.uniform(0.0, ref["seconds"])), "timer"
            else:
                k, phase = int(rng.integers(1, kind.kmax + 1)), str(rng.choice(fx.phases))
                env, timer, how = {FAULT_LOG_ENV: log, FAULT_KILL_ENV: f"{k}:{phase}"}, None, "write"
            res = zygote.run(kind.argv(root), out, env=env, timer=timer)
            if res["rc"] == 0:
                break
            assert res["rc"] == -9, (
                f"{kind.name} run {attempt} failed (rc {res['rc']}): {out.read_text()[-3000:]}"
            )
            kills[how] += 1
            if how == "write":
                phases[phase] += 1
            audit = fx.audit(root)
            half_written += len(audit["bad"])
            set_aside += len(audit["aside"])
            assert not audit["bad"] and not audit["aside"], audit
        else:
            pytest.fail(f"{kind.name}: chain {chains} never finished")
        assert "warning:" not in out.read_text(), out.read_text()[-3000:]  # no record ever failed its check
        final = fx.audit(root)
        stray += len(_run_dir_temps(root, final["temps"]))
        assert not final["bad"] and not final["aside"], final
        identical += kind.results(root) == expected
        assert kind.results(root) == expected
        writes = fx.relative(fx.writes(log), root)
        excess = {p: n - ref_writes[p] for p, n in writes.items() if kind.unit(p) and n > ref_writes[p]}
        recomputed += sum(excess.values())
        assert not excess, f"finished units written again: {excess}"
        assert {p for p in writes if kind.unit(p)} == {p for p in ref_writes if kind.unit(p)}
        shutil.rmtree(root)  # keep the disk small; the counts are what is kept
    assert stray == 0
    with capsys.disabled():
        print(
            f"\n[faults] {kind.name}: kill points {kills['write'] + kills['timer']} (at a write "
            f"{kills['write']}: {phases}; timer {kills['timer']}), chains {chains}, identical results "
            f"{identical}/{chains}, recomputed units {recomputed}, half-written records {half_written}, "
            f"set aside {set_aside}, stray temporaries {stray}, child cpu so far {zygote.cpu:.1f}s"
        )


def _run_in_own_group(cmd: list[str], env: dict, err: Path) -> int:
    """Run ``cmd`` as a process group of its own; afterwards SIGKILL what is left of the group.

    A SIGKILLed ``slth run --executor process`` leaves its pool (forkserver and workers) running, orphaned
    (a limit of the executor, outside this suite): ending the group ends exactly those processes.
    """
    import os
    import signal
    import subprocess

    with open(err, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=fh, start_new_session=True)
        try:
            return proc.wait(timeout=300)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_pool_sweep_killed_resumes(tmp_path, fx):
    """A sweep on a pool of 2 workers, SIGKILLed twice (real subprocesses), ends as the in-process one."""
    import os
    import sys

    from figures.cli import main as slth

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    root = tmp_path / "pool"
    argv = [sys.executable, "-m", "figures.cli", "run", "rss-success", "--quiet", *TINY_RSS]
    argv += ["--runs-root", str(root), "--executor", "process", "--workers", "2"]
    err = tmp_path / "err.txt"
    for k, phase in ((9, "before"), (5, "torn")):
        assert _run_in_own_group(argv, {**env, FAULT_KILL_ENV: f"{k}:{phase}"}, err) == -9, err.read_text()
        audit = fx.audit(root)
        assert not audit["bad"] and not audit["aside"], audit
    assert _run_in_own_group(argv, env, err) == 0, err.read_text()
    assert "warning:" not in err.read_text()
    ref = ["run", "rss-success", "--runs-root", str(tmp_path / "ref"), "--quiet", "--executor", "inprocess"]
    assert slth([*ref, *TINY_RSS]) == 0
    assert _sweep_results(root, "rss-success") == _sweep_results(tmp_path / "ref", "rss-success")
    assert not fx.audit(root)["temps"]
