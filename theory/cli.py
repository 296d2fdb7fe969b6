"""``slth`` subcommands contributed by ``theory``."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``slth`` parser (cheap: no heavy imports here)."""
