"""Practice sweeps: config plans, records, resume and honest evidence verdicts (tiny scale, CPU)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sim import practice
from theory.support.configs import config_hash
from theory.support.records import read_csv


@pytest.fixture
def tiny_scale(monkeypatch):
    from networks.training import TrainConfig

    def base(scale):
        cfg = TrainConfig(model="mlp", dataset="digits", hidden=(16,), epochs=3, batch_size=256, lr=0.5)
        return cfg, (0, 1, 2)

    monkeypatch.setattr(practice, "_base", base)


@pytest.mark.parametrize("name", sorted(practice.PRACTICE_SWEEPS))
@pytest.mark.parametrize("scale", ["quick", "full"])
def test_every_sweep_has_three_seeds_per_variant_and_distinct_runs(name, scale):
    cfgs = practice.sweep_configs(name, scale)
    seeds: dict[tuple[str, str], set[int]] = {}
    for variant, cfg in cfgs:
        key = (variant, config_hash(dataclasses.replace(cfg, seed=0)))
        seeds.setdefault(key, set()).add(cfg.seed)
    assert all(len(s) >= 3 for s in seeds.values())
    assert len({(config_hash(c)) for _, c in cfgs}) == len(cfgs)


def test_unknown_sweep_and_scale_are_refused():
    with pytest.raises(ValueError, match=r"valid practice sweeps: .*ep-dying"):
        practice.sweep_configs("nope")
    with pytest.raises(ValueError, match=r"scale must be one of quick, full"):
        practice.sweep_configs("rigl", "huge")


def test_rigl_sweep_writes_runs_summary_evidence_and_reuses_runs(tiny_scale, tmp_run_root, monkeypatch):
    paths = practice.run_sweep("rigl", tmp_run_root, executor="inprocess", quiet=True)
    assert len(paths) == 12 and all((p / "DONE").exists() for p in paths)
    rows = read_csv(tmp_run_root / "rigl" / "summary.csv")
    assert {r["method"] for r in rows} == {"rigl", "rigl2"}
    assert {round(1 - float(r["density"]), 6) for r in rows} == {0.8, 0.9}
    assert all(0 <= int(r["test_correct"]) <= int(r["test_total"]) for r in rows)
    ev = json.loads((tmp_run_root / "evidence" / "rigl-second-order.json").read_text())
    assert (
        ev["verdict"] in ("consistent", "inconsistent", "inconclusive") and ev["claim"] == "rigl-second-order"
    )
    # Re-running reuses every finished run (no Trainer is built).
    from networks.training import trainer as trainer_mod

    def refuse(*a, **k):
        raise AssertionError("finished run retrained")

    monkeypatch.setattr(trainer_mod.Trainer, "__init__", refuse)
    assert practice.run_sweep("rigl", tmp_run_root, executor="inprocess", quiet=True) == paths


def test_pgd_sweep_writes_the_grid_table(tiny_scale, tmp_run_root, monkeypatch):
    from networks.training import TrainConfig

    base = TrainConfig(
        method="pgd_ep",
        model="mlp",
        dataset="digits",
        hidden=(16,),
        epochs=1,
        batch_size=256,
        pgd_densities=(1.0, 0.3),
        pgd_epochs=1,
    )
    plan = [(f"eps={e}", dataclasses.replace(base, pgd_eps=e)) for e in (0.0, 0.05)]
    sweep = dataclasses.replace(
        practice.PRACTICE_SWEEPS["pgd-ep"], configs=lambda scale: practice._seeded(plan, (0, 1, 2))
    )
    monkeypatch.setitem(practice.PRACTICE_SWEEPS, "pgd-ep", sweep)
    practice.run_sweep("pgd-ep", tmp_run_root, executor="inprocess", quiet=True)
    grid = read_csv(tmp_run_root / "pgd-ep" / "grid.csv")
    assert len(grid) == 2 * 3 * 2
    assert {float(r["sparsity"]) for r in grid} == {0.0, 0.7}
    assert sum(r["selected"] == "True" for r in grid) == 6
    assert (tmp_run_root / "evidence" / "pgd-ep-perturbation-helps.json").exists()


def test_iep_sweep_cycles_table_and_evidence(tiny_scale, tmp_run_root):
    practice.run_sweep("iep", tmp_run_root, executor="inprocess", quiet=True)
    cycles = read_csv(tmp_run_root / "iep" / "cycles.csv")
    soft = [
        r for r in cycles if r["variant"] == "soft" and r["seed"] == "0" and r["target_density"] == "0.05"
    ]
    assert [int(r["cycle"]) for r in soft] == [0, 1, 2]
    dens = [float(r["cycle_density"]) for r in soft]
    assert dens == sorted(dens, reverse=True) and dens[-1] == pytest.approx(0.05, abs=0.01)
    ev = json.loads((tmp_run_root / "evidence" / "iep-soft-beats-ep.json").read_text())
    assert ev["verdict"] in ("consistent", "inconsistent", "inconclusive")


# --------------------------------------------------------------------------------------- verdicts
def _rows(groups):
    return [
        {"variant": v, "method": m, "density": d, "test_acc": a, "dying_ratio": dr, "error": "", "seed": s}
        for (v, m, d), vals in groups.items()
        for s, (a, dr) in enumerate(vals)
    ]


def _verdict(tmp_run_root, claim):
    return json.loads((tmp_run_root / "evidence" / f"{claim}.json").read_text())["verdict"]


def test_dying_verdicts_follow_the_seed_ranges(tmp_run_root):
    sep = {
        ("ep", "ep", 0.1): [(0, 0.8), (0, 0.82), (0, 0.81)],
        ("ep", "ep", 0.7): [(0, 0.2), (0, 0.21), (0, 0.19)],
    }
    practice._evidence_dying(tmp_run_root, _rows(sep))
    assert _verdict(tmp_run_root, "ep-dying-ratio-grows") == "consistent"
    overlap = {
        ("ep", "ep", 0.1): [(0, 0.5), (0, 0.7), (0, 0.6)],
        ("ep", "ep", 0.5): [(0, 0.45), (0, 0.55), (0, 0.4)],
    }
    practice._evidence_dying(tmp_run_root, _rows(overlap))
    assert _verdict(tmp_run_root, "ep-dying-ratio-grows") == "inconclusive"
    alive = {
        ("ep", "ep", 0.1): [(0, 0.1), (0, 0.1), (0, 0.1)],
        ("ep", "ep", 0.5): [(0, 0.0), (0, 0.0), (0, 0.0)],
    }
    practice._evidence_dying(tmp_run_root, _rows(alive))
    assert _verdict(tmp_run_root, "ep-dying-ratio-grows") == "inconsistent"


def test_iep_and_rigl_verdicts(tmp_run_root):
    better = {
        ("soft", "iep", 0.1): [(0.9, 0.1)] * 3,
        ("ep", "ep", 0.1): [(0.8, 0.5), (0.85, 0.5), (0.7, 0.5)],
    }
    practice._evidence_iep(tmp_run_root, _rows(better))
    assert _verdict(tmp_run_root, "iep-soft-beats-ep") == "consistent"
    mixed = {("soft", "iep", 0.1): [(0.9, 0.1), (0.6, 0.1)], ("ep", "ep", 0.1): [(0.8, 0.5), (0.7, 0.5)]}
    practice._evidence_iep(tmp_run_root, _rows(mixed))
    assert _verdict(tmp_run_root, "iep-soft-beats-ep") == "inconclusive"
    worse = {("rigl2", "rigl2", 0.2): [(0.5, 0)] * 3, ("rigl", "rigl", 0.2): [(0.6, 0)] * 3}
    practice._evidence_rigl(tmp_run_root, _rows(worse))
    assert _verdict(tmp_run_root, "rigl-second-order") == "inconsistent"


def test_practice_subcommand_parses_and_refuses_unknown_names():
    import argparse

    parser = argparse.ArgumentParser()
    practice.register(parser.add_subparsers())
    args = parser.parse_args(["practice", "rigl", "iep", "--scale", "full", "--workers", "1"])
    assert args.names == ["rigl", "iep"] and args.scale == "full" and args.workers == 1
    bad = parser.parse_args(["practice", "nope"])
    with pytest.raises(ValueError, match="valid practice sweeps"):
        bad.handler(bad)
