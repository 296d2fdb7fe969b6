"""Edge-Popup and the dense SGD baseline.

Edge-Popup (Ramanujan, Wortsman, Kembhavi, Farhadi, Rastegari, "What's Hidden in a Randomly Weighted Neural
Network?", CVPR 2020, arXiv 1911.13299, Sec. 3; repo ``allenai/hidden-networks`` ``utils/conv_type.py``):
weights stay at their random init; each masked layer keeps the exact per-layer top-k of ``|scores|``
(``networks.masks.topk_mask``) and the scores are trained by SGD through the straight-through estimator.
Weight decay applies to the scores, as in the reference optimizer. All the work is in the masked layers and
the shared trainer; the method is the base class's defaults.

The dense baseline trains every weight of the ordinary (unmasked) model with the same optimizer and schedule.
"""

from __future__ import annotations

from networks.training.base import Cycle, Method, register_method

__all__ = ["DenseSGD", "EdgePopup"]


@register_method("ep")
class EdgePopup(Method):
    """Edge-Popup: train scores, keep the exact top-``density`` fraction of ``|scores|`` per layer."""


@register_method("dense")
class DenseSGD(Method):
    """Baseline: SGD on all weights of the unmasked model (``density`` is ignored; reported as 1.0).

    The weights use ``networks.models.build_model``'s default dense init (``kaiming_normal``), not
    ``weight_init``, whose default (signed constant) is a ticket-search choice.
    """

    masked = False
    tracks_dying = False

    def cycles(self) -> list[Cycle]:
        """One cycle at density 1."""
        c = self.cfg
        return [Cycle(0, c.epochs, 1.0, c.lr, c.lr_schedule, "dense")]
