"""Executors: registry contract, order, options, failures, resume, and byte-identical sweeps on every one.

The cluster executors run for real here: submitit through its local executor (job processes that pickle
their results to the job folder exactly as SLURM jobs do) and dask through a ``LocalCluster`` of worker
processes. Nothing is skipped: both packages are in the ``test`` extra.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import operator
import os
import random
import signal
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from sim.cells import CellSpec, run_cells, trial_inputs
from sim.executors import (
    EXECUTORS,
    DaskConfig,
    JobFailed,
    SubmititConfig,
    add_executor_arguments,
    executor_from_args,
    get_executor,
)
from sim.store import RunStore
from theory.plumbing.rundir import RunDir

# The fault injectors below run inside job processes; pickle them by value so those processes need not
# import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _make(name: str, workers: int | None, tmp_path: Path):
    if name == "submitit":
        return get_executor(name, workers, cluster="local", folder=str(tmp_path / "jobs"))
    return get_executor(name, workers)


@pytest.mark.parametrize("name", sorted(EXECUTORS))
def test_registry_contract(name: str, tmp_path: Path) -> None:
    with _make(name, 2, tmp_path) as ex:
        assert ex.workers == (1 if name == "inprocess" else 2)
        assert ex.map(operator.neg, []) == []
        assert ex.map(operator.neg, [3, 1, 2, 7, 5]) == [-3, -1, -2, -7, -5]


def test_process_pool_preserves_order_with_two_workers() -> None:
    with get_executor("process", 2) as ex:
        items = list(range(40))
        assert ex.map(abs, [-i for i in items]) == items
        assert ex.map(abs, [-5]) == [5]  # the pool is reused


def test_one_process_worker_runs_in_process() -> None:
    with get_executor("process", 1) as ex:
        assert ex.map(operator.neg, [1, 2]) == [-1, -2]
        assert ex._pool is None  # no pool was started for a single worker


def test_bad_names_and_workers() -> None:
    with pytest.raises(ValueError, match="dask, inprocess, process, submitit"):
        get_executor("threads")
    with pytest.raises(ValueError, match="workers"):
        get_executor("process", 0)
    with pytest.raises(ValueError, match="workers"):
        get_executor("inprocess", 1.5)
    with pytest.raises(ValueError, match="partitoin"):
        get_executor("submitit", 1, partitoin="gpu")
    with pytest.raises(ValueError, match="time_min"):
        SubmititConfig(time_min=0)
    with pytest.raises(ValueError, match="threads_per_worker"):
        DaskConfig(threads_per_worker=0)


@pytest.mark.parametrize(
    ("name", "module", "extra"), [("submitit", "submitit", "cluster"), ("dask", "distributed", "dask")]
)
def test_missing_optional_dependency_is_a_clear_error(name, module, extra, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes ``import module`` raise ImportError
    with pytest.raises(ValueError, match=rf"slth-toolkit\[{extra}\]"):
        get_executor(name, 1)


def test_slurm_options_are_config_fields_that_reach_sbatch(tmp_path, monkeypatch) -> None:
    # submitit's SLURM executor only needs ``srun`` to exist to build its sbatch file.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cfg = SubmititConfig(
        folder=str(tmp_path / "jobs"),
        cluster="slurm",
        partition="gpu",
        time_min=30,
        mem_gb=8.0,
        cpus_per_task=2,
        array_parallelism=3,
        account="lab",
        qos="high",
        constraint="a100",
    )
    ex = get_executor("submitit", 5, config=cfg)
    assert ex.cluster == "slurm" and ex.array_size == 5
    inner = ex._executor._executor  # submitit's SlurmExecutor
    assert inner.parameters["array_parallelism"] == 3
    sbatch = inner._make_submission_file_text("CMD", "uid")
    for line in ("--partition=gpu", "--time=30", "--mem=8GB", "--cpus-per-task=2", "--account=lab",
                 "--qos=high", "--constraint=a100"):
        assert f"#SBATCH {line}\n" in sbatch
    # Unset options stay out of the script (the cluster's defaults apply).
    plain = get_executor("submitit", 2, cluster="slurm", folder=str(tmp_path / "j2"))
    text = plain._executor._executor._make_submission_file_text("CMD", "uid")
    assert "--partition" not in text and "--account" not in text
    assert plain._executor._executor.parameters["array_parallelism"] == 2
    # SLURM jobs need a job folder the compute nodes share: no silent temporary folder there.
    with pytest.raises(ValueError, match="folder must be set for SLURM"):
        get_executor("submitit", 2, cluster="slurm")
    # ... and the command line puts it next to the runs.
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs-root")
    add_executor_arguments(parser)
    args = parser.parse_args(["--runs-root", str(tmp_path / "runs"), "--executor", "submitit"])
    assert executor_from_args(args).folder == str(tmp_path / "runs" / "submitit")


def test_dask_connects_to_a_running_scheduler() -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        with get_executor("dask", address=cluster.scheduler_address) as ex:
            assert ex.workers == 2  # the scheduler's thread count, since none was given
            assert ex.map(operator.neg, [4, 2]) == [-4, -2]
        assert len(cluster.scheduler_info["workers"]) == 2  # closing the client left the cluster up


def test_submitit_groups_items_into_array_size_jobs(tmp_path) -> None:
    with get_executor("submitit", 2, cluster="local", folder=str(tmp_path / "jobs")) as ex:
        assert ex.map(operator.neg, list(range(7))) == [-i for i in range(7)]
        assert len(ex.jobs) == 2  # 7 items, 2 jobs (4 + 3), not 7


def test_executor_flags(tmp_path) -> None:
    parser = argparse.ArgumentParser()
    add_executor_arguments(parser)
    args = parser.parse_args(
        ["--executor", "submitit", "--workers", "3", "--slurm-cluster", "local", "--slurm-partition", "p",
         "--slurm-folder", str(tmp_path / "jobs"), "--slurm-mem-gb", "2.5", "--slurm-array-size", "4"]
    )
    ex = executor_from_args(args)
    assert ex.name == "submitit" and ex.workers == 3 and ex.array_size == 4
    assert ex.config.partition == "p" and ex.config.mem_gb == 2.5 and ex.cluster == "local"
    dask_args = parser.parse_args(["--executor", "dask", "--dask-threads-per-worker", "2"])
    with executor_from_args(dask_args) as dx:
        assert dx.config == DaskConfig(threads_per_worker=2) and dx._client is None  # started on first use
    with pytest.raises(ValueError, match="--slurm-partition only apply to --executor submitit"):
        executor_from_args(parser.parse_args(["--executor", "dask", "--slurm-partition", "p"]))
    with pytest.raises(ValueError, match="dask, inprocess, process, submitit"):
        executor_from_args(parser.parse_args(["--executor", "threads"]))


SPECS = [
    CellSpec("coverage", 5, "uniform", -1.0, 1.0),
    CellSpec("coverage", 7, "product", -0.5, 0.5, perturbation=1e-3, seed=3),
    CellSpec("target", 9, "gaussian", -0.5, 0.5, seed=1),
]


def test_results_identical_for_workers_order_and_chunking() -> None:
    a = run_cells(SPECS, 13, executor="inprocess", chunk_size=3)
    shuffled = SPECS[:]
    random.Random(0).shuffle(shuffled)
    with get_executor("process", 2) as ex:
        b = run_cells(shuffled, 13, executor=ex, chunk_size=5)
    for key in a:
        assert np.array_equal(a[key].errors, b[key].errors)
        assert np.array_equal(a[key].tols, b[key].tols)


def test_trials_are_a_prefix_and_cells_are_independent() -> None:
    spec = SPECS[0]
    short = run_cells([spec], 4, executor="inprocess")[spec.key()].errors
    long = run_cells([spec], 9, executor="inprocess")[spec.key()].errors
    assert np.array_equal(short, long[:4])
    x0, _ = trial_inputs(spec, 0)
    x1, _ = trial_inputs(spec, 1)
    other, _ = trial_inputs(CellSpec("coverage", 5, "uniform", -1.0, 1.0, seed=1), 0)
    assert not np.array_equal(x0, x1)
    assert not np.array_equal(x0, other)
    # The same cell written with int or float window ends is the same stream.
    assert CellSpec("coverage", 5, "uniform", -1, 1).key() == spec.key()


# --------------------------------------------------------------------------------------------------
# The same sweep through every executor: the same files, byte for byte; a second run reuses every cell.
# --------------------------------------------------------------------------------------------------
def _sweep_files(path: Path) -> dict[str, bytes]:
    files = {"results.csv": (path / "results.csv").read_bytes()}
    files.update({f"cells/{p.name}": p.read_bytes() for p in sorted((path / "cells").glob("*.json"))})
    return files


def test_same_sweep_gives_byte_identical_files_on_every_executor(tmp_path) -> None:
    from sim.experiments import get_experiment

    sweep = get_experiment("rss-per-target")
    # 3 values of n x 3 chunks of 64 trials: 9 work items, more than either worker count.
    cfg = sweep.preset("quick", ns=(4, 6, 8), trials=150)
    reference = None
    for name in ("inprocess", "process", "submitit", "dask"):
        root = tmp_path / name
        with _make(name, 2, tmp_path / f"{name}-jobs") as ex:
            first = sweep.execute(cfg, runs_root=root, executor=ex).output
            files = _sweep_files(first.path)
            (first.path / "DONE").unlink()  # resume from the cells, not from DONE
            again = sweep.execute(cfg, runs_root=root, executor=ex).output
        assert first.computed and not first.reused, name
        assert again.reused == first.computed and not again.computed, name  # resume: nothing recomputed
        assert _sweep_files(again.path) == files, name
        if reference is None:
            reference = files
            assert len(files) == 4 and b"p_fail" in files["results.csv"]  # 3 cells + the results table
        else:
            assert files == reference, f"{name} wrote different files than inprocess"


# --------------------------------------------------------------------------------------------------
# Failures: a killed job or a raising task is named with its log; the same command then resumes.
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Faulty:
    """Wraps an executor; its ``fn`` misbehaves on the chunks of cells with ``n == bad_n``."""

    inner: object
    bad_n: int
    mode: str  # "kill": SIGKILL the process running it; "raise": raise; "kill-once": kill on the first try
    marker: str = ""

    @property
    def workers(self) -> int:
        return self.inner.workers

    def map(self, fn, items):
        return self.inner.map(_Injected(fn, self.bad_n, self.mode, self.marker), items)


@dataclasses.dataclass
class _Injected:
    fn: object
    bad_n: int
    mode: str
    marker: str

    def __call__(self, item):
        if item[0]["n"] == self.bad_n:
            if self.mode == "raise":
                raise RuntimeError(f"injected failure on n={self.bad_n}")
            if self.mode == "kill-once":
                if os.path.exists(self.marker):
                    return self.fn(item)
                Path(self.marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return self.fn(item)


@dataclasses.dataclass(frozen=True)
class _StoreConfig:
    case: str


CELLS = [CellSpec("coverage", n, "uniform", -1.0, 1.0, seed=2) for n in range(3, 12)]


@pytest.mark.parametrize(("name", "mode"), [("submitit", "kill"), ("submitit", "raise"), ("dask", "raise")])
def test_failed_job_is_named_and_resubmission_reuses_finished_cells(name, mode, tmp_path) -> None:
    reference = run_cells(CELLS, 20, executor="inprocess")
    store = RunStore(RunDir.for_config(tmp_path / "runs", "resume", _StoreConfig(name))).open()
    # Two workers: the engine sends waves of 4 x 2 chunks (one chunk per cell here), so cells n=3..10
    # finish (and are stored) in the first wave and n=11's chunk, alone in the second wave, fails.
    with _make(name, 2, tmp_path) as ex:
        with pytest.raises(JobFailed) as info:
            run_cells(CELLS, 20, executor=_Faulty(ex, 11, mode), store=store)
        err = info.value
        assert err.job_id and str(err.job_id) in str(err)
        if name == "submitit":
            assert err.logs and Path(err.logs[0]).exists() and err.logs[0] in str(err)
        if mode == "raise":
            assert "RuntimeError: injected failure on n=11" in str(err)  # the job's own exception
        assert store.finished_keys() == {s.key() for s in CELLS[:-1]}
        again = run_cells(CELLS, 20, executor=ex, store=store)
    assert [again[s.key()].computed for s in CELLS] == [False] * (len(CELLS) - 1) + [True]
    for s in CELLS:
        assert np.array_equal(again[s.key()].errors, reference[s.key()].errors)


def test_dask_reschedules_a_killed_worker_with_the_same_results(tmp_path) -> None:
    # A worker process dies mid-task; the scheduler reruns the task elsewhere. Trial streams are keyed,
    # so where and in which order the task ran does not change a single bit.
    reference = run_cells(CELLS, 20, executor="inprocess")
    marker = str(tmp_path / "killed-once")
    with get_executor("dask", 2) as ex:
        out = run_cells(CELLS, 20, executor=_Faulty(ex, 5, "kill-once", marker))
    assert os.path.exists(marker)  # the kill did happen
    for s in CELLS:
        assert np.array_equal(out[s.key()].errors, reference[s.key()].errors)


# --------------------------------------------------------------------------------------------------
# One interface on the command line: `slth run ... --executor` and `slth reproduce --executor`.
# --------------------------------------------------------------------------------------------------
def test_sweep_cli_runs_on_every_executor_with_identical_results(tmp_path, capsys) -> None:
    from figures.cli import main

    sweep_args = ["run", "rss-per-target", "--ns", "4,6", "--trials", "70", "--quiet"]
    files = {}
    for name, extra in (
        ("inprocess", []),
        ("submitit", ["--slurm-cluster", "local", "--slurm-folder", str(tmp_path / "jobs")]),
        ("dask", ["--dask-threads-per-worker", "1"]),
    ):
        root = tmp_path / name
        code = main([*sweep_args, "--runs-root", str(root), "--executor", name, "--workers", "2", *extra])
        assert code == 0, name
        (results,) = root.glob("rss-per-target/*/results.csv")
        files[name] = results.read_bytes()
    assert files["submitit"] == files["inprocess"] == files["dask"]
    assert list((tmp_path / "jobs").glob("*_log.out"))  # the submitit run really went through job files
    # A --dask-* option with another executor is refused, not ignored.
    bad = ["--runs-root", str(tmp_path / "x"), "--executor", "process", "--dask-address", "tcp://h:1"]
    code = main([*sweep_args, *bad])
    assert code == 2 and "only apply to --executor dask" in capsys.readouterr().err


class _Done:
    reused = True

    @property
    def verdicts(self) -> dict:
        return {}


def test_reproduce_hands_its_executor_to_the_experiments(tmp_path, monkeypatch) -> None:
    import figures.reproduce as rep
    from figures.cli import main
    from sim.experiments import Experiment

    seen = {}
    real_reproduce = rep.reproduce

    def fake_reproduce(**kwargs):
        seen.update(kwargs)
        return rep.ReproduceResult(0, [], [], [])

    monkeypatch.setattr(rep, "reproduce", fake_reproduce)
    args = ["reproduce", "--executor", "submitit", "--workers", "3", "--slurm-cluster", "local",
            "--slurm-partition", "p", "--slurm-folder", str(tmp_path / "jobs")]
    assert main(args) == 0
    ex = seen["executor"]
    assert ex.name == "submitit" and ex.workers == 3 and ex.config.partition == "p" and seen["workers"] == 3

    # ... and reproduce hands it to every experiment's execute unchanged ("inprocess" when none is given).
    calls = []
    monkeypatch.setattr(Experiment, "execute", lambda self, **kw: calls.append((self.name, kw)) or _Done())
    monkeypatch.setattr(rep, "run_ledger", lambda *a, **k: ([], "", {}, {}))
    kw = {"only": ["fig02_pssp"], "runs_root": tmp_path, "out": tmp_path / "out", "quiet": True}
    real_reproduce(**kw, executor=ex)
    real_reproduce(**kw, workers=2)
    # The figure's experiments, then the one deciding its claim xiong-thm1-aistats (failure-bound part).
    assert [c[0] for c in calls] == ["pssp-min-n", "xiong-n90", "xiong-thm1"] * 2
    assert calls[0][1]["executor"] is ex and calls[0][1]["scale"] == "default"
    assert calls[-1][1]["executor"] == "inprocess" and calls[-1][1]["workers"] == 2


# --------------------------------------------------------------------------------------------------
# Safe by default: the Python API runs in this process; a dying pool worker is named, nothing half-written.
# --------------------------------------------------------------------------------------------------
def test_python_api_runs_in_process_unless_asked() -> None:
    from sim.executors import InProcessExecutor, open_executor

    assert isinstance(get_executor(), InProcessExecutor)
    ex, owned = open_executor("inprocess", None)
    assert isinstance(ex, InProcessExecutor) and owned
    with pytest.raises(ValueError, match="workers=2 needs a parallel executor"):
        open_executor("inprocess", 2)
    with pytest.raises(ValueError, match="workers=2 needs a parallel executor"):
        run_cells(SPECS[:1], 2, workers=2)
    pool, owned = open_executor("process", 2)
    assert pool.name == "process" and owned
    pool.close()


_UNGUARDED = """
import sys
with open(sys.argv[1] if len(sys.argv) > 1 else {log!r}, "a") as fh:
    fh.write("top level ran\\n")
import sim
res = sim.coverage_probability(6, 0.1, trials=30, seed=1)
scan = sim.min_candidates(0.2, level=0.5, trials=20, n_max=8)
print(res.successes, res.trials, scan.n_min)
"""


@pytest.mark.parametrize("how", ["script", "stdin", "exec"])
def test_unguarded_script_runs_and_its_top_level_runs_once(how, tmp_path) -> None:
    import subprocess

    log = tmp_path / "top-level.log"
    script = tmp_path / "plain.py"
    script.write_text(_UNGUARDED.format(log=str(log)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if how == "script":
        cmd, stdin = [sys.executable, str(script)], None
    elif how == "stdin":
        cmd, stdin = [sys.executable, "-"], script.read_text()
    else:  # what a notebook cell does: exec the source in a fresh namespace
        cmd, stdin = [sys.executable, "-c", f"exec(open({str(script)!r}).read(), {{}})"], None
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    successes, trials, n_min = out.stdout.split()
    assert int(trials) == 30 and 0 <= int(successes) <= 30 and n_min != ""
    assert log.read_text() == "top level ran\n"  # once: no worker re-imported the script
    # The same numbers as this process computes (and as any executor would).
    from sim.monte_carlo import coverage_probability

    assert int(successes) == coverage_probability(6, 0.1, trials=30, seed=1).successes


@dataclasses.dataclass
class _Dies:
    """A work function that ends its process on chunks of cells with ``n == bad_n``."""

    fn: object
    bad_n: int
    how: str  # "sigkill" or "exit" (os._exit(3))

    def __call__(self, item):
        if item[0]["n"] == self.bad_n:
            if self.how == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(3)
        return self.fn(item)


@dataclasses.dataclass
class _DyingPool:
    inner: object
    bad_n: int
    how: str

    @property
    def workers(self) -> int:
        return self.inner.workers

    def map(self, fn, items):
        return self.inner.map(_Dies(fn, self.bad_n, self.how), items)


@pytest.mark.parametrize(("how", "cause"), [("sigkill", "killed by SIGKILL"), ("exit", "exit code 3")])
def test_dead_pool_worker_is_named_and_leaves_no_half_written_cell(how, cause, tmp_path) -> None:
    from sim.executors import WorkerDied

    reference = run_cells(CELLS, 20, executor="inprocess")
    store = RunStore(RunDir.for_config(tmp_path / "runs", "dies", _StoreConfig(how))).open()
    with get_executor("process", 2) as ex:
        with pytest.raises(WorkerDied) as info:
            run_cells(CELLS, 20, executor=_DyingPool(ex, 11, how), store=store)
        msg = str(info.value)
        assert cause in msg and "pid " in msg and "_Dies" in msg, msg
        assert info.value.items and info.value.job_id.startswith("pid ")
        # Waves of 4 x 2 chunks: cells n=3..10 finished in the first wave and are stored whole; the wave
        # holding n=11 wrote nothing. Every file on disk is a complete record.
        assert store.finished_keys() == {s.key() for s in CELLS[:-1]}
        for path in store.cells_dir.iterdir():
            rec = json.loads(path.read_text())
            assert ".part-" not in path.name and rec["trials"] == 20 and len(rec["errors"]) == 20
        # The broken pool was dropped: the same executor resumes with a fresh one, bit for bit.
        again = run_cells(CELLS, 20, executor=ex, store=store)
    assert [again[s.key()].computed for s in CELLS] == [False] * (len(CELLS) - 1) + [True]
    for s in CELLS:
        assert np.array_equal(again[s.key()].errors, reference[s.key()].errors)


_GUARDED_POOL = """
import sim
if __name__ == "__main__":
    pooled = sim.coverage_probability(8, 0.1, trials=40, seed=3, executor="process", workers=2)
    print(pooled.successes)
"""


@pytest.mark.parametrize("how", ["script", "stdin"])
def test_a_pool_asked_for_explicitly_works_from_a_file_and_from_stdin(how, tmp_path) -> None:
    import subprocess

    script = tmp_path / "pooled.py"
    script.write_text(_GUARDED_POOL)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if how == "script":
        cmd, stdin = [sys.executable, str(script)], None
    else:
        cmd, stdin = [sys.executable, "-"], _GUARDED_POOL
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    from sim.monte_carlo import coverage_probability

    assert int(out.stdout) == coverage_probability(8, 0.1, trials=40, seed=3).successes


_ORPHAN_SCRIPT = """
import os, sys, time
from sim.executors import ProcessExecutor

def nap(_):
    time.sleep(120)
    return os.getpid()

if __name__ == "__main__":
    ex = ProcessExecutor(workers=2)
    pool = ex._get_pool()
    futures = [pool.submit(nap, i) for i in range(2)]
    time.sleep(1.0)
    print(" ".join(str(p) for p in pool._processes), flush=True)
    time.sleep(120)
"""


def test_pool_workers_end_when_their_owner_is_killed(tmp_path) -> None:
    """A SIGKILLed owner cannot shut its pool down; the workers notice and exit instead of lingering."""
    import subprocess
    import time

    script = tmp_path / "owner.py"
    script.write_text(_ORPHAN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        alive = list(workers)
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [p for p in alive if _pid_alive(p)]
        assert not alive, f"pool workers {alive} outlived their killed owner"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
