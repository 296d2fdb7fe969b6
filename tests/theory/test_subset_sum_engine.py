"""best_subsets (numpy and torch back ends): the float64 optimum, against the oracle and best_subset."""

from __future__ import annotations

import itertools
import math

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
    import torch

    x, z, p, e, valid = problem
    res = best_subsets(x, z, perturbation=p, max_error=e, valid=valid, device="cpu")
    assert isinstance(res.masks, torch.Tensor) and res.masks.dtype == torch.bool
    assert res.errors.dtype == torch.float64
    _check(res, x, z, p, e, valid)
    ref = best_subsets(x, z, perturbation=p, max_error=e, valid=valid)
    np.testing.assert_array_equal(res.errors.numpy(), ref.errors)


def _reference(x, z, p, e, valid=None):
    """Per-row exact answer from ``theory.best_subset`` (valid candidates only) plus, in the budget mode,
    the fewest qualifying size found by enumerating sizes upward (itertools; fine for the sizes used)."""
    m, n = x.shape
    ok = np.ones((m, n), bool) if valid is None else valid
    errs, sizes = np.empty(m), np.empty(m, dtype=np.int64)
    for r in range(m):
        cols = np.flatnonzero(ok[r])
        if cols.size == 0:
            errs[r], sizes[r] = abs(z[r]), 0
            continue
        res = best_subset(x[r, cols], z[r], perturbation=p)
        errs[r], sizes[r] = res.error, len(res.indices)
    return errs, sizes


def _fewest_reference(x, z, p, budget, errs, sizes):
    """Fewest-candidates answer per row from all ``2^n`` sums (doubling enumeration, float64)."""
    out_e, out_s = errs.copy(), sizes.copy()
    for r in range(x.shape[0]):
        if errs[r] > budget[r]:
            continue  # no subset qualifies: the minimal-error fallback
        sums, count = np.zeros(1), np.zeros(1, dtype=np.int64)
        for v in x[r]:
            sums, count = np.concatenate([sums, sums + v]), np.concatenate([count, count + 1])
        err = np.maximum(0.0, np.abs(sums - z[r]) - count * p)
        ok = err <= budget[r] + 1e-12
        k = int(count[ok].min())
        out_e[r], out_s[r] = float(err[ok & (count == k)].min()), k
    return out_e, out_s


def _draw(rng, kind, m, n):
    if kind == "uniform":
        return rng.uniform(-1, 1, (m, n)), rng.uniform(-0.5, 0.5, m)
    return rng.uniform(0, 1, (m, n)) * rng.uniform(-1, 1, (m, n)), rng.uniform(-0.5, 0.5, m)


@pytest.mark.parametrize("kind", ["uniform", "product"])
@pytest.mark.parametrize("n", [20, 23, 26, 29, 32])
def test_min_error_is_the_float64_optimum(kind, n):
    # The defect this guards against: a float32 search returned a suboptimal subset in 203 of 440 rows
    # at n = 20..32 (worst excess 1.9e-6). Rows per n are few because best_subset is the reference.
    rng = np.random.default_rng([n, kind == "uniform"])
    m = 8 if n < 30 else 3
    x, z = _draw(rng, kind, m, n)
    res = best_subsets(x, z)
    want_e, want_s = _reference(x, z, 0.0, None)
    np.testing.assert_allclose(res.errors, want_e, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res.sizes, want_s)
    assert res.exact.all()
    np.testing.assert_array_equal(res.sizes, res.masks.sum(axis=1))


@pytest.mark.parametrize("device", [None, "cpu"])
@pytest.mark.parametrize("p", [0.0, 0.004])
def test_perturbation_and_valid_masks_are_exact(device, p):
    rng = np.random.default_rng(11 + int(p * 1000))
    x, z = _draw(rng, "product", 6, 22)
    valid = rng.random((6, 22)) < 0.8
    res = best_subsets(x, z, perturbation=p, valid=valid, device=device)
    errors, sizes = np.asarray(res.errors), np.asarray(res.sizes)
    want_e, want_s = _reference(x, z, p, None, valid)
    np.testing.assert_allclose(errors, want_e, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(sizes, want_s)
    assert not np.any(np.asarray(res.masks) & ~valid)


@pytest.mark.parametrize("device", [None, "cpu"])
@pytest.mark.parametrize(("p", "n"), [(0.0, 20), (0.0, 23), (0.003, 21)])
def test_budgets_scalar_per_row_and_tiny(device, p, n):
    # Per-row budgets mixing 1e-6 (where the float32 search wrongly missed the budget in 64 rows), 1e-3
    # and 0.05; each row's answer against the plain enumeration of sizes.
    rng = np.random.default_rng([n, 3, int(p * 1000)])
    x, z = _draw(rng, "uniform", 9, n)
    budget = np.array([1e-6, 1e-3, 0.05] * 3)
    errs, sizes = _reference(x, z, p, None)
    want_e, want_s = _fewest_reference(x, z, p, budget, errs, sizes)
    res = best_subsets(x, z, perturbation=p, max_error=budget, device=device)
    np.testing.assert_allclose(np.asarray(res.errors), want_e, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(res.sizes), want_s)
    qualifies = errs <= budget
    assert np.all(np.asarray(res.errors)[qualifies] <= budget[qualifies])  # the exact float64 test
    one = best_subsets(x, z, perturbation=p, max_error=1e-6, device=device)
    np.testing.assert_array_equal(np.asarray(one.sizes)[0::3], want_s[0::3])


def test_wide_rows_above_thirty_valid_candidates():
    # Construction-shaped rows: 84 columns, 31..40 valid. Deepening settles small budgets exactly; the
    # rows whose budget no subset meets are settled by the per-row exact search.
    rng = np.random.default_rng(5)
    m, n = 6, 84
    x = rng.uniform(0, 1, (m, n)) * rng.uniform(-1, 1, (m, n))
    z = rng.uniform(-0.5, 0.5, m)
    valid = np.zeros((m, n), bool)
    for r, w in enumerate([31, 33, 35, 36, 38, 40]):
        valid[r, rng.choice(n, w, replace=False)] = True
    budget = np.array([1e-3, 1e-3, 1e-4, 1e-4, 0.0, 0.0])  # 0.0: no subset qualifies (random floats)
    res = best_subsets(x, z, max_error=budget, valid=valid)
    assert res.exact.all()
    assert not np.any(res.masks & ~valid)
    for r in range(4):
        cols = np.flatnonzero(valid[r])
        k = int(res.sizes[r])
        assert res.errors[r] <= budget[r]
        smaller = min(
            max(0.0, abs(math.fsum(x[r, list(c)]) - z[r])) for c in itertools.combinations(cols, k - 1)
        )
        assert smaller > budget[r]  # no subset of one element fewer qualifies
    for r in (4, 5):  # fallback rows: the minimal-error subset over the valid candidates
        assert res.errors[r] == pytest.approx(best_subset(x[r, valid[r]], z[r]).error, abs=1e-12)


def test_rows_at_the_limit_are_flagged():
    # 50 valid candidates (> 48, beyond the single-row exact search) and a budget no small subset meets:
    # the row is returned as at the limit, with the best subset the deepening found.
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, (2, 50))
    z = np.array([0.3, 0.1])
    res = best_subsets(x, z, max_error=np.array([0.0, 0.5]))
    assert res.exact.tolist() == [False, True]
    assert res.sizes[1] <= 1
    plain = best_subsets(x, z)
    assert not plain.exact.any()


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
        ((np.zeros((2, 3)), np.zeros(2)), {"max_error": np.zeros(3)}, "max_error"),
        ((np.zeros((2, 3)), np.zeros(2)), {"max_error": np.array([0.1, np.nan])}, "max_error"),
        ((np.zeros((2, 3)), np.zeros(2)), {"num_threads": 0}, "num_threads"),
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
    import torch

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


@pytest.mark.parametrize("e", [None, 1 / 16])
def test_windows_not_exhausted_fall_back_to_the_exact_table(e, monkeypatch):
    # Multiples of 1/8: long runs of equal half-sums, so some windows hold more pairs than a walk may
    # visit (here at most 2 steps); those rows must go to the float64 size table and stay exact.
    import theory.subset_sum.engine as batched

    calls = []
    table = batched._table_chunks
    monkeypatch.setattr(batched, "_WALK_STEPS", 2)
    monkeypatch.setattr(batched, "_DEEPEN_MAX_COMBOS_MITM", 1)  # deepening stops after size 0
    monkeypatch.setattr(batched, "_table_chunks", lambda *a: calls.append(a[1].shape[0]) or table(*a))
    rng = np.random.default_rng(9)
    x = rng.integers(-8, 9, (12, 22)) / 8
    z = rng.integers(-4, 5, 12) / 8 + 1 / 16
    res = best_subsets(x, z, max_error=e)
    assert calls, "no row reached the fallback"
    want_e, want_s = _reference(x, z, 0.0, None)
    if e is not None:
        want_e, want_s = _fewest_reference(x, z, 0.0, np.full(12, e), want_e, want_s)
    np.testing.assert_array_equal(res.errors, want_e)
    np.testing.assert_array_equal(res.sizes, want_s)


def test_sorted_keys_list_every_subset_once_in_float32_order():
    # The packed keys of one half: every subset exactly once (its true mask and size in the id), sorted,
    # and the value is its |x| terms added in column order in float32 (the sums the rounding bound covers).
    import theory.subset_sum.engine as batched

    rng = np.random.default_rng(4)
    x32 = (rng.uniform(0, 1, (5, 9)) * rng.uniform(-1, 1, (5, 9))).astype(np.float32)
    x32[0, 3] = 0.0  # a zero candidate: two subsets with the same sum
    keys, offset = batched._np_sorted_keys(x32)
    assert np.all(np.diff(keys.astype(np.float64), axis=1) >= 0) and np.all(keys[:, 1:] != keys[:, :-1])
    for r in range(5):
        neg = x32[r] < 0
        np.testing.assert_array_equal(offset[r], x32[r][neg].sum(dtype=np.float32))
        masks = (keys[r] & np.uint64(0xFFFF)).astype(np.int64)
        assert sorted(masks.tolist()) == list(range(1 << 9))
        for key, mask in zip(keys[r], masks, strict=True):
            chosen = [(mask >> i) & 1 for i in range(9)]
            t = np.float32(0.0)
            for i in range(9):
                if chosen[i] != neg[i]:  # |x_i| is added: a positive one kept or a negative one left out
                    t = np.float32(t + abs(x32[r, i]))
            assert int(key) >> 32 == int(np.float32(t).view(np.uint32))
            assert (int(key) >> 16) & 0x1F == sum(chosen)


@pytest.mark.parametrize("n", [20, 22])
def test_fewest_windows_over_all_of_b_per_group_and_none_qualifying(n, monkeypatch):
    # The fewest mode's three outcomes: a qualifying subset listed by the walk over all of B, rows whose
    # walk over all of B does not end (completed per size group of B), and rows where nothing qualifies
    # (the minimal-error subset). Each against the enumeration of all 2^n sums.
    import theory.subset_sum.engine as batched

    groups = []
    codes = batched._window_codes
    monkeypatch.setattr(
        batched, "_window_codes", lambda c, w, g, a: groups.append(list(g)) or codes(c, w, g, a)
    )
    rng = np.random.default_rng([n, 21])
    m = 9
    x, z = _draw(rng, "product", m, n)
    budget = np.array([0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-6, 0.0, 1e-5, 3e-6])
    errs, sizes = _reference(x, z, 0.0, None)
    want_e, want_s = _fewest_reference(x, z, 0.0, budget, errs, sizes)
    res = best_subsets(x, z, max_error=budget)
    np.testing.assert_allclose(res.errors, want_e, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res.sizes, want_s)
    assert np.any(errs > budget) and np.any(errs <= budget)  # both outcomes occur
    assert [None] in groups
    # A walk that may take no step beyond the neighbours cannot cover a window over all of B, so the
    # per-group pass runs; the answers stay exact.
    groups.clear()
    monkeypatch.setattr(batched, "_WALK_STEPS", 0)
    res = best_subsets(x, z, max_error=budget * 100)
    want_e, want_s = _fewest_reference(x, z, 0.0, budget * 100, errs, sizes)
    np.testing.assert_allclose(res.errors, want_e, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res.sizes, want_s)
    assert any(g != [None] for g in groups), "the per-group pass did not run"


@pytest.mark.parametrize("kind", ["product", "near_one"])
def test_float32_distance_is_within_the_proven_window_for_every_pair(kind):
    # The property the float32 prune rests on: every pair (A subset, B subset) whose canonical float64
    # error is e has float32 distance |f| <= e (1 + 2^-23) + delta. Checked on all 2^16 pairs of a few
    # rows, including candidates near 1 (sums of many large terms, where rounding accumulates).
    import theory.subset_sum.engine as batched

    rng = np.random.default_rng([16, kind == "near_one"])
    rows, w = 4, 16
    if kind == "product":
        x = rng.uniform(0, 1, (rows, w)) * rng.uniform(-1, 1, (rows, w))
    else:
        x = rng.uniform(0.9, 1.0, (rows, w)) * rng.choice([-1.0, 1.0], (rows, w))
    z = rng.uniform(-0.5, 0.5, rows) + np.where(x > 0, x, 0).sum(axis=1) / 2
    chunk = batched._NumpyChunk(x.astype(np.float32), z.astype(np.float32), w // 2)
    b_pad, b_keys, _ = chunk.group(None)
    b_vals = b_pad[:, 1:-1]  # without the two sentinels
    f = (chunk.a_vals[:, :, None] + b_vals[:, None, :]) - chunk.zq[:, None, None]
    codes = batched._code(chunk.q_keys)[:, :, None] | (batched._code(b_keys)[:, None, :] << (w // 2))
    worst = 0.0
    for r in range(rows):
        masks = batched._bits(codes[r].reshape(-1), w)
        _, err = batched._canonical(
            np.repeat(x[r : r + 1], masks.shape[0], 0), np.full(masks.shape[0], z[r]), masks, 0.0
        )
        delta = batched._delta(x[r : r + 1], z[r : r + 1])[0]
        excess = np.abs(f[r].reshape(-1).astype(np.float64)) - err * (1 + 2.0**-23)
        assert excess.max() <= delta, (excess.max(), delta)
        worst = max(worst, float(excess.max()) / delta)
    assert worst > 0.0  # rounding is visible: the check is not vacuous
