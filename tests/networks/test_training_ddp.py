"""Data-parallel training: every registered method on 2 CPU processes (gloo) via torch.distributed.run.

One torchrun launch trains every method of ``networks.training.TRAINING_METHODS`` (``ddp_driver.py``); each
method's case then checks, from the run records:

* the ranks agree bit for bit: each rank hashes its own scores, weights, masks and Dying Ratio tracker
  (``state_digests``) and rank 0 records all of them in ``final.json``;
* the run equals a single-process run with the same global batch: masks and the Dying Ratio bit-identical,
  scores and weights within float tolerance (the 2 shard means are averaged, weighted by shard size, in a
  different summation order than one full-batch mean), the logged training losses too;
* the method's own distributed paths ran (RigL mask updates, second-order RigL's Hessian-vector products,
  PGD+EP's projected perturbation, IteRand's re-draws).

The digits training split has 1437 rows: with batch 128 the last batch of every epoch (29 rows) splits
15 / 14, which exercises the weighting of unequal shards.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from networks.training import TRAINING_METHODS, DistInfo, TrainConfig, Trainer, train
from networks.training.trainer import run_path, state_digests
from theory.plumbing.configs import config_to_dict

REPO = Path(__file__).resolve().parents[2]
# A constant LR keeps the step of the last (unequal, 15 / 14) batch of an epoch at full size, so a wrongly
# weighted shard shows in the weights (cosine annealing would shrink that step to almost nothing).
BASE = dict(
    model="mlp", dataset="digits", hidden=(16,), epochs=1, batch_size=128, density=0.3, lr_schedule="constant"
)
# Small settings under which each method's own machinery acts within one or two epochs.
OVERRIDES = {
    "iep": dict(iep_cycles=2),
    "iterand": dict(iterand_period=4),
    "pgd_ep": dict(pgd_eps=0.05, pgd_epochs=1, pgd_densities=(0.5, 0.3)),
    "set": dict(rigl_interval=3),
    "rigl": dict(rigl_interval=3),
    "rigl2": dict(rigl_interval=3, rigl2_hutchinson=1),
}
# What must have happened in a run for its distributed paths to count as exercised.
EXERCISED = {
    "iep": lambda f: len(f["cycles"]) == 2,
    "iterand": lambda f: f["iterand_redraws"] >= 2,
    "pgd_ep": lambda f: 0 < f["max_abs_perturbation"] <= 0.05 and len(f["grid"]) == 2,
    "set": lambda f: f["mask_updates"] >= 2,
    "rigl": lambda f: f["mask_updates"] >= 2,
    "rigl2": lambda f: f["mask_updates"] >= 2 and f["hvp_calls"] >= 2 * 3,  # (2 + Hutchinson) per update
}
# Float tolerance vs one process, measured on this config: summation-order noise leaves scores and weights
# within 9e-8 (absolute) of the single-process run for every method; weighting the two shards of the
# 29-row batches equally instead of 15:14 moves them by >= 5e-5. So 1e-6 absolute (no relative slack).
# Training losses (~2.3) agree to ~1e-7 relative; the wrong weighting changes the last batch's by ~1e-3.
WEIGHT_ATOL = 1e-6
LOSS_RTOL = 2e-6


def config(method: str) -> TrainConfig:
    return TrainConfig(method=method, **{**BASE, **OVERRIDES.get(method, {})})


def _torchrun(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def ddp_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    spec = root / "spec.json"
    spec.write_text(json.dumps({m: config_to_dict(config(m)) for m in sorted(TRAINING_METHODS)}))
    driver = REPO / "tests" / "networks" / "ddp_driver.py"
    proc = _torchrun([str(driver), str(spec), str(root / "runs")], root)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "runs"


def _losses(run: Path) -> list[float]:
    with open(run / "metrics.csv", newline="") as fh:
        return [float(r["value"]) for r in csv.DictReader(fh) if r["name"] == "train_loss"]


@pytest.mark.parametrize("method", sorted(TRAINING_METHODS))
def test_method_under_torchrun_is_rank_identical_and_matches_one_process(method, ddp_root, tmp_path):
    cfg = config(method)
    ddp_dir = run_path(ddp_root, method, cfg)
    ddp = json.loads((ddp_dir / "final.json").read_text())
    assert ddp["world_size"] == 2
    rank0, rank1 = ddp["rank_digests"]
    masked = TRAINING_METHODS[method].masked
    assert set(rank0) >= ({"scores", "weights", "masks"} if masked else {"weights"})
    if masked and method != "pgd_ep":  # PGD+EP reports per-grid-point dying ratios instead of a tracker
        assert "dying" in rank0
    assert rank0 == rank1, f"ranks differ in {[p for p in rank0 if rank0[p] != rank1.get(p)]}"
    assert ddp["ranks_identical"] is True and all(ddp["ranks_identical_parts"].values())
    assert rank0 == ddp["state_digests"]

    single_dir = train(cfg, tmp_path / "single", experiment=method, quiet=True).run_dir
    single = json.loads((single_dir / "final.json").read_text())
    if method in EXERCISED:
        assert EXERCISED[method](ddp), f"{method}: its distributed path did not run"
    assert ddp["steps"] == single["steps"] and ddp["steps"] >= 12
    # Masks and the Dying Ratio: bit-identical to one process.
    for part in ("masks", "dying"):
        if part in single["state_digests"]:
            assert ddp["state_digests"][part] == single["state_digests"][part], part
    assert ddp["dying_ratio"] == single["dying_ratio"]
    assert ddp["dying_ratio_per_layer"] == single["dying_ratio_per_layer"]
    assert ddp["density"] == single["density"]
    if method == "pgd_ep":
        assert [p["dying_ratio"] for p in ddp["grid"]] == [p["dying_ratio"] for p in single["grid"]]
        assert ddp["selected_density"] == single["selected_density"]
    # Scores and weights (the final checkpoint): equal within float tolerance.
    a = torch.load(ddp_dir / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(single_dir / "checkpoint.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0.0, atol=WEIGHT_ATOL, msg=lambda m, k=k: f"{k}: {m}")
    la, lb = _losses(ddp_dir), _losses(single_dir)
    assert len(la) == len(lb) == ddp["steps"]
    torch.testing.assert_close(torch.tensor(la), torch.tensor(lb), rtol=LOSS_RTOL, atol=0.0)
    assert abs(ddp["test_correct"] - single["test_correct"]) <= 1


def test_state_digests_see_one_ulp(tmp_path):
    tr = Trainer(config("ep"))
    tr.reset_tracker()
    before = state_digests(tr)
    layer = next(iter(tr.layers.values()))
    with torch.no_grad():
        layer.scores.view(-1)[0] = torch.nextafter(layer.scores.view(-1)[0], torch.tensor(float("inf")))
    after = state_digests(tr)
    assert after["scores"] != before["scores"]
    assert after["weights"] == before["weights"] and after["dying"] == before["dying"]


def test_a_batch_too_small_for_every_rank_is_refused():
    # 1437 training rows, batch 1436: the last batch has 1 row and one of 2 ranks would get none.
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(TrainConfig(**{**BASE, "batch_size": 1436}), dist=DistInfo(0, 2))
    Trainer(TrainConfig(**{**BASE, "batch_size": 1435}), dist=DistInfo(0, 2))  # last batch of 2: fine


@pytest.mark.slow
def test_slth_train_ddp_entry_point(tmp_path):
    # The user's command: `slth train --ddp --nproc 2 ...` re-launches itself through torch.distributed.run
    # (-m networks.training.ddp), with the config turned back into flags.
    flags = {
        "method": "rigl",
        "model": "mlp",
        "dataset": "digits",
        "hidden": "16",
        "epochs": "1",
        "rigl-interval": "3",
        "density": "0.3",
        "lr-schedule": "constant",
    }
    argv = [x for k, v in flags.items() for x in (f"--{k}", v)]
    cmd = [
        sys.executable,
        "-m",
        "figures.cli",
        "train",
        "--ddp",
        "--nproc",
        "2",
        *argv,
        "--runs-root",
        str(tmp_path / "ddp"),
        "--device",
        "cpu",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ranks_identical=True" in proc.stdout
    (final_path,) = (tmp_path / "ddp").rglob("final.json")
    final = json.loads(final_path.read_text())
    assert final["world_size"] == 2 and final["ranks_identical"] is True and final["mask_updates"] >= 2
    # The flags round-trip to the config of the parametrised rigl case (same run directory hash).
    assert final_path.parent == run_path(tmp_path / "ddp", "train", config("rigl"))
