"""Certified strong lottery tickets (Pensia et al. 2020, Xiong et al. 2023, da Cunha et al. 2022).

``construct_ticket(target, eps=...)`` prunes a random network of depth 2L so that it approximates an
L-layer target, and returns a :class:`~networks.construct.ticket.Ticket` with the masks, the per-weight
errors, the failures (never hidden) and a certified bound on ``sup ||target(x) - ticket(x)||`` over the
input domain ``||x|| <= 1`` (and ``x >= 0`` with ``nonnegative_input=True``), rounding included.

Names are loaded lazily so that ``slth`` can register ``slth construct`` without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["METHODS", "Ticket", "construct_ticket", "register_method"]

_WHERE = {
    "construct_ticket": "networks.construct.build",
    "METHODS": "networks.construct.methods",
    "register_method": "networks.construct.methods",
    "Ticket": "networks.construct.ticket",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'networks.construct' has no attribute {name!r}")
