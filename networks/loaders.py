"""Readers for dataset files a user supplies: MNIST-style IDX files and CIFAR-10 python batches.

Both readers validate what they read (magic numbers, declared shapes against the bytes present,
label ranges) and raise ``ValueError`` naming the file when something does not fit.

CIFAR-10's "python version" batches are pickles. Unpickling can run arbitrary code, so these files
are read with :class:`RestrictedUnpickler`, which resolves only the handful of globals a CIFAR batch
needs (numpy array and dtype reconstruction, and ``_codecs.encode`` for byte strings written by
protocol-2 pickles); dicts, lists, bytes, str and int are built by pickle opcodes without any global
lookup. Anything else, such as ``os.system``, is refused before it can be called.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CIFAR10_FILES",
    "IDX_FILES",
    "RestrictedUnpickler",
    "find_file",
    "load_cifar10_arrays",
    "load_idx_pair",
    "read_idx",
    "restricted_load",
]

# IDX type codes (LeCun et al., "THE MNIST DATABASE of handwritten digits", file-format section).
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


def find_file(directories: list[Path], name: str) -> Path | None:
    """The first of ``<dir>/<name>`` or ``<dir>/<name>.gz`` that exists, over ``directories``."""
    for d in directories:
        for candidate in (d / name, d / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
    # Decide by content, not by name: gzip files start with 1f 8b.
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        return fh.read()


def read_idx(path: str | os.PathLike, *, expected_ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (raw or gzip), validating the magic number and the declared shape.

    The header is two zero bytes, a type code, the number of dimensions, then one big-endian uint32
    per dimension; the data follow, big-endian, in row-major order.

    Args:
        path: The file.
        expected_ndim: If given, the number of dimensions the file must declare (3 for images, 1 for
            labels).

    Returns:
        The array in native byte order.

    Raises:
        ValueError: Naming the file, on a bad magic number, an unexpected number of dimensions or a
            byte count that does not match the header.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: not an IDX file (magic number {data[:4].hex() if len(data) >= 4 else data.hex()!r}; "
            f"expected 0000 followed by a type code in {sorted(hex(t) for t in _IDX_DTYPES)})"
        )
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise ValueError(f"{path}: IDX file declares {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header declares shape {shape} ({expected} data bytes) but the file holds "
            f"{len(data) - header} data bytes"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx_pair(images: Path, labels: Path, *, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Read an images/labels pair of IDX files and check that they belong together.

    Returns:
        ``(images, labels)`` with images ``(N, rows, cols)`` as stored and labels ``(N,)`` int64.

    Raises:
        ValueError: If the counts differ or a label is outside ``[0, num_classes)``.
    """
    x = read_idx(images, expected_ndim=3)
    y = read_idx(labels, expected_ndim=1).astype(np.int64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{images} holds {x.shape[0]} images but {labels} holds {y.shape[0]} labels")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{labels}: labels must lie in [0, {num_classes}), found [{y.min()}, {y.max()}]")
    return x, y


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals needed to rebuild numpy arrays.

    Allowed: ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``,
    ``numpy.ndarray``, ``numpy.dtype``, ``numpy.core.numeric._frombuffer`` /
    ``numpy._core.numeric._frombuffer`` and ``_codecs.encode``. Everything else raises
    ``pickle.UnpicklingError``.
    """

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a data file")
        return super().find_class(module, name)


def restricted_load(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (``encoding="bytes"``, as CIFAR needs).

    Raises:
        ValueError: Naming the file, when it is not a pickle or asks for a forbidden global.
    """
    data = _read_bytes(Path(path))
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: cannot be read as a CIFAR python batch: {err}") from None


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    obj = restricted_load(path)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict, got {type(obj).__name__}")
    # Keys are bytes for the official files (pickled by Python 2); accept str keys as well.
    get = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in get or "labels" not in get:
        raise ValueError(f"{path}: missing 'data' or 'labels' (keys: {sorted(get)})")
    x = np.asarray(get["data"])
    y = np.asarray(get["labels"], dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: 'data' must be uint8 of shape (N, 3072), got {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{path}: {x.shape[0]} images but labels of shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{path}: labels must lie in [0, 10), found [{y.min()}, {y.max()}]")
    return x.reshape(-1, 3, 32, 32), y


def load_cifar10_arrays(directory: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read ``data_batch_1..5`` and ``test_batch`` from ``directory``.

    Returns:
        ``(x_train, y_train, x_test, y_test)`` with images uint8 ``(N, 3, 32, 32)``.
    """
    parts = [_cifar_batch(find_file([directory], name)) for name in CIFAR10_FILES[:5]]
    x_test, y_test = _cifar_batch(find_file([directory], CIFAR10_FILES[5]))
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        x_test,
        y_test,
    )
