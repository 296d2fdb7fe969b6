"""A fork server for the fault-injection suite: ``python tests/faults/zygote.py`` (repo root on PYTHONPATH).

It imports the toolkit (and torch) once, then for each request on stdin (one JSON line: ``argv``, ``env``,
``out``, ``timer``) forks a child that runs ``slth <argv>`` (``figures.cli.main``) with ``env`` added,
stdout and stderr into ``out``, and one thread (so every child computes the same floats). With ``timer``
the server SIGKILLs the child after that many seconds. It answers one JSON line: ``rc`` (negative: killed
by that signal), ``seconds`` (wall) and ``cpu`` (the child's user + system time). A forked child starts
in milliseconds, which is what lets the suite kill each command at dozens of points within the CI budget;
the children are still separate processes, killed
with a real SIGKILL, exactly as a crash would.

The server runs with one thread from the start (so no OpenMP worker threads exist when it forks) and warms
up once, running each command kind in a scratch root: the imports and lazy initialisation a handler does
(sklearn, matplotlib and every figure module, the ledger's modules) are then paid once, not in every
child. It also registers a tiny experiment (``faults-rss``: the ``rss-success`` sweep at a few cells) and a
figure (``faults_fig``) reading it, so that ``slth reproduce --only faults_fig`` walks the real pipeline
in seconds. Its ledger stage writes nothing (there is nothing for a kill to break), so here it verifies
only the claim the tiny sweep bears on (``pensia-rss-log``) instead of every registered claim.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
import traceback

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

import figures.cli
import figures.reproduce
import networks.training  # noqa: F401
from theory.plumbing import locks, records

TINY_RSS = dict(
    half_widths=(1.0,),
    etas=(0.1, 0.01),
    ns=(2, 4, 6, 8, 10, 12),
    trials=40,
    test_etas=(0.1,),
    test_trials=40,
    calibration_trials=20,
)


def _register_tiny_pipeline() -> None:
    from figures.registry import FigureResult, FigureSpec, register_figure
    from sim.experiments import Experiment, get_experiment, register_experiment

    base = get_experiment("rss-success")
    cfg = dataclasses.replace(base.presets["quick"], **TINY_RSS)
    register_experiment(
        Experiment(
            name="faults-rss",
            description="rss-success at a few cells (fault-injection suite)",
            config=base.config,
            presets={"quick": cfg, "full": cfg},
            run=base.run,
            evidence=base.evidence,
            claims=base.claims,
        )
    )

    def build(runs_root):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from figures.records import sweep_dirs
        from theory.plumbing.records import read_csv

        (run,) = sweep_dirs(runs_root, "faults-rss")
        rows = read_csv(run / "results.csv")
        fig, ax = plt.subplots()
        ax.plot(range(len(rows)), range(len(rows)))
        return FigureResult(fig, [dict(r) for r in rows], ["faults: tiny sweep"])

    from theory import ledger

    every_claim = ledger.verify

    def verify(claim_ids=None, **kwargs):
        return every_claim(["pensia-rss-log"] if claim_ids is None else claim_ids, **kwargs)

    ledger.verify = verify
    register_figure(
        FigureSpec(
            name="faults_fig",
            title="fault-injection figure",
            caption="the tiny sweep's cells",
            experiments=("faults-rss",),
            claims=(),
            build=build,
        )
    )


def _child(req: dict) -> None:
    fd = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    for key, value in req.get("env", {}).items():
        os.environ[key] = str(value)
    records.reset_write_count()
    locks.forget_inherited()
    torch.set_num_threads(1)
    rc = 99
    try:
        rc = figures.cli.main(req["argv"])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(rc))


def _warm_up() -> None:
    import contextlib
    import io
    import tempfile

    from torch import nn

    from networks.construct.targets import save_target

    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        model = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
        save_target(model, f"{tmp}/t.pt", input_shape=(6,))
        for args in (
            "train --method ep --model mlp --dataset digits --hidden 4 --epochs 1",
            f"construct --target {tmp}/t.pt --eps 0.3 --budget per-weight",
            "run rss-success --ns 2 --etas 0.1 --trials 4 --test-etas 0.1 --test-trials 4 "
            "--calibration-trials 4 --executor inprocess",
            "reproduce --only faults_fig --max-examples 1 --executor inprocess --out " + f"{tmp}/out",
        ):
            figures.cli.main([*args.split(), "--runs-root", f"{tmp}/runs", "--quiet"])
        for key in list(locks._HELD):
            locks.release(key)
    records.reset_write_count()


def main() -> None:
    torch.set_num_threads(1)
    _register_tiny_pipeline()
    _warm_up()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(req)
        timer, sent = req.get("timer"), False
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if timer is not None and not sent and time.monotonic() - start >= timer:
                os.kill(pid, signal.SIGKILL)
                sent = True
            time.sleep(0.002)
        rc = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
        print(json.dumps({"rc": rc, "seconds": time.monotonic() - start, "cpu": cpu}), flush=True)


if __name__ == "__main__":
    main()
