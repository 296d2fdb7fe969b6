"""Executors that run a picklable top-level function over a list of work items (a registry).

Every executor has ``.map(fn, items) -> list`` that returns results in the order of ``items``, plus
``close()``, context-manager support and ``workers``. Results never depend on which executor runs them:
the Monte Carlo engine derives each trial's random stream from a key, not from the worker or the order in
which work is scheduled (see ``sim.cells``), and results travel back pickled (floats unchanged), so a sweep
writes the same files byte for byte through every executor (``tests/sim/test_executors.py`` asserts it).

Safe by default: the Python API (``sim.coverage_probability``, ``sim.min_candidates``, ``run_cells``,
``get_executor()``) runs in-process unless the caller names another executor, so a plain script without
an ``if __name__ == "__main__":`` guard, a script read from standard input and a notebook all work and run
their top level once (a process pool re-imports ``__main__`` in every worker). The command line asks for
the process pool (``--executor process`` is its default).

* ``inprocess`` (the Python default): a plain loop in this process.
* ``process`` (the command line's default): a ``concurrent.futures.ProcessPoolExecutor`` in a
  ``forkserver`` context (``spawn`` where forkserver is unavailable), never ``fork``: forking a process
  that holds threads (torch, BLAS) can deadlock.
  The pool is created on first use and reused until ``close()``.
* ``submitit``: submitit's ``AutoExecutor``: SLURM job arrays on a cluster, its local executor (real job
  processes, results pickled to the job folder exactly as on SLURM) elsewhere. Options are the fields of
  :class:`SubmititConfig` (partition, time limit, memory, array size, ...). Extra ``[cluster]``.
* ``dask``: a ``dask.distributed`` client, for clusters without SLURM: a scheduler address, or a
  ``LocalCluster`` of ``workers`` single-threaded worker processes. Options: :class:`DaskConfig`.
  Extra ``[dask]``.

A worker of the process pool that dies (killed, ``os._exit``, out of memory) raises :class:`WorkerDied`
naming its pid, exit code or signal and the unfinished items; nothing of the unfinished items is written
(the engine stores only finished chunks, each atomically). A failed cluster work item raises
:class:`JobFailed`, naming the job (submitit job id and its log files; dask task
key) and the items it held. Work already recorded by the caller survives: the engine stores every finished
wave of chunks, so re-running the same command (resubmission) reuses the finished cells.

On the command line every executor is chosen the same way (``--executor NAME --workers K`` plus the
``--slurm-*`` and ``--dask-*`` fields): :func:`add_executor_arguments` and :func:`executor_from_args`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from theory.plumbing.configs import add_config_arguments, config_from_namespace, help_field
from theory.registry import lookup, register
from theory.validate import check_int, check_range

__all__ = [
    "EXECUTORS",
    "DaskConfig",
    "DaskExecutor",
    "InProcessExecutor",
    "JobFailed",
    "ProcessExecutor",
    "SubmititConfig",
    "SubmititExecutor",
    "WorkerDied",
    "add_executor_arguments",
    "default_workers",
    "executor_from_args",
    "get_executor",
    "open_executor",
    "register_executor",
]


def default_workers() -> int:
    """Number of CPUs this process may use (its affinity mask where the OS reports one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class JobFailed(RuntimeError):
    """A job (or task) of a cluster executor failed; the message names it and where its log is.

    Attributes:
        job_id: The submitit job id or the dask task key.
        logs: Paths of the job's log files (empty for dask, whose workers log to the scheduler).
        items: Indices (in the ``map`` call's ``items``) of the work items the job held.
    """

    def __init__(self, message: str, *, job_id: str, logs: Sequence[str] = (), items: Sequence[int] = ()):
        super().__init__(message)
        self.job_id = job_id
        self.logs = tuple(logs)
        self.items = tuple(items)


def _split(n: int, parts: int) -> list[range]:
    """``range(n)`` cut into ``parts`` contiguous pieces whose sizes differ by at most one."""
    parts = max(1, min(parts, n))
    base, extra = divmod(n, parts)
    out, start = [], 0
    for p in range(parts):
        stop = start + base + (1 if p < extra else 0)
        out.append(range(start, stop))
        start = stop
    return out


def _describe(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a function, or its type's for a callable object."""
    target = fn if hasattr(fn, "__qualname__") else type(fn)
    return f"{target.__module__}.{target.__qualname__}"


def _failure_summary(text: str) -> str:
    """One line from submitit's error text: its first line, plus the exception line of a traceback."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    head = next((ln.strip() for ln in lines if ln.strip()), "")
    if "Traceback (most recent call last):" not in lines:
        # e.g. "Job 123 (task: 0) with path ... / has not produced any output (state: ...)"
        return " ".join(ln.strip() for ln in lines[:2] if ln.strip())
    block = lines[lines.index("Traceback (most recent call last):") + 1 :]
    end = next((i for i, ln in enumerate(block) if ln and set(ln) == {"-"}), len(block))
    exc = next((ln.strip() for ln in reversed(block[:end]) if ln.strip()), "")
    return f"{head} {exc}".strip()


def _run_group(payload: tuple[Callable[[Any], Any], list[Any]]) -> list[Any]:
    """Job body: apply ``fn`` to each item of one group, in order (top level, so it pickles by name)."""
    fn, items = payload
    return [fn(item) for item in items]


class WorkerDied(JobFailed):
    """A worker process of the ``process`` executor ended abruptly (the message names the cause).

    Attributes:
        job_id: ``"pid <pid>"`` of the dead worker(s), comma-separated.
        items: Indices (in the ``map`` call's ``items``) of the work items that did not finish.
    """

    def __init__(self, message: str, *, items: Sequence[int] = (), job_id: str = "") -> None:
        super().__init__(message, job_id=job_id, items=items)


def _broken(future: Any) -> bool:
    """Whether a finished future failed because its pool broke (not because ``fn`` raised)."""
    from concurrent.futures.process import BrokenProcessPool

    return future.cancelled() or isinstance(future.exception(), BrokenProcessPool)


def _exit_cause(code: int | None) -> str:
    """Words for a process exit code: ``killed by SIGKILL`` for -9, ``exit code 3`` for 3."""
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _death_message(
    fn: Callable[..., Any], processes: Sequence[Any], lost: Sequence[int], total: int
) -> tuple[str, str]:
    """The message and job id of :class:`WorkerDied`: which workers died, how, and what they ran."""
    dead, pids = [], []
    for proc in processes:
        proc.join(timeout=5.0)  # the pool terminates the survivors; the dead have their code already
        if proc.exitcode not in (0, None, -signal.SIGTERM):
            dead.append(f"pid {proc.pid} ({_exit_cause(proc.exitcode)})")
            pids.append(f"pid {proc.pid}")
    who = ", ".join(dead) if dead else "a worker process (exit code not reported)"
    msg = (
        f"process executor: {who} ended abruptly while running {_describe(fn)}; "
        f"{len(lost)} of {total} work items did not finish (items {list(lost)[:8]}"
        f"{'...' if len(lost) > 8 else ''}). Finished work recorded by the caller is kept and the same "
        "command resumes."
    )
    if any(p.exitcode == 1 for p in processes):
        msg += (
            " Exit code 1 at start-up usually means the worker failed while importing the main module: "
            "a script that starts a process pool must do so under `if __name__ == \"__main__\":` (or use "
            "executor='inprocess', the Python API's default)."
        )
    return msg, ", ".join(pids)


class InProcessExecutor:
    """Runs every item in the calling process, in order."""

    name = "inprocess"

    def __init__(self, workers: int | None = None) -> None:
        # Accepted for a uniform signature; a loop has exactly one worker.
        if workers is not None:
            check_int("workers", workers, 1)
        self.workers = 1

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Apply ``fn`` to each item in order."""
        return [fn(item) for item in items]

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> InProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _unimportable_main_hidden() -> Iterator[None]:
    """Hide a ``__main__.__file__`` that names no file (``python - < script.py`` sets ``"<stdin>"``).

    A spawn or forkserver worker re-runs the main module from ``__main__.__file__`` before it takes
    work; for a script read from standard input that path does not exist and every worker dies at
    start-up. Such a main module cannot be re-imported anyway (its functions cannot be sent to a worker
    by name), so the workers are started without it, as for ``python -c`` or a notebook. Workers start
    inside ``submit`` (start methods other than fork), which is where this is used.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    hide = isinstance(path, str) and not os.path.isfile(path)
    if hide:
        del main.__file__
    try:
        yield
    finally:
        if hide:
            main.__file__ = path


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the pid exists (owned by another user): treat as alive
        return True
    return True


def _watch_owner(pid: int, interval: float) -> None:
    while _owner_alive(pid):
        time.sleep(interval)
    os._exit(1)


def _exit_with(owner_pid: int, interval: float = 1.0) -> None:
    """Pool-worker initializer: end this worker when the process that owns the pool is gone.

    A SIGKILLed ``slth run`` cannot shut its pool down, and CPython's workers would otherwise live on as
    orphans (blocked on the call queue, holding memory). A daemon thread polls the owner once a second.
    """
    threading.Thread(target=_watch_owner, args=(owner_pid, interval), daemon=True).start()


class ProcessExecutor:
    """A reusable process pool (forkserver or spawn start method)."""

    name = "process"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = default_workers() if workers is None else check_int("workers", workers, 1)
        self._pool = None

    def _get_pool(self):
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=ctx, initializer=_exit_with, initargs=(os.getpid(),)
            )
        return self._pool

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Apply ``fn`` to each item in worker processes; results keep the order of ``items``.

        Raises:
            WorkerDied: When a worker process ended abruptly (killed, ``os._exit``, out of memory, a
                crash while it started); the message names its pid, exit code or signal, and the items
                that were in flight. The broken pool is dropped, so the next ``map`` starts a fresh one.
        """
        from concurrent.futures.process import BrokenProcessPool

        items = list(items)
        if not items:
            return []
        if self.workers == 1:
            # One worker gains nothing from a pool but pays its start-up and pickling; results are the
            # same either way (keyed random streams).
            return [fn(item) for item in items]
        pool = self._get_pool()
        with _unimportable_main_hidden():
            futures = [pool.submit(fn, item) for item in items]
        # The pool's Process objects (``_processes``, private to CPython's ProcessPoolExecutor, which has
        # no public way to name a dead worker), kept so that a death can be reported with its exit code:
        # the pool forgets them once it is broken. Workers are started by ``submit``, so all exist now.
        processes = list(getattr(pool, "_processes", {}).values())
        results = []
        for i, f in enumerate(futures):
            try:
                results.append(f.result())
            except BrokenProcessPool as err:
                lost = [j for j, g in enumerate(futures) if j >= i and _broken(g)]
                self._drop_broken_pool()
                message, job_id = _death_message(fn, processes, lost, len(items))
                raise WorkerDied(message, job_id=job_id, items=lost) from err
        return results

    def _drop_broken_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Shut the pool down (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------
# submitit (SLURM)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubmititConfig:
    """submitit / SLURM job options for --executor submitit (results never depend on them)."""

    folder: str = help_field(
        "", "job folder (pickles, logs), shared with the compute nodes (CLI default: <runs-root>/submitit)"
    )
    cluster: Literal["auto", "slurm", "local", "debug"] = help_field(
        "auto", "auto: SLURM where srun is found, else local job processes; or force one"
    )
    partition: str = help_field("", "SLURM partition (empty: the cluster's default)")
    time_min: int = help_field(60, "time limit of one job, minutes")
    mem_gb: float = help_field(4.0, "memory of one job, GB")
    cpus_per_task: int = help_field(1, "CPUs of one job")
    gpus_per_node: int = help_field(0, "GPUs of one job")
    array_size: int = help_field(0, "jobs each batch of work is split into (0: --workers)")
    array_parallelism: int = help_field(0, "jobs of an array running at once (0: the array size)")
    account: str = help_field("", "SLURM account (empty: none)")
    qos: str = help_field("", "SLURM quality of service (empty: none)")
    constraint: str = help_field("", "SLURM node constraint (empty: none)")

    def __post_init__(self) -> None:
        check_int("time_min", self.time_min, 1)
        check_range("mem_gb", self.mem_gb, 0.0, None, lo_open=True)
        check_int("cpus_per_task", self.cpus_per_task, 1)
        check_int("gpus_per_node", self.gpus_per_node, 0)
        check_int("array_size", self.array_size, 0)
        check_int("array_parallelism", self.array_parallelism, 0)

    def parameters(self, array_size: int) -> dict[str, Any]:
        """Arguments of ``AutoExecutor.update_parameters`` (``slurm_*`` ones are ignored off SLURM)."""
        params: dict[str, Any] = {
            "timeout_min": self.time_min,
            "mem_gb": self.mem_gb,
            "cpus_per_task": self.cpus_per_task,
            "slurm_array_parallelism": self.array_parallelism or array_size,
        }
        if self.gpus_per_node:
            params["gpus_per_node"] = self.gpus_per_node
        for name in ("partition", "account", "qos", "constraint"):
            if getattr(self, name):
                params[f"slurm_{name}"] = getattr(self, name)
        return params


def _with_overrides(cls: type, config: Any, overrides: dict[str, Any]) -> Any:
    """``config`` (or the defaults) with keyword ``overrides``; an unknown name is a ValueError."""
    base = cls() if config is None else config
    if not isinstance(base, cls):
        raise ValueError(f"config must be a {cls.__name__}, got {type(base).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid: {', '.join(sorted(names))}")
    return dataclasses.replace(base, **overrides)


class SubmititExecutor:
    """submitit's ``AutoExecutor``: SLURM job arrays on a cluster, local job processes elsewhere.

    Each ``map`` call cuts its items into ``array_size`` contiguous groups (default: ``workers``) and submits
    one array job of that many tasks; a task applies ``fn`` to its group in order. So a SLURM array never
    holds more tasks than asked, and local runs start ``array_size`` processes per call, not one per item.

    Args:
        workers: The default array size (``None``: every CPU of this machine).
        config: A :class:`SubmititConfig`.
        **overrides: Fields of :class:`SubmititConfig` (e.g. ``cluster="local"``, ``folder=...``). An empty
            ``folder`` is a new temporary folder off SLURM and an error on SLURM (it must be shared).

    Raises:
        ValueError: If submitit is not installed, on a bad field, or without a folder on SLURM.
    """

    name = "submitit"

    def __init__(self, workers: int | None = None, *, config: SubmititConfig | None = None, **overrides):
        try:
            import submitit
        except ImportError:
            raise ValueError(
                "executor 'submitit' needs the optional dependency: pip install 'slth-toolkit[cluster]'"
            ) from None
        self.config = _with_overrides(SubmititConfig, config, overrides)
        self.workers = default_workers() if workers is None else check_int("workers", workers, 1)
        self.array_size = self.config.array_size or self.workers
        cluster = submitit.AutoExecutor.which() if self.config.cluster == "auto" else self.config.cluster
        if not self.config.folder and cluster == "slurm":
            raise ValueError(
                "folder must be set for SLURM (--slurm-folder): jobs read their inputs and write results "
                "and logs there, so it must be on a filesystem the compute nodes share"
            )
        self.folder = self.config.folder or tempfile.mkdtemp(prefix="slth-submitit-")
        self._executor = submitit.AutoExecutor(folder=self.folder, cluster=cluster)
        self._executor.update_parameters(**self.config.parameters(self.array_size))
        self.jobs: list[Any] = []  # every job submitted so far (ids, logs), for inspection

    @property
    def cluster(self) -> str:
        """The backend submitit chose: ``slurm``, ``local`` or ``debug``."""
        return str(self._executor.cluster)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Submit one array job over the items (``array_size`` tasks) and return results in order.

        Raises:
            JobFailed: When a job fails or is killed (after every job of the array has ended), naming
                the job id, its log files and the items it held.
        """
        items = list(items)
        if not items:
            return []
        groups = _split(len(items), self.array_size)
        jobs = self._executor.map_array(_run_group, [(fn, [items[i] for i in g]) for g in groups])
        self.jobs.extend(jobs)
        if self.cluster != "slurm":
            # submitit waits up to 15 s for a missing result file to appear on a slow shared filesystem;
            # local jobs write to this machine's disk, so a missing file after the job ended is final.
            for job in jobs:
                job._results_timeout_s = 0
            # ``result()`` polls once a second; a local job's state is one ``poll()`` of its process, so
            # poll faster (on SLURM the state comes from sacct, and submitit's own pace is kept).
            while not all(job.done() for job in jobs):
                time.sleep(0.02)
        results: list[Any] = []
        failures = []
        for job, group in zip(jobs, groups, strict=True):
            try:
                out = job.result()
            except Exception as err:  # submitit raises FailedJobError / UncompletedJobError
                failures.append((job, group, err))
                continue
            results.extend(out)
        if failures:
            job, group, err = failures[0]
            logs = [str(job.paths.stderr), str(job.paths.stdout)]
            first_line = _failure_summary(str(err)) or type(err).__name__
            raise JobFailed(
                f"submitit job {job.job_id} (items {group.start}..{group.stop - 1} of {len(items)}, "
                f"{_describe(fn)}) failed: {first_line}. Log: {logs[0]} (stdout "
                f"{logs[1]}). {len(failures)} of {len(jobs)} jobs failed; finished work recorded by the "
                "caller is kept and the same command resumes.",
                job_id=str(job.job_id),
                logs=logs,
                items=list(group),
            ) from err
        return results

    def close(self) -> None:
        """Nothing to release (jobs are awaited in ``map``)."""

    def __enter__(self) -> SubmititExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------
# dask.distributed
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DaskConfig:
    """dask.distributed options for --executor dask (results never depend on them)."""

    address: str = help_field(
        "", "scheduler address (tcp://host:8786); empty: a LocalCluster of --workers processes"
    )
    threads_per_worker: int = help_field(1, "LocalCluster: threads per worker process")
    memory_limit_gb: float = help_field(0.0, "LocalCluster: memory limit per worker, GB (0: dask's default)")

    def __post_init__(self) -> None:
        check_int("threads_per_worker", self.threads_per_worker, 1)
        check_range("memory_limit_gb", self.memory_limit_gb, 0.0, None)


class DaskExecutor:
    """A ``dask.distributed`` client; one task per item, results gathered in the order of the items.

    The client (and, without an address, a ``LocalCluster`` of ``workers`` processes) starts on first use
    and lives until ``close()``. Tasks are submitted with ``pure=False``: identical items are still
    computed separately, as with every other executor.

    Args:
        workers: LocalCluster worker processes (``None``: every CPU); with an address, only how much work
            callers hand over at once (``None``: the scheduler's total thread count).
        config: A :class:`DaskConfig`.
        **overrides: Fields of :class:`DaskConfig`.

    Raises:
        ValueError: If dask.distributed is not installed, or on a bad field.
    """

    name = "dask"

    def __init__(self, workers: int | None = None, *, config: DaskConfig | None = None, **overrides):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValueError(
                "executor 'dask' needs the optional dependency: pip install 'slth-toolkit[dask]'"
            ) from None
        self.config = _with_overrides(DaskConfig, config, overrides)
        if workers is not None:
            check_int("workers", workers, 1)
        elif not self.config.address:
            workers = default_workers()
        self._workers = workers  # None: ask the scheduler (see ``workers``)
        self._client = None
        self._cluster = None

    @property
    def workers(self) -> int:
        """Worker count: as given, or (scheduler address, none given) the cluster's threads, on first use."""
        if self._workers is None:
            info = self._get_client().scheduler_info()
            self._workers = max(1, sum(int(w.get("nthreads", 1)) for w in info["workers"].values()))
        return self._workers

    def _get_client(self):
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.config.address:
                self._client = Client(self.config.address)
            else:
                mem = f"{self.config.memory_limit_gb}GB" if self.config.memory_limit_gb else "auto"
                self._cluster = LocalCluster(
                    n_workers=self._workers,
                    threads_per_worker=self.config.threads_per_worker,
                    processes=True,
                    dashboard_address=None,
                    memory_limit=mem,
                )
                self._client = Client(self._cluster)
        return self._client

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Run one task per item on the cluster; results keep the order of ``items``.

        Raises:
            JobFailed: When a task raised (after every task has ended), naming its key and item.
        """
        from distributed import wait

        items = list(items)
        if not items:
            return []
        client = self._get_client()
        futures = client.map(fn, items, pure=False)
        wait(futures)
        bad = [(i, f) for i, f in enumerate(futures) if f.status != "finished"]
        if bad:
            i, f = bad[0]
            err = f.exception() if f.status == "error" else None
            detail = f"{type(err).__name__}: {err}" if err is not None else f"status {f.status}"
            where = self.config.address or "a LocalCluster"
            raise JobFailed(
                f"dask task {f.key} (item {i} of {len(items)}, {_describe(fn)}) failed "
                f"on {where}: {detail}. Worker logs: client.get_worker_logs(). {len(bad)} of "
                f"{len(items)} tasks failed; finished work recorded by the caller is kept and the same "
                "command resumes.",
                job_id=str(f.key),
                items=[j for j, _ in bad],
            ) from err
        return client.gather(futures)

    def close(self) -> None:
        """Close the client and the LocalCluster it started (idempotent)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------
# Registry and command line
# --------------------------------------------------------------------------------------------------
EXECUTORS: dict[str, Callable[..., Any]] = {}


def register_executor(name: str, factory: Callable[..., Any]) -> Callable[..., Any]:
    """Register an executor factory ``factory(workers=None, **kwargs)`` (refuses duplicates)."""
    return register(EXECUTORS, "executor", name, factory)


def get_executor(name: str = "inprocess", workers: int | None = None, **kwargs: Any) -> Any:
    """Build an executor by name.

    Args:
        name: One of :data:`EXECUTORS` (``inprocess``, ``process``, ``submitit``, ``dask``).
        workers: Number of workers (>= 1); ``None`` uses every CPU this process may use.
        **kwargs: Passed to the executor's constructor (``config=`` or config fields for the cluster
            executors).

    Returns:
        An object with ``map(fn, items) -> list`` (order preserved), ``close()``, and ``workers``.

    Raises:
        ValueError: On an unknown name or invalid ``workers``.
    """
    if workers is not None:
        check_int("workers", workers, 1)
    return lookup(EXECUTORS, "executor", name)(workers=workers, **kwargs)


def open_executor(executor: Any, workers: int | None) -> tuple[Any, bool]:
    """The executor a Python API call asked for, and whether the call owns it (and must close it).

    Args:
        executor: An open executor object (used as is, not owned) or a name for :func:`get_executor`.
        workers: Workers for a named executor (``None``: the executor's default).

    Returns:
        ``(executor, owned)``.

    Raises:
        ValueError: On an unknown name, bad ``workers``, or ``workers > 1`` with ``inprocess`` (a loop
            has one worker: the caller meant a pool and must say so with ``executor="process"``).
    """
    if not isinstance(executor, str):
        return executor, False
    if workers is not None:
        check_int("workers", workers, 1)
        if workers > 1 and executor == "inprocess":
            raise ValueError(
                f"workers={workers} needs a parallel executor: pass executor='process' (a local process "
                "pool; a script must then start it under `if __name__ == \"__main__\":`), 'submitit' or "
                "'dask'; the default 'inprocess' runs in this process"
            )
    return get_executor(executor, workers), True


register_executor("inprocess", InProcessExecutor)
register_executor("process", ProcessExecutor)
register_executor("submitit", SubmititExecutor)
register_executor("dask", DaskExecutor)

#: Options of the cluster executors, by executor name, with their flag prefix.
EXECUTOR_CONFIGS: dict[str, tuple[type, str]] = {
    "submitit": (SubmititConfig, "slurm_"),
    "dask": (DaskConfig, "dask_"),
}


def add_executor_arguments(parser: argparse.ArgumentParser, *, workers: bool = True) -> None:
    """Add ``--executor``, ``--workers`` (unless ``workers=False``), ``--slurm-*`` and ``--dask-*`` flags."""
    parser.add_argument(
        "--executor",
        default="process",
        help="where the work runs: process (default, a local pool), inprocess, submitit (SLURM, or local "
        "job processes; extra [cluster]), dask (dask.distributed; extra [dask])",
    )
    if workers:
        parser.add_argument("--workers", type=int, default=None, help="workers (default: all CPUs)")
    for cls, prefix in EXECUTOR_CONFIGS.values():
        add_config_arguments(parser, cls, prefix=prefix)


def executor_from_args(args: argparse.Namespace) -> Any:
    """The executor the flags of :func:`add_executor_arguments` describe (the caller closes it).

    Raises:
        ValueError: On an unknown name, bad ``--workers``, a bad option, or a ``--slurm-*``/``--dask-*``
            flag given for another executor (it would be silently ignored).
    """
    name = args.executor
    kwargs: dict[str, Any] = {}
    for other, (cls, prefix) in EXECUTOR_CONFIGS.items():
        given = [f.name for f in dataclasses.fields(cls) if getattr(args, prefix + f.name, None) is not None]
        if other == name:
            kwargs["config"] = config_from_namespace(cls, args, prefix=prefix)
            if cls is SubmititConfig and not kwargs["config"].folder and getattr(args, "runs_root", None):
                # Next to the runs: shared with the compute nodes wherever the runs are.
                folder = os.path.join(str(args.runs_root), "submitit")
                kwargs["config"] = dataclasses.replace(kwargs["config"], folder=folder)
        elif given:
            flags = ", ".join("--" + (prefix + g).replace("_", "-") for g in given)
            raise ValueError(f"{flags} only apply to --executor {other}, not {name!r}")
    return get_executor(name, getattr(args, "workers", None), **kwargs)
