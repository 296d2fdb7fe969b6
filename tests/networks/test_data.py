"""Offline datasets, file readers and the batch iterator (networks.data, networks.loaders)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from networks import data as data_mod
from networks.data import DATASETS, batches, load_dataset, register_dataset
from networks.loaders import RestrictedUnpickler, read_idx, restricted_load


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------- registry
def test_registry_names_and_errors():
    assert set(DATASETS) >= {
        "mnist1d",
        "digits",
        "teacher_student",
        "mnist_idx",
        "fashion_mnist_idx",
        "cifar10",
    }
    with pytest.raises(ValueError, match=r"valid datasets: .*digits"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("digits")(lambda **kw: None)


# ----------------------------------------------------------------------------------- synthetic
def test_digits_shapes_range_and_stratified_seeded_split():
    ds = load_dataset("digits", seed=3)
    assert ds.x_train.shape == (1437, 1, 8, 8) and ds.x_test.shape == (360, 1, 8, 8)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.in_shape == (1, 8, 8) and ds.num_classes == 10
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    counts = torch.bincount(ds.y_test, minlength=10)
    assert int(counts.max() - counts.min()) <= 2  # stratified: ~36 per class
    again, other = load_dataset("digits", seed=3), load_dataset("digits", seed=4)
    assert torch.equal(again.x_train, ds.x_train) and not torch.equal(other.y_train, ds.y_train)


def test_teacher_student_labels_are_the_teachers_argmax():
    ds = load_dataset("teacher_student", seed=1, in_dim=5, hidden=(7,), num_classes=3, n_train=50, n_test=20)
    assert ds.x_train.shape == (50, 5) and ds.x_test.shape == (20, 5) and ds.in_shape == (5,)
    w1, w2 = (torch.tensor(w) for w in ds.meta["teacher"])
    x = torch.cat([ds.x_train, ds.x_test])
    expected = (torch.relu(x @ w1.T) @ w2.T).argmax(dim=1)
    assert torch.equal(torch.cat([ds.y_train, ds.y_test]), expected)
    same = load_dataset(
        "teacher_student", seed=1, in_dim=5, hidden=(7,), num_classes=3, n_train=50, n_test=20
    )
    assert torch.equal(same.x_train, ds.x_train)


@pytest.fixture(scope="module")
def mnist1d_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mnist1d_cache")


def test_mnist1d_published_shapes_cache_and_no_global_rng_change(mnist1d_root, monkeypatch):
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking that we leave it alone)
    ds = load_dataset("mnist1d", root=mnist1d_root)
    assert np.array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40) and ds.in_shape == (40,)
    assert set(ds.y_train.unique().tolist()) == set(range(10))
    cached = list((mnist1d_root / "mnist1d").glob("*.npz"))
    assert len(cached) == 1
    with np.load(cached[0], allow_pickle=False) as z:  # a plain npz, no pickled objects
        assert set(z.files) == {"x", "y", "x_test", "y_test"}

    import mnist1d.data

    def fail(*a, **k):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(mnist1d.data, "make_dataset", fail)
    again = load_dataset("mnist1d", root=mnist1d_root)
    assert torch.equal(again.x_train, ds.x_train) and torch.equal(again.y_test, ds.y_test)
    with pytest.raises(ValueError, match="unknown mnist1d options"):
        load_dataset("mnist1d", root=mnist1d_root, colour=True)


# ------------------------------------------------------------------------------------------ IDX
def _idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08}[arr.dtype]
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write_idx_set(directory: Path, rng: np.random.Generator, n_train=6, n_test=4, gz=False) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
        else:
            (directory / name).write_bytes(_idx_bytes(arr))
    return arrays


@pytest.mark.parametrize(
    ("name", "subdir", "gz"), [("mnist_idx", "mnist", False), ("fashion_mnist_idx", "FashionMNIST/raw", True)]
)
def test_idx_datasets_read_tiny_files(tmp_path, name, subdir, gz):
    arrays = _write_idx_set(tmp_path / subdir, np.random.default_rng(0), gz=gz)
    ds = load_dataset(name, root=tmp_path)
    assert (
        ds.x_train.shape == (6, 1, 28, 28)
        and ds.x_test.shape == (4, 1, 28, 28)
        and ds.in_shape == (1, 28, 28)
    )
    np.testing.assert_allclose(ds.x_train[:, 0].numpy(), arrays["train-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test.numpy(), arrays["t10k-labels-idx1-ubyte"])


def test_idx_reader_validates_magic_shape_and_pairs(tmp_path):
    good = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    path = tmp_path / "f"
    path.write_bytes(b"\x00\x01" + _idx_bytes(good)[2:])
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)
    path.write_bytes(_idx_bytes(good)[:-1])
    with pytest.raises(ValueError, match="declares shape"):
        read_idx(path)
    path.write_bytes(_idx_bytes(good))
    np.testing.assert_array_equal(read_idx(path), good)
    with pytest.raises(ValueError, match="expected 1"):
        read_idx(path, expected_ndim=1)
    arrays = _write_idx_set(tmp_path / "mnist", np.random.default_rng(1))
    (tmp_path / "mnist" / "train-labels-idx1-ubyte").write_bytes(
        _idx_bytes(arrays["train-labels-idx1-ubyte"][:5])
    )
    with pytest.raises(ValueError, match=r"6 images but .* 5 labels"):
        load_dataset("mnist_idx", root=tmp_path)


def test_missing_files_say_where_to_put_what(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("mnist_idx", root=tmp_path)
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte" in msg and str(tmp_path / "mnist") in msg and "SLTH_DATA" in msg
    monkeypatch.setenv("SLTH_DATA", str(tmp_path / "env_root"))
    with pytest.raises(FileNotFoundError, match=r"data_batch_1.*test_batch.*env_root"):
        load_dataset("cifar10")
    _write_idx_set(tmp_path / "env_root" / "mnist", np.random.default_rng(2))
    assert load_dataset("mnist_idx").x_train.shape[0] == 6  # found through SLTH_DATA


# ---------------------------------------------------------------------------------------- CIFAR
def _write_cifar(directory: Path, rng: np.random.Generator, protocol: int) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, name in enumerate([*(f"data_batch_{j}" for j in range(1, 6)), "test_batch"]):
        x = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, 3)]
        batch = {
            b"batch_label": f"batch {i}".encode(),
            b"labels": y,
            b"data": x,
            b"filenames": [b"a", b"b", b"c"],
        }
        (directory / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        written[name] = (x, y)
    return written


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_reads_python_batches_with_the_restricted_unpickler(tmp_path, protocol):
    written = _write_cifar(tmp_path / "cifar-10-batches-py", np.random.default_rng(protocol), protocol)
    ds = load_dataset("cifar10", root=tmp_path)
    assert (
        ds.x_train.shape == (15, 3, 32, 32)
        and ds.x_test.shape == (3, 3, 32, 32)
        and ds.in_shape == (3, 32, 32)
    )
    x0, y0 = written["data_batch_1"]
    np.testing.assert_allclose(ds.x_train[:3].numpy(), x0.reshape(3, 3, 32, 32) / 255.0, rtol=1e-6)
    assert ds.y_train[:3].tolist() == y0 and ds.y_test.tolist() == written["test_batch"][1]
    normed = load_dataset("cifar10", root=tmp_path, normalize=True)
    assert not torch.allclose(normed.x_train, ds.x_train)


class _Exploit:
    """Unpickling this would create a file through builtins.open."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_restricted_unpickler_refuses_code_execution(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Exploit(marker)}, protocol=2))
    with pytest.raises(ValueError, match=r"refusing to load global (builtins|io)\.open"):
        restricted_load(path)
    assert not marker.exists()
    assert ("os", "system") not in RestrictedUnpickler.ALLOWED
    # Control: the same payload through plain pickle really would have run (so the test can fail).
    pickle.loads(path.read_bytes())[b"data"].close()
    assert marker.exists()


# -------------------------------------------------------------------------------------- batches
def test_batches_cover_each_example_once_in_a_seeded_order():
    x, y = torch.arange(10).float()[:, None], torch.arange(10)
    seen = torch.cat([yb for _, yb in batches(x, y, 3, generator=gen(1))])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    again = torch.cat([yb for _, yb in batches(x, y, 3, generator=gen(1))])
    assert torch.equal(seen, again)
    for xb, yb in batches(x, y, 4, generator=gen(2)):
        assert torch.equal(xb[:, 0].long(), yb)
    assert [len(b[1]) for b in batches(x, y, 4, shuffle=False, drop_last=True)] == [4, 4]
    assert [b[1].tolist() for b in batches(x, y, 6, shuffle=False)] == [list(range(6)), list(range(6, 10))]
    with pytest.raises(ValueError, match=r"explicit torch\.Generator"):
        next(batches(x, y, 3))
    with pytest.raises(ValueError, match="same length"):
        next(batches(x, y[:5], 3, shuffle=False))


def test_dataset_helpers():
    ds = load_dataset("teacher_student", n_train=30, n_test=10)
    small = ds.subset(5, 2)
    assert small.x_train.shape[0] == 5 and small.y_test.shape[0] == 2
    assert ds.to("cpu").x_train.device.type == "cpu"
    with pytest.raises(ValueError, match="n_train"):
        ds.subset(31)
    assert data_mod.data_root(Path("/x")) == Path("/x")
