"""Evidence rules for the epsilon-perturbed SubsetSum claims (Xiong, Liao, Kyrillidis).

Sources: Xiong, Liao, Kyrillidis, AISTATS 2023 (PMLR 206:6879-6902, arXiv:2210.16589), Theorem 1 in three
stated versions (AISTATS poster and abstract; talk slides of 28 Apr 2023; OPT 2022 workshop poster) and
the PSSP experiment ("the number n such that 90% of the randomly generated candidate sets with n elements
give an eta approximation of z"); theory.md §1.2 and §1.5.

The producers are ``slth run xiong-thm1`` (failure bound), ``xiong-n90`` (eps-dependence of the
three versions) and ``pssp-min-n`` (perturbation helps). Minimal-n measurements are *paired*: every
perturbation is measured on the same candidate sets (common random numbers), so the per-trial minimal n
is non-increasing in the perturbation by construction, and the recorded data are, per perturbation, the
number of trials certainly (``certain``) and possibly (``possible``) solved with the first n candidates.

Rules in this module (each one line in its :class:`RuleResult`):

* ``xiong-thm1-aistats.failure-bound``: some row's Clopper-Pearson failure interval above the bound.
* ``xiong-thm1-aistats.eps-dependence``, ``xiong-thm1-slides``, ``xiong-thm1-opt22``: measured n90
  interval entirely above the version's predicted n(eps), with its constant calibrated at eps = 0 on
  seeds disjoint from the test seeds.
* ``pssp-perturbation-helps``: the n90 interval at the largest perturbation lies below the one at 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from theory.rules import RuleResult, finite, register_rule
from theory.stats import clopper_pearson

#: Confidence of every Clopper-Pearson interval these rules use.
CONFIDENCE = 0.95
#: The success level of the minimal-n statements (Xiong's PSSP experiment: 90%).
LEVEL = 0.9
#: OPT 2022's undefined constant c in K1 = O(log(1/eta)/log(c + eps)): our choice c = e (log(c) = 1, so
#: K1 and K2 have the same eta-dependence at eps = 0) [UNVERIFIED: the poster does not define c].
OPT22_C = math.e


# --------------------------------------------------------------------------------------------------
# n90 from paired curves
# --------------------------------------------------------------------------------------------------
def n90_interval(
    certain: Sequence[int], possible: Sequence[int], trials: int, level: float = LEVEL
) -> dict[str, int | None]:
    """The smallest n with success probability >= ``level``, with an interval, from prefix counts.

    ``certain[i]`` / ``possible[i]`` count the trials certainly / possibly solved with ``n = i + 1``
    candidates (non-decreasing in n: a prefix of a solved candidate set stays solved when extended). The
    point estimate is the first n with ``certain / trials >= level``; the interval ``[low, high]`` holds
    every n whose success probability is compatible with ``level``: ``low`` is the first n whose
    Clopper-Pearson upper end (of ``possible``) reaches ``level``, ``high`` the first n whose lower end
    (of ``certain``) does. ``None`` means not reached by the last recorded n (censored).

    Args:
        certain: Certain successes per n = 1, 2, ...
        possible: Possible successes (certain + undecided) per n.
        trials: Trials per n (>= 1).
        level: Success level in (0, 1).

    Returns:
        ``{"n90": ..., "low": ..., "high": ..., "n_max": len(certain)}``.

    Raises:
        ValueError: If the counts are inconsistent.
    """
    if len(certain) != len(possible) or not certain:
        raise ValueError("certain and possible must be non-empty count lists of the same length")
    point = low = high = None
    for i, (c, p) in enumerate(zip(certain, possible, strict=True)):
        if not 0 <= c <= p <= trials:
            raise ValueError(f"counts at n={i + 1} must satisfy 0 <= certain <= possible <= trials={trials}")
        n = i + 1
        if point is None and c / trials >= level:
            point = n
        if low is None and clopper_pearson(p, trials, CONFIDENCE)[1] >= level:
            low = n
        if high is None and clopper_pearson(c, trials, CONFIDENCE)[0] >= level:
            high = n
    return {"n90": point, "low": low, "high": high, "n_max": len(certain)}


def _curve(entry: Mapping[str, Any], trials: int, level: float) -> dict[str, int | None]:
    return n90_interval(entry["certain"], entry["possible"], trials, level)


def _fmt(v: int | None, n_max: int) -> str:
    return f">{n_max}" if v is None else str(v)


# --------------------------------------------------------------------------------------------------
# xiong-thm1-aistats.failure-bound
# --------------------------------------------------------------------------------------------------
def smallest_flagged_failures(bound: float, trials: int) -> int | None:
    """Fewest failures out of ``trials`` whose Clopper-Pearson lower end exceeds ``bound`` (None: none)."""
    lo, hi = 0, trials
    if clopper_pearson(trials, trials, CONFIDENCE)[0] <= bound:
        return None
    while lo < hi:  # the lower end grows with the count: bisection
        mid = (lo + hi) // 2
        if clopper_pearson(mid, trials, CONFIDENCE)[0] > bound:
            hi = mid
        else:
            lo = mid + 1
    return lo


@register_rule("xiong-thm1-aistats.failure-bound")
def xiong_failure_bound(details: Mapping[str, Any]) -> RuleResult:
    """Measured failure rate vs Theorem 1's bound ``exp(-(n-K)(1+eps)^2/(8(3-eps))) + exp(-K)``.

    Source: Xiong et al. AISTATS 2023, Theorem 1 (poster wording), via
    ``theory.bounds.xiong_thm1_failure_probability``. A trial fails when some z in [-1/2, 1/2] has no
    2-eta approximation by eps-perturbed subset sums. Rows whose bound is not in (0, 1) say nothing
    (vacuous); rows whose measured success is 0 or 1 in every trial are degenerate (the perturbation
    made the error trivially 0, or eta is far too small) and are not counted.
    """
    from theory import bounds

    rows = details["rows"]
    cal = details.get("calibration", {})
    tested, flagged, skipped, margins = 0, [], {"vacuous": 0, "degenerate": 0}, []
    for r in rows:
        t, f, a = int(r["trials"]), int(r["failures"]), int(r.get("ambiguous", 0))
        bound = finite(
            "xiong-thm1-failure", bounds.xiong_thm1_failure_probability(r["n"], r["perturbation"], r["K"])
        )
        if not 0.0 < bound < 1.0:
            skipped["vacuous"] += 1
            continue
        if f == t or f + a == 0:
            skipped["degenerate"] += 1
            continue
        k = smallest_flagged_failures(bound, t)
        if k is None:
            skipped["vacuous"] += 1  # not even t failures out of t would exceed the bound
            continue
        tested += 1
        margins.append(k / t - bound)
        if clopper_pearson(f, t, CONFIDENCE)[0] > bound:
            flagged.append(f"n={r['n']} eps={r['perturbation']:.3g} K={r['K']:g}: {f}/{t} > {bound:.3f}")
    rule = (
        "inconsistent if some non-vacuous, non-degenerate row's 95% Clopper-Pearson failure interval lies "
        "entirely above the Theorem 1 bound; consistent if none does and >= 1 row could have; else "
        "inconclusive"
    )
    constants = {
        "confidence": f"{CONFIDENCE} (Clopper-Pearson, theory.stats)",
        "eta": f"per n: half the {cal.get('quantile', 0.5)} quantile of the unperturbed coverage error on "
        f"calibration seed {cal.get('seed', '?')} ({cal.get('trials', '?')} trials), so that success is "
        "strictly inside (0, 1)",
        "perturbation": "eps = ratio * eta for the recorded ratios (larger eps makes the error exactly 0)",
        "bound": "theory.bounds.xiong_thm1_failure_probability (AISTATS poster, Theorem 1)",
    }
    detectable = (
        f"smallest flagged excess failure rate over the bound: {min(margins):.3f} (best row)"
        if margins
        else "no row could flag a violation at this trial count"
    )
    if flagged:
        verdict = "inconsistent"
        summary = f"failure interval above the bound in {len(flagged)} of {tested} rows, e.g. {flagged[0]}"
    elif tested:
        verdict = "consistent"
        summary = (
            f"no violation in {tested} testable rows ({skipped['vacuous']} vacuous, "
            f"{skipped['degenerate']} degenerate rows skipped)"
        )
    else:
        verdict = "inconclusive"
        summary = (
            f"no testable row ({skipped['vacuous']} vacuous or unflaggable, "
            f"{skipped['degenerate']} degenerate)"
        )
    return RuleResult(verdict, summary, rule, constants, detectable)


# --------------------------------------------------------------------------------------------------
# The eps-dependence of the three versions: n90(eps) vs the predicted n(eps)
# --------------------------------------------------------------------------------------------------
def _aistats_shape(eta: float, eps: float, C: float) -> float:
    from theory import bounds

    # K = log(1/(1 - LEVEL)): Theorem 1's exp(-K) term alone must not exceed the failure level.
    return bounds.xiong_candidates_aistats(eta, eps, math.log(1.0 / (1.0 - LEVEL)), C=C)


def _slides_shape(eta: float, eps: float, C: float) -> float:
    from theory import bounds

    return bounds.xiong_candidates_slides(eta, eps, C=C)


def _opt22_shape(eta: float, eps: float, C: float) -> float:
    from theory import bounds

    return bounds.xiong_candidates_opt22(eta, eps, c=OPT22_C, C1=C, C2=C)


#: version -> (bound name, predicted n(eta, eps, C), constants text)
VERSIONS: dict[str, tuple[str, Any, str]] = {
    "aistats": (
        "xiong-candidates-aistats",
        _aistats_shape,
        "n = C (log(1/eta)/(1+eps) + K), K = log(1/(1-level)) = log 10 (exp(-K) <= failure level)",
    ),
    "slides": ("xiong-candidates-slides", _slides_shape, "n = C log(1/eta)/(log(1+eps)+1)"),
    "opt22": (
        "xiong-candidates-opt22",
        _opt22_shape,
        "n = C log(1/eta)/log(c+eps) + C (1 + log(1/eta)/(1+eps)), C1 = C2 = C, c = e [our choice]",
    ),
}


#: The approximation each version promises: a 2-eta approximation (AISTATS, OPT 2022) or eta (slides).
APPROX = {"aistats": 2.0, "slides": 1.0, "opt22": 2.0}


def predicted_n(version: str, eta: float, eps: float, C: float) -> float:
    """The version's predicted candidate count at ``(eta, eps)`` with constant ``C`` (finite or error)."""
    name, fn, _ = VERSIONS[version]
    return finite(name, fn(eta, eps, C))


def calibrated_constant(version: str, eta: float, n90_cal: int) -> float:
    """C such that the version predicts exactly the calibration n90 at eps = 0."""
    return n90_cal / predicted_n(version, eta, 0.0, 1.0)


def shape_verdict(details: Mapping[str, Any], version: str) -> RuleResult:
    """Shared rule of the three eps-dependence claims (see the module docstring)."""
    level = float(details.get("level", LEVEL))
    flagged, resolvable, compared, notes, widths = [], [], 0, [], []
    uncal = 0
    for block in details["etas"]:
        # The measured success is "coverage error <= threshold"; a 2-eta statement has eta = threshold / 2.
        eta, trials = float(block["threshold"]) / APPROX[version], int(block["trials"])
        cal = n90_interval(
            block["calibration"]["certain"],
            block["calibration"]["possible"],
            int(block["calibration"]["trials"]),
            level,
        )
        if cal["n90"] is None:
            uncal += 1
            continue
        C = calibrated_constant(version, eta, cal["n90"])
        curves = sorted(block["curves"], key=lambda c: float(c["perturbation"]))
        if not curves or float(curves[0]["perturbation"]) != 0.0:
            raise ValueError("each eta block needs a curve at perturbation 0 (the paired baseline)")
        base = _curve(curves[0], trials, level)
        if base["low"] is None or base["n90"] is None:
            uncal += 1
            continue
        widths.append(base["n90"] - base["low"])
        base_pred = predicted_n(version, eta, 0.0, C)
        for c in curves:
            eps = float(c["perturbation"])
            got = _curve(c, trials, level)
            pred = predicted_n(version, eta, eps, C)
            # n is an integer: "n >= pred suffices" means ceil(pred) candidates suffice.
            need = math.ceil(pred - 1e-9)
            compared += 1
            lower = got["low"] if got["low"] is not None else got["n_max"] + 1
            if lower > need:
                tag = f"threshold={eta * APPROX[version]:g} eps={eps:g}"
                flagged.append(f"{tag}: n90 >= {lower} > predicted {pred:.1f}")
            if eps > 0 and need < base["low"]:
                resolvable.append(eps)
                if got["n90"] is not None:
                    notes.append(
                        f"threshold={eta * APPROX[version]:g} eps={eps:g}: n90 ratio "
                        f"{got['n90'] / base['n90']:.2f} vs predicted {pred / base_pred:.2f}"
                    )
    name, _, form = VERSIONS[version]
    rule = (
        "inconsistent if at some (eta, eps) the measured n90 interval lies entirely above the predicted "
        "ceil(n(eps)) (constant fitted at eps = 0 on calibration seeds); consistent if none does and some "
        "eps > 0 is resolvable; else inconclusive"
    )
    constants = {
        "form": f"{form} ({name})",
        "C": "per eta, C = calibration n90(eps=0) / shape(eta, 0, C=1), calibration seed "
        f"{details.get('calibration_seed', '?')} (test seed {details.get('seed', '?')})",
        "level": f"{level} (Xiong's PSSP experiment: 90% of candidate sets)",
        "n90 interval": f"n with the {CONFIDENCE} Clopper-Pearson interval of P(success) reaching the level",
    }
    res = sorted(set(resolvable))
    detectable = (
        "an eps is resolvable when its predicted n(eps) lies below the n90(0) interval (a shift larger than "
        f"{max(widths, default=0)} candidates); resolvable here: eps in {res if res else 'none'}"
    )
    if flagged:
        verdict, summary = (
            "inconsistent",
            f"{len(flagged)} of {compared} rows above the prediction, e.g. {flagged[0]}",
        )
    elif res:
        tail = f"; {notes[-1]}" if notes else ""
        verdict = "consistent"
        summary = (
            f"no measured n90 above the predicted n(eps) in {compared} rows ({len(res)} resolvable eps){tail}"
        )
    else:
        verdict = "inconclusive"
        summary = (
            f"predicted shifts are below the n90 resolution at every eps ({compared} rows, "
            f"{uncal} eta blocks without a calibrated n90)"
        )
    return RuleResult(verdict, summary, rule, constants, detectable)


@register_rule("xiong-thm1-aistats.eps-dependence")
def xiong_aistats_eps_dependence(details: Mapping[str, Any]) -> RuleResult:
    """AISTATS version: ``n = O(log(1/eta)/(1+eps) + K)`` (Xiong et al. 2023, poster and abstract)."""
    return shape_verdict(details, "aistats")


@register_rule("xiong-thm1-slides")
def xiong_slides(details: Mapping[str, Any]) -> RuleResult:
    """Slides version: ``n = O(log(1/eta)/(log(1+eps)+1))`` (talk slides, 28 Apr 2023)."""
    return shape_verdict(details, "slides")


@register_rule("xiong-thm1-opt22")
def xiong_opt22(details: Mapping[str, Any]) -> RuleResult:
    """OPT 2022 version: ``n = K1 + K2`` (Liao, Xiong, Kyrillidis, OPT 2022 workshop poster)."""
    return shape_verdict(details, "opt22")


# --------------------------------------------------------------------------------------------------
# pssp-perturbation-helps
# --------------------------------------------------------------------------------------------------
@register_rule("pssp-perturbation-helps")
def pssp_perturbation_helps(details: Mapping[str, Any]) -> RuleResult:
    """The minimal n at 90% success falls as perturbation/eta grows (Xiong et al., PSSP experiment).

    Paired design: for each eta the largest ratio and ratio 0 are measured on the same candidate sets.
    A fall is *detected* at an eta when the n90 interval at the largest ratio lies entirely below the one
    at ratio 0; it is *excluded* when both intervals are the same single n (no fall, at resolution 0).
    """
    level = float(details.get("level", LEVEL))
    detected, excluded, compared, res = [], [], 0, []
    top_ratio = None
    for block in details["etas"]:
        eta, trials = float(block["eta"]), int(block["trials"])
        curves = {float(c["ratio"]): c for c in block["curves"]}
        if 0.0 not in curves or len(curves) < 2:
            continue
        top_ratio = max(curves)
        base = _curve(curves[0.0], trials, level)
        top = _curve(curves[top_ratio], trials, level)
        if base["low"] is None or top["high"] is None:
            continue
        compared += 1
        base_high = base["high"] if base["high"] is not None else base["n_max"] + 1
        base_n90 = base["n90"] if base["n90"] is not None else base_high
        # A fall is detected only when it exceeds the two half-widths that separate the intervals.
        res.append(f"eta={eta:g}: {top['high'] - top['n90'] + base_n90 - base['low'] + 1} candidates")
        if top["high"] < base["low"]:
            detected.append(f"eta={eta:g}: n90 {_fmt(base['n90'], base['n_max'])} -> {top['n90']}")
        elif top["low"] == top["high"] == base["low"] == base_high:
            excluded.append(f"eta={eta:g}: n90 = {top['low']} at ratio 0 and {top_ratio:g}")
    rule = (
        "per eta, paired: fall detected if the n90 interval at the largest ratio lies below that at ratio 0, "
        "excluded if both are one and the same n; consistent if detected somewhere and excluded nowhere; "
        "inconsistent if excluded somewhere"
    )
    constants = {
        "level": f"{level} (Xiong's PSSP experiment)",
        "n90 interval": f"{CONFIDENCE} Clopper-Pearson on P(success) at each n",
        "pairing": "common random numbers: the same candidate sets (and targets) for every ratio",
    }
    detectable = "smallest detectable fall in candidates per eta: " + ("; ".join(res) if res else "none")
    if excluded:
        verdict, summary = "inconsistent", f"no fall at {len(excluded)} etas, e.g. {excluded[0]}"
    elif detected:
        verdict = "consistent"
        summary = (
            f"n90 falls at ratio {top_ratio:g} for {len(detected)} of {compared} etas, e.g. {detected[0]}"
        )
    else:
        verdict = "inconclusive"
        summary = f"no fall resolved and none excluded at {compared} etas (n90 intervals overlap)"
    return RuleResult(verdict, summary, rule, constants, detectable)


# --------------------------------------------------------------------------------------------------
# pssp-perturbation-shape: the theorem's log(1/eta)/(1+eps) against a form in eps/eta
# --------------------------------------------------------------------------------------------------
#: The two forms compared, each linear in its constants: ``n90 = sum_j theta_j * feature_j(eta, ratio)``.
SHAPE_FORMS = {
    "theorem": "n90 = a + C log(1/eta)/(1+eps) (AISTATS Theorem 1 shape, a = C K free)",
    "ratio": "n90 = a + C log(1/eta) - B log(1 + eps/eta) (our empirical form in eps/eta)",
}


def _shape_features(form: str, eta: float, ratio: float) -> list[float]:
    from theory import bounds

    eps = ratio * eta
    # log(1/eta)/(1+eps) and log(1/eta) are the declared bound with C = 1, K = 0 (at eps and at 0).
    thm = finite("xiong-candidates-aistats", bounds.xiong_candidates_aistats(eta, eps, 0.0, C=1.0))
    if form == "theorem":
        return [1.0, thm]
    base = finite("xiong-candidates-aistats", bounds.xiong_candidates_aistats(eta, 0.0, 0.0, C=1.0))
    return [1.0, base, -math.log1p(ratio)]


def shape_points(details: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The (eta, ratio) points with a finite n90 interval, and the number left out (censored)."""
    level = float(details.get("level", LEVEL))
    points, censored = [], 0
    for block in details["etas"]:
        eta, trials = float(block["eta"]), int(block["trials"])
        for c in block["curves"]:
            got = _curve(c, trials, level)
            if got["n90"] is None or got["low"] is None or got["high"] is None:
                censored += 1
                continue
            points.append({"eta": eta, "ratio": float(c["ratio"]), **got})
    return points, censored


def fit_shape(form: str, points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Least-squares constants of ``form`` on the n90 points, and its best interval slack.

    The slack is the largest ``t`` such that some constants put every prediction ``f`` at least ``t``
    inside its point's hit range ``low - 1 < f <= high`` (``ceil(f)`` in the n90 interval ``[low, high]``);
    a linear programme (scipy's HiGHS). ``t > 0``: the form is compatible with every interval;
    ``t <= 0``: no constants at all place it inside every interval (``-t`` candidates short).
    """
    import numpy as np
    from scipy.optimize import linprog

    feats = np.array([_shape_features(form, p["eta"], p["ratio"]) for p in points])
    n90 = np.array([float(p["n90"]) for p in points])
    low = np.array([float(p["low"]) for p in points]) - 1.0
    high = np.array([float(p["high"]) for p in points])
    theta, *_ = np.linalg.lstsq(feats, n90, rcond=None)
    k = feats.shape[1]
    # Variables (theta, t): maximise t s.t. feats theta - t >= low and feats theta + t <= high, t <= 1.
    ones = np.ones((len(points), 1))
    a_ub = np.vstack([np.hstack([-feats, ones]), np.hstack([feats, ones])])
    b_ub = np.concatenate([-low, high])
    c = np.zeros(k + 1)
    c[-1] = -1.0
    lp = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=[(None, None)] * k + [(None, 1.0)], method="highs")
    slack = float(lp.x[-1]) if lp.status == 0 else -math.inf
    names = ["a", "C"] if form == "theorem" else ["a", "C", "B"]
    pred = feats @ theta
    return {
        "form": SHAPE_FORMS[form],
        "least_squares": {name: float(v) for name, v in zip(names, theta, strict=True)},
        "rms_residual": float(np.sqrt(np.mean((pred - n90) ** 2))),
        "slack": slack,
        "compatible": bool(slack > 1e-9),
        "predicted": [float(v) for v in pred],
    }


def _fmt_fit(fit: Mapping[str, Any]) -> str:
    consts = ", ".join(f"{k}={v:.3g}" for k, v in fit["least_squares"].items())
    state = "fits every n90 interval" if fit["compatible"] else "misses some n90 interval"
    return f"{consts}, rms {fit['rms_residual']:.2f}, interval slack {fit['slack']:.2f} ({state})"


@register_rule("pssp-perturbation-shape")
def pssp_perturbation_shape(details: Mapping[str, Any]) -> RuleResult:
    """Which form describes n90(eta, eps): Theorem 1's ``log(1/eta)/(1+eps)`` or one in ``eps/eta``.

    Source of the theorem's form: Xiong et al. AISTATS 2023, Theorem 1 (``n = O(log(1/eta)/(1+eps) + K)``,
    via ``theory.bounds.xiong_candidates_aistats``); the eps/eta form is ours (a subset of ``|S|``
    candidates reaches an interval ``2 |S| eps`` wide, so the perturbation acts like a coverage ``eps/eta``
    times wider). Decided from the paired n90 intervals of ``slth run pssp-min-n`` (panel a).
    """
    points, censored = shape_points(details)
    rule = (
        "inconsistent if some constants put the theorem's log(1/eta)/(1+eps) form inside every n90 interval; "
        "else consistent if some constants do so for the eps/eta form; else inconclusive"
    )
    widths = sorted(p["high"] - p["low"] for p in points)
    constants = {
        "theorem form": SHAPE_FORMS["theorem"] + " (theory.bounds.xiong_candidates_aistats, C=1, K=0)",
        "ratio form": SHAPE_FORMS["ratio"],
        "constants": "free: a linear programme finds the best constants for each form (no calibration "
        "needed: a form is rejected only when no constants at all fit)",
        "n90 interval": f"every n whose {CONFIDENCE} Clopper-Pearson interval of P(success) holds the level",
        "hit": "ceil(prediction) inside [low, high]",
    }
    median = widths[len(widths) // 2] if widths else None
    detectable = (
        f"a form is rejected when it misses an n90 interval for every choice of its constants; the median "
        f"interval width here is {median} candidates over {len(points)} points ({censored} censored)"
        if points
        else "no point with a finite n90 interval"
    )
    etas = {p["eta"] for p in points}
    if len(points) < 4 or len(etas) < 2:
        summary = f"{len(points)} points over {len(etas)} etas: too few to compare the forms"
        return RuleResult("inconclusive", summary, rule, constants, detectable)
    thm, ratio = fit_shape("theorem", points), fit_shape("ratio", points)
    text = f"theorem form: {_fmt_fit(thm)}; eps/eta form: {_fmt_fit(ratio)}"
    if thm["compatible"]:
        verdict = "inconsistent"  # the theorem's factor alone explains the measured fall
    elif ratio["compatible"]:
        verdict = "consistent"
    else:
        verdict = "inconclusive"
        text += " (the theorem's form is rejected, but the eps/eta form does not fit every interval either)"
    return RuleResult(verdict, text, rule, constants, detectable)


# --------------------------------------------------------------------------------------------------
# Examples (small realistic payloads with the producers' schemas; each is consistent with real bounds)
# --------------------------------------------------------------------------------------------------
def _steps(n_max: int, trials: int, at: dict[int, int]) -> list[int]:
    # Cumulative solved counts: at[n] trials first solved with n candidates.
    out, s = [], 0
    for n in range(1, n_max + 1):
        s += at.get(n, 0)
        out.append(min(s, trials))
    return out


def _example_block(threshold: float) -> dict[str, Any]:
    t = 200
    base = _steps(20, t, {12: 20, 13: 60, 14: 70, 15: 30, 16: 14, 17: 6})
    cal = _steps(20, t, {12: 18, 13: 62, 14: 68, 15: 32, 16: 14, 17: 6})
    mid = _steps(20, t, {10: 40, 11: 80, 12: 60, 13: 15, 14: 5})
    far = _steps(20, t, {1: 150, 2: 50})
    return {
        "threshold": threshold,
        "trials": t,
        "calibration": {"trials": t, "certain": cal, "possible": cal},
        "curves": [
            {"perturbation": 0.0, "certain": base, "possible": base},
            {"perturbation": 1e-3, "certain": mid, "possible": mid},
            {"perturbation": 0.2, "certain": far, "possible": far},
        ],
    }


_SHAPE_EXAMPLE = {"level": LEVEL, "seed": 0, "calibration_seed": 1, "etas": [_example_block(1e-3)]}

_PSSP_BASE = _steps(16, 100, {9: 10, 10: 40, 11: 40, 12: 10})
_PSSP_TOP = _steps(16, 100, {5: 30, 6: 50, 7: 20})

def _sharp(n90: int, n_max: int = 24, trials: int = 200) -> dict[str, Any]:
    # 85% of the trials solved at n90 - 1 and all at n90: the n90 interval is the single n90.
    counts = _steps(n_max, trials, {n90 - 1: 170, n90: 30})
    return {"certain": counts, "possible": counts}


def _shape_example() -> dict[str, Any]:
    # n90 = ceil(10 + log(1/eta) - 2 log(1 + eps/eta)): the eps/eta form fits, the theorem's cannot.
    blocks = []
    for eta in (1e-2, 1e-3):
        curves = []
        for ratio in (0.0, 1.0, 10.0):
            n90 = math.ceil(10 + math.log(1 / eta) - 2 * math.log1p(ratio))
            curves.append({"ratio": ratio, "perturbation": ratio * eta, **_sharp(n90)})
        blocks.append({"eta": eta, "trials": 200, "curves": curves})
    return {"level": LEVEL, "statistic": "coverage", "distribution": "product", "seed": 0, "etas": blocks}


EXAMPLES: list[tuple[str, str, dict]] = [
    (
        "xiong-thm1-aistats.failure-bound",
        "xiong-thm1-aistats.failure-bound",
        {
            "calibration": {"seed": 1, "quantile": 0.5, "trials": 200},
            "rows": [
                {
                    "n": 14,
                    "eta": 2.1e-4,
                    "ratio": 0.0,
                    "perturbation": 0.0,
                    "K": 2.0,
                    "failures": 98,
                    "ambiguous": 0,
                    "trials": 200,
                },
                {
                    "n": 18,
                    "eta": 1.6e-5,
                    "ratio": 0.1,
                    "perturbation": 1.6e-6,
                    "K": 3.0,
                    "failures": 61,
                    "ambiguous": 0,
                    "trials": 200,
                },
            ],
        },
    ),
    ("xiong-thm1-aistats.eps-dependence", "xiong-thm1-aistats.eps-dependence", _SHAPE_EXAMPLE),
    ("xiong-thm1-slides", "xiong-thm1-slides", _SHAPE_EXAMPLE),
    ("xiong-thm1-opt22", "xiong-thm1-opt22", _SHAPE_EXAMPLE),
    (
        "pssp-perturbation-helps",
        "pssp-perturbation-helps",
        {
            "level": LEVEL,
            "etas": [
                {
                    "eta": 1e-3,
                    "trials": 100,
                    "curves": [
                        {"ratio": 0.0, "perturbation": 0.0, "certain": _PSSP_BASE, "possible": _PSSP_BASE},
                        {"ratio": 5.0, "perturbation": 5e-3, "certain": _PSSP_TOP, "possible": _PSSP_TOP},
                    ],
                }
            ],
        },
    ),
    ("pssp-perturbation-shape", "pssp-perturbation-shape", _shape_example()),
]
