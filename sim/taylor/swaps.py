"""Predicted vs actual loss change of real mask swaps (k weights out, k in, per-layer counts).

For each ``k`` two selections: ``random`` (uniformly random swaps) and ``first-order`` (the swaps the
first-order rule picks, :func:`networks.loss_change.first_order_swaps`); each gives one row per Taylor order
with the first- (``g.v``) or second-order (``g.v + 1/2 v.Hv``) prediction, the actual change and ``|v|``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["SWAP_COLUMNS", "swap_predictions"]

SWAP_COLUMNS = ("model", "order", "k", "predicted", "actual", "seed", "selection", "norm_v")


def swap_predictions(
    model: Any,
    batch: Sequence[Any],
    params: Mapping[str, Any],
    g: Mapping[str, Any],
    ks: Sequence[int],
    generator: Any,
    loss_change: Callable[[Mapping[str, Any]], float],
    *,
    model_name: str,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[int, dict[str, float]]]:
    """Swap rows for every ``k``, and per ``k`` the first-order selection's numbers (for the rule comparison).

    Args:
        model: The trained float64 model (eval mode).
        batch: The fixed measurement batch.
        params: Its effective weights.
        g: The dense gradient there.
        ks: Numbers of swaps (each at most the model's swap capacity).
        generator: Draws the random swaps.
        loss_change: ``v -> L(w + v) - L(w)``.
        model_name: Recorded in the rows.
        seed: Recorded in the rows.

    Returns:
        ``(rows, first)`` with ``first[k] = {"actual", "p1", "p2"}`` of the first-order selection.
    """
    from networks.hvp import dot, loss_grad_hvp
    from networks.loss_change import (
        candidate_directions,
        first_order_swaps,
        random_swaps,
        selection_direction,
    )

    _, dirs = candidate_directions(model)
    rows, first = [], {}
    for k in ks:
        for selection in ("random", "first-order"):
            if selection == "random":
                d, gr = random_swaps(model, k, generator)
            else:
                d, gr = first_order_swaps(model, g, k)
            v = selection_direction(dirs, d, gr)
            _, _, (hv,) = loss_grad_hvp(model, batch, [v], params=params)
            actual = loss_change(v)
            p1 = dot(g, v)
            p2 = p1 + 0.5 * dot(v, hv)
            norm_v = math.sqrt(dot(v, v))
            for order, pred in ((1, p1), (2, p2)):
                rows.append(
                    {
                        "model": model_name,
                        "order": order,
                        "k": k,
                        "predicted": pred,
                        "actual": actual,
                        "seed": seed,
                        "selection": selection,
                        "norm_v": norm_v,
                    }
                )
            if selection == "first-order":
                first[k] = {"actual": actual, "p1": p1, "p2": p2}
    return rows, first
