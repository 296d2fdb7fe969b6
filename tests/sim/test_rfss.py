"""The rfss and sparse-tickets producers at a tiny scale: their records go through their rules."""

from __future__ import annotations

import dataclasses

import pytest

from sim.experiments import load_experiments
from theory.rules import apply_rule


@pytest.mark.parametrize("name", ["rfss", "sparse-tickets"])
def test_producer_output_goes_through_its_rule(name, tmp_path):
    exp = load_experiments()[name]
    if name == "rfss":
        cfg = dataclasses.replace(
            exp.presets["quick"],
            ks=(2,),
            epss=(0.1,),
            c_hyps=(1.0, 2.0),
            trials=20,
            cor_ks=(2,),
            cor_epss=(0.2,),
            cor_trials=20,
            cor_test_trials=20,
            max_n=24,
        )
    else:
        cfg = dataclasses.replace(exp.presets["quick"], widths=(16,), densities=(0.2,))
    res = exp.execute(cfg, runs_root=tmp_path)
    assert set(res.verdicts) == set(exp.claims)
    for eid, (rule, details) in exp.evidence(res.rundir).items():
        assert apply_rule(rule, details).verdict == res.verdicts[eid]
