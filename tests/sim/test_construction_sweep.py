import csv

import pytest

from sim.construction import WidthConfig, certificate_cases
from sim.experiments import get_experiment
from theory.ledger import read_evidence
from theory.rules import apply_rule

IDS = {
    "pensia-thm1-width",
    "xiong-thm2-width",
    "dacunha-cnn-width",
    "construction-certificate.certificate",
}


def _tiny():
    return WidthConfig(
        eps=(1e-1, 3e-2, 1e-2, 3e-3, 1e-3),
        d_in=2,
        d_out=2,
        max_candidates=24,
        seeds=3,
        conv_channels=1,
        conv_side=3,
        cert_probes=200,
        cert_starts=4,
        cert_steps=5,
    )


def test_width_sweep_writes_records_and_evidence(tmp_run_root, monkeypatch):
    import sim.construction as sc

    monkeypatch.setattr(sc, "certificate_cases", lambda: certificate_cases()[::6])
    res = _execute(_tiny(), tmp_run_root)
    assert set(res.verdicts) == IDS
    out = res.rundir.path
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {"method", "eps", "perturbation", "seed", "candidates", "success_fraction"} <= set(rows[0])
    assert {r["method"] for r in rows} == {"pensia", "xiong", "dacunha"}
    for r in rows:
        assert 0.0 <= float(r["success_fraction"]) <= 1.0
    # The xiong arms are independent draws: disjoint seeds.
    seeds = {(r["method"], float(r["perturbation"])): set() for r in rows}
    for r in rows:
        seeds[(r["method"], float(r["perturbation"]))].add(int(r["seed"]))
    assert not seeds[("xiong", 0.0)] & seeds[("xiong", 0.2)]
    with open(out / "certificate.csv") as fh:
        cert = list(csv.DictReader(fh))
    assert cert and all(float(c["adversarial_max"]) <= float(c["certified_bound"]) for c in cert)
    evidence = read_evidence(tmp_run_root)
    assert IDS <= set(evidence)
    # The producer's real output goes through the rules (schema match), with the same verdict.
    for eid in IDS:
        rec = evidence[eid]
        res = apply_rule(rec["rule_id"], rec["details"])
        assert res.verdict == rec["verdict"]
    assert evidence["construction-certificate.certificate"]["verdict"] == "consistent"


def _execute(cfg, root):
    return get_experiment("construct-width").execute(cfg, runs_root=root)


def test_certificate_cases_cover_the_required_shapes():
    cases = certificate_cases()
    shapes = {(c["kind"], c["depth"], c["bias"]) for c in cases}
    assert shapes == {(k, d, b) for k in ("linear", "conv") for d in (2, 3) for b in (False, True)}
    assert {c["method"] for c in cases} == {"pensia", "xiong", "dacunha"}
    assert {c["nonnegative"] for c in cases} == {False, True}
    assert any(c["exact_target"] for c in cases)
    assert len({c["case"] for c in cases}) == len(cases)


def test_width_sweep_resumes_finished_cells(tmp_run_root, monkeypatch):
    import sim.construction as sc

    small = WidthConfig(
        eps=(1e-1,),
        d_in=2,
        d_out=2,
        max_candidates=12,
        seeds=1,
        conv_channels=1,
        conv_side=3,
        cert_probes=50,
        cert_starts=2,
        cert_steps=2,
    )
    monkeypatch.setattr(sc, "certificate_cases", lambda: certificate_cases()[:1])
    res = _execute(small, tmp_run_root)
    out = res.rundir.path
    first = (out / "results.csv").read_text()
    first_cert = (out / "certificate.csv").read_text()

    # A re-run must not construct anything again: every cell is already recorded.
    def boom(*args, **kwargs):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr("networks.construct.construct_ticket", boom)
    (out / "DONE").unlink()  # not done: the run resumes from cells.json
    again = _execute(small, tmp_run_root)
    assert not again.reused and again.rundir.path == out
    assert (out / "results.csv").read_text() == first
    assert (out / "certificate.csv").read_text() == first_cert
    # One seed x one eps: the width rules cannot decide, and say so.
    assert read_evidence(tmp_run_root)["pensia-thm1-width"]["verdict"] == "inconclusive"


def test_bad_scale(tmp_run_root):
    with pytest.raises(ValueError, match="scale"):
        get_experiment("construct-width").execute(scale="huge", runs_root=tmp_run_root)


def test_scan_from_a_larger_eps_minimum_gives_the_same_minimum():
    # The sweep starts each scan at the minimum of the next larger eps (same seed): that must give the
    # first n of a scan from 1, since a success at a smaller eps implies one at the larger eps.
    import sim.construction as sc

    cfg = WidthConfig(eps=(1e-1, 1e-2, 1e-3), d_in=2, d_out=2, max_candidates=30, seeds=2)
    for method, p, kind, seeds in sc._arms(cfg):
        for seed in seeds:
            net = sc._target(cfg, seed) if kind == "linear" else sc._conv_target(cfg, seed)
            prev = 1
            for eps in cfg.eps:
                full, _ = sc._minimal_n(cfg, net, kind, method, p, seed, eps)
                fast, rows = sc._minimal_n(cfg, net, kind, method, p, seed, eps, start=prev)
                assert fast == full
                assert rows[0]["candidates"] == prev
                prev = fast
