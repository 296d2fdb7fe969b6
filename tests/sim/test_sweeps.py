"""SubsetSum sweeps as experiments: record contract, evidence, resume after a kill, CLI, registry contract."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from figures.cli import main
from sim.experiments import claim_covers, get_experiment
from theory.plumbing import records

REPO = Path(__file__).resolve().parents[2]

#: The SubsetSum sweeps (sim.sweeps registers them).
SWEEPS = ("rss-success", "rss-constant", "pssp-min-n", "rss-per-target", "xiong-thm1", "xiong-n90")


def _execute(name: str, cfg, root):
    return get_experiment(name).execute(cfg, runs_root=root, executor="inprocess")

CONTRACT = {
    "rss-success": {
        "distribution",
        "lo",
        "hi",
        "eta",
        "n",
        "perturbation",
        "successes",
        "trials",
        "p",
        "ci_low",
        "ci_high",
    },
    "rss-constant": {"lo", "hi", "criterion", "C", "C_low", "C_high"},
    "pssp-min-n": {
        "eta",
        "perturbation",
        "ratio",
        "n_min",
        "n90_low",
        "n90_high",
        "successes",
        "trials",
        "p",
        "ci_low",
        "ci_high",
    },
    "xiong-n90": {
        "threshold",
        "perturbation",
        "n_min",
        "n90_low",
        "n90_high",
        "n90_ratio",
        "calibration_n90",
        "predicted_aistats",
        "predicted_slides",
        "predicted_opt22",
    },
    "xiong-thm1": {
        "n",
        "eta",
        "ratio",
        "perturbation",
        "K",
        "bound",
        "failures",
        "trials",
        "p_fail",
        "ci_low",
        "ci_high",
        "vacuous",
        "violated",
    },
    "rss-per-target": {
        "n",
        "eta",
        "target",
        "failures",
        "trials",
        "p_fail",
        "mean_error",
        "mean_subset_size",
    },
}

TINY = {
    "rss-success": {
        "ns": (2, 4, 6, 8),
        "etas": (0.1, 0.01),
        "trials": 20,
        "test_etas": (0.1,),
        "test_trials": 20,
        "calibration_trials": 20,
    },
    "rss-constant": {
        "etas": (0.1, 0.03),
        "trials": 30,
        "resamples": 50,
        "lueker_etas": (0.03,),
        "lueker_trials": 20,
    },
    "pssp-min-n": {"etas": (0.05,), "ratios": (0.0, 2.0), "trials": 30, "n_max": 16},
    "xiong-thm1": {"ns": (6, 8), "ratios": (0.0, 0.1), "trials": 20, "calibration_trials": 20},
    "xiong-n90": {
        "thresholds": (0.05,),
        "perturbations": (0.0, 0.01, 0.5),
        "trials": 20,
        "calibration_trials": 20,
        "n_max": 12,
    },
    "rss-per-target": {"ns": (4, 8), "trials": 20},
}


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_registry_contract(name: str) -> None:
    exp = get_experiment(name)
    assert exp.run.__module__.startswith("sim.sweeps.")
    import theory.claims  # noqa: F401  (registers the built-in claims)
    from theory.ledger import CLAIMS as REGISTERED

    for evidence_id in exp.claims:
        assert any(claim_covers(evidence_id, c) for c in REGISTERED), evidence_id
    assert name in CONTRACT and name in TINY


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_records_and_evidence(name: str, tmp_run_root: Path) -> None:
    exp = get_experiment(name)
    cfg = exp.preset("quick", **TINY[name])
    res = _execute(name, cfg, tmp_run_root)
    out = res.output
    rows = records.read_csv(out.path / "results.csv")
    assert rows and CONTRACT[name] <= set(rows[0])
    assert records.read_json(out.path / "config.json")["experiment"] == name
    assert "python" in records.read_json(out.path / "env.json")
    # Every evidence id the experiment declares gets evidence, decided by its pre-registered rule.
    assert set(res.verdicts) == set(exp.claims)
    for evidence_id, verdict in res.verdicts.items():
        ev = records.read_json(tmp_run_root / "evidence" / f"{evidence_id}.json")
        assert ev["verdict"] == verdict in {"consistent", "inconsistent", "inconclusive"}
        assert ev["run"] == str(out.path)
        assert ev["rule_id"] == evidence_id and ev["rule"] and ev["detectable"]
    again = _execute(name, cfg, tmp_run_root)
    assert again.reused and again.verdicts == res.verdicts  # DONE: nothing recomputed
    (out.path / "DONE").unlink()
    resumed = _execute(name, cfg, tmp_run_root)  # not done: every finished cell is reused
    assert not resumed.reused and not resumed.output.computed
    assert records.read_csv(out.path / "results.csv") == rows


def test_rss_success_rows_are_consistent(tmp_run_root: Path) -> None:
    cfg = get_experiment("rss-success").preset("quick", **TINY["rss-success"])
    out = _execute("rss-success", cfg, tmp_run_root).output
    for r in out.rows:
        assert r["successes"] + r["failures"] + r["ambiguous"] == r["trials"]
        assert r["ci_low"] <= r["p"] <= r["ci_high"]
        # Fewer than the counting bound's candidates can never cover the window.
        if 2.0 ** r["n"] * 2 * r["eta"] < r["hi"] - r["lo"]:
            assert r["successes"] == 0


def test_pensia_evidence_is_falsifiable(tmp_run_root: Path) -> None:
    # eta = 0.3: the code form asks for n = ceil(3 log2(1/0.3)) = 6 candidates; the verdict is computed from
    # the measured failures by the rule, not fixed.
    cfg = get_experiment("rss-success").preset(
        "quick",
        ns=(6,),
        etas=(0.3,),
        half_widths=(1.0,),
        trials=20,
        test_etas=(0.3,),
        test_trials=40,
        calibration_trials=20,
    )
    _execute("rss-success", cfg, tmp_run_root)
    ev = records.read_json(tmp_run_root / "evidence" / "pensia-rss-log.json")
    code = [r for r in ev["details"]["rows"] if r["form"] == "code"]
    assert [r["n"] for r in code] == [6]
    from theory.stats import clopper_pearson

    low = max(clopper_pearson(r["failures"], r["trials"])[0] for r in ev["details"]["rows"])
    if low > 0.3:
        assert ev["verdict"] == "inconsistent"
    else:
        assert ev["verdict"] in {"consistent", "inconclusive"}


def test_paired_needed_n_matches_a_direct_scan_and_is_monotone() -> None:
    import numpy as np

    import theory
    from sim.sweeps.paired import PrefixSpec, prefix_inputs, trial_needed

    spec = PrefixSpec("coverage", "uniform", -0.5, 0.5, 12, 3)
    etas, ps = [0.05, 0.01], [0.0, 0.002, 0.05]
    for t in range(4):
        low, high = trial_needed(spec, t, etas, ps)
        assert low == high  # exact mode: no undecided trial
        x, _ = prefix_inputs(spec, t)
        for i, eta in enumerate(etas):
            got = high[i * len(ps) : (i + 1) * len(ps)]
            assert got == sorted(got, reverse=True)  # paired: never more candidates with more perturbation
            for j, p in enumerate(ps):
                errs = [theory.coverage_error(x[:n], lo=-0.5, hi=0.5, perturbation=p) for n in range(1, 13)]
                direct = next((n + 1 for n, e in enumerate(errs) if e <= eta), 13)
                assert got[j] == direct
    # Common random numbers: the candidate sequence does not depend on eta or the perturbation.
    assert np.array_equal(prefix_inputs(spec, 0)[0], prefix_inputs(spec, 0)[0])


def test_paired_results_do_not_depend_on_chunking(
    tmp_run_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from sim.executors import get_executor
    from sim.sweeps import paired

    spec = paired.PrefixSpec("target", "uniform", -1.0, 1.0, 10, 0)
    ex = get_executor("inprocess", None)
    a = paired.run_paired(spec, 12, [0.01], [0.0, 0.02], executor=ex)
    monkeypatch.setattr(paired, "CHUNK", 5)
    b = paired.run_paired(spec, 12, [0.01], [0.0, 0.02], executor=ex)
    assert np.array_equal(a.high, b.high) and np.array_equal(a.low, b.low)


def test_calibration_seed_must_differ(tmp_run_root: Path) -> None:
    cfg = get_experiment("xiong-n90").preset("quick", seed=1, calibration_seed=1)
    with pytest.raises(ValueError, match="calibration_seed"):
        _execute("xiong-n90", cfg, tmp_run_root)


KILL_SCRIPT = """
import dataclasses, sys
from sim.experiments import load_experiments
exp = load_experiments()["rss-success"]
cfg = dataclasses.replace(
    exp.presets["quick"], ns={ns}, etas=(0.1, 0.01), half_widths=(1.0,), trials={trials}, test_etas=(0.1,),
    test_trials={trials}, calibration_trials=20,
)
exp.execute(cfg, runs_root=sys.argv[1], executor="inprocess")
"""


def test_killed_sweep_resumes_without_recomputing(tmp_path: Path) -> None:
    ns, trials = (4, 6, 8, 10, 12, 13, 14), 120
    script = KILL_SCRIPT.format(ns=ns, trials=trials)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    killed_root = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", script, str(killed_root)], env=env, cwd=REPO)
    cfg = dataclasses.replace(
        get_experiment("rss-success").presets["quick"],
        ns=ns,
        etas=(0.1, 0.01),
        half_widths=(1.0,),
        trials=trials,
        test_etas=(0.1,),
        test_trials=trials,
        calibration_trials=20,
    )
    from theory.plumbing.configs import run_dir

    cells = run_dir(killed_root, "rss-success", cfg) / "cells"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if cells.exists() and len([p for p in cells.glob("*.json") if ".part-" not in p.name]) >= 2:
            break
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    finished = {
        p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in cells.glob("*.json") if ".part-" not in p.name
    }
    assert 2 <= len(finished) < len(ns), "the sweep should have been killed part-way"

    resumed = _execute("rss-success", cfg, killed_root).output
    assert not {f"{k}.json" for k in resumed.computed} & set(finished)
    for name, (mtime, data) in finished.items():
        assert (cells / name).stat().st_mtime_ns == mtime and (cells / name).read_bytes() == data
    fresh = _execute("rss-success", cfg, tmp_path / "fresh").output
    assert records.read_csv(resumed.path / "results.csv") == records.read_csv(fresh.path / "results.csv")


def test_cli_end_to_end(tmp_run_root: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(
        [
            "run",
            "rss-success",
            "--runs-root",
            str(tmp_run_root),
            "--executor",
            "inprocess",
            "--ns",
            "2,4",
            "--etas",
            "0.1",
            "--trials",
            "10",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "rss-success: done" in out and "evidence pensia-rss-log:" in out
    (results,) = tmp_run_root.glob("rss-success/*/results.csv")
    assert len(records.read_csv(results)) == 4  # 2 windows x 2 n x 1 eta
    rc = main(
        ["sim", "coverage", "--n", "5", "--eta", "0.1", "--trials", "20", "--executor", "inprocess", "--json"]
    )
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["trials"] == 20 and res["n"] == 5
    rc = main(["sim", "min-candidates", "--eta", "0.1", "--trials", "20", "--executor", "inprocess"])
    assert rc == 0 and "n_min=" in capsys.readouterr().out
    assert main(["sim", "coverage", "--n", "0", "--eta", "0.1", "--executor", "inprocess"]) == 2
    assert "n must be" in capsys.readouterr().err
    assert (
        main(
            [
                "run",
                "rss-success",
                "--scale",
                "quick",
                "--trials",
                "0",
                "--runs-root",
                str(tmp_run_root),
                "--executor",
                "inprocess",
            ]
        )
        == 2
    )


def test_registration_is_cheap() -> None:
    code = (
        "import argparse, sys; import sim.cli; p = argparse.ArgumentParser(); "
        "s = p.add_subparsers(); import sim.sweeps, sim.executors; "
        "assert 'scipy' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
    )


def test_unfinished_cell_reuses_its_finished_chunks(tmp_run_root: Path) -> None:
    from sim.cells import CellSpec, run_cells
    from sim.store import RunStore
    from sim.sweeps.configs import RssSuccessConfig

    store = RunStore(get_experiment("rss-success").rundir(RssSuccessConfig(trials=10), tmp_run_root)).open()
    spec = CellSpec("coverage", 5, "uniform", -1.0, 1.0)
    true = run_cells([spec], 10, executor="inprocess")[spec.key()].errors
    # A chunk left by a killed run (marked with impossible values to prove it is reused, not recomputed).
    store.save_part(spec.key(), 0, 5, {"errors": [42.0] * 5, "tols": [0.0] * 5})
    cells = run_cells([spec], 10, executor="inprocess", store=store, chunk_size=5)
    got = cells[spec.key()].errors
    assert got[:5].tolist() == [42.0] * 5 and got[5:].tolist() == true[5:].tolist()
    assert store.finished_keys() == {spec.key()}
    assert not list(store.cells_dir.glob("*.part-*"))  # parts merged into the cell record
    again = run_cells([spec], 10, executor="inprocess", store=store)
    assert not again[spec.key()].computed


def test_xiong_eta_comes_from_the_calibration_seed_only(tmp_run_root: Path) -> None:
    etas = []
    for seed in (0, 2):
        cfg = get_experiment("xiong-thm1").preset(
            "quick", ns=(6,), ratios=(0.0,), Ks=(1.0,), trials=10, calibration_trials=20, seed=seed
        )
        out = _execute("xiong-thm1", cfg, tmp_run_root).output
        etas.append([r["eta"] for r in out.rows])
    assert etas[0] == etas[1]  # the test seed cannot move eta: it is fixed before any test trial
