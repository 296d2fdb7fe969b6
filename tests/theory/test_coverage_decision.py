"""coverage_decision / needed_candidates: exact answers against the rational oracle, early stops, backends."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from theory.coverage import coverage_decision, coverage_error, needed_candidates
from theory.oracle import _rational_coverage_error, brute_force_covers

dyadic = st.integers(-16, 16).map(lambda k: k / 8)
small_floats = st.floats(-1, 1, allow_nan=False, allow_subnormal=False)
perturbations = st.sampled_from([0.0, 0.03125, 0.125, 0.01])


@st.composite
def windows(draw):
    lo = draw(st.floats(-2.0, 1.0, allow_nan=False))
    width = draw(st.one_of(st.just(0.0), st.floats(0, 2.0, allow_nan=False)))  # 0: a single target
    return lo, lo + width


@st.composite
def etas(draw, xs, lo, hi, p):
    """A random accuracy, or one at the exact coverage error (rounded either way): the borderline."""
    exact = _rational_coverage_error(xs, lo=lo, hi=hi, perturbation=p)
    near = float(exact)
    kind = draw(st.sampled_from(["random", "at", "below", "above"]))
    if kind == "random":
        return draw(st.floats(0, 1.5, allow_nan=False))
    if kind == "at":
        return near
    return max(0.0, float(np.nextafter(near, -math.inf if kind == "below" else math.inf)))


@given(st.data(), st.lists(st.one_of(dyadic, small_floats), min_size=1, max_size=8), windows(), perturbations)
def test_decision_equals_the_rational_oracle(data, xs, window, p):
    lo, hi = window
    eta = data.draw(etas(xs, lo, hi, p))
    got = coverage_decision(xs, eta, lo=lo, hi=hi, perturbation=p)
    assert bool(got.covered[0]) == brute_force_covers(xs, eta, lo=lo, hi=hi, perturbation=p)


def test_a_touching_cover_is_resolved_exactly():
    # Sums {0, 1}, window [1/2, 3/2]: the coverage error is exactly 1/2, where the dilated pieces
    # [-1/2, 1/2] and [1/2, 3/2] just touch; float64 cannot call it, the integer recursion does.
    at = coverage_decision([1.0], 0.5, lo=0.5, hi=1.5)
    assert at.covered[0] and at.resolved_exactly[0]
    below = coverage_decision([1.0], float(np.nextafter(0.5, 0.0)), lo=0.5, hi=1.5)
    assert not below.covered[0] and below.resolved_exactly[0]
    # Perturbed: x = 1/2 moved by up to 1/8 reaches [3/8, 5/8]; with eta = 3/16 the dilated pieces
    # [-3/16, 3/16] and [3/16, 13/16] touch, and the window [0, 13/16] is covered exactly to its end.
    at = coverage_decision([0.5], 0.1875, lo=0.0, hi=0.8125, perturbation=0.125)
    assert at.covered[0] and at.resolved_exactly[0]
    assert brute_force_covers([0.5], 0.1875, lo=0.0, hi=0.8125, perturbation=0.125)
    below = float(np.nextafter(0.1875, 0.0))
    assert not coverage_decision([0.5], below, lo=0.0, hi=0.8125, perturbation=0.125).covered[0]


def test_rows_far_from_the_threshold_are_decided_in_float64_and_early():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (64, 20)) * rng.uniform(-1, 1, (64, 20))
    easy = coverage_decision(x, 0.9)  # every window point within 0.9 of 0 or of one candidate
    assert easy.covered.all() and not easy.resolved_exactly.any() and easy.steps.max() < 20
    hard = coverage_decision(x * 1e-3, 1e-4)  # the candidates cannot reach the window ends at all
    assert not hard.covered.any() and (hard.steps == 1).all()


def test_batch_numpy_torch_and_the_exact_mode_agree():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (150, 14)) * rng.uniform(-1, 1, (150, 14))
    for p in (0.0, 1e-3):
        want = np.array([coverage_error(r, perturbation=p) <= 3e-3 for r in x])
        got = coverage_decision(x, 3e-3, perturbation=p)
        assert 0 < want.sum() < want.size  # both answers occur, so the comparison can fail
        np.testing.assert_array_equal(got.covered, want)
        single = [bool(coverage_decision(r, 3e-3, perturbation=p).covered[0]) for r in x[:30]]
        np.testing.assert_array_equal(single, want[:30])
        tx = coverage_decision(torch.as_tensor(x), 3e-3, perturbation=p, device="cpu")
        np.testing.assert_array_equal(tx.covered, want)


def test_per_row_targets_match_the_single_target_solver():
    import theory

    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (80, 10))
    z = rng.uniform(-0.5, 0.5, 80)
    err = theory.best_subsets(x, z, perturbation=0.002).errors
    got = coverage_decision(x, 0.01, lo=z, hi=z, perturbation=0.002)
    want = err <= 0.01
    assert 0 < want.sum() < want.size
    np.testing.assert_array_equal(got.covered, want)


@given(
    st.lists(small_floats, min_size=1, max_size=9),
    windows(),
    perturbations,
    st.floats(1e-3, 0.5),
    st.integers(1, 4),
)
def test_needed_candidates_is_the_first_covering_prefix(xs, window, p, eta, start):
    lo, hi = window
    oracle = [brute_force_covers(xs[:n], eta, lo=lo, hi=hi, perturbation=p) for n in range(1, len(xs) + 1)]
    first = next((n for n, ok in enumerate(oracle, 1) if ok), len(xs) + 1)
    start = min(start, first)  # a valid lower bound, as callers pass
    got = needed_candidates(xs, eta, lo=lo, hi=hi, perturbation=p, start=start)
    assert int(got.needed[0]) == first


def test_needed_candidates_batch_and_torch_agree():
    rng = np.random.default_rng(2)
    s = rng.uniform(0, 1, (100, 24)) * rng.uniform(-1, 1, (100, 24))
    got = needed_candidates(s, 1e-2, perturbation=2e-3, start=3)
    assert len(set(got.needed.tolist())) > 3
    for r in range(0, 100, 7):
        n = int(got.needed[r])
        assert coverage_error(s[r, :n], perturbation=2e-3) <= 1e-2
        assert n == 3 or coverage_error(s[r, : n - 1], perturbation=2e-3) > 1e-2
    tg = needed_candidates(s, 1e-2, perturbation=2e-3, start=3, device="cpu")
    np.testing.assert_array_equal(tg.needed, got.needed)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"candidates": [[]], "eta": 0.1}, "candidates"),
        ({"candidates": [0.1, math.nan], "eta": 0.1}, "candidates"),
        ({"candidates": [0.1], "eta": -0.1}, "eta"),
        ({"candidates": [0.1], "eta": 0.1, "perturbation": -1.0}, "perturbation"),
        ({"candidates": [0.1], "eta": 0.1, "lo": 1.0, "hi": 0.0}, "lo"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        coverage_decision(**kwargs)
    with pytest.raises(ValueError, match="start"):
        needed_candidates([0.1, 0.2], 0.1, start=4)
