"""pssp-min-n: panel a and the readings, paired monotone n90, both evidence ids through their rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.experiments import get_experiment
from sim.sweeps.pssp import parse_reading
from theory.plumbing import records
from theory.rules import apply_rule


def test_panels_pairing_and_evidence(tmp_run_root: Path) -> None:
    exp = get_experiment("pssp-min-n")
    cfg = exp.preset(
        "quick",
        etas=(0.1, 0.05),
        ratios=(0.0, 1.0, 4.0),
        trials=60,
        n_max=22,
        readings=("uniform/target/0.5",),
        reading_etas=(0.05,),
    )
    res = exp.execute(cfg, runs_root=tmp_run_root, executor="inprocess")
    rows = records.read_csv(res.rundir.file("results.csv"))
    panels = {(r["panel"], r["reading"]) for r in rows}
    assert panels == {("a", "product/coverage/[-1,1]"), ("b", "uniform/target/[-0.5,0.5]")}
    for key in {(r["panel"], r["eta"]) for r in rows}:
        cell = sorted((r for r in rows if (r["panel"], r["eta"]) == key), key=lambda r: float(r["ratio"]))
        n90 = [int(r["n_min"]) for r in cell]
        assert n90 == sorted(n90, reverse=True)  # same candidate sets for every ratio: never larger
        assert all(int(r["n90_low"]) <= int(r["n_min"]) <= int(r["n90_high"]) for r in cell)
    assert set(res.verdicts) == {"pssp-perturbation-helps", "pssp-perturbation-shape"}
    # The recorded data go through the shape rule (the schema the rule reads) and give both fits.
    details = res.output.evidence["pssp-perturbation-shape"]
    assert [b["eta"] for b in details["etas"]] == [0.1, 0.05]  # panel a only
    got = apply_rule("pssp-perturbation-shape", details)
    assert got.verdict == res.verdicts["pssp-perturbation-shape"]
    assert "theorem form" in got.summary and "eps/eta form" in got.summary


@pytest.mark.parametrize(
    ("text", "match"),
    [("product/coverage", "distribution/statistic/r"), ("product/all/1", "statistic"), ("u/coverage/x", "r")],
)
def test_bad_readings_name_the_field(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_reading(text)
    assert parse_reading("uniform/target/0.5") == ("uniform", "target", 0.5)
