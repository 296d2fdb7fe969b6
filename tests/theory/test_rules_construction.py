"""The construction rules: each says consistent on its EXAMPLES and inconsistent on data built to violate
its claim; a NaN bound is an error, never a verdict."""

from __future__ import annotations

import copy
import math

import pytest

import theory.rules.construction as rc
from theory import bounds
from theory.rules import apply_rule

EXAMPLES = {rid: details for _eid, rid, details in rc.EXAMPLES}


@pytest.mark.parametrize(
    ("evidence_id", "rule_id", "details"), rc.EXAMPLES, ids=[e for e, _r, _d in rc.EXAMPLES]
)
def test_examples_are_consistent(evidence_id, rule_id, details):
    res = apply_rule(rule_id, details)
    assert res.verdict == "consistent", res.summary
    assert res.rule and res.detectable and res.constants


def test_certificate_rule_flags_any_probe_above_its_bound():
    d = copy.deepcopy(EXAMPLES["construction-certificate.certificate"])
    d["cases"][1]["adversarial_max"] = d["cases"][1]["certified_bound"] * (1 + 1e-12)
    res = apply_rule("construction-certificate.certificate", d)
    assert res.verdict == "inconsistent"
    assert "linear-d3" in res.summary
    d["cases"][1]["adversarial_max"] = d["cases"][1]["certified_bound"]  # equal is within the bound
    assert apply_rule("construction-certificate.certificate", d).verdict == "consistent"
    # A zero certificate against a positive measurement (the old missing rounding term) is a violation.
    d["cases"][0].update(certified_bound=0.0, random_max=5e-16, adversarial_max=5e-16)
    assert apply_rule("construction-certificate.certificate", d).verdict == "inconsistent"
    assert apply_rule("construction-certificate.certificate", {"cases": []}).verdict == "inconclusive"


def _paired(n, lost, gained):
    return {
        "n": n,
        "both_correct": n - lost - gained - 10,
        "target_only": lost,
        "ticket_only": gained,
        "both_wrong": 10,
        "disagree": lost + gained,
    }


def test_accuracy_rule_three_verdicts():
    d = copy.deepcopy(EXAMPLES["construction-certificate.accuracy"])
    d["targets"][0]["paired"] = _paired(360, 40, 2)  # an 10-point drop
    assert apply_rule("construction-certificate.accuracy", d).verdict == "inconsistent"
    d["targets"][0]["paired"] = _paired(360, 8, 2)  # a drop of ~1.7 points: cannot be decided at n=360
    assert apply_rule("construction-certificate.accuracy", d).verdict == "inconclusive"
    d["targets"][0]["paired"] = _paired(100, 0, 0)  # too few examples: CP upper bound 4.3% > 2%
    assert apply_rule("construction-certificate.accuracy", d).verdict == "inconclusive"
    d["targets"][0]["paired"] = {"n": 10, "target_only": 8, "ticket_only": 5}
    with pytest.raises(ValueError, match="paired counts"):
        apply_rule("construction-certificate.accuracy", d)


def _power_minima(a, b, alpha, seeds):
    return [
        [round(a + b * (1 / e) ** alpha + ((s + i) % 3 - 1) * 0.6) for i, e in enumerate(rc._EPS)]
        for s in range(seeds)
    ]


@pytest.mark.parametrize("rule_id", ["pensia-thm1-width", "dacunha-cnn-width"])
def test_width_law_rule_prefers_a_power_law_when_the_data_follow_one(rule_id):
    d = copy.deepcopy(EXAMPLES[rule_id])
    d["n_min"] = _power_minima(3.0, 1.0, 0.5, 6)
    res = apply_rule(rule_id, d)
    assert res.verdict == "inconsistent", res.summary
    # Flat noise: neither law is preferred.
    d["n_min"] = [[10 + ((s * 7 + i * 3) % 5) for i in range(len(rc._EPS))] for s in range(6)]
    assert apply_rule(rule_id, d).verdict == "inconclusive"
    # A width that falls as eps shrinks is no log growth, whichever law fits better.
    d["n_min"] = [row[::-1] for row in rc._log_minima(4.0, 2.5, 6)]
    assert apply_rule(rule_id, d).verdict != "consistent"
    # A power law buried in seed noise: the laws are closer than the noise, so neither verdict is reachable.
    d["n_min"] = [
        [v + (9 if (s * 5 + i) % 3 == 0 else -4) for i, v in enumerate(row)]
        for s, row in enumerate(_power_minima(3.0, 0.2, 0.5, 6))
    ]
    res = apply_rule(rule_id, d)
    assert res.verdict == "inconclusive" and "cannot separate" in res.detectable, res.detectable
    # A censored cell, or too few seeds: the design cannot decide.
    d["n_min"] = _power_minima(3.0, 1.0, 0.5, 6)
    d["n_min"][0][-1] = None
    assert apply_rule(rule_id, d).verdict == "inconclusive"
    d["n_min"] = _power_minima(3.0, 1.0, 0.5, 2)
    assert apply_rule(rule_id, d).verdict == "inconclusive"


def test_width_law_rule_uses_the_bound(monkeypatch):
    monkeypatch.setattr(bounds, "pensia_thm1_width", lambda *a, **k: math.nan)
    with pytest.raises(ValueError, match="log term"):
        apply_rule("pensia-thm1-width", EXAMPLES["pensia-thm1-width"])


def test_xiong_factor_rule_flags_a_perturbation_that_does_not_help():
    d = copy.deepcopy(EXAMPLES["xiong-thm2-width"])
    d["perturbation"] = 0.5  # predicted factors 0.667 (AISTATS) and 0.7115 (slides)
    d["n_min_perturbed"] = rc._log_minima(4.0, 2.0, 5)  # the same law as the unperturbed arm: ratio ~1
    res = apply_rule("xiong-thm2-width", d)
    assert res.verdict == "inconsistent", res.summary
    assert "0.6667" in res.summary and "0.7115" in res.summary
    # Noisy arms at a factor 0.99: a no-help ratio could not be flagged, so the rule cannot decide.
    d["perturbation"] = 0.01
    noisy = [[v + (8 if s % 2 else -8) for v in row] for s, row in enumerate(rc._log_minima(20.0, 2.0, 5))]
    d["n_min_perturbed"] = noisy
    d["n_min_unperturbed"] = rc._log_minima(20.0, 2.0, 5)
    res = apply_rule("xiong-thm2-width", d)
    assert res.verdict == "inconclusive", res.summary
    assert "would not" in res.detectable
    d["seeds_perturbed"] = d["seeds_unperturbed"]
    with pytest.raises(ValueError, match="disjoint"):
        apply_rule("xiong-thm2-width", d)


def test_xiong_factor_rule_evaluates_both_versions(monkeypatch):
    monkeypatch.setattr(bounds, "xiong_thm2_width_slides", lambda *a, **k: math.nan)
    with pytest.raises(ValueError, match="slides"):
        apply_rule("xiong-thm2-width", EXAMPLES["xiong-thm2-width"])
