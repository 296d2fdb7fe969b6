import json

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
    radius = float(x.flatten(1).norm(dim=1).max())
    assert ticket.measure(model, x) <= ticket.certified_bound(radius)


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
