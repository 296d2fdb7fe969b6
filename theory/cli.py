"""``slth`` subcommands contributed by ``theory``: ``verify`` and ``theory bound|solve|claims``.

Registration imports nothing heavy: the ledger, sympy, hypothesis and numpy are imported inside the
handlers.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import sys
from typing import Any


@functools.cache
def quiet_option() -> argparse.ArgumentParser:
    """The parent parser holding ``--quiet``, the one declaration every ``slth`` command shares.

    Its default is ``SUPPRESS``: a subcommand that is not given the flag keeps the global
    ``slth --quiet`` value instead of overwriting it (read it as ``getattr(args, "quiet", False)``).
    """
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars, minimal output"
    )
    return parent


@functools.cache
def run_options() -> argparse.ArgumentParser:
    """The parent parser of each command that reads or writes run records.

    ``--runs-root``, ``--quiet``, ``--strict`` (a record that fails validation stops the command instead of
    being moved aside to ``<file>.corrupt-<n>`` and recomputed) and ``--wait`` (wait for a process holding
    a run directory instead of stopping with "in use"); ``figures.cli.main`` applies the last two.
    """
    parent = argparse.ArgumentParser(add_help=False, parents=[quiet_option()])
    parent.add_argument(
        "--runs-root", default="runs", help="root of the run records and evidence/ (default: runs)"
    )
    parent.add_argument(
        "--strict",
        action="store_true",
        help="stop at a record that fails validation (default: move it aside to <file>.corrupt-<n>, "
        "warn, recompute it)",
    )
    parent.add_argument(
        "--wait",
        action="store_true",
        help="wait for another process using the same run directory (default: stop, naming it)",
    )
    return parent


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Give an existing parser the :func:`run_options` flags (what ``parents=[run_options()]`` does)."""
    parser._add_container_actions(run_options())


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``slth`` parser (cheap: no heavy imports here)."""
    verify = subparsers.add_parser(
        "verify",
        parents=[run_options()],
        help="run the claims ledger (sympy proofs, hypothesis properties, recorded evidence)",
        description="Run every claim's checks and print the ledger table; exit 1 if any check failed.",
    )
    _add_verify_arguments(verify)

    theory = subparsers.add_parser("theory", help="bounds, the claims and the exact SubsetSum solver")
    theory.set_defaults(handler=lambda args: _print_help(theory))
    sub = theory.add_subparsers(dest="theory_command", metavar="SUBCOMMAND")

    bound = sub.add_parser(
        "bound",
        help="evaluate a bound: slth theory bound NAME --param value ...",
        description="Evaluate a registered bound (theory.bounds.BOUNDS). Parameters are passed as "
        "--name value (dashes or underscores); `--list` shows every bound and its parameters.",
    )
    bound.add_argument("name", nargs="?", help="bound name (see --list)")
    bound.add_argument("--list", action="store_true", help="list the bounds and their parameters")
    bound.add_argument("params", nargs=argparse.REMAINDER, help="--param value pairs")
    bound.set_defaults(handler=_run_bound)

    solve = sub.add_parser(
        "solve",
        help="exact best subset for one target",
        description="Exact best subset of the candidates for one target (theory.best_subset).",
    )
    solve.add_argument(
        "--candidates",
        nargs="+",
        required=True,
        help="candidate values, space- or comma-separated (--candidates=-0.3,0.2 if the first is negative)",
    )
    solve.add_argument("--target", type=float, required=True, help="target value z")
    solve.add_argument(
        "--perturbation", type=float, default=0.0, help="per-candidate shift bound (default 0)"
    )
    solve.set_defaults(handler=_run_solve)

    claims = sub.add_parser("claims", help="list the registered claims")
    claims.add_argument("--claims", dest="claim_files", action="append", default=[], metavar="PATH_OR_MODULE")
    claims.set_defaults(handler=_run_claims)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--claims",
        dest="claim_files",
        action="append",
        nargs="+",
        default=[],
        metavar="PATH_OR_MODULE",
        help="extra claims: a .py file or module calling theory.ledger.register_claim (repeatable)",
    )
    parser.add_argument(
        "--only", action="append", nargs="+", default=[], metavar="ID", help="check only these claim ids"
    )
    parser.add_argument(
        "--max-examples", type=int, default=100, help="hypothesis examples per property check (default 100)"
    )
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: derandomized)")
    parser.add_argument(
        "--json", dest="json_out", default=None, metavar="OUT", help="also write results as JSON"
    )
    parser.set_defaults(handler=_run_verify)


def _flatten(groups: list[Any]) -> list[str]:
    out: list[str] = []
    for g in groups:
        out.extend(g if isinstance(g, list) else [g])
    return out


def _run_verify(args: argparse.Namespace) -> int:
    from theory import ledger
    from theory.plumbing import records

    added: list[str] = []
    for target in _flatten(args.claim_files):
        added += ledger.load_claims(target)
    only = _flatten(args.only) or None
    quiet = getattr(args, "quiet", False)

    def progress(result: ledger.CheckResult) -> None:
        if not quiet:
            print(f"  {result.status:<8} {result.claim}  [{result.check}]", file=sys.stderr, flush=True)

    results = ledger.verify(
        only, runs_root=args.runs_root, max_examples=args.max_examples, seed=args.seed, on_result=progress
    )
    verdicts = ledger.claim_verdicts(results)
    print(ledger.format_table(results))
    for r in results:
        if r.status in ("failed", "error") and r.counterexample:
            print(f"\n{r.claim} [{r.check}] counterexample: {r.counterexample}")
    rules = ledger.format_rules(results)
    if rules:
        print("\nRules behind the evidence (re-applied now):\n" + rules)
    print("\nClaims (consistent only when every part has a verified check and nothing is open):")
    print(ledger.format_verdicts(verdicts))
    if args.json_out:
        records.atomic_write_json(
            args.json_out,
            {
                "results": [r.to_dict() for r in results],
                "summary": ledger.summarize(results),
                "verdicts": [v.to_dict() for v in verdicts],
                "loaded": added,
            },
        )
    counts = ledger.summarize(results)
    return 1 if counts["failed"] or counts["error"] else 0


def _run_claims(args: argparse.Namespace) -> int:
    from theory import ledger

    ledger.load_builtin_claims()
    for target in args.claim_files:
        ledger.load_claims(target)
    for claim in ledger.CLAIMS.values():
        kinds = ", ".join(c.label for c in claim.checks)
        print(f"{claim.id}\n    {claim.statement}\n    source: {claim.source}\n    checks: {kinds}")
    return 0


def _convert(annotation: Any, text: str, name: str) -> Any:
    ann = str(annotation)
    try:
        if ann.startswith("tuple"):
            elem = int if "int" in ann else float
            return tuple(elem(v) for v in text.split(",") if v.strip())
        if "int" in ann and "float" not in ann:
            return int(text)
        if "float" in ann:
            if text.lower() == "none" and "None" in ann:
                return None
            return float(text)
    except ValueError:
        raise ValueError(f"--{name} expects {ann}, got {text!r}") from None
    return text


def _run_bound(args: argparse.Namespace) -> int:
    from theory import bounds

    if args.list or not args.name:
        for name, fn in bounds.BOUNDS.items():
            params = ", ".join(
                p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
                for p in inspect.signature(fn).parameters.values()
            )
            doc = (fn.__doc__ or "").strip().splitlines()[0]
            print(f"{name}({params})\n    {doc}")
        return 0 if args.list else 2
    fn = bounds.get_bound(args.name)
    sig = inspect.signature(fn)
    params = sig.parameters
    tokens = list(args.params)
    if tokens and tokens[0] == "--":
        tokens = tokens[1:]
    values: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--"):
            raise ValueError(
                f"expected --param value, got {tok!r}; parameters of {args.name}: {list(params)}"
            )
        key, _, inline = tok[2:].partition("=")
        key = key.replace("-", "_")
        if key not in params:
            raise ValueError(f"unknown parameter --{key} for bound {args.name!r}; valid: {list(params)}")
        if inline:
            text = inline
        else:
            if i + 1 >= len(tokens):
                raise ValueError(f"--{key} needs a value")
            i += 1
            text = tokens[i]
        values[key] = _convert(params[key].annotation, text, key)
        i += 1
    missing = [
        p.name for p in params.values() if p.default is inspect.Parameter.empty and p.name not in values
    ]
    if missing:
        raise ValueError(f"bound {args.name!r} needs {', '.join('--' + m for m in missing)}")
    pos = {k: v for k, v in values.items() if params[k].kind is not inspect.Parameter.KEYWORD_ONLY}
    kw = {k: v for k, v in values.items() if params[k].kind is inspect.Parameter.KEYWORD_ONLY}
    result = fn(**pos, **kw)
    shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
    text = json.dumps(result) if isinstance(result, dict) else repr(result)
    print(f"{args.name}({shown}) = {text}")
    return 0


def _run_solve(args: argparse.Namespace) -> int:
    import theory

    candidates = []
    for chunk in args.candidates:
        for piece in chunk.split(","):
            if piece.strip():
                try:
                    candidates.append(float(piece))
                except ValueError:
                    raise ValueError(f"--candidates must be numbers, got {piece!r}") from None
    res = theory.best_subset(candidates, args.target, perturbation=args.perturbation)
    print(f"indices: {list(res.indices)}")
    print(f"value:   {res.value!r}")
    print(f"error:   {res.error!r}")
    return 0
