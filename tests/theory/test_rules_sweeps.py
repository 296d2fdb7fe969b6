"""The pre-registered rules of the SubsetSum sweeps: examples, violations, too-small designs, NaN bounds."""

from __future__ import annotations

import copy
import math

import pytest

from theory import bounds
from theory.rules import apply_rule
from theory.rules import pssp as pssp_rules
from theory.rules import rss as rss_rules
from theory.stats import clopper_pearson


@pytest.mark.parametrize(
    "example", rss_rules.EXAMPLES + pssp_rules.EXAMPLES, ids=lambda e: e[0] if isinstance(e, tuple) else ""
)
def test_examples_are_consistent(example):
    _, rule_id, details = example
    res = apply_rule(rule_id, details)
    assert res.verdict == "consistent", res.summary
    assert res.rule and res.constants and res.detectable


def _example(module, evidence_id):
    return copy.deepcopy(next(d for e, _, d in module.EXAMPLES if e == evidence_id))


# --------------------------------------------------------------------------------------------------
# pensia-rss-log
# --------------------------------------------------------------------------------------------------
def test_pensia_violation_is_inconsistent():
    d = _example(rss_rules, "pensia-rss-log")
    d["rows"][1]["failures"] = 10  # 10/200 at eta = 1e-3: the whole interval lies above eta
    assert clopper_pearson(10, 200)[0] > 1e-3
    assert apply_rule("pensia-rss-log", d).verdict == "inconsistent"


def test_pensia_underpowered_design_is_inconclusive():
    d = _example(rss_rules, "pensia-rss-log")
    d["rows"] = [{"form": "code", "eta": 1e-3, "n": 30, "failures": 0, "ambiguous": 0, "trials": 20}]
    res = apply_rule("pensia-rss-log", d)
    # 1 failure in 20 already exceeds 1e-3, but the smallest flaggable rate (0.05) is 50 eta: too coarse.
    assert res.verdict == "inconclusive", res.summary


def test_pensia_row_below_the_bound_tests_nothing():
    d = _example(rss_rules, "pensia-rss-log")
    d["rows"] = [{"form": "code", "eta": 1e-3, "n": 29, "failures": 100, "ambiguous": 0, "trials": 200}]
    assert math.ceil(bounds.pensia_rss_min_n(1e-3, C=3.0)) == 30
    assert apply_rule("pensia-rss-log", d).verdict == "inconclusive"


def test_pensia_restated_constant_is_calibrated_where_resolved():
    cal = {"trials": 50, "etas": [{"eta": 0.1, "n_min": 8}, {"eta": 0.01, "n_min": 40}]}
    # 50 * 0.01 < 1: the 0.01 entry cannot resolve "failure <= eta" and is ignored.
    assert rss_rules.pensia_restated_constant(cal) == pytest.approx(8 / math.log(20))


# --------------------------------------------------------------------------------------------------
# lueker-cor2.5
# --------------------------------------------------------------------------------------------------
def test_lueker_violation_is_inconsistent():
    d = _example(rss_rules, "lueker-cor2.5")
    d["rows"][1]["successes"] = 70
    assert apply_rule("lueker-cor2.5", d).verdict == "inconsistent"


def test_lueker_small_n_leaves_C_undetermined():
    d = _example(rss_rules, "lueker-cor2.5")
    d["calibration"]["etas"] = [{"eta": 1e-2, "n90": 9}, {"eta": 1e-3, "n90": 16}]  # all below 18.4
    res = apply_rule("lueker-cor2.5", d)
    assert res.verdict == "inconclusive" and "18.4" in res.summary


def test_lueker_constant_matches_the_solved_bound():
    cal = {"trials": 100, "etas": [{"eta": 1e-4, "n90": 21}]}
    C = rss_rules.lueker_constant(cal, 0.9)
    assert bounds.lueker_min_n(1e-4, 0.1, C=C) == pytest.approx(21, abs=1e-6)


# --------------------------------------------------------------------------------------------------
# xiong-thm1-aistats.failure-bound
# --------------------------------------------------------------------------------------------------
def test_failure_bound_violation_is_inconsistent():
    d = _example(pssp_rules, "xiong-thm1-aistats.failure-bound")
    d["rows"][0]["failures"] = 190  # bound at n=14, K=2 is about 0.74
    assert bounds.xiong_thm1_failure_probability(14, 0.0, 2.0) < clopper_pearson(190, 200)[0]
    assert apply_rule("xiong-thm1-aistats.failure-bound", d).verdict == "inconsistent"


def test_failure_bound_degenerate_or_tiny_designs_are_inconclusive():
    d = _example(pssp_rules, "xiong-thm1-aistats.failure-bound")
    for r in d["rows"]:
        r["failures"] = 0  # the perturbation made every error 0: nothing is tested
    assert apply_rule("xiong-thm1-aistats.failure-bound", d).verdict == "inconclusive"
    d = _example(pssp_rules, "xiong-thm1-aistats.failure-bound")
    for r in d["rows"]:
        r["trials"], r["failures"] = 3, 2  # even 3/3 could not exceed a bound of ~0.6-0.8
    assert apply_rule("xiong-thm1-aistats.failure-bound", d).verdict == "inconclusive"


def test_nan_bound_is_an_error(monkeypatch):
    monkeypatch.setattr(bounds, "xiong_thm1_failure_probability", lambda *a, **k: math.nan)
    with pytest.raises(ValueError, match="xiong-thm1-failure"):
        apply_rule(
            "xiong-thm1-aistats.failure-bound", _example(pssp_rules, "xiong-thm1-aistats.failure-bound")
        )


# --------------------------------------------------------------------------------------------------
# eps-dependence (three versions)
# --------------------------------------------------------------------------------------------------
SHAPES = ("xiong-thm1-aistats.eps-dependence", "xiong-thm1-slides", "xiong-thm1-opt22")


@pytest.mark.parametrize("rule_id", SHAPES)
def test_shape_no_shift_at_large_eps_is_inconsistent(rule_id):
    d = _example(pssp_rules, rule_id)
    block = d["etas"][0]
    base = block["curves"][0]
    block["curves"][2] = {"perturbation": 0.2, "certain": base["certain"], "possible": base["possible"]}
    res = apply_rule(rule_id, d)
    assert res.verdict == "inconsistent", res.summary


@pytest.mark.parametrize("rule_id", SHAPES)
def test_shape_unresolvable_shift_is_inconclusive(rule_id):
    d = _example(pssp_rules, rule_id)
    block = d["etas"][0]
    base = block["curves"][0]
    block["curves"] = [base, {"perturbation": 1e-4, "certain": base["certain"], "possible": base["possible"]}]
    res = apply_rule(rule_id, d)
    assert res.verdict == "inconclusive", res.summary


def test_shape_versions_differ_in_prediction():
    eta = 1e-3
    preds = {
        v: pssp_rules.predicted_n(v, eta, 1.0, pssp_rules.calibrated_constant(v, eta, 20))
        for v in pssp_rules.VERSIONS
    }
    assert all(
        pssp_rules.predicted_n(v, eta, 0.0, pssp_rules.calibrated_constant(v, eta, 20)) == pytest.approx(20)
        for v in pssp_rules.VERSIONS
    )
    assert preds["aistats"] != pytest.approx(preds["slides"])
    assert all(p < 20 for p in preds.values())


# --------------------------------------------------------------------------------------------------
# pssp-perturbation-helps and n90
# --------------------------------------------------------------------------------------------------
def test_pssp_no_fall_at_resolution_zero_is_inconsistent():
    sharp = [0] * 9 + [100] * 7  # every trial needs exactly 10 candidates
    d = {
        "level": 0.9,
        "etas": [
            {
                "eta": 1e-3,
                "trials": 100,
                "curves": [
                    {"ratio": 0.0, "perturbation": 0.0, "certain": sharp, "possible": sharp},
                    {"ratio": 5.0, "perturbation": 5e-3, "certain": sharp, "possible": sharp},
                ],
            }
        ],
    }
    assert apply_rule("pssp-perturbation-helps", d).verdict == "inconsistent"


def test_pssp_small_design_is_inconclusive():
    d = _example(pssp_rules, "pssp-perturbation-helps")
    for c in d["etas"][0]["curves"]:
        c["certain"] = [min(10, v // 10) for v in c["certain"]]
        c["possible"] = list(c["certain"])
    d["etas"][0]["trials"] = 10
    assert apply_rule("pssp-perturbation-helps", d).verdict == "inconclusive"


def test_n90_interval_brackets_the_point():
    certain = [0, 0, 10, 50, 85, 92, 97, 100]
    got = pssp_rules.n90_interval(certain, certain, 100)
    assert got["low"] <= got["n90"] <= got["high"]
    assert got["n90"] == 6
    assert pssp_rules.n90_interval([0, 5], [0, 5], 10) == {"n90": None, "low": None, "high": None, "n_max": 2}
    with pytest.raises(ValueError, match="certain"):
        pssp_rules.n90_interval([5, 4], [3, 4], 10)


# The bounds each claim declares (common brief); replacing them by NaN must make the rule error.
DECLARED = {
    "lueker-cor2.5": ("lueker-min-n", "lueker-success-probability"),
    "pensia-rss-log": ("pensia-rss-min-n",),
    "xiong-thm1-aistats.failure-bound": ("xiong-thm1-failure", "xiong-candidates-aistats"),
    "xiong-thm1-aistats.eps-dependence": ("xiong-thm1-failure", "xiong-candidates-aistats"),
    "xiong-thm1-slides": ("xiong-candidates-slides",),
    "xiong-thm1-opt22": ("xiong-candidates-opt22",),
}


@pytest.mark.parametrize("evidence_id", sorted(DECLARED))
def test_nan_declared_bounds_make_the_rule_error(evidence_id, monkeypatch):
    _, rule_id, details = next(e for e in rss_rules.EXAMPLES + pssp_rules.EXAMPLES if e[0] == evidence_id)
    for name in DECLARED[evidence_id]:
        fn = bounds.BOUNDS[name]
        nan = lambda *a, **k: math.nan  # noqa: E731
        monkeypatch.setitem(bounds.BOUNDS, name, nan)
        for attr, value in vars(bounds).copy().items():
            if value is fn:
                monkeypatch.setattr(bounds, attr, nan)
    with pytest.raises(ValueError, match="finite"):
        apply_rule(rule_id, details)
