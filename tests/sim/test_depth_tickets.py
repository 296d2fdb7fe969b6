"""depth-tickets: the producer's real output goes through the burkholz-depth rule; figure 14 draws."""

from __future__ import annotations

import json

import pytest

from sim.depth_tickets import DepthConfig
from sim.experiments import get_experiment
from theory.rules import apply_rule
from theory.rules.depth import EXAMPLES


def test_ledger_cases_go_through_the_rule(tmp_path):
    exp = get_experiment("depth-tickets")
    cfg = DepthConfig(targets=(), ledger_widths=((2, 2),), ledger_eps=0.5, probes=50)
    res = exp.execute(cfg, runs_root=tmp_path)
    details = res.rundir.read_json("ledger.json")
    (case,) = details["cases"]
    # Same schema as the rule's EXAMPLES.
    assert set(EXAMPLES[0][2]["cases"][0]) <= set(case)
    assert case["source_depth"] == 2 and case["measured_max"] <= case["certified_bound"]
    verdict = json.loads((tmp_path / "evidence" / "burkholz-depth.json").read_text())["verdict"]
    assert verdict == apply_rule("burkholz-depth", details).verdict == "consistent"


def test_rule_fails_when_the_certificate_misses_eps():
    details = json.loads(json.dumps(EXAMPLES[0][2]))
    assert apply_rule("burkholz-depth", details).verdict == "consistent"
    details["cases"][0]["certified_bound"] = 0.2  # above eps = 0.1 at the bound's width
    assert apply_rule("burkholz-depth", details).verdict == "inconsistent"
    details = json.loads(json.dumps(EXAMPLES[0][2]))
    details["cases"][1]["measured_max"] = 0.5  # a probe above its certificate
    assert apply_rule("burkholz-depth", details).verdict == "inconsistent"
    details = json.loads(json.dumps(EXAMPLES[0][2]))
    for c in details["cases"]:
        c["rho"] = 5  # below the bound's width: cannot decide
    assert apply_rule("burkholz-depth", details).verdict == "inconclusive"
    details["cases"][0]["min_tolerance"] = float("nan")
    with pytest.raises(ValueError):
        apply_rule("burkholz-depth", details)


def test_figure_14_draws_from_tickets_csv(tmp_path):
    from figures.registry import render

    exp = get_experiment("depth-tickets")
    cfg = DepthConfig(targets=("x",), ledger_widths=())
    rundir = exp.rundir(cfg, tmp_path)
    rundir.open()
    common = {"target": "mlp", "target_acc": 90.0, "ticket_acc": 89.5, "num_failed_weights": 0}
    rundir.write_csv(
        "tickets.csv",
        [
            {
                **common,
                "construction": "2L pensia",
                "source_depth": 4,
                "source_params": 5000,
                "kept_params": 300,
                "certified_bound": 0.05,
                "measured_error": 0.01,
            },
            {
                **common,
                "construction": "L+1 Burkholz",
                "source_depth": 3,
                "source_params": 16000,
                "kept_params": 2000,
                "certified_bound": 0.7,
                "measured_error": 0.02,
            },
        ],
    )
    _, result = render("fig14_depth", tmp_path, tmp_path, formats=("png",))
    assert any("L+1 Burkholz" in line for line in result.summary)
