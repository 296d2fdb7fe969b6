"""The quantized-tickets experiment: its records go through its rules (schema), and its figure builds."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import dataclasses

import pytest

from figures.registry import render
from sim.experiments import get_experiment
from sim.quantized import PRESETS, quantized_evidence
from theory.rules import apply_rule
from theory.rules.quantized import EXAMPLES


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    res = get_experiment("quantized-tickets").execute(scale="quick", runs_root=root)
    return root, res


def test_quick_run_goes_through_the_rules(quick_run):
    _, res = quick_run
    ev = quantized_evidence(res.rundir)
    assert set(ev) == set(res.verdicts) == {eid for eid, _, _ in EXAMPLES}
    for eid, (rule_id, details) in ev.items():
        assert next(r for e, r, _ in EXAMPLES if e == eid) == rule_id
        assert apply_rule(rule_id, details).verdict == res.verdicts[eid]
    # Every ticket of the quick run is solved and exact (the check that decides .exact).
    cases = ev["quantized-ticket-exact.exact"][1]["cases"]
    assert cases and all(c["all_solved"] and c["maps_equal"] and c["max_diff"] == 0 for c in cases)
    assert res.verdicts["quantized-ticket-exact.exact"] == "consistent"


def test_figure_builds(quick_run, tmp_path):
    root, _ = quick_run
    _, result = render("fig15_quantized", root, tmp_path)
    assert any("n50" in line for line in result.summary)
    assert (tmp_path / "fig15_quantized.png").exists() and (tmp_path / "fig15_quantized.csv").exists()


def test_seeds_must_be_disjoint(tmp_path):
    cfg = dataclasses.replace(PRESETS["quick"], calibration_seed=PRESETS["quick"].seed)
    with pytest.raises(ValueError, match="calibration_seed"):
        get_experiment("quantized-tickets").execute(config=cfg, runs_root=tmp_path)
