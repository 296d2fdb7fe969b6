"""The optimised float32-prune path of ``theory.best_subsets`` on rows built to sit on the float32 border.

Each row holds two subsets whose float32 sums are equal while their float64 sums differ (by far more than
a float64 ulp, by far less than a float32 ulp): the float32 pass cannot tell them apart, so only the
float64 decision can pick the right one. Every other subset is far from the target.
"""

from __future__ import annotations

import numpy as np
import pytest

from theory import best_subset, best_subsets
from theory.oracle import brute_force_best_subsets
from theory.subset_sum.engine import float32_search


def _border_rows(rng: np.random.Generator, m: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows whose best subset is one of two float32-tied choices; returns (x, z, the best column)."""
    z = rng.uniform(0.3, 0.9, m)
    # Fillers in [2, 3]: any subset holding one is more than 1 away from z.
    x = rng.uniform(2.0, 3.0, (m, n))
    cols = np.stack([rng.permutation(n)[:2] for _ in range(m)])
    near, far = rng.uniform(1e-10, 4e-10, m), rng.uniform(6e-10, 9e-10, m)
    sign = rng.choice([-1.0, 1.0], (m, 2))
    rows = np.arange(m)
    x[rows, cols[:, 0]] = z + sign[:, 0] * near  # the float64 optimum
    x[rows, cols[:, 1]] = z + sign[:, 1] * far
    # The two float32 sums tie (both singletons round to the same float32), the float64 ones do not.
    tie = x[rows, cols[:, 0]].astype(np.float32) == x[rows, cols[:, 1]].astype(np.float32)
    return x[tie], z[tie], cols[tie, 0]


@pytest.mark.parametrize("n", [12, 16])
def test_float32_ties_are_decided_in_float64_against_the_oracle(n):
    rng = np.random.default_rng([n, 5])
    x, z, best = _border_rows(rng, 120, n)
    assert x.shape[0] >= 100  # most rows keep their float32 tie
    res = best_subsets(x, z)
    want_e, want_s = brute_force_best_subsets(x, z)
    np.testing.assert_allclose(res.errors, want_e, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(res.sizes, want_s)
    chosen = np.flatnonzero(res.masks.reshape(-1)) % n  # one column per row (sizes are all 1)
    np.testing.assert_array_equal(chosen, best)
    assert res.exact.all()
    # The float32 pass alone cannot decide these rows: it picks the worse of the tied pair in many.
    wrong = ~float32_search(x, z)[np.arange(x.shape[0]), best]
    assert wrong.sum() >= x.shape[0] // 5


def test_float32_ties_on_the_pensia_shape_and_in_the_fewest_mode():
    # n = 21 as in the Pensia workload (A and B halves of 10 and 11 candidates), reference best_subset.
    rng = np.random.default_rng(21)
    x, z, best = _border_rows(rng, 60, 21)
    res = best_subsets(x, z)
    for r in range(x.shape[0]):
        ref = best_subset(x[r], float(z[r]))
        assert res.errors[r] == ref.error and tuple(np.flatnonzero(res.masks[r])) == ref.indices
    assert np.array_equal(np.flatnonzero(res.masks.reshape(-1)) % 21, best)
    # A budget between the two errors: only the float64-better singleton qualifies.
    err_best = np.abs(x[np.arange(x.shape[0]), best] - z)
    fewest = best_subsets(x, z, max_error=err_best * 1.5)
    np.testing.assert_array_equal(fewest.masks, res.masks)
    np.testing.assert_array_equal(fewest.errors, res.errors)


def test_one_row_and_narrow_buckets():
    # A bucket of one row with one valid candidate (half A empty): the query keys reuse A's key buffer,
    # and T_a must be copied out of it before the queries overwrite it (a one-element view is contiguous).
    x = np.array([[0.46718092, 0.9, -0.2], [0.3, 0.5, 0.1]])
    z = np.array([0.38724567, 0.62])
    valid = np.array([[True, False, False], [True, True, True]])
    res = best_subsets(x, z, valid=valid)
    want_e, want_s = brute_force_best_subsets(x, z, valid=valid)
    np.testing.assert_allclose(res.errors, want_e, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(res.sizes, want_s)
    assert res.sizes[0] == 1  # 0.467 is nearer to 0.387 than the empty subset
