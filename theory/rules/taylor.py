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

from theory.rules import RuleResult, register_rule
from theory.rules.practice import combine, t_interval

# Float64 roundoff: an exact Hessian-vector product agrees with the full Hessian to ~1e-13 relative on the
# tiny models; 1e-8 leaves room for accumulation and is still 1e4 below any real error.
HESSIAN_REL_TOL = 1e-8
# Central differences of the gradient with step fd_eps = 1e-5 carry an O(fd_eps^2) = 1e-10 truncation
# error plus roundoff ~ machine eps / fd_eps = 2e-11; 1e-4 relative is far above both on smooth models.
FD_REL_TOL = 1e-4


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


def _one_sided(values: Sequence[float], confidence: float) -> tuple[float, float, float]:
    """Mean and one-sided bounds at ``confidence`` (the ends of the two-sided ``2c - 1`` interval)."""
    iv = t_interval(values, 2.0 * confidence - 1.0)
    return iv.mean, iv.low, iv.high


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
        "vs log10 k): both lower bounds > 0 -> consistent; either upper bound < 0 -> inconsistent; any "
        "model inconsistent -> inconsistent"
    )
    constants = {
        "confidence": f"{confidence}: one-sided level of the t-bounds (recorded run config)",
        "top decade": "k >= k_max / 10: the large-k end of the log grid (design choice, stated with it)",
    }
    gaps = _gaps(details)
    if not gaps:
        return RuleResult(
            "inconclusive", "no paired first/second-order results", rule, constants, "nothing: no pairs"
        )
    parts, verdicts, detect = [], [], []
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
        i_m, i_lo, i_hi = _one_sided(improvement, confidence) if seeds else (math.nan, -math.inf, math.inf)
        t_m, t_lo, t_hi = _one_sided(trend, confidence) if trend else (math.nan, -math.inf, math.inf)
        small = float(np.mean([g for g, _ in per_k[ks[0]].values()]))
        if i_lo > 0 and t_lo > 0:
            v = "consistent"
        elif i_hi < 0 or t_hi < 0:
            v = "inconsistent"
        else:
            v = "inconclusive"
        verdicts.append(v)
        h_i, h_t = i_m - i_lo, t_m - t_lo
        detect.append(
            f"{model}: improvement {h_i:.3g}, trend {h_t:.3g} per decade "
            f"({'finer' if h_i < scale else 'NOT finer'} than the first-order |dL| {scale:.3g} at large k)"
        )
        parts.append(
            f"{model} ({len(seeds)} seeds, k {ks[0]}..{ks[-1]}): gap at k={ks[0]} {small:.3g}; improvement "
            f"over k>={top[0]} {i_m:.3g} [{i_lo:.3g}, {i_hi:.3g}], trend per decade of k {t_m:.3g} "
            f"[{t_lo:.3g}, {t_hi:.3g}] ({v})"
        )
    summary = (
        f"loss decrease of second- minus first-order swap choice, mean [one-sided {confidence:.0%} t-bounds] "
        "over seeds; " + "; ".join(parts)
    )
    detectable = "mean effects above the one-sided bound distances: " + "; ".join(detect)
    return RuleResult(combine(verdicts), summary, rule, constants, detectable)


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
