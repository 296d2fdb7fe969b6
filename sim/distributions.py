"""Candidate distributions for the random SubsetSum experiments (a registry).

Each distribution draws i.i.d. candidates from an explicit ``numpy.random.Generator``:

* ``uniform``: U[-1, 1], Lueker (1998) Corollary 2.5 and Pensia et al. (2020) Corollary 3.3.
* ``product``: U[0, 1] * U[-1, 1], the products of first- and second-layer weights that the Pensia et al.
  (2020) construction actually sums once the first layer is sign-pruned (theory.md §3.2(a)); its density
  ``ln(1/|t|)/2`` on [-1, 1] "contains a uniform" on [-1/2, 1/2].
* ``gaussian``: N(0, 1), a distribution with unbounded support (the RSS results of da Cunha et al. (2023)
  hold under mild assumptions on the distribution).

Add your own with :func:`register_distribution`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from theory.registry import lookup, register


@dataclass(frozen=True)
class Distribution:
    """A named candidate distribution.

    Attributes:
        name: Registry key.
        description: One line, shown in ``--help`` and errors.
        sampler: ``sampler(rng, size) -> float64 array of shape size``.
    """

    name: str
    description: str
    sampler: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        """Draw float64 candidates of shape ``size`` from ``rng``."""
        shape = (size,) if isinstance(size, int) else tuple(size)
        return np.asarray(self.sampler(rng, shape), dtype=np.float64)


DISTRIBUTIONS: dict[str, Distribution] = {}


def register_distribution(name: str, description: str, sampler: Callable) -> Distribution:
    """Register a candidate distribution (refuses duplicate names).

    Args:
        name: Registry key.
        description: One line for help texts.
        sampler: ``sampler(rng, size)`` returning an array of shape ``size``.

    Returns:
        The registered :class:`Distribution`.
    """
    return register(DISTRIBUTIONS, "distribution", name, Distribution(name, description, sampler))


def get_distribution(name: str) -> Distribution:
    """Look up a distribution; the error lists the valid names."""
    return lookup(DISTRIBUTIONS, "distribution", name)


def _uniform(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size)


def _product(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size) * rng.uniform(-1.0, 1.0, size)


def _gaussian(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(size)


register_distribution("uniform", "U[-1, 1] (Lueker 1998)", _uniform)
register_distribution("product", "U[0, 1] * U[-1, 1] (Pensia et al. 2020 sign-pruned products)", _product)
register_distribution("gaussian", "N(0, 1)", _gaussian)
