import dataclasses
import json

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


# ---------------------------------------------------------------------------------------------- locks
def _hold_in_child(path, *, die: bool = False):
    """Fork a child that takes ``path``'s lock, reports, then sleeps (or SIGKILLs itself); returns its pid."""
    import os
    import signal

    from theory.plumbing import locks

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child touches no torch, no pytest state: lock, report, wait
        try:
            locks.forget_inherited()
            locks.acquire(path)
            os.write(write, b"1")
            if die:
                os.kill(os.getpid(), signal.SIGKILL)
            import time

            time.sleep(30)
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.close(read)
    return pid


def _end(pid):
    import os
    import signal

    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def test_a_second_process_is_told_the_run_is_in_use_naming_the_holder(tmp_path):
    from theory.plumbing import locks

    run = RunDir(tmp_path / "r", {"k": 1})
    pid = _hold_in_child(run.path)
    try:
        with pytest.raises(locks.RunInUse) as err:
            run.open()
        text = str(err.value)
        assert f"run {run.path} is in use by process {pid} on " in text and "--wait" in text
        assert not (run.path / "config.json").exists()  # nothing written by the refused process
    finally:
        _end(pid)
    assert run.open().is_open  # the holder is gone: the kernel released its lock


def test_a_lock_of_a_killed_process_is_never_stale(tmp_path):
    from theory.plumbing import locks

    path = tmp_path / "r"
    pid = _hold_in_child(path, die=True)
    os_status = __import__("os").waitpid(pid, 0)[1]
    assert __import__("os").WTERMSIG(os_status) == 9
    assert locks.holder(path)["pid"] == pid  # its note is still there, the lock is not
    run = RunDir(path, {"k": 1}).open()
    assert locks.held(path) and locks.holder(path)["pid"] != pid
    run.release()
    assert not locks.held(path)


def test_wait_takes_the_lock_once_the_holder_exits(tmp_path):
    import threading

    from theory.plumbing import locks

    path = tmp_path / "r"
    pid = _hold_in_child(path)
    timer = threading.Timer(0.3, _end, args=(pid,))
    timer.start()
    try:
        locks.acquire(path, wait=True)
        assert locks.held(path)
    finally:
        timer.join()
        locks.release(path)


def test_the_cli_says_in_use_with_exit_2_and_does_no_work(tmp_path, capsys):
    from figures.cli import main as slth
    from networks.training import TrainConfig
    from networks.training.trainer import run_path

    cfg = TrainConfig(model="mlp", dataset="digits", hidden=(8,), batch_size=512, epochs=1, method="ep")
    path = run_path(tmp_path, "train", cfg)
    pid = _hold_in_child(path)
    argv = ["train", "--runs-root", str(tmp_path), "--quiet", "--method", "ep", "--model", "mlp"]
    argv += ["--dataset", "digits", "--hidden", "8", "--batch-size", "512", "--epochs", "1"]
    try:
        assert slth(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"is in use by process {pid}" in err and str(path) in err, err
        assert sorted(p.name for p in path.iterdir()) == [".lock"]  # no checkpoint, no metrics
    finally:
        _end(pid)
    assert slth(argv) == 0 and (path / "DONE").exists()


def test_done_lists_every_file_and_a_changed_one_undoes_it(tmp_path, capsys):
    run = RunDir(tmp_path / "r", {"k": 1}).open()
    run.write_json("final.json", {"x": 1})
    (run.path / "cells").mkdir()
    (run.path / "cells" / "c.json").write_text("{}")
    run.mark_done()
    listed = json.loads((run.path / "DONE").read_text())["files"]
    assert sorted(listed) == ["cells/c.json", "config.json", "final.json"]
    assert RunDir(run.path, {"k": 1}).done
    (run.path / "cells" / "c.json").write_text("{garbage")
    again = RunDir(run.path, {"k": 1})
    assert not again.done
    err = capsys.readouterr().err
    assert (
        "cells/c.json: content changed since the run was done" in err and "moved to c.json.corrupt-1" in err
    )
    assert (run.path / "DONE.corrupt-1").exists() and not (run.path / "DONE").exists()


def test_stale_temporaries_go_when_the_lock_is_taken(tmp_path):
    (tmp_path / "r" / "cells").mkdir(parents=True)
    stale = [tmp_path / "r" / ".final.json.abc.tmp", tmp_path / "r" / "cells" / ".c.json.x.tmp"]
    for p in stale:
        p.write_text("half")
    RunDir(tmp_path / "r", {"k": 1}).lock().release()
    assert not any(p.exists() for p in stale)
