"""Masked layers, top-k masks, straight-through gradients, inits and devices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from networks import inits
from networks.devices import available_devices, resolve_device
from networks.layers import (
    MaskedConv1d,
    MaskedConv2d,
    MaskedLinear,
    NonAffineBatchNorm1d,
    NonAffineBatchNorm2d,
)
from networks.masks import WarmTopk, kept_count, topk_mask


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def oracle_topk(values: np.ndarray, k: int) -> np.ndarray:
    """Brute force: order by (value descending, flat index ascending), keep the first k."""
    flat = values.reshape(-1)
    order = sorted(range(flat.size), key=lambda i: (-flat[i], i))
    out = np.zeros(flat.size, dtype=bool)
    out[order[:k]] = True
    return out.reshape(values.shape)


# ------------------------------------------------------------------------------------------ counts
@pytest.mark.parametrize(
    ("numel", "density", "k"),
    [(10, 0.25, 3), (10, 0.24, 2), (10, 1.0, 10), (10, 1e-9, 1), (4, 0.5, 2), (5, 0.5, 3), (7, 0.3, 2)],
)
def test_kept_count_rounds_half_up_and_keeps_at_least_one(numel, density, k):
    assert kept_count(numel, density) == k


@pytest.mark.parametrize("density", [0.0, -0.1, 1.01, float("nan"), float("inf"), "half"])
def test_density_outside_unit_interval_is_refused(density):
    with pytest.raises(ValueError, match="density"):
        kept_count(10, density)
    with pytest.raises(ValueError, match="density"):
        MaskedLinear(3, 2, density=density, generator=gen())


@given(
    shape=st.lists(st.integers(1, 7), min_size=1, max_size=3),
    density=st.floats(1e-3, 1.0),
    levels=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_topk_mask_matches_brute_force_with_ties(shape, density, levels, seed):
    # Few distinct levels force many ties at the threshold.
    values = np.random.default_rng(seed).integers(0, levels, size=shape).astype(np.float32)
    mask = topk_mask(torch.from_numpy(values), density)
    k = kept_count(values.size, density)
    assert mask.dtype == torch.bool and tuple(mask.shape) == tuple(shape)
    assert int(mask.sum()) == k
    np.testing.assert_array_equal(mask.numpy(), oracle_topk(values, k))


def test_topk_mask_ties_go_to_lowest_index():
    mask = topk_mask(torch.ones(2, 3), 0.5)
    assert mask.tolist() == [[True, True, True], [False, False, False]]
    mask = topk_mask(torch.tensor([0.0, 2.0, 1.0, 1.0, 1.0]), 0.6)
    assert mask.tolist() == [False, True, True, True, False]


# ------------------------------------------------------------------------------ layer behaviour
@pytest.mark.parametrize("mode", ["scores", "fixed"])
@pytest.mark.parametrize("density", [0.05, 0.37, 1.0])
def test_layer_mask_has_exact_count_and_forward_uses_it(mode, density):
    layer = MaskedLinear(13, 7, density=density, mask_mode=mode, generator=gen(1))
    x = torch.randn(5, 13, generator=gen(2))
    y = layer(x)
    mask = layer.mask()
    assert mask.dtype == torch.bool and int(mask.sum()) == kept_count(91, density)
    torch.testing.assert_close(y, x @ (layer.weight * mask).T)
    torch.testing.assert_close(layer.effective_weight(), layer.weight * mask)
    assert torch.equal(layer.weight_mask, mask)  # the buffer holds the mask the forward used
    assert [n for n, _ in layer.named_buffers()] == ["weight_mask"]


def _dense_grad_reference(layer, x, target):
    """dL/dW_eff by autograd on a leaf copy of the effective weight (no mask function involved)."""
    w_eff = layer.effective_weight().detach().requires_grad_(True)
    loss = F.mse_loss(layer.forward_with_weight(x, w_eff), target)
    (g,) = torch.autograd.grad(loss, w_eff)
    return g


@pytest.mark.parametrize("rank_by", ["abs", "raw"])
def test_straight_through_score_gradient_is_dense_grad_times_weight(rank_by):
    layer = MaskedLinear(6, 4, density=0.5, rank_by=rank_by, generator=gen(3)).double()
    x, target = torch.randn(8, 6, generator=gen(4)).double(), torch.randn(8, 4, generator=gen(5)).double()
    g = _dense_grad_reference(layer, x, target)
    F.mse_loss(layer(x), target).backward()
    expected = g * layer.weight
    if rank_by == "abs":
        expected = expected * torch.sign(layer.scores.detach())
    torch.testing.assert_close(layer.scores.grad, expected)
    assert layer.weight.grad is None  # frozen in scores mode
    # The gradient reaches scores also where the mask is 0 (that is what lets edges pop back in).
    assert (layer.scores.grad[~layer.mask()] != 0).any()


@pytest.mark.parametrize("mode", ["scores", "fixed"])
def test_dense_gradient_capture_includes_masked_entries(mode):
    layer = MaskedConv2d(3, 4, 3, padding=1, density=0.3, mask_mode=mode, generator=gen(6)).double()
    x = torch.randn(2, 3, 5, 5, generator=gen(7)).double()
    target = torch.randn(2, 4, 5, 5, generator=gen(8)).double()
    g = _dense_grad_reference(layer, x, target)
    layer.capture_dense_grad = True
    F.mse_loss(layer(x), target).backward()
    torch.testing.assert_close(layer.dense_grad, g)
    assert (layer.dense_grad[~layer.mask()] != 0).any()


def test_fixed_mode_trains_weight_only_where_mask_is_one():
    layer = MaskedLinear(9, 5, bias=True, density=0.4, mask_mode="fixed", generator=gen(9)).double()
    x, target = torch.randn(6, 9, generator=gen(10)).double(), torch.randn(6, 5, generator=gen(11)).double()
    g = _dense_grad_reference(layer, x, target)
    F.mse_loss(layer(x), target).backward()
    mask = layer.mask()
    torch.testing.assert_close(layer.weight.grad, g * mask)
    assert (layer.weight.grad[~mask] == 0).all()
    assert layer.bias.grad is not None and layer.scores.grad is None
    new = torch.zeros_like(mask)
    new[0, :3] = True
    layer.set_mask(new)
    assert torch.equal(layer.mask(), new)
    with pytest.raises(ValueError, match="bool tensor of shape"):
        layer.set_mask(new.float())


def test_switching_scores_to_fixed_freezes_the_current_mask():
    layer = MaskedLinear(8, 8, density=0.25, generator=gen(12))
    mask = layer.mask().clone()
    layer.set_mask_mode("fixed")
    assert torch.equal(layer.mask(), mask)
    assert layer.weight.requires_grad and not layer.scores.requires_grad
    with pytest.raises(ValueError, match="mask_mode must be one of"):
        layer.set_mask_mode("magnitude")


def test_conv_layers_match_functional_ops():
    c2 = MaskedConv2d(4, 6, (3, 2), stride=2, padding=1, groups=2, density=0.5, generator=gen(13))
    x2 = torch.randn(2, 4, 7, 6, generator=gen(14))
    torch.testing.assert_close(c2(x2), F.conv2d(x2, c2.weight * c2.mask(), None, 2, 1, 1, 2))
    c1 = MaskedConv1d(2, 3, 5, padding=2, bias=True, density=0.7, generator=gen(15))
    x1 = torch.randn(3, 2, 11, generator=gen(16))
    torch.testing.assert_close(c1(x1), F.conv1d(x1, c1.weight * c1.mask(), c1.bias, 1, 2))
    with pytest.raises(ValueError, match="divisible by groups"):
        MaskedConv2d(3, 4, 3, groups=2, generator=gen())


def test_same_generator_seed_gives_same_layer():
    a, b = MaskedLinear(5, 5, generator=gen(17)), MaskedLinear(5, 5, generator=gen(17))
    assert torch.equal(a.weight, b.weight) and torch.equal(a.scores, b.scores)


def test_non_affine_batchnorm_tracks_running_stats_without_parameters():
    for bn, x in (
        (NonAffineBatchNorm1d(3), torch.randn(16, 3) + 2),
        (NonAffineBatchNorm2d(3), torch.randn(4, 3, 2, 2) + 2),
    ):
        assert list(bn.parameters()) == [] and not bn.affine
        bn.train()
        bn(x)
        assert (bn.running_mean > 0.1).all() and int(bn.num_batches_tracked) == 1


# ------------------------------------------------------------------------------------------ inits
N_STAT = 200_000


def _std_interval(n: int, sigma: float, alpha: float = 1e-6) -> tuple[float, float]:
    """Two-sided interval for the sample std of n iid N(0, sigma^2) draws (chi-square)."""
    lo, hi = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], n - 1)
    return sigma * math.sqrt(lo / (n - 1)), sigma * math.sqrt(hi / (n - 1))


@pytest.mark.parametrize(
    ("name", "density", "fan_scale"),
    [("kaiming_normal", 1.0, 1.0), ("scaled_kaiming_normal", 0.25, 0.25), ("kaiming_normal", 0.25, 1.0)],
)
def test_normal_inits_have_kaiming_std(name, density, fan_scale):
    t = torch.empty(N_STAT // 50, 50)
    inits.init_weight(t, name, generator=gen(18), density=density)
    sigma = math.sqrt(2.0 / (50 * fan_scale))
    lo, hi = _std_interval(t.numel(), sigma)
    assert lo < float(t.double().std()) < hi
    assert abs(float(t.double().mean())) < 6 * sigma / math.sqrt(t.numel())


@pytest.mark.parametrize(
    ("name", "density", "fan_scale"),
    [("signed_kaiming_constant", 1.0, 1.0), ("scaled_signed_kaiming_constant", 0.1, 0.1)],
)
def test_signed_constant_inits_are_plus_minus_std_with_fair_signs(name, density, fan_scale):
    t = torch.empty(N_STAT // 40, 4, 10)  # fan_in = 40
    inits.init_weight(t, name, generator=gen(19), density=density)
    value = math.sqrt(2.0 / (40 * fan_scale))
    torch.testing.assert_close(t.abs(), torch.full_like(t, value))
    positives = int((t > 0).sum())
    assert stats.binomtest(positives, t.numel(), 0.5).pvalue > 1e-6


@pytest.mark.parametrize(
    ("name", "registry_get", "bound"),
    [
        ("kaiming_uniform", inits.get_weight_init, math.sqrt(6 / 80)),
        ("kaiming_uniform_relu", inits.get_score_init, math.sqrt(6 / 80)),
        ("kaiming_uniform_a_sqrt5", inits.get_score_init, 1 / math.sqrt(80)),
    ],
)
def test_uniform_inits_fill_their_interval(name, registry_get, bound):
    t = torch.empty(N_STAT // 80, 80)
    registry_get(name)(t, generator=gen(20))
    assert float(t.abs().max()) <= bound
    # Kolmogorov-Smirnov against U(-bound, bound).
    sample = t.reshape(-1)[:20_000].double().numpy()
    assert stats.kstest(sample, stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-6


def test_uniform_init_for_constructions():
    t = torch.empty(10_000)[None].expand(2, -1).clone()
    inits.init_weight(t, "uniform", generator=gen(21), low=-0.5, high=2.0)
    assert -0.5 <= float(t.min()) and float(t.max()) <= 2.0
    with pytest.raises(ValueError, match="low < high"):
        inits.init_weight(t, "uniform", generator=gen(), low=1.0, high=1.0)


def test_init_registries_list_names_and_refuse_duplicates():
    with pytest.raises(ValueError, match=r"valid weight inits: .*kaiming_normal"):
        inits.get_weight_init("xavier")
    with pytest.raises(ValueError, match="already registered"):
        inits.register_weight_init("kaiming_normal")(lambda t, **kw: t)
    assert set(inits.SCORE_INITS) >= {"kaiming_uniform_a_sqrt5", "kaiming_uniform_relu"}


@pytest.mark.parametrize("name", sorted(inits.WEIGHT_INITS))
def test_every_weight_init_is_reproducible_and_finite(name):
    a, b = torch.empty(7, 3, 2), torch.empty(7, 3, 2)
    inits.init_weight(a, name, generator=gen(22), density=0.5)
    inits.init_weight(b, name, generator=gen(22), density=0.5)
    assert torch.equal(a, b) and torch.isfinite(a).all() and a.std() > 0


# ---------------------------------------------------------------------------------------- devices
def test_resolve_device_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert available_devices()[0] == "cpu"


def test_resolve_device_refuses_what_is_not_there():
    with pytest.raises(ValueError, match="available"):
        resolve_device("tpu:0")
    with pytest.raises(ValueError, match=r"available.*cpu"):
        resolve_device("cuda:99")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device(3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.gpu
def test_layers_on_cuda_match_cpu():
    dev = resolve_device("cuda")
    cpu = MaskedConv2d(3, 8, 3, padding=1, density=0.3, generator=gen(23))
    cuda = MaskedConv2d(3, 8, 3, padding=1, density=0.3, generator=gen(23), device=dev)
    assert torch.equal(cpu.weight, cuda.weight.cpu()) and torch.equal(cpu.mask(), cuda.mask().cpu())
    x = torch.randn(2, 3, 6, 6, generator=gen(24))
    torch.testing.assert_close(cpu(x), cuda(x.to(dev)).cpu(), rtol=1e-4, atol=1e-5)
    scores = torch.randint(0, 3, (1000,), generator=gen(25)).float()
    assert torch.equal(topk_mask(scores, 0.3), topk_mask(scores.to(dev), 0.3).cpu())


# ------------------------------------------------------------------------------- warm-started top-k
def _cold_mask(layer: MaskedLinear) -> torch.Tensor:
    key = layer.scores.detach().abs() if layer.rank_by == "abs" else layer.scores.detach()
    return topk_mask(key, layer.density)


_UPDATES = st.sampled_from(
    ["sgd_small", "sgd_large", "jump", "ties", "poke", "data_write", "density", "same"]
)


@given(
    shape=st.sampled_from([(1, 1), (3, 5), (40, 50), (64, 300)]),
    density=st.floats(1e-3, 1.0),
    rank_by=st.sampled_from(["abs", "raw"]),
    updates=st.lists(_UPDATES, min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
    small_n=st.sampled_from([0, WarmTopk.small_n]),  # 0: every tensor takes the bracket path
)
def test_warm_mask_equals_cold_mask_through_random_score_updates(
    shape, density, rank_by, updates, seed, small_n
):
    rng = np.random.default_rng(seed)
    layer = MaskedLinear(shape[1], shape[0], density=density, rank_by=rank_by, generator=gen(seed))
    layer._topk.small_n = small_n
    x = torch.randn(4, shape[1], generator=gen(seed + 1))
    opt = torch.optim.SGD([layer.scores], lr=1.0, momentum=0.9)
    for step, kind in enumerate(updates):
        scores = layer.scores
        if kind in ("sgd_small", "sgd_large"):  # a real straight-through SGD step
            opt.param_groups[0]["lr"] = 1e-3 if kind == "sgd_small" else 10.0
            opt.zero_grad()
            before = _cold_mask(layer)
            layer(x).square().sum().backward()
            assert torch.equal(layer.weight_mask, before), (step, kind)
            opt.step()
        with torch.no_grad():
            if kind == "jump":
                scores.mul_(float(rng.choice([-1.0, 0.5, 3.0]))).add_(float(rng.normal()))
            elif kind == "ties":  # few distinct levels: many ties at the threshold
                scores.copy_(torch.from_numpy(rng.integers(-3, 4, size=shape).astype(np.float32)))
            elif kind == "poke":  # in-place edit of a few entries through the parameter
                flat = scores.view(-1)
                flat[torch.from_numpy(rng.integers(0, flat.numel(), size=3))] = float(rng.normal())
            elif kind == "data_write":  # bypasses the version counter
                scores.data.view(-1)[int(rng.integers(0, scores.numel()))] = float(rng.normal() * 10)
            elif kind == "density":
                layer.density = float(rng.uniform(1e-3, 1.0))
        cold = _cold_mask(layer)
        layer(x)
        assert torch.equal(layer.weight_mask, cold), (step, kind)
        assert torch.equal(layer.mask(), cold), (step, kind)
        assert int(cold.sum()) == kept_count(cold.numel(), layer.density)


@pytest.mark.parametrize("sort_cap", [None, 8])  # 8: bands go through partial selection, not a sort
@pytest.mark.parametrize("levels", [2, 50, 0])
def test_warm_topk_tracks_long_runs_and_uses_the_warm_path(levels, sort_cap):
    g = torch.Generator().manual_seed(levels)
    n = 20_000
    if levels:
        scores = torch.randint(0, levels, (n,), generator=g).float()
    else:
        scores = torch.randn(n, generator=g)
    warm = WarmTopk()
    warm.small_n = 0  # the bracket path also for this small tensor
    if sort_cap is not None:
        warm.sort_cap = sort_cap
    for i in range(60):
        step = 1e-3 if i % 20 else 1.0  # mostly small steps, a few big jumps
        scores.add_(torch.randn(n, generator=g) * step)
        if levels:
            scores.round_()
        mask = warm(scores, 0.3)
        assert torch.equal(mask, topk_mask(scores.abs(), 0.3)), i
        again = warm(scores, 0.3)  # unchanged scores: recomputed once, values copied
        assert torch.equal(again, mask)
        assert warm(scores, 0.3) is again  # ... and from then on served from the cache
    assert warm.stats["hit"] == 60
    assert warm.stats["warm"] >= 40 and warm.stats["cold"] <= 10, warm.stats


@pytest.mark.parametrize("n", [5, 8, 4_003, 40_000])
def test_warm_band_indices_equal_flatnonzero_on_sparse_and_dense_bands(n):
    # The word scan (used after a sparse band) and the byte scan must give the same indices in the same
    # order, with a tail of n % 8 entries, for bands from empty to the whole tensor.
    rng = np.random.default_rng(n)
    a = rng.random(n).astype(np.float32)
    warm = WarmTopk()
    for lo, hi in [(0.5, 0.5001), (0.2, 0.9), (0.0, 1.0), (2.0, 3.0), (0.999, 1.0), (0.5, 0.5001)]:
        gt = a > np.float32(hi)
        expected = np.flatnonzero((a >= np.float32(lo)) & ~gt)
        sparse_before = 0 <= warm._band_size * 256 <= n
        idx = warm._band(a, np.float32(lo), gt)
        assert np.array_equal(idx, expected), (lo, hi, sparse_before)
    assert warm._band_size == expected.size


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_warm_topk_other_dtypes(dtype):
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(5000, generator=g).to(dtype)
    warm, small = WarmTopk(), WarmTopk()
    warm.small_n = 0
    for _ in range(10):
        scores.add_((torch.randn(5000, generator=g) * 1e-2).to(dtype))
        assert torch.equal(warm(scores, 0.2, rank_by="raw"), topk_mask(scores, 0.2))
        assert torch.equal(small(scores, 0.2), topk_mask(scores.abs(), 0.2))
    assert warm.stats["warm"] >= 5 and small.stats["small"] == 10


@pytest.mark.parametrize("levels", [3, 0])
def test_small_tensors_are_selected_outright_and_equal_the_cold_mask(levels):
    # At most small_n entries: one partial selection per call, no bracket; ties (levels=3) and
    # densities down to one kept weight give the cold mask bit for bit, and a bigger tensor still
    # takes the bracket.
    g = torch.Generator().manual_seed(levels)
    warm = WarmTopk()
    for n in (1, 7, 4_096, WarmTopk.small_n):
        scores = torch.randn(n, generator=g)
        for density in (1e-6, 0.3, 0.999, 1.0):
            scores.add_(torch.randn(n, generator=g) * 1e-3)
            if levels:
                scores.mul_(levels).round_()
            assert torch.equal(warm(scores, density), topk_mask(scores.abs(), density)), (n, density)
    # 8 of the 16 calls select (k = n, e.g. density 1, needs no selection).
    assert warm.stats["small"] == 8 and warm.stats["warm"] == warm.stats["cold"] == 0, warm.stats
    big = torch.randn(WarmTopk.small_n + 1, generator=g)
    warm(big, 0.5)
    assert warm.stats["cold"] == 1


def test_warm_topk_refuses_bad_arguments():
    with pytest.raises(ValueError, match="density"):
        WarmTopk()(torch.zeros(4), 0.0)
    with pytest.raises(ValueError, match="rank_by"):
        WarmTopk()(torch.zeros(4), 0.5, rank_by="magnitude")


def test_mask_cache_is_invalidated_by_load_state_dict_and_in_place_edits():
    a = MaskedLinear(30, 20, density=0.3, generator=gen(30))
    b = MaskedLinear(30, 20, density=0.3, generator=gen(31))
    before = a.mask()
    a.mask()
    a.mask()
    assert a._topk.stats["hit"] >= 1
    a.load_state_dict(b.state_dict())
    assert a._topk._stamp is None  # reset on load
    assert torch.equal(a.mask(), b.mask()) and not torch.equal(a.mask(), before)
    with torch.no_grad():
        a.scores.zero_()
        a.scores[0, :7] = torch.arange(1.0, 8.0)
    assert a.mask().reshape(-1)[:7].all()
    assert torch.equal(a.mask(), _cold_mask(a))
    # The cache never enters the state_dict and survives a round trip through torch.save.
    assert set(a.state_dict()) == {"weight", "scores", "weight_mask"}
    a.double()
    assert a._topk._stamp is None  # reset on cast / move
    assert torch.equal(a.mask(), _cold_mask(a))


def test_mask_cache_does_not_leak_through_deepcopy_or_pickle():
    import copy
    import io

    layer = MaskedLinear(10, 10, density=0.5, generator=gen(32))
    layer.mask()
    clone = copy.deepcopy(layer)
    assert clone._topk._saved is None
    buf = io.BytesIO()
    torch.save(layer, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert loaded._topk._saved is None and torch.equal(loaded.mask(), layer.mask())


def test_warm_and_cold_layers_train_identically():
    layers = [MaskedLinear(20, 30, density=0.4, generator=gen(33)) for _ in range(2)]
    layers[1].warm_topk = False
    layers[0]._topk.small_n = 0  # the bracket path (600 entries would be selected outright)
    opts = [torch.optim.SGD([m.scores], lr=0.5, momentum=0.9) for m in layers]
    x, y = torch.randn(16, 20, generator=gen(34)), torch.randn(16, 30, generator=gen(35))
    for _ in range(20):
        for m, o in zip(layers, opts, strict=True):
            o.zero_grad()
            F.mse_loss(m(x), y).backward()
            o.step()
        assert torch.equal(layers[0].scores, layers[1].scores)
        assert torch.equal(layers[0].weight_mask, layers[1].weight_mask)
    assert layers[0]._topk.stats["warm"] > 0
