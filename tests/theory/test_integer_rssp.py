"""Integer random SubsetSum on the exact engine, its bounds and the transition rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import theory
from theory import bounds, coverage
from theory.rules import apply_rule
from theory.rules import quantized as rq
from theory.subset_sum import integer


def _brute_sums(x) -> set[int]:
    return {sum(c) for r in range(len(x) + 1) for c in itertools.combinations([int(v) for v in x], r)}


def test_coverage_at_one_half_is_every_integer_a_sum():
    rng = np.random.default_rng(11)
    seen = {True: 0, False: 0}
    for _ in range(300):
        m = int(rng.integers(1, 7))
        x = integer.draw_nonzero(rng, m, int(rng.integers(1, 8)))
        sums = _brute_sums(x)
        truth = all(z in sums for z in range(-m, m + 1))
        seen[truth] += 1
        assert integer.sums_cover(x, -m, m) == truth
        for eta in (0.5, integer.INTEGER_ETA):
            assert bool(theory.coverage_decision(x.astype(float), eta, lo=-m, hi=m).covered[0]) == truth
        # The coverage error of integer sums never lies strictly between 1/2 and 1.
        err = theory.coverage_error(x.astype(float), lo=-m, hi=m)
        assert err == 0.5 if truth else err >= 1.0
    assert min(seen.values()) > 20  # both answers occur


def test_first_cover_and_first_hit_match_a_prefix_scan():
    rng = np.random.default_rng(12)
    m = 5
    x = integer.draw_nonzero(rng, m, (40, 9))
    t = rng.integers(-m, m + 1, size=40)
    a, b = integer.first_cover_all(x, m), integer.first_hit(x, t)
    for r in range(40):
        full = [n for n in range(1, 10) if all(z in _brute_sums(x[r, :n]) for z in range(-m, m + 1))]
        hit = [n for n in range(1, 10) if int(t[r]) in _brute_sums(x[r, :n])]
        assert a[r] == (full[0] if full else 10)
        assert b[r] == (hit[0] if hit else 10)


def test_a_wrong_engine_answer_is_caught(monkeypatch):
    rng = np.random.default_rng(13)
    x = integer.draw_nonzero(rng, 4, (5, 10))
    real = coverage.needed_candidates

    def off_by_one(*args, **kwargs):
        res = real(*args, **kwargs)
        return coverage.NeededCandidates(np.maximum(res.needed - 1, 1), res.resolved_exactly)

    monkeypatch.setattr(coverage, "needed_candidates", off_by_one)
    with pytest.raises(RuntimeError, match="disagrees"):
        integer.first_cover_all(x, 4)


def test_draw_nonzero_support_and_nesting():
    x = integer.draw_nonzero(np.random.default_rng(0), 3, (2000,))
    assert set(np.unique(x)) == {-3, -2, -1, 1, 2, 3}
    long = integer.draw_nonzero(np.random.default_rng(5), 7, (9, 4))
    short = integer.draw_nonzero(np.random.default_rng(5), 7, (6, 4))
    assert np.array_equal(long[:6], short)
    with pytest.raises(ValueError, match="max_value"):
        integer.draw_nonzero(np.random.default_rng(0), 0, 3)
    with pytest.raises(ValueError, match="integers"):
        integer.first_cover_all(np.array([[0.5, 1.0]]), 2)


def test_bounds():
    for m in (1.5, 4.0, 10.0, 20.0):
        n = bounds.bcp_window_n(m)
        assert n - 0.5 * np.log2(n) == pytest.approx(m, abs=1e-9)
        assert bounds.bcp_window_n(m, lam=1.0) < n
    assert bounds.integer_rssp_necessary_n(16) == pytest.approx(np.log2(33))
    assert bounds.quantized_block_width(0.125, C=2.0) == pytest.approx(6.0)
    assert bounds.quantized_counting_min_params(3, 0.25) == pytest.approx(9 * np.log2(9))
    with pytest.raises(ValueError, match="delta"):
        bounds.quantized_block_width(0.3, C=1.0)
    with pytest.raises(ValueError, match="log2_m"):
        bounds.bcp_window_n(0.5)


def _details(kind: str, offsets: dict[int, float], trials: int = 400) -> dict:
    """Histograms whose first successes spread over location + offset + {-2..2} (mean = that, exactly).

    Each real point ``x`` puts its trials on ``floor(x)`` and ``floor(x) + 1`` in the proportions that
    keep the mean at ``x`` (a shift-equivariant profile, as the BCP window's scaling has).
    """
    rows = []
    for m, off in offsets.items():
        counts: dict[int, int] = {}
        for j, share in zip(range(-2, 3), (0.1, 0.2, 0.4, 0.2, 0.1), strict=True):
            x = bounds.bcp_window_n(float(m)) + off + j
            lo = int(np.floor(x))
            up = round(share * trials * (x - lo))
            counts[lo] = counts.get(lo, 0) + round(share * trials) - up
            counts[lo + 1] = counts.get(lo + 1, 0) + up
        n_max = max(counts) + 12
        rows.append(
            {
                "log2_m": m,
                "trials": sum(counts.values()),
                "n_max": n_max,
                "needed_counts": sorted([n, c] for n, c in counts.items() if c),
            }
        )
    return {"kind": kind, "confidence": 0.95, "seed": 1, "rows": rows}


def test_transition_rule_branches():
    flat = _details("one", {m: 0 for m in range(4, 13)})
    assert apply_rule("integer-rssp-transition", flat).verdict == "consistent"
    steep = _details("one", {m: 0.5 * (m - 4) for m in range(4, 13)})  # slope +1/2 over the location
    res = apply_rule("integer-rssp-transition", steep)
    assert res.verdict == "inconsistent"
    assert res.effects[0].lo > rq.SLOPE_TOL
    few = _details("one", {4: 0, 5: 0, 6: 0}, trials=20)
    assert apply_rule("integer-rssp-transition", few).verdict == "inconclusive"
    short = _details("one", {m: 0 for m in range(4, 13)})
    for r in short["rows"]:
        r["n_max"] = int(bounds.bcp_window_n(float(r["log2_m"]))) + 5  # the scan ends before the cap
    assert apply_rule("integer-rssp-transition", short).verdict == "inconclusive"
    impossible = _details("all", {m: -4 for m in range(4, 13)})  # n50 below log2(2M + 1)
    assert apply_rule("integer-rssp-transition", impossible).verdict == "inconsistent"


def test_examples_are_consistent():
    for _, rule_id, details in rq.EXAMPLES:
        assert apply_rule(rule_id, details).verdict == "consistent", rule_id
