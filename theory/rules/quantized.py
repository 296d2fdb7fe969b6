"""Rules and claims for integer random SubsetSum and exact quantized tickets (Kumar & Natale 2025).

Producer: :mod:`sim.quantized` (``slth run quantized-tickets``). Sources: Kumar & Natale, arXiv
2508.11020 (reference §11: statements read in words, display formulas missing) and Borgs, Chayes, Pittel
2001 (abstract). Stated before the data:

* ``integer-rssp-transition`` (evidence ``.all``: every integer of ``[-M, M]`` is a subset sum; ``.one``:
  one uniform random integer target of ``[-M, M]`` is hit): ``X_i`` uniform on ``{-M..-1, 1..M}``, per
  ``log2 M`` the first ``n`` at which each trial succeeds (nested prefixes). ``n50(M)`` is the smallest
  ``n`` with success rate ``>= 1/2``, with the interval of the ``n`` whose Clopper-Pearson interval (at
  Bonferroni level ``1 - alpha / K`` over the ``K`` values of ``M``) holds ``1/2``. The least-squares
  slope of ``n50`` against ``log2 M`` has the interval spanned by those boxes; the BCP location
  ``n - (1/2) log2 n = log2 M`` (:func:`theory.bounds.bcp_window_n`) has its own slope on the same grid.
  The window says ``n50`` is that location plus O(1), so the slopes agree. Consistent when the
  difference's interval lies in ``[-SLOPE_TOL, SLOPE_TOL]``, inconsistent when it lies outside that band,
  otherwise inconclusive. For ``.all``, an ``n50`` interval below the counting bound ``log2(2M + 1)``
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
from typing import Any

from theory import bounds, stats
from theory.ledger import Claim, NumericCheck
from theory.rules import Effect, RuleResult, finite, register_rule

#: Largest |slope(n50) - slope(BCP location)| still called "the same law": 0.25, so a law
#: ``n50 = (1 + c) log2 M`` with ``c >= 1/4`` (Lemma 4's sufficient form with a large c) is told apart.
#: Pre-registered convention.
SLOPE_TOL = 0.25
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


@register_rule("integer-rssp-transition")
def transition_rule(details: Mapping[str, Any]) -> RuleResult:
    """The 50% point of integer RSSP moves with log2 M at the slope of the BCP location."""
    kind = str(details["kind"])
    if kind not in ("all", "one"):
        raise ValueError(f"kind must be 'all' or 'one', got {kind!r}")
    rows = list(details["rows"])
    alpha = 1.0 - float(details.get("confidence", 0.95))
    rule = (
        f"n50 (smallest n with P >= 1/2) vs log2 M: slope minus the BCP location's slope, interval from "
        f"Bonferroni CP boxes; inside +-{SLOPE_TOL} -> consistent, outside -> inconsistent, else inconclusive"
        + ("; any n50 interval below log2(2M+1) -> inconsistent" if kind == "all" else "")
    )
    constants = {
        "slope_tol": {"value": SLOPE_TOL, "origin": "pre-registered: tells apart n50 = (1 + 1/4) log2 M"},
        "confidence": {"value": 1.0 - alpha, "origin": "convention, Bonferroni over the grid of M"},
        "calibration": {"value": None, "origin": "none needed: the rule fits no constant"},
    }
    if len(rows) < 3:
        return RuleResult("inconclusive", f"{len(rows)} values of M (need 3)", rule, constants, "none")
    conf = 1.0 - alpha / len(rows)
    ms, boxes, locs, below = [], [], [], []
    for r in rows:
        m = float(r["log2_m"])
        lo, pt, hi = n50_box(r["needed_counts"], int(r["trials"]), int(r["n_max"]), conf)
        ms.append(m)
        boxes.append((lo, pt, hi))
        locs.append(finite("bcp-window-n", bounds.bcp_window_n(m)))
        if kind == "all":
            need = finite("integer-rssp-necessary-n", bounds.integer_rssp_necessary_n(round(2**m)))
            if hi < need:
                below.append(f"log2 M = {m:g}: n50 <= {hi} < log2(2M+1) = {need:.2f}")
    censored = [m for m, r, b in zip(ms, rows, boxes, strict=True) if b[2] > int(r["n_max"])]
    mean = sum(ms) / len(ms)
    var = sum((m - mean) ** 2 for m in ms)
    wts = [(m - mean) / var for m in ms]
    slope = sum(w * b[1] for w, b in zip(wts, boxes, strict=True))
    s_lo = sum(w * (b[0] if w > 0 else b[2]) for w, b in zip(wts, boxes, strict=True))
    s_hi = sum(w * (b[2] if w > 0 else b[0]) for w, b in zip(wts, boxes, strict=True))
    s_bcp = sum(w * v for w, v in zip(wts, locs, strict=True))
    d, d_lo, d_hi = slope - s_bcp, s_lo - s_bcp, s_hi - s_bcp
    half = (d_hi - d_lo) / 2
    detectable = f"a slope difference beyond about {SLOPE_TOL + 2 * half:.2f} (interval width {2 * half:.2f})"
    offsets = ", ".join(f"{m:g}:{b[1] - v:+.1f}" for m, b, v in zip(ms, boxes, locs, strict=True))
    what = "every integer of [-M, M]" if kind == "all" else "one random target"
    summary = (
        f"{what}: slope of n50 {slope:.3f} [{s_lo:.3f}, {s_hi:.3f}] vs BCP location {s_bcp:.3f} "
        f"(difference {d:+.3f} [{d_lo:+.3f}, {d_hi:+.3f}]); n50 - location by log2 M {offsets}"
    )
    if below:
        return RuleResult("inconsistent", f"{what}: {below[0]}", rule, constants, detectable)
    if censored:
        summary += f"; n50 beyond the scan at log2 M = {censored}"
    if censored:
        verdict = "inconclusive"
    elif d_lo > SLOPE_TOL or d_hi < -SLOPE_TOL:
        verdict = "inconsistent"
    elif -SLOPE_TOL <= d_lo and d_hi <= SLOPE_TOL:
        verdict = "consistent"
    else:
        verdict = "inconclusive"
    effect = Effect(
        quantity=f"slope of n50 against log2 M minus the BCP location's slope ({what})",
        measured=d,
        lo=d_lo,
        hi=d_hi,
        detectable=SLOPE_TOL + 2 * half,
        reference="Borgs-Chayes-Pittel 2001: n - (1/2) log2 n = log2 M + O(1), so a difference of 0",
        reference_value=0.0,
        decides_at=None if verdict != "inconclusive" else "more trials per M (narrower boxes) or more M",
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


CLAIMS = (
    Claim(
        id="integer-rssp-transition",
        statement="For X_i uniform on {-M..-1, 1..M}, the n at which every integer of [-M, M] is a subset "
        "sum (part all), and at which one random target is hit (part one), with probability 1/2 is the BCP "
        "location n - (1/2) log2 n = log2 M plus O(1); never below log2(2M + 1).",
        source=f"{_KN}, Lemmas 2-4 [PRIMARY in words]; Borgs-Chayes-Pittel 2001 window [PRIMARY, abstract]; "
        "carrying the window to all targets and the O(1) shift [UNVERIFIED, our reading]; log2(2M+1) "
        "[UNVERIFIED, our derivation]",
        checks=(
            NumericCheck(
                "slope of n50 vs log2 M against the BCP location (slth run quantized-tickets)", part="all"
            ),
            NumericCheck("one random target: the same slope test (slth run quantized-tickets)", part="one"),
        ),
        tags=("quantized", "rss"),
        bounds=("bcp-window-n", "integer-rssp-necessary-n"),
        parts=("all", "one"),
    ),
    Claim(
        id="quantized-ticket-exact",
        statement="A depth-2L ReLU net without biases, weights uniform on S_delta minus {0}, pruned, equals "
        "any delta_t-quantized target (delta^2 <= delta_t) exactly, with C log2(1/delta) hidden units per "
        "input neuron (C independent of delta); a two-layer source needs Omega(d^2 log2(1/delta)) "
        "parameters.",
        source=f"{_KN}, Theorem 1, Lemmas 5 and 7, Theorem 3 / Corollary 1 [PRIMARY in words; C not given; "
        "products v u taken as they come, the paper's rejection step to uniform samples is not reproduced "
        "[our reading]]",
        checks=(
            NumericCheck("exact equality of every solved ticket (slth run quantized-tickets)", part="exact"),
            NumericCheck("failure rate at the calibrated width C log2(1/delta) over delta", part="width"),
        ),
        tags=("quantized", "network"),
        bounds=("quantized-block-width", "quantized-counting-min-params"),
        parts=("exact", "width"),
    ),
)
