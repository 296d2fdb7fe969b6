"""best_subset against the brute-force oracle, the tie rule, and input validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory import SubsetResult, best_subset
from theory.oracle import brute_force_best_subset
from theory.subset_sum import evaluate_subset

# Dyadic values (multiples of 1/8, |v| <= 2): every subset sum is exact in float64, so ties are real
# ties and the solver must agree with the oracle bit for bit, tie rule included.
dyadic = st.integers(-16, 16).map(lambda k: k / 8)
perturbations = st.sampled_from([0.0, 0.125, 0.25, 0.5])


@given(st.lists(dyadic, min_size=1, max_size=10), dyadic, perturbations)
def test_equals_oracle_exactly_on_dyadic_inputs(xs, z, p):
    assert best_subset(xs, z, perturbation=p) == brute_force_best_subset(xs, z, perturbation=p)


@given(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=10),
    st.floats(-3, 3, allow_nan=False),
    st.sampled_from([0.0, 0.01, 0.1]),
)
def test_error_equals_oracle_on_floats(xs, z, p):
    got = best_subset(xs, z, perturbation=p)
    want = brute_force_best_subset(xs, z, perturbation=p)
    # Sums are rounded differently (half sums vs a matrix product): equal up to float64 rounding.
    assert got.error == pytest.approx(want.error, abs=1e-12)
    assert (got.value, got.error) == evaluate_subset(xs, got.indices, z, perturbation=p)
    assert list(got.indices) == sorted(set(got.indices))


@pytest.mark.parametrize(
    ("xs", "z", "p", "indices"),
    [
        ([1.0, 1.0, 2.0], 2.0, 0.0, (2,)),  # fewest elements beats {0, 1}
        ([0.5, 0.5], 0.5, 0.0, (0,)),  # same size: smallest bitmask
        ([0.25, 0.75, 1.0], 1.0, 0.0, (2,)),
        ([1.0, 0.875], 1.0, 0.125, (0,)),  # both reach z; the unperturbed sum closer to z wins
        ([0.0, 0.5], 0.5, 0.0, (1,)),  # a zero candidate never joins
        ([3.0], -1.0, 0.0, ()),  # the empty subset (error |z|)
        ([0.5, 0.5, 0.5], 2.0, 0.25, (0, 1, 2)),  # reach 1.5 + 0.75 >= 2: error 0 needs all three
    ],
)
def test_tie_rule_and_small_cases(xs, z, p, indices):
    res = best_subset(xs, z, perturbation=p)
    assert res.indices == indices
    assert res == brute_force_best_subset(xs, z, perturbation=p)


def test_value_is_the_clipped_perturbed_sum():
    res = best_subset([0.25, 0.5], 1.0, perturbation=0.0625)
    assert res.indices == (0, 1)
    assert res.value == 0.75 + 0.125
    assert res.error == 0.125
    assert isinstance(res, SubsetResult)


@pytest.mark.parametrize("p", [0.0, 0.01])
def test_planted_subset_is_found_at_n_30(p):
    rng = np.random.default_rng(0)
    xs = rng.integers(-1000, 1000, size=30) / 1024  # exact sums
    planted = rng.random(30) < 0.3
    z = float(xs[planted].sum())
    res = best_subset(xs, z, perturbation=p)
    assert res.error == 0.0
    assert len(res.indices) <= planted.sum()


def test_meet_in_the_middle_agrees_with_halves_swapped():
    # Reversing the candidates changes which half each one lands in; the optimal error cannot change.
    rng = np.random.default_rng(1)
    xs = rng.uniform(-1, 1, 24)
    a = best_subset(xs, 0.3141)
    b = best_subset(xs[::-1], 0.3141)
    assert a.error == pytest.approx(b.error, abs=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"candidates": [], "target": 0.0}, "candidates"),
        ({"candidates": [[1.0, 2.0]], "target": 0.0}, "1-D"),
        ({"candidates": [1.0, float("nan")], "target": 0.0}, "finite"),
        ({"candidates": [1.0, float("inf")], "target": 0.0}, "finite"),
        ({"candidates": [1.0], "target": float("nan")}, "target"),
        ({"candidates": [1.0], "target": 0.0, "perturbation": -0.1}, "perturbation"),
        ({"candidates": np.zeros(49), "target": 0.0}, r"\[1, 48\]"),
        ({"candidates": ["a"], "target": 0.0}, "real numbers"),
    ],
)
def test_bad_input_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        best_subset(**kwargs)


def test_import_theory_does_not_import_torch():
    code = "import theory, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
