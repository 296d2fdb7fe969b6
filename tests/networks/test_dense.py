"""Dense training and evaluation (networks.dense)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from networks.data import load_dataset
from networks.dense import evaluate, train_dense
from networks.models import build_model


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


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


def test_train_dense_learns_digits_and_is_deterministic(digits):
    def run():
        model = build_model("mlp", in_shape=digits.in_shape, num_classes=10, hidden=(64,), generator=gen(1))
        return train_dense(model, digits, epochs=4, lr=0.05, batch_size=64, seed=2)

    model, history = run()
    assert [h["epoch"] for h in history] == [0, 1, 2, 3, 4]
    assert history[0]["test_acc"] < 0.3 and history[-1]["test_acc"] > 0.9
    assert history[-1]["test_total"] == 360
    # Per-epoch cosine: lr0 * (1 + cos(pi e / E)) / 2 at the start of epoch e.
    assert [h["lr"] for h in history[1:]] == pytest.approx(
        [0.05 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    )
    again, _ = run()
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    )


def test_train_dense_on_a_masked_model_moves_only_the_scores(digits):
    net = build_model(
        "mlp",
        in_shape=digits.in_shape,
        num_classes=10,
        hidden=(32,),
        masked=True,
        density=0.5,
        generator=gen(3),
    )
    weight, scores = net.fc1.weight.clone(), net.fc1.scores.clone()
    train_dense(net, digits.subset(256, 64), epochs=1, lr=0.1, batch_size=32, seed=0, schedule="constant")
    assert torch.equal(net.fc1.weight, weight) and not torch.equal(net.fc1.scores, scores)


def test_train_dense_refuses_bad_arguments(digits):
    model = build_model("mlp", in_shape=digits.in_shape, num_classes=10, generator=gen())
    for kw, match in [
        ({"epochs": -1}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"schedule": "step"}, "schedule"),
        ({"device": "cuda:7"}, "available"),
    ]:
        args = {"epochs": 1, "lr": 0.1, "batch_size": 8, "seed": 0, **kw}
        with pytest.raises(ValueError, match=match):
            train_dense(model, digits, **args)
    frozen = nn.Linear(64, 10).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train_dense(frozen, digits, epochs=1, lr=0.1, batch_size=8, seed=0)


@pytest.mark.gpu
def test_train_dense_on_cuda(digits):
    model = build_model("mlp", in_shape=digits.in_shape, num_classes=10, generator=gen(), device="cuda")
    _, history = train_dense(model, digits, epochs=2, lr=0.05, batch_size=64, seed=0, device="cuda")
    assert history[-1]["test_acc"] > 0.8
