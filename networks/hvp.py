"""Gradients, Hessian-vector products and Taylor loss-change predictions w.r.t. EFFECTIVE weights.

For a masked layer with frozen weights ``w`` and binary mask ``m`` the forward uses the effective weight
``w_eff = m * w``. A mask change ``dm`` in {-1, 0, 1} moves it by ``v = dm * w``, so the loss change of the
change is, by Taylor's theorem (standard second-order expansion; see the toolkit's reference note
``algorithms.md`` §5.1, and LeCun, Denker & Solla, "Optimal Brain Damage", NeurIPS 1990, for the
diagonal special case)::

    dL(v) = g.v + 1/2 v.H v + O(|v|^3),      g = dL/dw_eff (dense),  H = d^2 L / dw_eff^2 (dense).

Everything here differentiates w.r.t. ``w_eff`` itself: the masked layers' forwards are temporarily
replaced by plain ``F.linear`` / ``conv`` calls on a supplied effective-weight tensor, so neither the
mask nor its straight-through ``autograd.Function`` is part of the graph. Consequences:

* ``g`` is DENSE: it is defined also where ``m = 0`` (what RigL's grow criterion and every "regrow"
  prediction need), and ``g * w`` is exactly the Edge-Popup straight-through score gradient
  (Ramanujan et al., CVPR 2020, arXiv 1911.13299, §3).
* ``H v`` is one reverse-over-reverse ("double backward") product over ALL masked tensors jointly, so
  cross-layer curvature is included and the Hessian is never formed (Pearlmutter, "Fast exact
  multiplication by the Hessian", Neural Computation 1994; cost measured in ``benchmarks/bench_hvp.py``).

A module counts as *masked* when it has a ``weight`` and a callable ``effective_weight()`` (the
``networks.layers`` contract; any user layer following it works). Its output with a given weight
tensor is computed by, in order: the module's own ``forward_with_weight(x, weight)`` if it defines one,
``F.linear`` for 2-D weights, or the module's convolution (``_conv_forward`` / ``F.conv{1,2,3}d``).
:func:`check_effective_forward` confirms on a batch that this reproduces the model's real forward.

BatchNorm trap (``algorithms.md`` §5.3): in train mode every extra forward would update running
statistics. All functions here save the normalisation buffers (running mean/var, batch counters) and
restore them bit for bit, and leave every module's train/eval flag as it found it.

Batches are tuples ``(x, y, ...)``; the loss is ``loss_fn(model(x), y, ...)`` with
``torch.nn.functional.cross_entropy`` (mean over the batch) by default.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from networks.masks import masked_layers

__all__ = [
    "check_effective_forward",
    "dot",
    "effective_params",
    "flatten",
    "functional_loss",
    "hutchinson_diagonal",
    "hvp",
    "loss_and_grad",
    "loss_grad_hvp",
    "masked_modules",
    "preserved_state",
    "unflatten",
]

Params = dict[str, torch.Tensor]
Batch = Sequence[torch.Tensor]
LossFn = Callable[..., torch.Tensor]


# ----------------------------------------------------------------------------------------------------
# Discovering masked layers and their effective weights
# ----------------------------------------------------------------------------------------------------


def _key(module_name: str) -> str:
    return f"{module_name}.weight" if module_name else "weight"


def masked_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The masked layers of ``model``, keyed by the name of their weight (``"0.weight"``, ``"fc1.weight"``).

    Args:
        model: Any module; a layer is masked when it has a ``weight`` tensor and a callable
            ``effective_weight()``.

    Returns:
        An insertion-ordered dict (module traversal order) from weight name to module.
    """
    return {_key(name): mod for name, mod in masked_layers(model).items()}


def _plain_modules(model: nn.Module) -> dict[str, nn.Module]:
    plain_types = (nn.Linear, nn.modules.conv._ConvNd)
    masked = set(masked_layers(model))
    return {
        _key(name): mod
        for name, mod in model.named_modules()
        if isinstance(mod, plain_types) and name not in masked and isinstance(mod.weight, torch.Tensor)
    }


def effective_params(model: nn.Module, *, include_plain: bool = False) -> Params:
    """The effective weight ``mask * weight`` of every masked layer, as fresh leaf tensors.

    Args:
        model: The model.
        include_plain: Also include the weights of ordinary (unmasked) ``nn.Linear`` / ``nn.ConvNd``
            layers, e.g. a dense first layer; their "effective weight" is the weight itself.

    Returns:
        Ordered dict weight-name -> detached copy (no ``requires_grad``), in module order.

    Raises:
        ValueError: If the model has no such layer.
    """
    out: Params = {}
    with torch.no_grad():
        for name, mod in masked_modules(model).items():
            out[name] = mod.effective_weight().detach().clone()
        if include_plain:
            for name, mod in _plain_modules(model).items():
                out[name] = mod.weight.detach().clone()
    if not out:
        raise ValueError(
            "model has no masked layers (modules with `weight` and `effective_weight()`); "
            "pass include_plain=True to differentiate w.r.t. ordinary Linear/Conv weights"
        )
    # Keep the model's order, whatever the interleaving of plain and masked layers.
    order = [_key(n) for n, _ in model.named_modules()]
    return {k: out[k] for k in order if k in out}


def _forward_with_weight(module: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    custom = getattr(module, "forward_with_weight", None)
    if callable(custom):
        return custom(x, weight)
    bias = getattr(module, "bias", None)
    if isinstance(module, nn.modules.conv._ConvNd):
        return module._conv_forward(x, weight, bias)
    if weight.dim() == 2:
        return F.linear(x, weight, bias)
    conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}.get(weight.dim())
    if conv is not None and hasattr(module, "stride") and hasattr(module, "padding"):
        if getattr(module, "padding_mode", "zeros") != "zeros":
            raise ValueError(
                f"{type(module).__name__}: padding_mode {module.padding_mode!r} needs an nn.ConvNd subclass "
                "or a forward_with_weight(x, weight) method"
            )
        return conv(
            x, weight, bias, module.stride, module.padding, getattr(module, "dilation", 1), module.groups
        )
    raise ValueError(
        f"cannot evaluate masked layer {type(module).__name__} with a given weight: define "
        "forward_with_weight(x, weight), or subclass nn.Linear / nn.ConvNd"
    )


@contextlib.contextmanager
def _substituted(model: nn.Module, params: Mapping[str, torch.Tensor]) -> Iterator[Params]:
    """Route masked layers' forwards through ``params``; yield the remaining (plain) substitutions."""
    masked = masked_modules(model)
    plain: Params = {}
    patched: list[tuple[nn.Module, Any]] = []
    try:
        for name, tensor in params.items():
            mod = masked.get(name)
            if mod is None:
                plain[name] = tensor
                continue
            if tuple(tensor.shape) != tuple(mod.weight.shape):
                raise ValueError(
                    f"params[{name!r}] has shape {tuple(tensor.shape)}, expected {tuple(mod.weight.shape)}"
                )
            # An instance attribute shadows the class's forward; nn.Module.__call__ looks it up per call.
            patched.append((mod, mod.__dict__.get("forward")))
            mod.forward = _bound_forward(mod, tensor)
        yield plain
    finally:
        for mod, previous in reversed(patched):
            if previous is None:
                mod.__dict__.pop("forward", None)
            else:
                mod.forward = previous


def _bound_forward(mod: nn.Module, weight: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(x: torch.Tensor) -> torch.Tensor:
        return _forward_with_weight(mod, x, weight)

    return forward


# ----------------------------------------------------------------------------------------------------
# State preservation (BatchNorm buffers, train/eval flags)
# ----------------------------------------------------------------------------------------------------


def _stat_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    out = {}
    for mname, mod in model.named_modules():
        for bname, buf in mod.named_buffers(recurse=False):
            if buf is None:
                continue
            if (
                isinstance(mod, nn.modules.batchnorm._NormBase)
                or bname.startswith("running_")
                or bname == "num_batches_tracked"
            ):
                out[f"{mname}.{bname}" if mname else bname] = buf
    return out


@contextlib.contextmanager
def preserved_state(model: nn.Module, *, train: bool | None = None) -> Iterator[nn.Module]:
    """Run a block with the model's normalisation statistics and train/eval flags restored afterwards.

    Args:
        model: The model.
        train: If given, put the model in train (``True``) or eval (``False``) mode inside the block;
            ``None`` keeps its current mode.

    Yields:
        The model.
    """
    saved = {k: b.detach().clone() for k, b in _stat_buffers(model).items()}
    flags = [(m, m.training) for m in model.modules()]
    try:
        if train is not None:
            model.train(bool(train))
        yield model
    finally:
        with torch.no_grad():
            for k, b in _stat_buffers(model).items():
                if k in saved:
                    b.copy_(saved[k])
        for m, flag in flags:
            m.training = flag


# ----------------------------------------------------------------------------------------------------
# Loss, gradient, Hessian-vector products
# ----------------------------------------------------------------------------------------------------


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def _resolve(model: nn.Module, device: Any) -> tuple[torch.device, torch.dtype]:
    model_device, dtype = _model_device_dtype(model)
    if device is None:
        return model_device, dtype
    from networks.devices import resolve_device

    dev = resolve_device(device)
    if dev != model_device and not (dev.type == model_device.type == "cuda" and model_device.index is None):
        raise ValueError(
            f"device {str(dev)!r} differs from the model's device {str(model_device)!r}; "
            f"move the model first (model.to({str(dev)!r}))"
        )
    return dev, dtype


def _prepare_batch(batch: Batch, device: torch.device, dtype: torch.dtype) -> list[torch.Tensor]:
    if isinstance(batch, torch.Tensor) or not isinstance(batch, Sequence) or len(batch) < 1:
        raise ValueError(
            "batch must be a tuple (x, y, ...) of tensors; the loss is loss_fn(model(x), y, ...)"
        )
    out = []
    for i, t in enumerate(batch):
        t = torch.as_tensor(t).to(device)
        # Cast floating inputs to the model's dtype (float64 experiments), never integer targets.
        if i == 0 and t.is_floating_point():
            t = t.to(dtype)
        out.append(t)
    return out


def _split_args(args: tuple[Any, ...], loss_fn: LossFn | None, n_rest: int) -> tuple[list[Any], LossFn]:
    """Accept both ``f(model, batch, ..., loss_fn)`` and ``f(model, loss_fn, batch, ...)`` orders."""
    args_l = list(args)
    if args_l and callable(args_l[0]) and not isinstance(args_l[0], torch.Tensor):
        if loss_fn is not None:
            raise ValueError("loss_fn given both positionally and by keyword")
        loss_fn = args_l.pop(0)
    elif len(args_l) > n_rest:
        if loss_fn is not None:
            raise ValueError("loss_fn given both positionally and by keyword")
        loss_fn = args_l.pop(n_rest)
    if len(args_l) != n_rest:
        raise TypeError(
            f"expected {n_rest} positional argument(s) after model (and loss_fn), got {len(args_l)}"
        )
    return args_l, (loss_fn if loss_fn is not None else F.cross_entropy)


def functional_loss(
    model: nn.Module, params: Mapping[str, torch.Tensor], batch: Batch, loss_fn: LossFn | None = None
) -> torch.Tensor:
    """The loss with the given effective weights substituted (differentiable w.r.t. ``params``).

    Masked layers run as plain linear/conv layers on ``params[name]``; any other entry of ``params``
    (e.g. a plain layer's weight) is substituted with ``torch.func.functional_call``. Layers not named
    in ``params`` run unchanged. Note: this runs one forward in the model's current mode, so BatchNorm
    running statistics update in train mode; the public gradient/HVP functions restore them.

    Args:
        model: The model.
        params: Weight-name -> tensor (as from :func:`effective_params`).
        batch: ``(x, y, ...)``; already on the model's device and dtype.
        loss_fn: ``loss_fn(output, y, ...)``; default cross-entropy (mean).

    Returns:
        The scalar loss.
    """
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    x, *rest = batch
    with _substituted(model, params) as plain:
        out = torch.func.functional_call(model, plain, (x,)) if plain else model(x)
    return loss_fn(out, *rest)


def _leaves(
    model: nn.Module, params: Mapping[str, torch.Tensor] | None, include_plain: bool, device: torch.device
) -> Params:
    base = effective_params(model, include_plain=include_plain) if params is None else dict(params)
    return {k: v.detach().to(device).clone().requires_grad_(True) for k, v in base.items()}


def _check_vector(v: Mapping[str, torch.Tensor], leaves: Params, device: torch.device, name: str) -> Params:
    if not isinstance(v, Mapping):
        raise ValueError(f"{name} must be a dict weight-name -> tensor like effective_params(model)")
    missing = sorted(set(leaves) - set(v))
    extra = sorted(set(v) - set(leaves))
    if missing or extra:
        raise ValueError(
            f"{name} keys must equal the effective weights'; missing {missing}, unexpected {extra}"
        )
    out = {}
    for k, leaf in leaves.items():
        t = torch.as_tensor(v[k]).to(device=device, dtype=leaf.dtype)
        if t.shape != leaf.shape:
            raise ValueError(f"{name}[{k!r}] has shape {tuple(t.shape)}, expected {tuple(leaf.shape)}")
        out[k] = t
    return out


def loss_grad_hvp(
    model: nn.Module,
    batch: Batch,
    vectors: Sequence[Mapping[str, torch.Tensor]] = (),
    loss_fn: LossFn | None = None,
    *,
    params: Mapping[str, torch.Tensor] | None = None,
    include_plain: bool = False,
    train: bool | None = None,
    device: Any = None,
) -> tuple[torch.Tensor, Params, list[Params]]:
    """Loss, dense gradient and any number of Hessian-vector products from ONE forward/backward graph.

    Each ``H v`` is a second backward through the gradient graph (reverse-over-reverse), so k vectors
    cost one forward, one backward and k double-backwards.

    Args:
        model: The model (masked layers as described in the module docstring).
        batch: ``(x, y, ...)``; moved to ``device``, ``x`` cast to the model's float dtype.
        vectors: Directions, each a dict like :func:`effective_params`.
        loss_fn: ``loss_fn(output, y, ...)``; default cross-entropy.
        params: Point to expand around (default: the model's current effective weights).
        include_plain: Also differentiate w.r.t. ordinary Linear/Conv weights.
        train: Evaluate in train (``True``) or eval (``False``) mode; ``None`` keeps the current mode.
        device: Where the model lives (checked); default: the model's device.

    Returns:
        ``(loss, g, [Hv, ...])``: detached scalar, dense gradient dict, one dict per vector.

    Raises:
        ValueError: On a device mismatch, malformed batch, or vectors whose keys/shapes do not match.
    """
    dev, dtype = _resolve(model, device)
    data = _prepare_batch(batch, dev, dtype)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    with preserved_state(model, train=train), torch.enable_grad():
        leaves = _leaves(model, params, include_plain, dev)
        vecs = [_check_vector(v, leaves, dev, f"vectors[{i}]") for i, v in enumerate(vectors)]
        names = list(leaves)
        loss = functional_loss(model, leaves, data, loss_fn)
        grads = torch.autograd.grad(
            loss, [leaves[k] for k in names], create_graph=bool(vecs), allow_unused=True
        )
        grads = [
            torch.zeros_like(leaves[k]) if gr is None else gr for k, gr in zip(names, grads, strict=True)
        ]
        products: list[Params] = []
        for i, v in enumerate(vecs):
            if not any(gr.requires_grad for gr in grads):
                # The loss is linear in every weight: H = 0.
                products.append({k: torch.zeros_like(leaves[k]) for k in names})
                continue
            diff = [(gr, v[k]) for k, gr in zip(names, grads, strict=True) if gr.requires_grad]
            hv = torch.autograd.grad(
                [d[0] for d in diff],
                [leaves[k] for k in names],
                grad_outputs=[d[1] for d in diff],
                retain_graph=i < len(vecs) - 1,
                allow_unused=True,
            )
            products.append(
                {
                    k: (torch.zeros_like(leaves[k]) if h is None else h.detach())
                    for k, h in zip(names, hv, strict=True)
                }
            )
        g = {k: gr.detach() for k, gr in zip(names, grads, strict=True)}
    return loss.detach(), g, products


def loss_and_grad(
    model: nn.Module,
    *args: Any,
    loss_fn: LossFn | None = None,
    params: Mapping[str, torch.Tensor] | None = None,
    include_plain: bool = False,
    train: bool | None = None,
    device: Any = None,
) -> tuple[torch.Tensor, Params]:
    """Loss and DENSE gradient w.r.t. the effective weights (the straight-through gradient).

    Call as ``loss_and_grad(model, batch)``, ``loss_and_grad(model, batch, loss_fn)`` or
    ``loss_and_grad(model, loss_fn, batch)``. The EP score gradient of each masked layer is ``g * weight``.

    Args:
        model: The model.
        *args: ``batch`` and optionally ``loss_fn`` (either order, see above).
        loss_fn: ``loss_fn(output, y, ...)``; default cross-entropy.
        params: Point to evaluate at (default: the current effective weights).
        include_plain: Also differentiate w.r.t. ordinary Linear/Conv weights.
        train: Mode to evaluate in; ``None`` keeps the model's mode (BatchNorm statistics restored).
        device: Where the model lives (checked).

    Returns:
        ``(loss, g)``: detached scalar loss and dict weight-name -> gradient.
    """
    (batch,), loss_fn = _split_args(args, loss_fn, 1)
    loss, g, _ = loss_grad_hvp(
        model, batch, (), loss_fn, params=params, include_plain=include_plain, train=train, device=device
    )
    return loss, g


def hvp(
    model: nn.Module,
    *args: Any,
    loss_fn: LossFn | None = None,
    params: Mapping[str, torch.Tensor] | None = None,
    include_plain: bool = False,
    train: bool | None = None,
    device: Any = None,
) -> Params:
    """Hessian-vector product ``H v`` w.r.t. the effective weights, by double backward.

    Call as ``hvp(model, batch, v)``, ``hvp(model, batch, v, loss_fn)`` or ``hvp(model, loss_fn, batch, v)``.
    The product is joint over all masked tensors (cross-layer blocks included); no Hessian is formed.
    BatchNorm running statistics and train/eval flags are restored afterwards.

    Args:
        model: The model.
        *args: ``batch`` and ``v`` (dict like :func:`effective_params`), optionally ``loss_fn``.
        loss_fn: ``loss_fn(output, y, ...)``; default cross-entropy.
        params: Point to expand around (default: the current effective weights).
        include_plain: Also include ordinary Linear/Conv weights.
        train: Mode to evaluate in; ``None`` keeps the model's mode.
        device: Where the model lives (checked).

    Returns:
        Dict weight-name -> ``(H v)`` block.
    """
    (batch, v), loss_fn = _split_args(args, loss_fn, 2)
    _, _, (hv,) = loss_grad_hvp(
        model, batch, (v,), loss_fn, params=params, include_plain=include_plain, train=train, device=device
    )
    return hv


def hutchinson_diagonal(
    model: nn.Module,
    batch: Batch,
    *,
    samples: int,
    generator: torch.Generator,
    loss_fn: LossFn | None = None,
    params: Mapping[str, torch.Tensor] | None = None,
    include_plain: bool = False,
    train: bool | None = None,
    device: Any = None,
) -> Params:
    """Unbiased estimate of ``diag(H)`` w.r.t. the effective weights: the mean of ``z * (H z)``.

    ``z`` has independent Rademacher (+-1) entries, so ``E[z_i (H z)_i] = H_ii`` and the variance of one
    sample is ``sum_{j != i} H_ij^2`` (Hutchinson, Commun. Stat. Simul. Comput. 1990; Bekas, Kokiopoulou
    & Saad, Appl. Numer. Math. 2007, for the diagonal). All ``samples`` products share one graph.
    Used by second-order swap scores' ``1/2 H_ii v_i^2`` term (algorithms.md §5.2).

    Args:
        model: The model.
        batch: ``(x, y, ...)``.
        samples: Number of probe vectors (>= 1).
        generator: Source of the probes (a CPU ``torch.Generator``; probes are moved to the device).
        loss_fn: ``loss_fn(output, y, ...)``; default cross-entropy.
        params: Expansion point (default: the current effective weights).
        include_plain: Also include ordinary Linear/Conv weights.
        train: Mode to evaluate in; ``None`` keeps the model's mode.
        device: Where the model lives (checked).

    Returns:
        Dict weight-name -> estimated diagonal block (same shape as the weight).

    Raises:
        ValueError: If ``samples`` < 1.
    """
    from theory.validate import check_int

    samples = check_int("samples", samples, 1)
    dev, _ = _resolve(model, device)
    base = effective_params(model, include_plain=include_plain) if params is None else dict(params)
    probes = [
        {
            k: (torch.randint(0, 2, p.shape, generator=generator, device=generator.device) * 2 - 1).to(
                dev, p.dtype
            )
            for k, p in base.items()
        }
        for _ in range(samples)
    ]
    _, _, hzs = loss_grad_hvp(
        model, batch, probes, loss_fn, params=base, include_plain=include_plain, train=train, device=device
    )
    return {k: sum(z[k] * hz[k] for z, hz in zip(probes, hzs, strict=True)) / samples for k in base}


def check_effective_forward(model: nn.Module, x: torch.Tensor, *, atol: float = 1e-6) -> float:
    """Check that the effective-weight forward reproduces the model's own forward on ``x``.

    Args:
        model: The model (evaluated in its current mode; BatchNorm statistics restored).
        x: An input batch on the model's device.
        atol: Largest allowed absolute difference.

    Returns:
        The largest absolute difference found.

    Raises:
        ValueError: If the difference exceeds ``atol`` (the layer's forward is not ``weight * mask``
            applied by a linear/conv op, so the HVP would differentiate a different function).
    """
    dev, dtype = _model_device_dtype(model)
    x = x.to(dev, dtype) if x.is_floating_point() else x.to(dev)
    with preserved_state(model), torch.no_grad():
        ref = model(x)
    with preserved_state(model), torch.no_grad(), _substituted(model, effective_params(model)) as plain:
        out = torch.func.functional_call(model, plain, (x,)) if plain else model(x)
    diff = float((ref - out).abs().max()) if ref.numel() else 0.0
    if not diff <= atol:
        raise ValueError(
            f"effective-weight forward differs from the model's forward by {diff:.3g} > atol={atol}"
        )
    return diff


# ----------------------------------------------------------------------------------------------------
# Weight-dict vectors
# ----------------------------------------------------------------------------------------------------


def dot(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """Inner product of two weight dicts with the same keys, accumulated in float64."""
    if set(a) != set(b):
        raise ValueError(f"dict keys differ: {sorted(set(a) ^ set(b))}")
    total = 0.0
    for k in a:
        total += float(torch.sum(a[k].double() * b[k].to(a[k].device).double()))
    return total


def flatten(d: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Concatenate a weight dict into one vector (in the dict's order)."""
    return torch.cat([t.reshape(-1) for t in d.values()])


def unflatten(vec: torch.Tensor, like: Mapping[str, torch.Tensor]) -> Params:
    """Split a flat vector back into a dict shaped like ``like`` (inverse of :func:`flatten`)."""
    total = sum(t.numel() for t in like.values())
    if vec.dim() != 1 or vec.numel() != total:
        raise ValueError(f"vec must be 1-D with {total} entries, got shape {tuple(vec.shape)}")
    out, start = {}, 0
    for k, t in like.items():
        out[k] = vec[start : start + t.numel()].reshape(t.shape)
        start += t.numel()
    return out
