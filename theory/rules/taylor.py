"""Pre-registered rules for the Taylor loss-change claims (:mod:`sim.taylor`).

* ``taylor-first-order`` / ``taylor-second-order``: the k-th order Taylor remainder along ``t v`` is
  ``O(t^(k+1))`` (standard Taylor expansion; reference algorithms.md §5.1). Each recorded fit is a
  least-squares log-log slope with its t-interval. A fit whose whole interval lies below
  ``expected - margin`` contradicts the claim (a slope ABOVE the order is allowed: the next term may
  vanish). A fit is *informative* when its half-width is below ``1 - margin``: only then would a
  remainder one full order too low (the error the check is for) put its interval below the line. With no
  informative fit the verdict is ``inconclusive``. The second-order claim also needs the Hessian-vector
  products to match the full Hessian (relative error below ``HESSIAN_REL_TOL``) and central differences
  of the gradient (below ``FD_REL_TOL``).
* ``second-order-swaps-better``: per model, the per-seed improvement (mean gap, second- minus first-order
  loss decrease, over the top decade of the k grid) and the per-seed least-squares slope of the gap
  against log10 k; one-sided Student-t bounds at level ``confidence`` over the seeds (paired: both rules
  act on the same trained model). Consistent when both lower bounds are above 0, inconsistent when either
  upper bound is below 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from theory.rules import Effect, RuleResult, register_rule
from theory.rules.practice import Interval, combine, seeds_to_decide, t_interval

# Float64 roundoff: an exact Hessian-vector product agrees with the full Hessian to ~1e-13 relative on the
# tiny models; 1e-8 leaves room for accumulation and is still 1e4 below any real error.
HESSIAN_REL_TOL = 1e-8
# Central differences of the gradient with step fd_eps = 1e-5 carry an O(fd_eps^2) = 1e-10 truncation
# error plus roundoff ~ machine eps / fd_eps = 2e-11; 1e-4 relative is far above both on smooth models.
FD_REL_TOL = 1e-4
# The smallest swap improvement that matters: a tenth of the first-order rule's own loss decrease at large
# k (the reference reports no size: no published second-order swap rule, algorithms.md §5.4); the trend's
# is that improvement spread over the decades of the k grid. Fixed before the 12-seed runs.
RELEVANT_FRACTION = 0.1
SWAPS_REFERENCE = "not reported (no published second-order swap rule; algorithms.md §5.1, §5.4)"


def _num(v: Any) -> float:
    """JSON number or None (NaN was written as null) -> float (NaN for None)."""
    return math.nan if v is None else float(v)


def _slope_rule(details: Mapping[str, Any], order: int) -> tuple[str, str, str, dict, str]:
    margin = float(details["margin"])
    confidence = details.get("confidence")
    expected = order + 1
    rows = [r for r in details.get("fits", []) if int(r["order"]) == order]
    fits = [
        (_num(r["slope"]), _num(r["ci_low"]), _num(r["ci_high"]))
        for r in rows
        if all(math.isfinite(_num(r[k])) for k in ("slope", "ci_low", "ci_high"))
    ]
    informative = [f for f in fits if (f[2] - f[1]) / 2 < 1 - margin]
    below = [f for f in fits if f[2] < expected - margin]
    rule = (
        f"order-{order} remainder log-log slope per fit: any t-interval entirely below {expected} - margin "
        f"-> inconsistent; no fit with half-width < 1 - margin -> inconclusive; else consistent"
    )
    constants = {
        "expected": f"{expected}: the Taylor order of the remainder (algorithms.md §5.1)",
        "margin": f"{margin}: tolerance below the order (run config slope_margin, set before the run)",
        "confidence": f"{confidence}: level of each fit's t-interval (recorded run config)",
    }
    if below:
        verdict = "inconsistent"
    elif not informative:
        verdict = "inconclusive"
    else:
        verdict = "consistent"
    if fits:
        slopes = [f[0] for f in fits]
        summary = (
            f"{'first' if order == 1 else 'second'}-order remainder along t*v (random swap directions, "
            f"{details.get('activation')} models, {len(fits)} fits, {len(informative)} informative): log-log "
            f"slope median {float(np.median(slopes)):.3f}, range {min(slopes):.3f}..{max(slopes):.3f} "
            f"(Taylor: {expected}); {len(below)} interval(s) entirely below {expected} - {margin}"
        )
        h = max((f[2] - f[1]) / 2 for f in informative) if informative else math.inf
        detectable = (
            f"a slope below {expected} - {margin} - h with h = {h:.3g} (largest informative half-width); "
            f"one order too low is detectable when h < {1 - margin:.3g}"
        )
    else:
        summary = f"no usable remainder fits of order {order}"
        detectable = "nothing: no finite fit"
    return verdict, summary, rule, constants, detectable


@register_rule("taylor-first-order")
def taylor_first_order(details: Mapping[str, Any]) -> RuleResult:
    """The first-order remainder ``L(w+tv) - L(w) - t g.v`` scales as ``t^2`` (Taylor's theorem).

    Args:
        details: ``fits`` (rows with ``order``, ``slope``, ``ci_low``, ``ci_high``), ``margin``,
            ``confidence``, ``activation`` as :func:`sim.taylor.run_taylor` records them.

    Returns:
        The verdict of the slope rule of this module's docstring.
    """
    return RuleResult(*_slope_rule(details, 1))


@register_rule("taylor-second-order")
def taylor_second_order(details: Mapping[str, Any]) -> RuleResult:
    """The second-order model ``g.v + v.Hv/2`` leaves an ``O(t^3)`` remainder, with exact HVPs.

    Args:
        details: As for ``taylor-first-order``, plus ``hvp_checks`` (relative errors ``mlp_vs_hessian``,
            ``cnn_vs_hessian``, ``mlp_vs_fd``, ``cnn_vs_fd``, ``trained_models_vs_fd_max``).

    Returns:
        The slope rule's verdict, made inconsistent when a Hessian-vector product check fails.
    """
    verdict, summary, rule, constants, detectable = _slope_rule(details, 2)
    checks = details["hvp_checks"]
    hess = max(_num(checks["mlp_vs_hessian"]), _num(checks["cnn_vs_hessian"]))
    fd = max(_num(checks[k]) for k in ("mlp_vs_fd", "cnn_vs_fd", "trained_models_vs_fd_max"))
    if not (hess < HESSIAN_REL_TOL and fd < FD_REL_TOL):  # NaN fails too
        verdict = "inconsistent"
    summary += f"; HVP vs full Hessian rel. err <= {hess:.1e}, vs central differences <= {fd:.1e}"
    rule += f"; and HVP rel. error < {HESSIAN_REL_TOL:g} vs the full Hessian, < {FD_REL_TOL:g} vs differences"
    constants = {
        **constants,
        "hessian_rel_tol": f"{HESSIAN_REL_TOL:g}: float64 roundoff with room (exact HVPs reach ~1e-13)",
        "fd_rel_tol": f"{FD_REL_TOL:g}: above the O(fd_eps^2) truncation of central differences",
    }
    return RuleResult(verdict, summary, rule, constants, detectable)


def _one_sided(values: Sequence[float], confidence: float) -> Interval:
    """Mean and one-sided bounds at ``confidence`` (the ends of the two-sided ``2c - 1`` interval)."""
    return t_interval(values, 2.0 * confidence - 1.0)


def _decide_one_sided(iv: Interval, r: float) -> str:
    """Lower bound > 0 -> consistent; upper < r, or bound distance <= r when undecided -> inconsistent."""
    if iv.low > 0:
        return "consistent"
    if iv.high < 0 or iv.high < r or iv.half_width <= r:
        return "inconsistent"
    return "inconclusive"


def _gaps(details: Mapping[str, Any]) -> dict[str, dict[int, dict[Any, tuple[float, float]]]]:
    """``{model: {k: {seed: (gap, first-order loss change)}}}`` from the recorded finite pairs."""
    out: dict[str, dict[int, dict[Any, tuple[float, float]]]] = {}
    for r in details.get("pairs", []):
        first, second = _num(r["first"]), _num(r["second"])
        if math.isfinite(first) and math.isfinite(second):
            out.setdefault(str(r["model"]), {}).setdefault(int(r["k"]), {})[r["seed"]] = (
                second - first,
                -first,
            )
    return out


@register_rule("second-order-swaps-better")
def second_order_swaps_better(details: Mapping[str, Any]) -> RuleResult:
    """The second-order swap choice decreases the loss more than the first-order one, more so as k grows.

    The claim (issue 12; reference algorithms.md §5.1: interdependency enters only through the
    off-diagonal terms of H, whose share of ``v.Hv`` grows with the number of swapped weights): little
    difference for few swaps, a growing one as k grows. Per model and seed (paired: both choices act on
    the same trained model and measurement batch) the rule computes the *improvement*, the mean gap
    (second- minus first-order loss decrease) over the top decade of the recorded k grid
    (``k >= k_max / 10``; averaging the decade, not one k, keeps one unstable k from deciding), and the
    *trend*, the least-squares slope of the gap against ``log10 k`` over the whole grid. One-sided
    Student-t bounds at level ``confidence`` over the seeds.

    Args:
        details: ``pairs`` (rows ``model``, ``k``, ``seed``, ``first``, ``second``: the loss decreases of
            the two rules on the same trained model) and ``confidence`` (recorded run config).

    Returns:
        Per model and overall: both lower bounds > 0 -> consistent; an upper bound < 0 (second order worse
        at large k, or its advantage shrinking with k) -> inconsistent; else inconclusive. The detectable
        effect (the one-sided bound distances) is set against the first-order rule's own loss change at
        large k, because the reference reports no size for this effect (no published second-order
        swap rule; algorithms.md §5.4).
    """
    confidence = float(details["confidence"])
    rule = (
        f"per model, one-sided {confidence:.0%} t-bounds over seeds of the improvement (mean gap, second- "
        "minus first-order loss decrease, over k >= k_max/10) and of the trend (per-seed slope of the gap "
        "vs log10 k): both lower bounds > 0 -> consistent; either upper bound < 0 or < its r, or either "
        f"undecided with bound distance <= its r -> inconsistent; r = {RELEVANT_FRACTION} x the first-order "
        "|dL| at large k (trend: per decade of the grid); inconclusive only for a distance > r; any model "
        "inconsistent -> inconsistent"
    )
    constants = {
        "confidence": f"{confidence}: one-sided level of the t-bounds (recorded run config)",
        "top decade": "k >= k_max / 10: the large-k end of the log grid (design choice, stated with it)",
        "relevant_fraction": f"{RELEVANT_FRACTION}: r = this x the median first-order loss decrease at large "
        "k (the source has no size; a second-order choice adding less than a tenth is not worth its HVPs)",
    }
    gaps = _gaps(details)
    if not gaps:
        return RuleResult(
            "inconclusive", "no paired first/second-order results", rule, constants, "nothing: no pairs"
        )
    parts, verdicts, detect, effects = [], [], [], []
    nan_iv = Interval(math.nan, -math.inf, math.inf, math.inf, 0)
    for model, per_k in sorted(gaps.items()):
        ks = sorted(per_k)
        top = [k for k in ks if k >= ks[-1] / 10]
        seeds = sorted(set.intersection(*(set(per_k[k]) for k in top)), key=str)
        improvement = [float(np.mean([per_k[k][s][0] for k in top])) for s in seeds]
        trend = []
        for s in seeds:
            pts = [(math.log10(k), per_k[k][s][0]) for k in ks if s in per_k[k]]
            if len({p[0] for p in pts}) > 1:
                trend.append(float(np.polyfit(*np.asarray(pts).T, 1)[0]))
        scale = float(np.median([abs(per_k[k][s][1]) for k in top for s in seeds])) if seeds else math.nan
        decades = max(math.log10(ks[-1] / ks[0]), 1.0)
        r_i = RELEVANT_FRACTION * scale
        r_t = r_i / decades
        imp = _one_sided(improvement, confidence) if seeds else nan_iv
        tr = _one_sided(trend, confidence) if trend else nan_iv
        small = float(np.mean([g for g, _ in per_k[ks[0]].values()]))
        v_i, v_t = _decide_one_sided(imp, r_i), _decide_one_sided(tr, r_t)
        v = combine([v_i, v_t])
        verdicts.append(v)
        for what, iv, vv, r in (
            (f"improvement over k >= {top[0]}", imp, v_i, r_i),
            ("trend per decade of k", tr, v_t, r_t),
        ):
            n = seeds_to_decide(iv, r, 2.0 * confidence - 1.0) if vv == "inconclusive" else None
            effects.append(
                Effect(
                    f"{model}: second- minus first-order loss decrease, {what}",
                    iv.mean,
                    iv.low,
                    iv.high,
                    iv.half_width,
                    SWAPS_REFERENCE,
                    None,
                    None
                    if vv != "inconclusive"
                    else f"{n} seeds (one-sided bound distance <= r = {r:.3g}), same k grid"
                    if n is not None
                    else f"more seeds than {len(seeds)}",
                )
            )
        detect.append(
            f"{model}: improvement {imp.half_width:.3g} (r {r_i:.3g}), trend {tr.half_width:.3g} per decade "
            f"(r {r_t:.3g}); first-order |dL| {scale:.3g} at large k"
        )
        parts.append(
            f"{model} ({len(seeds)} seeds, k {ks[0]}..{ks[-1]}): gap at k={ks[0]} {small:.3g}; improvement "
            f"over k>={top[0]} {imp.mean:.3g} [{imp.low:.3g}, {imp.high:.3g}] ({v_i}), trend per decade of k "
            f"{tr.mean:.3g} [{tr.low:.3g}, {tr.high:.3g}] ({v_t})"
        )
    summary = (
        f"loss decrease of second- minus first-order swap choice, mean [one-sided {confidence:.0%} t-bounds] "
        "over seeds; " + "; ".join(parts)
    )
    detectable = "mean effects above the one-sided bound distances: " + "; ".join(detect)
    return RuleResult(combine(verdicts), summary, rule, constants, detectable, tuple(effects))


# ------------------------------------------------------------------------------------------ examples
def _example_fits(order: int) -> list[dict[str, Any]]:
    out = []
    for seed, (slope, se) in enumerate(((order + 1.01, 0.01), (order + 0.98, 0.02), (order + 1.0, 0.015))):
        q = 2.228  # t_{0.975, 10}: 12 points
        out.append(
            {
                "model": "mlp",
                "seed": seed,
                "direction": "k=1",
                "order": order,
                "expected": order + 1,
                "slope": slope,
                "se": se,
                "ci_low": slope - q * se,
                "ci_high": slope + q * se,
                "points": 12,
            }
        )
    return out


_HVP = {
    "mlp_vs_hessian": 3e-15,
    "cnn_vs_hessian": 5e-15,
    "mlp_vs_fd": 2e-9,
    "cnn_vs_fd": 4e-9,
    "trained_models_vs_fd_max": 6e-9,
}
_PAIRS = [
    {
        "model": "mlp",
        "k": k,
        "seed": s,
        "first": 0.01 * math.log10(10 * k),
        "second": 0.01 * math.log10(10 * k) + 0.002 * math.log10(k) * (1 + 0.2 * s) + 0.0005 * s,
    }
    for k in (1, 10, 100, 1000)
    for s in range(3)
]
EXAMPLES: list[tuple[str, str, dict]] = [
    (
        "taylor-first-order",
        "taylor-first-order",
        {"fits": _example_fits(1), "margin": 0.15, "confidence": 0.95, "activation": "gelu"},
    ),
    (
        "taylor-second-order",
        "taylor-second-order",
        {
            "fits": _example_fits(2),
            "margin": 0.15,
            "confidence": 0.95,
            "activation": "gelu",
            "hvp_checks": _HVP,
        },
    ),
    ("second-order-swaps-better", "second-order-swaps-better", {"pairs": _PAIRS, "confidence": 0.95}),
]
