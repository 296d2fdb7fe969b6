"""Executors (registry contract, order) and the engine's bit-identical results across workers/order."""

from __future__ import annotations

import operator
import random

import numpy as np
import pytest

from sim.engine import CellSpec, run_cells, trial_inputs
from sim.executors import EXECUTORS, get_executor


def _make(name: str, workers: int | None = None):
    if name == "submitit":
        pytest.importorskip("submitit")
        return get_executor(name, workers, cluster="local")
    return get_executor(name, workers)


@pytest.mark.parametrize("name", sorted(EXECUTORS))
def test_registry_contract(name: str) -> None:
    with _make(name, 2) as ex:
        assert ex.workers >= 1
        assert ex.map(operator.neg, []) == []
        assert ex.map(operator.neg, [3, 1, 2]) == [-3, -1, -2]


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
    with pytest.raises(ValueError, match="inprocess, process, submitit"):
        get_executor("threads")
    with pytest.raises(ValueError, match="workers"):
        get_executor("process", 0)
    with pytest.raises(ValueError, match="workers"):
        get_executor("inprocess", 1.5)


def test_submitit_missing_is_a_clear_error() -> None:
    try:
        import submitit  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="cluster"):
            get_executor("submitit")
    else:
        pytest.skip("submitit is installed")


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
