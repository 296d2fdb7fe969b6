"""Integer random SubsetSum (RSSP) on the project's exact engine, every answer checked in integer arithmetic.

Setting (Kumar & Natale, arXiv 2508.11020, Lemma 3, reference §11.4 [PRIMARY]): ``X_i`` uniform on
``{-M..-1, 1..M}`` (zero excluded); a target ``z`` is *hit* when some subset sums to exactly ``z``.

Integers below ``2**53`` are exact in float64, so the float64 solvers of :mod:`theory` decide these
instances exactly; nothing here is a second SubsetSum engine:

* **every integer of [-M, M] is a subset sum** iff the coverage error of the real window ``[-M, M]`` is
  at most ``1/2``: with integer sums ``U`` and integer window ends, ``sup_z dist(z, U)`` is exactly
  ``1/2`` when every integer of the window is in ``U`` (the worst points are the half-integers), and at
  least ``1`` when one integer ``j`` is missing (``dist(j, U) >= 1``). The coverage error therefore never
  lies in ``(1/2, 1)``, and the decision is made at :data:`INTEGER_ETA` ``= 3/4`` (the same answer as at
  ``1/2``), where neighbouring sums overlap by ``1/2`` instead of touching: the float64 pass decides every
  row without the slow exact fallback (``tests/theory/test_integer_rssp.py`` checks both against a
  brute-force set of sums);
* **one target ``t`` is hit** iff the window ``[t, t]`` is covered within the same ``3/4``.

Every answer the engine returns is re-checked by :func:`subset_sums`, the set of all subset sums as the
bits of one Python integer (shift-or over the candidates, exact at any size): a disagreement raises
``RuntimeError`` (an engine bug, never a statistic).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory import coverage

#: The accuracy at which integer coverage is decided (any value in [1/2, 1) gives the same answer).
INTEGER_ETA = 0.75
#: Largest |candidate sum| the float64 engine handles exactly (integers below 2**53).
_EXACT_LIMIT = 2**53

__all__ = [
    "INTEGER_ETA",
    "draw_nonzero",
    "first_cover_all",
    "first_hit",
    "subset_sums",
    "sums_cover",
]


def draw_nonzero(rng: np.random.Generator, max_value: int, shape: Any) -> np.ndarray:
    """Integers uniform on ``{-M..-1, 1..M}`` (Lemma 3's support; zero excluded), as int64.

    One draw per value (``r`` uniform on ``0..2M-1``, then ``r - M`` or ``r - M + 1``), so the values are
    filled in ``shape``'s row-major order: a draw of more rows extends, never changes, a draw of fewer.
    """
    m = int(max_value)
    if m < 1:
        raise ValueError(f"max_value must be an integer >= 1, got {max_value!r}")
    r = rng.integers(0, 2 * m, size=shape).astype(np.int64)
    return np.where(r < m, r - m, r - m + 1)


def subset_sums(values: Any) -> tuple[int, int]:
    """All subset sums of integer ``values`` as ``(bits, offset)``: sum ``s`` is there iff bit ``s - offset``.

    Exact at any size (Python integers); ``offset`` is the most negative sum (the sum of the negatives).
    The empty subset (sum 0) is included.
    """
    xs = [int(v) for v in np.asarray(values).reshape(-1)]
    offset = sum(v for v in xs if v < 0)
    bits = 1 << (-offset)
    for v in xs:
        bits |= (bits << v) if v > 0 else (bits >> -v)
    return bits, offset


def sums_cover(values: Any, lo: int, hi: int) -> bool:
    """True iff every integer of ``[lo, hi]`` is a subset sum of ``values`` (exact, :func:`subset_sums`)."""
    bits, offset = subset_sums(values)
    lo, hi = int(lo), int(hi)
    if lo - offset < 0:
        return False
    window = (1 << (hi - lo + 1)) - 1
    return (bits >> (lo - offset)) & window == window


def _integer_rows(sequences: Any) -> np.ndarray:
    x = np.asarray(sequences)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"sequences must be a non-empty (m, n) integer array, got shape {x.shape}")
    xi = np.asarray(np.rint(x), dtype=np.int64)
    if not np.array_equal(xi, x):
        raise ValueError("sequences must hold integers")
    if np.any(np.abs(xi).sum(axis=1) >= _EXACT_LIMIT):
        raise ValueError("sequences: the sum of |values| of a row must stay below 2**53 (float64 exact)")
    return xi


def _first(xi: np.ndarray, los: np.ndarray, his: np.ndarray) -> np.ndarray:
    """Smallest prefix covering ``[lo, hi]`` per row (engine), each answer re-checked exactly."""
    res = coverage.needed_candidates(xi.astype(np.float64), INTEGER_ETA, lo=los, hi=his)
    n_max = xi.shape[1]
    for r, n in enumerate(res.needed):
        lo, hi = int(los[r]), int(his[r])
        ok = sums_cover(xi[r, :n], lo, hi) if n <= n_max else True
        shorter = min(int(n), n_max + 1) - 1  # the engine's answers start at n = 1 (no empty prefix)
        ok = ok and (shorter < 1 or not sums_cover(xi[r, :shorter], lo, hi))
        if not ok:
            raise RuntimeError(
                f"row {r}: the engine's first covering prefix {int(n)} disagrees with the exact set of sums"
            )
    return res.needed


def first_cover_all(sequences: Any, max_value: int) -> np.ndarray:
    """Per row, the smallest ``n`` whose prefix has every integer of ``[-M, M]`` as a subset sum.

    Decided by :func:`theory.needed_candidates` at :data:`INTEGER_ETA` (module docstring) and verified
    against :func:`sums_cover`; ``n_max + 1`` where no prefix covers.
    """
    xi = _integer_rows(sequences)
    m = int(max_value)
    if m < 1:
        raise ValueError(f"max_value must be an integer >= 1, got {max_value!r}")
    return _first(xi, np.full(xi.shape[0], -m), np.full(xi.shape[0], m))


def first_hit(sequences: Any, targets: Any) -> np.ndarray:
    """Per row, the smallest ``n`` whose prefix has a subset summing exactly to the row's integer target.

    Same engine and verification as :func:`first_cover_all` (window ``[t, t]``); ``n_max + 1`` if none.
    """
    xi = _integer_rows(sequences)
    t = np.broadcast_to(np.asarray(targets), (xi.shape[0],))
    ti = np.asarray(np.rint(t), dtype=np.int64)
    if not np.array_equal(ti, t):
        raise ValueError("targets must be integers")
    return _first(xi, ti, ti)
