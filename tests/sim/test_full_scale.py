"""The ``--scale full`` code path of the training sweeps, end to end on CPU at a tiny size.

The full preset carries the references' settings (CIFAR-10 normalised as in hidden-networks, Conv-4/6/8
and ResNet-18, SGD lr 0.1, 100 epochs) and is meant for a GPU. Here every (model, method) pair its sweeps
plan is trained for 3 epochs on generated CIFAR-format files (20 training and 10 test images), so a
change that breaks the full scale (a model, the CIFAR loader, a method on conv nets) fails in CI.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from networks.loaders import CIFAR10_FILES
from networks.training.config import validate_config
from sim.training_sweeps import PRESETS, variants

SWEEPS = ("ep_vs_dense", "ep_dying", "ep_hparams", "iep", "iep_rewind", "pgd_ep", "rigl")


def write_tiny_cifar(directory, n_train_per_batch=4, n_test=10, seed=0):
    """CIFAR-10 python batches (pickled dicts of uint8 ``(N, 3072)`` data and labels) with random pixels."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for name in CIFAR10_FILES:
        n = n_test if name == "test_batch" else n_train_per_batch
        batch = {
            b"data": rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, size=n)],
        }
        (directory / name).write_bytes(pickle.dumps(batch))


def _plans(scale="full"):
    cfg = PRESETS[scale]
    return [c for name in SWEEPS for _, c in getattr(variants, name)(cfg)]


def _full_plans():
    return _plans("full")


@pytest.mark.parametrize("scale", ["quick", "default"])
def test_every_planned_run_is_a_valid_config(scale):
    for c in _plans(scale):
        validate_config(c)


def test_full_preset_is_the_references_setting():
    cfg = PRESETS["full"]
    assert cfg.dataset == cfg.conv_dataset == "cifar10-ep"
    assert {cfg.model, *cfg.conv_models} == {"resnet18", "conv4", "conv6", "conv8"}
    assert (cfg.lr, cfg.batch_size, cfg.epochs) == (0.1, 128, 100)
    for c in _full_plans():
        validate_config(c)  # every planned run is a valid TrainConfig


@pytest.mark.slow
def test_every_full_scale_model_and_method_trains_on_tiny_cifar(tmp_path, monkeypatch):
    from networks.training import train

    write_tiny_cifar(tmp_path / "data" / "cifar-10-batches-py")
    monkeypatch.setenv("SLTH_DATA", str(tmp_path / "data"))
    seen = {}
    for c in _full_plans():
        seen.setdefault((c.model, c.method), c)
    assert {m for m, _ in seen} == {"resnet18", "conv4", "conv6", "conv8"}
    assert {k for _, k in seen} >= {"ep", "dense", "iep", "iterand", "pgd_ep", "rigl", "rigl2"}
    for (model, method), c in sorted(seen.items()):
        tiny = dataclasses.replace(c, epochs=3, pgd_epochs=1, log_every=1, seed=0)
        res = train(tiny, tmp_path / "runs", experiment="full-tiny", quiet=True)
        assert res.final["dataset"] == "cifar10-ep" and res.final["test_total"] == 10, (model, method)
        assert 0.0 <= res.final["test_acc"] <= 1.0
