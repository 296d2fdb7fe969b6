"""Reading a target network into affine layers, and the target presets.

A target is an ``nn.Sequential`` of ``Linear``, ``Conv2d``, ``ReLU`` and ``Flatten`` (any depth). It is
read into :class:`AffineSpec` records: the weight as a matrix over its input columns (for a conv the
``unfold`` columns ``c_in * kh * kw``, channel-major as ``torch.nn.functional.unfold`` orders them), the
bias, whether a ReLU follows, and whether the layer's input is non-negative (it follows a ReLU).

Presets (``load_target``): ``pensia-fc2`` (the shared 784-500-10 MNIST network of Pensia et al. 2020,
``pensia_fc2_mnist.npz``), and ``digits-mlp``, ``mnist1d-mlp``, ``digits-cnn`` trained on the fly with a
few epochs of Adam (small, so that construction tests stay fast).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "PRESETS",
    "AffineSpec",
    "load_pensia_fc2",
    "load_target_file",
    "parse_target",
    "save_target",
    "train_preset",
]

SUPPORTED_LAYERS = ("Linear", "Conv2d", "ReLU", "Flatten")


@dataclasses.dataclass
class AffineSpec:
    """One affine target layer.

    Attributes:
        kind: ``"linear"`` or ``"conv"``.
        weight: Float64 ``(d_out, d_in)`` (conv: ``d_in = c_in * kh * kw``).
        bias: Float64 ``(d_out,)`` or None.
        relu: Whether a ReLU follows.
        nonneg_input: Whether the input is known to be non-negative.
        flatten_before: Whether a ``Flatten`` precedes the layer.
        conv: For convs: ``{"in_channels", "kernel_size", "stride", "padding"}``.
    """

    kind: str
    weight: torch.Tensor
    bias: torch.Tensor | None
    relu: bool = False
    nonneg_input: bool = False
    flatten_before: bool = False
    conv: dict | None = None


def parse_target(target: nn.Module, *, nonnegative_input: bool = False) -> list[AffineSpec]:
    """Read ``target`` (an ``nn.Sequential``) into affine layer specs.

    Args:
        target: The network.
        nonnegative_input: Declare the network's input non-negative (e.g. pixels in [0, 1]): the first
            layer then needs only the positive half of each ReLU block and the certificate covers
            ``x >= 0`` only.

    Returns:
        The specs, in order.

    Raises:
        ValueError: For anything that is not a supported layer or layout.
    """
    if not isinstance(target, nn.Sequential):
        raise ValueError(
            f"target must be an nn.Sequential of {', '.join(SUPPORTED_LAYERS)}; got {type(target).__name__}"
        )
    specs: list[AffineSpec] = []
    nonneg = bool(nonnegative_input)
    flatten = False
    for i, mod in enumerate(target):
        if isinstance(mod, nn.Linear):
            w = mod.weight.detach().to(torch.float64).cpu()
            specs.append(AffineSpec("linear", w, _bias(mod), nonneg_input=nonneg, flatten_before=flatten))
            nonneg, flatten = False, False
        elif isinstance(mod, nn.Conv2d):
            if mod.groups != 1 or tuple(mod.dilation) != (1, 1) or mod.padding_mode != "zeros":
                raise ValueError(
                    f"layer {i} (Conv2d): only groups=1, dilation=1, padding_mode='zeros' are supported"
                )
            if isinstance(mod.padding, str):
                raise ValueError(f"layer {i} (Conv2d): give padding as integers, not {mod.padding!r}")
            w = mod.weight.detach().to(torch.float64).cpu()
            conv = {
                "in_channels": mod.in_channels,
                "kernel_size": tuple(mod.kernel_size),
                "stride": tuple(mod.stride),
                "padding": tuple(mod.padding),
            }
            specs.append(
                AffineSpec("conv", w.reshape(w.shape[0], -1), _bias(mod), nonneg_input=nonneg, conv=conv)
            )
            if flatten:
                raise ValueError(f"layer {i} (Conv2d) follows a Flatten; flatten only before Linear layers")
            nonneg = False
        elif isinstance(mod, nn.ReLU):
            if not specs or specs[-1].relu or flatten:
                raise ValueError(f"layer {i} (ReLU) must directly follow a Linear or Conv2d layer")
            specs[-1].relu = True
            nonneg = True
        elif isinstance(mod, nn.Flatten):
            flatten = True
        else:
            raise ValueError(
                f"layer {i} is {type(mod).__name__}; supported layers: {', '.join(SUPPORTED_LAYERS)}"
            )
    if not specs:
        raise ValueError("target has no Linear or Conv2d layer")
    return specs


def _bias(mod: nn.Module) -> torch.Tensor | None:
    return None if mod.bias is None else mod.bias.detach().to(torch.float64).cpu()


def load_pensia_fc2(path: str | Path) -> nn.Sequential:
    """The 784-500-10 no-bias MNIST network of Pensia et al. (NeurIPS 2020) from its npz.

    Args:
        path: ``pensia_fc2_mnist.npz`` (arrays ``fc1_weight`` (500, 784), ``fc2_weight`` (10, 500)).

    Returns:
        ``Flatten, Linear(784, 500), ReLU, Linear(500, 10)`` (float32, no biases).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"Pensia target not found at {path}; pass --target PATH to pensia_fc2_mnist.npz"
        )
    with np.load(path, allow_pickle=False) as data:
        w1, w2 = data["fc1_weight"], data["fc2_weight"]
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 500, bias=False), nn.ReLU(), nn.Linear(500, 10, bias=False)
    )
    with torch.no_grad():
        net[1].weight.copy_(torch.from_numpy(np.asarray(w1, dtype=np.float32)))
        net[3].weight.copy_(torch.from_numpy(np.asarray(w2, dtype=np.float32)))
    return net


def save_target(
    model: nn.Sequential, path: str | Path, *, input_shape: tuple[int, ...] | None = None
) -> Path:
    """Save a target network in the toolkit's file format, readable by :func:`load_target_file`.

    The file is a ``torch.save`` of plain data only (a layer list of dicts, the state_dict tensors and the
    input shape), so it loads with ``torch.load(..., weights_only=True)``: no pickled code.

    Args:
        model: ``nn.Sequential`` of Linear/Conv2d/ReLU/Flatten.
        path: Destination (``.pt``), written atomically.
        input_shape: Shape of one input; required when the model has a Conv2d layer.

    Returns:
        The destination.
    """
    import io

    from theory.plumbing.records import atomic_write_bytes

    parse_target(model)  # refuse unsupported layers before writing anything
    layers = []
    for mod in model:
        if isinstance(mod, nn.Linear):
            layers.append(
                {
                    "type": "Linear",
                    "in": mod.in_features,
                    "out": mod.out_features,
                    "bias": mod.bias is not None,
                }
            )
        elif isinstance(mod, nn.Conv2d):
            layers.append(
                {
                    "type": "Conv2d",
                    "in": mod.in_channels,
                    "out": mod.out_channels,
                    "kernel_size": list(mod.kernel_size),
                    "stride": list(mod.stride),
                    "padding": list(mod.padding),
                    "bias": mod.bias is not None,
                }
            )
        else:
            layers.append({"type": type(mod).__name__})
    if input_shape is None and any(lay["type"] == "Conv2d" for lay in layers):
        raise ValueError("input_shape=(C, H, W) is required to save a target with Conv2d layers")
    if input_shape is None:
        input_shape = (next(lay["in"] for lay in layers if lay["type"] == "Linear"),)
    blob = {
        "format": "slth-target-v1",
        "layers": layers,
        "input_shape": [int(v) for v in input_shape],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    buf = io.BytesIO()
    torch.save(blob, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_target_file(path: str | Path) -> tuple[nn.Sequential, tuple[int, ...]]:
    """Read a target network from a file: ``(model, input_shape)``.

    Accepted files (all read without unpickling code: ``torch.load(..., weights_only=True)``, and
    ``np.load(..., allow_pickle=False)``):

    * ``.pt``/``.pth`` written by :func:`save_target` (layer list + state_dict + input shape);
    * ``.pt``/``.pth`` holding a bare ``state_dict`` of an MLP ``nn.Sequential`` (keys ``"<i>.weight"``,
      optionally ``"<i>.bias"``, 2-D weights only): read as ``Flatten, Linear, ReLU, ..., Linear``, the
      Linear layers in index order with a ReLU between consecutive ones (the usual MLP; a conv target needs
      the :func:`save_target` format, because kernel strides and paddings are not in a state_dict);
    * ``.npz`` with the same state_dict keys as arrays, or Pensia et al.'s ``fc1_weight``/``fc2_weight``.

    Args:
        path: The file.

    Returns:
        The target (float32, eval mode) and the shape of one input.

    Raises:
        FileNotFoundError: When the file is missing.
        ValueError: When the file is not one of the formats above (the message says which keys it found).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"target file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if {"fc1_weight", "fc2_weight"} <= set(data.files):
                return load_pensia_fc2(path), (1, 28, 28)
            state = {k: torch.from_numpy(np.array(data[k])) for k in data.files}
        return _mlp_from_state_dict(state, path)
    if suffix not in (".pt", ".pth"):
        raise ValueError(f"target file must end in .pt, .pth or .npz; got {path.name!r}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled objects: say what we accept
        raise ValueError(
            f"{path} is not a plain tensor file (torch.load with weights_only=True failed: {exc}); "
            "save targets with networks.construct.targets.save_target or torch.save(model.state_dict())"
        ) from exc
    if isinstance(blob, dict) and blob.get("format") == "slth-target-v1":
        model = _sequential_from_layers(blob["layers"], path)
        model.load_state_dict(blob["state_dict"], strict=True)
        return model.float().eval(), tuple(int(v) for v in blob["input_shape"])
    if isinstance(blob, dict) and all(isinstance(v, torch.Tensor) for v in blob.values()):
        return _mlp_from_state_dict(blob, path)
    raise ValueError(f"{path}: expected a state_dict or a file written by save_target")


def _sequential_from_layers(layers: list[dict], path: Path) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i, lay in enumerate(layers):
        kind = lay.get("type")
        if kind == "Linear":
            mods.append(nn.Linear(lay["in"], lay["out"], bias=lay["bias"]))
        elif kind == "Conv2d":
            mods.append(
                nn.Conv2d(
                    lay["in"],
                    lay["out"],
                    tuple(lay["kernel_size"]),
                    stride=tuple(lay["stride"]),
                    padding=tuple(lay["padding"]),
                    bias=lay["bias"],
                )
            )
        elif kind == "ReLU":
            mods.append(nn.ReLU())
        elif kind == "Flatten":
            mods.append(nn.Flatten())
        else:
            raise ValueError(
                f"{path}: layer {i} is {kind!r}; supported layers: {', '.join(SUPPORTED_LAYERS)}"
            )
    return nn.Sequential(*mods)


def _mlp_from_state_dict(state: dict, path: Path) -> tuple[nn.Sequential, tuple[int, ...]]:
    weights = {}
    for key, value in state.items():
        idx, _, name = key.partition(".")
        if not idx.isdigit() or name not in ("weight", "bias"):
            raise ValueError(
                f"{path}: key {key!r} is not '<index>.weight' or '<index>.bias' of an nn.Sequential; "
                f"keys found: {sorted(state)}"
            )
        weights.setdefault(int(idx), {})[name] = value
    if not weights or any("weight" not in v or v["weight"].ndim != 2 for v in weights.values()):
        raise ValueError(
            f"{path}: a bare state_dict is read as an MLP and needs a 2-D '<index>.weight' per layer; "
            "save conv targets with networks.construct.targets.save_target"
        )
    mods: list[nn.Module] = [nn.Flatten()]
    order = sorted(weights)
    for pos, idx in enumerate(order):
        w = weights[idx]["weight"]
        lin = nn.Linear(w.shape[1], w.shape[0], bias="bias" in weights[idx])
        with torch.no_grad():
            lin.weight.copy_(w.to(torch.float32))
            if "bias" in weights[idx]:
                lin.bias.copy_(weights[idx]["bias"].to(torch.float32))
        mods.append(lin)
        if pos < len(order) - 1:
            if weights[order[pos + 1]]["weight"].shape[1] != w.shape[0]:
                raise ValueError(
                    f"{path}: layer {idx} has {w.shape[0]} outputs but the next takes a different width"
                )
            mods.append(nn.ReLU())
    return nn.Sequential(*mods).eval(), (int(weights[order[0]]["weight"].shape[1]),)


#: preset name -> (dataset, ``networks.models`` architecture)
PRESETS = {
    "digits-mlp": ("digits", "target-mlp"),
    "mnist1d-mlp": ("mnist1d", "target-mlp"),
    "digits-cnn": ("digits", "target-cnn"),
}


def train_preset(name: str, *, seed: int = 0, epochs: int = 60) -> tuple[nn.Sequential, object]:
    """Train a small target preset on CPU (full-batch Adam), keeping weights inside [-1/2, 1/2].

    Trained by the shared trainer (``networks.training``, method ``bounded_adam``: Adam at lr 0.02 with
    every weight clipped to [-1/2, 1/2] after every step; the SubsetSum results cover that range, Lueker
    1998, and Pensia et al. Thm 1 assumes bounded weights), from PyTorch's default layer init drawn from
    ``seed``, in a temporary run directory. The data are the dataset's standard split.

    Args:
        name: ``digits-mlp``, ``mnist1d-mlp`` or ``digits-cnn``.
        seed: Seed of the initialisation and the (full-batch) data order.
        epochs: Training length; ``5 * epochs`` full-batch Adam steps.

    Returns:
        ``(model, dataset)``: the trained ``nn.Sequential`` in eval mode and the dataset.
    """
    import tempfile

    from networks.data import load_dataset
    from networks.training import TrainConfig, Trainer, train

    if name not in PRESETS:
        raise ValueError(f"unknown target preset {name!r}; valid presets: pensia-fc2, {', '.join(PRESETS)}")
    ds_name, arch = PRESETS[name]
    n_train = len(load_dataset(ds_name, seed=0).y_train)
    cfg = TrainConfig(
        method="bounded_adam",
        model=arch,
        dataset=ds_name,
        epochs=5 * epochs,
        batch_size=n_train,
        lr=0.02,
        lr_schedule="constant",
        weight_decay=0.0,
        weight_init="kaiming_uniform_a_sqrt5",
        box_bound=0.5,
        seed=seed,
        log_every=1000,
    )
    with tempfile.TemporaryDirectory() as tmp:
        # Full-batch epochs are single steps: a checkpoint per epoch would dominate the time.
        res = train(cfg, tmp, experiment="target", quiet=True, checkpoint_every=cfg.epochs)
        trainer = Trainer(cfg, device="cpu", quiet=True)
        trainer.load_state(torch.load(res.run_dir / "checkpoint.pt", map_location="cpu", weights_only=True))
    return trainer.model.eval(), trainer.data
