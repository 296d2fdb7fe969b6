"""The planted ticket's source network as a masked model: exact weights, the ticket's function, recovery."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from networks import construct_ticket
from networks.masks import kept_count
from networks.planted import (
    UNIFORM_STD,
    FanInScale,
    PlantedLinear,
    chance_recall,
    load_planted,
    planted_source,
    recovery,
    save_planted,
)


def _target(seed: int = 0) -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    return net


@pytest.fixture(scope="module")
def ticket():
    return construct_ticket(_target(), eps=0.02, budget="per-weight", candidates_per_weight=8, seed=3)


@pytest.fixture(scope="module")
def source(ticket):
    return planted_source(ticket, seed=5)


def test_weights_are_exactly_the_source_modules(ticket, source) -> None:
    dense = [m for m in ticket.source_module(masked=False, seed=5) if isinstance(m, nn.Linear)]
    for i in range(len(ticket.layers)):
        w1 = source.layers[f"fc{i}a"]["weight"]
        assert torch.equal(w1[:, :-1], dense[2 * i].weight.detach())
        assert torch.equal(w1[:, -1], dense[2 * i].bias.detach())
        assert torch.equal(source.layers[f"fc{i}b"]["weight"], dense[2 * i + 1].weight.detach())
    model = source.model()
    for name, layer in model.named_children():
        if isinstance(layer, PlantedLinear):
            assert torch.equal(layer.weight, source.layers[name]["weight"])
            assert not layer.weight.requires_grad and layer.scores.requires_grad


def test_planted_mask_computes_the_ticket_and_a_shifted_one_does_not(ticket, source) -> None:
    x = torch.rand(64, 6, generator=torch.Generator().manual_seed(1)) * 2 - 1
    want = ticket(x.double())
    model = source.plant(source.model(scaled=False))
    with torch.no_grad():
        got = model(x).double()
    scale = float(want.abs().max())
    assert float((got - want).abs().max()) <= 1e-5 * max(1.0, scale)
    # The same counts, one planted edge per layer moved: the function changes (the check can fail).
    moved = source.model(scaled=False)
    for name, layer in moved.named_children():
        if isinstance(layer, PlantedLinear):
            m = source.layers[name]["planted"].clone().flatten()
            on, off = int(torch.nonzero(m)[0]), int(torch.nonzero(~m)[0])
            m[on], m[off] = False, True
            layer.set_mask_mode("fixed")
            layer.set_mask(m.view_as(source.layers[name]["planted"]))
    with torch.no_grad():
        assert float((moved(x).double() - want).abs().max()) > 1e-3


def test_layer_counts_follow_the_planted_allocation(source) -> None:
    d0 = source.density
    counts = source.planted_counts
    assert d0 == pytest.approx(sum(counts.values()) / sum(source.sizes.values()))
    model = source.model(d0)
    for name, layer in model.named_children():
        if isinstance(layer, PlantedLinear):
            assert layer.density == d0  # nominal
            assert int(layer.mask().sum()) == counts[name]  # exactly the planted count
            layer.density = 0.5 * d0
            layer.density = 0.5 * d0  # idempotent: what a resumed trainer does
            assert int(layer.mask().sum()) == kept_count(layer.weight.numel(), 0.5 * d0 * layer.allocation)
    f = 0.9 * source.max_density() / d0
    dens = source.layer_densities(f * d0)
    for name, d in dens.items():
        assert d == pytest.approx(f * counts[name] / source.sizes[name])


def test_save_load_roundtrip(tmp_path, source) -> None:
    save_planted(tmp_path / "p.pt", source)
    back = load_planted(tmp_path / "p.pt")
    assert back.plan == source.plan and back.meta == source.meta
    for k, v in source.layers.items():
        assert torch.equal(back.layers[k]["weight"], v["weight"])
        assert torch.equal(back.layers[k]["planted"], v["planted"])


def test_recovery_golden() -> None:
    planted = {
        "a": torch.tensor([[1, 1, 0, 0]], dtype=torch.bool),
        "b": torch.tensor([1, 0], dtype=torch.bool),
    }
    masks = {"a": torch.tensor([[1, 0, 1, 0]], dtype=torch.bool), "b": torch.tensor([1, 1], dtype=torch.bool)}
    ever = {"a": torch.tensor([[1, 0, 1, 1]], dtype=torch.bool), "b": torch.tensor([1, 1], dtype=torch.bool)}
    r = recovery(masks, planted, ever)
    assert (r["kept"], r["planted"], r["hits"]) == (4, 3, 2)
    assert r["precision"] == 0.5 and r["recall"] == pytest.approx(2 / 3)
    assert r["planted_ever"] == 2 and r["planted_dying_ratio"] == pytest.approx(1 / 3)
    assert recovery(masks, planted)["planted_dying_ratio"] is None
    with pytest.raises(ValueError, match="masks"):
        recovery({"a": masks["a"]}, planted)
    with pytest.raises(ValueError, match="bool"):
        recovery({"a": masks["a"].float(), "b": masks["b"]}, planted)


def test_chance_recall_is_a_random_masks_mean_recall(source) -> None:
    d = source.density
    want = chance_recall(source, d)
    gen = torch.Generator().manual_seed(0)
    planted = source.planted_masks()
    recalls = []
    for _ in range(40):
        masks = {}
        for k, v in planted.items():
            n, kk = v.numel(), kept_count(v.numel(), source.layer_densities(d)[k])
            m = torch.zeros(n, dtype=torch.bool)
            m[torch.randperm(n, generator=gen)[:kk]] = True
            masks[k] = m.view_as(v)
        recalls.append(recovery(masks, planted)["recall"])
    mean = sum(recalls) / len(recalls)
    sd = math.sqrt(sum((r - mean) ** 2 for r in recalls) / (len(recalls) - 1))
    assert abs(mean - want) <= 4 * sd / math.sqrt(len(recalls)) + 1e-12


def test_refuses_perturbed_and_conv_tickets() -> None:
    pert = construct_ticket(
        _target(),
        eps=0.05,
        method="xiong",
        perturbation=0.05,
        budget="per-weight",
        candidates_per_weight=6,
        seed=0,
    )
    if bool(any((layer.pert != 0).any() for layer in pert.layers)):
        with pytest.raises(ValueError, match="perturbation"):
            planted_source(pert)
    conv = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    with torch.no_grad():
        for p in conv.parameters():
            p.clamp_(-0.5, 0.5)
    ct = construct_ticket(
        conv,
        eps=0.1,
        method="dacunha",
        budget="per-weight",
        candidates_per_weight=4,
        input_shape=(1, 4, 4),
        seed=0,
    )
    with pytest.raises(ValueError, match="linear"):
        planted_source(ct)


def test_trainer_trains_the_given_model_scores_only(tmp_path) -> None:
    from networks.training import TrainConfig, train

    gen = torch.Generator().manual_seed(0)
    digits_target = nn.Sequential(nn.Flatten(), nn.Linear(64, 3), nn.ReLU(), nn.Linear(3, 10))
    with torch.no_grad():
        for p in digits_target.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    t = construct_ticket(
        digits_target, eps=0.1, budget="per-weight", candidates_per_weight=4, nonnegative_input=True, seed=0
    )
    src = planted_source(t)
    cfg = TrainConfig(
        method="ep",
        model="planted",
        dataset="digits",
        density=src.density,
        epochs=1,
        batch_size=256,
        lr=0.01,
        weight_init="uniform",
        log_every=1000,
    )
    model = src.model(cfg.density)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = train(cfg, tmp_path, experiment="p", quiet=True, model=model)
    assert res.status == "done" and res.final["density"] == pytest.approx(src.density)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.endswith(".weight"))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.endswith(".scores"))


def test_fan_in_scale_is_the_per_layer_scale_and_keeps_the_planted_predictions(ticket, source) -> None:
    """Scaled logits = T x the ticket's; T = prod_l c_l; an explicit per-layer scaling agrees."""
    x = torch.rand(64, 6, generator=torch.Generator().manual_seed(2)) * 2 - 1
    want = ticket(x.double())
    model = source.plant(source.model())
    scale = model.scale
    assert isinstance(scale, FanInScale)
    t = scale.temperature()
    with torch.no_grad():
        got = model(x).double()
    assert float((got - t * want).abs().max()) <= 1e-5 * max(1.0, t * float(want.abs().max()))
    assert torch.equal(got.argmax(1), want.argmax(1))
    # Each layer by hand: c_l = gain_l / (std * sqrt(kept per unit)), the constant column fed prod_{j<l} c_j.
    raw = source.plant(source.model(scaled=False))
    h, cum, total = x.double(), 1.0, 1.0
    linear = [n for n, m in raw.named_children() if isinstance(m, PlantedLinear)]
    for name, mod in raw.named_children():
        if isinstance(mod, PlantedLinear):
            gain = scale.gains[linear.index(name)]
            c = gain / (UNIFORM_STD * math.sqrt(max(1.0, int(mod.mask().sum()) / mod.out_features)))
            h = c * (h @ (mod.weight * mod.mask()).double().T)
            cum *= c
            total *= c
        elif type(mod).__name__ == "AppendOne":
            h = torch.cat([h, torch.full_like(h[:, :1], cum)], dim=1)
        elif isinstance(mod, nn.ReLU):
            h = torch.relu(h)
        elif isinstance(mod, nn.Flatten):
            h = mod(h)
    assert total == pytest.approx(t, rel=1e-12)
    assert float((h - t * want).abs().max()) <= 1e-5 * max(1.0, float(h.abs().max()))
    # Without the cumulative constant the bias columns are mis-scaled and the function is not T x ticket.
    assert t != pytest.approx(1.0, rel=1e-3)


def test_fan_in_scale_follows_the_density(source) -> None:
    """An iEP cycle at a larger density gets a smaller temperature (more inputs per unit)."""
    model = source.model(source.density)
    t0 = model.scale.temperature()
    for layer in model.children():
        if isinstance(layer, PlantedLinear):
            layer.density = min(1.0, 4 * source.density)
    assert model.scale.temperature() < t0
    with pytest.raises(ValueError, match="layers and gains"):
        FanInScale([], [])
