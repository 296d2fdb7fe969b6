"""The raw data of the three Taylor evidence records; the verdicts come from :mod:`theory.rules.taylor`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["evidence_details", "interdependency_pairs", "json_safe", "prediction_stats"]


def prediction_stats(swaps: list[dict]) -> dict[str, Any]:
    """Median |actual - predicted| per (selection, k) and order, and how often order 2 is closer."""
    out: dict[str, Any] = {}
    keyed: dict[tuple, dict[int, list[float]]] = {}
    for r in swaps:
        keyed.setdefault((r["model"], r["selection"], int(r["k"]), r["seed"]), {})[int(r["order"])] = [
            float(r["predicted"]),
            float(r["actual"]),
        ]
    by_k: dict[tuple, list[tuple[float, float, float]]] = {}
    for (model, selection, k, _), orders in keyed.items():
        if 1 in orders and 2 in orders:
            actual = orders[1][1]
            by_k.setdefault((model, selection, k), []).append(
                (abs(actual - orders[1][0]), abs(actual - orders[2][0]), abs(actual))
            )
    for (model, selection, k), errs in sorted(by_k.items()):
        e = np.asarray(errs)
        out[f"{model}/{selection}/k={k}"] = {
            "median_abs_err_first": float(np.median(e[:, 0])),
            "median_abs_err_second": float(np.median(e[:, 1])),
            "median_abs_actual": float(np.median(e[:, 2])),
            "second_closer_fraction": float(np.mean(e[:, 1] < e[:, 0])),
        }
    return out


def interdependency_pairs(inter: list[dict]) -> list[dict[str, Any]]:
    """Per (model, k, seed): the loss decreases of both rules on the same trained model (the raw pairs)."""
    pairs: dict[tuple, dict[str, float]] = {}
    for r in inter:
        pairs.setdefault((r["model"], int(r["k"]), int(r["seed"])), {})[r["rule"]] = float(r["loss_decrease"])
    return [
        {"model": m, "k": k, "seed": seed, "first": rules["first-order"], "second": rules["second-order"]}
        for (m, k, seed), rules in sorted(pairs.items())
        if "first-order" in rules and "second-order" in rules
    ]


def json_safe(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats become None (strict JSON has no NaN or Infinity)."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def evidence_details(
    cfg: Any,
    swaps: list[dict],
    slopes: list[dict],
    inter: list[dict],
    checks: Mapping[str, Any],
    training: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """``{claim: details}`` for taylor-first-order, taylor-second-order and second-order-swaps-better.

    Only the raw numbers (every slope fit, the HVP check errors, the per-seed loss decreases of both swap
    rules on the same model); the decisions live in the pre-registered rules (:mod:`theory.rules.taylor`).
    """
    common = {"margin": cfg.slope_margin, "confidence": cfg.confidence, "activation": cfg.activation}
    predictions = prediction_stats(swaps)
    details = {
        "taylor-first-order": {
            **common,
            "fits": [r for r in slopes if int(r["order"]) == 1],
            "training": dict(training),
            "prediction_errors": predictions,
        },
        "taylor-second-order": {
            **common,
            "fits": [r for r in slopes if int(r["order"]) == 2],
            "hvp_checks": dict(checks),
            "prediction_errors": predictions,
        },
        "second-order-swaps-better": {"confidence": cfg.confidence, "pairs": interdependency_pairs(inter)},
    }
    return {claim: json_safe(det) for claim, det in details.items()}
