"""RFSS bounds, rules and producers: the producers' real output goes through their rules."""

from __future__ import annotations

import copy
import math

import pytest

from theory import bounds
from theory.rules import apply_rule
from theory.rules.rfss import EXAMPLES


def test_entropy_min_n_is_smallest():
    for k, eps, c in ((1, 0.1, 1.0), (8, 0.01, 2.0), (16, 0.003, 0.5)):
        n = bounds.rfss_thm2_min_n(k, eps, c_hyp=c)
        need = c * math.log2(k / eps)
        assert n >= 2 * k and n * bounds.binary_entropy(k / n) >= need
        assert n == 2 * k or (n - 1) * bounds.binary_entropy(k / (n - 1)) < need


def test_irwin_hall_constants():
    # k = 2: triangular density (2 - |x|)/4: sqrt(2) f(sqrt 2) = (sqrt 2 - 1)/2, sqrt(2) f(0) = 1/sqrt 2.
    assert bounds.rfss_lemma1_cl(2) == pytest.approx((math.sqrt(2) - 1) / 2, rel=1e-12)
    assert bounds.rfss_lemma1_cu(5) == pytest.approx(1 / math.sqrt(2), rel=1e-12)
    # Approached from above by the CLT limit sqrt(3/(2 pi)) exp(-3/2).
    limit = math.sqrt(3 / (2 * math.pi)) * math.exp(-1.5)
    assert limit < bounds.rfss_lemma1_cl(40) < limit * 1.02


def test_thm3_block_is_a_fixed_point_and_decreases_in_density():
    n = bounds.rfss_thm3_block(8, 8, 2, 0.01, 0.25, c_amp=1.0)
    b = 2 * 2 * 8 * 8 * 0.25 / 0.01
    assert n == pytest.approx(math.log2(b * n) ** 2 / bounds.binary_entropy(0.25), rel=1e-10)
    assert bounds.rfss_thm3_block(8, 8, 2, 0.01, 0.1, c_amp=1.0) > n


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="eps"):
        bounds.rfss_thm5_min_params(4, 10, 0.1)  # Theorem 5 needs eps < 1/16
    with pytest.raises(ValueError, match="k must be"):
        bounds.rfss_cor2_min_n(2, 0.1, c_amp=1.0)
    with pytest.raises(ValueError, match="gamma"):
        bounds.rfss_thm3_block(4, 4, 1, 0.1, 0.7, c_amp=1.0)


def test_examples_are_consistent():
    for _, rule, details in EXAMPLES:
        assert apply_rule(rule, details).verdict == "consistent"


def test_thm2_rule_flags_a_decay_and_a_stale_n():
    details = copy.deepcopy(EXAMPLES[0][2])
    for r in details["rows"]:
        if r["k"] == 4 and r["eps"] == 0.03:
            r["hits"] = 0
    assert apply_rule("rfss-thm2", details).verdict == "inconsistent"
    details["rows"][0]["n"] += 1
    with pytest.raises(ValueError, match="differs"):
        apply_rule("rfss-thm2", details)


def test_cor1_rule_flags_low_coverage():
    details = copy.deepcopy(EXAMPLES[1][2])
    details["rows"][0]["successes"] = 30
    assert apply_rule("rfss-cor1", details).verdict == "inconsistent"


def test_sparse_rule_flags_a_broken_density_and_a_rising_trend():
    details = copy.deepcopy(EXAMPLES[2][2])
    details["rows"][0]["layer_density"] = [0.2, 0.05]
    assert apply_rule("rfss-sparse-ticket", details).verdict == "inconsistent"
    details = copy.deepcopy(EXAMPLES[2][2])
    details["rows"][4]["certified"] = 1.0  # n = 24 certifies only at the density grid's low end...
    details["rows"][3]["certified"] = 1.0  # ...not at all: one width left
    assert apply_rule("rfss-sparse-ticket", details).verdict == "inconclusive"
    details = copy.deepcopy(EXAMPLES[2][2])
    details["rows"][1]["density"] = 0.01  # narrowest width certifies sparser than the widest
    assert apply_rule("rfss-sparse-ticket", details).verdict == "inconsistent"
