"""networks.hvp: gradients and Hessian-vector products w.r.t. effective weights, against exact oracles.

Oracles: the full Hessian from ``torch.autograd.functional.hessian`` on the flattened effective weights,
central finite differences of the gradient, and the STE score gradient of the model's own backward.
The tiny models use a test-local masked layer (the contract: ``weight`` + ``effective_weight()``) so
these tests pin down networks.hvp alone; one test repeats the key checks on networks.layers.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from networks import hvp as H
from networks import layers
from networks import loss_change as LC


class _TopK(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, k):
        mask = torch.zeros_like(scores, dtype=torch.bool).view(-1)
        mask[torch.topk(scores.reshape(-1), k).indices] = True
        return mask.view(scores.shape).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def _init_from(module, gen):
    """Deterministic init from an explicit generator (not torch's global RNG)."""
    with torch.no_grad():
        for p in (module.weight, module.bias):
            if p is not None:
                p.copy_(torch.randn(p.shape, generator=gen) / module.weight[0].numel() ** 0.5)


class _Masked:
    """Mixin: frozen weight, trainable scores, mask = exact top-k of |scores| (Edge-Popup)."""

    def _setup(self, density, gen):
        _init_from(self, gen)
        self.weight.requires_grad_(False)
        if self.bias is not None:
            self.bias.requires_grad_(False)
        self.mask_mode = "scores"
        self.k = max(1, round(density * self.weight.numel()))
        self.scores = nn.Parameter(torch.rand(self.weight.shape, generator=gen, dtype=self.weight.dtype))

    def mask(self):
        return _TopK.apply(self.scores.detach().abs(), self.k).bool()

    def effective_weight(self):
        return self.weight * self.mask()

    def _w(self):
        return self.weight * _TopK.apply(self.scores.abs(), self.k)


class LocalMaskedLinear(_Masked, nn.Linear):
    def __init__(self, i, o, density, gen, bias=False):
        super().__init__(i, o, bias=bias)
        self._setup(density, gen)

    def forward(self, x):
        return F.linear(x, self._w(), self.bias)


class LocalMaskedConv2d(_Masked, nn.Conv2d):
    def __init__(self, i, o, density, gen):
        super().__init__(i, o, 3, padding=1, bias=False)
        self._setup(density, gen)

    def forward(self, x):
        return self._conv_forward(x, self._w(), None)


def tiny_mlp(seed=0, bias=True):
    gen = torch.Generator().manual_seed(seed)
    return nn.Sequential(
        LocalMaskedLinear(5, 4, 0.6, gen, bias=bias), nn.Tanh(), LocalMaskedLinear(4, 3, 0.6, gen)
    ).double()


def tiny_cnn(seed=0):
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        LocalMaskedConv2d(1, 2, 0.7, gen),
        nn.BatchNorm2d(2, affine=False),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * 2 * 2, 6),  # a plain (unmasked) layer in between
        nn.Softplus(),
        LocalMaskedLinear(6, 3, 0.6, gen),
    )
    _init_from(model[5], gen)
    return model.double()


def batch_for(model, seed=1, n=7):
    gen = torch.Generator().manual_seed(seed)
    shape = (n, 5) if model[0].weight.dim() == 2 else (n, 1, 4, 4)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=gen)
    return x, y


def random_like(params, seed=2):
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(p.shape, generator=gen, dtype=p.dtype) for k, p in params.items()}


def full_hessian(model, batch, include_plain=False):
    params = H.effective_params(model, include_plain=include_plain)
    flat0 = H.flatten(params)

    def f(flat):
        return H.functional_loss(model, H.unflatten(flat, params), batch)

    with H.preserved_state(model):
        hess = torch.autograd.functional.hessian(f, flat0)
    return params, hess


MODELS = [("mlp", tiny_mlp), ("cnn", tiny_cnn)]


@pytest.mark.parametrize(("name", "make"), MODELS)
@pytest.mark.parametrize("train", [False, True])
def test_hvp_equals_full_hessian_times_v(name, make, train):
    model = make()
    model.train(train)
    batch = batch_for(model)
    params, hess = full_hessian(model, batch)
    v = random_like(params)
    hv = H.hvp(model, batch, v)
    expected = hess @ H.flatten(v)
    assert torch.allclose(H.flatten(hv), expected, rtol=1e-10, atol=1e-12)
    # Non-trivial: the Hessian couples layers (off-diagonal blocks are not zero).
    n0 = params[next(iter(params))].numel()
    assert hess[:n0, n0:].abs().max() > 1e-3


@pytest.mark.parametrize(("name", "make"), MODELS)
def test_hvp_matches_central_differences_of_the_gradient(name, make):
    model = make(seed=3)
    batch = batch_for(model, seed=4)
    params = H.effective_params(model)
    v = random_like(params, seed=5)
    hv = H.flatten(H.hvp(model, batch, v))
    eps = 1e-5
    plus = {k: params[k] + eps * v[k] for k in params}
    minus = {k: params[k] - eps * v[k] for k in params}
    _, gp = H.loss_and_grad(model, batch, params=plus)
    _, gm = H.loss_and_grad(model, batch, params=minus)
    fd = (H.flatten(gp) - H.flatten(gm)) / (2 * eps)
    # Central differences: truncation O(eps^2 * |third derivative|), roundoff O(1e-16 / eps).
    assert torch.allclose(hv, fd, rtol=1e-6, atol=1e-8)


def test_include_plain_weights_joins_the_hessian():
    model = tiny_cnn(seed=6)
    batch = batch_for(model)
    params, hess = full_hessian(model, batch, include_plain=True)
    assert "5.weight" in params and len(params) == 3
    v = random_like(params)
    hv = H.hvp(model, batch, v, include_plain=True)
    assert torch.allclose(H.flatten(hv), hess @ H.flatten(v), rtol=1e-10, atol=1e-12)


def test_gradient_is_dense_and_is_the_straight_through_gradient():
    model = tiny_mlp(seed=7)
    batch = batch_for(model)
    loss, g = H.loss_and_grad(model, batch)
    # The model's own backward gives the STE score gradient, which must equal g * w.
    model.zero_grad()
    ref = F.cross_entropy(model(batch[0]), batch[1])
    ref.backward()
    assert torch.allclose(loss, ref.detach(), rtol=0, atol=1e-14)
    for i, name in ((0, "0.weight"), (2, "2.weight")):
        layer = model[i]
        assert torch.allclose(layer.scores.grad, g[name] * layer.weight, rtol=1e-12, atol=1e-14)
        pruned = ~layer.mask()
        assert pruned.any() and g[name][pruned].abs().max() > 0  # defined where the mask is 0


def test_batchnorm_buffers_and_modes_are_restored():
    model = tiny_cnn(seed=8)
    model.train()
    model[1].eval()  # a mixed-mode model: each module's flag must come back as it was
    flags = [m.training for m in model.modules()]
    before = {k: b.clone() for k, b in model.named_buffers()}
    batch = batch_for(model)
    params = H.effective_params(model)
    H.hvp(model, batch, random_like(params), train=True)
    H.loss_and_grad(model, batch)
    H.loss_grad_hvp(model, batch, [random_like(params), random_like(params, 9)], train=False)
    assert [m.training for m in model.modules()] == flags
    for k, b in model.named_buffers():
        assert torch.equal(b, before[k]), k
    # The check above can fail: a plain train-mode forward does change the running statistics.
    model.train()
    model(batch[0])
    assert not torch.equal(model[1].running_mean, before["1.running_mean"])


def test_hvp_is_symmetric_and_linear_and_argument_orders_agree():
    model = tiny_cnn(seed=10)
    batch = batch_for(model)
    params = H.effective_params(model)
    u, v = random_like(params, 11), random_like(params, 12)
    _, _, (hu, hv, h2) = H.loss_grad_hvp(model, batch, [u, v, {k: 2 * u[k] - v[k] for k in u}])
    assert abs(H.dot(u, hv) - H.dot(v, hu)) < 1e-10 * (1 + abs(H.dot(u, hv)))
    assert torch.allclose(H.flatten(h2), 2 * H.flatten(hu) - H.flatten(hv), rtol=1e-10, atol=1e-12)
    other = H.hvp(model, F.cross_entropy, batch, v)
    third = H.hvp(model, batch, v, F.cross_entropy)
    assert torch.equal(H.flatten(other), H.flatten(hv)) and torch.equal(H.flatten(third), H.flatten(hv))
    sq = H.hvp(model, batch, v, loss_fn=lambda out, y: F.cross_entropy(out, y, reduction="sum"))
    assert torch.allclose(H.flatten(sq), len(batch[1]) * H.flatten(hv), rtol=1e-10)


def test_swap_prediction_and_apply_swap_agree_with_the_model():
    model = tiny_mlp(seed=13, bias=False)
    batch = batch_for(model, n=11)
    name = "2.weight"
    mask = model[2].mask().reshape(-1)
    drop = {name: torch.nonzero(mask)[:1, 0]}
    grow = {name: torch.nonzero(~mask)[:1, 0]}
    v = LC.swap_direction(model, drop, grow)
    assert int((H.flatten(v) != 0).sum()) == 2
    loss0, g, (hv,) = H.loss_grad_hvp(model, batch, [v])
    before = H.effective_params(model)
    after_pred = {k: before[k] + v[k] for k in before}
    actual_f = float(H.functional_loss(model, after_pred, batch)) - float(loss0)
    LC.apply_swap(model, drop, grow)
    after = H.effective_params(model)
    assert all(torch.equal(after[k], after_pred[k]) for k in after)
    with torch.no_grad():
        actual = float(F.cross_entropy(model(batch[0]), batch[1])) - float(loss0)
    assert abs(actual - actual_f) < 1e-14
    p1 = LC.predict_loss_change(g, v)
    p2 = LC.predict_loss_change(g, v, hv)
    assert p1 == H.dot(g, v) and p2 == pytest.approx(p1 + 0.5 * H.dot(v, hv), rel=1e-15)
    # A one-weight swap: the second-order prediction is closer than the first.
    assert abs(actual - p2) < abs(actual - p1)


def test_apply_swap_fixed_mode_uses_the_bool_buffer():
    class FixedLinear(nn.Linear):
        def __init__(self):
            super().__init__(3, 2, bias=False)
            self.mask_mode = "fixed"
            self.register_buffer("mask_bits", torch.tensor([[True, False, True], [False, True, False]]))

        def mask(self):
            return self.mask_bits

        def effective_weight(self):
            return self.weight * self.mask_bits

        def forward(self, x):
            return F.linear(x, self.effective_weight())

    layer = FixedLinear()
    LC.apply_swap(layer, {"weight": [0]}, {"weight": torch.tensor([1, 3])})
    assert layer.mask_bits.tolist() == [[False, True, True], [True, True, False]]


def test_bad_inputs_raise_value_errors():
    model = tiny_mlp()
    batch = batch_for(model)
    params = H.effective_params(model)
    with pytest.raises(ValueError, match="keys"):
        H.hvp(model, batch, {"0.weight": params["0.weight"]})
    with pytest.raises(ValueError, match="shape"):
        H.hvp(model, batch, {k: torch.zeros(2) for k in params})
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        LC.predict_loss_change(params, params, order=3)
    with pytest.raises(ValueError, match="needs Hv"):
        LC.predict_loss_change(params, params, order=2)
    with pytest.raises(ValueError, match="not in the current mask"):
        LC.swap_direction(model, {"2.weight": torch.nonzero(~model[2].mask().reshape(-1))[:1, 0]}, {})
    with pytest.raises(ValueError, match="valid names"):
        LC.swap_direction(model, {"nope.weight": [0]}, {})
    with pytest.raises(ValueError, match="drops"):
        LC.apply_swap(model, {"2.weight": torch.nonzero(model[2].mask().reshape(-1))[:1, 0]}, {})
    with pytest.raises(ValueError, match="no masked layers"):
        H.effective_params(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="batch"):
        H.loss_and_grad(model, batch[0])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            H.loss_and_grad(model, batch, device="cuda")


def test_check_effective_forward_catches_a_layer_that_is_not_weight_times_mask():
    model = tiny_mlp()
    assert H.check_effective_forward(model, batch_for(model)[0], atol=1e-13) <= 1e-13

    class Odd(LocalMaskedLinear):
        def forward(self, x):
            return 2 * super().forward(x)

    odd = nn.Sequential(Odd(5, 3, 0.5, torch.Generator().manual_seed(0))).double()
    with pytest.raises(ValueError, match="differs"):
        H.check_effective_forward(odd, batch_for(model)[0])


def test_with_the_toolkit_masked_layers():
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        layers.MaskedLinear(5, 4, density=0.5, generator=gen),
        nn.Tanh(),
        layers.MaskedLinear(4, 3, density=0.5, generator=gen),
    ).double()
    batch = batch_for(model)
    H.check_effective_forward(model, batch[0], atol=1e-12)
    params, hess = full_hessian(model, batch)
    v = random_like(params)
    assert torch.allclose(H.flatten(H.hvp(model, batch, v)), hess @ H.flatten(v), rtol=1e-10, atol=1e-12)
    _, g = H.loss_and_grad(model, batch)
    model.zero_grad()
    F.cross_entropy(model(batch[0]), batch[1]).backward()
    # Edge-Popup ranks |scores|: the STE gradient through |.| carries sign(scores).
    first = model[0]
    expected = torch.sign(first.scores) * g["0.weight"] * first.weight
    assert torch.allclose(first.scores.grad, expected, rtol=1e-10, atol=1e-13)
    # apply_swap on the toolkit's scores-mode layer moves exactly the chosen weights.
    mask = first.mask().reshape(-1)
    drop, grow = {"0.weight": torch.nonzero(mask)[:2, 0]}, {"0.weight": torch.nonzero(~mask)[-2:, 0]}
    v = LC.swap_direction(model, drop, grow)
    before = H.effective_params(model)
    LC.apply_swap(model, drop, grow)
    after = H.effective_params(model)
    assert all(torch.equal(after[k], before[k] + v[k]) for k in after)


def test_hutchinson_diagonal_is_unbiased_within_its_standard_error():
    model = tiny_mlp(seed=15)
    batch = batch_for(model)
    _, hess = full_hessian(model, batch)
    n = 400
    est = H.flatten(
        H.hutchinson_diagonal(model, batch, samples=n, generator=torch.Generator().manual_seed(0))
    )
    exact = torch.diagonal(hess)
    # One probe's variance for entry i is sum_{j != i} H_ij^2 (Rademacher probes).
    se = torch.sqrt(((hess**2).sum(1) - exact**2) / n)
    z = (est - exact) / torch.clamp(se, min=1e-15)
    assert z.abs().max() < 5
    # Not vacuous: a biased estimator (here, 1.3x the diagonal) is caught at this sample size.
    assert ((1.3 * exact - exact) / torch.clamp(se, min=1e-15)).abs().max() > 5
    with pytest.raises(ValueError, match="samples"):
        H.hutchinson_diagonal(model, batch, samples=0, generator=torch.Generator())


@pytest.mark.parametrize(("mask_mode", "rank_by"), [("fixed", "abs"), ("scores", "raw")])
def test_apply_swap_on_toolkit_layers_in_other_modes(mask_mode, rank_by):
    gen = torch.Generator().manual_seed(1)
    layer = layers.MaskedLinear(6, 4, density=0.5, mask_mode=mask_mode, rank_by=rank_by, generator=gen)
    mask = layer.mask().reshape(-1).clone()
    drop, grow = {"weight": torch.nonzero(mask)[:3, 0]}, {"weight": torch.nonzero(~mask)[:3, 0]}
    v = LC.swap_direction(layer, drop, grow)
    before = H.effective_params(layer)
    LC.apply_swap(layer, drop, grow)
    after = H.effective_params(layer)
    assert torch.equal(after["weight"], before["weight"] + v["weight"])
    assert int(layer.mask().sum()) == int(mask.sum())


@pytest.mark.gpu
def test_hvp_on_cuda_matches_cpu():
    model = tiny_cnn(seed=14)
    batch = batch_for(model)
    v = random_like(H.effective_params(model))
    cpu = H.flatten(H.hvp(model, batch, v, device="cpu"))
    model.cuda()
    gpu = H.flatten(H.hvp(model, batch, v, device="cuda"))
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-9, atol=1e-11)
