"""Evidence rules for the Random Fixed-Size Subset Sum (Natale et al., NeurIPS 2024, arXiv:2410.14754).

* ``rfss-thm2`` (Theorem 2): at ``n = rfss_thm2_min_n(k, eps, c_hyp)`` the probability of hitting a fixed
  ``z`` within ``eps`` with some ``k``-subset is at least a constant ``c_thm > 0``, uniformly in ``k`` and
  ``eps``. A finite grid cannot show "uniformly"; what it can show is a decay along the grid, which the
  theorem excludes at ``c_hyp >= 1``.
* ``rfss-cor1`` (Corollary 1): at ``n = rfss_cor1_min_n(k, eps, c_amp)`` every ``z`` of
  ``[-sqrt k, sqrt k]`` is covered with probability ``>= 1 - eps``; ``c_amp`` is calibrated on a seed
  disjoint from the test seed.

Producer: ``slth run rfss`` (:mod:`sim.rfss`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from theory.rules import RuleResult, finite, register_rule
from theory.stats import clopper_pearson

CONFIDENCE = 0.95
#: The theorem's range of the hypothesis constant: c_hyp >= 1 (Theorem 2 [PRIMARY]).
THM2_MIN_C_HYP = 1.0
#: Floor for "holds" when reporting the smallest c_hyp (theory.md §9's example threshold, fixed before data).
THM2_FLOOR = 0.3
#: A decay is flagged when the hardest cell's upper end is below half the easiest cell's lower end.
THM2_DECAY = 2.0
#: A group is conclusive when a fall of P(hit) by this factor would have been flagged.
THM2_DETECT = 4.0
#: A Corollary 1 row is conclusive when a success rate of 1 - DETECT_FACTOR * eps would be flagged.
COR1_DETECT_FACTOR = 2.0


def _log2sq(k: int, eps: float) -> float:
    return math.log2(k / eps) ** 2


def _thm2_n(row: Mapping[str, Any]) -> int:
    from theory import bounds

    n = finite(
        "rfss-thm2-min-n", bounds.rfss_thm2_min_n(int(row["k"]), float(row["eps"]), c_hyp=float(row["c_hyp"]))
    )
    if int(row["n"]) != int(n):
        raise ValueError(
            f"recorded n = {row['n']} differs from rfss-thm2-min-n = {n} at {row}: stale evidence"
        )
    return int(n)


def _thm2_decays(details: Mapping[str, Any]) -> tuple[list[tuple[float, str]], int, int]:
    """Per group ``(c_hyp, z, k)``: does P(hit) fall from the largest to the smallest eps?

    Returns ``(flagged, conclusive, tested)``: ``flagged`` lists ``(c_hyp, text)`` of the groups whose
    smallest-eps cell has a 95% CP upper end below ``1/THM2_DECAY`` of the largest-eps cell's lower end.
    """
    rows = [r for r in details["rows"] if r.get("hits") is not None]
    for r in rows:
        _thm2_n(r)
    groups: dict[tuple[float, float, int], list[dict]] = {}
    for r in rows:
        groups.setdefault((float(r["c_hyp"]), float(r["z_frac"]), int(r["k"])), []).append(r)
    flagged, conclusive, tested = [], 0, 0
    for (c_hyp, z_frac, k), g in sorted(groups.items()):
        g = sorted(g, key=lambda r: -float(r["eps"]))
        easy, hard = g[0], g[-1]
        if float(hard["eps"]) >= float(easy["eps"]):
            continue
        tested += 1
        lo_easy = clopper_pearson(easy["hits"], easy["trials"], CONFIDENCE)[0]
        hi_hard = clopper_pearson(hard["hits"], hard["trials"], CONFIDENCE)[1]
        if hi_hard < lo_easy / THM2_DECAY:
            flagged.append(
                (
                    c_hyp,
                    f"c_hyp={c_hyp:g} k={k} z={z_frac:g}sqrt(k): eps {easy['eps']:g} "
                    f"{easy['hits']}/{easy['trials']} -> eps {hard['eps']:g} {hard['hits']}/{hard['trials']}",
                )
            )
        probe = math.floor(easy["hits"] / easy["trials"] / THM2_DETECT * hard["trials"])
        if clopper_pearson(probe, hard["trials"], CONFIDENCE)[1] < lo_easy / THM2_DECAY:
            conclusive += 1
    return flagged, conclusive, tested


@register_rule("rfss-thm2")
def rfss_thm2(details: Mapping[str, Any]) -> RuleResult:
    """No decay of P(hit a fixed z) as eps shrinks, at each c_hyp >= 1, z and k.

    Revision (stated here because it came after data): the first version pooled the k of a (c_hyp, z)
    group and compared the cells of smallest and largest ``log2(k/eps)``; the default run at seed 1 showed
    that this pooling compares different k (whose n sit at the floor n = 2k) and hides a fall with eps at
    fixed k. Groups are now ``(c_hyp, z, k)``; the experiment's default test seed moved to 2, which had
    not been run before the revision.
    """
    all_flags, _, _ = _thm2_decays(details)
    in_range = {**details, "rows": [r for r in details["rows"] if float(r["c_hyp"]) >= THM2_MIN_C_HYP]}
    flagged_c, conclusive, tested = _thm2_decays(in_range)
    flagged = [text for _, text in flagged_c]
    decaying = {c for c, _ in all_flags}
    grid = sorted({float(r["c_hyp"]) for r in details["rows"]})
    no_decay = None
    for c in reversed(grid):
        if c in decaying:
            break
        no_decay = c
    c_thm = c_thm_estimate(details)
    c_min = smallest_c_hyp(details)
    rule = (
        f"per (c_hyp >= {THM2_MIN_C_HYP:g}, z, k): inconsistent if the smallest-eps cell's 95% CP upper end "
        f"< 1/{THM2_DECAY:g} of the largest-eps cell's lower end; consistent if none is and >= 1 group could "
        "flag such a fall; else inconclusive"
    )
    constants = {
        "c_hyp_min": f"{THM2_MIN_C_HYP:g} (Theorem 2's range c_hyp >= 1; PRIMARY)",
        "decay_factor": f"{THM2_DECAY:g} (fixed before the data)",
        "floor": f"{THM2_FLOOR:g} (theory.md §9's example threshold for the smallest c_hyp; report only)",
        "c_thm_estimate": "none"
        if c_thm is None
        else f"{c_thm:.3g} (min hit rate over cells with c_hyp >= 1)",
        "smallest_c_hyp": "none in the grid"
        if c_min is None
        else f"{c_min:g} (every cell at c_hyp' >= it has CP lower end >= {THM2_FLOOR:g})",
        "smallest_c_hyp_without_decay": "none in the grid"
        if no_decay is None
        else f"{no_decay:g} (no (z, k) group at any grid c_hyp' >= it falls by {THM2_DECAY:g} with eps)",
    }
    detectable = (
        f"a fall of P(hit) by a factor {THM2_DETECT:g} from the largest to the smallest eps at fixed k"
    )
    if flagged:
        return RuleResult(
            "inconsistent",
            f"P(hit) decays with eps at c_hyp >= 1 (no decay from c_hyp = {no_decay}): " + "; ".join(flagged),
            rule,
            constants,
            detectable,
        )
    if conclusive:
        summary = (
            f"{tested} groups at c_hyp >= 1, no decay of P(hit) ({conclusive} could detect a fall by "
            f"{THM2_DETECT:g}); c_thm ~ {c_thm:.3g}, smallest c_hyp with P >= {THM2_FLOOR:g}: {c_min}"
        )
        return RuleResult("consistent", summary, rule, constants, detectable)
    return RuleResult(
        "inconclusive",
        f"{tested} groups tested, none could detect a fall by {THM2_DETECT:g}",
        rule,
        constants,
        detectable,
    )


def c_thm_estimate(details: Mapping[str, Any]) -> float | None:
    """Smallest observed hit rate over the cells with ``c_hyp >= 1`` (an estimate of ``c_thm``)."""
    rates = [
        r["hits"] / r["trials"]
        for r in details["rows"]
        if r.get("hits") is not None and float(r["c_hyp"]) >= THM2_MIN_C_HYP
    ]
    return min(rates) if rates else None


def smallest_c_hyp(details: Mapping[str, Any]) -> float | None:
    """Smallest grid ``c_hyp`` from which on every cell has a 95% CP lower end ``>= THM2_FLOOR``."""
    by_c: dict[float, bool] = {}
    for r in details["rows"]:
        if r.get("hits") is None:
            continue
        ok = clopper_pearson(r["hits"], r["trials"], CONFIDENCE)[0] >= THM2_FLOOR
        c = float(r["c_hyp"])
        by_c[c] = by_c.get(c, True) and ok
    best = None
    for c in sorted(by_c, reverse=True):
        if not by_c[c]:
            break
        best = c
    return best


def cor1_cell_constant(cell: Mapping[str, Any]) -> float | None:
    """``n H2(k/n) / log2^2(k/eps)`` at the smallest ``n`` whose calibration success is surely ``>= 1 - eps``.

    "Surely": the 95% Clopper-Pearson lower end of the calibration success rate is ``>= 1 - eps`` (a point
    estimate at the threshold would leave the test a coin flip at the same n). None when no
    ``n <= max_n`` reaches it. ``n`` below ``2k`` (the corollary's range) counts as ``2k``.
    """
    from theory import bounds

    k, eps, t = int(cell["k"]), float(cell["eps"]), int(cell["trials"])
    firsts = [f for f in cell["first_cover"] if f is not None]
    for n in range(k, int(cell["max_n"]) + 1):
        if clopper_pearson(sum(f <= n for f in firsts), t, CONFIDENCE)[0] >= 1.0 - eps:
            m = max(n, 2 * k)
            return m * bounds.binary_entropy(k / m) / _log2sq(k, eps)
    return None


def cor1_constant(calibration: Mapping[str, Any]) -> float | None:
    """``c_amp``: the largest per-cell constant (None when some cell never reached ``1 - eps``)."""
    cs = [cor1_cell_constant(c) for c in calibration["cells"]]
    if not cs or any(c is None for c in cs):
        return None
    return max(cs)


@register_rule("rfss-cor1")
def rfss_cor1(details: Mapping[str, Any]) -> RuleResult:
    """At ``n = rfss_cor1_min_n(k, eps, c_amp)`` (c_amp calibrated) every z is covered w.p. ``>= 1 - eps``."""
    from theory import bounds

    c_amp = cor1_constant(details["calibration"])
    rule = (
        "c_amp = max over calibration cells of n H2(k/n)/log2^2(k/eps) at the first n whose success CP lower "
        "end >= 1-eps; "
        "at the test seed and n = rfss_cor1_min_n(k, eps, c_amp): inconsistent if a row's 95% CP upper end "
        f"< 1 - eps; consistent if none and >= 1 row could flag a success rate 1 - {COR1_DETECT_FACTOR:g} eps"
    )
    constants = {
        "c_amp": "not calibrated"
        if c_amp is None
        else f"{c_amp:.4g} (calibration seed {details['calibration']['seed']}, disjoint from the test seed)",
        "confidence": f"{CONFIDENCE:g}",
    }
    detectable = f"a success rate of 1 - {COR1_DETECT_FACTOR:g} eps at the bound's n"
    if c_amp is None:
        return RuleResult(
            "inconclusive",
            "some calibration cell never reached 1 - eps within max_n",
            rule,
            constants,
            detectable,
        )
    flagged, conclusive, notes = [], 0, []
    for r in details["rows"]:
        k, eps = int(r["k"]), float(r["eps"])
        n = int(finite("rfss-cor1-min-n", bounds.rfss_cor1_min_n(k, eps, c_amp=c_amp)))
        if int(r["n"]) != n:
            raise ValueError(f"recorded n = {r['n']} differs from rfss-cor1-min-n = {n} at k={k}, eps={eps}")
        if r.get("successes") is None:
            continue
        t, s, a = int(r["trials"]), int(r["successes"]), int(r["ambiguous"])
        if clopper_pearson(s + a, t, CONFIDENCE)[1] < 1.0 - eps:
            flagged.append(f"k={k} eps={eps:g} n={n}: {s}/{t}")
        probe = math.floor((1.0 - COR1_DETECT_FACTOR * eps) * t)
        if clopper_pearson(probe, t, CONFIDENCE)[1] < 1.0 - eps:
            conclusive += 1
        notes.append(f"k={k} eps={eps:g} n={n}: {s}/{t}")
    if flagged:
        return RuleResult(
            "inconsistent", "coverage below 1 - eps: " + "; ".join(flagged), rule, constants, detectable
        )
    if conclusive:
        return RuleResult(
            "consistent", f"c_amp = {c_amp:.3g}; " + "; ".join(notes), rule, constants, detectable
        )
    return RuleResult(
        "inconclusive",
        f"c_amp = {c_amp:.3g}; no row could flag 1 - {COR1_DETECT_FACTOR:g} eps; " + "; ".join(notes),
        rule,
        constants,
        detectable,
    )


#: Corollary 1's constant for Theorem 3's block size: the c_amp that ``slth run rfss`` (default scale,
#: calibration seed 0; k <= 4, eps in {0.1, 0.2}) calibrated, rounded up. Used for comparison only.
SPARSE_C_AMP = 1.16


def _sparse_widths(details: Mapping[str, Any]) -> dict[int, float | None]:
    """Per width, the largest over seeds of the smallest measured density whose certificate is ``<= eps``."""
    eps = float(details["eps"])
    per: dict[tuple[int, int], float | None] = {}
    for r in details["rows"]:
        if r["method"] != "sparse":
            continue
        key = (int(r["n"]), int(r["seed"]))
        ok = float(r["certified"]) <= eps
        cur = per.get(key)
        if ok and (cur is None or r["density"] < cur):
            per[key] = float(r["density"])
        else:
            per.setdefault(key, None)
    out: dict[int, float | None] = {}
    for (n, _), d in sorted(per.items()):
        if n in out and out[n] is None:
            continue
        out[n] = None if d is None else max(d, out.get(n) or 0.0)
    return out


@register_rule("rfss-sparse-ticket")
def rfss_sparse_ticket(details: Mapping[str, Any]) -> RuleResult:
    """Fixed-size tickets keep at most the requested density; the least certifying density falls with n."""
    from theory import bounds

    eps, dims = float(details["eps"]), [int(v) for v in details["dims"]]
    broken = [
        f"n={r['n']} seed={r['seed']} gamma={r['density_requested']:g}: {r['layer_density']}"
        for r in details["rows"]
        if r["method"] == "sparse"
        and any(v > float(r["density_requested"]) * (1 + 1e-12) for v in r["layer_density"])
    ]
    widths = _sparse_widths(details)
    defined = {n: d for n, d in widths.items() if d is not None}
    n_star = finite(
        "rfss-thm3-block",
        bounds.rfss_thm3_block(dims[0], dims[1], len(dims) - 1, eps, 0.5, c_amp=SPARSE_C_AMP),
    )
    sparsest = min(
        (r for r in details["rows"] if r["method"] == "sparse" and float(r["certified"]) <= eps),
        key=lambda r: r["kept"],
        default=None,
    )
    thm5 = None
    if sparsest is not None:
        thm5 = finite(
            "rfss-thm5-min-params", bounds.rfss_thm5_min_params(max(dims), int(sparsest["kept"]), eps)
        )
    pensia = {int(r["n"]): r["density"] for r in details["rows"] if r["method"] == "pensia"}
    grid = sorted(float(v) for v in details["densities"])
    step = max((b / a for a, b in itertools.pairwise(grid)), default=float("nan"))
    rule = (
        "inconsistent if a sparse ticket keeps more than the requested density in some layer, or if the "
        "smallest certifying density (max over seeds) at the widest source exceeds that at the narrowest; "
        "consistent if neither and >= 2 widths certify; else inconclusive"
    )
    constants = {
        "eps": f"{eps:g} (the experiment's accuracy)",
        "c_amp": f"{SPARSE_C_AMP:g} (Corollary 1 constant from slth run rfss, calibration seed 0; "
        "comparison only)",
        "thm3_block_at_density_half": f"{n_star:.4g} (Theorem 3's n* at gamma = 1/2, the smallest block it "
        "asks for; compare with the widths run)",
        "thm5_min_source": "none"
        if thm5 is None
        else f"{thm5:g} (Theorem 5 for d = {max(dims)}, k = {sparsest['kept']} kept; source used "
        f"{sparsest['source']})",
    }
    detectable = f"a rise of the smallest certifying density by one grid step (x{step:.3g}) across the widths"
    text = ", ".join(f"n={n}: {'-' if d is None else f'{d:.3g}'}" for n, d in widths.items())
    text += "; pensia: " + ", ".join(f"n={n}: {d:.3g}" for n, d in sorted(pensia.items()))
    if broken:
        return RuleResult(
            "inconsistent", "density above the request: " + "; ".join(broken[:3]), rule, constants, detectable
        )
    if len(defined) >= 2:
        lo_n, hi_n = min(defined), max(defined)
        if defined[hi_n] > defined[lo_n] * (1 + 1e-12):
            return RuleResult(
                "inconsistent",
                f"smallest certifying density rises with width: {text}",
                rule,
                constants,
                detectable,
            )
        return RuleResult("consistent", f"smallest certifying density {text}", rule, constants, detectable)
    return RuleResult(
        "inconclusive", f"fewer than 2 widths certify at eps={eps:g}: {text}", rule, constants, detectable
    )


EXAMPLES: list[tuple[str, str, dict]] = [
    (
        "rfss-thm2",
        "rfss-thm2",
        {
            "confidence": 0.95,
            "seed": 1,
            "rows": [
                {"k": 2, "eps": 0.1, "c_hyp": 1.0, "z_frac": 1.0, "n": 5, "trials": 60, "hits": 14},
                {"k": 2, "eps": 0.1, "c_hyp": 2.0, "z_frac": 1.0, "n": 16, "trials": 60, "hits": 47},
                {"k": 2, "eps": 0.03, "c_hyp": 1.0, "z_frac": 1.0, "n": 8, "trials": 60, "hits": 13},
                {"k": 2, "eps": 0.03, "c_hyp": 2.0, "z_frac": 1.0, "n": 51, "trials": 60, "hits": 59},
                {"k": 4, "eps": 0.1, "c_hyp": 1.0, "z_frac": 1.0, "n": 8, "trials": 60, "hits": 28},
                {"k": 4, "eps": 0.1, "c_hyp": 2.0, "z_frac": 1.0, "n": 12, "trials": 60, "hits": 46},
                {"k": 4, "eps": 0.03, "c_hyp": 1.0, "z_frac": 1.0, "n": 8, "trials": 60, "hits": 14},
                {"k": 4, "eps": 0.03, "c_hyp": 2.0, "z_frac": 1.0, "n": 20, "trials": 60, "hits": 60},
            ],
        },
    ),
    (
        "rfss-cor1",
        "rfss-cor1",
        {
            "confidence": 0.95,
            "calibration": {
                "seed": 0,
                "cells": [
                    {
                        "k": 2,
                        "eps": 0.2,
                        "trials": 40,
                        "max_n": 40,
                        "first_cover": [
                            10,
                            11,
                            11,
                            10,
                            14,
                            11,
                            25,
                            9,
                            13,
                            15,
                            11,
                            11,
                            15,
                            13,
                            13,
                            9,
                            8,
                            13,
                            15,
                            7,
                            23,
                            11,
                            11,
                            10,
                            12,
                            13,
                            13,
                            8,
                            13,
                            11,
                            14,
                            12,
                            12,
                            15,
                            16,
                            14,
                            16,
                            12,
                            9,
                            9,
                        ],
                    }
                ],
            },
            "test_seed": 1,
            "rows": [
                {"k": 2, "eps": 0.2, "n": 16, "trials": 60, "successes": 46, "ambiguous": 0, "limit": None}
            ],
        },
    ),
    (
        "rfss-sparse-ticket",
        "rfss-sparse-ticket",
        {
            "eps": 0.06,
            "dims": [4, 4, 2],
            "target_seed": 0,
            "densities": [0.1, 0.2],
            "rows": [
                {
                    "method": "sparse",
                    "n": 16,
                    "seed": 1,
                    "density_requested": 0.1,
                    "density": 0.0678711,
                    "layer_density": [0.0520833, 0.0881696],
                    "subset_sizes": [1, 5],
                    "kept": 139,
                    "source": 2048,
                    "certified": 0.406029,
                    "failed": 16,
                },
                {
                    "method": "sparse",
                    "n": 16,
                    "seed": 1,
                    "density_requested": 0.2,
                    "density": 0.137695,
                    "layer_density": [0.149306, 0.122768],
                    "subset_sizes": [3, 8],
                    "kept": 282,
                    "source": 2048,
                    "certified": 0.0590833,
                    "failed": 3,
                },
                {
                    "method": "pensia",
                    "n": 16,
                    "seed": 1,
                    "density_requested": None,
                    "density": 0.0776367,
                    "layer_density": None,
                    "subset_sizes": None,
                    "kept": 159,
                    "source": 2048,
                    "certified": 0.0215753,
                    "failed": 1,
                },
                {
                    "method": "sparse",
                    "n": 24,
                    "seed": 1,
                    "density_requested": 0.1,
                    "density": 0.0764974,
                    "layer_density": [0.0688657, 0.0863095],
                    "subset_sizes": [2, 8],
                    "kept": 235,
                    "source": 3072,
                    "certified": 0.0233035,
                    "failed": 5,
                },
                {
                    "method": "sparse",
                    "n": 24,
                    "seed": 1,
                    "density_requested": 0.2,
                    "density": 0.145182,
                    "layer_density": [0.162037, 0.123512],
                    "subset_sizes": [5, 12],
                    "kept": 446,
                    "source": 3072,
                    "certified": 0.000169708,
                    "failed": 0,
                },
                {
                    "method": "pensia",
                    "n": 24,
                    "seed": 1,
                    "density_requested": None,
                    "density": 0.0504557,
                    "layer_density": None,
                    "subset_sizes": None,
                    "kept": 155,
                    "source": 3072,
                    "certified": 0.0212337,
                    "failed": 0,
                },
            ],
        },
    ),
]
