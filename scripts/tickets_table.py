"""Issue 13's closing-note table: 2L Pensia, L+1 Burkholz and sparse tickets of the same trained targets.

Usage::

    python scripts/tickets_table.py [--runs-root runs] [--scale default|full] [--recorded-only] [--out FILE]

Every row is one ordinary ``slth construct`` run (:func:`networks.construct.cli.run_construct`; its run
directory is keyed by the row's :class:`~networks.construct.cli.ConstructConfig`, so a finished row is
read back, not rebuilt), and the table is rendered from the recorded ``report.json`` files only: target,
construction, source depth, source parameters, kept parameters, certified error, measured error,
target and ticket accuracy (paired, the same test examples), failed weights, and the construction's
seconds as recorded in the run. Rows of the ``full`` scale are listed at the ``default`` scale as "not
run"; the Pensia MNIST network's rows say "skipped" when ``pensia_fc2_mnist.npz`` is absent.

Why a script and not an experiment: the rows are independent construct runs that ``slth construct``
already records (one run directory each), the table is a report, not the evidence of a ledger claim, and
its default rows take about four minutes of CPU (more than the 20 s ``slth reproduce`` may still add).

Conventions (those of Pensia et al.'s experiment and of ``sim/depth_tickets.py``): every weight within
``eps = 0.01`` (``budget="per-weight"``), ``n = 21`` candidates per half-block for the 2L constructions
and ``rho = 21`` copies for L+1; digits inputs are pixels in [0, 1] (``nonnegative_input``), the Pensia
network's inputs are standardised MNIST (signed: both ReLU halves). The certificate is over
``||x||_2 <= radius`` (and ``x >= 0`` for digits), the radius being the test inputs' largest norm for the
digits targets (the measured error is then the largest over the test inputs) and 1 for the Pensia
network (the largest over 256 random unit-norm probes (the Pensia network, whose
MNIST test set is not shipped: its accuracies are ``n/a`` unless the MNIST IDX files are present)).
Sparse tickets keep a fixed-size subset per weight, so at a per-weight ``eps`` some weights miss it: they
are counted in "failed", and the certificate uses the actual errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from networks.construct.cli import DEFAULT_PENSIA_NPZ, ConstructConfig, run_construct  # noqa: E402
from theory.plumbing.records import read_json  # noqa: E402

__all__ = ["ROWS", "Row", "build_rows", "main", "make_rows", "render", "table_rows"]

EPS = 0.01
N = 21
#: The densities of the sparse rows (fraction of each layer's source parameters kept).
GAMMAS = (0.05, 0.1)


@dataclasses.dataclass(frozen=True)
class Row:
    """One row: a construct config and the scale it belongs to (``default``: <= ~2 min on 2 idle cores)."""

    label: str
    config: ConstructConfig
    scale: str = "default"


def make_rows(pensia: str = "pensia-fc2") -> tuple[Row, ...]:
    """Every row of the table, in order; ``pensia``: the Pensia network's target (preset or its npz)."""
    rows = []
    for target, two_l in (("digits-mlp", "pensia"), ("digits-cnn", "dacunha"), (pensia, "pensia")):
        common = {"target": target, "eps": EPS, "budget": "per-weight"}
        common["nonnegative_input"] = target.startswith("digits")
        # CPU seconds measured per row (2 cores under a load of ~9, scripts/tickets_table.py): digits
        # rows 9-24 s each with the training; Pensia network 2L 15 s, sparse 23 s and 104 s. Its L+1 row
        # solves 383x the first-layer SubsetSums of the digits MLP's (10,500 copies x 784 inputs x 2
        # halves): well past 2 minutes on 2 idle cores, so it belongs to the full scale. It has not been
        # run to the end: stopped after 750 s wall (154 CPU s) with its memory at 10.2 GB and growing.
        l1_scale = "default" if target.startswith("digits") else "full"
        rows.append(Row(f"2L {two_l}", ConstructConfig(method=two_l, candidates_per_weight=N, **common)))
        rows.append(Row("L+1 burkholz", ConstructConfig(method="burkholz", rho=N, **common), l1_scale))
        for gamma in GAMMAS:
            cfg = ConstructConfig(method="sparse", density=gamma, candidates_per_weight=N, **common)
            rows.append(Row(f"sparse at gamma={gamma:g}", cfg))
    return tuple(rows)


#: Every row of the table, in order (the Pensia network as the ``pensia-fc2`` preset).
ROWS: tuple[Row, ...] = make_rows()


def table_rows(scale: str, rows: tuple[Row, ...] = ROWS) -> list[Row]:
    """The rows of ``rows`` run at ``scale`` (``default``: the default rows; ``full``: all).

    Raises:
        ValueError: If ``scale`` is neither.
    """
    if scale not in ("default", "full"):
        raise ValueError(f"scale must be 'default' or 'full', got {scale!r}")
    return [r for r in rows if scale == "full" or r.scale == "default"]


def _missing_input(cfg: ConstructConfig) -> str | None:
    """Why a row cannot be built here (a missing shared file), or None."""
    if cfg.target == "pensia-fc2" and not DEFAULT_PENSIA_NPZ.is_file():
        return f"skipped: {DEFAULT_PENSIA_NPZ} absent"
    if cfg.target.endswith(".npz") and not Path(cfg.target).is_file():
        return f"skipped: {cfg.target} absent"
    return None


def build_rows(
    rows: list[Row], *, runs_root: str | Path, run: list[Row] | None = None, recorded_only: bool = False
) -> list[dict[str, Any]]:
    """Construct (or read back) each row; returns one record per row of ``rows``.

    ``run``: the rows to construct (default: all of ``rows``); the others are read back when recorded,
    else marked "not run". ``recorded_only``: construct nothing. Each record holds the row, its status
    (``run``, ``recorded``, ``not run (<scale> scale)``, ``refused: ...`` or ``skipped: ...``), its run
    directory, the report (or None) and the CPU seconds this call spent on it (``None`` when it only read
    the record).
    """
    from theory.plumbing.rundir import RunDir

    run = rows if run is None else run
    out = []
    for row in rows:
        cfg = row.config
        why = _missing_input(cfg)
        path = RunDir.for_config(runs_root, "construct", cfg, seed=cfg.seed).path
        recorded = (path / "report.json").is_file() and (path / "DONE").is_file()
        if why is not None:
            out.append({"row": row, "status": why, "report": None, "cpu_seconds": None, "path": path})
            continue
        if recorded or recorded_only or row not in run:
            status = "recorded" if recorded else f"not run ({row.scale} scale)"
            report = read_json(path / "report.json") if recorded else None
            out.append({"row": row, "status": status, "report": report, "cpu_seconds": None, "path": path})
            continue
        started = time.process_time()
        try:
            done = run_construct(cfg, runs_root=runs_root, quiet=True)
        except ValueError as err:
            if not str(err).startswith("density must be >="):
                raise
            # A density below one unit per weight at this width: a limit of the row, reported as such.
            out.append(
                {"row": row, "status": f"refused: {err}", "report": None, "cpu_seconds": None, "path": path}
            )
            continue
        cpu = time.process_time() - started
        report = read_json(done / "report.json")
        out.append({"row": row, "status": "run", "report": report, "cpu_seconds": cpu, "path": path})
    return out


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _name(target: str) -> str:
    """The table's name of a target (the Pensia network also when given as its npz file)."""
    return "pensia-fc2" if Path(target).name == DEFAULT_PENSIA_NPZ.name else target


def render(records: list[dict[str, Any]]) -> str:
    """The table as Markdown, from the recorded reports only."""
    head = (
        "| target | construction | source depth | source params | kept params | radius | certified error "
        "| measured error | target acc % | ticket acc % | failed weights | layer densities | construct s "
        "| status |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for rec in records:
        row, rep = rec["row"], rec["report"]
        cfg = row.config
        name = _name(cfg.target)
        if rep is None:
            lines.append(f"| {name} | {row.label} |" + " |" * 11 + f" {rec['status']} |")
            continue
        depth = rep.get("source_depth", 2 * len(rep["layer_norms"]))
        # The certificate on the ball the measurement used (the test inputs' largest norm for digits).
        radius = rep.get("max_input_norm", 1.0)
        certified = rep.get("certified_bound_at_max_input_norm", rep["certified_bound"])
        # Kept / source parameters per layer (sparse tickets; a layer at k = n/2 cannot reach gamma).
        densities = ", ".join(f"{d:.3f}" for d in rep["layer_density"]) if "layer_density" in rep else "-"
        lines.append(
            f"| {name} | {row.label} | {depth} | {rep['source_params']:,} | {rep['kept_params']:,} "
            f"| {radius:.3g} | {certified:.4g} | {_fmt(rep.get('measured_error'), '.4g')} "
            f"| {_fmt(rep.get('target_acc'), '.2f')} | {_fmt(rep.get('ticket_acc'), '.2f')} "
            f"| {rep['num_failed_weights']} | {densities} | {rep['construct_seconds']:.1f} "
            f"| {rec['status']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Build the rows of ``--scale`` (all rows are listed), print the table, optionally write it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-root", default="runs", help="runs root (default: runs)")
    parser.add_argument("--scale", default="default", choices=("default", "full"), help="rows to build")
    parser.add_argument("--recorded-only", action="store_true", help="build nothing; read recorded rows")
    parser.add_argument("--out", default=None, help="also write the Markdown table to this file")
    parser.add_argument(
        "--pensia-npz",
        default=None,
        help=f"the Pensia network's npz when it is not at {DEFAULT_PENSIA_NPZ} (then read as a target file)",
    )
    parser.add_argument("--only", default=None, help="build only rows whose 'target construction' has this")
    args = parser.parse_args(argv)
    rows = make_rows() if args.pensia_npz is None else make_rows(str(Path(args.pensia_npz).resolve()))
    run = table_rows(args.scale, rows)
    if args.only is not None:
        run = [r for r in run if args.only in f"{r.config.target} {r.label}"]
    records = build_rows(list(rows), runs_root=args.runs_root, run=run, recorded_only=args.recorded_only)
    for rec in records:
        if rec["cpu_seconds"] is not None:
            row = rec["row"]
            print(f"{_name(row.config.target)} {row.label}: {rec['cpu_seconds']:.1f} CPU s", file=sys.stderr)
    text = render(records)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
