import dataclasses

import pytest

from sim.experiments import Experiment


@dataclasses.dataclass(frozen=True)
class Cfg:
    n: int = 3


def _run(cfg, rundir, ctx):
    calls.append(cfg.n)
    rundir.write_json("values.json", {"values": list(ctx.executor.map(abs, range(-cfg.n, 0)))})


calls: list[int] = []


def test_execute_runs_once_then_reuses(tmp_path):
    exp = Experiment("toy", "a toy", Cfg, {"quick": Cfg(2), "full": Cfg(5)}, _run)
    calls.clear()
    first = exp.execute(scale="quick", runs_root=tmp_path)
    assert not first.reused and calls == [2]
    assert first.rundir.read_json("values.json") == {"values": [2, 1]}
    again = exp.execute(scale="default", runs_root=tmp_path)  # default falls back to quick
    assert again.reused and calls == [2]
    assert exp.preset("full", n=7) == Cfg(7)


def test_bad_experiments_are_refused():
    with pytest.raises(ValueError, match="presets must include"):
        Experiment("x", "x", Cfg, {"quick": Cfg()}, _run)
    with pytest.raises(ValueError, match="must be a Cfg"):
        Experiment("x", "x", Cfg, {"quick": Cfg(), "full": 3}, _run)
    with pytest.raises(ValueError, match="scale"):
        Experiment("x", "x", Cfg, {"quick": Cfg(), "full": Cfg(), "huge": Cfg()}, _run)
