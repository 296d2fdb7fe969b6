"""Run directories: bit-identical resume, refusal of a different config, NaN stop, the CLI."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from figures.cli import main as slth
from networks.training import TrainConfig, TrainingDiverged, train
from networks.training import trainer as trainer_mod
from theory.plumbing.records import read_csv

TINY = dict(model="mlp", dataset="digits", hidden=(24, 16), batch_size=256, epochs=2, log_every=1)


def tiny(**kw) -> TrainConfig:
    return TrainConfig(**{**TINY, **kw})


def _same_run(a, b) -> None:
    fa, fb = json.loads((a / "final.json").read_text()), json.loads((b / "final.json").read_text())
    # Timings are measurements, not results (RigL's update_cpu_s counts only this process's updates).
    for key in ("wall_time_s", "update_cpu_s"):
        fa.pop(key, None), fb.pop(key, None)
    assert fa == fb
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()
    sa = torch.load(a / "checkpoint.pt", weights_only=True)
    sb = torch.load(b / "checkpoint.pt", weights_only=True)
    for k, v in sa["model"].items():
        assert torch.equal(v, sb["model"][k]), k


@pytest.mark.parametrize(
    "cfg",
    [
        tiny(method="ep"),
        tiny(method="iep", iep_mode="hard", iep_cycles=2, iep_rewind="score_reinit", epochs=1),
        tiny(method="iterand", iterand_period=2),
        tiny(method="rigl2", rigl_interval=2, rigl2_hutchinson=1),
        tiny(method="pgd_ep", pgd_eps=0.01, pgd_densities=(0.5, 0.3), epochs=1),
    ],
    ids=lambda c: c.method,
)
def test_killed_and_resumed_run_is_bit_identical(cfg, tmp_path):
    straight = train(cfg, tmp_path / "a", quiet=True)
    # Stop mid-epoch twice (steps 3, 6 and 10 of 6-step epochs), resuming each time.
    assert train(cfg, tmp_path / "b", quiet=True, stop_after_steps=3).status == "stopped"
    assert train(cfg, tmp_path / "b", quiet=True, stop_after_steps=6).status == "stopped"  # epoch boundary
    assert train(cfg, tmp_path / "b", quiet=True, stop_after_steps=10).status == "stopped"
    resumed = train(cfg, tmp_path / "b", quiet=True)
    assert resumed.status == "done"
    _same_run(straight.run_dir, resumed.run_dir)
    again = train(cfg, tmp_path / "b", quiet=True)
    assert again.status == "skipped" and again.final["test_correct"] == resumed.final["test_correct"]


def test_resume_from_epoch_checkpoint_after_a_hard_kill(tmp_path, monkeypatch):
    cfg = tiny(method="rigl", rigl_interval=3, epochs=3)
    straight = train(cfg, tmp_path / "a", quiet=True)

    # Simulate SIGKILL in epoch 2: raise from the step without any chance to save.
    real = trainer_mod.Trainer._train_step

    def dying_step(self, x, y):
        if self.step == 11:
            raise KeyboardInterrupt
        return real(self, x, y)

    monkeypatch.setattr(trainer_mod.Trainer, "_train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "b", quiet=True)
    ckpt = torch.load(trainer_mod.run_path(tmp_path / "b", "train", cfg) / "checkpoint.pt", weights_only=True)
    assert ckpt["position"]["step"] == 6  # the last epoch-end checkpoint (6 steps per epoch)
    monkeypatch.setattr(trainer_mod.Trainer, "_train_step", real)
    resumed = train(cfg, tmp_path / "b", quiet=True)
    _same_run(straight.run_dir, resumed.run_dir)


def test_different_config_in_the_run_dir_is_refused_with_a_diff(tmp_run_root):
    cfg = tiny(method="ep")
    res = train(cfg, tmp_run_root, quiet=True, stop_after_steps=2)
    stored = json.loads((res.run_dir / "config.json").read_text())
    stored["lr"] = 0.5
    (res.run_dir / "config.json").write_text(json.dumps(stored))
    with pytest.raises(ValueError, match=r"lr: 0.5 -> 0.1"):
        train(cfg, tmp_run_root, quiet=True)
    # The checkpoint also carries its config.
    stored["lr"] = 0.1
    (res.run_dir / "config.json").write_text(json.dumps(stored))
    ck = torch.load(res.run_dir / "checkpoint.pt", weights_only=True)
    ck["config"]["weight_decay"] = 0.0
    torch.save(ck, res.run_dir / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"weight_decay: 0.0 -> 0.0001"):
        train(cfg, tmp_run_root, quiet=True)


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_run_root, monkeypatch):
    cfg = tiny(method="dense")
    real = trainer_mod._loss_fn
    calls = {"n": 0}

    def loss(out, y):
        calls["n"] += 1
        value = real(out, y)
        return value * float("nan") if calls["n"] > 9 else value

    monkeypatch.setattr(trainer_mod, "_loss_fn", loss)
    with pytest.raises(TrainingDiverged, match="training loss is nan at step 9"):
        train(cfg, tmp_run_root, quiet=True)
    run = trainer_mod.run_path(tmp_run_root, "train", cfg)
    assert not (run / "DONE").exists()
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ck["position"]["step"] == 6
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_metrics_are_tidy_with_raw_counts(tmp_run_root):
    res = train(tiny(method="ep", density=0.4), tmp_run_root, quiet=True)
    rows = read_csv(res.run_dir / "metrics.csv")
    assert list(rows[0]) == ["step", "epoch", "cycle", "name", "value"]
    names = {r["name"] for r in rows}
    assert {
        "train_loss",
        "test_loss",
        "test_correct",
        "test_total",
        "test_acc",
        "density",
        "dying_ratio",
        "turnover",
        "lr",
        "cycle_test_acc",
        "cycle_dying_ratio",
    } <= names
    last = {r["name"]: float(r["value"]) for r in rows if r["epoch"] == "1"}
    assert last["test_acc"] == last["test_correct"] / last["test_total"]
    dying = [float(r["value"]) for r in rows if r["name"] == "dying_ratio"]
    assert dying[0] <= 0.6 and all(b <= a for a, b in itertools.pairwise(dying))


def test_cli_trains_resumes_and_reports_bad_input(tmp_run_root, capsys):
    argv = [
        "train",
        "--method",
        "ep",
        "--model",
        "mlp",
        "--dataset",
        "digits",
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "--runs-root",
        str(tmp_run_root),
        "--device",
        "cpu",
        "--quiet",
    ]
    assert slth([*argv, "--stop-after-steps", "2"]) == 0
    assert "stopped after 2 steps" in capsys.readouterr().out
    assert slth(argv) == 0
    assert "done:" in capsys.readouterr().out
    assert slth(argv) == 0
    assert "skipped:" in capsys.readouterr().out
    assert slth([*argv, "--density", "2"]) == 2
    assert "density must be in" in capsys.readouterr().err
    assert slth([*argv, "--method", "popup"]) == 2
    assert "method must be one of" in capsys.readouterr().err
    assert slth([*argv, "--device", "tpu"]) == 2


def test_construct_is_hooked_from_networks_construct_cli(monkeypatch, capsys):
    import sys
    import types

    fake = types.ModuleType("networks.construct.cli")
    fake.add_arguments = lambda parser: parser.add_argument("--eps", type=float, default=0.1)
    fake.run = lambda args: print(f"construct eps={args.eps}") or 0
    monkeypatch.setitem(sys.modules, "networks.construct.cli", fake)
    assert slth(["construct", "--eps", "0.25"]) == 0
    assert slth(["construct"]) == 0
    assert capsys.readouterr().out.splitlines() == ["construct eps=0.25", "construct eps=0.1"]
