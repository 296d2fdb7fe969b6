"""sympy derivations in theory.symbolic, and the ledger's sympy machinery on true and false identities."""

from __future__ import annotations

import math

import pytest
import sympy as sp

from theory import bounds, symbolic
from theory.ledger import Claim, SymbolicCheck
from theory.symbolic import BoundAgreement

BUILDERS = [
    "relu_split_identity",
    "lueker_solved_for_n",
    "pensia_form_shape",
    "xiong_thm1_solved_for_n",
    "xiong_candidate_shapes",
    "xiong_thm2_width_shapes",
    "pensia_width_shapes",
    "error_budget_composition",
    "counting_bound_algebra",
]


def _run(build, kind="auto"):
    check = SymbolicCheck("test", build, kind=kind)
    claim = Claim(id="t", statement="s", source="s", checks=(check,))
    return check.run(claim, runs_root=None, max_examples=1, seed=None)


@pytest.mark.parametrize("name", BUILDERS)
def test_builtin_derivations_hold(name):
    items = getattr(symbolic, name)()
    assert items, "a derivation must produce at least one item"
    outcome = _run(lambda: items)
    assert outcome.status == "derivation-checked", outcome.evidence


def test_relu_identity_wrong_sign_fails_with_witness():
    t = sp.Symbol("t", real=True)
    relu = lambda z: sp.Piecewise((z, z >= 0), (0, True))  # noqa: E731
    outcome = _run(lambda: sp.piecewise_fold(relu(t) + relu(-t) - t))
    assert outcome.status == "failed"
    assert outcome.counterexample == "t=-1"


def test_false_identity_reports_smallest_witness():
    w, x = sp.symbols("w x", real=True)
    outcome = _run(lambda: (w + x) ** 2 - w**2 - x**2)
    assert outcome.status == "failed"
    assert outcome.counterexample == "w=1, x=1"
    assert "value 2" in outcome.evidence


def test_wrong_lueker_root_is_rejected():
    # The other root of the quadratic lies off the corollary's branch: n < 2a.
    a, ell = sp.symbols("a l", positive=True)
    wrong = 2 * a + 4 * ell - 4 * sp.sqrt(ell * (a + ell))
    outcome = _run(lambda: sp.simplify(wrong - 2 * a) > 0)
    assert outcome.status == "failed"


def test_witness_respects_assumptions():
    # x - |x| is 0 for x >= 0: a nonnegative symbol must not be tried at negative points.
    x = sp.Symbol("x", nonnegative=True)
    assert _run(lambda: x - sp.Abs(x)).status == "derivation-checked"
    y = sp.Symbol("y", real=True)
    outcome = _run(lambda: y - sp.Abs(y))
    assert outcome.status == "failed" and outcome.counterexample == "y=-1"


def test_statement_without_assumptions_is_not_verified():
    # Without sign assumptions sympy cannot prove z^3 - z > 0 (it is false at z = 0): never verified.
    z = sp.Symbol("z")
    outcome = _run(lambda: z**3 - z > 0)
    assert outcome.status == "failed"
    assert outcome.counterexample == "z=0"


def test_unprovable_without_witness_says_not_proved():
    # True for every real z, but sympy cannot decide it and the grid has no witness: reported as failed
    # ("not proved"), never verified, and with no fake counterexample.
    z = sp.Symbol("z", real=True)
    outcome = _run(lambda: sp.Abs(sp.sin(z)) <= 1)
    assert outcome.status == "failed"
    assert "not proved" in outcome.evidence and outcome.counterexample is None


def test_python_bool_items():
    assert _run(lambda: [True, sp.Integer(0)]).status == "derivation-checked"
    outcome = _run(lambda: [True, False])
    assert outcome.status == "failed" and "item 2 of 2" in outcome.evidence and "False" in outcome.evidence


def test_empty_build_is_an_error():
    assert _run(lambda: []).status == "error"


def test_kind_validation():
    with pytest.raises(ValueError, match="kind"):
        SymbolicCheck("x", lambda: 0, kind="maybe")


# --------------------------------------------------------------------------------------------------
# One definition per bound: the derivations evaluate the registered bound functions
# --------------------------------------------------------------------------------------------------
def test_agreement_holds_for_the_registered_bound():
    item = symbolic.agrees("counting-min-params", symbolic._form_counting, [{"d": 3, "eps": 0.01, "c": 1.0}])
    assert isinstance(item, BoundAgreement) and item.holds, item.description


def test_agreement_uses_the_function_registered_now(monkeypatch):
    # A registered bound that drifts from its sympy form by a relative 1e-9 (far less than any change of a
    # constant) is caught, and the message names the point and both values.
    real = bounds.BOUNDS["counting-min-params"]
    monkeypatch.setitem(
        bounds.BOUNDS, "counting-min-params", lambda d, eps, *, c: real(d, eps, c=c) * (1 + 1e-9)
    )
    item = symbolic.agrees("counting-min-params", symbolic._form_counting, [{"d": 3, "eps": 0.01, "c": 1.0}])
    assert not item.holds
    assert "'d': 3" in item.description and "sympy form gives" in item.description
    outcome = _run(symbolic.counting_bound_algebra)
    assert outcome.status == "failed" and "counting-min-params" in outcome.evidence


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_agreement_rejects_non_finite(monkeypatch, value):
    monkeypatch.setitem(bounds.BOUNDS, "pensia-weight-tolerance", lambda *a, **k: value)
    outcome = _run(symbolic.error_budget_composition)
    assert outcome.status == "failed" and "pensia-weight-tolerance" in outcome.evidence


def test_agreement_points_must_be_numbers():
    with pytest.raises(ValueError, match="sample points"):
        symbolic.agrees("counting-min-params", symbolic._form_counting, [{"d": "3", "eps": 0.01, "c": 1.0}])


# Which registered bounds each derivation evaluates (at least): the symbolic half of "the claims' checks
# evaluate their declared bounds". test_mutation.py checks the same through the claims.
EVALUATES = {
    "lueker_solved_for_n": ("lueker-min-n", "lueker-success-probability"),
    "pensia_form_shape": ("pensia-rss-min-n", "pensia-rss-min-n-restated", "pensia-code-candidates"),
    "xiong_thm1_solved_for_n": ("xiong-thm1-failure", "xiong-thm1-min-n"),
    "xiong_candidate_shapes": (
        "xiong-candidates-aistats",
        "xiong-candidates-slides",
        "xiong-candidates-opt22",
    ),
    "xiong_thm2_width_shapes": ("xiong-thm2-width-aistats", "xiong-thm2-width-slides"),
    "pensia_width_shapes": ("pensia-thm1-width", "dacunha-cnn-channels"),
    "error_budget_composition": ("pensia-weight-tolerance",),
    "counting_bound_algebra": ("counting-min-params",),
}


@pytest.mark.parametrize(("builder", "name"), [(b, n) for b, names in EVALUATES.items() for n in names])
def test_each_derivation_fails_when_its_bound_is_broken(monkeypatch, builder, name):
    monkeypatch.setitem(bounds.BOUNDS, name, lambda *a, **k: math.nan)
    try:
        outcome = _run(getattr(symbolic, builder))
    except ValueError as err:  # a NaN fed into another bound's validation: the ledger reports "error"
        assert "nan" in str(err)
        return
    assert outcome.status == "failed", outcome.evidence
