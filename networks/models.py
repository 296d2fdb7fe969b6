"""Model zoo behind one registry: ``build_model(name, in_shape=..., num_classes=..., masked=...)``.

Models are built on the ``meta`` device and then materialised, so building never draws from torch's
global generator: every weight comes from the ``generator`` passed in (dense models: the
``weight_init`` registry, default ``kaiming_normal``; biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``;
masked models: :func:`networks.convert.masked`).

Registered architectures (all layers without bias unless stated, ReLU activations unless an
``activation`` from :data:`ACTIVATIONS` is chosen):

* ``mlp``: flatten, then ``hidden`` widths (default ``(256, 256)``), then ``num_classes``; layers
  named ``fc1, fc2, ...``; ``bias=False`` by default; ``activation`` (default "relu").
* ``fc2``: 784-500-10 (``fc1``, ``fc2``), the target network of Pensia et al., "Optimal Lottery
  Tickets via SubsetSum", NeurIPS 2020 (arXiv 2006.07990), Sec. 5; the input size follows ``in_shape``.
* ``fc4``: four fully connected layers, ``in - 500 - 500 - 500 - num_classes``.
* ``conv2/conv4/conv6/conv8``: the Conv-2/4/6/8 of Frankle & Carbin (ICLR 2019, arXiv 1803.03635)
  as used by Edge-Popup (Ramanujan et al., CVPR 2020, repo ``models/frankle.py``): 3x3 convolutions,
  padding 1, widths 64, 64, 128, 128, 256, 256, 512, 512 (times ``width_mult``), max-pooling after
  each pair, then a 256-256-``num_classes`` classifier (plain linear layers here; the reference uses
  equivalent 1x1 convolutions). No BatchNorm, as in the reference. ``in_shape`` may be ``(C, H, W)``,
  ``(H, W)`` (one channel) or ``(L,)`` (viewed as a ``1 x L`` image). Each pooling halves every spatial
  side of length >= 2 and leaves sides of length 1 alone, so the nets run on 8x8 digits (8 -> 4 -> 2
  -> 1 -> 1) and on MNIST-1D sequences (1 x 40 -> 1 x 20 -> ...), not only 32x32 CIFAR.
* ``resnet18``: the CIFAR-style ResNet-18 (He et al., CVPR 2016; 3x3 stem, no initial max-pool,
  stages 64-128-256-512 of two basic blocks, global average pool, linear head); BatchNorm is
  non-affine when ``masked=True`` (Edge-Popup's ``NonAffineBatchNorm``), affine otherwise.
  ``width_mult`` scales every width. Inputs as for the conv nets.
* ``target-mlp`` / ``target-cnn``: the small trained targets of the constructions
  (``networks.construct.targets``), with biases: flatten-32-ReLU-classes and conv3x3(4, stride 2)-ReLU-linear.
* ``bn-cnn``: conv3x3(``channels[0]``, default 8)-BN-act-conv3x3(``channels[1]``, 16)-BN-act-avgpool2-
  linear, ``activation`` (default "relu"); the Taylor experiments' CNN (``sim.taylor``), smooth with a
  smooth activation (average pooling).
* ``conv1d``: a small 1-D CNN for MNIST-1D: three convolutions (``channels``, default 32 each,
  kernel 5, stride 2, padding 2), flatten, linear head. In the spirit of the CNN baseline of
  Greydanus (arXiv 2011.14439), not a copy of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from networks.convert import masked as to_masked
from networks.inits import init_weight
from networks.layers import NonAffineBatchNorm1d, NonAffineBatchNorm2d
from theory.registry import lookup, register
from theory.validate import check_int, check_range

__all__ = ["ACTIVATIONS", "MODELS", "build_model", "register_model"]

Builder = Callable[..., nn.Module]
MODELS: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator adding ``builder(in_shape, num_classes, *, masked, **kw) -> nn.Module`` to ``MODELS``.

    Builders create plain ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` layers (masking is applied by
    :func:`build_model`) and receive ``masked`` only to choose e.g. the BatchNorm flavour.
    """
    return lambda fn: register(MODELS, "model", name, fn)


# ------------------------------------------------------------------------------------------- MLPs
# Hidden activations by name. The smooth ones (GELU, softplus, tanh) give a loss that is twice
# differentiable in the weights (the Taylor experiments, sim.taylor); ReLU is the default everywhere else.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "gelu": nn.functional.gelu,
    "softplus": nn.functional.softplus,
    "tanh": torch.tanh,
}


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    return lookup(ACTIVATIONS, "activation", name)


class MLP(nn.Module):
    """Flatten, then fully connected layers ``fc1 .. fcL`` with ``activation`` (ReLU) between them."""

    def __init__(self, widths: Sequence[int], *, bias: bool = False, activation: str = "relu") -> None:
        super().__init__()
        self.depth = len(widths) - 1
        self.act = _activation(activation)
        for i in range(self.depth):
            setattr(self, f"fc{i + 1}", nn.Linear(widths[i], widths[i + 1], bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for i in range(self.depth):
            h = getattr(self, f"fc{i + 1}")(h)
            if i < self.depth - 1:
                h = self.act(h)
        return h


@register_model("mlp")
def _mlp(
    in_shape: tuple[int, ...],
    num_classes: int,
    *,
    masked: bool,
    hidden: Sequence[int] = (256, 256),
    bias: bool = False,
    activation: str = "relu",
) -> nn.Module:
    widths = [math.prod(in_shape), *(check_int("hidden", h, 1) for h in hidden), num_classes]
    return MLP(widths, bias=bias, activation=activation)


@register_model("fc2")
def _fc2(in_shape: tuple[int, ...], num_classes: int, *, masked: bool, hidden: int = 500) -> nn.Module:
    return MLP([math.prod(in_shape), check_int("hidden", hidden, 1), num_classes])


@register_model("fc4")
def _fc4(in_shape: tuple[int, ...], num_classes: int, *, masked: bool, hidden: int = 500) -> nn.Module:
    h = check_int("hidden", hidden, 1)
    return MLP([math.prod(in_shape), h, h, h, num_classes])


# ----------------------------------------------------------------------------------- image shapes
def _image_shape(in_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(C, H, W)`` for a conv net: (L,) -> (1, 1, L); (H, W) -> (1, H, W); (C, H, W) as is."""
    if len(in_shape) == 1:
        return (1, 1, in_shape[0])
    if len(in_shape) == 2:
        return (1, *in_shape)
    if len(in_shape) == 3:
        return tuple(in_shape)
    raise ValueError(f"in_shape must have 1, 2 or 3 dimensions for a conv net, got {in_shape}")


def _halve(side: int) -> tuple[int, int]:
    """(kernel, output side) of a 2x max-pool that leaves a side of length 1 alone."""
    return (2, side // 2) if side >= 2 else (1, side)


class FrankleConvNet(nn.Module):
    """Conv-2/4/6/8: pairs of 3x3 convolutions with max-pooling, then a 256-256-C classifier."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, widths: Sequence[int]) -> None:
        super().__init__()
        self.image_shape = _image_shape(in_shape)
        c, h, w = self.image_shape
        layers: list[nn.Module] = []
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.ReLU()]
            c = width
            if i % 2 == 1:
                (kh, h), (kw, w) = _halve(h), _halve(w)
                layers.append(nn.MaxPool2d((kh, kw)))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * h * w, 256, bias=False),
            nn.ReLU(),
            nn.Linear(256, 256, bias=False),
            nn.ReLU(),
            nn.Linear(256, num_classes, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x.reshape(x.shape[0], *self.image_shape)))


_FRANKLE_WIDTHS = (64, 64, 128, 128, 256, 256, 512, 512)


def _make_frankle(depth: int) -> Builder:
    def build(
        in_shape: tuple[int, ...], num_classes: int, *, masked: bool, width_mult: float = 1.0
    ) -> nn.Module:
        m = check_range("width_mult", width_mult, 0.0, None, lo_open=True)
        widths = [max(1, round(w * m)) for w in _FRANKLE_WIDTHS[:depth]]
        return FrankleConvNet(in_shape, num_classes, widths)

    build.__doc__ = f"Conv-{depth} (Frankle & Carbin 2019; Ramanujan et al. 2020)."
    return build


for _depth in (2, 4, 6, 8):
    register_model(f"conv{_depth}")(_make_frankle(_depth))


# ------------------------------------------------------------------ small targets (constructions)
@register_model("target-mlp")
def _target_mlp(in_shape: tuple[int, ...], num_classes: int, *, masked: bool, hidden: int = 32) -> nn.Module:
    """Flatten, Linear(d, hidden), ReLU, Linear(hidden, classes) with bias (a construction target)."""
    d = math.prod(in_shape)
    h = check_int("hidden", hidden, 1)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, h), nn.ReLU(), nn.Linear(h, num_classes))


@register_model("target-cnn")
def _target_cnn(in_shape: tuple[int, ...], num_classes: int, *, masked: bool, channels: int = 4) -> nn.Module:
    """Conv2d(C, channels, 3, stride 2, padding 1) with bias, ReLU, Flatten, Linear: a construction target."""
    c, h, w = _image_shape(in_shape)
    ch = check_int("channels", channels, 1)
    # Image inputs go straight in (the layout the constructions parse); others are viewed as (C, H, W).
    view = [] if len(in_shape) == 3 else [nn.Unflatten(1, (c, h, w))]
    return nn.Sequential(
        *view,
        nn.Conv2d(c, ch, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(ch * math.ceil(h / 2) * math.ceil(w / 2), num_classes),
    )


# ------------------------------------------------------------------ small BatchNorm CNN (Taylor)
class BNConvNet(nn.Module):
    """conv3x3(c1)-BN-act-conv3x3(c2)-BN-act-avgpool2-flatten-linear, no biases.

    Small on purpose (float64 double-backward of convolutions is slow on CPUs); average, not max,
    pooling and a smooth ``activation`` keep the loss smooth in the weights (the Taylor experiments).
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        *,
        channels: Sequence[int],
        bn: Callable[[int], nn.Module],
        activation: str,
    ) -> None:
        super().__init__()
        self.image_shape = _image_shape(in_shape)
        c, h, w = self.image_shape
        c1, c2 = channels
        self.act = _activation(activation)
        self.conv1 = nn.Conv2d(c, c1, 3, padding=1, bias=False)
        self.bn1 = bn(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False)
        self.bn2 = bn(c2)
        (kh, h), (kw, w) = _halve(h), _halve(w)
        self.pool = nn.AvgPool2d((kh, kw))
        self.fc = nn.Linear(c2 * h * w, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.image_shape)
        x = self.act(self.bn1(self.conv1(x)))
        x = self.act(self.bn2(self.conv2(x)))
        return self.fc(self.pool(x).flatten(1))


@register_model("bn-cnn")
def _bn_cnn(
    in_shape: tuple[int, ...],
    num_classes: int,
    *,
    masked: bool,
    channels: Sequence[int] = (8, 16),
    activation: str = "relu",
) -> nn.Module:
    """Two conv-BN layers, average pooling, linear head; non-affine BatchNorm when ``masked``."""
    if len(channels) != 2:
        raise ValueError(f"channels must hold two widths, got {tuple(channels)}")
    widths = [check_int("channels", c, 1) for c in channels]
    bn = NonAffineBatchNorm2d if masked else nn.BatchNorm2d
    return BNConvNet(in_shape, num_classes, channels=widths, bn=bn, activation=activation)


# ---------------------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, bn: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = bn(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = bn(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), bn(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18 (3x3 stem, four stages of two basic blocks)."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        *,
        bn: Callable[[int], nn.Module],
        width_mult: float,
    ) -> None:
        super().__init__()
        self.image_shape = _image_shape(in_shape)
        widths = [max(1, round(w * width_mult)) for w in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(self.image_shape[0], widths[0], 3, padding=1, bias=False)
        self.bn1 = bn(widths[0])
        blocks, c = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(2):
                blocks.append(BasicBlock(c, w, 2 if (i > 0 and j == 0) else 1, bn))
                c = w
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.image_shape)
        out = self.layers(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(out.mean(dim=(2, 3)))


@register_model("resnet18")
def _resnet18(
    in_shape: tuple[int, ...], num_classes: int, *, masked: bool, width_mult: float = 1.0
) -> nn.Module:
    m = check_range("width_mult", width_mult, 0.0, None, lo_open=True)
    bn = NonAffineBatchNorm2d if masked else nn.BatchNorm2d
    return ResNet18(in_shape, num_classes, bn=bn, width_mult=m)


# ---------------------------------------------------------------------------------------- conv1d
class Conv1dNet(nn.Module):
    """Strided 1-D convolutions with ReLU (and optionally BatchNorm before each ReLU), then a linear head."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        channels: Sequence[int],
        bn: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if len(in_shape) == 1:
            self.seq_shape = (1, in_shape[0])
        elif len(in_shape) == 2:
            self.seq_shape = tuple(in_shape)
        else:
            self.seq_shape = (1, math.prod(in_shape))
        c, length = self.seq_shape
        layers: list[nn.Module] = []
        for ch in channels:
            layers.append(nn.Conv1d(c, ch, 5, stride=2, padding=2, bias=False))
            if bn is not None:
                layers.append(bn(ch))
            layers.append(nn.ReLU())
            c, length = ch, (length - 1) // 2 + 1
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c * length, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x.reshape(x.shape[0], *self.seq_shape)).flatten(1))


@register_model("conv1d")
def _conv1d(
    in_shape: tuple[int, ...], num_classes: int, *, masked: bool, channels: Sequence[int] = (32, 32, 32)
) -> nn.Module:
    return Conv1dNet(in_shape, num_classes, [check_int("channels", c, 1) for c in channels])


@register_model("conv1d-wide")
def _conv1d_wide(
    in_shape: tuple[int, ...],
    num_classes: int,
    *,
    masked: bool,
    channels: Sequence[int] = (128, 128, 128, 128),
) -> nn.Module:
    """The CPU test bed's MNIST-1D conv net: four wide strided convolutions with BatchNorm.

    Wide (overparameterised) as the references' search spaces are, and with BatchNorm as in their
    ResNets; masked models get Edge-Popup's non-affine BatchNorm (no BN parameter trained), dense ones the
    ordinary affine one.
    """
    bn = NonAffineBatchNorm1d if masked else nn.BatchNorm1d
    return Conv1dNet(in_shape, num_classes, [check_int("channels", c, 1) for c in channels], bn=bn)


# ----------------------------------------------------------------------------------------- build
def _materialise(
    model: nn.Module, *, device: torch.device, generator: torch.Generator, weight_init: str, layers: bool
) -> None:
    """Allocate a meta-device model on ``device`` and initialise every tensor explicitly.

    With ``layers=False`` linear/conv layers are left uninitialised: they are about to be replaced by
    masked layers, which draw their own weights.
    """
    model.to_empty(device=device)
    for mod in model.modules():
        if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            if not layers:
                continue
            init_weight(mod.weight, weight_init, generator=generator)
            if mod.bias is not None:
                bound = 1.0 / math.sqrt(mod.weight[0].numel())
                with torch.no_grad():
                    mod.bias.copy_(torch.rand(mod.bias.shape, generator=generator, device=generator.device))
                    mod.bias.mul_(2 * bound).sub_(bound)
        elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.reset_parameters()  # ones/zeros and fresh running statistics: no randomness
        elif any(True for _ in mod.parameters(recurse=False)) or any(
            True for _ in mod.buffers(recurse=False)
        ):
            raise ValueError(f"do not know how to initialise {type(mod).__name__}; extend _materialise")


def build_model(
    name: str,
    *,
    in_shape: Sequence[int],
    num_classes: int,
    masked: bool = False,
    density: float = 1.0,
    weight_init: str = "kaiming_normal",
    score_init: str = "kaiming_uniform_a_sqrt5",
    mask_mode: str = "scores",
    rank_by: str = "abs",
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    **kw: Any,
) -> nn.Module:
    """Build a registered model, dense or masked, with all randomness from ``generator``.

    Args:
        name: A key of ``MODELS``.
        in_shape: Shape of one input (e.g. ``Dataset.in_shape``).
        num_classes: Output size.
        masked: Convert every linear/conv layer to a masked layer (:func:`networks.convert.masked`).
        density: Fraction of weights kept per masked layer, in ``(0, 1]``.
        weight_init: A ``networks.inits.WEIGHT_INITS`` name (dense and masked models).
        score_init: A ``networks.inits.SCORE_INITS`` name (masked models).
        mask_mode: "scores" (Edge-Popup) or "fixed" (RigL).
        rank_by: "abs" or "raw" score ranking.
        generator: Source of randomness; None means ``torch.Generator().manual_seed(0)``.
        device: Where the model lives (resolved by ``networks.devices.resolve_device``).
        **kw: Architecture options (``hidden``, ``width_mult``, ``channels``, ``bias``...).

    Returns:
        The model, in train mode.

    Raises:
        ValueError: On an unknown name (listing the valid ones) or invalid options.
    """
    from networks.devices import resolve_device

    builder = lookup(MODELS, "model", name)
    in_shape = tuple(check_int("in_shape", s, 1) for s in in_shape)
    if not in_shape:
        raise ValueError("in_shape must have at least one dimension")
    num_classes = check_int("num_classes", num_classes, 1)
    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(0) if generator is None else generator
    with torch.device("meta"):
        model = builder(in_shape, num_classes, masked=bool(masked), **kw)
    _materialise(model, device=dev, generator=gen, weight_init=weight_init, layers=not masked)
    if masked:
        model = to_masked(
            model,
            density=density,
            mask_mode=mask_mode,
            weight_init=weight_init,
            score_init=score_init,
            rank_by=rank_by,
            generator=gen,
            inplace=True,
        )
    return model.train()
