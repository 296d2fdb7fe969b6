import json

import numpy as np
import pytest
import torch

from networks.construct import construct_ticket
from networks.construct.cli import ConstructConfig, run_construct
from networks.construct.targets import load_pensia_fc2, train_preset


@pytest.mark.parametrize(("preset", "method"), [("digits-mlp", "pensia"), ("digits-cnn", "dacunha")])
def test_trained_target_keeps_accuracy(preset, method):
    model, ds = train_preset(preset, seed=0)
    x = ds.x_test.reshape(len(ds.x_test), *ds.in_shape)
    ticket = construct_ticket(
        model,
        eps=0.01,
        method=method,
        budget="per-weight",
        candidates_per_weight=21,
        nonnegative_input=True,
        input_shape=tuple(ds.in_shape),
        seed=0,
    )
    with torch.no_grad():
        target_acc = 100.0 * float((model(x).argmax(1) == ds.y_test).float().mean())
    assert target_acc > 85
    assert abs(ticket.accuracy(x, ds.y_test) - target_acc) <= 0.1
    # Non-negative inputs: the certificate covers them; check on the (scaled) test images.
    radius = float(x.flatten(1).double().norm(dim=1).max())
    assert ticket.measure(model, x, radius=radius) <= ticket.certified_bound(radius)


def test_cli_run_directory_and_resume(tmp_run_root):
    cfg = ConstructConfig(
        target="digits-mlp", eps=0.01, budget="per-weight", candidates_per_weight=12, nonnegative_input=True
    )
    out = run_construct(cfg, runs_root=tmp_run_root, quiet=True)
    for name in ("config.json", "env.json", "ticket.pt", "certificate.json", "report.json", "target.pt"):
        assert (out / name).exists(), name
    report = json.loads((out / "report.json").read_text())
    for key in (
        "eps",
        "method",
        "kept_ratio",
        "certified_bound",
        "measured_error",
        "target_acc",
        "ticket_acc",
        "candidates_per_weight",
        "failed_weights",
    ):
        assert key in report
    state = torch.load(out / "ticket.pt", weights_only=True)
    assert state["layer0.mask2"].dtype == torch.bool
    stamp = (out / "report.json").stat().st_mtime_ns
    assert run_construct(cfg, runs_root=tmp_run_root, quiet=True) == out
    assert (out / "report.json").stat().st_mtime_ns == stamp


def test_cli_entry_points(tmp_run_root):
    import argparse

    from networks.construct import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--target", "nope", "--runs-root", str(tmp_run_root)])
    with pytest.raises(ValueError, match="preset"):
        cli.run(args)


def test_pensia_fc2_beats_published_kept_ratio(pensia_target_path):
    target = load_pensia_fc2(pensia_target_path)
    ticket = construct_ticket(
        target, eps=0.01, budget="per-weight", candidates_per_weight=21, input_shape=(1, 28, 28), seed=0
    )
    assert ticket.target_weights == 397_000
    assert ticket.kept_ratio < 9.39
    # Failures are few and listed with their errors.
    assert len(ticket.failed_weights) < 100
    x = torch.randn(64, 1, 28, 28, dtype=torch.float64)
    x = x / x.flatten(1).norm(dim=1)[:, None, None, None]
    assert ticket.measure(target, x) <= ticket.certified_bound()


def _small_mlp(seed: int) -> torch.nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3, bias=False)
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    return net


def test_target_files_round_trip(tmp_path):
    from networks.construct.targets import load_target_file, save_target

    mlp = _small_mlp(0)
    x = torch.rand(7, 6)
    # the toolkit's own format, a bare state_dict, and an npz of the same keys
    save_target(mlp, tmp_path / "mlp.pt")
    torch.save(mlp.state_dict(), tmp_path / "bare.pt")
    np.savez(tmp_path / "bare.npz", **{k: v.numpy() for k, v in mlp.state_dict().items()})
    for name in ("mlp.pt", "bare.pt", "bare.npz"):
        model, shape = load_target_file(tmp_path / name)
        assert shape == (6,)
        torch.testing.assert_close(model(x), mlp(x), rtol=0, atol=0)

    gen = torch.Generator().manual_seed(1)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 3),
    )
    with torch.no_grad():
        for p in cnn.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    with pytest.raises(ValueError, match="input_shape"):
        save_target(cnn, tmp_path / "cnn.pt")
    save_target(cnn, tmp_path / "cnn.pt", input_shape=(1, 4, 4))
    model, shape = load_target_file(tmp_path / "cnn.pt")
    assert shape == (1, 4, 4)
    xi = torch.rand(5, 1, 4, 4)
    torch.testing.assert_close(model(xi), cnn(xi), rtol=0, atol=0)


def test_target_files_refuse_bad_content(tmp_path):
    from networks.construct.targets import load_target_file

    with pytest.raises(FileNotFoundError):
        load_target_file(tmp_path / "missing.pt")
    np.savez(tmp_path / "odd.npz", weights=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"<index>\.weight"):
        load_target_file(tmp_path / "odd.npz")
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(ValueError, match=r"\.pt, \.pth or \.npz"):
        load_target_file(tmp_path / "t.txt")

    import argparse

    # An arbitrary pickled object (any class outside torch's allow-list) must never be unpickled.
    torch.save({"obj": argparse.Namespace(a=1)}, tmp_path / "pickled.pt")
    with pytest.raises(ValueError, match="weights_only"):
        load_target_file(tmp_path / "pickled.pt")


def test_cli_constructs_a_user_file_and_notices_changes(tmp_path, tmp_run_root):
    from networks.construct.targets import save_target

    path = tmp_path / "target.pt"
    save_target(_small_mlp(0), path)
    cfg = ConstructConfig(target=str(path), eps=0.05, budget="per-weight", candidates_per_weight=10)
    out = run_construct(cfg, runs_root=tmp_run_root, quiet=True)
    report = json.loads((out / "report.json").read_text())
    assert report["certified_bound"] >= report["measured_error"]
    assert len(report["target_sha256"]) == 64
    save_target(_small_mlp(1), path)  # same path, different network
    with pytest.raises(ValueError, match="changed since the run"):
        run_construct(cfg, runs_root=tmp_run_root, quiet=True)


def test_cli_records_the_domain_and_paired_accuracy(tmp_run_root):
    cfg = ConstructConfig(
        target="digits-mlp", eps=0.01, budget="per-weight", candidates_per_weight=12, nonnegative_input=True
    )
    out = run_construct(cfg, runs_root=tmp_run_root, quiet=True)
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["input_domain"]["nonnegative"] is True
    assert "x >= 0" in cert["input_domain"]["description"]
    assert (
        cert["certified_bound_exact_arithmetic"] <= cert["certified_bound"] <= cert["certified_bound_float32"]
    )
    report = json.loads((out / "report.json").read_text())
    p = report["paired"]
    assert p["both_correct"] + p["target_only"] + p["ticket_only"] + p["both_wrong"] == p["n"]
    assert report["target_acc"] == pytest.approx(100.0 * (p["both_correct"] + p["target_only"]) / p["n"])
    assert report["ticket_acc"] == pytest.approx(100.0 * (p["both_correct"] + p["ticket_only"]) / p["n"])
    assert report["measured_error"] <= report["certified_bound_at_max_input_norm"]


def test_construct_targets_write_accuracy_evidence(tmp_run_root):
    from sim.construction import TargetsConfig
    from sim.experiments import get_experiment
    from theory.ledger import read_evidence
    from theory.rules import apply_rule

    cfg = TargetsConfig(targets=("digits-mlp",))
    get_experiment("construct-targets").execute(cfg, runs_root=tmp_run_root)
    rec = read_evidence(tmp_run_root)["construction-certificate.accuracy"]
    assert [t["target"] for t in rec["details"]["targets"]] == ["digits-mlp"]
    assert apply_rule(rec["rule_id"], rec["details"]).verdict == rec["verdict"]
