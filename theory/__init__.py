"""theory: exact and certified SubsetSum, epsilon-perturbed SubsetSum, and the SLTH bounds ledger.

Solvers (numpy only at import time; torch is imported lazily by ``best_subsets(..., device=...)``):

* :func:`best_subset`: the exact optimal subset for one target (meet-in-the-middle, ``n <= 48``).
* :func:`best_subsets`: ``m`` independent problems at once (numpy or torch back end), minimal error or
  minimum cardinality within an error budget.
* :func:`coverage_error`: the worst target of a window, exactly (``tol = 0``) or certified within ``tol``.
* Fixed-size SubsetSum (Natale et al. NeurIPS 2024, RFSS): ``size=k`` (exactly ``k`` kept) or
  ``max_size=k`` (at most ``k``) in all three, solved in :mod:`theory.subset_sum.fixed_size`.
* :func:`coverage_decision` / :func:`needed_candidates`: is every target within eta? (exact, batched).

The solvers live in :mod:`theory.subset_sum` (``single``: one target; ``engine``: many rows), the
coverage error in :mod:`theory.coverage`, the brute-force oracles in :mod:`theory.oracle`; the bounds
and the claims ledger in ``theory.bounds`` and ``theory.ledger`` (import them as submodules).
"""

from theory.coverage import coverage_decision, coverage_error, needed_candidates
from theory.subset_sum import BatchSubsetResult, SubsetResult

# The public solvers: those of single / engine, with the fixed-size dispatch (size=, max_size=).
from theory.subset_sum.fixed_size import best_subset, best_subsets

__all__ = [
    "BatchSubsetResult",
    "SubsetResult",
    "best_subset",
    "best_subsets",
    "coverage_decision",
    "coverage_error",
    "needed_candidates",
]
