"""Registries of weight and score initialisations for masked (and dense) layers.

Every initialiser fills a tensor in place and takes an explicit ``torch.Generator``. The numbers are
drawn on the generator's device (a CPU generator by default) and then copied to the tensor's device,
so a given seed gives the same network on CPU and on CUDA.

Fan-in follows PyTorch's convention: ``weight.shape[1] * prod(weight.shape[2:])`` (for a grouped
convolution ``shape[1]`` is already ``in_channels / groups``). ``gain = sqrt(2)`` (ReLU) throughout.

Weight initialisations (Ramanujan et al., "What's Hidden in a Randomly Weighted Neural Network?",
CVPR 2020, arXiv 1911.13299, Sec. 4 and repo ``allenai/hidden-networks`` ``utils/builder.py``):

* ``kaiming_normal``: ``N(0, std^2)``, ``std = gain / sqrt(fan_in)``.
* ``signed_kaiming_constant``: ``±std`` with a fair random sign.
* ``scaled_kaiming_normal`` / ``scaled_signed_kaiming_constant``: the same with ``std / sqrt(density)``,
  i.e. ``gain / sqrt(density * fan_in)``. This is the rescaling the paper intends; the reference code's
  ``fan * (1 - prune_rate)`` only agrees with it at density 0.5 (hidden-networks issue #9).
* ``kaiming_uniform``: ``U(-b, b)``, ``b = gain * sqrt(3 / fan_in)`` (the IteRand default; Chijiwa et
  al., NeurIPS 2021, arXiv 2106.09269, repo ``dchiji-ntt/iterand``).
* ``uniform``: ``U(low, high)`` (defaults ``[-1, 1]``), the candidate distribution of the SubsetSum
  constructions (Pensia et al., NeurIPS 2020, arXiv 2006.07990, Sec. 3).

Score initialisations:

* ``kaiming_uniform_a_sqrt5``: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, PyTorch's default layer init
  (``kaiming_uniform_(a=sqrt(5))``), which Edge-Popup uses for scores.
* ``kaiming_uniform_relu``: ``U(-sqrt(6/fan_in), sqrt(6/fan_in))``, IteRand's score init
  (``init_scale_score = 1``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from theory.registry import lookup, register
from theory.validate import check_range

__all__ = [
    "RELU_GAIN",
    "SCORE_INITS",
    "WEIGHT_INITS",
    "fan_in",
    "get_score_init",
    "get_weight_init",
    "init_scores",
    "init_weight",
    "register_score_init",
    "register_weight_init",
]

RELU_GAIN = math.sqrt(2.0)

Init = Callable[..., torch.Tensor]
WEIGHT_INITS: dict[str, Init] = {}
SCORE_INITS: dict[str, Init] = {}


def register_weight_init(name: str) -> Callable[[Init], Init]:
    """Decorator adding ``fn(tensor, *, generator, density, **kw) -> tensor`` to ``WEIGHT_INITS``."""
    return lambda fn: register(WEIGHT_INITS, "weight init", name, fn)


def register_score_init(name: str) -> Callable[[Init], Init]:
    """Decorator adding ``fn(tensor, *, generator, density, **kw) -> tensor`` to ``SCORE_INITS``."""
    return lambda fn: register(SCORE_INITS, "score init", name, fn)


def get_weight_init(name: str) -> Init:
    """Look up a weight initialiser; the error lists the registered names."""
    return lookup(WEIGHT_INITS, "weight init", name)


def get_score_init(name: str) -> Init:
    """Look up a score initialiser; the error lists the registered names."""
    return lookup(SCORE_INITS, "score init", name)


def fan_in(tensor: torch.Tensor) -> int:
    """Fan-in of a weight tensor, PyTorch's convention (``shape[1] * prod(shape[2:])``).

    Raises:
        ValueError: If the tensor has fewer than two dimensions.
    """
    if tensor.dim() < 2:
        raise ValueError(f"fan_in needs a weight tensor with >= 2 dims, got shape {tuple(tensor.shape)}")
    return int(tensor.shape[1] * math.prod(tensor.shape[2:]))


def _fill(
    tensor: torch.Tensor, generator: torch.Generator, draw: Callable[..., torch.Tensor]
) -> torch.Tensor:
    """Draw ``draw(shape, generator=..., device=..., dtype=...)`` on the generator's device, copy in."""
    values = draw(tuple(tensor.shape), generator=generator, device=generator.device, dtype=torch.float32)
    with torch.no_grad():
        tensor.copy_(values)
    return tensor


def _check_density(density: float) -> float:
    return check_range("density", density, 0.0, 1.0, lo_open=True)


def _normal(std: float) -> Callable[..., torch.Tensor]:
    return lambda shape, **kw: torch.randn(shape, **kw) * std


def _uniform(low: float, high: float) -> Callable[..., torch.Tensor]:
    return lambda shape, **kw: torch.rand(shape, **kw) * (high - low) + low


def _signed_constant(value: float) -> Callable[..., torch.Tensor]:
    # A fair coin per weight: randint gives exact 50/50 without comparing floats.
    return lambda shape, **kw: (torch.randint(0, 2, shape, **kw) * 2 - 1) * value


@register_weight_init("kaiming_normal")
def kaiming_normal(tensor: torch.Tensor, *, generator: torch.Generator, density: float = 1.0) -> torch.Tensor:
    """``N(0, 2 / fan_in)`` (density is accepted and ignored)."""
    _check_density(density)
    return _fill(tensor, generator, _normal(RELU_GAIN / math.sqrt(fan_in(tensor))))


@register_weight_init("scaled_kaiming_normal")
def scaled_kaiming_normal(
    tensor: torch.Tensor, *, generator: torch.Generator, density: float = 1.0
) -> torch.Tensor:
    """``N(0, 2 / (density * fan_in))``: kaiming normal rescaled for the kept fraction."""
    d = _check_density(density)
    return _fill(tensor, generator, _normal(RELU_GAIN / math.sqrt(d * fan_in(tensor))))


@register_weight_init("signed_kaiming_constant")
def signed_kaiming_constant(
    tensor: torch.Tensor, *, generator: torch.Generator, density: float = 1.0
) -> torch.Tensor:
    """``±sqrt(2 / fan_in)`` with a fair random sign (density accepted and ignored)."""
    _check_density(density)
    return _fill(tensor, generator, _signed_constant(RELU_GAIN / math.sqrt(fan_in(tensor))))


@register_weight_init("scaled_signed_kaiming_constant")
def scaled_signed_kaiming_constant(
    tensor: torch.Tensor, *, generator: torch.Generator, density: float = 1.0
) -> torch.Tensor:
    """``±sqrt(2 / (density * fan_in))`` with a fair random sign."""
    d = _check_density(density)
    return _fill(tensor, generator, _signed_constant(RELU_GAIN / math.sqrt(d * fan_in(tensor))))


@register_weight_init("kaiming_uniform")
def kaiming_uniform(
    tensor: torch.Tensor, *, generator: torch.Generator, density: float = 1.0
) -> torch.Tensor:
    """``U(-b, b)`` with ``b = sqrt(2) * sqrt(3 / fan_in)`` (variance ``2 / fan_in``)."""
    _check_density(density)
    bound = RELU_GAIN * math.sqrt(3.0 / fan_in(tensor))
    return _fill(tensor, generator, _uniform(-bound, bound))


@register_weight_init("uniform")
def uniform(
    tensor: torch.Tensor,
    *,
    generator: torch.Generator,
    density: float = 1.0,
    low: float = -1.0,
    high: float = 1.0,
) -> torch.Tensor:
    """``U(low, high)``, the SubsetSum candidate distribution (density accepted and ignored).

    Raises:
        ValueError: If ``low >= high``.
    """
    _check_density(density)
    low = check_range("low", low)
    high = check_range("high", high)
    if not low < high:
        raise ValueError(f"uniform init needs low < high, got low={low}, high={high}")
    return _fill(tensor, generator, _uniform(low, high))


@register_score_init("kaiming_uniform_a_sqrt5")
def kaiming_uniform_a_sqrt5(
    tensor: torch.Tensor, *, generator: torch.Generator, density: float = 1.0
) -> torch.Tensor:
    """``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``: Edge-Popup's score init (PyTorch's default layer init)."""
    _check_density(density)
    bound = 1.0 / math.sqrt(fan_in(tensor))
    return _fill(tensor, generator, _uniform(-bound, bound))


# The same law as a weight init: PyTorch's default layer init (the small construction targets).
register_weight_init("kaiming_uniform_a_sqrt5")(kaiming_uniform_a_sqrt5)


@register_score_init("kaiming_uniform_relu")
def kaiming_uniform_relu(
    tensor: torch.Tensor, *, generator: torch.Generator, density: float = 1.0
) -> torch.Tensor:
    """``U(-sqrt(6/fan_in), sqrt(6/fan_in))``: IteRand's score init."""
    return kaiming_uniform(tensor, generator=generator, density=density)


def init_weight(
    tensor: torch.Tensor, name: str, *, generator: torch.Generator, density: float = 1.0, **kw: float
) -> torch.Tensor:
    """Fill ``tensor`` in place with the registered weight init ``name``."""
    return get_weight_init(name)(tensor, generator=generator, density=density, **kw)


def init_scores(
    tensor: torch.Tensor, name: str, *, generator: torch.Generator, density: float = 1.0, **kw: float
) -> torch.Tensor:
    """Fill ``tensor`` in place with the registered score init ``name``."""
    return get_score_init(name)(tensor, generator=generator, density=density, **kw)
