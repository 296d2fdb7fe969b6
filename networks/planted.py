"""A planted ticket as a mask-search problem: the constructed ticket's source network, masked.

Plant 'n' Seek (Fischer & Burkholz, "Plant 'n' Seek: Can You Find the Winning Ticket?", ICLR 2022,
arXiv 2111.11153) plants a ticket of known sparsity in a random network and asks whether pruning
algorithms find it. Here the planted ticket is a certified construction
(:func:`networks.construct_ticket`, Pensia et al. 2020): its source network is a random network whose
weights are all i.i.d. U[-1, 1] (the block weights ``a`` and ``b`` of the construction, and the entries
the construction never uses, drawn by :meth:`~networks.construct.ticket.Ticket.source_module`), and the
ticket is a mask of it.

:func:`planted_source` turns a :class:`~networks.construct.ticket.Ticket` into a :class:`PlantedSource`:
per masked layer the frozen source weights (exactly ``source_module(masked=False)``'s, float32) and the
planted mask (bool). :meth:`PlantedSource.model` builds the Edge-Popup model on it: every source layer a
:class:`PlantedLinear` (a :class:`~networks.layers.MaskedLinear` with the source weights and fresh
scores). A first source layer's bias is masked too (the construction keeps the biases of its bias units
only), so it is realised as one more weight column fed by a constant-1 input (:class:`AppendOne`);
this is the construction's own column layout (``ConstructedLayer.columns``). With the planted masks put
in, the unscaled model (``scaled=False``) computes the ticket; the default model ends with a
:class:`FanInScale`, which multiplies the logits by the per-layer fan-in scales at the current density
(the same predictions; the searches start from logits of order one at every density).

Per-layer densities. The planted ticket keeps very different fractions of each layer (about one entry
per row in a first source layer, a SubsetSum subset of every block in a second). A model built here keeps
in layer ``l`` the fraction ``min(1, allocation_l * density)`` where ``allocation_l`` is the planted
density of layer ``l`` over the planted global density; ``density`` (what the training methods set, per
cycle) is the network-level nominal density. At the planted density every layer keeps exactly the
planted count, so the planted mask is a point of the search space; at ``f`` times it every layer keeps
``f`` times its planted fraction.

:func:`recovery` measures how much of the planted mask a found mask recovers: precision
(``|M & P| / |M|``), recall (``|M & P| / |P|``) and, from the Dying Ratio tracker's ever-selected masks
(Iwasawa et al., ``networks.training.dying``), the dying ratio of the planted edges (the fraction of
planted edges never selected in any training forward). A random mask with the same per-layer counts has
expected recall equal to the layer densities (:func:`chance_recall`).
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from networks.layers import MaskedLinear
from networks.masks import check_density, kept_count
from theory.validate import check_range

__all__ = [
    "AppendOne",
    "FanInScale",
    "PlantedLinear",
    "PlantedSource",
    "chance_recall",
    "load_planted",
    "planted_source",
    "recovery",
    "save_planted",
]


class AppendOne(nn.Module):
    """``x -> [x, 1]`` on the last dimension: the constant column that carries a masked bias."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)


#: Standard deviation of a U[-1, 1] weight, the law of every source weight.
UNIFORM_STD = 1.0 / math.sqrt(3.0)


class FanInScale(nn.Module):
    """Multiply the logits by the product of per-layer fan-in scales at the layers' current densities.

    A source layer ``l`` with weights of standard deviation ``UNIFORM_STD`` that keeps on average
    ``k_l = max(1, kept_l / out_l)`` inputs per unit grows the activations' scale by about
    ``UNIFORM_STD * sqrt(k_l) / gain_l``; unscaled, the logits of a random mask grow with density times
    fan-in (factor 2 of the planted density starts cross-entropy from logits about 4 times larger). The scale
    ``c_l = gain_l / (UNIFORM_STD * sqrt(k_l))`` (``gain = sqrt(2)`` before a ReLU, 1 otherwise) is the
    density-scaled Kaiming scale ``gain / sqrt(density * fan_in)`` of Ramanujan et al.'s scaled inits
    (algorithms.md §1.2, the corrected ``scale_fan``) for our U[-1, 1] weights.

    Why one factor at the end is the per-layer scale: a ReLU network is positively homogeneous. Scaling
    layer ``l`` by ``c_l``, with the constant column that carries a bias fed ``prod_{j<l} c_j`` instead of
    1, multiplies every layer's output by ``prod_{j<=l} c_j``: the logits by ``T = prod_l c_l``, the
    predictions unchanged, and the network as a function of the masks is exactly ``T`` times the unscaled
    one (so are the mask gradients the scores see). ``T`` follows the layers' densities, so every iEP
    cycle is normalised at its own density.

    Args:
        layers: The source layers (not registered as submodules: the model owns them).
        gains: One gain per layer.
    """

    def __init__(self, layers: list[PlantedLinear], gains: list[float]) -> None:
        super().__init__()
        if len(layers) != len(gains) or not layers:
            raise ValueError(
                f"layers and gains must be non-empty and of equal length, got {len(layers)}, {len(gains)}"
            )
        self._layers = tuple(layers)
        self.gains = tuple(float(g) for g in gains)

    def temperature(self) -> float:
        """``T = prod_l gain_l / (UNIFORM_STD * sqrt(max(1, kept_l / out_l)))`` at the current densities."""
        t = 1.0
        for layer, gain in zip(self._layers, self.gains, strict=True):
            kept = kept_count(layer.weight.numel(), layer.layer_density)
            t *= gain / (UNIFORM_STD * math.sqrt(max(1.0, kept / layer.out_features)))
        return t

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x * self.temperature()

    def extra_repr(self) -> str:  # noqa: D102
        return f"temperature={self.temperature():.4g}"


class PlantedLinear(MaskedLinear):
    """A :class:`MaskedLinear` (no bias) with given frozen weights and a per-layer density allocation.

    ``density`` is the network's nominal density (what the training methods set each cycle); the layer
    keeps the fraction :attr:`layer_density` ``= min(1, allocation * density)``.

    Args:
        weight: The frozen source weight, ``(out, in)``; copied.
        allocation: This layer's planted density over the planted global density (> 0).
        density: The nominal density, in ``(0, 1]``.
        score_init: A ``networks.inits.SCORE_INITS`` name.
        generator: Source of the score draws.
    """

    def __init__(
        self,
        weight: torch.Tensor,
        *,
        allocation: float,
        density: float,
        score_init: str = "kaiming_uniform_a_sqrt5",
        generator: torch.Generator | None = None,
    ) -> None:
        alloc = check_range("allocation", allocation, 0.0, None, lo_open=True)
        nominal = check_density(density)
        super().__init__(
            weight.shape[1],
            weight.shape[0],
            bias=False,
            density=min(1.0, alloc * nominal),
            weight_init="uniform",
            score_init=score_init,
            generator=generator,
            dtype=torch.float32,
        )
        self.allocation = alloc
        self._nominal = nominal
        with torch.no_grad():
            self.weight.copy_(weight)

    @property
    def density(self) -> float:
        """The nominal (network-level) density; this layer keeps :attr:`layer_density`."""
        return self._nominal

    @density.setter
    def density(self, value: float) -> None:
        self._nominal = check_density(value)
        self._density = min(1.0, self.allocation * self._nominal)

    @property
    def layer_density(self) -> float:
        """The fraction of this layer's weights kept: ``min(1, allocation * density)``."""
        return self._density

    def extra_repr(self) -> str:  # noqa: D102
        return super().extra_repr() + f", allocation={self.allocation:.4g}"


@dataclasses.dataclass
class PlantedSource:
    """The source network of a constructed ticket and the planted mask, layer by layer.

    Attributes:
        layers: Ordered ``name -> {"weight": float32 (out, in), "planted": bool (out, in)}``.
        plan: The module sequence: ``("flatten",)``, ``("one",)``, ``("linear", name)``, ``("relu",)``.
        meta: Facts about the construction (method, eps, candidates per weight, seeds).
    """

    layers: dict[str, dict[str, torch.Tensor]]
    plan: list[tuple[str, ...]]
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def planted_counts(self) -> dict[str, int]:
        """Planted (kept) edges per layer."""
        return {k: int(v["planted"].sum()) for k, v in self.layers.items()}

    @property
    def sizes(self) -> dict[str, int]:
        """Weights per layer."""
        return {k: v["weight"].numel() for k, v in self.layers.items()}

    @property
    def density(self) -> float:
        """The planted ticket's global density: planted edges over source weights."""
        return sum(self.planted_counts.values()) / sum(self.sizes.values())

    @property
    def allocation(self) -> dict[str, float]:
        """Per layer, the planted layer density over the planted global density."""
        d = self.density
        return {k: self.planted_counts[k] / self.sizes[k] / d for k in self.layers}

    def layer_densities(self, density: float) -> dict[str, float]:
        """The fraction each layer keeps at nominal ``density`` (as :class:`PlantedLinear` computes it)."""
        density = check_density(density)
        return {k: min(1.0, a * density) for k, a in self.allocation.items()}

    def max_density(self) -> float:
        """The largest nominal density at which no layer is capped at 1 (every layer scales by the factor)."""
        return min(1.0, 1.0 / max(self.allocation.values()))

    def model(
        self,
        density: float | None = None,
        *,
        score_init: str = "kaiming_uniform_a_sqrt5",
        generator: torch.Generator | None = None,
        scaled: bool = True,
    ) -> nn.Sequential:
        """The Edge-Popup model on the source weights (scores from ``generator``), at nominal ``density``.

        Args:
            density: Nominal density; None means the planted density.
            score_init: A ``networks.inits.SCORE_INITS`` name.
            generator: Source of the score draws (None: ``torch.Generator().manual_seed(0)``).
            scaled: End with a :class:`FanInScale` (the normalised source the searches run on); False
                gives the raw source, whose planted masks compute the ticket itself.
        """
        density = self.density if density is None else check_density(density)
        gen = torch.Generator().manual_seed(0) if generator is None else generator
        alloc = self.allocation
        mods: OrderedDict[str, nn.Module] = OrderedDict()
        for i, op in enumerate(self.plan):
            if op[0] == "linear":
                name = op[1]
                mods[name] = PlantedLinear(
                    self.layers[name]["weight"],
                    allocation=alloc[name],
                    density=density,
                    score_init=score_init,
                    generator=gen,
                )
            else:
                mods[f"{op[0]}{i}"] = {"flatten": nn.Flatten, "one": AppendOne, "relu": nn.ReLU}[op[0]]()
        if scaled:
            names = [op[1] for op in self.plan if op[0] == "linear"]
            after = {
                op[1]: self.plan[i + 1][0] if i + 1 < len(self.plan) else ""
                for i, op in enumerate(self.plan)
                if op[0] == "linear"
            }
            gains = [math.sqrt(2.0) if after[n] == "relu" else 1.0 for n in names]
            mods["scale"] = FanInScale([mods[n] for n in names], gains)
        return nn.Sequential(mods)

    def planted_masks(self, device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
        """The planted mask per layer name (bool)."""
        return {k: v["planted"].to(device) for k, v in self.layers.items()}

    def plant(self, model: nn.Module) -> nn.Module:
        """Put the planted masks into ``model`` (a :meth:`model` output) as fixed masks; returns it.

        Every :class:`PlantedLinear` switches to ``mask_mode="fixed"`` with the planted mask, so the model
        computes the planted ticket.
        """
        for name, layer in model.named_children():
            if isinstance(layer, PlantedLinear):
                layer.set_mask_mode("fixed")
                layer.set_mask(self.layers[name]["planted"].to(layer.weight.device))
                layer.weight.requires_grad_(False)
        return model


def planted_source(ticket: Any, *, seed: int = 0) -> PlantedSource:
    """The source network of ``ticket`` with the planted mask (linear, unperturbed tickets).

    The weights are exactly those of ``ticket.source_module(masked=False, seed=seed)`` (float32), the
    first-layer bias as the last column of the first-layer weight; the masks are the ticket's
    (``mask1`` at each unit's column, ``mask2``).

    Args:
        ticket: A :class:`~networks.construct.ticket.Ticket`.
        seed: Seed of the source entries the construction never uses (``Ticket.source_module``).

    Raises:
        ValueError: For a conv layer, or a perturbed ticket (its kept weights are not source weights).
    """
    for i, layer in enumerate(ticket.layers):
        if layer.kind != "linear":
            raise ValueError(f"planted_source supports linear tickets only; layer {i} is {layer.kind!r}")
        if bool((layer.pert != 0).any()):
            raise ValueError(
                "planted_source needs an unperturbed ticket (perturbation=0): a perturbed ticket's kept "
                "weights are not weights of the source network"
            )
    source = ticket.source_module(masked=False, seed=seed)
    linears = [m for m in source if isinstance(m, nn.Linear)]
    layers: dict[str, dict[str, torch.Tensor]] = {}
    plan: list[tuple[str, ...]] = []
    for i, layer in enumerate(ticket.layers):
        first, second = linears[2 * i], linears[2 * i + 1]
        units = layer.a.numel()
        w1 = torch.cat([first.weight.detach(), first.bias.detach()[:, None]], dim=1).float()
        m1 = torch.zeros(units, layer.d_in + 1, dtype=torch.bool)
        # Unit u reads column col[u] (d_in = the constant-1 column, i.e. the unit's bias).
        m1[torch.arange(units), layer.col.cpu()] = layer.mask1.cpu()
        if layer.flatten_before:
            plan.append(("flatten",))
        plan += [("one",), ("linear", f"fc{i}a"), ("relu",), ("linear", f"fc{i}b")]
        if layer.relu_after:
            plan.append(("relu",))
        layers[f"fc{i}a"] = {"weight": w1.contiguous(), "planted": m1}
        layers[f"fc{i}b"] = {
            "weight": second.weight.detach().float().clone(),
            "planted": layer.mask2.cpu().clone(),
        }
    meta = {
        "method": ticket.method,
        "eps": ticket.eps,
        "budget": ticket.budget,
        "candidates_per_weight": list(ticket.candidates_per_weight),
        "construction_seed": ticket.meta.get("seed"),
        "source_seed": int(seed),
        "num_failed_weights": len(ticket.failed_weights),
    }
    return PlantedSource(layers, plan, meta)


def save_planted(path: str | Path, source: PlantedSource) -> None:
    """Write ``source`` with ``torch.save`` (tensors, lists, dicts: loads with ``weights_only=True``)."""
    import io

    from theory.plumbing.records import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"layers": source.layers, "plan": [list(p) for p in source.plan], "meta": source.meta}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_planted(path: str | Path) -> PlantedSource:
    """Read a :func:`save_planted` file."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    return PlantedSource(dict(state["layers"]), [tuple(p) for p in state["plan"]], dict(state["meta"]))


def recovery(
    masks: Mapping[str, torch.Tensor],
    planted: Mapping[str, torch.Tensor],
    ever: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, float | int | None]:
    """How much of the planted mask ``masks`` recovers, over all layers together (raw counts included).

    Args:
        masks: The found mask per layer (bool).
        planted: The planted mask per layer (bool), same names and shapes.
        ever: Optional ever-selected masks of the Dying Ratio tracker (bool), same names and shapes.

    Returns:
        ``kept`` (|M|), ``planted`` (|P|), ``hits`` (|M & P|), ``precision`` (hits / kept), ``recall``
        (hits / planted), and with ``ever``: ``planted_ever`` (planted edges ever selected) and
        ``planted_dying_ratio`` (1 - planted_ever / planted); None without ``ever``.

    Raises:
        ValueError: If the layer names or shapes differ, or a mask is not bool.
    """
    _check_same(masks, planted, "masks")
    if ever is not None:
        _check_same(ever, planted, "ever")
    kept = sum(int(masks[k].sum()) for k in planted)
    n_planted = sum(int(planted[k].sum()) for k in planted)
    hits = sum(int((masks[k].cpu() & planted[k].cpu()).sum()) for k in planted)
    out: dict[str, float | int | None] = {
        "kept": kept,
        "planted": n_planted,
        "hits": hits,
        "precision": hits / kept if kept else math.nan,
        "recall": hits / n_planted if n_planted else math.nan,
        "planted_ever": None,
        "planted_dying_ratio": None,
    }
    if ever is not None:
        used = sum(int((ever[k].cpu() & planted[k].cpu()).sum()) for k in planted)
        out["planted_ever"] = used
        out["planted_dying_ratio"] = 1.0 - used / n_planted if n_planted else math.nan
    return out


def chance_recall(source: PlantedSource, density: float) -> float:
    """Expected recall of a uniformly random mask with the model's per-layer counts at ``density``.

    In layer ``l`` a random subset of ``k_l`` of ``n_l`` entries holds each planted edge with probability
    ``k_l / n_l``, so the expected recall is ``sum_l |P_l| k_l / n_l / |P|``.
    """
    dens = source.layer_densities(density)
    counts, sizes = source.planted_counts, source.sizes
    total = sum(counts.values())
    return sum(counts[k] * kept_count(sizes[k], dens[k]) / sizes[k] for k in counts) / total


def _check_same(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], what: str) -> None:
    if set(a) != set(b):
        raise ValueError(f"{what} has layers {sorted(a)}, the planted mask has {sorted(b)}")
    for k in b:
        if a[k].dtype != torch.bool or a[k].shape != b[k].shape:
            raise ValueError(
                f"{what}[{k!r}] must be a bool tensor of shape {tuple(b[k].shape)}, got "
                f"{a[k].dtype} {tuple(a[k].shape)}"
            )
