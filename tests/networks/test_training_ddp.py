"""Data-parallel training: 2 CPU processes with the gloo backend via torch.distributed.run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _launch(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "networks.training.ddp",
        *args,
    ]
    return subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", ["rigl2"])  # exercises gradient, dense-gradient and HVP all-reduces
def test_two_gloo_ranks_stay_identical_and_match_single_process(method, tmp_path):
    from networks.training import TrainConfig, train

    flags = {
        "method": method,
        "model": "mlp",
        "dataset": "digits",
        "hidden": "16",
        "epochs": "2",
        "batch-size": "128",
        "rigl-interval": "3",
        "density": "0.3",
    }
    argv = [x for k, v in flags.items() for x in (f"--{k}", v)]
    proc = _launch([*argv, "--runs-root", str(tmp_path / "ddp"), "--device", "cpu", "--quiet"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    finals = list((tmp_path / "ddp").rglob("final.json"))
    assert len(finals) == 1
    final = json.loads(finals[0].read_text())
    assert final["world_size"] == 2 and final["ranks_identical"] is True
    assert final["density"] == pytest.approx(0.3, abs=0.01)
    # Averaged shard gradients = full-batch gradient (128 = 2 x 64), so the run tracks a single process
    # up to summation order; accuracy agrees closely.
    cfg = TrainConfig(
        method=method,
        model="mlp",
        dataset="digits",
        hidden=(16,),
        epochs=2,
        batch_size=128,
        rigl_interval=3,
        density=0.3,
    )
    single = train(cfg, tmp_path / "single", quiet=True).final
    assert abs(single["test_acc"] - final["test_acc"]) <= 0.05
