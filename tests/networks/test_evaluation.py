"""Evaluation (networks.evaluation) and the dense baseline through the shared trainer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from networks.evaluation import evaluate
from networks.training import TrainConfig, Trainer, train


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_evaluate_matches_a_hand_computation():
    model = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    x = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 5.0], [1.0, 4.0, 0.0], [5.0, 0.0, 1.0]])
    y = torch.tensor([0, 1, 0, 1])
    logits = x[:, :2]
    expected_loss = float(F.cross_entropy(logits, y))
    for batch_size in (1, 3, 100):
        correct, total, loss = evaluate(model, x, y, device="cpu", batch_size=batch_size)
        assert (correct, total) == (2, 4)
        assert loss == pytest.approx(expected_loss, rel=1e-6)
    model.train()
    evaluate(model, x, y)
    assert model.training  # mode restored


def test_dense_baseline_is_the_trainer_with_method_dense_and_learns_digits(tmp_path):
    # The dense baseline has no loop of its own: it is the shared Trainer with method "dense".
    cfg = TrainConfig(
        method="dense", model="mlp", dataset="digits", hidden=(64,), epochs=4, lr=0.05, batch_size=64
    )
    before = Trainer(cfg, device="cpu", quiet=True)
    assert not before.layers  # an ordinary, unmasked model
    assert before.evaluate("test")[0] / 360 < 0.3
    res = train(cfg, tmp_path / "a", quiet=True)
    assert res.final["test_total"] == 360 and res.final["test_acc"] > 0.9
    assert res.final["density"] == 1.0
    again = train(cfg, tmp_path / "b", quiet=True)
    assert again.final["state_digests"] == res.final["state_digests"]  # bit-identical reruns
