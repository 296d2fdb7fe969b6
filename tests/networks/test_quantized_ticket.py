"""Exact quantized tickets: exact equality, nested widths, folded biases, and checks that can fail."""

from __future__ import annotations

import numpy as np
import pytest

from networks.construct import quantized as qt


def _case(level: int = 2, widths=(4, 3, 2), seed: int = 3):
    delta, delta_t = 2.0**-level, 2.0 ** -(2 * level)
    target = qt.random_quantized_target(list(widths), delta_t, np.random.default_rng(seed))
    need = qt.needed_widths(target, delta_t=delta_t, delta=delta, max_width=200, seed=[seed, 1])
    return target, need, delta, delta_t


@pytest.mark.parametrize("level", [2, 3])
def test_ticket_at_the_needed_width_is_exact(level):
    target, need, delta, delta_t = _case(level)
    width = int(max(n.max() for n in need))
    ticket = qt.construct_quantized_ticket(target, delta_t=delta_t, delta=delta, width=width, seed=[3, 1])
    assert ticket.ok
    x = np.random.default_rng(0).integers(-8, 9, size=(50, target[0].shape[1]))
    check = qt.verify_exact(ticket, target, x)
    assert check == {"maps_equal": True, "forward_equal": True, "max_diff": 0}
    assert 0 < ticket.kept_params < ticket.source_params
    # Nested blocks: exactly the weights whose needed width fits are solved at a narrower width.
    narrow = qt.construct_quantized_ticket(target, delta_t=delta_t, delta=delta, width=width - 1, seed=[3, 1])
    assert not narrow.ok
    for s, n in zip(narrow.solved, need, strict=True):
        assert np.array_equal(s, n <= width - 1)


def test_a_corrupted_ticket_is_caught():
    # One layer, so no ReLU downstream can hide the change from the probes (the maps check sees it anyway).
    target, need, delta, delta_t = _case(widths=(4, 3))
    width = int(max(n.max() for n in need))
    ticket = qt.construct_quantized_ticket(target, delta_t=delta_t, delta=delta, width=width, seed=[3, 1])
    r, j = np.argwhere(target[0] != 0)[0]
    kept = np.flatnonzero(ticket.keep[0][r, j])
    ticket.keep[0][r, j, kept[0]] = False  # drop one kept unit of a nonzero weight
    x = np.eye(target[0].shape[1], dtype=np.int64)
    x = np.concatenate([x, -x])
    check = qt.verify_exact(ticket, target, x)
    assert not check["maps_equal"] and not check["forward_equal"] and check["max_diff"] > 0


def test_fold_biases_is_exact():
    rng = np.random.default_rng(4)
    one = 2**4
    ws = [rng.integers(-one, one + 1, (3, 5)), rng.integers(-one, one + 1, (2, 3))]
    bs = [rng.integers(-one, one + 1, 3), rng.integers(-one, one + 1, 2)]
    folded = qt.fold_biases(ws, bs, one)
    x = rng.integers(-7, 8, (20, 5))
    h = np.maximum(x @ ws[0].T + bs[0] * one, 0)  # units: x * one (weights) ; bias * one (constant input)
    want = h @ ws[1].T + bs[1] * one * one
    got = qt.target_forward(folded, np.concatenate([x, np.full((20, 1), one)], axis=1))
    assert np.array_equal(got.astype(np.int64), want)


def test_bad_input():
    target, _, _, _ = _case()
    with pytest.raises(ValueError, match="delta_t"):
        qt.construct_quantized_ticket(target, delta_t=2.0**-5, delta=0.25, width=4, seed=0)
    with pytest.raises(ValueError, match="delta"):
        qt.construct_quantized_ticket(target, delta_t=0.0625, delta=0.3, width=4, seed=0)
    with pytest.raises(ValueError, match="width"):
        qt.construct_quantized_ticket(target, delta_t=0.0625, delta=0.25, width=0, seed=0)
    with pytest.raises(ValueError, match="S_delta_t"):
        qt.quantize(np.array([1.5]), 0.25)
