"""Masked layers for strong lottery tickets (Edge-Popup) and dynamic sparse training (RigL).

A masked layer holds a random weight tensor ``weight``, a score tensor ``scores`` of the same shape
and one bool buffer ``weight_mask``; its forward pass uses the *effective weight* ``weight * mask``.
Two modes:

``mask_mode="scores"`` (Edge-Popup; Ramanujan et al., CVPR 2020, arXiv 1911.13299, Sec. 3 and repo
``allenai/hidden-networks`` ``utils/conv_type.py``)
    The mask is recomputed at every forward pass as the exact per-layer top-k of the ranking key
    (``|scores|`` by default, raw ``scores`` with ``rank_by="raw"`` as in IteRand), with
    ``k = kept_count(numel, density)``. Only ``scores`` is trainable. The mask's gradient is passed
    straight through to the key, so ``dL/dkey = dL/dmask = (dL/dW_eff) * weight``; through ``|scores|``
    this becomes ``dL/dscores = sign(scores) * (dL/dW_eff) * weight`` (exactly what the reference code
    computes, since it applies the straight-through function to ``scores.abs()``; the sign keeps the
    update moving ``|s|`` in the loss-decreasing direction). ``weight_mask`` then records the mask of
    the latest forward pass (written in place), so checkpoints carry the ticket.
``mask_mode="fixed"`` (RigL; Evci et al., ICML 2020, arXiv 1911.11134)
    ``weight_mask`` is the mask, changed only by explicit calls (:meth:`MaskedLayer.set_mask` or an
    in-place write); ``weight`` (and ``bias``) are trainable and their gradient is zero where the
    mask is 0. The initial mask is a uniformly random subset of exactly ``kept_count`` weights.

Why ``weight`` is a ``requires_grad=False`` *parameter* rather than a buffer: the same layer trains it
in "fixed" mode and freezes it in "scores" mode, so switching mode is a flag flip; it appears under
``named_parameters`` for ``torch.func.functional_call``; and the state_dict key is ``weight`` either way.
Optimisers should be given ``[p for p in model.parameters() if p.requires_grad]``.

Cost of the "scores" mask: each layer keeps a :class:`WarmTopk` cache, so a training forward costs a
few vectorised passes over the scores instead of a full selection (bit-identical result; see the
class for the algorithm and the CUDA policy), and forwards with unchanged scores (evaluation) reuse
the previous mask. Set ``layer.warm_topk = False`` to always run the cold
:func:`networks.masks.topk_mask`. Every selection (counts, ties) lives in :mod:`networks.masks`.

RigL needs the *dense* gradient ``dL/d(W*M)`` also where ``M = 0``: set ``capture_dense_grad = True``
on a layer (or use :func:`networks.convert.set_dense_grad_capture`) and after ``backward()`` the
layer's ``dense_grad`` holds that gradient (from the latest backward through the latest forward).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from networks.inits import init_scores, init_weight
from networks.masks import RANK_BY, WarmTopk, check_density, topk_mask
from theory.validate import check_choice

__all__ = [
    "MASK_MODES",
    "MaskedConv1d",
    "MaskedConv2d",
    "MaskedLayer",
    "MaskedLinear",
    "NonAffineBatchNorm1d",
    "NonAffineBatchNorm2d",
]

MASK_MODES = ("scores", "fixed")


def _score_grad(grad: torch.Tensor, weight: torch.Tensor, scores: torch.Tensor, by_abs: bool) -> torch.Tensor:
    """Edge-Popup's straight-through score gradient: ``dL/dW_eff * weight``, times ``sgn(scores)`` by |s|."""
    g = grad * weight
    return g.mul_(torch.sgn(scores)) if by_abs else g


class _EdgePopupWeight(torch.autograd.Function):
    """``weight * mask`` with Edge-Popup's straight-through score gradient, fused into one node.

    Forward: ``weight * mask``. Backward: ``dL/dscores = dL/dW_eff * weight`` (the straight-through
    estimator passes ``dL/dmask`` to the ranking key unchanged), times ``sign(scores)`` when the key
    is ``|scores|`` (``torch.abs``'s derivative, 0 at 0); ``dL/dweight = dL/dW_eff * mask`` if asked.
    The same gradients as ``weight * STE(|scores|, mask)`` through autograd, with fewer full-size
    temporaries (each costs page faults on CPU).
    """

    @staticmethod
    def forward(ctx, scores: torch.Tensor, weight: torch.Tensor, mask: torch.Tensor, by_abs: bool):
        ctx.by_abs = by_abs
        # The mask is needed only for the weight's gradient ("scores" mode never trains the weight), so
        # it is saved only then: a saved mask would also pin the selection's buffer.
        ctx.save_for_backward(scores, weight, mask if ctx.needs_input_grad[1] else None)
        # Through uint8: torch's CPU bool -> float cast is ~20x slower than uint8 -> float (2.x).
        return mask.view(torch.uint8).to(weight.dtype).mul_(weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        scores, weight, mask = ctx.saved_tensors
        g_scores = g_weight = None
        if ctx.needs_input_grad[0]:
            g_scores = _score_grad(grad, weight, scores, ctx.by_abs)
        if ctx.needs_input_grad[1]:
            g_weight = grad * mask.view(torch.uint8).to(grad.dtype)
        return g_scores, g_weight, None, None


class MaskedLayer(nn.Module):
    """Common machinery of :class:`MaskedLinear`, :class:`MaskedConv1d` and :class:`MaskedConv2d`.

    Attributes:
        weight: The random weight (``requires_grad`` only in "fixed" mode).
        bias: Optional bias, unmasked (frozen in "scores" mode, trainable in "fixed" mode), or None.
        scores: The score tensor (trainable only in "scores" mode).
        weight_mask: Bool buffer, the mask (see the module docstring for its meaning per mode).
        capture_dense_grad: When True, ``dense_grad`` receives ``dL/d(weight * mask)`` at backward.
        dense_grad: The captured dense gradient, or None.
        warm_topk: When True (the default), "scores"-mode masks come from a per-layer
            :class:`WarmTopk` (bit-identical to :func:`topk_mask`, much cheaper on CPU when the scores
            change little between calls); set False to always run the cold selection.
    """

    warm_topk: bool = True

    weight: nn.Parameter
    scores: nn.Parameter
    weight_mask: torch.Tensor

    def _setup(
        self,
        weight_shape: tuple[int, ...],
        bias: bool,
        *,
        density: float,
        mask_mode: str,
        weight_init: str,
        score_init: str,
        rank_by: str,
        generator: torch.Generator | None,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        check_choice("mask_mode", mask_mode, MASK_MODES)
        check_choice("rank_by", rank_by, RANK_BY)
        self._density = check_density(density)
        self.rank_by = rank_by
        gen = torch.default_generator if generator is None else generator
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(weight_shape, **factory), requires_grad=False)
        self.scores = nn.Parameter(torch.empty(weight_shape, **factory), requires_grad=False)
        init_weight(self.weight, weight_init, generator=gen, density=self._density)
        init_scores(self.scores, score_init, generator=gen, density=self._density)
        if bias:
            self.bias = nn.Parameter(torch.empty(weight_shape[0], **factory), requires_grad=False)
            bound = 1.0 / math.sqrt(math.prod(weight_shape[1:]))
            with torch.no_grad():
                self.bias.copy_(
                    torch.rand(weight_shape[0], generator=gen, device=gen.device) * 2 * bound - bound
                )
        else:
            self.register_parameter("bias", None)
        # Warm-started exact top-k (a cache only: never in the state_dict, reset when moved/loaded).
        self._topk = WarmTopk()
        # The initial mask: top-k of |random scores|, i.e. a uniformly random exact-count subset.
        self.register_buffer("weight_mask", topk_mask(self._rank_key(), self._density))
        self.capture_dense_grad = False
        self.dense_grad: torch.Tensor | None = None
        self.mask_mode = mask_mode
        self.set_mask_mode(mask_mode)

    # ----------------------------------------------------------------------------------- settings
    @property
    def density(self) -> float:
        """Target fraction of weights kept, in ``(0, 1]``; settable (e.g. per iEP cycle).

        In "scores" mode the next forward keeps exactly ``kept_count(numel, density)`` weights. In
        "fixed" mode the mask is whatever ``weight_mask`` holds; setting the density does not change it.
        """
        return self._density

    @density.setter
    def density(self, value: float) -> None:
        self._density = check_density(value)

    @property
    def sparsity(self) -> float:
        """Fraction of weights removed, ``1 - density``."""
        return 1.0 - self._density

    def set_mask_mode(self, mode: Literal["scores", "fixed"]) -> None:
        """Switch mode; "scores" -> "fixed" freezes the current top-k mask into ``weight_mask``.

        Raises:
            ValueError: If ``mode`` is not "scores" or "fixed".
        """
        check_choice("mask_mode", mode, MASK_MODES)
        if mode == "fixed" and self.mask_mode == "scores":
            with torch.no_grad():
                self.weight_mask.copy_(self._scores_mask())
        self.mask_mode = mode
        fixed = mode == "fixed"
        self.weight.requires_grad_(fixed)
        if self.bias is not None:
            self.bias.requires_grad_(fixed)
        self.scores.requires_grad_(not fixed)

    def set_mask(self, mask: torch.Tensor) -> None:
        """Overwrite ``weight_mask`` in place (meaningful in "fixed" mode).

        Raises:
            ValueError: If ``mask`` is not a bool tensor of the weight's shape.
        """
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != self.weight.shape:
            raise ValueError(
                f"mask must be a bool tensor of shape {tuple(self.weight.shape)}, got "
                f"{getattr(mask, 'dtype', type(mask))} {tuple(getattr(mask, 'shape', ()))}"
            )
        with torch.no_grad():
            self.weight_mask.copy_(mask)

    # ------------------------------------------------------------------------------------ masking
    def _rank_key(self) -> torch.Tensor:
        return self.scores.abs() if self.rank_by == "abs" else self.scores

    def _scores_mask(self) -> torch.Tensor:
        """``topk_mask`` of the rank key: warm-started when ``warm_topk`` is set (same result)."""
        if not self.warm_topk:
            return topk_mask(self._rank_key().detach(), self._density)
        return self._topk(self.scores, self._density, rank_by=self.rank_by)

    def reset_mask_cache(self) -> None:
        """Drop the warm-start cache of the top-k mask (never needed for correctness; frees memory)."""
        self._topk.reset()

    def _apply(self, fn, *args, **kwargs):
        # Moving or casting replaces the tensors: start the cache afresh.
        self._topk.reset()
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._topk.reset()
        super()._load_from_state_dict(*args, **kwargs)

    def mask(self) -> torch.Tensor:
        """The bool mask the next forward pass uses (a fresh tensor in "scores" mode)."""
        if self.mask_mode == "fixed":
            return self.weight_mask
        return self._scores_mask().clone()

    def effective_weight(self) -> torch.Tensor:
        """``weight * mask``, differentiable w.r.t. ``scores`` (straight-through) or ``weight``."""
        if self.mask_mode == "fixed":
            return self.weight * self.weight_mask
        mask = self._scores_mask()
        self.weight_mask.copy_(mask)  # a buffer without grad: no graph, no need for no_grad()
        return _EdgePopupWeight.apply(self.scores, self.weight, mask, self.rank_by == "abs")

    def _store_dense_grad(self, grad: torch.Tensor) -> None:
        self.dense_grad = grad.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer with the effective weight."""
        w_eff = self.effective_weight()
        if self.capture_dense_grad and w_eff.requires_grad:
            w_eff.register_hook(self._store_dense_grad)
        return self.forward_with_weight(x, w_eff)

    def forward_with_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Apply the layer's operation with an explicit (effective) weight and the layer's bias.

        Lets Hessian-vector products differentiate w.r.t. the effective weight directly, keeping the
        straight-through mask function out of the graph.
        """
        raise NotImplementedError

    def extra_repr(self) -> str:  # noqa: D102
        return f"density={self._density:g}, mask_mode={self.mask_mode}, rank_by={self.rank_by}"


class MaskedLinear(MaskedLayer):
    """A linear layer ``y = x (W*M)^T + b`` with a random weight and a mask.

    Args:
        in_features: Input size.
        out_features: Output size.
        bias: Add a (random, unmasked) bias; off by default as in Edge-Popup.
        density: Fraction of weights kept, in ``(0, 1]``.
        mask_mode: "scores" (Edge-Popup) or "fixed" (RigL); see the module docstring.
        weight_init: A name in ``networks.inits.WEIGHT_INITS``.
        score_init: A name in ``networks.inits.SCORE_INITS``.
        rank_by: Rank ``|scores|`` ("abs", Edge-Popup) or raw ``scores`` ("raw", IteRand).
        generator: Source of randomness; None uses torch's default generator (not reproducible
            unless seeded globally; the toolkit always passes one).
        device: Where the tensors live.
        dtype: Floating dtype of weight and scores.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = False,
        *,
        density: float = 1.0,
        mask_mode: Literal["scores", "fixed"] = "scores",
        weight_init: str = "kaiming_normal",
        score_init: str = "kaiming_uniform_a_sqrt5",
        rank_by: Literal["abs", "raw"] = "abs",
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self._setup(
            (self.out_features, self.in_features),
            bias,
            density=density,
            mask_mode=mask_mode,
            weight_init=weight_init,
            score_init=score_init,
            rank_by=rank_by,
            generator=generator,
            device=device,
            dtype=dtype,
        )

    def forward_with_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return F.linear(x, weight, self.bias)

    def extra_repr(self) -> str:  # noqa: D102
        return f"in_features={self.in_features}, out_features={self.out_features}, " + super().extra_repr()


class _MaskedConvNd(MaskedLayer):
    _dims = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = False,
        *,
        density: float = 1.0,
        mask_mode: Literal["scores", "fixed"] = "scores",
        weight_init: str = "kaiming_normal",
        score_init: str = "kaiming_uniform_a_sqrt5",
        rank_by: Literal["abs", "raw"] = "abs",
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()

        def tup(v: int | tuple[int, ...]) -> tuple[int, ...]:
            return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * self._dims

        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels and out_channels must be divisible by groups={groups}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size, self.stride = tup(kernel_size), tup(stride)
        self.padding, self.dilation = tup(padding), tup(dilation)
        self._setup(
            (self.out_channels, self.in_channels // self.groups, *self.kernel_size),
            bias,
            density=density,
            mask_mode=mask_mode,
            weight_init=weight_init,
            score_init=score_init,
            rank_by=rank_by,
            generator=generator,
            device=device,
            dtype=dtype,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, " + super().extra_repr()
        )


class MaskedConv2d(_MaskedConvNd):
    """A 2-D convolution with a random weight and a mask.

    Arguments as ``nn.Conv2d`` plus the keyword-only ones of :class:`MaskedLinear`; ``bias`` defaults
    to False as in Edge-Popup.
    """

    _dims = 2

    def forward_with_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class MaskedConv1d(_MaskedConvNd):
    """A 1-D convolution with a random weight and a mask.

    Arguments as ``nn.Conv1d`` plus the keyword-only ones of :class:`MaskedLinear`; ``bias`` defaults
    to False.
    """

    _dims = 1

    def forward_with_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return F.conv1d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class NonAffineBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm without learned scale/shift (``affine=False``); running statistics are tracked.

    Edge-Popup's ``NonAffineBatchNorm`` (``utils/bn_type.py``): no BN parameter is ever trained.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine=False, track_running_stats=True, device=device, dtype=dtype
        )


class NonAffineBatchNorm2d(nn.BatchNorm2d):
    """2-D BatchNorm without learned scale/shift (``affine=False``); running statistics are tracked."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine=False, track_running_stats=True, device=device, dtype=dtype
        )
