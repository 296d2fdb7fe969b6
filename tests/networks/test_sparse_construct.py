"""construct_ticket(method="sparse", density=gamma): fixed-size subsets, density promise, certificate."""

from __future__ import annotations

import json

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


def _cli(argv, capsys):
    from figures.cli import main

    try:
        code = main(argv)
    except SystemExit as exit_info:  # argparse's own errors leave through parser.exit
        code = exit_info.code
    return code, capsys.readouterr()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--method", "sparse"], "--density is required by --method sparse"),
        (["--method", "sparse", "--density", "0"], "density must be in (0.0, 1.0]"),
        (["--method", "sparse", "--density", "1.5"], "density must be in (0.0, 1.0]"),
        (["--method", "pensia", "--density", "0.2"], "applies to it only"),
        (["--method", "sparse", "--density", "half"], "--density: invalid float value"),
        (["--method", "burkholz", "--rho", "0"], "rho must be an integer in [1, 64]"),
        (["--method", "pensia", "--rho", "5"], "--rho applies to --method burkholz only"),
        (["--method", "burkholz", "--rho", "5", "--candidates-per-weight", "5"], "give one"),
    ],
)
def test_cli_bad_values_are_one_line_exit_2(flags, message, tmp_path, capsys):
    code, out = _cli(["construct", "--runs-root", str(tmp_path), *flags], capsys)
    assert code == 2, out.err
    assert out.err.count("\n") == 1 and "Traceback" not in out.err, out.err
    assert message in out.err
    assert not (tmp_path / "construct").exists()  # refused before any run directory


def test_cli_flags_follow_the_config_and_the_registry():
    """The --method choices are the registered constructions; --density/--rho go to config and hash."""
    import typing

    from networks.construct import METHODS
    from networks.construct.cli import ConstructConfig
    from theory.plumbing.configs import config_hash

    choices = typing.get_args(typing.get_type_hints(ConstructConfig)["method"])
    assert set(choices) == set(METHODS)
    base = ConstructConfig(method="sparse", density=0.2)
    assert config_hash(base) != config_hash(ConstructConfig(method="sparse", density=0.3))
    assert ConstructConfig(method="burkholz", rho=7).candidates == 7
    assert config_hash(ConstructConfig()) == config_hash(ConstructConfig(density=None, rho=None))


def test_cli_sparse_run_records_density(tmp_path, capsys):
    from networks.construct.targets import save_target

    path = tmp_path / "cnn.pt"
    save_target(_small_cnn(), path, input_shape=(1, 4, 4))
    root = tmp_path / "runs"
    argv = ["construct", "--runs-root", str(root), "--target", str(path), "--eps", "0.1", "--quiet"]
    argv += ["--method", "sparse", "--density", "0.2", "--candidates-per-weight", "12"]
    code, out = _cli(argv, capsys)
    assert code == 0, out.err
    (run,) = (root / "construct").glob("*/seed_0")
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "sparse" and config["density"] == 0.2
    report = json.loads((run / "report.json").read_text())
    assert all(d <= 0.2 for d in report["layer_density"])
    assert report["measured_error"] <= report["certified_bound"]
