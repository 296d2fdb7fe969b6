"""Evidence rules for random SubsetSum: Pensia et al.'s log form and Lueker's Corollary 2.5.

Sources: Pensia et al. (NeurIPS 2020, arXiv:2006.07990), "Corollary 3.3" as restated by Otsuka et al.
2025 (``n >= C log(2/eps)`` gives failure probability <= eps, every z in [-1, 1]) and the form
``n = C log2(1/eps)`` of their code (``c = 3``); Lueker (1998), Corollary 2.5 [SECONDARY quote]. See
theory.md §2 and ``theory.bounds``.

Producers: ``slth run rss-success`` (``pensia-rss-log``) and ``rss-constant`` (``lueker-cor2.5``).
Both calibrate their unknown constant on a calibration seed (a root seed disjoint from the test seed,
so the two sets of candidate sets are independent) and then measure, at the test seed, the candidate
count the calibrated bound prescribes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from theory.rules import RuleResult, finite, register_rule
from theory.stats import clopper_pearson

CONFIDENCE = 0.95
#: A row is conclusive when the smallest failure rate it could flag is at most this multiple of eta.
DETECT_FACTOR = 10.0
#: Pensia et al.'s code multiplier, ``n = 3 round(log2(1/eps))`` (acnagle/optimal-lottery-tickets).
PENSIA_CODE_C = 3.0


def smallest_flagged_rate(threshold: float, trials: int) -> float | None:
    """Smallest ``k / trials`` whose Clopper-Pearson lower end exceeds ``threshold`` (None: no k does)."""
    if clopper_pearson(trials, trials, CONFIDENCE)[0] <= threshold:
        return None
    lo, hi = 0, trials
    while lo < hi:
        mid = (lo + hi) // 2
        if clopper_pearson(mid, trials, CONFIDENCE)[0] > threshold:
            hi = mid
        else:
            lo = mid + 1
    return lo / trials


def largest_flagged_rate(threshold: float, trials: int) -> float | None:
    """Largest ``k / trials`` whose Clopper-Pearson upper end is below ``threshold`` (None: no k is)."""
    if clopper_pearson(0, trials, CONFIDENCE)[1] >= threshold:
        return None
    lo, hi = 0, trials
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if clopper_pearson(mid, trials, CONFIDENCE)[1] < threshold:
            lo = mid
        else:
            hi = mid - 1
    return lo / trials


# --------------------------------------------------------------------------------------------------
# pensia-rss-log
# --------------------------------------------------------------------------------------------------
def _pensia_n(form: str, eta: float, C: float) -> float:
    from theory import bounds

    if form == "code":
        return finite("pensia-rss-min-n", bounds.pensia_rss_min_n(eta, C=C, base=2.0))
    if form == "restated":
        return finite("pensia-rss-min-n-restated", bounds.pensia_rss_min_n_restated(eta, C=C))
    raise ValueError(f"form must be 'code' or 'restated', got {form!r}")


def pensia_restated_constant(calibration: Mapping[str, Any]) -> float | None:
    """Smallest C with ``C log(2/eta) >= n_min`` at every calibration eta (None: no usable eta).

    ``n_min`` is the calibration seed's smallest n with measured failure rate <= eta; only etas with
    ``trials * eta >= 1`` are used (below that a rate <= eta is not resolved).
    """
    t = int(calibration["trials"])
    cs = [
        e["n_min"] / _pensia_n("restated", e["eta"], 1.0)
        for e in calibration["etas"]
        if e.get("n_min") is not None and t * float(e["eta"]) >= 1.0
    ]
    return max(cs) if cs else None


def pensia_constants(details: Mapping[str, Any]) -> dict[str, float | None]:
    """The constant of each form: the code's 3 (source) and the calibrated restated C."""
    return {"code": PENSIA_CODE_C, "restated": pensia_restated_constant(details["calibration"])}


@register_rule("pensia-rss-log")
def pensia_rss_log(details: Mapping[str, Any]) -> RuleResult:
    """Failure rate <= eta at ``n = ceil(bound(eta, C))`` for both forms of the Pensia/Lueker corollary."""
    consts = pensia_constants(details)
    tested, conclusive, flagged, notes = 0, 0, [], []
    for r in details["rows"]:
        C = consts[r["form"]]
        if C is None:
            continue
        eta, t, f = float(r["eta"]), int(r["trials"]), int(r["failures"])
        need = math.ceil(_pensia_n(r["form"], eta, C) - 1e-9)
        if int(r["n"]) < need:
            continue  # the row does not reach the bound's n with the current constant: it tests nothing
        tested += 1
        rate = smallest_flagged_rate(eta, t)
        if rate is not None and rate <= DETECT_FACTOR * eta * (1 + 1e-9):  # 1e-9: float slack at equality
            conclusive += 1
        notes.append(f"{r['form']} eta={eta:g} n={r['n']}: flags >= {rate if rate is not None else 1:.3g}")
        if clopper_pearson(f, t, CONFIDENCE)[0] > eta:
            flagged.append(f"{r['form']} eta={eta:g} n={r['n']}: {f}/{t} failures")
    cal = details["calibration"]
    rule = (
        "at n = ceil(C log2(1/eta)) (C = 3, code) and n = ceil(C log(2/eta)) (C calibrated): inconsistent if "
        "a row's 95% Clopper-Pearson failure interval lies above eta; consistent if none does and >= 1 row "
        f"could flag a rate <= {DETECT_FACTOR:g} eta; else inconclusive"
    )
    constants = {
        "C_code": f"{PENSIA_CODE_C:g} (Pensia et al.'s code, n = 3 round(log2(1/eps)); PRIMARY)",
        "C_restated": (f"{consts['restated']:.4g}" if consts["restated"] is not None else "not calibrated")
        + ": smallest C with C log(2/eta) >= calibration n_min (failure <= eta), "
        f"seed {cal.get('seed', '?')}, "
        f"{cal.get('trials', '?')} trials, etas with trials*eta >= 1",
        "detect_factor": f"{DETECT_FACTOR:g}: a row is conclusive when it flags failure rates <= this * eta",
    }
    detectable = "smallest flagged failure rate per row: " + ("; ".join(notes) if notes else "no row tested")
    if flagged:
        verdict, summary = (
            "inconsistent",
            f"failure interval above eta in {len(flagged)} of {tested} rows: {flagged[0]}",
        )
    elif conclusive:
        verdict = "consistent"
        summary = (
            f"no failure interval above eta in {tested} rows "
            f"({conclusive} conclusive at <= {DETECT_FACTOR:g} eta)"
        )
    else:
        verdict = "inconclusive"
        summary = f"{tested} rows tested, none could flag a failure rate within {DETECT_FACTOR:g} eta"
    return RuleResult(verdict, summary, rule, constants, detectable)


# --------------------------------------------------------------------------------------------------
# lueker-cor2.5
# --------------------------------------------------------------------------------------------------
def _lueker_n(eta: float, delta: float, C: float) -> float:
    from theory import bounds

    return finite("lueker-min-n", bounds.lueker_min_n(eta, delta, C=C))


def lueker_constant(calibration: Mapping[str, Any], level: float) -> float | None:
    """Smallest C whose solved bound ``lueker_min_n(eta, 1 - level, C)`` is >= every calibration n90.

    ``lueker_min_n`` increases with C and is at least ``8 log(1/(1 - level))`` (18.4 at level 0.9) for
    every C > 0, so a calibration n90 below that constrains nothing; None when no eta constrains C.
    """
    delta = 1.0 - level
    pts = [(float(e["eta"]), int(e["n90"])) for e in calibration["etas"] if e.get("n90") is not None]
    binding = [(eta, n) for eta, n in pts if _lueker_n(eta, delta, 1e-9) < n]
    if not binding:
        return None
    lo, hi = 0.0, 1.0
    while any(_lueker_n(eta, delta, hi) < n for eta, n in binding):
        hi *= 2.0
        if hi > 1e6:
            raise ValueError("calibration n90 values admit no finite Lueker constant")
    for _ in range(60):
        mid = (lo + hi) / 2
        if mid > 0 and all(_lueker_n(eta, delta, mid) >= n for eta, n in binding):
            hi = mid
        else:
            lo = mid
    return hi


@register_rule("lueker-cor2.5")
def lueker_cor25(details: Mapping[str, Any]) -> RuleResult:
    """Success at ``n = ceil(lueker_min_n(eta, 1 - level, C))`` vs Lueker's Corollary 2.5 bound there."""
    from theory import bounds

    level = float(details["level"])
    cal = details["calibration"]
    C = lueker_constant(cal, level)
    tested, flagged, notes = 0, [], []
    for r in details["rows"] if C is not None else []:
        eta, n, t = float(r["eta"]), int(r["n"]), int(r["trials"])
        if n < math.ceil(_lueker_n(eta, 1.0 - level, C) - 1e-9) or eta < math.exp(-n / (2 * C)):
            continue  # below the solved n, or outside the corollary's range eps >= exp(-n/(2C))
        bound = finite("lueker-success-probability", bounds.lueker_success_probability(n, eta, C=C))
        worst = largest_flagged_rate(bound, t)
        if worst is None:
            continue
        tested += 1
        notes.append(f"eta={eta:g} n={n}: bound {bound:.3f}, flags success <= {worst:.3f}")
        possible = int(r["successes"]) + int(r.get("ambiguous", 0))
        if clopper_pearson(possible, t, CONFIDENCE)[1] < bound:
            flagged.append(f"eta={eta:g} n={n}: {possible}/{t} < bound {bound:.3f}")
    rule = (
        "with C calibrated on disjoint seeds, at n = ceil(lueker_min_n(eta, 1-level, C)): inconsistent "
        "if the 95% Clopper-Pearson success interval lies below lueker_success_probability(n, eta, C); "
        "consistent if none does and >= 1 row could; else inconclusive"
    )
    constants = {
        "C": (f"{C:.4g}" if C is not None else "not determined")
        + f": smallest C with lueker_min_n >= calibration n90 (seed {cal.get('seed', '?')}, "
        f"{cal.get('trials', '?')} trials); C is never given numerically by Lueker",
        "level": f"{level} (success level of the calibration n90 and of the solved bound)",
        "window": "[-1/2, 1/2], U[-1, 1] candidates (Corollary 2.5)",
    }
    if C is None:
        edge = 8.0 * math.log(1.0 / (1.0 - level))
        return RuleResult(
            "inconclusive",
            f"no calibration n90 exceeds 8 log(1/(1-level)) = {edge:.1f}, below which the bound cannot reach "
            f"{level} for any C: C undetermined, use smaller eta",
            rule,
            constants,
            "nothing: the corollary constrains no measured n at these etas",
        )
    detectable = "largest flagged success rate per row: " + ("; ".join(notes) if notes else "no row tested")
    if flagged:
        verdict, summary = (
            "inconsistent",
            f"success below the bound in {len(flagged)} of {tested} rows: {flagged[0]}",
        )
    elif tested:
        verdict, summary = (
            "consistent",
            f"success compatible with the bound in all {tested} rows (C = {C:.3g})",
        )
    else:
        verdict, summary = "inconclusive", f"no row measured at the solved n for C = {C:.3g}"
    return RuleResult(verdict, summary, rule, constants, detectable)


EXAMPLES: list[tuple[str, str, dict]] = [
    (
        "pensia-rss-log",
        "pensia-rss-log",
        {
            "calibration": {
                "seed": 1,
                "trials": 200,
                "etas": [{"eta": 0.1, "n_min": 8}, {"eta": 0.03, "n_min": 10}, {"eta": 0.01, "n_min": 13}],
            },
            "rows": [
                {"form": "code", "eta": 0.01, "n": 20, "failures": 0, "ambiguous": 0, "trials": 200},
                {"form": "code", "eta": 0.001, "n": 30, "failures": 0, "ambiguous": 0, "trials": 200},
                {"form": "restated", "eta": 0.01, "n": 15, "failures": 1, "ambiguous": 0, "trials": 200},
                {"form": "restated", "eta": 0.001, "n": 21, "failures": 0, "ambiguous": 0, "trials": 200},
            ],
        },
    ),
    (
        "lueker-cor2.5",
        "lueker-cor2.5",
        {
            "level": 0.9,
            "calibration": {
                "seed": 1,
                "trials": 100,
                "etas": [{"eta": 1e-3, "n90": 16}, {"eta": 1e-4, "n90": 20}],
            },
            "rows": [
                {"eta": 1e-3, "n": 20, "successes": 100, "ambiguous": 0, "trials": 100},
                {"eta": 1e-4, "n": 20, "successes": 93, "ambiguous": 0, "trials": 100},
            ],
        },
    ),
]
