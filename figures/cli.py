"""The ``slth`` console script.

One entry point whose subcommands mirror the folders (``slth theory``, ``slth sim``, ``slth networks``,
``slth figures``) plus the short forms the docs use (``slth verify``, ``slth reproduce``,
``slth construct``, ``slth train``). It lives in ``figures`` because that package sits at the top of
the dependency chain (theory -> networks -> sim -> figures) and so may see every subcommand.

Each package contributes its subcommands through a ``register(subparsers)`` function in its ``cli``
module. Registration must stay cheap: heavy imports (torch, matplotlib) happen inside handlers.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order matters only for ``slth --help``.
COMMAND_PROVIDERS = ("theory.cli", "networks.cli", "sim.cli", "figures.commands")


def build_parser() -> argparse.ArgumentParser:
    """Build the full ``slth`` argument parser from every package's ``register``."""
    parser = argparse.ArgumentParser(
        prog="slth",
        description="Strong Lottery Ticket Hypothesis toolkit: bounds, Monte Carlo checks, constructions, "
        "mask training and paper figures.",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars, minimal output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_PROVIDERS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``slth`` with ``argv`` (defaults to ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except ValueError as err:
        # Bad input is reported as one clear line, not a traceback.
        print(f"slth {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished results are saved and the same command resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
