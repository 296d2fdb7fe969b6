"""networks: masked layers, models, offline datasets, HVPs, ticket constructions and mask training.

Submodules are imported on demand (``from networks.layers import MaskedLinear``); importing the
package itself stays cheap and does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Ticket", "construct_ticket"]

# The public contract is ``networks.construct_ticket``; resolve it lazily so that
# ``import networks`` stays torch-free.
_WHERE = {"construct_ticket": "networks.construct", "Ticket": "networks.construct"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'networks' has no attribute {name!r}")
