"""SubsetSum and epsilon-perturbed SubsetSum (PSSP), solved exactly in float64.

* :mod:`theory.subset_sum.single`: :func:`best_subset`, the optimal subset for one target by meet in the
  middle (``n <= 48``), and :func:`evaluate_subset`.
* :mod:`theory.subset_sum.engine`: :func:`best_subsets`, the engine for ``m`` independent problems at
  once (numpy or torch back end; minimal error, or fewest candidates within an error budget), used by the
  constructions, the Monte Carlo engine and the figures.

The brute-force oracles that test both are in :mod:`theory.oracle`.
"""

from theory.subset_sum.engine import BatchSubsetResult, best_subsets
from theory.subset_sum.single import MAX_N, SubsetResult, best_subset, evaluate_subset

__all__ = ["MAX_N", "BatchSubsetResult", "SubsetResult", "best_subset", "best_subsets", "evaluate_subset"]
