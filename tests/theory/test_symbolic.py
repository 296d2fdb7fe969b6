"""sympy derivations in theory.symbolic, and the ledger's sympy machinery on true and false identities."""

from __future__ import annotations

import pytest
import sympy as sp

from theory import symbolic
from theory.ledger import Claim, SymbolicCheck

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
    assert outcome.status == "verified", outcome.evidence


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
    assert _run(lambda: x - sp.Abs(x)).status == "verified"
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
    assert _run(lambda: [True, sp.Integer(0)]).status == "verified"
    outcome = _run(lambda: [True, False])
    assert outcome.status == "failed" and "item 2 of 2" in outcome.evidence and "False" in outcome.evidence


def test_empty_build_is_an_error():
    assert _run(lambda: []).status == "error"


def test_kind_validation():
    with pytest.raises(ValueError, match="kind"):
        SymbolicCheck("x", lambda: 0, kind="maybe")
