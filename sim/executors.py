"""Executors that run a picklable top-level function over a list of work items (a registry).

Every executor has ``.map(fn, items) -> list`` that returns results in the order of ``items``, plus
``close()`` and context-manager support. Results never depend on which executor runs them: the Monte
Carlo engine derives each trial's random stream from a key, not from the worker (see ``sim.coverage``).

* ``inprocess``: a plain loop in this process (debugging, tests, tiny jobs).
* ``process`` (default): a ``concurrent.futures.ProcessPoolExecutor`` in a ``forkserver`` context
  (``spawn`` where forkserver is unavailable), never ``fork``: forking a process that holds threads
  (torch, BLAS) can deadlock. The pool is created on first use and reused until ``close()``.
* ``submitit``: submitit's ``AutoExecutor`` (SLURM when available, otherwise its local executor); an
  optional extra (``pip install slth-toolkit[cluster]``).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from theory.support.registry import lookup, register
from theory.support.validate import check_int


def default_workers() -> int:
    """Number of CPUs this process may use (its affinity mask where the OS reports one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


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
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return self._pool

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Apply ``fn`` to each item in worker processes; results keep the order of ``items``."""
        items = list(items)
        if not items:
            return []
        if self.workers == 1:
            # One worker gains nothing from a pool but pays its start-up and pickling; results are the
            # same either way (keyed random streams).
            return [fn(item) for item in items]
        pool = self._get_pool()
        futures = [pool.submit(fn, item) for item in items]
        return [f.result() for f in futures]

    def close(self) -> None:
        """Shut the pool down (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SubmititExecutor:
    """submitit's ``AutoExecutor``: SLURM job arrays on a cluster, local processes elsewhere.

    Args:
        workers: Maximum number of array tasks running at once (``slurm_array_parallelism``).
        folder: Where submitit keeps job logs and pickles (a temporary folder by default).
        cluster: ``None`` lets submitit choose (SLURM if present); ``"local"`` or ``"debug"`` force one.
        **parameters: Passed to ``update_parameters`` (e.g. ``timeout_min``, ``slurm_partition``).
    """

    name = "submitit"

    def __init__(
        self,
        workers: int | None = None,
        *,
        folder: str | None = None,
        cluster: str | None = None,
        **parameters,
    ) -> None:
        try:
            import submitit
        except ImportError:
            raise ValueError(
                "executor 'submitit' needs the optional dependency: pip install 'slth-toolkit[cluster]'"
            ) from None
        self.workers = default_workers() if workers is None else check_int("workers", workers, 1)
        self.folder = folder or tempfile.mkdtemp(prefix="slth-submitit-")
        self._executor = submitit.AutoExecutor(folder=self.folder, cluster=cluster)
        params = {"timeout_min": 60, "slurm_array_parallelism": self.workers}
        params.update(parameters)
        self._executor.update_parameters(**params)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Submit one array job (one task per item) and wait for the results, in order."""
        items = list(items)
        if not items:
            return []
        jobs = self._executor.map_array(fn, items)
        return [job.result() for job in jobs]

    def close(self) -> None:
        """Nothing to release (jobs are awaited in ``map``)."""

    def __enter__(self) -> SubmititExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


EXECUTORS: dict[str, Callable[..., Any]] = {}


def register_executor(name: str, factory: Callable[..., Any]) -> Callable[..., Any]:
    """Register an executor factory ``factory(workers=None, **kwargs)`` (refuses duplicates)."""
    return register(EXECUTORS, "executor", name, factory)


def get_executor(name: str = "process", workers: int | None = None, **kwargs: Any) -> Any:
    """Build an executor by name.

    Args:
        name: One of :data:`EXECUTORS` (``inprocess``, ``process``, ``submitit``).
        workers: Number of workers (>= 1); ``None`` uses every CPU this process may use.
        **kwargs: Passed to the executor's constructor.

    Returns:
        An object with ``map(fn, items) -> list`` (order preserved), ``close()``, and ``workers``.

    Raises:
        ValueError: On an unknown name or invalid ``workers``.
    """
    if workers is not None:
        check_int("workers", workers, 1)
    return lookup(EXECUTORS, "executor", name)(workers=workers, **kwargs)


register_executor("inprocess", InProcessExecutor)
register_executor("process", ProcessExecutor)
register_executor("submitit", SubmititExecutor)
