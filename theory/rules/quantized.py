"""Rules for integer random SubsetSum and exact quantized tickets (claims: theory.claims).

Producer: :mod:`sim.quantized` (``slth run quantized-tickets``). Sources: Kumar & Natale, arXiv
2508.11020 (reference §11: statements read in words, display formulas missing) and Borgs, Chayes, Pittel
2001 (abstract). Stated before the data:

* ``integer-rssp-transition`` (evidence ``.all``: every integer of ``[-M, M]`` is a subset sum; ``.one``:
  one uniform random integer target of ``[-M, M]`` is hit): ``X_i`` uniform on ``{-M..-1, 1..M}``, per
  ``log2 M`` the first ``n`` at which each trial succeeds (nested prefixes). The statistic is the mean
  of ``min(n, location + CAP)`` per ``M``, where the location solves ``n - (1/2) log2 n = log2 M``
  (:func:`theory.bounds.bcp_window_n`). The cap moves with the location, so under the window's scaling
  the statistic shifts with it; it is real-valued, so the integer lattice of ``n`` does not bias the
  slope as a median would. Its least-squares slope against ``log2 M`` has a normal interval from the
  per-``M`` standard errors, and is compared with the location's own slope on the same grid. The window
  says the transition is the location plus O(1) (plus at most O(log log M) for all targets), so the
  slopes agree. Consistent when the difference's interval lies in ``[-SLOPE_TOL, SLOPE_TOL]``,
  inconsistent when it lies outside that band, otherwise (or when the scan ends before the cap)
  inconclusive. For ``.all``, a trial covering at ``n < log2(2M + 1)``
  (:func:`theory.bounds.integer_rssp_necessary_n`) is inconsistent (impossible unless the engine errs).
* ``quantized-ticket-exact`` (evidence ``.exact``): every ticket whose weights were all solved equals
  its target exactly: the effective maps equal ``W`` in integers and the exact forward pass agrees on
  every probe input. One disagreement is inconsistent.
* ``quantized-ticket-width`` (evidence ``quantized-ticket-exact.width``): ``C`` is calibrated on seeds
  disjoint from the test seeds, as the smallest constant whose width ``ceil(C log2(1/delta))``
  (:func:`theory.bounds.quantized_block_width`) leaves at most a fraction ``Q`` of calibration weights
  unsolved at every calibration ``delta``. The test targets are built at that width over a ``delta``
  grid that extends past the calibration grid. Inconsistent when some ``delta``'s failure rate has a
  Bonferroni Clopper-Pearson lower end above ``Q`` (at these ``delta`` the width ``C log2(1/delta)`` no
  longer suffices: the width grows faster than ``log(1/delta)``). Consistent when every upper end is at
  most ``2 Q``. Otherwise inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

from theory import bounds, stats
from theory.rules import Effect, RuleResult, finite, register_rule

#: Largest |slope(n50) - slope(BCP location)| still called "the same law": 0.25, so a law
#: ``n50 = (1 + c) log2 M`` with ``c >= 1/4`` (Lemma 4's sufficient form with a large c) is told apart.
#: Pre-registered convention.
SLOPE_TOL = 0.25
#: Cap of the first-success n, above the BCP location: the statistic is the mean of min(n, location + CAP),
#: so trials not done by the end of the scan count exactly (the scan reaches the cap). 10 lies far in the
#: upper tail of both parts (pre-registered convention).
CAP = 10.0
#: Per-weight failure allowance of the calibrated width (pre-registered convention).
WIDTH_Q = 0.05

_KN = "Kumar & Natale, arXiv 2508.11020"


def n50_box(counts: list[list[int]], trials: int, n_max: int, confidence: float) -> tuple[int, int, int]:
    """``(lo, point, hi)`` of the 50% point from a histogram of first-success ``n`` (``n_max + 1``: none).

    ``point``: smallest ``n`` with rate ``>= 1/2``; ``lo`` / ``hi``: smallest ``n`` whose Clopper-Pearson
    upper / lower end reaches ``1/2``. A value of ``n_max + 1`` means "beyond the scan" (censored).
    """
    hist = {int(n): int(c) for n, c in counts}
    if sum(hist.values()) != trials:
        raise ValueError(f"the histogram holds {sum(hist.values())} trials, the record says {trials}")
    lo = point = hi = n_max + 1
    done = 0
    for n in range(1, n_max + 1):
        done += hist.get(n, 0)
        c_lo, c_hi = stats.clopper_pearson(done, trials, confidence)
        if lo > n_max and c_hi >= 0.5:
            lo = n
        if point > n_max and 2 * done >= trials:
            point = n
        if hi > n_max and c_lo >= 0.5:
            hi = n
    return lo, point, hi


def capped_mean(counts: list[list[int]], trials: int, cap: float) -> tuple[float, float, int]:
    """``(mean, variance, smallest)`` of ``min(first-success n, cap)`` from the histogram of ``n``."""
    hist = [(int(n), int(c)) for n, c in counts]
    if sum(c for _, c in hist) != trials or trials < 2:
        raise ValueError(f"the histogram must hold the record's {trials} (>= 2) trials")
    vals = [(min(float(n), cap), c) for n, c in hist]
    mean = sum(v * c for v, c in vals) / trials
    var = sum(c * (v - mean) ** 2 for v, c in vals) / (trials - 1)
    return mean, var, min(n for n, _ in hist)


@register_rule("integer-rssp-transition")
def transition_rule(details: Mapping[str, Any]) -> RuleResult:
    """The transition of integer RSSP moves with log2 M at the slope of the BCP location."""
    kind = str(details["kind"])
    if kind not in ("all", "one"):
        raise ValueError(f"kind must be 'all' or 'one', got {kind!r}")
    rows = list(details["rows"])
    conf = float(details.get("confidence", 0.95))
    rule = (
        f"mean of min(first-success n, location + {CAP:g}) vs log2 M: least-squares slope minus the BCP "
        f"location's slope, normal {conf:g} interval; inside +-{SLOPE_TOL} -> consistent, outside -> "
        "inconsistent, else inconclusive"
        + ("; a trial below log2(2M+1) -> inconsistent" if kind == "all" else "")
    )
    constants = {
        "slope_tol": {"value": SLOPE_TOL, "origin": "pre-registered: tells apart n = (1 + 1/4) log2 M"},
        "confidence": {"value": conf, "origin": "convention"},
        "cap": {"value": CAP, "origin": "pre-registered: first-success n capped at the BCP location + CAP"},
        "calibration": {"value": None, "origin": "none needed: the rule fits no constant"},
    }
    if len(rows) < 3:
        return RuleResult("inconclusive", f"{len(rows)} values of M (need 3)", rule, constants, "none")
    ms, means, ses, locs, below, censored = [], [], [], [], [], []
    for r in rows:
        m = float(r["log2_m"])
        loc = finite("bcp-window-n", bounds.bcp_window_n(m))
        if loc + CAP > int(r["n_max"]):
            censored.append(m)  # the scan ends before the cap: the capped mean is not known there
        mean, var, smallest = capped_mean(r["needed_counts"], int(r["trials"]), loc + CAP)
        ms.append(m)
        means.append(mean)
        ses.append(math.sqrt(var / int(r["trials"])))
        locs.append(loc)
        if kind == "all":
            need = finite("integer-rssp-necessary-n", bounds.integer_rssp_necessary_n(round(2**m)))
            if smallest < need:
                below.append(f"log2 M = {m:g}: a trial covered at n = {smallest} < log2(2M+1) = {need:.2f}")
    mbar = sum(ms) / len(ms)
    sxx = sum((m - mbar) ** 2 for m in ms)
    wts = [(m - mbar) / sxx for m in ms]
    slope = sum(w * v for w, v in zip(wts, means, strict=True))
    s_bcp = sum(w * v for w, v in zip(wts, locs, strict=True))
    se = math.sqrt(sum((w * e) ** 2 for w, e in zip(wts, ses, strict=True)))
    z = NormalDist().inv_cdf(0.5 + conf / 2)  # the slope is a sum of many trial means: normal
    d = slope - s_bcp
    d_lo, d_hi = d - z * se, d + z * se
    detectable = (
        f"a slope difference beyond about {SLOPE_TOL + 2 * z * se:.2f} (interval width {2 * z * se:.2f})"
    )
    offsets = ", ".join(f"{m:g}:{v - loc:+.2f}" for m, v, loc in zip(ms, means, locs, strict=True))
    what = "every integer of [-M, M]" if kind == "all" else "one random target"
    summary = (
        f"{what}: slope of the capped mean first-success n {slope:.3f} vs BCP location {s_bcp:.3f} "
        f"(difference {d:+.3f} [{d_lo:+.3f}, {d_hi:+.3f}]); capped mean n - location by log2 M {offsets}"
    )
    if below:
        return RuleResult("inconsistent", f"{what}: {below[0]}", rule, constants, detectable)
    if censored:
        summary += f"; the scan ends before location + {CAP:g} at log2 M = {censored}"
        verdict = "inconclusive"
    elif d_lo > SLOPE_TOL or d_hi < -SLOPE_TOL:
        verdict = "inconsistent"
    elif -SLOPE_TOL <= d_lo and d_hi <= SLOPE_TOL:
        verdict = "consistent"
    else:
        verdict = "inconclusive"
    effect = Effect(
        quantity=f"slope of the capped mean first-success n vs log2 M minus the BCP location's ({what})",
        measured=d,
        lo=d_lo,
        hi=d_hi,
        detectable=SLOPE_TOL + 2 * z * se,
        reference="Borgs-Chayes-Pittel 2001: n - (1/2) log2 n = log2 M + O(1), so a difference of 0",
        reference_value=0.0,
        decides_at=None if verdict != "inconclusive" else "more trials per M, more M, or a longer scan",
    )
    return RuleResult(verdict, summary, rule, constants, detectable, (effect,))


@register_rule("quantized-ticket-exact")
def exact_rule(details: Mapping[str, Any]) -> RuleResult:
    """Every fully solved quantized ticket equals its target in exact arithmetic."""
    rule = (
        "per ticket with every weight solved: effective maps == W and the exact forward == target on every "
        "probe -> else inconsistent; all equal -> consistent; no solved ticket -> inconclusive"
    )
    constants = {"tolerance": {"value": 0, "origin": "exact equality (Theorem 1's [g . masks] = f)"}}
    detectable = "any nonzero difference in any weight (maps) or on any probe input (forward)"
    cases = list(details.get("cases", []))
    solved, bad, ratios = [], [], []
    for c in cases:
        # Source parameters against Theorem 3's counting bound for the widest layer (reported).
        lb = finite(
            "quantized-counting-min-params",
            bounds.quantized_counting_min_params(int(c["d_max"]), float(c["delta_t"])),
        )
        ratios.append(float(c["source_params"]) / lb)
        if not c["all_solved"]:
            continue
        solved.append(c["case"])
        if not (c["maps_equal"] and c["forward_equal"]) or int(c["max_diff"]) != 0:
            bad.append(f"{c['case']}: maps_equal {c['maps_equal']}, max forward difference {c['max_diff']}")
    if bad:
        return RuleResult("inconsistent", f"{len(bad)} tickets differ: {bad[0]}", rule, constants, detectable)
    if not solved:
        return RuleResult("inconclusive", "no ticket had every weight solved", rule, constants, detectable)
    return RuleResult(
        "consistent",
        f"{len(solved)} of {len(cases)} tickets fully solved, each equal to its target exactly (maps and "
        f"forward); source parameters / counting bound {min(ratios):.1f}..{max(ratios):.1f}",
        rule,
        constants,
        detectable,
    )


def width_constant(calibration: Mapping[str, Any], q: float = WIDTH_Q) -> float:
    """The calibrated width constant ``C`` (recorded needed widths of the calibration seeds).

    The smallest ``C`` such that, at every calibration ``delta``, at most a fraction ``q`` of the weights
    need more than ``ceil(C log2(1/delta))`` units.
    """
    best = 0.0
    for row in calibration["rows"]:
        need = sorted(int(v) for v in row["needed"])
        allowed = math.floor(q * len(need))  # weights allowed above the width
        width = need[len(need) - 1 - allowed]
        best = max(best, width / math.log2(1.0 / float(row["delta"])))
    return best


@register_rule("quantized-ticket-width")
def width_rule(details: Mapping[str, Any]) -> RuleResult:
    """At width ceil(C log2(1/delta)), C calibrated on disjoint seeds, the failure rate stays <= Q."""
    q = float(details.get("q", WIDTH_Q))
    cal = details["calibration"]
    c_cal = width_constant(cal, q)
    alpha = 1.0 - float(details.get("confidence", 0.95))
    rows = list(details["rows"])
    rule = (
        f"per test delta at width ceil(C log2(1/delta)): Bonferroni CP lower end of the failure rate > "
        f"Q = {q:g} -> inconsistent; every upper end <= 2Q -> consistent; else inconclusive"
    )
    constants = {
        "C": {"value": c_cal, "origin": f"calibration seeds {cal['seeds']} (disjoint from the test seeds)"},
        "Q": {"value": q, "origin": "pre-registered per-weight failure allowance"},
    }
    conf = 1.0 - alpha / max(1, len(rows))
    worst, too_high, undecided, parts = None, [], [], []
    for r in rows:
        width = math.ceil(
            finite("quantized-block-width", bounds.quantized_block_width(float(r["delta"]), C=c_cal))
        )
        if int(r["width"]) != width:
            raise ValueError(
                f"delta {r['delta']}: recorded width {r['width']} is not ceil(C log2(1/delta)) = {width}"
            )
        f, n = int(r["failures"]), int(r["weights"])
        lo, hi = stats.clopper_pearson(f, n, conf)
        parts.append(f"1/delta=2^{round(-math.log2(float(r['delta'])))}: w {width}, {f}/{n}")
        if worst is None or f / n > worst[0]:
            worst = (f / n, lo, hi)
        if lo > q:
            too_high.append(parts[-1])
        elif hi > 2 * q:
            undecided.append(parts[-1])
    detectable = f"a failure rate above about {2 * q:g} at one delta (Bonferroni 95% CP)"
    if worst is None:
        return RuleResult("inconclusive", "no test rows", rule, constants, detectable)
    verdict = "inconsistent" if too_high else ("inconclusive" if undecided else "consistent")
    effect = Effect(
        quantity="largest per-weight failure rate over delta at width ceil(C log2(1/delta))",
        measured=worst[0],
        lo=worst[1],
        hi=worst[2],
        detectable=2 * q,
        reference=f"{_KN}, Theorem 1: failure inverse-polynomial in log(1/delta) (rate not stated)",
        decides_at="more test weights per delta" if verdict == "inconclusive" else None,
    )
    return RuleResult(
        verdict, f"C = {c_cal:.3g}; " + "; ".join(parts), rule, constants, detectable, (effect,)
    )


# Recorded histograms of `slth run quantized-tickets` (default scale, seed 1, 400 trials, every other M):
# (log2 M, n_max, [[first-success n, trials], ...]) for each part.
_RECORDED_ALL = (
    (
        4,
        16,
        [
            [6, 2],
            [7, 56],
            [8, 115],
            [9, 81],
            [10, 69],
            [11, 30],
            [12, 17],
            [13, 9],
            [14, 10],
            [15, 4],
            [16, 2],
            [17, 5],
        ],
    ),
    (
        6,
        18,
        [
            [9, 13],
            [10, 81],
            [11, 115],
            [12, 90],
            [13, 45],
            [14, 22],
            [15, 18],
            [16, 8],
            [17, 5],
            [18, 1],
            [19, 2],
        ],
    ),
    (
        8,
        20,
        [[12, 43], [13, 128], [14, 91], [15, 67], [16, 32], [17, 16], [18, 11], [19, 3], [20, 4], [21, 5]],
    ),
    (
        10,
        22,
        [[14, 7], [15, 110], [16, 120], [17, 66], [18, 47], [19, 21], [20, 12], [21, 5], [22, 4], [23, 8]],
    ),
    (12, 24, [[17, 40], [18, 154], [19, 95], [20, 44], [21, 37], [22, 15], [23, 5], [24, 6], [25, 4]]),
)
_RECORDED_ONE = (
    (
        4,
        16,
        [
            [1, 23],
            [2, 15],
            [3, 20],
            [4, 52],
            [5, 78],
            [6, 82],
            [7, 53],
            [8, 34],
            [9, 19],
            [10, 16],
            [11, 3],
            [13, 3],
            [15, 1],
            [16, 1],
        ],
    ),
    (
        6,
        18,
        [
            [1, 7],
            [2, 7],
            [3, 10],
            [4, 10],
            [5, 33],
            [6, 54],
            [7, 64],
            [8, 74],
            [9, 76],
            [10, 39],
            [11, 15],
            [12, 7],
            [13, 3],
            [15, 1],
        ],
    ),
    (
        8,
        20,
        [
            [2, 1],
            [3, 1],
            [4, 5],
            [5, 10],
            [6, 18],
            [7, 29],
            [8, 46],
            [9, 65],
            [10, 84],
            [11, 62],
            [12, 42],
            [13, 19],
            [14, 9],
            [15, 5],
            [16, 2],
            [17, 1],
            [20, 1],
        ],
    ),
    (
        10,
        22,
        [
            [1, 2],
            [3, 2],
            [4, 4],
            [5, 2],
            [6, 2],
            [7, 3],
            [8, 15],
            [9, 24],
            [10, 39],
            [11, 60],
            [12, 79],
            [13, 79],
            [14, 42],
            [15, 29],
            [16, 7],
            [17, 3],
            [18, 4],
            [20, 2],
            [21, 1],
            [22, 1],
        ],
    ),
    (
        12,
        24,
        [
            [5, 1],
            [6, 2],
            [7, 2],
            [8, 3],
            [9, 4],
            [10, 10],
            [11, 25],
            [12, 46],
            [13, 68],
            [14, 67],
            [15, 81],
            [16, 52],
            [17, 31],
            [18, 2],
            [19, 2],
            [20, 2],
            [22, 1],
            [24, 1],
        ],
    ),
)


def _transition_example(kind: str, recorded: tuple) -> dict[str, Any]:
    rows = [
        {"log2_m": m, "trials": sum(c for _, c in counts), "n_max": n_max, "needed_counts": counts}
        for m, n_max, counts in recorded
    ]
    return {"kind": kind, "confidence": 0.95, "seed": 1, "rows": rows}


def _width_example() -> dict[str, Any]:
    calibration = {
        "seeds": "example",
        "rows": [
            {"delta": 0.25, "needed": [0, 4, *range(6, 24)]},
            {"delta": 0.125, "needed": [0, 6, *range(9, 27)]},
        ],
    }
    c_cal = width_constant(calibration)
    rows = []
    for k, failures in ((2, 9), (3, 4), (4, 1)):
        width = math.ceil(c_cal * k)  # = ceil(quantized_block_width(2^-k, C)), written out: a fixed example
        rows.append({"delta": 2.0**-k, "width": width, "weights": 432, "failures": failures})
    return {"confidence": 0.95, "calibration": calibration, "rows": rows}


def _exact_case(name: str, d: int, delta: float, width: int) -> dict[str, Any]:
    return {
        "case": name,
        "delta": delta,
        "delta_t": delta * delta,
        "d_max": d,
        "width": width,
        "all_solved": True,
        "maps_equal": True,
        "forward_equal": True,
        "max_diff": 0,
        "source_params": 3 * d * d * width,
        "kept_params": d * d * 12,
        "limit": None,
    }


EXAMPLES: list[tuple[str, str, dict[str, Any]]] = [
    ("integer-rssp-transition.all", "integer-rssp-transition", _transition_example("all", _RECORDED_ALL)),
    ("integer-rssp-transition.one", "integer-rssp-transition", _transition_example("one", _RECORDED_ONE)),
    (
        "quantized-ticket-exact.exact",
        "quantized-ticket-exact",
        {
            "cases": [
                _exact_case("random-6-6-6-k2", 6, 0.25, 39),
                _exact_case("random-6-6-6-k3", 6, 0.125, 48),
            ]
        },
    ),
    ("quantized-ticket-exact.width", "quantized-ticket-width", _width_example()),
]
