"""Model registry contract, masked conversion and export (networks.models, networks.convert)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from networks.convert import (
    compute_mask,
    export_dense,
    masked,
    model_density,
    set_dense_grad_capture,
    set_density,
    to_torch_prune,
)
from networks.layers import MaskedLayer, NonAffineBatchNorm1d, NonAffineBatchNorm2d
from networks.masks import kept_count, masked_layers
from networks.models import MODELS, build_model, register_model

SHAPES = [(1, 8, 8), (40,)]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _plain_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]


@pytest.mark.parametrize("in_shape", SHAPES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_contract_dense_and_masked(name, in_shape):
    x = torch.randn(3, *in_shape, generator=gen(1))
    dense = build_model(name, in_shape=in_shape, num_classes=7, generator=gen(2))
    out = dense(x)
    assert out.shape == (3, 7) and torch.isfinite(out).all()
    assert all(p.requires_grad for p in dense.parameters())

    net = build_model(name, in_shape=in_shape, num_classes=7, masked=True, density=0.3, generator=gen(2))
    out = net(x)
    assert out.shape == (3, 7) and torch.isfinite(out).all()
    layers = masked_layers(net)
    assert layers and not _plain_layers(net)  # every linear/conv layer became masked
    for layer in layers.values():
        assert int(layer.mask().sum()) == kept_count(layer.weight.numel(), 0.3)
    # Edge-Popup: the scores are the only trainable tensors.
    assert all(n.endswith("scores") for n, p in net.named_parameters() if p.requires_grad)
    for bn in (m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        assert isinstance(bn, (NonAffineBatchNorm1d, NonAffineBatchNorm2d))  # never a learned affine BN


@pytest.mark.parametrize(
    ("name", "millions"), [("conv2", 4.30), ("conv4", 2.43), ("conv6", 2.26), ("conv8", 5.28)]
)
def test_frankle_conv_nets_have_the_reference_parameter_counts_on_cifar(name, millions):
    # Counts from hidden-networks models/frankle.py for 3x32x32 inputs and 10 classes.
    net = build_model(name, in_shape=(3, 32, 32), num_classes=10, generator=gen())
    assert round(sum(p.numel() for p in net.parameters()) / 1e6, 2) == millions


def test_resnet18_is_the_cifar_variant():
    net = build_model("resnet18", in_shape=(3, 32, 32), num_classes=10, generator=gen())
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].kernel_size == (3, 3) and convs[0].stride == (1, 1)
    assert len(convs) == 20  # stem + 16 block convs + 3 projection shortcuts
    assert 11.1e6 < sum(p.numel() for p in net.parameters()) < 11.2e6


def test_fc2_matches_pensia_target(pensia_target_path):
    data = np.load(pensia_target_path)
    net = build_model("fc2", in_shape=(1, 28, 28), num_classes=10, generator=gen())
    net.load_state_dict(
        {
            "fc1.weight": torch.from_numpy(data["fc1_weight"]),
            "fc2.weight": torch.from_numpy(data["fc2_weight"]),
        }
    )
    assert net(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_build_is_reproducible_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a = build_model("conv4", in_shape=(1, 8, 8), num_classes=10, masked=True, density=0.5, generator=gen(5))
    b = build_model("conv4", in_shape=(1, 8, 8), num_classes=10, masked=True, density=0.5, generator=gen(5))
    assert torch.equal(torch.random.get_rng_state(), state)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    c = build_model("conv4", in_shape=(1, 8, 8), num_classes=10, masked=True, density=0.5, generator=gen(6))
    assert not torch.equal(c.state_dict()["classifier.1.weight"], sa["classifier.1.weight"])


def test_build_model_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"valid models: .*conv4.*mlp"):
        build_model("vgg", in_shape=(4,), num_classes=2)
    with pytest.raises(ValueError, match="in_shape"):
        build_model("mlp", in_shape=(0,), num_classes=2)
    with pytest.raises(ValueError, match="1, 2 or 3 dimensions"):
        build_model("conv2", in_shape=(1, 2, 3, 4), num_classes=2)
    with pytest.raises(ValueError, match="density"):
        build_model("mlp", in_shape=(4,), num_classes=2, masked=True, density=0.0)
    with pytest.raises(ValueError, match="already registered"):
        register_model("mlp")(lambda *a, **k: nn.Identity())


@pytest.mark.parametrize("name", ["mlp", "conv2", "resnet18", "conv1d"])
@pytest.mark.parametrize("mode", ["scores", "fixed"])
def test_export_dense_reproduces_outputs_and_loads_into_unmasked_architecture(name, mode):
    in_shape = (1, 8, 8)
    kw = {"width_mult": 0.25} if name == "resnet18" else {}
    net = build_model(
        name,
        in_shape=in_shape,
        num_classes=5,
        masked=True,
        density=0.4,
        mask_mode=mode,
        generator=gen(7),
        **kw,
    ).double()
    x = torch.randn(4, *in_shape, generator=gen(8)).double()
    net.train()
    net(x)  # one training forward so BatchNorm running statistics are not trivial
    dense = export_dense(net)
    for training in (True, False):
        net.train(training)
        dense.train(training)
        torch.testing.assert_close(dense(x), net(x))
    assert not any(isinstance(m, MaskedLayer) for m in dense.modules())
    plain = build_model(name, in_shape=in_shape, num_classes=5, generator=gen(9), **kw).double().eval()
    plain.load_state_dict(dense.state_dict(), strict=True)
    torch.testing.assert_close(plain(x), net(x))
    # Zeros exactly where pruned.
    for (lname, layer), m in zip(masked_layers(net).items(), _plain_layers(dense), strict=True):
        assert torch.equal(m.weight != 0, layer.mask() & (layer.weight != 0)), lname


def test_to_torch_prune_keeps_outputs_and_masks():
    net = build_model("mlp", in_shape=(6,), num_classes=3, masked=True, density=0.5, generator=gen(10))
    pruned = to_torch_prune(net)
    x = torch.randn(5, 6, generator=gen(11))
    torch.testing.assert_close(pruned(x), net(x))
    assert torch.equal(pruned.fc1.weight_mask.bool(), net.fc1.mask())
    assert hasattr(pruned.fc1, "weight_orig")


def test_masked_conversion_options():
    base = build_model("mlp", in_shape=(6,), num_classes=3, hidden=(8,), generator=gen(12))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    kept = masked(base, density={"fc2": 0.5}, weight_init=None, mask_mode="fixed", generator=gen(13))
    assert isinstance(kept.fc2, MaskedLayer) and isinstance(kept.fc1, nn.Linear)  # fc1 left dense
    assert torch.equal(kept.fc2.weight, base.fc2.weight)  # weight_init=None keeps the weights
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())  # input untouched
    assert kept.fc1.weight.requires_grad and kept.fc2.weight.requires_grad  # fixed mode trains weights
    skipped = masked(base, density=0.5, skip=["fc1"], generator=gen(13))
    assert isinstance(skipped.fc1, nn.Linear) and not skipped.fc1.weight.requires_grad
    with pytest.raises(ValueError, match="unknown layers"):
        masked(base, density={"fc9": 0.5})
    with pytest.raises(ValueError, match="skip names unknown"):
        masked(base, density=0.5, skip=["head"])
    with pytest.raises(ValueError, match="nothing to convert"):
        masked(nn.Sequential(nn.ReLU()), density=0.5)


def test_density_helpers_and_dense_grad_switch():
    net = build_model(
        "mlp", in_shape=(10,), num_classes=4, hidden=(10,), masked=True, density=0.5, generator=gen()
    )
    assert model_density(net) == pytest.approx((50 + 20) / 140)
    set_density(net, {"fc1": 0.1})
    assert net.fc1.density == 0.1 and int(net.fc1.mask().sum()) == 10
    set_density(net, 0.25)
    assert net.fc2.density == 0.25
    set_dense_grad_capture(net, True)
    net(torch.randn(2, 10, generator=gen(1))).sum().backward()
    assert all(layer.dense_grad is not None for layer in masked_layers(net).values())
    set_dense_grad_capture(net, False)
    assert all(layer.dense_grad is None for layer in masked_layers(net).values())
    with pytest.raises(ValueError, match="no masked layers"):
        model_density(nn.Linear(2, 2))


def test_compute_mask_ranks_absolute_scores_by_default():
    scores = torch.tensor([-3.0, 1.0, 2.0, -0.5])
    assert compute_mask(scores, 0.5).tolist() == [True, False, True, False]
    assert compute_mask(scores, 0.5, rank_by="raw").tolist() == [False, True, True, False]
