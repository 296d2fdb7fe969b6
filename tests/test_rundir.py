import dataclasses

import pytest

from theory.plumbing.rundir import RunDir


@dataclasses.dataclass(frozen=True)
class Cfg:
    a: int = 1
    b: float = 0.5


def test_open_writes_config_env_and_refuses_a_different_config(tmp_path):
    run = RunDir.for_config(tmp_path, "exp", Cfg(a=2), seed=3, extra={"experiment": "exp"}).open()
    assert run.path.parent.parent == tmp_path / "exp" and run.path.name == "seed_3"
    assert run.read_json("config.json") == {"experiment": "exp", "a": 2, "b": 0.5}
    assert "python" in run.read_json("env.json")
    assert not run.done
    run.write_json("final.json", {"x": 1})
    run.mark_done()
    assert RunDir(run.path, Cfg(a=2), extra={"experiment": "exp"}).open().done
    with pytest.raises(ValueError, match=r"a: 2 -> 5"):
        RunDir(run.path, Cfg(a=5), extra={"experiment": "exp"}).open()


def test_check_only_open_writes_nothing(tmp_path):
    run = RunDir(tmp_path / "r", {"k": 1}).open(write=False)
    assert not run.path.exists()
    with pytest.raises(ValueError, match="dataclass instance or a mapping"):
        RunDir(tmp_path, 3)


def test_is_open_after_a_writing_open_only(tmp_path):
    run = RunDir(tmp_path / "r", {"k": 1})
    assert not run.is_open
    run.open(write=False)
    assert not run.is_open
    run.open()
    assert run.is_open
