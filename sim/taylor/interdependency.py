"""Interdependency: k swaps chosen by the first-order rule against the interaction-aware second-order rule.

The first-order rule takes, per layer, the k kept weights whose removal and the k removed weights whose
addition have the most negative ``g_i v_i`` (what EP's scores and RigL's gradient criterion approximate);
the second-order rule (:func:`networks.loss_change.second_order_swaps`) takes the prune set first, then the
regrow set GIVEN the pruned set, greedily in chunks with the marginal quadratic-model gain after each chunk
(one HVP per chunk), and keeps whichever of the two sets the quadratic model predicts better. Both are
measured by the actual loss decrease on the same trained model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["INTERDEP_COLUMNS", "interdependency_rows"]

INTERDEP_COLUMNS = (
    "model",
    "rule",
    "k",
    "loss_decrease",
    "seed",
    "predicted_first",
    "predicted_second",
    "fallback",
)


def interdependency_rows(
    model: Any,
    batch: Sequence[Any],
    params: Mapping[str, Any],
    g: Mapping[str, Any],
    ks: Sequence[int],
    first: Mapping[int, Mapping[str, float]],
    loss_change: Callable[[Mapping[str, Any]], float],
    *,
    chunks: int,
    model_name: str,
    seed: int,
) -> list[dict[str, Any]]:
    """Per ``k`` one row per rule: the actual loss decrease and both Taylor predictions of the chosen set.

    Args:
        model: The trained float64 model (eval mode).
        batch: The fixed measurement batch.
        params: Its effective weights.
        g: The dense gradient there.
        ks: Numbers of swaps.
        first: ``first[k]`` = the first-order selection's ``actual``, ``p1``, ``p2``
            (from :func:`sim.taylor.swaps.swap_predictions`, so it is measured once).
        loss_change: ``v -> L(w + v) - L(w)``.
        chunks: Greedy chunks per phase of the second-order rule.
        model_name: Recorded in the rows.
        seed: Recorded in the rows.

    Returns:
        Rows with the columns :data:`INTERDEP_COLUMNS`.
    """
    from networks.loss_change import second_order_swaps

    rows = []
    for k in ks:
        f = first[k]
        rows.append(
            {
                "model": model_name,
                "rule": "first-order",
                "k": k,
                "loss_decrease": -f["actual"],
                "seed": seed,
                "predicted_first": f["p1"],
                "predicted_second": f["p2"],
                "fallback": False,
            }
        )
        so = second_order_swaps(model, batch, g, k, chunks=chunks, params=params)
        rows.append(
            {
                "model": model_name,
                "rule": "second-order",
                "k": k,
                "loss_decrease": -loss_change(so["v"]),
                "seed": seed,
                "predicted_first": so["predicted_first"],
                "predicted_second": so["predicted_second"],
                "fallback": so["fallback"],
            }
        )
    return rows
