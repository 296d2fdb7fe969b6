"""The constructed ticket: a pruned (Xiong: also perturbed) random network of depth 2L and its certificate."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from networks.construct.certificate import FLOAT32_ROUNDOFF, FLOAT64_ROUNDOFF, LayerNorms, compose_bound

__all__ = ["ConstructedLayer", "Ticket", "unit_roundoff"]

#: Inputs may exceed the radius by this many unit roundoffs (a row normalised in floating point); the
#: certificate is evaluated at the radius enlarged by the same slack, so the two always agree.
DOMAIN_SLACK_ULPS = 4


def unit_roundoff(dtype: torch.dtype) -> float:
    """Unit roundoff ``u`` of a forward pass in ``dtype`` (float64 or float32).

    Raises:
        ValueError: For any other dtype (the certificate has no rounding model for it).
    """
    if dtype == torch.float64:
        return FLOAT64_ROUNDOFF
    if dtype == torch.float32:
        return FLOAT32_ROUNDOFF
    raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype}")


class ConstructedLayer(nn.Module):
    """Two source layers replacing one target layer: a block-diagonal ReLU layer and a dense layer.

    Hidden unit ``i`` reads input column ``col[i]`` (the constant 1 for bias columns) with first-layer weight
    ``a[i]``; the second layer has random weights ``b`` plus a perturbation, both masked by ``mask2``.
    For a conv the columns are ``unfold`` patches, i.e. the first source layer is a ``kh x kw`` conv whose
    kernels keep a single entry, and the second a ``1 x 1`` conv.
    """

    def __init__(
        self,
        spec: Any,
        a: torch.Tensor,
        col: torch.Tensor,
        b: torch.Tensor,
        pert: torch.Tensor,
        mask2: torch.Tensor,
    ) -> None:
        super().__init__()
        self.kind = spec.kind
        self.conv = spec.conv
        self.relu_after = spec.relu
        self.flatten_before = spec.flatten_before
        self.d_in = spec.weight.shape[1]
        self.has_bias = spec.bias is not None
        self.register_buffer("a", a)
        self.register_buffer("col", col)
        self.register_buffer("b", b)
        self.register_buffer("pert", pert)
        self.register_buffer("mask2", mask2)
        self.register_buffer("mask1", mask2.any(dim=0))

    def columns(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Input columns ``(..., d_in [+1])`` and the output spatial shape (empty for linear)."""
        if self.flatten_before:
            x = x.flatten(1)
        if self.kind == "conv":
            cfg = self.conv
            h, w = x.shape[-2:]
            out_hw = tuple(
                (s + 2 * p - k) // st + 1
                for s, p, k, st in zip((h, w), cfg["padding"], cfg["kernel_size"], cfg["stride"], strict=True)
            )
            cols = F.unfold(x, cfg["kernel_size"], padding=cfg["padding"], stride=cfg["stride"]).transpose(
                1, 2
            )
        else:
            out_hw, cols = (), x
        if self.has_bias:
            cols = torch.cat([cols, torch.ones_like(cols[..., :1])], dim=-1)
        return cols, out_hw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pruned source block on ``x``."""
        cols, out_hw = self.columns(x)
        a = self.a.to(cols.dtype)
        hidden = torch.relu(cols[..., self.col] * a) * self.mask1.to(cols.dtype)
        w2 = ((self.b + self.pert) * self.mask2).to(cols.dtype)
        out = hidden @ w2.T
        if self.kind == "conv":
            out = out.transpose(1, 2).reshape(out.shape[0], -1, *out_hw)
        return torch.relu(out) if self.relu_after else out


@dataclasses.dataclass
class Ticket:
    """A certified strong lottery ticket.

    Its certificate (:meth:`certified_bound`) bounds ``||target(x) - ticket(x)||_2`` on the input domain
    ``||x||_2 <= radius``, intersected with ``x >= 0`` when built with ``nonnegative_input=True`` (signed
    inputs are then not covered); it includes the rounding of both forward passes in the dtype they run
    in. :meth:`measure` refuses inputs outside the domain.

    Attributes:
        method: Construction name.
        eps: The requested accuracy (see ``budget``).
        budget: ``"certified"`` (eps bounds the certified sup error) or ``"per-weight"`` (eps is each
            weight's tolerance, the convention of Pensia et al.'s experiment).
        perturbation: Max-norm of the second-layer perturbation.
        layers: The :class:`ConstructedLayer` modules (the ticket's forward).
        tolerances: Per target layer the per-weight tolerance used.
        candidates_per_weight: Per target layer ``n`` (each ReLU block has ``2n`` units).
        errors: Per target layer, float64 ``(d_out, d_in [+1])``: per-weight error (max over halves).
        error_matrices: Per target layer ``(E_plus, E_minus)`` used by the certificate.
        norms: Per target layer the certificate's :class:`LayerNorms`.
        failed_weights: ``(layer, out, in, error)`` for every weight above its tolerance (bias = column d_in).
        target_weights: Number of target weights (and biases).
        source_params: Parameters of the dense random source network.
        kept_params: Kept first-layer edges (or biases) plus kept second-layer edges.
        specs: The parsed target layers.
        meta: Extra facts (seed, timings).
    """

    method: str
    eps: float
    budget: str
    perturbation: float
    layers: list[ConstructedLayer]
    tolerances: list[float]
    candidates_per_weight: list[int]
    errors: list[torch.Tensor]
    error_matrices: list[tuple[torch.Tensor, torch.Tensor | None]]
    norms: list[LayerNorms]
    failed_weights: list[tuple[int, int, int, float]]
    target_weights: int
    source_params: int
    kept_params: int
    specs: list[Any]
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def kept_ratio(self) -> float:
        """Kept parameters / target parameters."""
        return self.kept_params / self.target_weights

    @property
    def nonnegative_input(self) -> bool:
        """Whether the certificate covers only ``x >= 0`` (the input was declared non-negative)."""
        return bool(self.meta.get("nonnegative_input", False))

    def input_domain(self, radius: float = 1.0) -> dict[str, Any]:
        """The inputs the certificate covers: ``||x||_2 <= radius``, and ``x >= 0`` when non-negative."""
        text = f"||x||_2 <= {radius:g}" + (
            " and x >= 0 (nonnegative_input)" if self.nonnegative_input else ""
        )
        return {"radius": float(radius), "nonnegative": self.nonnegative_input, "description": text}

    def certified_bound(self, radius: float = 1.0, *, dtype: torch.dtype = torch.float64) -> float:
        """Certified ``sup ||target(x) - ticket(x)||_2`` over the input domain, both run in ``dtype``.

        The domain is ``||x||_2 <= radius``, intersected with ``x >= 0`` when the ticket was built with
        ``nonnegative_input`` (then signed inputs are not covered). The bound is the exact-arithmetic
        composition plus the absolute rounding term of two forward passes in ``dtype`` (derivation in
        :mod:`networks.construct.certificate`), so a measurement by :meth:`measure` never exceeds it.

        Args:
            radius: Input-norm radius (>= 0).
            dtype: ``torch.float64`` (what :meth:`measure` uses by default) or ``torch.float32``.
        """
        u = unit_roundoff(dtype)
        return compose_bound(
            self.norms,
            float(radius) * (1 + DOMAIN_SLACK_ULPS * u),
            forward_roundoff=u,
            realise_roundoff=FLOAT64_ROUNDOFF,
        )

    def _float32_bound(self) -> float | None:
        """The float32 certificate, or None past the rounding model's limit (``N u >= 1``).

        That is a limit of the bound (too many terms for float32's roundoff), reported as such.
        """
        try:
            return self.certified_bound(1.0, dtype=torch.float32)
        except ValueError:
            return None

    def exact_arithmetic_bound(self, radius: float = 1.0) -> float:
        """The certificate without its rounding term (exact-arithmetic forward passes)."""
        return compose_bound(self.norms, radius)

    @property
    def max_weight_error(self) -> float:
        """Largest per-weight error over all layers."""
        return max(float(e.max()) for e in self.errors)

    def as_module(self) -> nn.Sequential:
        """The ticket as a forward-usable module (the pruned source blocks in order)."""
        return nn.Sequential(*self.layers)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Ticket output on ``x``."""
        return self.as_module()(x)

    def check_domain(
        self, x: torch.Tensor, radius: float = 1.0, *, dtype: torch.dtype = torch.float64
    ) -> None:
        """Refuse inputs outside the certificate's domain (see :meth:`input_domain`).

        Raises:
            ValueError: Naming ``x`` and the domain, if a row has norm above ``radius`` (beyond
                ``DOMAIN_SLACK_ULPS`` roundoffs), a negative entry when the input is non-negative, or a
                non-finite entry; naming ``radius`` if it is negative.
        """
        if not radius >= 0:
            raise ValueError(f"radius must be >= 0, got {radius!r}")
        domain = self.input_domain(radius)["description"]
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"x must be a non-empty batch (rows = inputs), got shape {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"x must be finite; the certificate's domain is {domain}")
        norms = x.flatten(1).to(torch.float64).norm(dim=1)
        limit = float(radius) * (1 + DOMAIN_SLACK_ULPS * unit_roundoff(dtype))
        worst = int(norms.argmax())
        if float(norms[worst]) > limit:
            raise ValueError(
                f"x row {worst} has norm {float(norms[worst]):.6g}, outside the certificate's domain "
                f"{domain}; pass radius= to measure on a larger ball"
            )
        if self.nonnegative_input and bool((x < 0).any()):
            raise ValueError(
                f"x has negative entries (min {float(x.min()):.3g}), outside the certificate's domain "
                f"{domain}: the ticket was built with nonnegative_input=True"
            )

    @torch.no_grad()
    def measure(
        self, target: nn.Module, x: torch.Tensor, *, radius: float = 1.0, dtype: torch.dtype = torch.float64
    ) -> float:
        """Largest ``||target(x_i) - ticket(x_i)||_2`` over the rows of ``x``, both run in ``dtype``.

        Compare with ``certified_bound(radius, dtype=dtype)``.

        Raises:
            ValueError: If a row of ``x`` is outside the certificate's domain (:meth:`check_domain`).
        """
        dev = self.layers[0].b.device
        x = x.to(dev, dtype)
        self.check_domain(x, radius, dtype=dtype)
        t = copy.deepcopy(target).to(dev, dtype)(x)  # a copy: never change the caller's model
        y = self(x)
        # Subtract in float64 (exact casts): the measured gap gets no rounding beyond float64's.
        return float((t.to(torch.float64) - y.to(torch.float64)).flatten(1).norm(dim=1).max())

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
        """Test accuracy (percent) of the ticket on ``(x, y)``."""
        dev = self.layers[0].b.device
        correct = 0
        for s in range(0, len(x), batch):
            out = self(x[s : s + batch].to(dev, torch.float32))
            correct += int((out.argmax(1) == y[s : s + batch].to(dev)).sum())
        return 100.0 * correct / len(x)

    def source_module(self, *, masked: bool = True, seed: int = 0) -> nn.Sequential:
        """The dense random source network (depth 2L); with ``masked`` the masks and perturbation applied.

        Entries outside the block-diagonal first layers are drawn U[-1, 1] from ``seed`` (they are always
        pruned, so their values never matter); the rest are the ticket's own random weights.
        """
        gen = torch.Generator().manual_seed(seed)
        mods: list[nn.Module] = []
        for layer in self.layers:
            units = layer.a.numel()
            d_in = layer.d_in
            reg = layer.col < d_in
            if layer.flatten_before:
                mods.append(nn.Flatten())
            if layer.kind == "conv":
                cfg = layer.conv
                kh, kw = cfg["kernel_size"]
                c_in = cfg["in_channels"]
                w1 = torch.rand(units, c_in * kh * kw, generator=gen, dtype=torch.float64) * 2 - 1
            else:
                w1 = torch.rand(units, d_in, generator=gen, dtype=torch.float64) * 2 - 1
            bias1 = torch.rand(units, generator=gen, dtype=torch.float64) * 2 - 1
            m1 = torch.zeros_like(w1, dtype=torch.bool)
            idx = torch.nonzero(reg).flatten()
            a = layer.a.cpu().double()
            w1[idx, layer.col.cpu()[idx]] = a[idx]
            m1[idx, layer.col.cpu()[idx]] = layer.mask1.cpu()[idx]
            bias_units = torch.nonzero(~reg.cpu()).flatten()
            bias1[bias_units] = a[bias_units]
            mb = torch.zeros(units, dtype=torch.bool)
            mb[bias_units] = layer.mask1.cpu()[bias_units]
            w2 = layer.b.cpu().double().clone()
            if masked:
                w1, bias1 = w1 * m1, bias1 * mb
                w2 = (w2 + layer.pert.cpu().double()) * layer.mask2.cpu()
            if layer.kind == "conv":
                first = nn.Conv2d(
                    c_in, units, (kh, kw), stride=cfg["stride"], padding=cfg["padding"], bias=True
                )
                second = nn.Conv2d(units, w2.shape[0], 1, bias=False)
                w1 = w1.reshape(units, c_in, kh, kw)
                w2 = w2.reshape(*w2.shape, 1, 1)
            else:
                first = nn.Linear(d_in, units, bias=True)
                second = nn.Linear(units, w2.shape[0], bias=False)
            with torch.no_grad():
                first.weight.copy_(w1.float())
                first.bias.copy_(bias1.float())
                second.weight.copy_(w2.float())
            mods += [first, nn.ReLU(), second]
            if layer.relu_after:
                mods.append(nn.ReLU())
        return nn.Sequential(*mods)

    def layer_counts(self) -> dict[str, Any]:
        """Kept parameters per kind of source layer (a subclass with another layout says its own)."""
        return {
            "kept_first_layer": int(sum(int(layer.mask1.sum()) for layer in self.layers)),
            "kept_second_layer": int(sum(int(layer.mask2.sum()) for layer in self.layers)),
        }

    def report(self) -> dict[str, Any]:
        """JSON-ready summary (the ``report.json`` of a construct run)."""
        total = sum(e.numel() for e in self.errors)
        return {
            "method": self.method,
            "eps": self.eps,
            "budget": self.budget,
            "perturbation": self.perturbation,
            "certified_bound": self.certified_bound(1.0),
            "certified_bound_float32": self._float32_bound(),
            "certified_bound_exact_arithmetic": self.exact_arithmetic_bound(1.0),
            "input_domain": self.input_domain(1.0),
            "max_weight_error": self.max_weight_error,
            "tolerances": self.tolerances,
            "candidates_per_weight": self.candidates_per_weight,
            "target_weights": self.target_weights,
            "source_params": self.source_params,
            "kept_params": self.kept_params,
            "kept_ratio": self.kept_ratio,
            **self.layer_counts(),
            "failed_weights": [list(f) for f in self.failed_weights],
            "num_failed_weights": len(self.failed_weights),
            "success_fraction": 1.0 - len(self.failed_weights) / max(1, total),
            "layer_norms": [dataclasses.asdict(n) for n in self.norms],
            **self.meta,
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors of the ticket (masks as bool) for ``torch.save``."""
        out = {}
        for i, layer in enumerate(self.layers):
            for k, v in layer.state_dict().items():
                out[f"layer{i}.{k}"] = v.detach().cpu()
        return out


def spectral_norm(m: torch.Tensor) -> float:
    """Largest singular value (float64, exact SVD)."""
    if m.numel() == 0:
        return 0.0
    return float(torch.linalg.matrix_norm(m.to(torch.float64), ord=2))


def patch_factor(conv: dict | None) -> float:
    """``sqrt(P)``: how many patches an input pixel can appear in, square-rooted (1 for linear)."""
    if conv is None:
        return 1.0
    (kh, kw), (sh, sw) = conv["kernel_size"], conv["stride"]
    return math.sqrt(math.ceil(kh / sh) * math.ceil(kw / sw))
