"""A worked example: registering your own claim with the SLTH claims ledger.

Run it with::

    slth verify --claims examples/my_claim.py --only perturbation-sparser-tickets

The claim: allowing an eps-perturbation never makes the sparsest good subset larger. For a fixed
subset S, its perturbed error ``max(0, |sum_S x - z| - |S| eps)`` can only fall as eps grows, so every
subset that is within eta at eps1 is still within eta at eps2 >= eps1, and the minimum-cardinality
subset (``theory.best_subsets(..., max_error=eta)``) has at most as many elements.

A claim is a statement, its source, and checks that can fail:

* a ``PropertyCheck``: a hypothesis strategy (built inside a function, so hypothesis is only imported
  when the check runs) and a predicate that returns True where the claim holds. If hypothesis finds
  an input where it returns False, the ledger reports the shrunk (minimal) counterexample;
* a ``SymbolicCheck``: a function returning sympy expressions that must simplify to 0, or statements
  that must be True (a list checks several at once). It checks the algebra behind the claim and is
  reported ``derivation-checked``: on its own it never makes a claim consistent, the property check
  (``verified`` when hypothesis finds no counterexample) does.

A claim that rests on bounds of ``theory.bounds`` declares them, ``Claim(..., bounds=("pensia-rss-min-n",))``,
and its checks must evaluate them; a claim measured in two halves declares ``parts=("a", "b")`` and one
``NumericCheck(..., part="a")`` per part (evidence ids ``<claim>.a``, ``<claim>.b``).
"""

from __future__ import annotations

from theory.ledger import Claim, PropertyCheck, SymbolicCheck, register_claim


def instances():
    """Random batches: m problems with n candidates in [-1, 1], targets, eta and two perturbations."""
    from hypothesis import strategies as st

    unit = st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False)
    small = st.floats(0.0, 0.1, allow_nan=False, allow_subnormal=False)

    def batch(shape):
        m, n = shape
        rows = st.lists(unit, min_size=n, max_size=n)
        return st.tuples(
            st.lists(rows, min_size=m, max_size=m),
            st.lists(unit, min_size=m, max_size=m),
            st.floats(1e-3, 0.2),
            small,
            small,
        )

    return st.tuples(st.integers(1, 4), st.integers(1, 8)).flatmap(batch)


def sparsest_subset_shrinks(example):
    """True when the min-cardinality subset within eta is no larger at the larger perturbation."""
    import numpy as np

    import theory

    candidates, targets, eta, p1, p2 = example
    small, large = min(p1, p2), max(p1, p2)
    cands = np.asarray(candidates, dtype=np.float64)
    z = np.asarray(targets, dtype=np.float64)
    at_small = theory.best_subsets(cands, z, perturbation=small, max_error=eta)
    at_large = theory.best_subsets(cands, z, perturbation=large, max_error=eta)
    # Only rows where a subset within eta exists at the smaller perturbation are covered by the claim.
    ok_rows = at_small.errors <= eta
    sizes_small = at_small.masks.sum(axis=1)
    sizes_large = at_large.masks.sum(axis=1)
    return bool(
        np.all(sizes_large[ok_rows] <= sizes_small[ok_rows]) and np.all(at_large.errors[ok_rows] <= eta)
    )


def fixed_subset_error():
    """The perturbed error of one subset of size k at distance d = |sum - z|, in both regimes."""
    import sympy as sp

    k, eps, d = sp.symbols("k epsilon d", positive=True)
    u = sp.Symbol("u", nonnegative=True)
    v = sp.Symbol("v", positive=True)
    error = sp.Max(0, d - k * eps)
    return [
        error.subs(d, k * eps + u) - u,  # outside the reach: the error is the excess distance
        error.subs(d, k * eps / (1 + u)),  # inside the reach (d = k eps/(1+u) <= k eps): zero
        # at a fixed distance outside the reach, the error falls at rate k as eps grows
        sp.diff(error, eps).subs(d, k * eps + v) + k,
    ]


register_claim(
    Claim(
        id="perturbation-sparser-tickets",
        statement="For any candidates, targets and eta, the fewest candidates needed to reach error <= eta "
        "never increases when the perturbation eps grows.",
        source="examples/my_claim.py (follows from the definition of eps-perturbed SubsetSum, Xiong et al. "
        "AISTATS 2023 eq. (1))",
        checks=(
            PropertyCheck("min-cardinality size at eps2 <= at eps1", instances, sparsest_subset_shrinks),
            SymbolicCheck("perturbed error of a fixed subset", fixed_subset_error),
        ),
        tags=("user", "pssp"),
    )
)
