"""HVP checks: ``H v`` against the full Hessian on tiny models and against central differences."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["hvp_checks", "hvp_fd_error"]


def _rel(a: Any, b: Any) -> float:
    import torch

    return float(torch.linalg.vector_norm(a - b) / torch.clamp(torch.linalg.vector_norm(b), min=1e-300))


def hvp_fd_error(model: Any, batch: Sequence[Any], v: Mapping[str, Any], *, eps: float = 1e-5) -> float:
    """Relative error of ``H v`` against the central difference ``(g(w + eps v) - g(w - eps v)) / 2 eps``."""
    from networks.hvp import effective_params, flatten, hvp, loss_and_grad

    params = effective_params(model)
    hv = flatten(hvp(model, batch, v))
    _, gp = loss_and_grad(model, batch, params={n: params[n] + eps * v[n] for n in params})
    _, gm = loss_and_grad(model, batch, params={n: params[n] - eps * v[n] for n in params})
    return _rel(hv, (flatten(gp) - flatten(gm)) / (2 * eps))


def hvp_checks(*, device: Any = "cpu", seed: int = 0, eps: float = 1e-5) -> dict[str, float]:
    """``H v`` on tiny float64 models against the full Hessian and against central differences.

    The models are a 6-5-3 masked MLP and a masked conv + non-affine BatchNorm + masked linear CNN (in
    train mode, so the loss depends on the batch statistics: the hard case), built with
    ``networks.layers``; the full Hessian comes from ``torch.autograd.functional.hessian``.

    Returns:
        Relative errors ``{"<model>_vs_hessian": ..., "<model>_vs_fd": ...}``.
    """
    import torch
    from torch import nn

    from networks.devices import resolve_device
    from networks.hvp import effective_params, flatten, functional_loss, hvp, preserved_state, unflatten
    from networks.layers import MaskedConv2d, MaskedLinear, NonAffineBatchNorm2d

    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(seed)
    mlp = nn.Sequential(
        MaskedLinear(6, 5, density=0.6, generator=gen),
        nn.Tanh(),
        MaskedLinear(5, 3, density=0.6, generator=gen),
    )
    cnn = nn.Sequential(
        MaskedConv2d(1, 3, 3, padding=1, density=0.7, generator=gen),
        NonAffineBatchNorm2d(3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        MaskedLinear(12, 3, density=0.6, generator=gen),
    )
    out = {}
    for name, model, shape in (("mlp", mlp, (9, 6)), ("cnn", cnn, (9, 1, 4, 4))):
        model = model.to(dev, torch.float64).train()
        x = torch.randn(shape, generator=gen, dtype=torch.float64).to(dev)
        y = torch.randint(0, 3, (shape[0],), generator=gen).to(dev)
        batch = (x, y)
        params = effective_params(model)
        v = {n: torch.randn(p.shape, generator=gen, dtype=torch.float64).to(dev) for n, p in params.items()}

        def f(flat: Any, model: Any = model, params: Any = params, batch: Any = batch) -> Any:
            return functional_loss(model, unflatten(flat, params), batch)

        with preserved_state(model):
            hess = torch.autograd.functional.hessian(f, flatten(params))
        hv = flatten(hvp(model, batch, v))
        out[f"{name}_vs_hessian"] = _rel(hv, hess @ flatten(v))
        out[f"{name}_vs_fd"] = hvp_fd_error(model, batch, v, eps=eps)
    return out
