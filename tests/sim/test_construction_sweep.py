import csv

from sim.construction import WidthConfig, run_construct_width
from theory.ledger import read_evidence


def test_width_sweep_writes_records_and_evidence(tmp_run_root, monkeypatch):
    import sim.construction as sc

    small = WidthConfig(eps=(1e-1, 1e-2), d_in=4, d_out=4, max_candidates=20, conv_channels=1, conv_side=3)
    monkeypatch.setitem(sc.SCALES, "quick", small)
    out = run_construct_width(tmp_run_root, scale="quick", quiet=True)
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {"method", "eps", "perturbation", "candidates", "success_fraction"} <= set(rows[0])
    assert {r["method"] for r in rows} == {"pensia", "xiong", "dacunha"}
    # For each arm and eps the sweep stops at the first n reaching the success level.
    for r in rows:
        assert 0.0 <= float(r["success_fraction"]) <= 1.0
        assert float(r["measured_error"]) <= float(r["certified_bound"])
    evidence = read_evidence(tmp_run_root)
    ids = set(evidence) if isinstance(evidence, dict) else {e["claim"] for e in evidence}
    assert {"pensia-thm1-width", "xiong-thm2-width", "dacunha-cnn-width", "construction-certificate"} <= ids


def test_width_sweep_resumes_finished_cells(tmp_run_root, monkeypatch):
    import sim.construction as sc

    small = WidthConfig(eps=(1e-1,), d_in=3, d_out=2, max_candidates=12, conv_channels=1, conv_side=3)
    monkeypatch.setitem(sc.SCALES, "quick", small)
    out = run_construct_width(tmp_run_root, scale="quick", quiet=True)
    first = (out / "results.csv").read_text()

    # A re-run must not construct anything again: every cell is already recorded.
    def boom(*args, **kwargs):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr("networks.construct.construct_ticket", boom)
    again = run_construct_width(tmp_run_root, scale="quick", quiet=True)
    assert again == out
    assert (out / "results.csv").read_text() == first
