"""The claims ledger: registry, checks (pass and fail), evidence files, user claims, `slth verify`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import theory.claims  # registers the built-in claims; BUILTIN_CLAIMS is used below
from theory import ledger
from theory.ledger import (
    CHECK_TYPES,
    CLAIMS,
    Claim,
    NoCheck,
    NumericCheck,
    PropertyCheck,
    SymbolicCheck,
    register_claim,
)

REPO = Path(__file__).resolve().parents[2]

BINDING_IDS = [
    "relu-split-identity",
    "lueker-cor2.5",
    "pensia-rss-log",
    "xiong-thm1-aistats",
    "xiong-thm1-slides",
    "xiong-thm1-opt22",
    "xiong-thm2-width",
    "pensia-thm1-width",
    "dacunha-cnn-width",
    "burkholz-depth",
    "counting-lower-bound",
    "pssp-perturbation-helps",
    "taylor-first-order",
    "taylor-second-order",
    "second-order-swaps-better",
    "construction-certificate",
    "ep-dying-ratio-grows",
    "iep-soft-beats-ep",
    "rigl-second-order",
    "pgd-ep-perturbation-helps",
    "testbed-ep-near-dense",
    "ep-mask-turnover-small",
    "ep-dying-accuracy-correlation",
    "iep-hard-worst-case",
    "iep-rewind-variants",
    "iterand-lowers-dying",
    "iep-hard-beats-ep",
]
# Measured claims: their status must come from evidence files written by sim/networks.
NUMERIC_IDS = [
    "lueker-cor2.5",
    "pensia-rss-log",
    "xiong-thm1-aistats",
    "xiong-thm1-slides",
    "xiong-thm1-opt22",
    "pssp-perturbation-helps",
    "taylor-first-order",
    "taylor-second-order",
    "second-order-swaps-better",
    "construction-certificate",
    "pensia-thm1-width",
    "ep-dying-ratio-grows",
    "iep-soft-beats-ep",
    "rigl-second-order",
    "pgd-ep-perturbation-helps",
    "testbed-ep-near-dense",
    "ep-mask-turnover-small",
    "ep-dying-accuracy-correlation",
    "iep-hard-worst-case",
    "iep-rewind-variants",
    "iterand-lowers-dying",
    "iep-hard-beats-ep",
    "burkholz-depth",
]


@pytest.fixture
def clean_registry():
    """Restore the claims registry after a test that registers its own claims."""
    saved = dict(CLAIMS)
    yield CLAIMS
    CLAIMS.clear()
    CLAIMS.update(saved)


# --------------------------------------------------------------------------------------------------
# Contract over the built-in registry
# --------------------------------------------------------------------------------------------------
def test_binding_ids_are_registered():
    missing = [i for i in BINDING_IDS if i not in CLAIMS]
    assert not missing


@pytest.mark.parametrize("claim_id", sorted(CLAIMS))
def test_claim_contract(claim_id):
    claim = CLAIMS[claim_id]
    assert claim.id == claim_id
    assert claim.statement.strip() and claim.source.strip()
    assert claim.checks, "a claim needs a check or an explicit NoCheck marker"
    assert all(isinstance(c, CHECK_TYPES) for c in claim.checks)
    if any(isinstance(c, NoCheck) for c in claim.checks):
        assert len(claim.checks) == 1, "NoCheck must not be mixed with real checks"
        assert claim.checks[0].reason.strip()
    for c in claim.checks:
        assert c.label


@pytest.mark.parametrize("claim_id", NUMERIC_IDS)
def test_measured_claims_read_evidence(claim_id):
    assert any(isinstance(c, NumericCheck) for c in CLAIMS[claim_id].checks)


# --------------------------------------------------------------------------------------------------
# Registry and Claim validation
# --------------------------------------------------------------------------------------------------
def test_duplicate_claim_refused(clean_registry):
    claim = Claim(id="dup-claim", statement="s", source="s", checks=(NoCheck("r"),))
    register_claim(claim)
    with pytest.raises(ValueError, match="already registered"):
        register_claim(claim)
    with pytest.raises(ValueError, match="already registered"):
        register_claim(Claim(id="relu-split-identity", statement="s", source="s", checks=(NoCheck("r"),)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"id": "", "statement": "s", "source": "s", "checks": (NoCheck("r"),)}, "id"),
        ({"id": "a b", "statement": "s", "source": "s", "checks": (NoCheck("r"),)}, "id"),
        ({"id": "x", "statement": " ", "source": "s", "checks": (NoCheck("r"),)}, "statement"),
        ({"id": "x", "statement": "s", "source": "", "checks": (NoCheck("r"),)}, "source"),
        ({"id": "x", "statement": "s", "source": "s", "checks": ()}, "NoCheck"),
        ({"id": "x", "statement": "s", "source": "s", "checks": ("not a check",)}, "SymbolicCheck"),
    ],
)
def test_claim_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Claim(**kwargs)


def test_unknown_claim_id_lists_valid_ids():
    with pytest.raises(ValueError, match="relu-split-identity"):
        ledger.verify(["no-such-claim"])
    with pytest.raises(ValueError, match="max_examples"):
        ledger.verify(["burkholz-depth"], max_examples=0)


# --------------------------------------------------------------------------------------------------
# Property checks: pass, fail with a shrunk counterexample, error
# --------------------------------------------------------------------------------------------------
def _int_lists():
    from hypothesis import strategies as st

    return st.lists(st.integers(0, 10))


def test_false_property_reports_shrunk_counterexample(clean_registry, tmp_path):
    register_claim(
        Claim(
            id="sums-are-small",
            statement="every list of small integers sums to less than 3 (false)",
            source="test",
            checks=(PropertyCheck("sum < 3", _int_lists, lambda xs: sum(xs) < 3),),
        )
    )
    (res,) = ledger.verify(["sums-are-small"], runs_root=tmp_path, max_examples=200)
    assert res.status == "failed"
    # hypothesis shrinks any failing list to the minimal one
    assert ast.literal_eval(res.counterexample) == [3]
    assert "[3]" in res.evidence


def test_true_property_verified(clean_registry, tmp_path):
    register_claim(
        Claim(
            id="sums-nonnegative",
            statement="sums of non-negative integers are non-negative",
            source="test",
            checks=(PropertyCheck("sum >= 0", _int_lists, lambda xs: sum(xs) >= 0),),
        )
    )
    (res,) = ledger.verify(["sums-nonnegative"], runs_root=tmp_path, max_examples=20)
    assert res.status == "verified"
    assert "20" in res.evidence


def _solver_instances():
    from hypothesis import strategies as st

    unit = st.floats(-1, 1, allow_nan=False)
    return st.tuples(st.lists(unit, min_size=1, max_size=4), unit)


def _small_error(example):
    import theory

    cands, target = example
    return theory.best_subset(cands, target).error <= 0.25


def test_false_solver_claim_fails_with_a_real_counterexample(clean_registry, tmp_path):
    register_claim(
        Claim(
            id="four-candidates-suffice",
            statement="four uniforms always approximate any target within 0.25 (false)",
            source="test",
            checks=(PropertyCheck("error <= 0.25", _solver_instances, _small_error),),
        )
    )
    (res,) = ledger.verify(["four-candidates-suffice"], runs_root=tmp_path, max_examples=200)
    assert res.status == "failed"
    example = ast.literal_eval(res.counterexample)
    assert not _small_error(example), "the reported example must violate the claim"
    assert len(example[0]) == 1, "shrinking reaches a single candidate"


def test_predicate_exception_is_an_error_with_example(clean_registry, tmp_path):
    def boom(xs):
        if len(xs) > 1:
            raise RuntimeError("broken predicate")
        return True

    register_claim(
        Claim(id="broken", statement="s", source="s", checks=(PropertyCheck("boom", _int_lists, boom),))
    )
    (res,) = ledger.verify(["broken"], runs_root=tmp_path, max_examples=50)
    assert res.status == "error"
    assert "RuntimeError" in res.evidence
    assert len(ast.literal_eval(res.counterexample)) == 2


def test_broken_check_does_not_stop_the_ledger(clean_registry, tmp_path):
    def bad_build():
        raise ZeroDivisionError("oops")

    register_claim(
        Claim(
            id="bad-build",
            statement="s",
            source="s",
            checks=(SymbolicCheck("raises", bad_build), NoCheck("nothing to check")),
        )
    )
    results = ledger.verify(["bad-build"], runs_root=tmp_path)
    assert [r.status for r in results] == ["error", "no-check"]
    assert "ZeroDivisionError" in results[0].evidence


# --------------------------------------------------------------------------------------------------
# Symbolic checks through verify
# --------------------------------------------------------------------------------------------------
def _false_identity():
    import sympy as sp

    a, b = sp.symbols("a b", positive=True)
    return sp.log(a + b) - sp.log(a) - sp.log(b)


def _true_identity():
    import sympy as sp

    a, b = sp.symbols("a b", positive=True)
    return sp.expand_log(sp.log(a * b)) - sp.log(a) - sp.log(b)


def test_symbolic_claims_true_and_false(clean_registry, tmp_path):
    register_claim(
        Claim(id="log-true", statement="s", source="s", checks=(SymbolicCheck("t", _true_identity),))
    )
    register_claim(
        Claim(id="log-false", statement="s", source="s", checks=(SymbolicCheck("f", _false_identity),))
    )
    ok, bad = ledger.verify(["log-true", "log-false"], runs_root=tmp_path)
    # sympy checks the algebra of a derivation: never "verified" on its own.
    assert ok.status == "derivation-checked"
    assert bad.status == "failed"
    assert bad.counterexample == "a=1, b=1"  # log 2 - 0 - 0 != 0


# --------------------------------------------------------------------------------------------------
# Evidence files
# --------------------------------------------------------------------------------------------------
def test_evidence_round_trip(tmp_path):
    path = ledger.write_evidence(
        tmp_path,
        "lueker-cor2.5",
        verdict="consistent",
        summary="measured success >= bound at every n",
        run=tmp_path / "rss-constant" / "abc",
        details={"C": 0.7, "n": [10, 20]},
    )
    assert path == tmp_path / "evidence" / "lueker-cor2.5.json"
    on_disk = json.loads(path.read_text())
    assert on_disk.pop("_record")["schema"] == "slth.evidence/1"  # the stamp (schema id, content hash)
    assert set(on_disk) == {"claim", "verdict", "summary", "run", "details", "written_at"}
    found = ledger.read_evidence(tmp_path)
    assert found["lueker-cor2.5"] == on_disk
    assert found["lueker-cor2.5"]["details"] == {"C": 0.7, "n": [10, 20]}
    assert ledger.read_evidence(tmp_path / "nowhere") == {}


@pytest.mark.parametrize(
    ("verdict", "status"),
    [("consistent", "verified"), ("inconsistent", "failed"), ("inconclusive", "inconclusive")],
)
def test_numeric_check_status_from_evidence(tmp_path, verdict, status):
    (before,) = ledger.verify(["taylor-second-order"], runs_root=tmp_path)
    assert before.status == "pending"
    ledger.write_evidence(tmp_path, "taylor-second-order", verdict=verdict, summary="slope 2.9", run="r")
    (after,) = ledger.verify(["taylor-second-order"], runs_root=tmp_path)
    assert after.status == status
    assert after.evidence.startswith(f"{verdict}: slope 2.9")


def test_newest_evidence_wins(tmp_path):
    folder = tmp_path / "evidence"
    folder.mkdir()
    base = {"claim": "ep-dying-ratio-grows", "summary": "s", "run": None, "details": {}}
    (folder / "a.json").write_text(json.dumps({**base, "verdict": "consistent", "written_at": "2026-01-02"}))
    (folder / "ep-dying-ratio-grows.json").write_text(
        json.dumps({**base, "verdict": "inconsistent", "written_at": "2026-01-01"})
    )
    assert ledger.read_evidence(tmp_path)["ep-dying-ratio-grows"]["verdict"] == "consistent"


def test_malformed_evidence_is_an_error(tmp_path):
    folder = tmp_path / "evidence"
    folder.mkdir()
    # iep-soft-beats-ep has three parts; its accuracy part reads iep-soft-beats-ep.accuracy.json.
    (folder / "iep-soft-beats-ep.accuracy.json").write_text("{not json")
    res, *others = ledger.verify(["iep-soft-beats-ep"], runs_root=tmp_path)
    assert res.status == "error" and res.part == "accuracy"
    assert "unreadable" in res.evidence
    assert [(o.part, o.status) for o in others] == [("dying-ratio", "pending"), ("early", "pending")]
    assert "iep-soft-beats-ep.accuracy" not in ledger.read_evidence(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"claim_id": "x", "verdict": "maybe", "summary": "s", "run": None}, "verdict"),
        ({"claim_id": "x", "verdict": "consistent", "summary": "a\nb", "run": None}, "summary"),
        ({"claim_id": "x", "verdict": "consistent", "summary": " ", "run": None}, "summary"),
        ({"claim_id": "../x", "verdict": "consistent", "summary": "s", "run": None}, "claim_id"),
        ({"claim_id": "x", "verdict": "consistent", "summary": "s", "run": None, "details": [1]}, "details"),
    ],
)
def test_write_evidence_validation(tmp_path, kwargs, match):
    claim_id = kwargs.pop("claim_id")
    with pytest.raises(ValueError, match=match):
        ledger.write_evidence(tmp_path, claim_id, **kwargs)


def test_no_check_claim_says_so(clean_registry, tmp_path):
    register_claim(Claim(id="user-no-check", statement="s", source="s", checks=(NoCheck("recorded only"),)))
    (res,) = ledger.verify(["user-no-check"], runs_root=tmp_path)
    assert res.status == "no-check"
    assert res.evidence


# --------------------------------------------------------------------------------------------------
# User claims and the CLI
# --------------------------------------------------------------------------------------------------
USER_CLAIMS = textwrap.dedent(
    """
    from hypothesis import strategies as st
    from theory.ledger import Claim, PropertyCheck, SymbolicCheck, register_claim


    def ints():
        return st.lists(st.integers(0, 10))


    def identity():
        import sympy as sp
        x = sp.Symbol("x", real=True)
        return (x + 1) ** 2 - (x**2 + 2 * x + 1)


    register_claim(Claim(
        id="user-true",
        statement="(x+1)^2 expands",
        source="algebra",
        checks=(SymbolicCheck("binomial", identity),),
    ))
    register_claim(Claim(
        id="user-false",
        statement="sums stay below 3 (false)",
        source="nowhere",
        checks=(PropertyCheck("sum < 3", ints, lambda xs: sum(xs) < 3),),
    ))
    """
)


def test_load_claims_from_file(clean_registry, tmp_path):
    path = tmp_path / "my_claims.py"
    path.write_text(USER_CLAIMS)
    assert ledger.load_claims(path) == ["user-true", "user-false"]
    # loading again while the claims are registered is a no-op
    assert ledger.load_claims(str(path)) == ["user-true", "user-false"]
    assert "user-true" in CLAIMS
    with pytest.raises(ValueError, match="does not exist"):
        ledger.load_claims(tmp_path / "missing.py")
    with pytest.raises(ValueError, match="not found"):
        ledger.load_claims("no_such_module_for_claims")


def test_cli_verify_end_to_end(clean_registry, tmp_path, capsys):
    from figures.cli import main

    path = tmp_path / "my_claims.py"
    no_check = 'from theory.ledger import NoCheck\nregister_claim(Claim(id="user-no-check", statement="s", '
    no_check += 'source="s", checks=(NoCheck("recorded only"),)))\n'
    path.write_text(USER_CLAIMS + no_check)
    out_json = tmp_path / "out.json"
    args = ["--quiet", "verify", "--claims", str(path), "--only", "user-true", "user-no-check"]
    rc = main([*args, "--runs-root", str(tmp_path), "--max-examples", "10", "--json", str(out_json)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "user-true" in out and "verified" in out and "no-check" in out
    assert "claim" in out.splitlines()[0] and "evidence" in out.splitlines()[0]
    data = json.loads(out_json.read_text())
    assert [r["status"] for r in data["results"]] == ["derivation-checked", "no-check"]
    assert [v["verdict"] for v in data["verdicts"]] == ["inconclusive", "inconclusive"]
    assert "derivation checked only" in data["verdicts"][0]["reason"]
    assert "derivation-checked: 1" in out and "inconclusive: 2" in out

    rc = main(["--quiet", "verify", "--claims", str(path), "--only", "user-false"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "failed" in out and "counterexample: [3]" in out


def test_cli_verify_unknown_id_is_a_clean_error(capsys):
    from figures.cli import main

    assert main(["verify", "--only", "nope"]) == 2
    assert "unknown claim 'nope'" in capsys.readouterr().err


def test_cli_bound(capsys):
    from figures.cli import main

    assert (
        main(["theory", "bound", "xiong-thm1-failure", "--n", "20", "--perturbation", "0", "--K", "2"]) == 0
    )
    out = capsys.readouterr().out
    assert "0.6077" in out
    assert (
        main(["theory", "bound", "pensia-thm1-network", "--widths", "784,500,10", "--eps=0.01", "--C", "1"])
        == 0
    )
    assert '"depth": 4' in capsys.readouterr().out
    assert (
        main(["theory", "bound", "xiong-thm1-failure", "--n", "20", "--perturbation", "3", "--K", "2"]) == 2
    )
    assert "perturbation must be in" in capsys.readouterr().err
    assert main(["theory", "bound", "xiong-thm1-failure", "--m", "1"]) == 2
    assert "unknown parameter --m" in capsys.readouterr().err
    assert main(["theory", "bound", "--list"]) == 0
    assert "lueker-min-n" in capsys.readouterr().out


def test_cli_solve(capsys):
    from figures.cli import main

    assert main(["theory", "solve", "--candidates", "0.5,0.25", "0.125", "--target", "0.375"]) == 0
    out = capsys.readouterr().out
    assert "indices: [1, 2]" in out
    assert "error:   0.0" in out


def test_cli_registration_and_ledger_import_stay_light():
    # theory's own registration and the ledger modules must not pull in sympy, hypothesis or torch.
    code = (
        "import argparse, sys, theory.cli, theory.ledger, theory.bounds, theory.claims; "
        "theory.cli.register(argparse.ArgumentParser().add_subparsers()); "
        "heavy = [m for m in ('sympy', 'hypothesis', 'torch') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_format_table_columns():
    results = [
        ledger.CheckResult("a", "src", "sympy: x", "verified", "fine"),
        ledger.CheckResult("b", "s" * 200, "evidence: y", "pending", "e" * 500),
    ]
    table = ledger.format_table(results)
    lines = table.splitlines()
    assert lines[0].split() == ["claim", "source", "check", "status", "evidence"]
    assert all(line == line.rstrip() for line in lines)
    assert (
        "verified: 1, derivation-checked: 0, failed: 0, inconclusive: 0, pending: 1, no-check: 0, error: 0"
        in table
    )
    assert max(len(line) for line in lines) < 300


def test_cli_lists_claims(capsys):
    from figures.cli import main

    assert main(["theory", "claims"]) == 0
    out = capsys.readouterr().out
    for claim_id in BINDING_IDS:
        assert claim_id in out


PROPERTY_CLAIMS = [
    "relu-split-identity",
    "pssp-perturbation-helps",
    "subset-sum-solver-exact",
    "subset-sum-coverage-monotone",
    "subset-sum-scaling",
]


def test_builtin_property_checks_hold(tmp_path):
    results = ledger.verify(PROPERTY_CLAIMS, runs_root=tmp_path, max_examples=15)
    props = [r for r in results if r.check.startswith("hypothesis")]
    assert len(props) == len(PROPERTY_CLAIMS)
    assert all(r.status == "verified" for r in props), [(r.claim, r.evidence) for r in props]


def test_builtin_predicates_can_fail(monkeypatch):
    # A solver that always returns the empty subset but claims zero error must be caught.
    import theory
    from theory import claims

    real = theory.best_subset

    def lying(candidates, target, *, perturbation=0.0):
        res = real(candidates, target, perturbation=perturbation)
        return type(res)(indices=(), value=0.0, error=0.0)

    example = ([0.5, 0.25], 0.75, 0.0)
    assert claims.solver_matches_oracle(example)
    assert claims.xiong_block_error(([0.5, 0.25, -0.5, 0.125], 0.5, 0.0, [0.3]))
    monkeypatch.setattr(theory, "best_subset", lying)
    assert not claims.solver_matches_oracle(example)
    assert not claims.xiong_block_error(([0.5, 0.25, -0.5, 0.125], 0.5, 0.0, [0.3]))


def test_example_user_claim_file(clean_registry, tmp_path):
    ids = ledger.load_claims(REPO / "examples" / "my_claim.py")
    assert ids == ["perturbation-sparser-tickets"]
    results = ledger.verify(ids, runs_root=tmp_path, max_examples=15)
    assert [r.status for r in results] == ["verified", "derivation-checked"], [r.evidence for r in results]


def test_whole_builtin_ledger_passes_without_evidence(tmp_path):
    results = ledger.verify(runs_root=tmp_path, max_examples=5)
    bad = [(r.claim, r.check, r.evidence) for r in results if r.status in ("failed", "error")]
    assert not bad
    counts = ledger.summarize(results)
    assert counts["pending"] >= len(NUMERIC_IDS)
    assert counts["no-check"] == 0  # burkholz-depth, the last no-check claim, now has a numeric check


# --------------------------------------------------------------------------------------------------
# Declared bounds, parts, rules and the claim verdict
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"checks": (NoCheck("r"),), "bounds": ("lueker-min-n",)}, "no check that could evaluate"),
        ({"checks": (NumericCheck("m"),), "bounds": ("a", "a")}, "distinct bound names"),
        ({"checks": (NumericCheck("m", part="x"),)}, r"part\(s\) \['x'\] not in parts"),
        ({"checks": (NumericCheck("m", part="x"),), "parts": ("x",)}, "two or more parts"),
        ({"checks": (NumericCheck("m", part="x"),), "parts": ("x", "y")}, r"without a check: \['y'\]"),
        (
            {
                "checks": (NumericCheck("m", part="x"), NumericCheck("m"), NumericCheck("n", part="y")),
                "parts": ("x", "y"),
            },
            "every NumericCheck a part",
        ),
        ({"checks": (NumericCheck("m"),), "parts": ("x.y", "z")}, "without spaces or dots"),
    ],
)
def test_claim_bounds_and_parts_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Claim(id="x", statement="s", source="s", **kwargs)


def test_numeric_check_part_validation():
    with pytest.raises(ValueError, match="part"):
        NumericCheck("m", part="a b")


def test_unknown_bound_refused_at_registration(clean_registry):
    claim = Claim(id="bad-bound", statement="s", source="s", checks=(NumericCheck("m"),), bounds=("no-such",))
    with pytest.raises(ValueError, match=r"unknown bound.*no-such.*lueker-min-n"):
        register_claim(claim)
    assert "bad-bound" not in CLAIMS


def test_builtin_two_part_claims_read_part_evidence():
    parts = {
        "construction-certificate": ("certificate", "accuracy"),
        "iep-soft-beats-ep": ("accuracy", "dying-ratio", "early"),
        "pgd-ep-perturbation-helps": ("accuracy-rises", "best-sparsity-falls"),
        "rigl-second-order": ("accuracy", "extra-time"),
        "iep-rewind-variants": ("beat-ep", "lr-best"),
        "xiong-thm1-aistats": ("failure-bound", "eps-dependence"),
    }
    for claim_id, names in parts.items():
        claim = CLAIMS[claim_id]
        assert claim.parts == names
        assert claim.evidence_ids() == [f"{claim_id}.{p}" for p in names]
    assert CLAIMS["xiong-thm1-slides"].evidence_ids() == ["xiong-thm1-slides"]
    assert CLAIMS["burkholz-depth"].bounds == ("burkholz-depth", "burkholz-rho")
    assert CLAIMS["counting-lower-bound"].bounds == ("counting-min-params",)


def _threshold_rule(details):
    from theory import bounds
    from theory.rules import RuleResult, finite

    bound = finite("pensia-rss-min-n", bounds.get_bound("pensia-rss-min-n")(details["eps"], C=3.0))
    ok = details["n"] <= bound
    return RuleResult(
        "consistent" if ok else "inconsistent",
        f"n={details['n']} vs bound {bound:.3g}",
        rule="consistent if the measured n <= 3 log2(1/eps)",
        constants={"C": "3 (Pensia's code)"},
        detectable="any n above the bound",
    )


@pytest.fixture
def threshold_rule(monkeypatch):
    from theory import rules

    monkeypatch.setitem(rules.RULES, "test-threshold", _threshold_rule)
    return "test-threshold"


def test_rule_fields_reach_the_result_and_the_cli(clean_registry, tmp_path, threshold_rule, capsys):
    from figures.cli import main

    register_claim(
        Claim(
            id="two-halves",
            statement="s",
            source="s",
            checks=(NumericCheck("first", part="one"), NumericCheck("second", part="two")),
            parts=("one", "two"),
            bounds=("pensia-rss-min-n",),
        )
    )
    ledger.write_evidence(
        tmp_path, "two-halves.one", run="r1", details={"eps": 0.01, "n": 10}, rule_id=threshold_rule
    )
    one, two = ledger.verify(["two-halves"], runs_root=tmp_path)
    assert (one.part, one.evidence_id, one.status) == ("one", "two-halves.one", "verified")
    assert one.rule.startswith("consistent if") and one.constants == {"C": "3 (Pensia's code)"}
    assert one.detectable == "any n above the bound"
    assert (two.part, two.status) == ("two", "pending")
    verdict = ledger.claim_verdict(CLAIMS["two-halves"], [one, two])
    assert verdict.verdict == "inconclusive" and "part 'two'" in verdict.reason

    out_json = tmp_path / "v.json"
    rc = main(
        ["--quiet", "verify", "--only", "two-halves", "--runs-root", str(tmp_path), "--json", str(out_json)]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "rule: consistent if the measured n <= 3 log2(1/eps)" in out
    assert "constants: C=3 (Pensia's code)" in out and "detectable: any n above the bound" in out
    assert "verified: 1" in out and "pending: 1" in out and "inconclusive: 1" in out
    data = json.loads(out_json.read_text())
    first = data["results"][0]
    assert first["rule"] and first["constants"] == {"C": "3 (Pensia's code)"} and first["detectable"]
    assert first["part"] == "one" and first["evidence_id"] == "two-halves.one"
    assert data["verdicts"] == [verdict.to_dict()]


def test_reapplied_verdict_that_differs_is_reported(clean_registry, tmp_path, threshold_rule):
    register_claim(Claim(id="re-decided", statement="s", source="s", checks=(NumericCheck("m"),)))
    path = ledger.write_evidence(
        tmp_path, "re-decided", run="r", details={"eps": 0.01, "n": 10}, rule_id=threshold_rule
    )
    record = json.loads(path.read_text())
    assert record["verdict"] == "consistent" and record["rule"] and record["detectable"]
    # The data say otherwise now (as after a change to the bound): verify re-decides and says so.
    record["details"]["n"] = 1000
    record.pop("_record")  # a record written by hand carries no content hash (an edited stamp would fail)
    path.write_text(json.dumps(record))
    (res,) = ledger.verify(["re-decided"], runs_root=tmp_path)
    assert res.status == "failed"
    assert "recorded verdict 'consistent', re-applied rule says 'inconsistent'" in res.evidence


def test_evidence_without_rule_says_so(tmp_path):
    ledger.write_evidence(tmp_path, "ep-dying-ratio-grows", verdict="consistent", summary="s", run="r")
    (res,) = ledger.verify(["ep-dying-ratio-grows"], runs_root=tmp_path)
    assert res.status == "verified" and res.rule is None and "no pre-registered rule" in res.evidence
    assert "rule: none recorded" in ledger.format_rules([res])


def test_claim_verdict_cases():
    def row(status, part=None, kind="numeric"):
        return ledger.CheckResult("c", "s", f"{kind} check", status, f"{status} text", kind=kind, part=part)

    whole = Claim(id="c", statement="s", source="s", checks=(NumericCheck("m"),))
    assert ledger.claim_verdict(whole, [row("verified")]).verdict == "consistent"
    assert ledger.claim_verdict(whole, [row("inconclusive")]).verdict == "inconclusive"
    assert ledger.claim_verdict(whole, [row("failed"), row("error")]).verdict == "inconsistent"
    assert ledger.claim_verdict(whole, [row("verified"), row("error")]).verdict == "inconclusive"
    algebra = ledger.claim_verdict(whole, [row("derivation-checked", kind="symbolic")])
    assert algebra.verdict == "inconclusive" and algebra.derivation_checked
    both = ledger.claim_verdict(whole, [row("derivation-checked", kind="symbolic"), row("verified")])
    assert both.verdict == "consistent" and both.derivation_checked
    assert algebra.derivation_only and not both.derivation_only
    assert ledger.claim_verdict(whole, []).verdict == "inconclusive"
    assert "not registered" in ledger.claim_verdict(None, [], claim_id="ghost").reason
    # Rows of other claims are ignored.
    other = ledger.CheckResult("other", "s", "x", "failed", "bad", kind="property")
    assert ledger.claim_verdict(whole, [row("verified"), other]).verdict == "consistent"


def test_the_ledger_loads_the_builtin_claims_itself_and_lists_them_first() -> None:
    # A fresh interpreter: importing the ledger imports no claims (no claims <-> ledger cycle); the first
    # registration or look-up loads the built-in ones, ahead of the user's claim.
    code = (
        "import sys\n"
        "import theory.ledger as L\n"
        "assert 'theory.claims' not in sys.modules and not L.CLAIMS, sorted(L.CLAIMS)\n"
        "L.register_claim(L.Claim(id='mine', statement='s', source='me', checks=(L.NoCheck('none'),)))\n"
        "ids = list(L.CLAIMS)\n"
        "builtin = L.load_builtin_claims()\n"
        "assert ids == [*builtin, 'mine'], ids\n"
        "del L.CLAIMS[builtin[0]]\n"
        "assert L.get_claim(builtin[0]).id == builtin[0]\n"
        "print(len(builtin))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(theory.claims.BUILTIN_CLAIMS) >= 20
