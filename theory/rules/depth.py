"""Rule for ``burkholz-depth``: depth L+1 at the width its bound needs reaches the certified error.

Producer: :mod:`sim.depth_tickets` (``slth run depth-tickets``). Stated before the data:

* each case is a target of depth ``L`` whose depth-L+1 ticket (``construct_ticket(method="burkholz",
  budget="certified")``) was built in ONE fixed random source of depth ``theory.bounds.burkholz_depth(L)``
  with ``rho`` copies per neuron, ``rho >= ceil(theory.bounds.burkholz_rho(tau_min, C=BURKHOLZ_C))`` for
  the smallest per-parameter tolerance ``tau_min`` of the build;
* consistent when every such case has ``certified_bound <= eps (1 + ROUNDING_ALLOWANCE)`` and no probe
  exceeds its certificate; inconsistent when a case at the bound's depth and width has a certificate
  above that or a probe above the certificate; a case below the bound's width, at another depth, or
  whose excess comes only from rows beyond the exact engine's limits is inconclusive (a limit, not the
  mathematics).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from theory import bounds
from theory.rules import RuleResult, finite, register_rule

#: The constant of ``rho = C log2(1/tau)``: 3, the value of Pensia et al.'s code
#: (``n = c round(log2(1/eps))``, c = 3, ``theory.bounds.PENSIA_CODE_C``) [PRIMARY for that code]; no
#: value is given by Burkholz's paper or code (its ``rho`` is a flat 15). Fixed before the data.
BURKHOLZ_C = float(bounds.PENSIA_CODE_C)
#: Relative allowance of the certificate over eps: the certified budget makes the exact-arithmetic bound
#: <= eps when every parameter meets its tolerance; the float64 rounding term and the 1e-9 inflation of
#: the norms are far below 1e-6 at these sizes (pre-registered).
ROUNDING_ALLOWANCE = 1e-6


@register_rule("burkholz-depth")
def depth_rule(details: Mapping[str, Any]) -> RuleResult:
    """Depth L+1 tickets at the bound's rho: certificate <= eps, probes <= certificate."""
    rule = (
        "per case at depth burkholz_depth(L) and rho >= ceil(burkholz_rho(tau_min, C)): inconsistent if the "
        f"certificate > eps (1 + {ROUNDING_ALLOWANCE:g}) or a probe > the certificate; all such cases within "
        "-> consistent; otherwise inconclusive"
    )
    constants = {
        "C": {
            "value": BURKHOLZ_C,
            "origin": "Pensia et al.'s code constant c = 3 (theory.bounds.PENSIA_CODE_C)",
        },
        "rounding_allowance": {"value": ROUNDING_ALLOWANCE, "origin": "pre-registered float64 allowance"},
    }
    detectable = (
        "any certificate above eps at the bound's width (relative 1e-6), or any probe above its certificate; "
        "errors on inputs the probes miss are covered only by the certificate"
    )
    cases = list(details.get("cases", []))
    if not cases:
        return RuleResult("inconclusive", "no depth-L+1 cases recorded", rule, constants, detectable)
    eps = float(details["eps"])
    at_bound, over, below, limits, worst = [], [], [], [], 0.0
    for c in cases:
        depth = int(c["depth"])
        need_depth = finite("burkholz-depth", bounds.burkholz_depth(depth))
        need_rho = math.ceil(
            finite("burkholz-rho", bounds.burkholz_rho(float(c["min_tolerance"]), C=BURKHOLZ_C))
        )
        cert = float(c["certified_bound"])
        measured = float(c["measured_max"])
        if not (math.isfinite(cert) and math.isfinite(measured)):
            raise ValueError(f"case {c.get('case')}: certified bound and measured error must be finite")
        if measured > cert:
            over.append(f"{c.get('case')}: probe {measured:.3g} > certificate {cert:.3g}")
            continue
        if int(c["source_depth"]) != need_depth or int(c["rho"]) < need_rho:
            below.append(f"{c.get('case')} (depth {c['source_depth']}, rho {c['rho']} < {need_rho})")
            continue
        worst = max(worst, cert / eps)
        if cert > eps * (1 + ROUNDING_ALLOWANCE):
            if int(c.get("num_limit", 0)) > 0:
                limits.append(str(c.get("case")))
            else:
                over.append(f"{c.get('case')}: certificate {cert:.3g} > eps {eps:g} at rho {c['rho']}")
            continue
        at_bound.append(c.get("case"))
    if over:
        return RuleResult(
            "inconsistent", f"{len(over)} of {len(cases)} cases fail: {over[0]}", rule, constants, detectable
        )
    if below or limits or not at_bound:
        why = f"{len(below)} below the bound's width/depth" + (
            f", {len(limits)} at the engine's limits" if limits else ""
        )
        return RuleResult(
            "inconclusive",
            f"{len(at_bound)} of {len(cases)} cases decide; {why}",
            rule,
            constants,
            detectable,
        )
    return RuleResult(
        "consistent",
        f"{len(at_bound)} targets at depth L+1 and the bound's rho: every certificate <= eps = {eps:g} "
        f"(largest certificate/eps {worst:.3g}), no probe above its certificate",
        rule,
        constants,
        detectable,
    )


def _example_case(name: str, widths: list[int], tau: float, cert: float, measured: float) -> dict[str, Any]:
    depth = len(widths) - 1
    rho = math.ceil(BURKHOLZ_C * math.log2(1 / tau))
    return {
        "case": name,
        "target_widths": widths,
        "depth": depth,
        "source_depth": depth + 1,
        "rho": rho,
        "min_tolerance": tau,
        "certified_bound": cert,
        "exact_arithmetic_bound": cert,
        "measured_max": measured,
        "num_failed": 0,
        "num_limit": 0,
        "source_params": 5000,
        "kept_params": 900,
    }


EXAMPLES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "burkholz-depth",
        "burkholz-depth",
        {
            "eps": 0.1,
            "cases": [
                _example_case("mlp-3-4-2", [3, 4, 2], 2.1e-3, 0.097, 0.004),
                _example_case("mlp-2-3-3-2", [2, 3, 3, 2], 1.3e-3, 0.099, 0.003),
            ],
        },
    ),
]
