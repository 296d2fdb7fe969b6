"""figures: paper figures regenerated from recorded runs, and ``slth reproduce``.

Public API (imported lazily, so ``import figures`` stays cheap):

* :data:`FIGURES`, :func:`register_figure`, :class:`FigureSpec`, :class:`FigureResult`,
  :func:`render` (``figures.registry``): the figure registry and rendering to PNG + PDF + CSV;
* :func:`reproduce` (``figures.reproduce``): the experiments, ledger, figures and report;
* :func:`write_synthetic_runs` (``figures.synthetic``): tiny records in the contract's layout.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FIGURES": "figures.registry",
    "FigureResult": "figures.registry",
    "FigureSpec": "figures.registry",
    "all_figures": "figures.registry",
    "register_figure": "figures.registry",
    "render": "figures.registry",
    "reproduce": "figures.reproduce",
    "write_synthetic_runs": "figures.synthetic",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'figures' has no attribute {name!r}")
