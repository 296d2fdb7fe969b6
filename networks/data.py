"""Offline datasets as in-memory tensors, behind one registry.

``load_dataset(name, root=..., seed=...)`` returns a :class:`Dataset` whose tensors live on the CPU
(``x`` float32, ``y`` int64); move it with :meth:`Dataset.to`. Nothing is downloaded.

Registered datasets:

* ``mnist1d``: MNIST-1D (Greydanus, "Scaling down deep learning", arXiv 2011.14439), generated
  offline by the ``mnist1d`` package's ``make_dataset`` with its published defaults
  ``get_dataset_args()`` (4000 train / 1000 test sequences of length 40, generation seed 42). The
  generated arrays are cached as ``<data root>/mnist1d/mnist1d_<hash>.npz`` (never a pickle).
  Keyword overrides of the generation arguments (e.g. ``num_samples=10000``) are allowed.
* ``digits``: scikit-learn's bundled 8x8 digits (1797 images), scaled to [0, 1], shape (1, 8, 8),
  with a stratified train/test split drawn from ``seed`` (``test_fraction=0.2``).
* ``teacher_student``: Gaussian inputs labelled by the argmax of a random ReLU teacher MLP.
* ``mnist_idx`` / ``fashion_mnist_idx``: the four IDX files (raw or ``.gz``), images scaled to [0, 1],
  shape (1, 28, 28).
* ``cifar10``: the python batches ``data_batch_1..5`` and ``test_batch``, read with a restricted
  unpickler (see :mod:`networks.loaders`), images scaled to [0, 1], shape (3, 32, 32).

The data root is the ``root`` argument, else the ``SLTH_DATA`` environment variable, else
``~/.cache/slth-toolkit/data``. A missing file raises ``FileNotFoundError`` saying which files to put
where.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from networks.loaders import CIFAR10_FILES, IDX_FILES, find_file, load_cifar10_arrays, load_idx_pair
from theory.plumbing.records import atomic_write_bytes
from theory.registry import lookup, register
from theory.validate import check_int, check_range

__all__ = [
    "DATASETS",
    "Dataset",
    "batches",
    "data_root",
    "load_dataset",
    "register_dataset",
]


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset held in memory.

    Attributes:
        name: Registry name.
        x_train: Training inputs, float32, shape ``(N, *in_shape)``.
        y_train: Training labels, int64, shape ``(N,)``, values in ``[0, num_classes)``.
        x_test: Test inputs, float32.
        y_test: Test labels, int64.
        in_shape: Shape of one input (without the batch dimension).
        num_classes: Number of classes.
        meta: Extra facts about how the data were made (JSON-ready).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    in_shape: tuple[int, ...]
    num_classes: int
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to(self, device: torch.device | str) -> Dataset:
        """A copy with every tensor on ``device`` (resolved by ``networks.devices.resolve_device``)."""
        from networks.devices import resolve_device

        dev = resolve_device(device)
        return dataclasses.replace(
            self,
            x_train=self.x_train.to(dev),
            y_train=self.y_train.to(dev),
            x_test=self.x_test.to(dev),
            y_test=self.y_test.to(dev),
        )

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` training and ``n_test`` test examples (None keeps all)."""
        n_train = (
            len(self.y_train) if n_train is None else check_int("n_train", n_train, 1, len(self.y_train))
        )
        n_test = len(self.y_test) if n_test is None else check_int("n_test", n_test, 1, len(self.y_test))
        return dataclasses.replace(
            self,
            x_train=self.x_train[:n_train],
            y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test],
            y_test=self.y_test[:n_test],
        )


Loader = Callable[..., Dataset]
DATASETS: dict[str, Loader] = {}


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Decorator adding ``loader(*, root: Path, seed: int, **kw) -> Dataset`` to ``DATASETS``."""
    return lambda fn: register(DATASETS, "dataset", name, fn)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$SLTH_DATA``, else ``~/.cache/slth-toolkit/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("SLTH_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "slth-toolkit" / "data"


def load_dataset(name: str, *, root: str | os.PathLike | None = None, seed: int = 0, **kw: Any) -> Dataset:
    """Load a registered dataset into CPU tensors.

    Args:
        name: A key of ``DATASETS`` (mnist1d, digits, teacher_student, mnist_idx, fashion_mnist_idx,
            cifar10).
        root: Data root (see :func:`data_root`).
        seed: Seed for any random split or synthetic draw (fixed published datasets ignore it).
        **kw: Dataset-specific options (see each loader).

    Returns:
        The dataset.

    Raises:
        ValueError: For an unknown name (the message lists the valid ones) or bad options.
        FileNotFoundError: When user-supplied files are missing (the message says where to put them).
    """
    loader = lookup(DATASETS, "dataset", name)
    return loader(root=data_root(root), seed=check_int("seed", seed, 0), **kw)


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Iterate over ``(x_batch, y_batch)`` minibatches of in-memory tensors.

    The permutation is drawn on the CPU from ``generator`` (so it is identical on every device) and
    applied on the tensors' device.

    Args:
        x: Inputs, first dimension the examples.
        y: Labels, same first dimension.
        batch_size: Examples per batch (>= 1).
        generator: Required when ``shuffle`` is True.
        shuffle: Visit the examples in a random order.
        drop_last: Skip a final batch smaller than ``batch_size``.

    Yields:
        Pairs of tensors on ``x``'s device.

    Raises:
        ValueError: On mismatched lengths, a bad batch size, or ``shuffle`` without a generator.
    """
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x and y must have the same length, got {n} and {y.shape[0]}")
    batch_size = check_int("batch_size", batch_size, 1)
    if shuffle:
        if generator is None:
            raise ValueError("batches(shuffle=True) needs an explicit torch.Generator (generator=...)")
        order = torch.randperm(n, generator=generator, device=generator.device).to(x.device)
    else:
        order = None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield x[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]


def _from_numpy(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
    meta: dict[str, Any] | None = None,
) -> Dataset:
    xt = torch.as_tensor(np.ascontiguousarray(x_train), dtype=torch.float32)
    xs = torch.as_tensor(np.ascontiguousarray(x_test), dtype=torch.float32)
    return Dataset(
        name=name,
        x_train=xt,
        y_train=torch.as_tensor(np.asarray(y_train), dtype=torch.int64),
        x_test=xs,
        y_test=torch.as_tensor(np.asarray(y_test), dtype=torch.int64),
        in_shape=tuple(int(s) for s in xt.shape[1:]),
        num_classes=int(num_classes),
        meta=meta or {},
    )


# ------------------------------------------------------------------------------------------ mnist1d
def _mnist1d_args(overrides: dict[str, Any]) -> dict[str, Any]:
    from mnist1d.data import get_dataset_args

    args = dict(vars(get_dataset_args()))
    args.pop("url", None)
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise ValueError(f"unknown mnist1d options {unknown}; valid: {sorted(args)}")
    args.update(overrides)
    return args


@register_dataset("mnist1d")
def _load_mnist1d(*, root: Path, seed: int, cache: bool = True, **overrides: Any) -> Dataset:
    """MNIST-1D generated offline with ``mnist1d``'s published defaults.

    Args:
        root: Data root; the cache goes to ``<root>/mnist1d/``.
        seed: Unused: the published dataset fixes its own generation seed (42). To draw a different
            dataset pass ``generation_seed=``.
        cache: Read/write the ``.npz`` cache.
        **overrides: mnist1d generation arguments (``num_samples``, ``train_split``, ...) and
            ``generation_seed``.
    """
    if "generation_seed" in overrides:
        overrides["seed"] = check_int("generation_seed", overrides.pop("generation_seed"), 0)
    args = _mnist1d_args(overrides)
    key = hashlib.sha256(json.dumps(args, sort_keys=True, default=list).encode()).hexdigest()[:12]
    path = root / "mnist1d" / f"mnist1d_{key}.npz"
    if cache and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("x", "y", "x_test", "y_test")}
    else:
        from mnist1d.data import make_dataset
        from mnist1d.utils import ObjectView

        # make_dataset seeds Python's and numpy's global generators; put them back afterwards so that
        # loading data never changes anyone else's random stream.
        np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
        try:
            raw = make_dataset(ObjectView(dict(args)))
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)
        arrays = {k: np.asarray(raw[k]) for k in ("x", "y", "x_test", "y_test")}
        if cache:
            import io

            buf = io.BytesIO()
            np.savez(buf, **arrays)
            atomic_write_bytes(path, buf.getvalue())
    return _from_numpy(
        "mnist1d",
        arrays["x"],
        arrays["y"],
        arrays["x_test"],
        arrays["y_test"],
        10,
        {"mnist1d_args": args, "cache": str(path) if cache else None},
    )


# ------------------------------------------------------------------------------------------- digits
@register_dataset("digits")
def _load_digits(*, root: Path, seed: int, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 8x8 digits in [0, 1], stratified split drawn from ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    test_fraction = check_range("test_fraction", test_fraction, 0.0, 1.0, lo_open=True, hi_open=True)
    bunch = load_digits()
    x = (bunch.data / 16.0).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)
    return _from_numpy("digits", x_tr, y_tr, x_te, y_te, 10, {"test_fraction": test_fraction, "seed": seed})


# ---------------------------------------------------------------------------------- teacher_student
@register_dataset("teacher_student")
def _load_teacher_student(
    *,
    root: Path,
    seed: int,
    in_dim: int = 20,
    hidden: tuple[int, ...] = (50,),
    num_classes: int = 10,
    n_train: int = 4000,
    n_test: int = 1000,
) -> Dataset:
    """Inputs ``x ~ N(0, I_in_dim)`` labelled ``argmax teacher(x)`` by a random ReLU MLP.

    The teacher's weights are ``N(0, 1/fan_in)`` without biases, drawn (with the inputs) from a
    ``torch.Generator`` seeded with ``seed``; they are returned in ``meta["teacher"]`` as lists.
    """
    in_dim = check_int("in_dim", in_dim, 1)
    num_classes = check_int("num_classes", num_classes, 2)
    n_train, n_test = check_int("n_train", n_train, 1), check_int("n_test", n_test, 1)
    widths = [in_dim, *(check_int("hidden", h, 1) for h in hidden), num_classes]
    gen = torch.Generator().manual_seed(seed)
    layers = [torch.randn(o, i, generator=gen) / i**0.5 for i, o in itertools.pairwise(widths)]
    x = torch.randn(n_train + n_test, in_dim, generator=gen)
    h = x
    for j, w in enumerate(layers):
        h = h @ w.T
        if j < len(layers) - 1:
            h = torch.relu(h)
    y = h.argmax(dim=1)
    return Dataset(
        name="teacher_student",
        x_train=x[:n_train],
        y_train=y[:n_train],
        x_test=x[n_train:],
        y_test=y[n_train:],
        in_shape=(in_dim,),
        num_classes=num_classes,
        meta={"widths": widths, "seed": seed, "teacher": [w.tolist() for w in layers]},
    )


# -------------------------------------------------------------------------------------- IDX (MNIST)
def _missing(dataset: str, files: list[str], directories: list[Path], hint: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"dataset {dataset!r} not found: put {', '.join(files)} (each raw or .gz) into {directories[0]} "
        f"(searched: {', '.join(str(d) for d in directories)}). {hint} Choose the data root with "
        "load_dataset(..., root=DIR) or the SLTH_DATA environment variable."
    )


def _load_idx_dataset(name: str, root: Path, subdirs: list[str], hint: str) -> Dataset:
    directories = [root / s for s in subdirs] + [root]
    found = {key: find_file(directories, fname) for key, fname in IDX_FILES.items()}
    absent = [IDX_FILES[k] for k, p in found.items() if p is None]
    if absent:
        raise _missing(name, absent, directories, hint)
    x_tr, y_tr = load_idx_pair(found["train_images"], found["train_labels"])
    x_te, y_te = load_idx_pair(found["test_images"], found["test_labels"])
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise ValueError(f"{name}: train images {x_tr.shape[1:]} and test images {x_te.shape[1:]} differ")
    scale = 255.0 if x_tr.dtype == np.uint8 else 1.0
    return _from_numpy(
        name,
        (x_tr / scale)[:, None],
        y_tr,
        (x_te / scale)[:, None],
        y_te,
        10,
        {"files": {k: str(p) for k, p in found.items()}},
    )


@register_dataset("mnist_idx")
def _load_mnist_idx(*, root: Path, seed: int) -> Dataset:
    """MNIST from the four IDX files in ``<root>/mnist/``, ``<root>/MNIST/raw/`` or ``<root>/``."""
    return _load_idx_dataset(
        "mnist_idx", root, ["mnist", "MNIST/raw"], "MNIST is published by Y. LeCun et al."
    )


@register_dataset("fashion_mnist_idx")
def _load_fashion_mnist_idx(*, root: Path, seed: int) -> Dataset:
    """Fashion-MNIST from the IDX files in ``<root>/fashion_mnist/``, ``FashionMNIST/raw/`` or ``<root>/``."""
    return _load_idx_dataset(
        "fashion_mnist_idx",
        root,
        ["fashion_mnist", "FashionMNIST/raw"],
        "Fashion-MNIST is published by Zalando Research (github.com/zalandoresearch/fashion-mnist).",
    )


# ------------------------------------------------------------------------------------------ cifar10
CIFAR10_MEAN = (0.491, 0.482, 0.447)
CIFAR10_STD = (0.247, 0.243, 0.262)


@register_dataset("cifar10")
def _load_cifar10(*, root: Path, seed: int, normalize: bool = False) -> Dataset:
    """CIFAR-10 from the python batches in ``<root>/cifar-10-batches-py/``, ``cifar10/`` or ``<root>/``.

    Args:
        root: Data root.
        seed: Unused (the split is the official one).
        normalize: Subtract Edge-Popup's per-channel mean and divide by its std (hidden-networks
            ``data/cifar.py``) instead of leaving pixels in [0, 1].
    """
    directories = [root / "cifar-10-batches-py", root / "cifar10", root]
    for d in directories:
        if all(find_file([d], f) is not None for f in CIFAR10_FILES):
            x_tr, y_tr, x_te, y_te = load_cifar10_arrays(d)
            break
    else:
        raise _missing(
            "cifar10",
            list(CIFAR10_FILES),
            directories,
            "These are the files of the 'CIFAR-10 python version' archive (cifar-10-python.tar.gz, "
            "www.cs.toronto.edu/~kriz/cifar.html), extracted.",
        )
    ds = _from_numpy("cifar10", x_tr / 255.0, y_tr, x_te / 255.0, y_te, 10, {"normalize": bool(normalize)})
    if normalize:
        mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
        ds = dataclasses.replace(ds, x_train=(ds.x_train - mean) / std, x_test=(ds.x_test - mean) / std)
    return ds


@register_dataset("cifar10-ep")
def _load_cifar10_ep(*, root: Path, seed: int) -> Dataset:
    """CIFAR-10 normalised with Edge-Popup's per-channel mean and std (hidden-networks ``data/cifar.py``).

    The dataset of ``--scale full``: a name of its own because a run's config names its dataset only.
    Without the source's RandomCrop/flip augmentation (the trainer has none).
    """
    return _load_cifar10(root=root, seed=seed, normalize=True)
