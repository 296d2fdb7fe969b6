"""``slth`` subcommands contributed by ``sim``: ``slth run`` and ``slth sim coverage|min-candidates``.

* ``slth run NAME [--scale quick|default|full] [--FIELD VALUE ...] [--runs-root runs] [--quiet]
  [--executor E] [--workers K] [--device D]``: one registered experiment (:data:`sim.experiments.EXPERIMENTS`:
  the SubsetSum sweeps, the training sweeps, the constructions, Taylor), its flags generated from its
  config dataclass; the verdicts of the evidence it writes are printed.
* ``slth sim coverage --n 20 --eta 1e-2 --trials 1000``: success probability of one cell.
* ``slth sim min-candidates --eta 1e-3 --level 0.9``: the fewest candidates reaching a success level.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys


def _add_executor(p: argparse.ArgumentParser) -> None:
    from sim.executors import add_executor_arguments  # stdlib-only module: registration stays cheap

    # --executor, --workers and the --slurm-*/--dask-* options (the same flags as `slth reproduce`).
    add_executor_arguments(p)


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
    _add_executor(p)


def _escape(text: str) -> str:
    # argparse %-formats help strings (not descriptions, which it formats only when they hold
    # "%(prog)"): a literal "90%" must reach a help string as "90%%".
    return text.replace("%", "%%")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``slth run ...`` and ``slth sim ...`` to the ``slth`` parser."""
    from sim.experiments import SCALES, load_experiments
    from theory.cli import quiet_option, run_options
    from theory.plumbing.configs import add_config_arguments

    run = subparsers.add_parser(
        "run",
        help="run (or reuse) one registered experiment and write its evidence",
        description="Run a registered experiment into <runs-root>/<name>/<config hash>/ (a finished run is "
        "reused, an interrupted one resumes) and write the evidence of the claims it bears on.",
    )
    run.set_defaults(handler=lambda args: (run.print_help(), 2)[1])
    names = run.add_subparsers(dest="experiment", metavar="NAME")
    for name, exp in load_experiments().items():
        p = names.add_parser(
            name, help=_escape(exp.description), description=exp.description, parents=[run_options()]
        )
        p.add_argument(
            "--scale",
            choices=SCALES,
            default="default",
            help="preset (default: default); each flag below overrides one of its fields (the defaults "
            "shown there are the config class's, which the preset may change)",
        )
        p.add_argument(
            "--device", default="cpu", help="torch device for experiments that train (default: cpu)"
        )
        _add_executor(p)
        add_config_arguments(p, exp.config)
        p.set_defaults(handler=_run_experiment)

    sim = subparsers.add_parser("sim", help="Monte Carlo: SubsetSum success probability of one cell, min n")
    sim.set_defaults(handler=lambda args: (sim.print_help(), 2)[1])
    sub = sim.add_subparsers(dest="sim_command", metavar="SIM_COMMAND")

    cov = sub.add_parser(
        "coverage",
        help="success probability of n random candidates at accuracy eta",
        parents=[quiet_option()],
    )
    cov.add_argument("--n", type=int, required=True, help="number of candidates, in [1, 64]")
    _add_cell_args(cov)
    cov.set_defaults(handler=_coverage)

    mc = sub.add_parser(
        "min-candidates",
        help="smallest n whose success probability reaches --level",
        parents=[quiet_option()],
    )
    mc.add_argument("--level", type=float, default=0.9, help="success level in (0, 1] (default 0.9)")
    mc.add_argument("--n-max", type=int, default=48, help="largest n scanned (default 48)")
    _add_cell_args(mc)
    mc.set_defaults(handler=_min_candidates)


def _run_experiment(args: argparse.Namespace) -> int:
    from sim.executors import executor_from_args
    from sim.experiments import get_experiment
    from theory.plumbing.configs import config_from_namespace

    exp = get_experiment(args.experiment)
    cfg = config_from_namespace(exp.config, args, base=exp.preset(args.scale))
    quiet = bool(getattr(args, "quiet", False))
    with executor_from_args(args) as ex:
        res = exp.execute(cfg, runs_root=args.runs_root, executor=ex, quiet=quiet, device=args.device)
    print(f"{exp.name}: {'reused' if res.reused else 'done'} -> {res.rundir.path}")
    for evidence_id, verdict in res.verdicts.items():
        print(f"  evidence {evidence_id}: {verdict}")
    sys.stdout.flush()
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
