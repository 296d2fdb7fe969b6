"""construct_ticket(method="sparse", density=gamma): fixed-size subsets, density promise, certificate."""

from __future__ import annotations

import pytest
import torch

from networks.construct import construct_ticket
from networks.construct.sparse import layer_counts, subset_size, theorem3_density
from networks.construct.targets import parse_target
from theory import bounds


@pytest.fixture(scope="module")
def target():
    gen = torch.Generator().manual_seed(0)
    layers = [torch.nn.Linear(4, 4, bias=False), torch.nn.ReLU(), torch.nn.Linear(4, 2, bias=False)]
    with torch.no_grad():
        for lin in layers[::2]:
            w = torch.rand(lin.weight.shape, generator=gen) * 2 - 1
            lin.weight.copy_(w / torch.linalg.matrix_norm(w, ord=2))
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("density", [0.08, 0.15, 0.3])
def test_every_layer_keeps_at_most_the_density_and_exactly_k_per_weight(target, density):
    n = 16
    t = construct_ticket(target, eps=0.06, method="sparse", density=density, candidates_per_weight=n, seed=3)
    rep = t.report()
    assert all(d <= density for d in rep["layer_density"])
    for layer, k in zip(t.layers, rep["subset_sizes"], strict=True):
        # Second layer: each (output, column) block of 2n units keeps exactly k per half that is solved.
        blocks = layer.mask2.reshape(layer.mask2.shape[0], -1, 2 * n)
        plus, minus = blocks[..., :n].sum(-1), blocks[..., n:].sum(-1)
        assert torch.all(plus == k)
        assert torch.all((minus == k) | (minus == 0))
    x = 0.999 * torch.nn.functional.normalize(
        torch.randn(512, 4, generator=torch.Generator().manual_seed(0)), dim=1
    )
    assert t.measure(target, x) <= t.certified_bound(1.0)


def test_subset_size_is_the_largest_within_the_density(target):
    spec = parse_target(target)[0]
    for n, density in ((16, 0.1), (24, 0.2)):
        k = subset_size(spec, n, density)
        source, instances, usable = layer_counts(spec, n)
        assert instances * k + min(usable, instances * k) <= density * source
        assert k == n // 2 or instances * (k + 1) + min(usable, instances * (k + 1)) > density * source


def test_bad_density_is_refused(target):
    with pytest.raises(ValueError, match="density"):
        construct_ticket(target, eps=0.06, method="sparse", candidates_per_weight=8)
    with pytest.raises(ValueError, match="density must be >="):
        construct_ticket(target, eps=0.06, method="sparse", density=0.001, candidates_per_weight=8)
    with pytest.raises(ValueError, match="density applies"):
        construct_ticket(target, eps=0.06, method="pensia", density=0.1, candidates_per_weight=8)


def test_theorem3_density_inverts_the_block():
    gamma = theorem3_density(4, 4, 2, 0.06, 2000.0, c_amp=1.16)
    assert gamma is not None
    assert bounds.rfss_thm3_block(4, 4, 2, 0.06, gamma, c_amp=1.16) <= 2000.0
    assert bounds.rfss_thm3_block(4, 4, 2, 0.06, gamma * 0.99, c_amp=1.16) > 2000.0
    assert theorem3_density(4, 4, 2, 0.06, 10.0, c_amp=1.16) is None


def _small_cnn():
    """Conv(1->2, 3x3, pad 1) -> ReLU -> Flatten -> Linear(32 -> 3), weights and biases U[-1/2, 1/2]."""
    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32, 3)
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    return net.double()


@pytest.mark.parametrize("density", [0.1, 0.2])
def test_conv_target_end_to_end(density):
    """A CNN target: every layer (conv and linear) keeps the requested density, k units per weight, and
    the certificate holds against the measured error on the unit ball."""
    net = _small_cnn()
    n = 12
    t = construct_ticket(
        net, eps=0.1, method="sparse", density=density, candidates_per_weight=n, input_shape=(1, 4, 4), seed=1
    )
    rep = t.report()
    assert [s.kind for s in t.specs] == ["conv", "linear"]
    for spec, layer, k, measured in zip(
        t.specs, t.layers, rep["subset_sizes"], rep["layer_density"], strict=True
    ):
        assert k == subset_size(spec, n, density)
        source, instances, _ = layer_counts(spec, n)
        kept = int(layer.mask1.sum()) + int(layer.mask2.sum())
        assert measured == pytest.approx(kept / source, rel=1e-12)
        assert measured <= density
        # The requested density, to one unit per instance: k + 1 units would have kept more than gamma
        # (or k is already n/2, the largest size tried).
        assert k == n // 2 or density - measured < 2 * instances / source
        blocks = layer.mask2.reshape(layer.mask2.shape[0], -1, 2 * n)
        plus, minus = blocks[..., :n].sum(-1), blocks[..., n:].sum(-1)
        assert torch.all(plus == k)
        assert torch.all((minus == k) | (minus == 0))
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(1000, 1, 4, 4, generator=gen, dtype=torch.float64)
    x = x / x.flatten(1).norm(dim=1)[:, None, None, None]
    measured_error = t.measure(net, x)
    assert 0 < measured_error <= t.certified_bound(1.0)
