"""``slth`` subcommands contributed by ``sim``.

* ``slth sim coverage --n 20 --eta 1e-2 --trials 1000``: success probability of one cell.
* ``slth sim min-candidates --eta 1e-3 --level 0.9``: the fewest candidates reaching a success level.
* ``slth sim sweep NAME [--scale quick|full] [--executor E] [--workers K] [--runs-root runs] [--quiet]
  [--FIELD ...]``: a registered sweep (``rss-success``, ``rss-constant``, ``pssp-min-n``, ``rss-per-target``,
  ``xiong-thm1``); config fields can be overridden one by one.
* ``slth sim practice NAME|all [--scale quick|full]``: the training sweeps of the practice figures.
* ``slth sim construct-width [--scale quick|full]``: minimal construction width vs eps (figure 5).
* ``slth sim taylor ...``: the Taylor experiments, contributed by ``sim.taylor_cli`` when present.

Registration imports no numpy/scipy/torch: handlers import what they need.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import sys


def _add_common(p: argparse.ArgumentParser) -> None:
    from sim.executors import add_executor_arguments  # stdlib-only module: registration stays cheap

    # --executor, --workers and the --slurm-*/--dask-* options (the same flags as `slth reproduce`).
    add_executor_arguments(p)
    # SUPPRESS: a subparser default would otherwise overwrite the global ``slth --quiet``.
    p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")


def _add_cell_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--eta", type=float, required=True, help="accuracy eta > 0")
    p.add_argument("--trials", type=int, default=1000, help="trials (candidate sets) per n (default 1000)")
    p.add_argument("--distribution", default="uniform", help="uniform (default), product, gaussian")
    p.add_argument("--lo", type=float, default=-1.0, help="target window left end (default -1)")
    p.add_argument("--hi", type=float, default=1.0, help="target window right end (default 1)")
    p.add_argument("--perturbation", type=float, default=0.0, help="PSSP perturbation bound p (default 0)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument(
        "--statistic",
        default="coverage",
        choices=("coverage", "target"),
        help="coverage: every target of the window; target: one random target per trial",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_common(p)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``slth sim ...`` to the ``slth`` parser (cheap: no heavy imports here)."""
    from sim.sweeps import SCALES, SWEEPS
    from theory.plumbing.configs import add_config_arguments

    sim = subparsers.add_parser(
        "sim", help="Monte Carlo: SubsetSum success probabilities, sweeps, Taylor experiments"
    )
    sim.set_defaults(handler=lambda args: (sim.print_help(), 2)[1])
    sub = sim.add_subparsers(dest="sim_command", metavar="SIM_COMMAND")

    cov = sub.add_parser("coverage", help="success probability of n random candidates at accuracy eta")
    cov.add_argument("--n", type=int, required=True, help="number of candidates, in [1, 64]")
    _add_cell_args(cov)
    cov.set_defaults(handler=_coverage)

    mc = sub.add_parser("min-candidates", help="smallest n whose success probability reaches --level")
    mc.add_argument("--level", type=float, default=0.9, help="success level in (0, 1] (default 0.9)")
    mc.add_argument("--n-max", type=int, default=48, help="largest n scanned (default 48)")
    _add_cell_args(mc)
    mc.set_defaults(handler=_min_candidates)

    sw = sub.add_parser("sweep", help="run a registered SubsetSum sweep (resumable)")
    sw.set_defaults(handler=lambda args: (sw.print_help(), 2)[1])
    names = sw.add_subparsers(dest="sweep_name", metavar="NAME")
    for name, sweep in SWEEPS.items():
        p = names.add_parser(name, help=sweep.description, description=sweep.description)
        p.add_argument("--scale", choices=SCALES, default="quick", help="preset (default quick)")
        p.add_argument("--runs-root", default="runs", help="run root (default runs)")
        _add_common(p)
        add_config_arguments(p, sweep.config_cls)
        p.set_defaults(handler=_sweep, sweep=name)

    # Training sweeps (torch) and the construction width sweep: registered here, imported on use.
    importlib.import_module("sim.practice").register(sub)
    cw = sub.add_parser(
        "construct-width",
        help="minimal candidates per weight vs eps for the pensia/xiong constructions (resumable)",
    )
    cw.add_argument("--scale", choices=("quick", "full"), default="quick", help="preset (default quick)")
    cw.add_argument("--runs-root", default="runs", help="run root (default runs)")
    cw.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    cw.set_defaults(handler=_construct_width)

    if importlib.util.find_spec("sim.taylor_cli") is not None:
        importlib.import_module("sim.taylor_cli").register(sub)
    else:
        sim.epilog = "(slth sim taylor is unavailable: module sim.taylor_cli is not installed)"


def _construct_width(args: argparse.Namespace) -> int:
    from sim.construction import run_construct_width

    out = run_construct_width(args.runs_root, scale=args.scale, quiet=getattr(args, "quiet", False))
    print(f"construct-width: results in {out / 'results.csv'}, fits in {out / 'fits.json'}")
    return 0


def _print_result(obj, as_json: bool) -> None:
    d = dataclasses.asdict(obj)
    if as_json:
        print(json.dumps(d, indent=2, default=str))
    else:
        print("  ".join(f"{k}={v}" for k, v in d.items() if k != "scanned"))


def _cell_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments shared by ``coverage`` and ``min-candidates`` (see ``_add_cell_args``)."""
    names = ("trials", "distribution", "lo", "hi", "perturbation", "seed", "statistic")
    return {**{k: getattr(args, k) for k in names}, "quiet": getattr(args, "quiet", False)}


def _coverage(args: argparse.Namespace) -> int:
    from sim.executors import executor_from_args
    from sim.monte_carlo import coverage_probability

    with executor_from_args(args) as ex:
        res = coverage_probability(args.n, args.eta, executor=ex, **_cell_kwargs(args))
    _print_result(res, args.json)
    return 0


def _min_candidates(args: argparse.Namespace) -> int:
    from sim.executors import executor_from_args
    from sim.monte_carlo import min_candidates

    with executor_from_args(args) as ex:
        res = min_candidates(args.eta, level=args.level, n_max=args.n_max, executor=ex, **_cell_kwargs(args))
    if args.json:
        print(json.dumps(dataclasses.asdict(res), indent=2, default=str))
        return 0
    for r in res.scanned:
        print(f"n={r.n:3d}  p={r.p:.4f}  CI=[{r.ci_low:.4f}, {r.ci_high:.4f}]  ambiguous={r.ambiguous}")
    print(f"n_min={res.n_min} (first n with point estimate >= {res.level})")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from sim.executors import executor_from_args
    from sim.sweeps import get_sweep
    from theory.plumbing.configs import config_from_namespace

    sweep = get_sweep(args.sweep)
    cfg = config_from_namespace(sweep.config_cls, args, base=sweep.config(args.scale))
    quiet = getattr(args, "quiet", False)
    with executor_from_args(args) as ex:
        out = sweep.run(cfg, runs_root=args.runs_root, executor=ex, quiet=quiet)
    if not quiet:
        print(
            f"{sweep.name}: {len(out.rows)} rows -> {out.path / 'results.csv'} "
            f"({len(out.computed)} cells computed, {len(out.reused)} reused)"
        )
        for claim, verdict in out.evidence.items():
            print(f"  evidence {claim}: {verdict}")
    sys.stdout.flush()
    return 0
