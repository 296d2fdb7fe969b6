"""``slth`` subcommands contributed by ``figures`` (``slth figures``, ``slth reproduce``)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``slth`` parser (cheap: no heavy imports here)."""
