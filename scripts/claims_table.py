"""Print the claims table (issue 12) from the evidence recorded under a runs root.

Usage: ``python scripts/claims_table.py [RUNS_ROOT]`` (default ``runs``) prints, as markdown, one row per
effect a rule decided on: claim, the reference's effect, the measured effect with its 95% interval, the
detectable effect, the verdict, and for an undecided effect the scale that would decide it. The rules are
applied again to the recorded data (:func:`figures.report.claims_table_rows`), so the table follows the
current rules and bounds; ``slth reproduce`` puts the same table in its report. Exits 1 when no evidence
record gives an effect.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Print the table for ``argv[0]`` (the runs root); returns the exit status."""
    from figures.report import claims_table_markdown, claims_table_rows
    from theory import ledger

    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        raise SystemExit("usage: claims_table.py [RUNS_ROOT]")
    runs_root = args[0] if args else "runs"
    ledger.load_claims(ledger.BUILTIN_CLAIMS_MODULE)
    rows = claims_table_rows(ledger.CLAIMS, ledger.read_evidence(runs_root))
    print(claims_table_markdown(rows))
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
