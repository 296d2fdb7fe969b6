"""The ``slth`` console script.

One entry point; each command exists under one name: ``slth verify``, ``slth theory bound|solve|claims``,
``slth train``, ``slth construct``, ``slth run NAME``, ``slth sim coverage|min-candidates``, ``slth
figures``, ``slth reproduce``. It lives in ``figures`` because that package sits at the top of
the dependency chain (theory -> networks -> sim -> figures) and so may see every subcommand.

Each package contributes its subcommands through a ``register(subparsers)`` function in its ``cli``
module. Registration must stay cheap: heavy imports (torch, matplotlib) happen inside handlers.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

# Order matters only for ``slth --help``.
COMMAND_PROVIDERS = ("theory.cli", "networks.cli", "sim.cli", "figures.commands")
#: Commands that write under --runs-root: a read-only root is refused before any work starts.
WRITING_COMMANDS = ("train", "construct", "run", "sim", "reproduce")


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2.

    Subcommand parsers are created with the class of their parent, so every ``slth`` command gets it.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message>`` (one line; ``-h`` shows the usage) and exit with 2."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the full ``slth`` argument parser from every package's ``register``."""
    from theory.cli import quiet_option

    parser = OneLineErrorParser(
        prog="slth",
        description="Strong Lottery Ticket Hypothesis toolkit: bounds, Monte Carlo checks, constructions, "
        "mask training and paper figures.",
        parents=[quiet_option()],
    )
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
    from theory.plumbing import locks, records

    try:
        if hasattr(args, "runs_root"):
            # --strict and --wait live in the environment so that worker processes inherit them.
            records.set_strict(bool(getattr(args, "strict", False)))
            locks.set_wait(bool(getattr(args, "wait", False)))
            if args.command in WRITING_COMMANDS:
                records.check_writable(args.runs_root)
        return int(handler(args) or 0)
    except (ValueError, OSError, locks.RunInUse) as err:
        # Bad input (a bad value, a missing or unreadable file), a record that failed validation under
        # --strict, a read-only or full disk, a run in use: one clear line, not a traceback.
        text = " ".join(str(err).split())
        print(f"slth {args.command}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished results are saved and the same command resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
