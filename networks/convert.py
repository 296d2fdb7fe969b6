"""Model conversion between dense and masked networks, export, and whole-model mask queries.

* :func:`masked` turns a model's ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` layers into
  :mod:`networks.layers` masked layers (a new model; the input is left untouched).
* :func:`export_dense` turns them back into ordinary layers whose weights are the effective weights
  (zeros where pruned), so the state_dict loads into the unmasked architecture
  (``build_model(name, masked=False)``); non-affine BatchNorm becomes affine BatchNorm with scale 1
  and shift 0, which computes the same function.
* :func:`to_torch_prune` gives the same model in ``torch.nn.utils.prune`` form (``weight_orig`` plus a
  ``weight_mask`` buffer), for tools that understand that format.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import torch
from torch import nn
from torch.nn.utils import prune

from networks.layers import (
    MaskedConv1d,
    MaskedConv2d,
    MaskedLayer,
    MaskedLinear,
    NonAffineBatchNorm1d,
    NonAffineBatchNorm2d,
)
from networks.masks import check_density, masked_layers, topk_mask
from theory.validate import check_choice

__all__ = [
    "compute_mask",
    "export_dense",
    "masked",
    "model_density",
    "set_dense_grad_capture",
    "set_density",
    "to_torch_prune",
]


def compute_mask(scores: torch.Tensor, density: float, *, rank_by: str = "abs") -> torch.Tensor:
    """The Edge-Popup mask: exact top-k of ``|scores|`` (or of raw ``scores`` with ``rank_by="raw"``).

    See :func:`networks.masks.topk_mask` for the count and the tie rule.
    """
    check_choice("rank_by", rank_by, ("abs", "raw"))
    return topk_mask(scores.detach().abs() if rank_by == "abs" else scores.detach(), density)


def model_density(model: nn.Module) -> float:
    """Kept fraction over all masked layers together: ``sum(mask) / sum(numel)``.

    Raises:
        ValueError: If the model has no masked layers.
    """
    layers = list(masked_layers(model).items())
    if not layers:
        raise ValueError("model has no masked layers")
    kept = sum(int(m.mask().sum()) for _, m in layers)
    return kept / sum(m.weight.numel() for _, m in layers)


def set_density(model: nn.Module, density: float | Mapping[str, float]) -> None:
    """Set the density of every masked layer (a float) or of named layers (a mapping name -> density).

    Raises:
        ValueError: On an invalid density or an unknown layer name (the message lists the names).
    """
    layers = masked_layers(model)
    per_layer = _per_layer(density, layers)
    for name, d in per_layer.items():
        layers[name].density = d


def set_dense_grad_capture(model: nn.Module, on: bool = True) -> None:
    """Turn dense-gradient capture (``layer.dense_grad`` = dL/d(W*M) after backward) on or off."""
    for m in masked_layers(model).values():
        m.capture_dense_grad = bool(on)
        if not on:
            m.dense_grad = None


def _per_layer(density: float | Mapping[str, float], names: Iterable[str]) -> dict[str, float]:
    names = list(names)
    if isinstance(density, Mapping):
        unknown = sorted(set(density) - set(names))
        if unknown:
            raise ValueError(f"density given for unknown layers {unknown}; layers: {names}")
        return {n: check_density(density[n]) for n in names if n in density}
    d = check_density(density)
    return dict.fromkeys(names, d)


_CONVERTIBLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


def masked(
    model: nn.Module,
    *,
    density: float | Mapping[str, float],
    mask_mode: str = "scores",
    weight_init: str | None = "kaiming_normal",
    score_init: str = "kaiming_uniform_a_sqrt5",
    rank_by: str = "abs",
    generator: torch.Generator | None = None,
    skip: Iterable[str] = (),
    inplace: bool = False,
) -> nn.Module:
    """Replace ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` layers by masked ones.

    Layers are converted in ``named_modules`` order, each drawing its weight, then its scores (then
    its bias, when ``weight_init`` is not None), from ``generator``, so a seed fixes the network.

    Args:
        model: The model (not modified unless ``inplace``).
        density: One density for every converted layer, or a mapping ``name -> density`` (layers
            not in the mapping stay dense, i.e. are not converted).
        mask_mode: "scores" (Edge-Popup) or "fixed" (RigL). In "scores" mode every parameter that
            is not a score (remaining dense layers, BatchNorm affine parameters) is frozen, as in
            Edge-Popup, so ``[p for p in model.parameters() if p.requires_grad]`` are the scores.
        weight_init: A ``networks.inits.WEIGHT_INITS`` name for fresh random weights, or None to
            keep the model's existing weights and biases (e.g. to mask a trained network).
        score_init: A ``networks.inits.SCORE_INITS`` name.
        rank_by: "abs" (Edge-Popup) or "raw" (IteRand).
        generator: Source of randomness (None: torch's default generator).
        skip: Names of layers to leave dense (e.g. the first layer, as RigL does).
        inplace: Convert ``model`` itself instead of a deep copy.

    Returns:
        The converted model.

    Raises:
        ValueError: On invalid options, unknown layer names, or a model with nothing to convert.
    """
    check_choice("mask_mode", mask_mode, ("scores", "fixed"))
    out = model if inplace else copy.deepcopy(model)
    skip = set(skip)
    candidates = [n for n, m in out.named_modules() if isinstance(m, _CONVERTIBLE) and n not in skip]
    unknown_skip = sorted(skip - {n for n, m in out.named_modules() if isinstance(m, _CONVERTIBLE)})
    if unknown_skip:
        raise ValueError(f"skip names unknown layers {unknown_skip}; convertible layers: {candidates}")
    per_layer = _per_layer(density, candidates)
    if not per_layer:
        raise ValueError("nothing to convert: the model has no nn.Linear/nn.Conv1d/nn.Conv2d layers left")
    for name in per_layer:
        old = out.get_submodule(name)
        new = _masked_like(
            old,
            density=per_layer[name],
            mask_mode=mask_mode,
            weight_init=weight_init or "kaiming_normal",
            score_init=score_init,
            rank_by=rank_by,
            generator=generator,
        )
        if weight_init is None:
            with torch.no_grad():
                new.weight.copy_(old.weight)
                if old.bias is not None:
                    new.bias.copy_(old.bias)
        _set_submodule(out, name, new)
    if mask_mode == "scores":
        for pname, p in out.named_parameters():
            p.requires_grad_(pname.endswith("scores") and isinstance(_owner(out, pname), MaskedLayer))
    return out


def _owner(model: nn.Module, param_name: str) -> nn.Module:
    prefix, _, _ = param_name.rpartition(".")
    return model.get_submodule(prefix) if prefix else model


def _masked_like(old: nn.Module, **kw) -> MaskedLayer:
    factory = {"device": old.weight.device, "dtype": old.weight.dtype}
    bias = old.bias is not None
    if isinstance(old, nn.Linear):
        return MaskedLinear(old.in_features, old.out_features, bias, **kw, **factory)
    if old.padding_mode != "zeros" or isinstance(old.padding, str):
        raise ValueError(f"cannot convert {old}: only numeric zero padding is supported")
    cls = MaskedConv2d if isinstance(old, nn.Conv2d) else MaskedConv1d
    return cls(
        old.in_channels,
        old.out_channels,
        old.kernel_size,
        old.stride,
        old.padding,
        old.dilation,
        old.groups,
        bias,
        **kw,
        **factory,
    )


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _dense_like(layer: MaskedLayer) -> nn.Module:
    factory = {"device": layer.weight.device, "dtype": layer.weight.dtype}
    bias = layer.bias is not None
    if isinstance(layer, MaskedLinear):
        # skip_init: no draw from torch's global generator, the values are overwritten anyway.
        new = nn.utils.skip_init(nn.Linear, layer.in_features, layer.out_features, bias, **factory)
    else:
        cls = nn.Conv2d if isinstance(layer, MaskedConv2d) else nn.Conv1d
        new = nn.utils.skip_init(
            cls,
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
            bias,
            **factory,
        )
    with torch.no_grad():
        new.weight.copy_(layer.effective_weight())
        if bias:
            new.bias.copy_(layer.bias)
    return new


def _affine_bn_like(bn: nn.modules.batchnorm._BatchNorm) -> nn.Module:
    cls = nn.BatchNorm2d if isinstance(bn, NonAffineBatchNorm2d) else nn.BatchNorm1d
    new = cls(
        bn.num_features,
        bn.eps,
        bn.momentum,
        affine=True,
        device=bn.running_mean.device,
        dtype=bn.running_mean.dtype,
    )
    new.load_state_dict(
        {
            **bn.state_dict(),
            "weight": torch.ones_like(bn.running_mean),
            "bias": torch.zeros_like(bn.running_mean),
        }
    )
    new.train(bn.training)
    return new


def _export(model: nn.Module) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    out = copy.deepcopy(model)
    masks: dict[str, torch.Tensor] = {}
    for name, layer in masked_layers(out).items():
        masks[name] = layer.mask().clone()
        _set_submodule(out, name, _dense_like(layer))
    for name, m in list(out.named_modules()):
        if isinstance(m, (NonAffineBatchNorm1d, NonAffineBatchNorm2d)):
            _set_submodule(out, name, _affine_bn_like(m))
    for p in out.parameters():
        p.requires_grad_(True)
    return out, masks


def export_dense(model: nn.Module) -> nn.Module:
    """An ordinary ``nn.Module`` computing the same function with dense weights (zeros where pruned).

    Masked layers become ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` holding ``weight * mask``;
    :class:`~networks.layers.NonAffineBatchNorm2d` (1d) becomes affine BatchNorm with weight 1, bias 0
    and the same running statistics. Every parameter of the result is trainable.
    """
    return _export(model)[0]


def to_torch_prune(model: nn.Module) -> nn.Module:
    """The exported dense model with each formerly masked layer pruned by ``prune.custom_from_mask``.

    Each such layer then has ``weight_orig`` (the effective weight), a ``weight_mask`` buffer (float
    0/1, as torch stores it) and ``weight`` recomputed as their product by a forward pre-hook.
    """
    out, masks = _export(model)
    for name, mask in masks.items():
        prune.custom_from_mask(out.get_submodule(name), "weight", mask)
    return out
