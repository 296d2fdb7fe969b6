"""Fixed-size SubsetSum (RFSS): the exact solvers against brute force over combinations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theory
from theory.oracle import (
    brute_force_best_subset_fixed,
    brute_force_coverage_error,
    brute_force_coverage_error_fixed,
)
from theory.subset_sum import evaluate_subset

# Dyadic values: subset sums are exact in float64, so the solver must match the oracle bit for bit.
dyadic = st.integers(-16, 16).map(lambda k: k / 8)
perturbations = st.sampled_from([0.0, 0.125, 0.25, 0.5])
floats = st.floats(-1, 1, allow_nan=False, allow_subnormal=False)


@st.composite
def fixed_problem(draw, values, max_n=12):
    xs = draw(st.lists(values, min_size=1, max_size=max_n))
    return xs, draw(st.integers(0, len(xs)))


@given(fixed_problem(dyadic), dyadic, perturbations)
def test_exactly_k_equals_oracle_on_dyadic_inputs(problem, z, p):
    xs, k = problem
    got = theory.best_subset(xs, z, size=k, perturbation=p)
    assert got == brute_force_best_subset_fixed(xs, z, size=k, perturbation=p)
    assert len(got.indices) == k


@given(fixed_problem(dyadic), dyadic, perturbations)
def test_at_most_k_equals_oracle_on_dyadic_inputs(problem, z, p):
    xs, k = problem
    got = theory.best_subset(xs, z, max_size=k, perturbation=p)
    assert got == brute_force_best_subset_fixed(xs, z, max_size=k, perturbation=p)
    assert len(got.indices) <= k


@given(fixed_problem(floats, 14), st.floats(-3, 3, allow_nan=False), st.sampled_from([0.0, 0.01, 0.1]))
def test_error_equals_oracle_on_floats(problem, z, p):
    xs, k = problem
    got = theory.best_subset(xs, z, size=k, perturbation=p)
    want = brute_force_best_subset_fixed(xs, z, size=k, perturbation=p)
    assert got.error == pytest.approx(want.error, abs=1e-12)
    assert (got.value, got.error) == evaluate_subset(xs, got.indices, z, perturbation=p)


@given(fixed_problem(floats, 12), floats, st.sampled_from([0.0, 0.05]))
def test_max_size_equal_to_n_is_the_unconstrained_optimum(problem, z, p):
    xs, _ = problem
    got = theory.best_subset(xs, z, max_size=len(xs), perturbation=p)
    assert got.error == pytest.approx(theory.best_subset(xs, z, perturbation=p).error, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 10).flatmap(
        lambda n: st.tuples(
            st.lists(st.lists(floats, min_size=n, max_size=n), min_size=1, max_size=6),
            st.integers(0, n),
            st.sampled_from([0.0, 0.01, 0.2]),
            st.booleans(),
            st.integers(0, 2**32 - 1),
        )
    )
)
def test_batched_rows_equal_oracle(case):
    rows, k, p, use_valid, seed = case
    x = np.array(rows)
    m, n = x.shape
    rng = np.random.default_rng(seed)
    z = rng.uniform(-2, 2, m)
    valid = np.ones((m, n), dtype=bool)
    if use_valid:
        valid = rng.random((m, n)) < 0.7
        valid[:, :k] = True  # every row keeps at least k valid candidates
        valid = valid[:, rng.permutation(n)]
    for mode in ("size", "max_size"):
        res = theory.best_subsets(x, z, perturbation=p, valid=valid, **{mode: k})
        assert not np.any(res.masks & ~valid)
        assert np.all(res.exact)
        for r in range(m):
            cols = np.flatnonzero(valid[r])
            if cols.size:
                want = brute_force_best_subset_fixed(x[r, cols], z[r], perturbation=p, **{mode: k}).error
            else:  # no valid candidate (then k = 0): only the empty subset
                want = abs(z[r])
            assert res.errors[r] == pytest.approx(want, abs=1e-12)
            kept = np.flatnonzero(res.masks[r]).tolist()
            assert res.sizes[r] == len(kept)
            assert (res.sizes[r] == k) if mode == "size" else (res.sizes[r] <= k)
            own = evaluate_subset(x[r], kept, z[r], perturbation=p)[1]
            assert res.errors[r] == pytest.approx(own, abs=1e-15)


def test_batched_wide_rows_match_the_single_solver():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (5, 30))
    z = rng.uniform(-1, 1, 5)
    res = theory.best_subsets(x, z, size=7)
    for r in range(5):
        assert res.errors[r] == pytest.approx(theory.best_subset(x[r], z[r], size=7).error, abs=1e-13)


@given(fixed_problem(floats, 9), st.sampled_from([0.0, 0.01, 0.1]))
def test_coverage_exact_equals_rational_oracle_on_the_theorem_window(problem, p):
    xs, k = problem
    want = brute_force_coverage_error_fixed(xs, size=k, lo=-math.sqrt(k), hi=math.sqrt(k), perturbation=p)
    assert theory.coverage_error(xs, size=k, perturbation=p) == pytest.approx(want, abs=1e-12)


@given(
    fixed_problem(floats, 9),
    st.sampled_from([0.0, 0.01]),
    st.sampled_from([1e-9, 1e-4, 1e-2]),
    st.sampled_from([4, 16, 1 << 22]),
)
def test_coverage_certified_contract(problem, p, tol, max_intervals):
    xs, k = problem
    want = brute_force_coverage_error_fixed(xs, size=k, lo=-0.7, hi=1.2, perturbation=p)
    got = theory.coverage_error(
        xs, size=k, lo=-0.7, hi=1.2, perturbation=p, tol=tol, max_intervals=max_intervals
    )
    assert want - 1e-12 <= got <= want + tol + 1e-12


def test_fixed_size_coverage_is_worse_than_any_size():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 10)
    free = brute_force_coverage_error(x, lo=-1, hi=1)
    for k in range(11):
        assert theory.coverage_error(x, size=k, lo=-1, hi=1) >= free - 1e-12


def test_certified_coverage_scales_past_the_exact_mode():
    x = np.random.default_rng(1).uniform(-1, 1, 40)
    e = theory.coverage_error(x, size=8, tol=1e-3)
    assert 0.0 <= e < 0.05  # 76.9 million 8-subsets of 40 uniforms cover [-sqrt 8, sqrt 8] densely


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: theory.best_subset([0.1, 0.2], 0.1, size=3), "size"),
        (lambda: theory.best_subset([0.1, 0.2], 0.1, size=-1), "size"),
        (lambda: theory.best_subset([0.1, 0.2], 0.1, size=1, max_size=1), "exactly one"),
        (lambda: theory.best_subset(np.zeros(49), 0.1, size=1), "48"),
        (lambda: theory.best_subsets(np.zeros((1, 60)), [0.1], size=30), "limit"),
        (lambda: theory.best_subsets([[0.1, 0.2]], [0.1], size=1, max_error=0.1), "max_error"),
        (lambda: theory.best_subsets([[0.1, 0.2]], [0.1], size=2, valid=np.array([[True, False]])), "size"),
        (lambda: theory.coverage_error([0.1, 0.2], size=3), "size"),
        (lambda: theory.coverage_error(np.zeros(30), size=15), "tol > 0"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
