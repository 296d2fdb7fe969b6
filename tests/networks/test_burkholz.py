"""Depth L+1 tickets (method="burkholz"): one fixed random source, certificate, biases, layouts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from networks.construct import burkholz as bk
from networks.construct import construct_ticket
from theory import bounds

PENSIA_NPZ = Path("/work/shared/data/pensia_fc2_mnist.npz")


def _mlp(widths, *, bias=True, seed=0, scale=0.5):
    gen = torch.Generator().manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        lin = nn.Linear(a, b, bias=bias).double()
        with torch.no_grad():
            lin.weight.copy_((torch.rand(b, a, generator=gen, dtype=torch.float64) * 2 - 1) * scale)
            if bias:
                lin.bias.copy_((torch.rand(b, generator=gen, dtype=torch.float64) * 2 - 1) * scale)
        mods.append(lin)
        if i < len(widths) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def _probes(shape, n=400, *, nonneg=False, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=gen, dtype=torch.float64)
    if nonneg:
        x = x.abs()
    flat = x.flatten(1)
    x = (flat / flat.norm(dim=1, keepdim=True)).reshape(n, *shape)
    return x * torch.rand(n, *([1] * len(shape)), generator=gen, dtype=torch.float64) ** 0.1


@pytest.mark.parametrize(
    ("widths", "bias", "nonneg"),
    [((4, 3), True, False), ((3, 5, 2), False, False), ((4, 5, 3), True, True), ((3, 4, 4, 2), True, False)],
)
def test_depth_plus_one_and_certificate_holds(widths, bias, nonneg):
    net = _mlp(widths, bias=bias)
    t = construct_ticket(
        net,
        eps=0.02,
        method="burkholz",
        budget="per-weight",
        candidates_per_weight=8,
        nonnegative_input=nonneg,
    )
    depth = len(widths) - 1
    assert len(t.layers) == bounds.burkholz_depth(depth) == t.report()["source_depth"]
    x = _probes((widths[0],), nonneg=nonneg)
    measured = t.measure(net, x)
    cert = t.certified_bound()
    assert 0 < measured <= cert
    # The certificate is an upper bound, not a blanket: it is within two orders of the probes here.
    assert cert < 100 * max(measured, 1e-3)
    json.dumps(t.report())  # JSON-ready


def test_ticket_is_a_pruning_of_one_fixed_source():
    widths = (3, 4, 2)
    net = _mlp(widths)
    t = construct_ticket(
        net, eps=0.05, method="burkholz", budget="per-weight", candidates_per_weight=5, seed=7
    )
    lay = bk.source_layout(t.specs, [1, 1], [1, 1], rho=5)
    assert list(lay.units) == t.meta["layout"]["units"]
    w1, b1 = bk._first_layer(7, lay, widths[0])
    kept1 = t.layers[0].weight.to_dense().numpy()
    nz = kept1 != 0
    assert np.array_equal(kept1[nz], w1[nz])  # kept weights are the source's own values
    assert (nz.sum(1) <= 1).all()  # univariate: one input per unit
    blocks = np.arange(lay.units[0]) // lay.r1
    rows, cols = np.nonzero(nz)
    assert np.array_equal(cols, blocks[rows])  # unit m of block i reads input i only
    bias = t.layers[0].bias.numpy()
    assert np.array_equal(bias[bias != 0], b1[bias != 0])
    assert (bias[blocks < widths[0]] == 0).all()  # univariate units have no bias
    for s in (2, 3):
        kept = t.layers[s - 1].weight.to_dense().numpy()
        src = bk.source_weight_rows(7, lay, t.specs, s, 0, lay.units[s - 1])
        nz = kept != 0
        assert nz.any() and np.array_equal(kept[nz], src[nz])
    # Row ranges are reproducible on their own (the construction reads them in chunks).
    assert np.array_equal(
        bk.source_weight_rows(7, lay, t.specs, 2, 3, 6), bk.source_weight_rows(7, lay, t.specs, 2, 0, 6)[3:]
    )


def test_bias_units_keep_their_bias():
    """Reference §10.9: the authors' L+1 code zeroed the bias of bias units used by target-bias sums."""
    widths = (3, 4, 2)
    net = _mlp(widths, seed=3)
    t = construct_ticket(net, eps=0.2, method="burkholz", budget="certified", candidates_per_weight=20)
    lay = t.meta["layout"]
    first = t.layers[0]
    w2 = t.layers[1].weight.to_dense()
    bias_units = torch.arange(lay["units"][0]) >= widths[0] * lay["r1"]
    used = (w2 != 0).any(0) & bias_units
    assert used.any()
    assert (first.bias[used] > 0).all()  # every bias unit a sum uses keeps its bias b ~ U(0, 2)
    x = _probes((widths[0],))
    good = t.measure(net, x)
    assert good <= t.certified_bound()
    # The defect, emulated: the same ticket with those biases lost misses the target far beyond its bound.
    with torch.no_grad():
        first.bias[used] = 0.0
    assert t.measure(net, x) > max(t.certified_bound(), 10 * good)


def test_bias_free_target_builds_no_constants():
    """Reference §10.9: with no bias to build, the code's constant step recursed without end."""
    net = _mlp((3, 4, 3, 2), bias=False)
    t = construct_ticket(net, eps=0.05, method="burkholz", budget="per-weight", candidates_per_weight=6)
    lay = t.meta["layout"]
    assert lay["bias_block"] is False and lay["constants"] == [False, False]
    assert lay["units"] == [2 * 6 * 3, 6 * 4, 6 * 3, 2]
    assert all(
        a <= b for a, b in zip(lay["units"], bounds.burkholz_source_widths([3, 4, 3, 2], rho=6), strict=True)
    )
    assert t.measure(net, _probes((3,))) <= t.certified_bound()


def test_certified_budget_reaches_eps_when_no_weight_fails():
    net = _mlp((3, 4, 2), seed=5)
    t = construct_ticket(net, eps=0.2, method="burkholz", budget="certified", candidates_per_weight=24)
    assert not t.failed_weights
    assert t.certified_bound() <= 0.2 * (1 + 1e-6)
    assert t.measure(net, _probes((3,))) <= t.certified_bound()


def test_conv_target():
    gen = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 9, 3))
    net = net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_((torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1) * 0.5)
    t = construct_ticket(
        net, eps=0.02, method="burkholz", budget="per-weight", candidates_per_weight=8, input_shape=(1, 6, 6)
    )
    assert len(t.layers) == 3
    x = _probes((1, 6, 6), n=200)
    assert t.measure(net, x) <= t.certified_bound()


def test_bad_targets_are_refused():
    no_relu = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)).double()
    with pytest.raises(ValueError, match="ReLU after every target layer"):
        construct_ticket(no_relu, eps=0.1, method="burkholz", budget="per-weight")
    wide_pad = nn.Sequential(
        nn.Conv2d(1, 1, 3, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2)
    ).double()
    with pytest.raises(ValueError, match="centre tap"):
        construct_ticket(wide_pad, eps=0.1, method="burkholz", budget="per-weight", input_shape=(1, 4, 4))
    with torch.no_grad():
        big = _mlp((2, 2), scale=2.0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        construct_ticket(big, eps=0.1, method="burkholz", budget="per-weight")


@pytest.mark.skipif(not PENSIA_NPZ.exists(), reason="shared Pensia MNIST network not present")
def test_pensia_mnist_slice():
    from networks.construct.targets import load_pensia_fc2

    full = load_pensia_fc2(PENSIA_NPZ).double()
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 6, bias=False), nn.ReLU(), nn.Linear(6, 10, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(full[1].weight[:6])
        net[3].weight.copy_(full[3].weight[:, :6])
    net = net.double()
    t = construct_ticket(
        net, eps=0.02, method="burkholz", budget="per-weight", candidates_per_weight=4, nonnegative_input=True
    )
    assert t.meta["layout"]["units"] == [2 * 4 * 784, 4 * 6, 10]
    x = _probes((1, 28, 28), n=100, nonneg=True)
    assert t.measure(net, x) <= t.certified_bound()


def test_valid_first_is_the_stable_partition() -> None:
    """The sort-free compaction equals a stable argsort of ``~ok`` (what the layout relied on before)."""
    import numpy as np

    from networks.construct.burkholz import _valid_first

    rng = np.random.default_rng(0)
    for _ in range(100):
        ok = rng.random((int(rng.integers(1, 6)), int(rng.integers(1, 9)))) < rng.random()
        np.testing.assert_array_equal(_valid_first(ok), np.argsort(~ok, axis=1, kind="stable"))


def test_cli_rho_flag_sets_the_copies(tmp_path):
    """``slth construct --method burkholz --rho R``: the source has R copies per neuron, recorded."""
    from figures.cli import main
    from networks.construct.targets import save_target

    path = tmp_path / "mlp.pt"
    save_target(_mlp((3, 4, 2)), path)
    root = tmp_path / "runs"
    argv = ["construct", "--runs-root", str(root), "--target", str(path), "--eps", "0.05"]
    assert main([*argv, "--budget", "per-weight", "--method", "burkholz", "--rho", "6", "--quiet"]) == 0
    (run,) = (root / "construct").glob("*/seed_0")
    assert json.loads((run / "config.json").read_text())["rho"] == 6
    report = json.loads((run / "report.json").read_text())
    assert report["layout"]["rho"] == 6 and report["candidates_per_weight"] == [6]
    assert report["layout"]["units"][1] == 6 * 4 + 6  # copies of the 4 hidden neurons and 6 constants
    assert report["source_depth"] == 3
    assert report["measured_error"] <= report["certified_bound"]
