"""``slth`` subcommands contributed by ``figures`` (``slth figures``, ``slth reproduce``).

Registration is cheap: matplotlib and the producers are imported inside the handlers only.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``slth`` parser (cheap: no heavy imports here)."""
    from sim.experiments import SCALES
    from theory.cli import run_options

    fig = subparsers.add_parser(
        "figures",
        parents=[run_options()],
        help="draw paper figures from recorded runs",
        description="Draw figures from the records under --runs-root (no training, no sampling) into "
        "--out as PNG, PDF and the CSV of the plotted numbers.",
    )
    fig.add_argument(
        "names", nargs="*", metavar="NAME", help="figures to draw (default: all; prefixes like fig01)"
    )
    fig.add_argument("--list", action="store_true", help="list the figures and the records each one reads")
    fig.add_argument("--out", default="figures/out", help="output directory (default: figures/out)")
    fig.add_argument(
        "--demo",
        action="store_true",
        help="draw from a small synthetic record set (every figure in seconds) into <out>/demo/, every file "
        "marked as synthetic (records in <out>/demo/runs)",
    )
    fig.set_defaults(handler=_figures)

    rep = subparsers.add_parser(
        "reproduce",
        parents=[run_options()],
        help="run or reuse every experiment, verify the claims, draw all figures, write the report",
        description="Run (or reuse: finished runs are never recomputed) the experiments the chosen figures "
        "and their claims need, run the claims ledger, draw the figures and write report.md/report.html "
        "with a verdict per claim.",
    )
    rep.add_argument(
        "--scale",
        choices=SCALES,
        default="default",
        help="experiment preset: quick (a smoke run, about 3 CPU minutes), default (the CPU scale that "
        "decides the claims, the default), full (the references' settings, GPU-size)",
    )
    rep.add_argument(
        "--only", nargs="+", metavar="NAME", default=None, help="only these figures (and their experiments)"
    )
    rep.add_argument(
        "--out", default="figures/out", help="figures, report and timings.csv (default: figures/out)"
    )
    from sim.executors import add_executor_arguments  # stdlib-only module: registration stays cheap

    # --executor, --workers and the --slurm-*/--dask-* options, the same flags as `slth run`: every
    # experiment runs its independent work items on that executor.
    add_executor_arguments(rep)
    rep.add_argument(
        "--device",
        default=None,
        help="torch device of the experiments that train: cpu, cuda, auto (default: cpu)",
    )
    rep.add_argument(
        "--claims",
        dest="claim_files",
        action="append",
        default=[],
        metavar="PATH_OR_MODULE",
        help="extra claims to verify and report (a .py file or module; repeatable)",
    )
    rep.add_argument(
        "--max-examples", type=int, default=50, help="hypothesis examples per ledger property check"
    )
    rep.add_argument(
        "--skip-experiments",
        action="store_true",
        help="only redraw figures and the report from existing records",
    )
    rep.set_defaults(handler=_reproduce)


def _figures(args: argparse.Namespace) -> int:
    from pathlib import Path

    from figures.registry import all_figures, render, resolve_names

    figures = all_figures()
    if args.list:
        width = max(len(n) for n in figures)
        for spec in figures.values():
            print(f"{spec.name.ljust(width)}  {spec.title}")
            print(
                f"{''.ljust(width)}  reads: {', '.join(spec.experiments)}; "
                f"claims: {', '.join(spec.claims) or '-'}"
            )
        return 0
    runs_root, out, draw = Path(args.runs_root), Path(args.out), render
    if args.demo:
        from figures.synthetic import demo_out_dir, render_demo, write_synthetic_runs

        # Its own folder, so a demo never overwrites (or passes for) a real figure under the real names.
        out, draw = demo_out_dir(args.out), render_demo
        runs_root = write_synthetic_runs(out / "runs")
        print(f"synthetic demo records written to {runs_root} (not evidence of anything); figures in {out}")
    names = resolve_names(args.names) if args.names else list(figures)
    failures = 0
    for name in names:
        try:
            rendered, result = draw(name, runs_root, out)
            result.figure.clear()
        except FileNotFoundError as err:
            failures += 1
            print(f"{name}: not drawn: {err}", file=sys.stderr)
            continue
        print(f"{name}: {rendered.png} {rendered.pdf} {rendered.csv}")
        if not getattr(args, "quiet", False):
            for line in rendered.summary:
                print(f"    {line}")
    return 1 if failures else 0


def _reproduce(args: argparse.Namespace) -> int:
    from figures.registry import resolve_names
    from figures.reproduce import reproduce
    from sim.executors import executor_from_args

    only = resolve_names(args.only) if args.only else None
    with executor_from_args(args) as executor:  # started lazily: nothing runs before a producer needs it
        result = reproduce(
            scale=args.scale,
            only=only,
            runs_root=args.runs_root,
            out=args.out,
            workers=args.workers,
            quiet=bool(getattr(args, "quiet", False)),
            skip_experiments=args.skip_experiments,
            max_examples=args.max_examples,
            device=args.device,
            claim_files=args.claim_files,
            executor=executor,
        )
    return result.exit_code
