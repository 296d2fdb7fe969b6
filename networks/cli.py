"""``slth`` subcommands from ``networks``: ``train`` and ``construct`` (each under one name).

``slth train`` takes one flag per :class:`networks.training.config.TrainConfig`
field plus run options; ``slth construct`` comes from
``networks.construct.cli`` (``add_arguments(parser)``, ``run(args) -> int``). Registration imports no torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import subprocess
import sys
from typing import Any

__all__ = [
    "add_train_arguments",
    "config_to_argv",
    "register",
    "run_train",
    "train_config_from_args",
]


def add_train_arguments(parser: argparse.ArgumentParser, *, ddp: bool = True) -> None:
    """Add the TrainConfig flags and the run options to ``parser``."""
    from networks.training.config import TrainConfig
    from theory.cli import add_run_options
    from theory.plumbing.configs import add_config_arguments

    add_config_arguments(parser, TrainConfig)
    add_run_options(parser)  # --runs-root, --quiet
    run = parser.add_argument_group("run options")
    run.add_argument(
        "--experiment", default="train", help="experiment folder under the runs root (default: train)"
    )
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    run.add_argument(
        "--data-root", default=None, help="dataset root (default: $SLTH_DATA or ~/.cache/slth-toolkit/data)"
    )
    run.add_argument("--stop-after-steps", type=int, default=None, help=argparse.SUPPRESS)
    if ddp:
        run.add_argument(
            "--ddp", action="store_true", help="data-parallel training via torch.distributed.run"
        )
        run.add_argument("--nproc", type=int, default=2, help="processes for --ddp (default: 2)")


def train_config_from_args(args: argparse.Namespace) -> Any:
    """The TrainConfig given by parsed flags (unset flags keep their defaults)."""
    from networks.training.config import TrainConfig
    from theory.plumbing.configs import config_from_namespace

    return config_from_namespace(TrainConfig, args)


def config_to_argv(cfg: Any) -> list[str]:
    """Flags that rebuild ``cfg`` (non-default fields only)."""
    argv: list[str] = []
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if v == f.default:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(v, bool):
            argv.append(flag if v else "--no-" + f.name.replace("_", "-"))
        elif isinstance(v, tuple):
            argv += [flag, ",".join(repr(x) if isinstance(x, float) else str(x) for x in v)]
        else:
            argv += [flag, repr(v) if isinstance(v, float) else str(v)]
    return argv


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``slth train``: train (or resume, or skip) one run; print where it is."""
    cfg = train_config_from_args(args)
    quiet = bool(getattr(args, "quiet", False))
    if getattr(args, "ddp", False):
        from theory.validate import check_int

        nproc = check_int("nproc", args.nproc, 1, 1024)
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "networks.training.ddp",
            *config_to_argv(cfg),
            "--runs-root",
            str(args.runs_root),
            "--experiment",
            args.experiment,
            "--device",
            args.device,
        ]
        if args.data_root:
            cmd += ["--data-root", str(args.data_root)]
        if quiet:
            cmd.append("--quiet")
        return subprocess.run(cmd, check=False).returncode
    from networks.training import TrainingDiverged, train
    from networks.training.config import validate_config

    validate_config(cfg)
    try:
        result = train(
            cfg,
            args.runs_root,
            experiment=args.experiment,
            device=args.device,
            data_root=args.data_root,
            quiet=quiet,
            stop_after_steps=args.stop_after_steps,
        )
    except TrainingDiverged as err:
        print(f"slth train: {err}", file=sys.stderr)
        return 1
    final = result.final or {}
    if result.status == "stopped":
        print(f"stopped after {args.stop_after_steps} steps; checkpoint in {result.run_dir}")
    else:
        print(
            f"{result.status}: {result.run_dir}  test_acc={final.get('test_acc', float('nan')):.4f}  "
            f"density={final.get('density', float('nan')):.4f}  "
            f"dying_ratio={final.get('dying_ratio', float('nan')):.4f}"
        )
    return 0


def _add_train(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(
        name,
        help="train a mask (EP, iEP, IteRand, PGD+EP) or a sparse network (RigL, SET, rigl2), or dense",
        description="Train one config for one seed in runs/<experiment>/<hash>/seed_<s>/; "
        "re-running resumes.",
    )
    add_train_arguments(p)
    p.set_defaults(handler=run_train)


def _add_construct(sub: argparse._SubParsersAction, name: str) -> None:
    # Through sys.modules (where a test may substitute the module), imported on use.
    construct_cli = importlib.import_module("networks.construct.cli")
    p = sub.add_parser(name, help="construct strong lottery tickets of a target network (SubsetSum)")
    construct_cli.add_arguments(p)
    p.set_defaults(handler=construct_cli.run)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``construct`` (cheap: no torch imported here)."""
    _add_train(subparsers, "train")
    _add_construct(subparsers, "construct")
