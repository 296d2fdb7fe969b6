"""Corrupted records, --strict, full and read-only disks, and checkpoints from elsewhere (issue 14)."""

from __future__ import annotations

import errno
import json
import os
import tempfile

import pytest
import torch

from figures.cli import main as slth
from networks.training import TrainConfig, train
from networks.training import trainer as trainer_mod
from theory.ledger import scan_evidence, write_evidence
from theory.plumbing import records
from theory.plumbing.rundir import RunDir

TINY_RSS = [
    "--half-widths", "1.0", "--etas", "0.1", "--ns", "2,4,6", "--trials", "30",
    "--test-etas", "0.1", "--test-trials", "30", "--calibration-trials", "10",
]  # fmt: skip
TINY_TRAIN = dict(
    model="mlp", dataset="digits", hidden=(8,), batch_size=512, epochs=2, log_every=1, method="ep"
)


@pytest.fixture(autouse=True)
def _not_strict():
    records.set_strict(False)
    yield
    records.set_strict(False)
    records.reset_write_count()


def _sweep(root, *extra):
    return slth(["run", "rss-success", "--runs-root", str(root), "--quiet", *TINY_RSS, *extra])


def _sweep_dir(root):
    (run,) = (root / "rss-success").glob("*/results.csv")
    return run.parent


def _cells(run):
    return {p.name: p.read_text() for p in sorted((run / "cells").glob("*.json"))}


def test_garbage_cell_of_a_finished_sweep_is_moved_aside_and_recomputed(tmp_path, capsys):
    assert _sweep(tmp_path) == 0
    run = _sweep_dir(tmp_path)
    before, results = _cells(run), (run / "results.csv").read_text()
    victim = run / "cells" / sorted(before)[1]
    victim.write_text("{garbage")
    capsys.readouterr()
    assert _sweep(tmp_path) == 0
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and str(victim) in warnings[0] and "moved to" in warnings[0], err
    assert (victim.parent / f"{victim.name}.corrupt-1").read_text() == "{garbage"  # kept, not deleted
    assert _cells(run) == before and (run / "results.csv").read_text() == results  # recomputed, same bits


def test_edited_cell_of_an_unfinished_sweep_fails_its_hash(tmp_path, capsys):
    from sim.store import CELL_SCHEMA, RunStore

    store = RunStore(RunDir(tmp_path / "r", {"k": 1})).open()
    store.save_cell("c1", {"trials": 2, "errors": [0.1, 0.2], "tols": [0.0, 0.0]})
    assert store.load_cell("c1")["errors"] == [0.1, 0.2]
    data = json.loads(store.cell_path("c1").read_text())
    assert data["_record"]["schema"] == CELL_SCHEMA
    data["errors"][0] = 0.0  # valid JSON, wrong content: only the hash can tell
    store.cell_path("c1").write_text(json.dumps(data))
    assert store.load_cell("c1") is None
    assert "content does not match its hash" in capsys.readouterr().err
    assert not store.cell_path("c1").exists() and (store.cells_dir / "c1.json.corrupt-1").exists()


def test_strict_refuses_instead_of_moving(tmp_path, capsys):
    assert _sweep(tmp_path) == 0
    run = _sweep_dir(tmp_path)
    victim = run / "cells" / sorted(_cells(run))[0]
    victim.write_text("{garbage")
    capsys.readouterr()
    assert _sweep(tmp_path, "--strict") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(victim) in err and "--strict: refusing to go on" in err, err
    assert victim.read_text() == "{garbage" and not list(victim.parent.glob("*.corrupt-*"))


def test_corrupt_evidence_is_reported_and_moved_or_refused(tmp_path):
    path = write_evidence(tmp_path, "some-claim", run=None, verdict="consistent", summary="s", details={})
    path.write_text(path.read_text().replace("consistent", "inconsistent"))
    records.set_strict(True)
    with pytest.raises(records.RecordError, match="content does not match its hash"):
        scan_evidence(tmp_path)
    records.set_strict(False)
    found, problems = scan_evidence(tmp_path)
    assert found == {} and "moved to some-claim.json.corrupt-1" in problems["some-claim"]


def test_full_disk_fails_cleanly_keeps_the_old_record_and_resumes(tmp_path, monkeypatch, capsys):
    target = tmp_path / "r.json"
    records.write_record(target, {"v": 1}, "t/1")
    monkeypatch.setenv(records.FAULT_ENOSPC_ENV, "1")
    records.reset_write_count()
    with pytest.raises(
        OSError, match=r"r.json \(No space left on device\): this record was not saved"
    ) as err:
        records.write_record(target, {"v": 2}, "t/1")
    assert err.value.errno == errno.ENOSPC and "previous version is intact" in str(err.value)
    assert records.read_record(target, "t/1") == {"v": 1} and os.listdir(tmp_path) == ["r.json"]
    monkeypatch.delenv(records.FAULT_ENOSPC_ENV)

    # A sweep on a disk that fills up at its 6th write: one clear line, then a re-run resumes.
    ref = tmp_path / "ref"
    assert _sweep(ref) == 0
    root = tmp_path / "full"
    monkeypatch.setenv(records.FAULT_ENOSPC_ENV, "6")
    monkeypatch.setenv(records.FAULT_LOG_ENV, str(tmp_path / "writes.log"))
    records.reset_write_count()
    capsys.readouterr()
    assert _sweep(root) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and "was not saved" in err, err
    saved = (tmp_path / "writes.log").read_text().split()
    assert len(saved) == 5
    monkeypatch.delenv(records.FAULT_ENOSPC_ENV)  # space freed
    assert _sweep(root) == 0
    run, ref_run = _sweep_dir(root), _sweep_dir(ref)
    assert (
        _cells(run) == _cells(ref_run)
        and (run / "results.csv").read_bytes() == (ref_run / "results.csv").read_bytes()
    )
    again = (tmp_path / "writes.log").read_text().split()[5:]
    assert not set(again) & {p for p in saved if "/cells/" in p}  # the saved cells were not recomputed
    assert not [p for p in run.rglob(".*.tmp")]


def test_read_only_runs_root_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o555)
    if os.access(root, os.W_OK):  # running as root: permissions do not stop us, simulate EROFS
        real = tempfile.mkstemp

        def read_only(*args, **kwargs):
            if str(kwargs.get("dir", "")).startswith(str(root)):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            return real(*args, **kwargs)

        monkeypatch.setattr(records.tempfile, "mkstemp", read_only)
    try:
        assert _sweep(root) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"runs root {root} is not writable" in err, err
        assert "nothing was run" in err and os.listdir(root) == []
    finally:
        root.chmod(0o755)


def _stopped_run(root):
    cfg = TrainConfig(**TINY_TRAIN)
    res = train(cfg, root, quiet=True, stop_after_steps=2)
    assert res.status == "stopped"
    return cfg, res.run_dir / "checkpoint.pt"


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_tampered_checkpoint_is_refused_and_nothing_runs(tmp_path, capsys):
    cfg, ckpt = _stopped_run(tmp_path)
    marker = tmp_path / "pwned"
    state = torch.load(ckpt, weights_only=True)
    state["method"] = _Payload(marker)
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match="holds pickled code") as err:
        train(cfg, tmp_path, quiet=True)
    assert "io.open" in str(err.value) and "weights_only loading did not run it" in str(err.value)
    assert not marker.exists()
    argv = ["train", "--runs-root", str(tmp_path), "--quiet", "--method", "ep", "--model", "mlp"]
    argv += [
        "--dataset",
        "digits",
        "--hidden",
        "8",
        "--batch-size",
        "512",
        "--epochs",
        "2",
        "--log-every",
        "1",
    ]
    capsys.readouterr()
    assert slth(argv) == 2
    assert "holds pickled code" in capsys.readouterr().err and not marker.exists()
    assert ckpt.exists()  # refused, not moved: the user decides


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.update(toolkit="0.0.1"), r"another toolkit version.*toolkit: '0.0.1' -> '"),
        (lambda s: s["config"].update(lr=0.5), r"different config.*lr: 0.5 -> 0.1"),
        (
            lambda s: s["architecture"].update({"fc1.weight": [3, 3]}),
            r"another architecture.*fc1.weight: \[3, 3\] -> \[8, 64\]",
        ),
        (lambda s: s.update(format=7), r"checkpoint format 7 is not 1"),
    ],
    ids=["version", "config", "architecture", "format"],
)
def test_checkpoint_from_elsewhere_is_refused_with_the_difference(tmp_path, edit, message):
    cfg, ckpt = _stopped_run(tmp_path)
    state = torch.load(ckpt, weights_only=True)
    if "fc1.weight" not in state["architecture"]:
        pytest.fail(f"unexpected parameter names {sorted(state['architecture'])}")
    edit(state)
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match=message):
        train(cfg, tmp_path, quiet=True)


def test_corrupt_checkpoint_is_moved_aside_and_the_run_starts_over(tmp_path, capsys):
    cfg, ckpt = _stopped_run(tmp_path)
    state = torch.load(ckpt, weights_only=True)
    state["position"]["step"] = 1  # bits changed after writing: the digest no longer matches
    torch.save(state, ckpt)
    straight = train(cfg, tmp_path / "ref", quiet=True)
    redone = train(cfg, tmp_path, quiet=True)
    assert "content does not match its digest" in capsys.readouterr().err
    assert (ckpt.parent / "checkpoint.pt.corrupt-1").exists()
    assert redone.final["state_digests"] == straight.final["state_digests"]
    ckpt.write_bytes(b"{garbage")  # unreadable: also moved aside (the run is done, so first undo DONE)
    (ckpt.parent / "DONE").unlink()
    records.set_strict(True)
    with pytest.raises(records.RecordError, match="--strict"):
        train(cfg, tmp_path, quiet=True)
    assert trainer_mod.run_path(tmp_path, "train", cfg) == ckpt.parent
