"""best_subsets (numpy and torch back ends) against the per-row brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory import BatchSubsetResult, best_subset, best_subsets
from theory.oracle import brute_force_best_subsets

# Multiples of 1/8 with |v| <= 2: every subset sum is exact in float32, so the float32 search is exact
# and errors and sizes must equal the oracle's bit for bit.
dyadic = st.integers(-16, 16).map(lambda k: k / 8)


@st.composite
def problems(draw):
    m = draw(st.integers(1, 6))
    n = draw(st.integers(1, 9))
    x = np.array(draw(st.lists(dyadic, min_size=m * n, max_size=m * n))).reshape(m, n)
    z = np.array(draw(st.lists(dyadic, min_size=m, max_size=m)))
    p = draw(st.sampled_from([0.0, 0.125, 0.25]))
    e = draw(st.sampled_from([None, 0.0, 0.125, 0.5]))
    valid = None
    if draw(st.booleans()):
        valid = np.array(draw(st.lists(st.booleans(), min_size=m * n, max_size=m * n))).reshape(m, n)
    return x, z, p, e, valid


def _check(res, x, z, p, e, valid):
    masks, errors, values = np.asarray(res.masks), np.asarray(res.errors), np.asarray(res.values)
    want_err, want_size = brute_force_best_subsets(x, z, perturbation=p, max_error=e, valid=valid)
    np.testing.assert_array_equal(errors, want_err)
    np.testing.assert_array_equal(masks.sum(axis=1), want_size)
    if valid is not None:
        assert not np.any(masks & ~valid)
    sums = np.where(masks, x, 0.0).sum(axis=1)
    reach = masks.sum(axis=1) * p
    np.testing.assert_array_equal(errors, np.maximum(0.0, np.abs(sums - z) - reach))
    np.testing.assert_allclose(np.abs(values - z), errors, atol=1e-12)


@given(problems())
def test_numpy_equals_oracle(problem):
    x, z, p, e, valid = problem
    _check(best_subsets(x, z, perturbation=p, max_error=e, valid=valid), x, z, p, e, valid)


@given(problems())
def test_torch_cpu_equals_oracle_and_numpy(problem):
    torch = pytest.importorskip("torch")
    x, z, p, e, valid = problem
    res = best_subsets(x, z, perturbation=p, max_error=e, valid=valid, device="cpu")
    assert isinstance(res.masks, torch.Tensor) and res.masks.dtype == torch.bool
    assert res.errors.dtype == torch.float64
    _check(res, x, z, p, e, valid)
    ref = best_subsets(x, z, perturbation=p, max_error=e, valid=valid)
    np.testing.assert_array_equal(res.errors.numpy(), ref.errors)


@pytest.mark.parametrize("device", [None, "cpu"])
@pytest.mark.parametrize(("p", "e"), [(0.0, None), (0.0, 0.01), (0.02, None), (0.02, 0.01)])
def test_random_floats_within_float32_slack(device, p, e):
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (40, 10)) * rng.uniform(-1, 1, (40, 10))
    z = rng.uniform(-0.46, 0.54, 40)
    res = best_subsets(x, z, perturbation=p, max_error=e, device=device)
    want_err, want_size = brute_force_best_subsets(x, z, perturbation=p, max_error=e)
    errors = np.asarray(res.errors)
    sizes = np.asarray(res.masks).sum(axis=1)
    assert np.all(errors <= want_err + 1e-6)
    if e is not None:
        # Rows that qualify get a qualifying subset no larger than the oracle's (float32 slack at the edge).
        ok = want_err <= e - 1e-6
        assert np.all(errors[ok] <= e + 1e-6)
        assert np.all(sizes[ok] <= want_size[ok])


def test_pensia_shaped_rows_match_single_solver():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (12, 21)) * rng.uniform(-1, 1, (12, 21))
    z = rng.uniform(-0.46, 0.54, 12)
    res = best_subsets(x, z, chunk_rows=5, num_threads=2)
    single = np.array([best_subset(x[r], z[r]).error for r in range(12)])
    assert np.all(res.errors <= single + 2e-6)
    assert np.all(res.errors >= single - 1e-15)


def test_min_cardinality_mode_gives_sparser_subsets():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (200, 12))
    z = rng.uniform(-0.5, 0.5, 200)
    dense = best_subsets(x, z)
    sparse = best_subsets(x, z, max_error=0.01)
    assert np.all(sparse.masks.sum(axis=1) <= dense.masks.sum(axis=1))
    assert sparse.masks.sum() < dense.masks.sum()
    assert np.all(sparse.errors <= np.maximum(dense.errors, 0.01) + 1e-6)


def test_result_types_and_empty_batch():
    res = best_subsets(np.zeros((0, 5)), np.zeros(0))
    assert isinstance(res, BatchSubsetResult)
    assert res.masks.shape == (0, 5) and res.errors.shape == (0,)
    one = best_subsets([[0.5, 0.25]], [0.25])
    assert one.masks.tolist() == [[False, True]] and one.errors.tolist() == [0.0]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros(3), np.zeros(3)), {}, "2-D"),
        ((np.zeros((2, 0)), np.zeros(2)), {}, "2-D"),
        ((np.zeros((2, 33)), np.zeros(2)), {}, "n <= 32"),
        ((np.full((2, 3), np.nan), np.zeros(2)), {}, "finite"),
        ((np.zeros((2, 3)), np.zeros(3)), {}, "targets must have shape"),
        ((np.zeros((2, 3)), np.array([0.0, np.inf])), {}, "finite"),
        ((np.zeros((2, 3)), np.zeros(2)), {"perturbation": -1.0}, "perturbation"),
        ((np.zeros((2, 3)), np.zeros(2)), {"max_error": -1.0}, "max_error"),
        ((np.zeros((2, 3)), np.zeros(2)), {"valid": np.ones((2, 2), bool)}, "valid"),
        ((np.zeros((2, 3)), np.zeros(2)), {"valid": np.ones((2, 3))}, "valid"),
        ((np.full((2, 3), 1e38), np.zeros(2)), {}, "float32"),
        ((np.zeros((2, 3)), np.zeros(2)), {"chunk_rows": 0}, "chunk_rows"),
    ],
)
def test_bad_input_is_refused(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        best_subsets(*args, **kwargs)


@pytest.mark.gpu
@pytest.mark.parametrize(("p", "e"), [(0.0, None), (0.0, 0.01), (0.02, 0.01)])
def test_cuda_equals_numpy(p, e):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.integers(-64, 65, (500, 15)) / 64
    z = rng.integers(-32, 33, 500) / 64
    res = best_subsets(
        torch.tensor(x, device="cuda"),
        torch.tensor(z, device="cuda"),
        perturbation=p,
        max_error=e,
        device="cuda",
    )
    ref = best_subsets(x, z, perturbation=p, max_error=e)
    assert res.masks.device.type == "cuda"
    np.testing.assert_array_equal(res.errors.cpu().numpy(), ref.errors)
    np.testing.assert_array_equal(res.masks.sum(dim=1).cpu().numpy(), ref.masks.sum(axis=1))
