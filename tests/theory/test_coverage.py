"""coverage_error: exact mode against the rational oracle, the tol contract, and invariances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory import coverage_error
from theory.oracle import brute_force_coverage_error

dyadic = st.integers(-16, 16).map(lambda k: k / 8)
small_floats = st.floats(-1, 1, allow_nan=False)
perturbations = st.sampled_from([0.0, 0.03125, 0.125])


@st.composite
def windows(draw):
    lo = draw(st.floats(-2.5, 1.5, allow_nan=False))
    return lo, lo + draw(st.floats(0, 2.5, allow_nan=False))


@given(st.lists(st.one_of(dyadic, small_floats), min_size=1, max_size=8), windows(), perturbations)
def test_exact_equals_rational_oracle(xs, window, p):
    lo, hi = window
    got = coverage_error(xs, lo=lo, hi=hi, perturbation=p)
    want = brute_force_coverage_error(xs, lo=lo, hi=hi, perturbation=p)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


@given(
    st.lists(small_floats, min_size=1, max_size=12),
    windows(),
    perturbations,
    st.floats(1e-6, 0.5),
    st.sampled_from([4, 64, 1 << 22]),
)
def test_tol_contract(xs, window, p, tol, max_intervals):
    # Small max_intervals forces the merging and dropping machinery to run on tiny inputs.
    lo, hi = window
    exact = coverage_error(xs, lo=lo, hi=hi, perturbation=p)
    certified = coverage_error(xs, lo=lo, hi=hi, perturbation=p, tol=tol, max_intervals=max_intervals)
    assert exact - 1e-12 <= certified <= exact + tol + 1e-12


@given(st.lists(small_floats, min_size=1, max_size=9), small_floats, windows(), perturbations)
def test_adding_a_candidate_never_increases_the_error(xs, extra, window, p):
    lo, hi = window
    before = coverage_error(xs, lo=lo, hi=hi, perturbation=p)
    assert coverage_error([*xs, extra], lo=lo, hi=hi, perturbation=p) <= before + 1e-12


@given(st.lists(small_floats, min_size=1, max_size=9), windows(), st.floats(0, 0.3), st.floats(0, 0.3))
def test_more_perturbation_never_increases_the_error(xs, window, p1, p2):
    lo, hi = window
    small, large = sorted((p1, p2))
    assert (
        coverage_error(xs, lo=lo, hi=hi, perturbation=large)
        <= coverage_error(xs, lo=lo, hi=hi, perturbation=small) + 1e-12
    )


@given(
    st.lists(dyadic, min_size=1, max_size=9),
    st.sampled_from([0.25, 0.5, 2.0, 8.0]),
    st.sampled_from([0.0, 0.125]),
)
def test_scaling_and_negation(xs, c, p):
    # Powers of two keep every operation exact, so the identities hold to the bit.
    x = np.array(xs)
    base = coverage_error(x, lo=-1.0, hi=0.75, perturbation=p)
    assert coverage_error(c * x, lo=-c, hi=0.75 * c, perturbation=c * p) == c * base
    assert coverage_error(-x, lo=-0.75, hi=1.0, perturbation=p) == base


def test_known_values():
    assert coverage_error([1.0], lo=0.0, hi=1.0) == 0.5  # sums {0, 1}: the midpoint is worst
    assert coverage_error([1.0], lo=-1.0, hi=1.0) == 1.0  # z = -1 is 1 away from 0
    assert coverage_error([1.0], lo=0.0, hi=1.0, perturbation=0.25) == 0.375  # gap (0, 0.75)
    assert coverage_error([0.5, 0.25], lo=0.0, hi=0.75) == 0.125
    assert coverage_error([0.5], lo=2.0, hi=2.0) == 1.5  # a degenerate window far to the right


def test_certified_scales_to_n_64():
    x = np.random.default_rng(0).uniform(-1, 1, 64)
    e = coverage_error(x, tol=1e-4)
    assert 0.0 <= e <= 1e-4  # E_true is astronomically small for 64 uniform candidates


def test_certified_matches_exact_at_n_18():
    x = np.random.default_rng(1).uniform(-1, 1, 18)
    exact = coverage_error(x)
    for tol in (1e-3, 1e-5):
        assert exact <= coverage_error(x, tol=tol, max_intervals=1 << 12) <= exact + tol


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ([[]], {}, "candidates"),
        ([[1.0, float("nan")]], {}, "finite"),
        ([[[1.0]]], {}, "1-D"),
        ([[1.0]], {"lo": 1.0, "hi": 0.0}, "lo must be <= hi"),
        ([[1.0]], {"lo": float("-inf")}, "lo"),
        ([[1.0]], {"perturbation": -1.0}, "perturbation"),
        ([[1.0]], {"tol": -1e-3}, "tol"),
        ([[1.0]], {"tol": 1e-300}, "resolution"),
        ([np.ones(25)], {}, "pass tol > 0"),
    ],
)
def test_bad_input_is_refused(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        coverage_error(*args, **kwargs)
