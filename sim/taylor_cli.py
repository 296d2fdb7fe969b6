"""``slth sim taylor``: the Taylor loss-change experiments (cheap to register; torch loads in the handler)."""

from __future__ import annotations

import argparse


def register(sim_subparsers: argparse._SubParsersAction) -> None:
    """Add ``taylor`` to the ``slth sim`` subcommands.

    Flags: ``--scale quick|full`` picks the preset, ``--runs-root``, ``--device``, and one flag per
    :class:`sim.taylor.TaylorConfig` field (``--seeds 0,1,2``, ``--models mlp``, ``--ks 1,10,100`` ...)
    overriding the preset.
    """
    from sim.taylor import TaylorConfig
    from theory.plumbing.configs import add_config_arguments

    parser = sim_subparsers.add_parser(
        "taylor",
        help="Taylor loss-change experiments: HVP checks, remainder slopes, swaps, interdependency",
        description="Train small Edge-Popup models on MNIST-1D / digits, then measure how well first- and "
        "second-order Taylor models predict the loss change of mask swaps, and compare first- vs "
        "second-order swap selection. Re-running the same command reuses finished (model, seed) cells.",
    )
    parser.add_argument(
        "--scale",
        choices=("quick", "default", "full"),
        default="quick",
        help="preset (default: quick); the flags below override single fields",
    )
    parser.add_argument("--runs-root", default="runs", help="root of the run directories (default: runs)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    # SUPPRESS: when absent here, the global ``slth --quiet`` value is kept rather than overwritten.
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bar")
    add_config_arguments(parser, TaylorConfig)
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from sim.taylor import TAYLOR, TaylorConfig, run_taylor, taylor_config
    from theory.plumbing.configs import config_from_namespace

    cfg = config_from_namespace(TaylorConfig, args, base=TAYLOR.preset(args.scale))
    cfg = taylor_config(args.scale, **{k: getattr(cfg, k) for k in TaylorConfig.__dataclass_fields__})
    quiet = bool(getattr(args, "quiet", False))
    out = run_taylor(cfg, runs_root=args.runs_root, device=args.device, quiet=quiet)
    print(f"taylor: {out['rundir']}")
    print(f"cells computed {out['computed']}, reused {out['reused']}")
    for claim, verdict in out["verdicts"].items():
        line = f"{claim}: {verdict}"
        print(line if quiet else f"{line} -- {out['summaries'][claim]}")
    return 0
