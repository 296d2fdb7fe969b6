"""The Dying Ratio tracker against a direct recount, on both of its paths (NumPy views and torch)."""

from __future__ import annotations

import pytest
import torch

from networks.training import DyingRatioTracker


def _masks(seed: int, steps: int) -> list[dict[str, torch.Tensor]]:
    # Two layers, one a transposed (non-contiguous) view, masks at density about 0.2.
    gen = torch.Generator().manual_seed(seed)
    return [
        {"a": torch.rand(7, 5, generator=gen) < 0.2, "b": (torch.rand(6, 4, generator=gen) < 0.2).t()}
        for _ in range(steps)
    ]


def _recount(seq: list[dict[str, torch.Tensor]]) -> tuple[float, dict[str, float], float]:
    """Dying ratios and the last turnover from Python sets of flat indices."""
    ever = {k: set() for k in seq[0]}
    for masks in seq:
        for k, m in masks.items():
            ever[k] |= set(m.reshape(-1).nonzero().reshape(-1).tolist())
    numel = {k: m.numel() for k, m in seq[0].items()}
    glob = 1.0 - sum(len(v) for v in ever.values()) / sum(numel.values())
    per = {k: 1.0 - len(v) / numel[k] for k, v in ever.items()}
    last, prev = seq[-1], seq[-2]
    new = sum(
        len(
            set(last[k].reshape(-1).nonzero().reshape(-1).tolist())
            - set(prev[k].reshape(-1).nonzero().reshape(-1).tolist())
        )
        for k in numel
    )
    kept = sum(int(last[k].sum()) for k in numel)
    return glob, per, new / kept


@pytest.mark.parametrize("numpy_on_cpu", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_tracker_equals_a_direct_recount(numpy_on_cpu, seed):
    seq = _masks(seed, 5)
    tracker = DyingRatioTracker(seq[0])
    tracker.numpy_on_cpu = numpy_on_cpu
    for masks in seq[1:]:
        tracker.update(masks)
    glob, per, turnover = _recount(seq)
    assert tracker.dying_ratio() == glob
    assert tracker.per_layer() == per
    assert tracker.last_turnover == pytest.approx(turnover, rel=1e-15)
    # The masks handed in are not modified, and a checkpoint does not alias the live accumulators.
    assert all(torch.equal(a, b) for a, b in zip(seq[-1].values(), _masks(seed, 5)[-1].values(), strict=True))
    state = tracker.state_dict()
    used = {k: int(e.sum()) for k, e in state["ever"].items()}
    tracker.update({k: torch.ones_like(m) for k, m in seq[0].items()})
    assert {k: int(e.sum()) for k, e in state["ever"].items()} == used
    assert tracker.dying_ratio() == 0.0 and glob > 0.0


def test_tracker_refuses_other_layer_names():
    tracker = DyingRatioTracker(_masks(0, 1)[0])
    with pytest.raises(ValueError, match="differ"):
        tracker.update({"a": torch.zeros(7, 5, dtype=torch.bool)})


def test_turnover_is_counted_from_the_last_two_updates_only():
    seq = _masks(3, 4)
    tracker = DyingRatioTracker(seq[0])
    assert tracker.last_turnover == 0.0
    for masks in seq[1:]:
        tracker.update(masks)
        first = tracker.last_turnover
        assert tracker.last_turnover == first  # reading does not change it
    assert tracker.last_turnover == pytest.approx(_recount(seq)[2], rel=1e-15)
    restored = DyingRatioTracker(seq[0])
    restored.load_state_dict(tracker.state_dict())
    assert restored.last_turnover == 0.0 and restored.dying_ratio() == tracker.dying_ratio()
    restored.update(seq[0])
    tracker.update(seq[0])
    assert restored.last_turnover == tracker.last_turnover == pytest.approx(_recount([*seq, seq[0]])[2])
