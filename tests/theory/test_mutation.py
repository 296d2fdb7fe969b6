"""NaN mutation: a claim's checks must evaluate the bounds it declares.

For every built-in claim: the ``EXAMPLES`` of every rule module (``theory.rules``) are written as evidence
with :func:`theory.ledger.write_evidence`, the claim's checks are run (numeric checks with an example must
be verified, so the test is not vacuous), then every bound the claim declares is replaced by a
NaN-returning function (its :data:`theory.bounds.BOUNDS` entry and every module attribute bound to the
same function object) and the checks are run again: each check that passed (``verified`` or
``derivation-checked``) must now be ``failed`` or ``error``. A check that survives does not rest on the
bound its claim declares.

The rule modules come from the producer families (sweeps, construct, practice); the evidence ids each
family owns are listed in :data:`FAMILIES`. Wherever a family's rule modules are present, every numeric
check of a claim with bounds that reads one of its ids must have an example. A rule module written only
here (the ``example_rule_module`` fixture) shows that the machinery catches a vacuous check.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import theory.claims  # registers the built-in claims
from theory import bounds, ledger, rules, symbolic
from theory.ledger import CLAIMS, Claim, NoCheck, NumericCheck, SymbolicCheck, register_claim, write_evidence
from theory.rules import RuleResult, finite

PASSED = ("verified", "derivation-checked")
BROKEN = ("failed", "error")
BUILTIN_IDS = [c.id for c in theory.claims.BUILTIN_CLAIMS]

# Which rule modules each producer family writes, and the evidence ids its rules decide (common brief).
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sweeps": (
        ("theory.rules.rss", "theory.rules.pssp"),
        (
            "lueker-cor2.5",
            "pensia-rss-log",
            "xiong-thm1-aistats.failure-bound",
            "xiong-thm1-aistats.eps-dependence",
            "xiong-thm1-slides",
            "xiong-thm1-opt22",
            "pssp-perturbation-helps",
            "pssp-perturbation-shape",
        ),
    ),
    "construct": (
        ("theory.rules.construction",),
        (
            "construction-certificate.certificate",
            "construction-certificate.accuracy",
            "pensia-thm1-width",
            "dacunha-cnn-width",
            "xiong-thm2-width",
        ),
    ),
    "quantized": (
        ("theory.rules.quantized",),
        (
            "integer-rssp-transition.all",
            "integer-rssp-transition.one",
            "quantized-ticket-exact.exact",
            "quantized-ticket-exact.width",
        ),
    ),
    "practice": (
        ("theory.rules.practice", "theory.rules.taylor"),
        (
            "ep-dying-ratio-grows",
            "iep-soft-beats-ep.accuracy",
            "iep-soft-beats-ep.dying-ratio",
            "iep-soft-beats-ep.early",
            "rigl-second-order.accuracy",
            "rigl-second-order.extra-time",
            "testbed-ep-near-dense",
            "ep-mask-turnover-small",
            "ep-dying-accuracy-correlation",
            "iep-hard-worst-case",
            "iterand-lowers-dying",
            "iep-hard-beats-ep",
            "iep-rewind-variants.beat-ep",
            "iep-rewind-variants.lr-best",
            "pgd-ep-perturbation-helps.accuracy-rises",
            "pgd-ep-perturbation-helps.best-sparsity-falls",
            "taylor-first-order",
            "taylor-second-order",
            "second-order-swaps-better",
        ),
    ),
    "planted": (
        ("theory.rules.planted",),
        ("planted-ticket-missed.accuracy", "planted-ticket-missed.recovery"),
    ),
    "rfss": (("theory.rules.rfss",), ("rfss-thm2", "rfss-cor1", "rfss-sparse-ticket")),
    "depth": (("theory.rules.depth",), ("burkholz-depth",)),
}


# --------------------------------------------------------------------------------------------------
# The machinery
# --------------------------------------------------------------------------------------------------
def rule_modules() -> dict[str, types.ModuleType]:
    """Every loaded rule module (the package's submodules, plus any a test put into sys.modules)."""
    rules.load_rules()
    return {
        name: module
        for name, module in sorted(sys.modules.items())
        if name.startswith("theory.rules.") and module is not None
    }


def all_examples() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """``{evidence_id: [(rule_id, details), ...]}`` over the EXAMPLES of every rule module."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for module in rule_modules().values():
        for evidence_id, rule_id, details in module.EXAMPLES:
            out.setdefault(evidence_id, []).append((rule_id, details))
    return out


def write_round(root: Path, examples: Mapping[str, list[tuple[str, dict[str, Any]]]], i: int) -> set[str]:
    """Write the i-th example of every evidence id (the last one where an id has fewer) under ``root``."""
    for evidence_id, items in examples.items():
        rule_id, details = items[min(i, len(items) - 1)]
        write_evidence(root, evidence_id, run=f"EXAMPLES[{i}]", details=details, rule_id=rule_id)
    return set(examples)


def break_bounds(mp: pytest.MonkeyPatch, names: tuple[str, ...]) -> None:
    """Replace each named bound by a NaN-returning function, wherever the function object is bound."""

    def nan_bound(*args: Any, **kwargs: Any) -> float:
        return math.nan

    for name in names:
        original = bounds.BOUNDS[name]
        mp.setitem(bounds.BOUNDS, name, nan_bound)
        for module in list(sys.modules.values()):
            try:
                attrs = list(vars(module).items())
            except TypeError:  # not a module object
                continue
            for attr, value in attrs:
                if value is original:
                    mp.setattr(module, attr, nan_bound)


def mutation_survivors(
    claim_id: str, root: Path, monkeypatch: pytest.MonkeyPatch, examples: Mapping[str, list]
) -> tuple[list[ledger.CheckResult], list[tuple[str, str, str]]]:
    """Run the claim before and after breaking its declared bounds, for every round of examples.

    Returns:
        The results of the first round before mutation, and ``(check, status before, status after)`` for
        every check that passed before and neither failed nor errored after.
    """
    claim = CLAIMS[claim_id]
    rounds = max([len(v) for v in examples.values()] or [1])
    first: list[ledger.CheckResult] = []
    survivors = []
    for i in range(rounds):
        folder = root / f"round{i}"
        write_round(folder, examples, i)
        before = ledger.verify([claim_id], runs_root=folder, max_examples=5)
        first = first or before
        with monkeypatch.context() as mp:
            break_bounds(mp, claim.bounds)
            after = ledger.verify([claim_id], runs_root=folder, max_examples=5)
        survivors += [
            (b.check, b.status, a.status)
            for b, a in zip(before, after, strict=True)
            if b.status in PASSED and a.status not in BROKEN
        ]
    return first, survivors


def missing_examples(
    claims: Mapping[str, Claim], examples: Mapping[str, Any], present_ids: set[str]
) -> list[tuple[str, str]]:
    """``(claim, evidence id)`` for numeric checks of claims with bounds that lack an example.

    Only evidence ids in ``present_ids`` (owned by a family whose rule modules exist) are required.
    """
    return [
        (claim.id, evidence_id)
        for claim in claims.values()
        if claim.bounds
        for evidence_id in claim.evidence_ids()
        if evidence_id in present_ids and evidence_id not in examples
    ]


def present_family_ids(modules: Mapping[str, types.ModuleType]) -> set[str]:
    """The evidence ids of every family at least one of whose rule modules is loaded."""
    return {eid for names, ids in FAMILIES.values() if any(n in modules for n in names) for eid in ids}


# --------------------------------------------------------------------------------------------------
# The built-in claims
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("claim_id", BUILTIN_IDS)
def test_nan_bounds_break_every_passed_check(claim_id, tmp_path, monkeypatch):
    claim = CLAIMS[claim_id]
    examples = all_examples()
    before, survivors = mutation_survivors(claim_id, tmp_path, monkeypatch, examples)
    broken = [(r.check, r.status, r.evidence) for r in before if r.status in BROKEN]
    assert not broken, broken
    with_examples = [r for r in before if r.kind == "numeric" and r.evidence_id in examples]
    assert all(r.status == "verified" for r in with_examples), [
        (r.evidence_id, r.evidence) for r in with_examples
    ]
    if claim.bounds:
        assert any(r.status in PASSED for r in before), "nothing passed: the mutation would prove nothing"
        assert not survivors, (
            f"checks of {claim_id} that do not rest on its bounds {claim.bounds}: {survivors}"
        )


def test_every_numeric_check_belongs_to_a_family():
    owned = {eid for _, ids in FAMILIES.values() for eid in ids}
    numeric = {eid for cid in BUILTIN_IDS for eid in CLAIMS[cid].evidence_ids()}
    assert numeric == owned


@pytest.mark.parametrize("claim_id", [c for c in BUILTIN_IDS if CLAIMS[c].bounds])
def test_claims_with_bounds_have_a_real_check(claim_id):
    claim = CLAIMS[claim_id]
    assert any(not isinstance(c, NoCheck) for c in claim.checks)
    assert all(b in bounds.BOUNDS for b in claim.bounds)
    # Each declared bound on its own already breaks a symbolic check of the claim (ours, in
    # theory.symbolic); the numeric rules are held to all declared bounds at once, above.
    symbolic_checks = [c for c in claim.checks if isinstance(c, SymbolicCheck)]
    assert symbolic_checks


@pytest.mark.parametrize(("claim_id", "name"), [(c, b) for c in BUILTIN_IDS for b in CLAIMS[c].bounds])
def test_each_declared_bound_breaks_a_symbolic_check(claim_id, name, tmp_path, monkeypatch):
    with monkeypatch.context() as mp:
        break_bounds(mp, (name,))
        after = ledger.verify([claim_id], runs_root=tmp_path, max_examples=5)
    assert any(r.kind == "symbolic" and r.status in BROKEN for r in after), [
        (r.check, r.status) for r in after
    ]


def test_every_present_rule_module_has_examples_for_its_ids():
    modules = rule_modules()
    examples = all_examples()
    for name, module in modules.items():
        assert isinstance(module.EXAMPLES, list), name
        for item in module.EXAMPLES:
            evidence_id, rule_id, details = item
            assert isinstance(evidence_id, str) and rule_id in rules.RULES and isinstance(details, dict), item
    # Every rule a module registers is exercised by at least one example.
    used = {rule_id for items in examples.values() for rule_id, _ in items}
    for rule_id, fn in rules.RULES.items():
        if fn.__module__ in modules:
            assert rule_id in used, f"rule {rule_id!r} of {fn.__module__} has no EXAMPLE"
    assert not missing_examples(CLAIMS, examples, present_family_ids(modules))


def test_rule_package_modules_define_examples():
    # Data-driven: every module file under theory/rules/ is imported and must define a non-empty EXAMPLES.
    for info in pkgutil.iter_modules(rules.__path__):
        assert importlib.import_module(f"theory.rules.{info.name}").EXAMPLES, info.name


# --------------------------------------------------------------------------------------------------
# The machinery on a rule module written only here
# --------------------------------------------------------------------------------------------------
def _fit_rule(details: Mapping[str, Any]) -> RuleResult:
    """Measured minimal n never exceeds ceil(C log2(1/eps)) at the calibrated C (a toy rule)."""
    C = float(details["C"])
    over = []
    for eps, n in zip(details["eps"], details["measured_n"], strict=True):
        bound = finite("pensia-rss-min-n", bounds.get_bound("pensia-rss-min-n")(eps, C=C))
        if n > math.ceil(bound):
            over.append(eps)
    return RuleResult(
        "inconsistent" if over else "consistent",
        f"measured n above ceil(C log2(1/eps)) at eps {over}" if over else "measured n within the bound",
        rule="inconsistent if any measured minimal n > ceil(C log2(1/eps)), else consistent",
        constants={"C": f"{C} (test value)"},
        detectable="one candidate above the bound at any eps",
    )


def _vacuous_rule(details: Mapping[str, Any]) -> RuleResult:
    """Decides without evaluating any bound (what the mutation test must catch)."""
    ok = all(n > 0 for n in details["measured_n"])
    return RuleResult(
        "consistent" if ok else "inconsistent",
        "every measured n is positive",
        rule="consistent if every measured n > 0",
        constants={},
        detectable="a non-positive n",
    )


def _touches_bound() -> list[Any]:
    return [symbolic.agrees("pensia-rss-min-n", symbolic._form_pensia_rss, [{"eps": 0.01, "C": 3.0}])]


def _pure_algebra() -> Any:
    import sympy as sp

    x = sp.Symbol("x", positive=True)
    return sp.expand_log(sp.log(x**2)) - 2 * sp.log(x)


@pytest.fixture
def example_rule_module(monkeypatch):
    """A temporary rule module with two rules and their EXAMPLES, and claims that use them."""
    module = types.ModuleType("theory.rules._mutation_example")
    details = {"C": 3.0, "eps": [0.1, 0.01], "measured_n": [9, 18]}
    module.EXAMPLES = [
        ("test-mutation-real", "test-fit-rule", details),
        ("test-mutation-vacuous", "test-vacuous-rule", details),
    ]
    _fit_rule.__module__ = _vacuous_rule.__module__ = module.__name__
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(rules.RULES, "test-fit-rule", _fit_rule)
    monkeypatch.setitem(rules.RULES, "test-vacuous-rule", _vacuous_rule)
    saved = dict(CLAIMS)
    register_claim(
        Claim(
            id="test-mutation-real",
            statement="minimal n <= C log2(1/eps)",
            source="test",
            checks=(SymbolicCheck("bound agrees", _touches_bound), NumericCheck("fit")),
            bounds=("pensia-rss-min-n",),
        )
    )
    register_claim(
        Claim(
            id="test-mutation-vacuous",
            statement="minimal n <= C log2(1/eps), checked by checks that never look at the bound",
            source="test",
            checks=(SymbolicCheck("log algebra", _pure_algebra), NumericCheck("positive n")),
            bounds=("pensia-rss-min-n",),
        )
    )
    register_claim(
        Claim(
            id="test-mutation-no-example",
            statement="s",
            source="test",
            checks=(SymbolicCheck("bound agrees", _touches_bound), NumericCheck("no example")),
            bounds=("pensia-rss-min-n",),
        )
    )
    yield module
    CLAIMS.clear()
    CLAIMS.update(saved)


def test_machinery_breaks_a_check_that_uses_its_bound(example_rule_module, tmp_path, monkeypatch):
    examples = all_examples()
    assert "test-mutation-real" in examples  # the fixture's module is picked up like a real one
    before, survivors = mutation_survivors("test-mutation-real", tmp_path, monkeypatch, examples)
    assert [r.status for r in before] == ["derivation-checked", "verified"]
    assert before[1].rule and before[1].constants == {"C": "3.0 (test value)"} and before[1].detectable
    assert not survivors
    with monkeypatch.context() as mp:
        break_bounds(mp, ("pensia-rss-min-n",))
        after = ledger.verify(["test-mutation-real"], runs_root=tmp_path / "round0")
    assert [r.status for r in after] == ["failed", "error"]
    assert "pensia-rss-min-n" in after[0].evidence and "nan" in after[1].evidence


def test_machinery_catches_a_vacuous_check(example_rule_module, tmp_path, monkeypatch):
    before, survivors = mutation_survivors("test-mutation-vacuous", tmp_path, monkeypatch, all_examples())
    assert [r.status for r in before] == ["derivation-checked", "verified"]
    assert [(s[1], s[2]) for s in survivors] == [
        ("derivation-checked", "derivation-checked"),
        ("verified", "verified"),
    ]


def test_machinery_finds_a_numeric_check_without_example(example_rule_module):
    examples = all_examples()
    ids = {"test-mutation-real", "test-mutation-vacuous", "test-mutation-no-example"}
    assert missing_examples(CLAIMS, examples, ids) == [
        ("test-mutation-no-example", "test-mutation-no-example")
    ]
    # Ids of a family whose rule modules are absent are not required (yet).
    assert missing_examples(CLAIMS, examples, set()) == []


def test_break_bounds_reaches_module_attributes(monkeypatch):
    original = bounds.pensia_rss_min_n
    with monkeypatch.context() as mp:
        break_bounds(mp, ("pensia-rss-min-n",))
        assert math.isnan(bounds.pensia_rss_min_n(0.01, C=1.0))
        assert math.isnan(bounds.get_bound("pensia-rss-min-n")(0.01, C=1.0))
    assert bounds.pensia_rss_min_n is original and bounds.BOUNDS["pensia-rss-min-n"] is original
