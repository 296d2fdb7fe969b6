"""Training sweeps: config plans, records, resume and honest evidence verdicts (tiny scale, CPU)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from sim.experiments import get_experiment
from sim.training_sweeps import PRESETS, variants
from sim.training_sweeps import evidence as sweep_evidence
from sim.training_sweeps.config import TrainingSweepConfig
from sim.training_sweeps.runs import ROWS_FILE
from theory.plumbing.configs import config_hash
from theory.plumbing.records import read_csv
from theory.plumbing.rundir import RunDir
from theory.rules import apply_rule
from theory.rules import practice as rules_practice

SWEEPS = ("ep-vs-dense", "ep-dying", "ep-hparams", "iep", "iep-rewind", "pgd-ep", "rigl")
#: A tiny base (digits, one hidden layer of 16, 3 epochs): seconds per run on a CPU.
TINY = TrainingSweepConfig(
    dataset="digits",
    hidden=(16,),
    epochs=3,
    batch_size=256,
    seeds=(0, 1, 2),
    conv_models=("conv1d",),
    conv_dataset="digits",
    conv_epochs=1,
    conv_seeds=(0, 1, 2),
    hparam_seeds=(0, 1, 2),
    pgd_epochs=1,
    pgd_eps=(0.0, 0.1),
    rigl_interval=2,
    iterand_period=2,
)


def _execute(name, root, cfg=TINY):
    return get_experiment(name).execute(cfg, runs_root=root, executor="inprocess")


@pytest.mark.parametrize("name", SWEEPS)
@pytest.mark.parametrize("scale", ["quick", "default", "full"])
def test_every_sweep_has_three_seeds_per_variant_and_distinct_runs(name, scale):
    exp = get_experiment(name)
    assert exp.presets[scale] is PRESETS[scale]
    plan = getattr(variants, name.replace("-", "_"))
    cfgs = plan(exp.preset(scale))
    seeds: dict[tuple[str, str], set[int]] = {}
    for variant, cfg in cfgs:
        key = (variant, config_hash(dataclasses.replace(cfg, seed=0)))
        seeds.setdefault(key, set()).add(cfg.seed)
    assert all(len(s) >= 3 for s in seeds.values())
    assert len({(config_hash(c)) for _, c in cfgs}) == len(cfgs)


def test_bad_sweep_configs_are_refused():
    with pytest.raises(ValueError, match=r"valid experiments: .*ep-dying"):
        get_experiment("nope")
    with pytest.raises(ValueError, match=r"seeds must hold at least 3"):
        TrainingSweepConfig(seeds=(0, 1))
    with pytest.raises(ValueError, match=r"scale must be one of quick, default, full"):
        get_experiment("rigl").preset("huge")


def test_rigl_sweep_writes_runs_summary_evidence_and_reuses_runs(tmp_run_root, monkeypatch):
    res = _execute("rigl", tmp_run_root)
    rows = read_csv(res.rundir.file("summary.csv"))
    paths = [r["run_dir"] for r in rows]
    assert len(paths) == 12 and all((Path(p) / "DONE").exists() for p in paths)
    assert all(Path(p).parent.parent == res.rundir.path / "runs" for p in paths)  # the runs live inside
    from figures.records import training_runs

    # ... where figure 11 reads them.
    assert sorted(str(r.path) for r in training_runs(tmp_run_root, "rigl")) == sorted(paths)
    assert {r["method"] for r in rows} == {"rigl", "rigl2"}
    assert {round(1 - float(r["density"]), 6) for r in rows} == {0.8, 0.9}
    assert all(0 <= int(r["test_correct"]) <= int(r["test_total"]) for r in rows)
    assert set(res.verdicts) == {"rigl-second-order.accuracy", "rigl-second-order.extra-time"}
    ev = _recorded(tmp_run_root, "rigl-second-order.accuracy")
    assert ev["run"] == str(res.rundir.path)
    assert {(r["method"], r["sparsity"]) for r in ev["details"]["per_seed"]} == {
        (m, s) for m in ("rigl", "rigl2") for s in (0.8, 0.9)
    }
    # Every run timed its mask updates (second-order RigL's extra time is a part of the claim).
    assert all(r["update_cpu_s"] > 0 for r in ev["details"]["per_seed"])
    _recorded(tmp_run_root, "rigl-second-order.extra-time")
    # Re-running an unfinished sweep (DONE removed) reuses every finished run (no Trainer is built).
    from networks.training import trainer as trainer_mod

    def refuse(*a, **k):
        raise AssertionError("finished run retrained")

    monkeypatch.setattr(trainer_mod.Trainer, "__init__", refuse)
    res.rundir.file("DONE").unlink()
    again = _execute("rigl", tmp_run_root)
    assert not again.reused and [r["run_dir"] for r in again.output] == paths
    assert again.verdicts == res.verdicts


def test_pgd_sweep_writes_the_grid_table(tmp_run_root):
    res = _execute("pgd-ep", tmp_run_root)
    grid = read_csv(res.rundir.file("grid.csv"))
    assert len(grid) == 2 * 3 * 10  # eps x seeds x densities of the PGD+EP grid
    assert {round(float(r["sparsity"]), 6) for r in grid} == {round(0.1 * i, 6) for i in range(10)}
    assert sum(r["selected"] == "True" for r in grid) == 2 * 3  # one selected density per run
    for part in ("accuracy-rises", "best-sparsity-falls"):
        ev = _recorded(tmp_run_root, f"pgd-ep-perturbation-helps.{part}")
        assert len(ev["details"]["per_seed"]) == len(grid)
    assert not (tmp_run_root / "evidence" / "pgd-ep-perturbation-helps.json").exists()


def test_iep_sweep_cycles_table_and_evidence(tmp_run_root):
    res = _execute("iep", tmp_run_root)
    cycles = read_csv(res.rundir.file("cycles.csv"))
    soft = [
        r for r in cycles if r["variant"] == "soft" and r["seed"] == "0" and r["target_density"] == "0.05"
    ]
    assert [int(r["cycle"]) for r in soft] == [0, 1, 2]
    dens = [float(r["cycle_density"]) for r in soft]
    assert dens == sorted(dens, reverse=True) and dens[-1] == pytest.approx(0.05, abs=1e-3), dens
    for eid in (
        "iep-soft-beats-ep.accuracy",
        "iep-soft-beats-ep.dying-ratio",
        "iep-soft-beats-ep.early",
        "iep-hard-worst-case",
        "iterand-lowers-dying",
        "iep-hard-beats-ep",
    ):
        ev = _recorded(tmp_run_root, eid)
        assert {r["variant"] for r in ev["details"]["per_seed"]} == {"ep", "soft", "hard", "iterand"}
    assert set(res.verdicts) >= {"iep-soft-beats-ep.early", "iep-hard-beats-ep"}
    # The early part: soft's first-cycle end (cycles.csv's cycle 0) and EP's epoch-end dying ratio there.
    early = _recorded(tmp_run_root, "iep-soft-beats-ep.early")["details"]["per_seed"]
    for r in early:
        if r["variant"] in ("ep", "soft"):
            assert r["early_step"] is not None and 0.0 <= r["early_dying_ratio"] <= 1.0, r
    steps = {(r["density"], r["seed"]): r["early_step"] for r in early if r["variant"] == "soft"}
    assert all(r["early_step"] == steps[(r["density"], r["seed"])] for r in early if r["variant"] == "ep")
    soft0 = [r for r in early if r["variant"] == "soft" and r["seed"] == 0 and r["density"] == 0.05]
    assert soft0[0]["early_dying_ratio"] == pytest.approx(float(soft[0]["dying_ratio"]))
    # TINY names no fresh seeds: the hard-vs-EP rule says so instead of deciding on the seen seeds.
    hard_ep = _recorded(tmp_run_root, "iep-hard-beats-ep")
    assert hard_ep["details"]["fresh_seeds"] == [] and hard_ep["verdict"] == "inconclusive"
    assert "no fresh seeds" in hard_ep["summary"]


def test_iep_sweep_with_fresh_seeds_pairs_ep_there_and_keeps_the_earlier_designs(tmp_run_root):
    cfg = dataclasses.replace(TINY, seeds=(0, 1, 2), iep_worst_seeds=(3, 4, 5), iep_worst_ep=True)
    res = _execute("iep", tmp_run_root, cfg)
    ev = _recorded(tmp_run_root, "iep-hard-beats-ep")
    assert ev["details"]["fresh_seeds"] == [3, 4, 5]
    assert res.verdicts["iep-hard-beats-ep"] in ("consistent", "inconsistent", "inconclusive")
    assert "fresh seeds [3, 4, 5]" in ev["summary"]
    ep_seeds = {r["seed"] for r in ev["details"]["per_seed"] if r["variant"] == "ep" and r["density"] == 0.05}
    assert ep_seeds == {0, 1, 2, 3, 4, 5}
    # The claims stated before EP ran at the fresh seeds keep their designs: no EP row there.
    for eid in ("iep-soft-beats-ep.accuracy", "iep-hard-worst-case"):
        rows = _recorded(tmp_run_root, eid)["details"]["per_seed"]
        assert {r["seed"] for r in rows if r["variant"] == "ep"} == {0, 1, 2}
        assert {r["seed"] for r in rows if r["variant"] == "hard" and r["density"] == 0.05} == set(range(6))


def test_ep_dying_sweep_output_goes_through_its_rule(tmp_run_root):
    _execute("ep-dying", tmp_run_root)
    ev = _recorded(tmp_run_root, "ep-dying-ratio-grows")
    assert sorted({r["density"] for r in ev["details"]["per_seed"]}) == [0.05, 0.1, 0.3, 0.5, 0.7]
    _recorded(tmp_run_root, "ep-mask-turnover-small")


def test_ep_vs_dense_sweep_output_goes_through_the_testbed_rule(tmp_run_root):
    res = _execute("ep-vs-dense", tmp_run_root)
    ev = _recorded(tmp_run_root, "testbed-ep-near-dense")
    cells = {(r["dataset"], r["model"], r["method"]) for r in ev["details"]["per_seed"]}
    assert cells == {(d, m, k) for d, m in (("digits", "mlp"), ("digits", "conv1d")) for k in ("ep", "dense")}
    assert {r["density"] for r in ev["details"]["per_seed"] if r["method"] == "ep"} == {0.5}
    assert set(res.verdicts) == {"testbed-ep-near-dense"}


def test_hparam_and_rewind_sweeps_output_goes_through_their_rules(tmp_run_root):
    _execute("ep-hparams", tmp_run_root)
    ev = _recorded(tmp_run_root, "ep-dying-accuracy-correlation")
    assert len({r["variant"] for r in ev["details"]["per_seed"]}) == len(variants.hparam_variants(TINY))
    _execute("iep-rewind", tmp_run_root)
    for part in ("beat-ep", "lr-best"):
        ev = _recorded(tmp_run_root, f"iep-rewind-variants.{part}")
        assert {r["variant"] for r in ev["details"]["per_seed"]} == {
            "ep",
            "finetune",
            "lr_rewind",
            "score_rewind",
            "score_reinit",
        }


# --------------------------------------------------------------------------------------- verdicts
def _recorded(root, evidence_id):
    """The evidence file, checked to be re-decided identically from its recorded details."""
    ev = json.loads((root / "evidence" / f"{evidence_id}.json").read_text())
    assert ev["claim"] == evidence_id and ev["rule_id"] == evidence_id
    again = apply_rule(evidence_id, ev["details"])
    assert (again.verdict, again.summary) == (ev["verdict"], ev["summary"])
    assert ev["rule"] and ev["constants"] and ev["detectable"]
    return ev


def _producer_path(root, judge, rows):
    """Write evidence as a sweep does: its rows in a run directory, read back by the sweep's evidence."""
    from theory.ledger import write_evidence

    rundir = RunDir(root / "sweep", {"rows": len(rows)}).open()
    rundir.write_json(ROWS_FILE, rows)
    for evidence_id, (rule_id, details) in judge(rundir).items():
        write_evidence(root, evidence_id, run=str(rundir.path), details=details, rule_id=rule_id)


def _jit(seed, arm=0):
    # Seed-to-seed scatter that differs between arms (so paired differences are not constant).
    return ((seed * 7 + arm * 3) % 5 - 2) * 0.002


def _run_rows(cells, seeds=(0, 1, 2)):
    """Summary-like rows: ``cells`` maps (variant, density) -> (test_acc(seed), dying_ratio(seed))."""
    rows = []
    for (variant, density), (acc, dying) in cells.items():
        for s in seeds:
            method = "iep" if variant in ("soft", "hard") else variant
            a = acc(s)
            rows.append(
                {
                    "variant": variant,
                    "method": method,
                    "dataset": "digits",
                    "model": "mlp",
                    "density": density,
                    "seed": s,
                    "test_acc": a,
                    "test_correct": round(1000 * a),
                    "test_total": 1000,
                    "dying_ratio": dying(s),
                    "error": "",
                }
            )
    return rows


def _v(rule, rows):
    return apply_rule(rule, {"per_seed": rows}).verdict


def test_t_interval_matches_scipy_and_is_infinite_for_one_value():
    from scipy import stats

    x = np.random.default_rng(3).normal(0.2, 1.0, 7)
    iv = rules_practice.t_interval(x)
    lo, hi = stats.t.interval(0.95, 6, loc=x.mean(), scale=stats.sem(x))
    assert (iv.low, iv.high) == pytest.approx((lo, hi), rel=1e-12)
    one = rules_practice.t_interval([0.3])
    assert one.mean == 0.3 and one.low == -np.inf and one.high == np.inf
    with pytest.raises(ValueError, match="values"):
        rules_practice.t_interval([0.1, float("nan")])


def test_sign_test_needs_five_seeds():
    assert rules_practice.sign_test_min_agree(3) is None and rules_practice.sign_test_min_agree(4) is None
    assert rules_practice.sign_test_min_agree(5) == 5
    assert rules_practice.decide_sign(5, 5)[0] == "consistent"
    assert rules_practice.decide_sign(0, 6)[0] == "inconsistent"
    assert rules_practice.decide_sign(3, 3)[0] == "inconclusive"


def test_practice_examples_are_consistent():
    for evidence_id, rule_id, details in rules_practice.EXAMPLES:
        assert apply_rule(rule_id, details).verdict == "consistent", evidence_id


def test_dying_rule(tmp_run_root):
    def cells(lo, hi, seeds_noise=1.0):
        return {
            ("ep", 0.1): (lambda s: 0.5, lambda s: lo + seeds_noise * _jit(s)),
            ("ep", 0.7): (lambda s: 0.5, lambda s: hi + seeds_noise * _jit(s, 1)),
        }

    assert _v("ep-dying-ratio-grows", _run_rows(cells(0.8, 0.2))) == "consistent"
    # Larger at the HIGHER density: the wrong side.
    assert _v("ep-dying-ratio-grows", _run_rows(cells(0.2, 0.25))) == "inconsistent"
    # Grows with falling density, but almost every edge of the sparsest mask was selected at least once.
    assert _v("ep-dying-ratio-grows", _run_rows(cells(0.1, 0.0))) == "inconsistent"
    # Two seeds with scatter as large as the effect: nothing can be decided.
    assert _v("ep-dying-ratio-grows", _run_rows(cells(0.6, 0.45, 40.0), seeds=(0, 1))) == "inconclusive"
    # The producer path writes the same decision.
    _producer_path(tmp_run_root, sweep_evidence.ep_dying, _run_rows(cells(0.8, 0.2)))
    assert _recorded(tmp_run_root, "ep-dying-ratio-grows")["verdict"] == "consistent"


def test_iep_rules_decide_each_part_separately(tmp_run_root):
    def cells(acc_gain, dying_gap, noise=1.0, seeds=(0, 1, 2)):
        return _run_rows(
            {
                ("ep", d): (lambda s: 0.7 + noise * _jit(s), lambda s, d=d: 0.8 - d + noise * _jit(s, 2))
                for d in (0.05, 0.2)
            }
            | {
                ("soft", d): (
                    lambda s: 0.7 + acc_gain + noise * _jit(s, 1),
                    lambda s, d=d: 0.8 - d - dying_gap + noise * _jit(s, 3),
                )
                for d in (0.05, 0.2)
            },
            seeds,
        )

    acc, dying = "iep-soft-beats-ep.accuracy", "iep-soft-beats-ep.dying-ratio"
    good = cells(0.05, 0.4)
    assert _v(acc, good) == "consistent" and _v(dying, good) == "consistent"
    # Higher accuracy but a HIGHER dying ratio: only the dying-ratio part fails.
    mixed = cells(0.05, -0.3)
    assert _v(acc, mixed) == "consistent" and _v(dying, mixed) == "inconsistent"
    # Worse accuracy; and equal accuracy measured precisely enough to exclude a one-point gain.
    assert _v(acc, cells(-0.05, 0.4)) == "inconsistent"
    assert _v(acc, cells(0.0, 0.4, noise=0.2)) == "inconsistent"
    # Two noisy seeds: an interval wider than any effect, so neither part can be decided.
    small = cells(0.01, 0.02, noise=20.0, seeds=(0, 1))
    assert _v(acc, small) == "inconclusive" and _v(dying, small) == "inconclusive"
    # runs.json rows carry each run's final record (here none: no cycles, so no early part to decide).
    _producer_path(tmp_run_root, sweep_evidence.iep, [{**r, "final": {}, "run_dir": ""} for r in mixed])
    assert _recorded(tmp_run_root, acc)["verdict"] == "consistent"
    assert _recorded(tmp_run_root, dying)["verdict"] == "inconsistent"
    assert not (tmp_run_root / "evidence" / "iep-soft-beats-ep.json").exists()


def test_rigl_rule(tmp_run_root):
    def rows(gain, noise=1.0, seeds=(0, 1, 2)):
        out = _run_rows(
            {
                ("rigl", 0.2): (lambda s: 0.7 + noise * _jit(s), lambda s: 0.0),
                ("rigl2", 0.2): (lambda s: 0.7 + gain + noise * _jit(s, 1), lambda s: 0.0),
            },
            seeds,
        )
        return [{**r, "sparsity": 0.8} for r in out]

    acc = "rigl-second-order.accuracy"
    assert _v(acc, rows(0.0, noise=0.5)) == "consistent"  # non-inferior within a point
    assert _v(acc, rows(-0.05)) == "inconsistent"
    assert _v(acc, rows(0.0, noise=20.0, seeds=(0, 1))) == "inconclusive"
    produced = [{**r, "density": 0.2, "final": {"update_cpu_s": 0.01}} for r in rows(-0.05)]
    _producer_path(tmp_run_root, sweep_evidence.rigl, produced)
    assert _recorded(tmp_run_root, acc)["verdict"] == "inconsistent"
    # Extra time: rigl2's updates slower -> consistent; faster -> inconsistent.
    timed = [
        {**r, "update_cpu_s": 0.01 + (0.02 if r["method"] == "rigl2" else 0) + _jit(r["seed"])}
        for r in rows(0)
    ]
    assert _v("rigl-second-order.extra-time", timed) == "consistent"
    faster = [{**r, "update_cpu_s": 0.03 - (0.02 if r["method"] == "rigl2" else 0)} for r in timed]
    assert _v("rigl-second-order.extra-time", faster) == "inconsistent"


def _grid(acc, seeds=range(3), epss=(0.0, 0.01, 0.1), sps=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9)):
    return [
        {"eps": e, "seed": s, "density": round(1 - sp, 6), "sparsity": sp, "test_acc": acc(e, sp, s)}
        for e in epss
        for s in seeds
        for sp in sps
    ]


def test_pgd_accuracy_rule():
    rises = "pgd-ep-perturbation-helps.accuracy-rises"
    assert _v(rises, _grid(lambda e, sp, s: 0.5 + e + _jit(s, int(10 * e)))) == "consistent"
    assert _v(rises, _grid(lambda e, sp, s: 0.5 - e + _jit(s, int(10 * e)))) == "inconsistent"
    noisy = _grid(lambda e, sp, s: 0.5 + 0.1 * e + 20 * _jit(s, 1 if e else 0), seeds=(0, 1))
    assert _v(rises, noisy) == "inconclusive"


def test_pgd_best_sparsity_rule():
    falls = "pgd-ep-perturbation-helps.best-sparsity-falls"

    def peaked(best_of_eps):
        return lambda e, sp, s: 0.9 - abs(sp - best_of_eps(e))

    as_claimed = peaked(lambda e: 0.5 if e == 0 else 0.0)
    assert _v(falls, _grid(as_claimed, seeds=range(5))) == "consistent"
    # The same perfect trend at 3 seeds: the sign test cannot reach alpha = 0.05.
    small = apply_rule(falls, {"per_seed": _grid(as_claimed)})
    assert small.verdict == "inconclusive" and "no trend can be shown with 3 seeds" in small.detectable
    # Best sparsity RISES with eps at every seed.
    assert _v(falls, _grid(peaked(lambda e: 0.0 if e == 0 else 0.9), seeds=range(6))) == "inconsistent"
    # Falls, but from 0.9 (not about 0.5) at eps = 0.
    assert _v(falls, _grid(peaked(lambda e: 0.9 if e == 0 else 0.0), seeds=range(6))) == "inconsistent"
    # Ties go to the smaller sparsity.
    assert rules_practice.best_sparsity({0.0: 0.8, 0.5: 0.8, 0.9: 0.7}) == 0.0


def test_testbed_rule():
    def rows(gap, dense=0.98, data="digits"):
        return _run_rows(
            {
                ("dense", 1.0): (lambda s: dense + _jit(s), lambda s: 0.0),
                ("ep", 0.5): (lambda s: dense - gap + _jit(s, 1), lambda s: 0.4),
            },
            seeds=range(4),
        )

    def with_data(rs, data="digits"):
        return [{**r, "dataset": data} for r in rs]

    assert _v("testbed-ep-near-dense", with_data(rows(0.02))) == "consistent"
    assert _v("testbed-ep-near-dense", with_data(rows(0.10))) == "inconsistent"  # EP 10 points behind
    assert _v("testbed-ep-near-dense", with_data(rows(0.01, dense=0.95))) == "inconsistent"  # weak dense
    assert _v("testbed-ep-near-dense", with_data(rows(0.01, dense=0.80), "other")) == "consistent"  # no floor


def test_turnover_and_correlation_rules():
    def dying(explored):
        return _run_rows(
            {("ep", d): (lambda s: 0.5, lambda s, d=d: 1 - d - explored + _jit(s)) for d in (0.1, 0.5)}
        )

    assert _v("ep-mask-turnover-small", dying(0.2)) == "consistent"
    assert _v("ep-mask-turnover-small", dying(0.45)) == "inconsistent"

    def hp(slope, noise=0.0, n_var=8):
        rng = np.random.default_rng(0)
        return [
            {
                "variant": f"v{v}",
                "seed": s,
                "dying_ratio": 0.1 * v + 0.01 * s,
                "test_acc": 0.9 + slope * v + noise * rng.normal(),
            }
            for v in range(n_var)
            for s in range(3)
        ]

    corr = "ep-dying-accuracy-correlation"
    assert _v(corr, hp(-0.02)) == "consistent"
    assert _v(corr, hp(+0.02)) == "inconsistent"
    assert _v(corr, hp(0.0, noise=0.05, n_var=2)) == "inconclusive"  # 6 noisy runs: rho unresolved
    iv = rules_practice.spearman_interval([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
    assert iv.mean == pytest.approx(-1.0) and iv.high < 0
    q = rules_practice.quadratic_fit([0, 1, 2, 3, 4, 5], [0, 3, 4, 3, 0.1, -5])
    assert q["c_high"] < 0 and 1 < q["vertex"] < 3


def test_hard_iterand_and_rewind_rules():
    def iep_rows(hard_dying, soft_gain, iterand_dying):
        cells = {}
        for d in (0.05, 0.1):
            cells[("ep", d)] = (lambda s: 0.7 + _jit(s), lambda s: 0.9 + _jit(s, 2))
            cells[("soft", d)] = (lambda s: 0.7 + soft_gain + _jit(s, 1), lambda s: 0.5 + _jit(s, 3))
            cells[("hard", d)] = (lambda s: 0.7 + _jit(s, 4), lambda s: hard_dying + _jit(s, 5))
            cells[("iterand", d)] = (lambda s: 0.7, lambda s: iterand_dying + _jit(s, 6))
        return _run_rows(cells)

    assert _v("iep-hard-worst-case", iep_rows(0.6, 0.04, 0.5)) == "consistent"
    assert _v("iep-hard-worst-case", iep_rows(0.6, -0.04, 0.5)) == "inconsistent"  # hard better than soft
    assert _v("iep-hard-worst-case", iep_rows(0.95, 0.04, 0.5)) == "inconsistent"  # hard dies more than EP
    assert _v("iterand-lowers-dying", iep_rows(0.6, 0.04, 0.5)) == "consistent"
    assert _v("iterand-lowers-dying", iep_rows(0.6, 0.04, 0.9)) == "inconsistent"

    def rewind(gains):
        return _run_rows(
            {
                (v, 0.1): (lambda s, g=g, i=i: 0.8 + g + _jit(s, i), lambda s: 0.5)
                for i, (v, g) in enumerate(gains.items())
            }
        )

    good = {"ep": 0, "finetune": -0.01, "lr_rewind": 0.06, "score_rewind": 0.03, "score_reinit": 0.03}
    assert _v("iep-rewind-variants.beat-ep", rewind(good)) == "consistent"
    assert _v("iep-rewind-variants.lr-best", rewind(good)) == "consistent"
    assert _v("iep-rewind-variants.beat-ep", rewind({**good, "finetune": 0.06})) == "inconsistent"
    assert _v("iep-rewind-variants.lr-best", rewind({**good, "score_reinit": 0.1})) == "inconsistent"


# ----------------------------------------------------------------- the inconclusive rule of issue 12
def _standardised(n, mean, sd):
    """``n`` values with exactly this sample mean and sample standard deviation."""
    z = np.linspace(-1.0, 1.0, n)
    z = (z - z.mean()) / z.std(ddof=1)
    return list(mean + sd * z)


def test_undecided_interval_is_inconsistent_when_the_design_resolves_r():
    r = 0.01
    # The interval holds 0 and r (the old rule left this inconclusive), but its half-width is below r:
    # the design could see r and did not -> decided, inconsistent.
    iv = rules_practice.t_interval(_standardised(16, 0.004, 0.015))
    assert iv.low < 0 < r < iv.high and iv.half_width <= r
    assert rules_practice.decide_effect(iv, r) == "inconsistent"
    # The same mean with a wide spread: inconclusive, and the scale that decides is computed.
    wide = rules_practice.t_interval(_standardised(4, 0.004, 0.02))
    assert wide.half_width > r and wide.high > r
    assert rules_practice.decide_effect(wide, r) == "inconclusive"
    n = rules_practice.seeds_to_decide(wide, r)
    assert n is not None and n > 4
    # At that many seeds and the same spread the half-width is <= r; one seed fewer it is not.
    assert rules_practice.t_interval(_standardised(n, 0.004, 0.02)).half_width <= r
    assert rules_practice.t_interval(_standardised(n - 1, 0.004, 0.02)).half_width > r
    # An interval above 0 is consistent whatever its width.
    assert rules_practice.decide_effect(rules_practice.t_interval(_standardised(4, 0.05, 0.01)), r) == (
        "consistent"
    )


def _hard_worst(soft_minus_hard):
    rows = []
    for s, diff in enumerate(soft_minus_hard):
        for variant_, acc, dying in (("ep", 0.7, 0.9), ("hard", 0.8, 0.6), ("soft", 0.8 + diff, 0.5)):
            rows.append(
                {"variant": variant_, "density": 0.05, "seed": s, "test_acc": acc, "dying_ratio": dying}
            )
    return {"per_seed": rows}


def test_hard_worst_case_decides_at_a_resolvable_spread_and_says_what_decides_otherwise():
    resolvable = apply_rule("iep-hard-worst-case", _hard_worst(_standardised(16, 0.004, 0.015)))
    assert resolvable.verdict == "inconsistent", resolvable.summary
    wide = apply_rule("iep-hard-worst-case", _hard_worst(_standardised(4, 0.004, 0.02)))
    assert wide.verdict == "inconclusive", wide.summary
    (acc,) = [e for e in wide.effects if "accuracy" in e.quantity]
    assert acc.decides_at and int(acc.decides_at.split()[0]) > 4
    assert acc.detectable > rules_practice.ACC_DELTA and acc.reference_value is None


@pytest.mark.parametrize("example", rules_practice.EXAMPLES, ids=lambda e: e[0])
def test_every_training_rule_lists_its_effects(example):
    eid, rule_id, details = example
    res = apply_rule(rule_id, details)
    assert res.effects, f"{eid}: no effects"
    for e in res.effects:
        assert (e.reference.strip() and "§" in e.reference) or "issue 12" in e.reference
        assert e.lo <= e.measured <= e.hi and e.detectable >= 0
        assert e.decides_at is None  # the examples are decided


def test_default_iep_runs_soft_and_hard_on_more_paired_seeds_at_the_sparsest_density():
    runs = variants.iep(PRESETS["default"])
    sparsest = min(variants.IEP_DENSITIES)
    for mode in ("soft", "hard"):
        seeds = {c.seed for label, c in runs if label == mode and c.density == sparsest}
        assert seeds == set(range(16))
    # EP runs at the fresh seeds 8-15 too (at the sparsest density only): iep-hard-beats-ep's pairs.
    assert {c.seed for label, c in runs if label == "ep" and c.density == sparsest} == set(range(16))
    assert {c.seed for label, c in runs if label == "ep" and c.density != sparsest} == set(range(8))
    assert {c.seed for label, c in runs if label == "iterand"} == set(range(8))
    # Without iep_worst_ep the fresh seeds have no EP runs (and the sweep its own config hash).
    plain = dataclasses.replace(PRESETS["default"], iep_worst_ep=False)
    assert {c.seed for label, c in variants.iep(plain) if label == "ep"} == set(range(8))
    assert config_hash(plain) != config_hash(PRESETS["default"])
    with pytest.raises(ValueError, match="iep_worst_seeds"):
        TrainingSweepConfig(iep_worst_seeds=(3, 9))


def _fresh_payload(seen_gain, fresh_gain, fresh=(8, 9, 10, 11)):
    """hard and EP at density 0.05: seeds 0-3 (seen) and 8-11; hard minus EP = the gain of each group."""
    rows = []
    for s in (0, 1, 2, 3, *fresh):
        gain = fresh_gain if s in fresh else seen_gain
        rows += [
            {"variant": "ep", "density": 0.05, "seed": s, "test_acc": 0.7 + _jit(s)},
            {"variant": "hard", "density": 0.05, "seed": s, "test_acc": 0.7 + gain + _jit(s, 1)},
        ]
    return rows


def test_hard_beats_ep_reads_only_the_fresh_seeds():
    rule = "iep-hard-beats-ep"
    rows = _fresh_payload(seen_gain=0.08, fresh_gain=-0.03)
    # On the seen seeds hard is far above EP; on the fresh ones below it: the filter decides.
    assert apply_rule(rule, {"per_seed": rows, "fresh_seeds": [0, 1, 2, 3]}).verdict == "consistent"
    res = apply_rule(rule, {"per_seed": rows, "fresh_seeds": [8, 9, 10, 11]})
    assert res.verdict == "inconsistent", res.summary
    assert res.effects[0].measured == pytest.approx(
        -0.03 + np.mean([_jit(s, 1) - _jit(s) for s in (8, 9, 10, 11)])
    )
    good = _fresh_payload(seen_gain=-0.03, fresh_gain=0.05)
    assert apply_rule(rule, {"per_seed": good, "fresh_seeds": [8, 9, 10, 11]}).verdict == "consistent"
    # No fresh seeds named, or named but not run: inconclusive, never decided on the seen seeds.
    for fresh in ([], [20, 21]):
        res = apply_rule(rule, {"per_seed": good, "fresh_seeds": fresh})
        assert res.verdict == "inconclusive" and "fresh seeds" in res.summary, res.summary
    assert apply_rule(rule, {"per_seed": good}).verdict == "inconclusive"
    # Two noisy fresh seeds: wider than the reference's 1.33 points, inconclusive with a deciding scale.
    noisy = [
        {"variant": v, "density": 0.05, "seed": s, "test_acc": 0.7 + diff * (v == "hard")}
        for s, diff in ((8, 0.04), (9, -0.03))
        for v in ("ep", "hard")
    ]
    res = apply_rule(rule, {"per_seed": noisy, "fresh_seeds": [8, 9]})
    assert res.verdict == "inconclusive" and res.effects[0].decides_at, res.summary


def _early_rows(soft_early, gap=0.5, seeds=(0, 1, 2, 3), noise=1.0, ep_step=84):
    """soft and EP at two densities with a first-cycle dying ratio ``soft_early`` and EP ``gap`` above."""
    rows = []
    for d in (0.05, 0.1):
        for s in seeds:
            soft = soft_early + noise * abs(_jit(s, 1))
            rows += [
                {"variant": "soft", "density": d, "seed": s, "early_step": 84, "early_dying_ratio": soft},
                {
                    "variant": "ep",
                    "density": d,
                    "seed": s,
                    "early_step": ep_step,
                    "early_dying_ratio": soft + gap + noise * _jit(s, 2),
                },
                {
                    "variant": "iterand",
                    "density": d,
                    "seed": s,
                    "early_step": None,
                    "early_dying_ratio": None,
                },
            ]
    return {"per_seed": rows}


def test_soft_early_dying_rule():
    rule = "iep-soft-beats-ep.early"
    assert rules_practice.NEAR_ZERO == rules_practice.DYING_DELTA == 0.05
    res = apply_rule(rule, _early_rows(0.005))
    assert res.verdict == "consistent", res.summary
    assert len(res.effects) == 4  # near zero and lower than EP, at each of two densities
    # Far from zero (0.3) though far below EP: the near-zero test fails.
    res = apply_rule(rule, _early_rows(0.3))
    assert res.verdict == "inconsistent", res.summary
    assert [e.verdict for e in res.effects if "limit" in e.quantity] == ["inconsistent"] * 2
    # Near zero but no lower than EP at the same step: the second test fails.
    assert apply_rule(rule, _early_rows(0.005, gap=0.0, noise=0.2)).verdict == "inconsistent"
    # Two noisy seeds: half-widths above 0.05, nothing decided.
    res = apply_rule(rule, _early_rows(0.04, gap=0.03, seeds=(0, 1), noise=20.0))
    assert res.verdict == "inconclusive", res.summary
    # EP's value read at another step than soft's cycle end is a schema error, not a comparison.
    with pytest.raises(ValueError, match="step"):
        apply_rule(rule, _early_rows(0.005, ep_step=80))
    # No first-cycle numbers recorded: inconclusive, with the reason.
    bare = {"per_seed": [{**r, "early_step": None} for r in _early_rows(0.005)["per_seed"]]}
    res = apply_rule(rule, bare)
    assert res.verdict == "inconclusive" and "first cycle" in res.summary
