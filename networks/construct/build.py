"""``construct_ticket``: per-layer tolerances, the random source blocks, the certificate and the counts."""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from networks.construct.certificate import LayerNorms, compose_bound
from networks.construct.cli import MAX_CANDIDATES
from networks.construct.methods import METHODS, build_layer, default_n
from networks.construct.targets import parse_target
from networks.construct.ticket import ConstructedLayer, Ticket, patch_factor, spectral_norm
from theory.registry import lookup
from theory.validate import check_choice, check_int, check_range

__all__ = ["construct_ticket"]


def _spatial(specs, input_shape):
    """Output positions of each layer (1 for linear), propagating the spatial size from ``input_shape``."""
    out = []
    hw = tuple(input_shape[-2:]) if input_shape is not None and len(input_shape) == 3 else None
    for spec in specs:
        if spec.kind == "conv":
            if hw is None:
                raise ValueError("input_shape=(C, H, W) is required for targets with Conv2d layers")
            cfg = spec.conv
            hw = tuple(
                (s + 2 * p - k) // st + 1
                for s, p, k, st in zip(hw, cfg["padding"], cfg["kernel_size"], cfg["stride"], strict=True)
            )
            out.append(hw[0] * hw[1])
        else:
            hw = None
            out.append(1)
    return out


def _kept_abs_products(out: dict, n_cols: int) -> torch.Tensor:
    """``M_kj = sum_{kept i in block j} |a_i| |b_ki + p_ki|`` (float64, ``(d_out, n_cols)``).

    The scale of the ticket's rounding errors (see :mod:`networks.construct.certificate`).
    """
    a = out["a"].detach().cpu().to(torch.float64).abs()
    w2 = ((out["b"] + out["pert"]) * out["mask2"]).detach().cpu().to(torch.float64).abs()
    m = torch.zeros(w2.shape[0], n_cols, dtype=torch.float64)
    return m.index_add_(1, out["col"].detach().cpu(), w2 * a[None, :])


def _density_meta(specs, layers, ns, density, sizes) -> dict:
    """Requested and measured per-layer density (kept / source parameters) of a fixed-size ticket."""
    if density is None:
        return {}
    from networks.construct.sparse import layer_counts

    measured = [
        (int(layer.mask1.sum()) + int(layer.mask2.sum())) / layer_counts(spec, n)[0]
        for spec, layer, n in zip(specs, layers, ns, strict=True)
    ]
    return {"density": float(density), "subset_sizes": sizes, "layer_density": measured}


def construct_ticket(
    target: nn.Module,
    *,
    eps: float,
    method: str = "pensia",
    perturbation: float = 0.0,
    candidates_per_weight: int | None = None,
    budget: str = "certified",
    constant: float = 3.0,
    nonnegative_input: bool = False,
    input_shape: tuple[int, ...] | None = None,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
    density: float | None = None,
) -> Ticket:
    """Construct a certified strong lottery ticket for ``target``.

    Per-weight tolerance. With ``budget="per-weight"`` every weight (and bias) must be within ``eps``
    (Pensia et al.'s experiment convention). With ``budget="certified"`` (default) the tolerances are
    chosen so that, if every weight meets its tolerance, the certificate is <= ``eps``: layer ``l`` with
    ``h`` halves, ``d_in`` columns, ``d_out`` outputs and patch factor ``P`` gets
    ``tau_l = t / sqrt(h d_in d_out P)`` (then ``||[E+, -E-]||_2 sqrt(P) <= ||.||_F sqrt(P) <= t``) and bias
    tolerance ``t / sqrt(d_out positions)``; ``t`` is found by bisection so that the composed bound
    (:func:`networks.construct.certificate.compose_bound` with ``eps_l = b_l = t``) equals ``eps``. The
    reported certificate is then recomputed from the actual error matrices (exact spectral norms), so it
    is valid whether or not some weight failed; it adds the absolute rounding term of the two forward
    passes (:mod:`networks.construct.certificate`), so it can exceed ``eps`` by that term (about 1e-14 in
    float64 at these sizes). It covers ``||x||_2 <= 1``, and only ``x >= 0`` with ``nonnegative_input``.

    Args:
        target: ``nn.Sequential`` of Linear/Conv2d/ReLU/Flatten with weights in [-1, 1].
        eps: Requested accuracy, > 0.
        method: ``pensia``, ``xiong``, ``dacunha`` (conv targets), ``sparse`` (fixed-size subsets, Linear
            and Conv2d layers; needs ``density``) or ``burkholz`` (depth L+1 source,
            :mod:`networks.construct.burkholz`; ``candidates_per_weight`` is then its ``rho``, default 15).
        perturbation: Max-norm of the second-layer perturbation (``xiong`` only), in [0, 1).
        candidates_per_weight: ``n`` (blocks of ``2n`` units); default ``ceil(constant log2(1/tau_l))``.
        budget: ``"certified"`` or ``"per-weight"``.
        constant: The constant ``C`` of the default ``n``.
        nonnegative_input: The network input is non-negative (only ``+`` halves in the first layer); the
            certificate then covers ``x >= 0`` only and ``Ticket.measure`` refuses signed inputs.
        input_shape: ``(C, H, W)`` of one input; required for conv targets (the certificate counts
            output positions).
        seed: Seed of the random source network.
        device: Where the SubsetSum searches and the ticket live.
        density: For ``method="sparse"`` (Natale et al. NeurIPS 2024), the fraction in ``(0, 1]`` of each
            layer's source parameters the ticket may keep; fixes the subset size per weight
            (:func:`networks.construct.sparse.subset_size`). ``None`` for the other methods.

    Returns:
        The :class:`Ticket`.

    Raises:
        ValueError: On bad arguments, unsupported layers or weights outside [-1, 1].
    """
    from networks.devices import resolve_device

    eps = check_range("eps", eps, 0.0, None, lo_open=True)
    lookup(METHODS, "method", method)
    budget = check_choice("budget", budget, ("certified", "per-weight"))
    info = METHODS[method]
    if info["perturbable"]:
        perturbation = check_range("perturbation", perturbation, 0.0, 1.0, hi_open=True)
    elif perturbation != 0:
        perturbable = [k for k, v in METHODS.items() if v["perturbable"]]
        raise ValueError(f"perturbation must be 0 for method {method!r}; methods that perturb: {perturbable}")
    if candidates_per_weight is not None:
        candidates_per_weight = check_int("candidates_per_weight", candidates_per_weight, 1, MAX_CANDIDATES)
    if info["fixed_size"]:
        if density is None:
            raise ValueError(f"method {method!r} needs density in (0, 1] (the fraction of parameters kept)")
        density = check_range("density", density, 0.0, 1.0, lo_open=True)
    elif density is not None:
        raise ValueError(f"density applies to fixed-size methods only (sparse), not {method!r}")
    constant = check_range("constant", constant, 0.0, None, lo_open=True)
    dev = resolve_device(device)
    specs = parse_target(target, nonnegative_input=nonnegative_input)
    if info["conv_only"] and not any(s.kind == "conv" for s in specs):
        raise ValueError(f"method {method!r} is for targets with Conv2d layers; use 'pensia' or 'xiong'")
    positions = _spatial(specs, input_shape)
    if info["build"] is not None:  # a construction with its own source layout (depth L+1: burkholz)
        return info["build"](
            target,
            eps=eps,
            specs=specs,
            positions=positions,
            in_positions=[1, *positions[:-1]],
            budget=budget,
            candidates_per_weight=candidates_per_weight,
            seed=seed,
            device=dev,
            nonnegative_input=nonnegative_input,
        )
    ops, bias_norms, halves, pf = [], [], [], []
    for spec, pos in zip(specs, positions, strict=True):
        f = patch_factor(spec.conv)
        pf.append(f)
        ops.append(spectral_norm(spec.weight) * f)
        bias_norms.append(0.0 if spec.bias is None else float(spec.bias.norm()) * math.sqrt(pos))
        halves.append(1 if spec.nonneg_input else 2)
    if budget == "per-weight":
        tol_w = [eps] * len(specs)
        tol_b = [eps] * len(specs)
    else:

        def bound(t: float) -> float:
            return compose_bound(
                [
                    LayerNorms(o, bn, t, t if s.bias is not None else 0.0)
                    for o, bn, s in zip(ops, bias_norms, specs, strict=True)
                ]
            )

        lo, hi = 0.0, eps
        while bound(hi) < eps:
            hi *= 2
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if bound(mid) <= eps else (lo, mid)
        t = lo
        tol_w = [
            t / math.sqrt(h * s.weight.shape[0] * s.weight.shape[1] * f**2)
            for s, h, f in zip(specs, halves, pf, strict=True)
        ]
        tol_b = [t / math.sqrt(s.weight.shape[0] * p) for s, p in zip(specs, positions, strict=True)]
    gen = torch.Generator().manual_seed(int(seed))
    layers, errors, emats, norms, failed, ns, at_limit, sizes = [], [], [], [], [], [], [], []
    started = time.perf_counter()
    for li, spec in enumerate(specs):
        n = candidates_per_weight or default_n(min(tol_w[li], tol_b[li]), constant)
        ns.append(n)
        layer_method = "pensia" if (method == "dacunha" and spec.kind == "linear") else method
        size = None
        if info["fixed_size"]:
            from networks.construct.sparse import subset_size

            size = subset_size(spec, n, density)
        sizes.append(size)
        out = build_layer(
            spec,
            method=layer_method,
            n=n,
            tol_weight=tol_w[li],
            tol_bias=tol_b[li],
            perturbation=perturbation,
            gen=gen,
            device=dev,
            size=size,
        )
        layers.append(ConstructedLayer(spec, out["a"], out["col"], out["b"], out["pert"], out["mask2"]))
        d_in = spec.weight.shape[1]
        ep, em = out["e_plus"], out["e_minus"]
        reg = ep[:, :d_in] if em is None else torch.cat([ep[:, :d_in], -em[:, :d_in]], dim=1)
        err_bias = 0.0 if spec.bias is None else float(ep[:, -1].norm()) * math.sqrt(positions[li])
        m_abs = _kept_abs_products(out, ep.shape[1])
        norms.append(
            LayerNorms(
                ops[li],
                bias_norms[li],
                spectral_norm(reg) * pf[li],
                err_bias,
                abs_op=spectral_norm(spec.weight.abs()) * pf[li],
                terms=d_in,
                ticket_abs_op=spectral_norm(m_abs[:, :d_in]) * pf[li],
                ticket_abs_bias=0.0
                if spec.bias is None
                else float(m_abs[:, -1].norm()) * math.sqrt(positions[li]),
                ticket_terms=int(out["a"].numel()),
                realise_terms=2 * n,
            )
        )
        errors.append(out["errors"])
        emats.append((ep, em))
        over = out["errors"] > out["tol"][None, :] * (1 + 1e-12)
        # A weight over its tolerance whose search hit the exact engine's limit is not a proven failure.
        bad = torch.nonzero(over & ~out["at_limit"])
        failed += [(li, int(k), int(j), float(out["errors"][k, j])) for k, j in bad.tolist()]
        at_limit += [
            (li, int(k), int(j), float(out["errors"][k, j]))
            for k, j in torch.nonzero(out["at_limit"]).tolist()
        ]
    elapsed = time.perf_counter() - started
    target_weights = sum(s.weight.numel() + (0 if s.bias is None else s.bias.numel()) for s in specs)
    source = 0
    for spec, layer in zip(specs, layers, strict=True):
        units = layer.a.numel()
        conv_cols = spec.weight.shape[1]
        source += units * conv_cols + units + layer.b.numel()  # dense first layer + its biases + second
    kept = sum(int(layer.mask1.sum()) + int(layer.mask2.sum()) for layer in layers)
    return Ticket(
        method=method,
        eps=eps,
        budget=budget,
        perturbation=float(perturbation),
        layers=layers,
        tolerances=tol_w,
        candidates_per_weight=ns,
        errors=errors,
        error_matrices=emats,
        norms=norms,
        failed_weights=failed,
        target_weights=target_weights,
        source_params=source,
        kept_params=kept,
        specs=specs,
        meta={
            "seed": int(seed),
            "construct_seconds": elapsed,
            "device": str(dev),
            "nonnegative_input": bool(nonnegative_input),
            **_density_meta(specs, layers, ns, density, sizes),
            # (layer, out, in, error) of weights whose SubsetSum row was beyond the exact engine's
            # limits (best subset found, not proven optimal); listed apart from failed_weights.
            "limit_weights": at_limit,
        },
    )
