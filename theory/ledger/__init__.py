"""The claims ledger: every theorem, bound and empirical claim the toolkit tests, with its checks.

A :class:`Claim` holds a statement, its source (paper, theorem, version) and one or more checks:

* :class:`SymbolicCheck`: a sympy identity that must simplify to 0, or a sympy statement that must
  reduce to ``True``. When it does not, the ledger searches small integer/rational points for a
  witness where the identity is false and reports the simplest one it finds. It checks the algebra of
  a derivation (and, through :class:`theory.symbolic.BoundAgreement` items, that the registered bound
  functions are that algebra), never the claim itself: it reports ``derivation-checked``, not ``verified``.
* :class:`PropertyCheck`: a hypothesis strategy plus a predicate over the exact solvers. It runs under
  hypothesis; a failure is reported with hypothesis's *shrunk* (minimal) falsifying example.
* :class:`NumericCheck`: reads the evidence file that a Monte Carlo sweep or a training run wrote with
  :func:`write_evidence`; "pending" until one exists, "inconclusive" when its rule says so. A claim
  with two parts (``Claim.parts``) has one numeric check per part, reading ``<claim>.<part>``.
* :class:`NoCheck`: an explicit marker for a claim the toolkit records but cannot test, with the reason.

Nothing is reported ``verified`` without a check that could have failed. :func:`claim_verdict` turns
a claim's check results into its verdict (``slth verify`` and the report both call it): ``consistent``
only when every part has a verified check and no check failed, errored or is still open.

A claim declares the bounds of :data:`theory.bounds.BOUNDS` it rests on (``Claim.bounds``); its checks
must evaluate them, so replacing a declared bound by a NaN-returning function makes every check that
passed fail or error (``tests/theory/test_mutation.py``).

The package: :mod:`theory.ledger.checks` (the check types), :mod:`theory.ledger.claim` (claims, the
registry, user claim files, :func:`load_builtin_claims`), :mod:`theory.ledger.evidence` (evidence files)
and :mod:`theory.ledger.verification` (running the checks, verdicts, tables). Every public name is
re-exported here.

Evidence files (the contract with ``sim`` and ``networks``): ``<runs_root>/evidence/<evidence_id>.json``
(the claim id, or ``<claim>.<part>``) holding ``{"claim", "verdict", "summary", "run", "details",
"written_at"}`` with ``verdict`` one of ``consistent``, ``inconsistent``, ``inconclusive``, and, when a
pre-registered rule decided it (:mod:`theory.rules`), ``rule_id``, ``rule``, ``constants`` and
``detectable``. :class:`NumericCheck` re-applies the rule to ``details`` when it runs and carries the
rule, its constants and its detectable effect into the :class:`CheckResult`.

Registering your own claim (a ``.py`` file loaded with ``slth verify --claims my_claims.py``)::

    from theory.ledger import Claim, PropertyCheck, register_claim

    register_claim(Claim(
        id="my-claim",
        statement="Perturbation never increases the SubsetSum error.",
        source="My paper, Lemma 3 (arXiv v2)",
        checks=(PropertyCheck("error(p) <= error(0)", strategy=my_strategy, predicate=my_predicate),),
    ))

``strategy`` is a zero-argument callable returning a hypothesis strategy (so hypothesis is imported
only when the check runs) and ``predicate(example)`` returns ``True`` when the claim holds there. See
``examples/my_claim.py`` for a complete example.
"""


from __future__ import annotations

from typing import Any

from theory.ledger.checks import (
    CHECK_TYPES,
    STATUSES,
    CheckOutcome,
    NoCheck,
    NumericCheck,
    PropertyCheck,
    SymbolicCheck,
)
from theory.ledger.claim import (
    BUILTIN_CLAIMS_MODULE,
    CLAIMS,
    Claim,
    get_claim,
    load_builtin_claims,
    load_claims,
    register_claim,
)
from theory.ledger.evidence import EVIDENCE_DIR, VERDICTS, read_evidence, scan_evidence, write_evidence
from theory.ledger.verification import (
    CheckResult,
    ClaimVerdict,
    claim_verdict,
    claim_verdicts,
    format_rules,
    format_table,
    format_verdicts,
    summarize,
    verify,
)

__all__ = [
    "BUILTIN_CLAIMS_MODULE",
    "CHECK_TYPES",
    "CLAIMS",
    "EVIDENCE_DIR",
    "STATUSES",
    "VERDICTS",
    "BoundAgreement",
    "CheckOutcome",
    "CheckResult",
    "Claim",
    "ClaimVerdict",
    "NoCheck",
    "NumericCheck",
    "PropertyCheck",
    "SymbolicCheck",
    "claim_verdict",
    "claim_verdicts",
    "format_rules",
    "format_table",
    "format_verdicts",
    "get_claim",
    "load_builtin_claims",
    "load_claims",
    "read_evidence",
    "register_claim",
    "scan_evidence",
    "summarize",
    "verify",
    "write_evidence",
]


def __getattr__(name: str) -> Any:
    # BoundAgreement lives with the sympy derivations (theory.symbolic, which needs sympy); it is named
    # here too, on first use, so `import theory.ledger` stays free of sympy.
    if name == "BoundAgreement":
        from theory.symbolic import BoundAgreement

        return BoundAgreement
    raise AttributeError(f"module 'theory.ledger' has no attribute {name!r}")
