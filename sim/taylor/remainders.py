"""Remainder scaling: along ``t v`` the first-order Taylor remainder is O(t^2), the second-order O(t^3).

Log-log slopes fitted by least squares with their standard error and a Student-t interval
(:func:`fit_loglog`), measured on a model along a direction (:func:`remainder_slopes`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["fit_loglog", "remainder_slopes"]


def fit_loglog(t: Sequence[float], r: Sequence[float], *, confidence: float = 0.99) -> dict[str, float]:
    """Least-squares slope of ``log|r|`` against ``log t``, with its standard error and t-interval.

    Args:
        t: Positive steps.
        r: Remainders (zeros are not allowed: their logarithm is undefined).
        confidence: Two-sided level of the interval (Student t with ``n - 2`` degrees of freedom).

    Returns:
        ``slope``, ``intercept``, ``se``, ``ci_low``, ``ci_high``, ``points``.

    Raises:
        ValueError: With fewer than 3 points or non-positive values.
    """
    from scipy import stats

    x = np.log(np.asarray(t, dtype=np.float64))
    a = np.abs(np.asarray(r, dtype=np.float64))
    if x.size < 3 or x.size != a.size:
        raise ValueError(f"need at least 3 (t, r) pairs of equal length, got {x.size} and {a.size}")
    if not (np.all(np.isfinite(x)) and np.all(a > 0) and np.all(np.isfinite(a))):
        raise ValueError("t and |r| must be positive and finite")
    y = np.log(a)
    n = x.size
    xm = x - x.mean()
    sxx = float(xm @ xm)
    slope = float(xm @ (y - y.mean())) / sxx
    intercept = float(y.mean() - slope * x.mean())
    resid = y - (intercept + slope * x)
    s2 = float(resid @ resid) / (n - 2)
    se = math.sqrt(s2 / sxx)
    q = float(stats.t.ppf(0.5 + confidence / 2, n - 2))
    return {
        "slope": slope,
        "intercept": intercept,
        "se": se,
        "ci_low": slope - q * se,
        "ci_high": slope + q * se,
        "points": n,
    }


def remainder_slopes(
    model: Any,
    batch: Sequence[Any],
    v: Mapping[str, Any],
    *,
    ts: Sequence[float],
    confidence: float = 0.99,
    params: Mapping[str, Any] | None = None,
) -> dict[int, dict[str, float]]:
    """Fitted orders of the first- and second-order Taylor remainders along ``t v``.

    ``r1(t) = L(w + t v) - L(w) - t g.v`` should scale as ``t^2`` and ``r2(t) = r1(t) - t^2/2 v.Hv`` as
    ``t^3`` (Taylor's theorem with a smooth loss; ReLU networks are piecewise smooth, so a step crossing a
    kink shows up as a slope below the order). ``v`` is rescaled to unit Euclidean norm first, so ``t``
    is the step length. Points whose remainder is below the float64 noise floor (1e3 machine epsilons
    times the loss scale) are left out of the fit.

    Args:
        model: The model.
        batch: ``(x, y)``.
        v: Direction.
        ts: Positive steps.
        confidence: Level of the slope intervals.
        params: Expansion point (default: the current effective weights).

    Returns:
        ``{1: fit, 2: fit}`` as from :func:`fit_loglog`, each also with ``expected`` (2 or 3); a fit
        with fewer than 3 usable points has ``slope`` NaN.
    """
    import torch

    from networks.hvp import dot, effective_params, functional_loss, loss_grad_hvp

    params = effective_params(model) if params is None else params
    norm = math.sqrt(dot(v, v))
    if not norm > 0:
        raise ValueError("v must be a non-zero direction")
    v = {n: t / norm for n, t in v.items()}
    loss0, g, (hv,) = loss_grad_hvp(model, batch, [v], params=params)
    gv, vhv = dot(g, v), dot(v, hv)
    l0 = float(loss0)
    floor = 1e3 * np.finfo(np.float64).eps * max(1.0, abs(l0))
    r1, r2 = [], []
    data = (batch[0], *batch[1:])
    with torch.no_grad():
        for t in ts:
            lt = float(functional_loss(model, {n: params[n] + t * v[n] for n in params}, data))
            r1.append(lt - l0 - t * gv)
            r2.append(lt - l0 - t * gv - 0.5 * t * t * vhv)
    out = {}
    for order, r in ((1, r1), (2, r2)):
        t_arr, r_arr = np.asarray(ts, dtype=np.float64), np.asarray(r)
        keep = np.abs(r_arr) > floor
        if keep.sum() >= 3:
            fit = fit_loglog(t_arr[keep], r_arr[keep], confidence=confidence)
        else:
            fit = {"slope": math.nan, "intercept": math.nan, "se": math.nan}
            fit.update({"ci_low": math.nan, "ci_high": math.nan, "points": int(keep.sum())})
        fit["expected"] = order + 1
        out[order] = fit
    return out
