"""Pre-registered rules for the practice claims (training sweeps of :mod:`sim.training_sweeps`).

Every rule reads the raw per-seed numbers a sweep recorded (``details["per_seed"]``: one row per run,
or per grid point for PGD+EP) and decides with paired comparisons: the arms of a sweep share their seeds
(the same seed draws the same frozen weights, scores and data order), so the unit of evidence is the
per-seed difference between two arms. The interval is the two-sided Student-t interval of the mean
difference at level ``CONFIDENCE`` (alpha = 0.05), and the decision for a claim "A exceeds B" is
(:func:`decide_superiority`):

* ``consistent`` when the interval lies above 0;
* ``inconsistent`` when it lies below 0 (the wrong side), or when it contains 0 but its upper end is
  below the pre-registered relevant effect ``delta`` (the design could see an effect of ``delta`` and
  the data exclude one);
* ``inconclusive`` otherwise (the interval contains 0 and is too wide to exclude ``delta``).

A claim made "at every density" (or sparsity) needs every cell consistent; any inconsistent cell makes it
inconsistent (so the family-wise rate of a wrong ``inconsistent`` is at most ``cells x alpha``; that of a
wrong ``consistent`` stays at most alpha, an intersection-union test). The detectable effect is the
interval half-width ``h``: a true mean difference above about ``h`` puts the interval above 0.

The best sparsity of PGD+EP is a grid value, so its trend is tested with an exact sign test (the
Clopper-Pearson bound of :func:`theory.stats.clopper_pearson` on the fraction of seeds that agree).

Sources of the constants: Iwasawa et al. (soft iEP, JSAI 2023 / ICLR 2024 submission; reference
algorithms.md §3.2) and Xiong et al. (AISTATS 2023, table "SGD finds a good weight perturbation";
reference theory.md §1.6).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from theory import stats
from theory.rules import RuleResult, register_rule

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE
# One point of test accuracy: below the smallest gain the iEP source reports (1.33 points on CIFAR-10,
# algorithms.md §3.2), fixed before any of our runs.
ACC_DELTA = 0.01
# Dying-ratio effect: the source's EP dying ratio spans 0.028..0.656 over its densities (Table 1); 0.05 is
# under a tenth of that spread, fixed before any of our runs.
DYING_DELTA = 0.05
# "Far above zero": at the lowest density at least half of the initially pruned edges never selected. The
# source has 0.656 of at most 0.832 (0.79) at its sparsest setting but 0.028 of 0.2 at its densest, so
# the criterion is only applied at the lowest density run.
HALF_DEAD = 0.5
# Non-inferiority margin of "second-order RigL trains to at least the accuracy of RigL": one point.
RIGL_MARGIN = 0.01
# "The best sparsity is about 0.5 at eps = 0" (Xiong et al. table): a best grid sparsity in [0.3, 0.7].
ABOUT_HALF = (0.3, 0.7)

_CONSTANTS_T = {
    "confidence": f"{CONFIDENCE} two-sided Student-t interval of the mean paired difference (alpha = 0.05)",
}


# ----------------------------------------------------------------------------------------- statistics
@dataclasses.dataclass(frozen=True)
class Interval:
    """A two-sided Student-t interval of a mean.

    Attributes:
        mean: Sample mean.
        low: Lower end.
        high: Upper end.
        half_width: ``t_{(1+c)/2, n-1} * sd / sqrt(n)`` (inf with fewer than 2 values).
        n: Number of values.
    """

    mean: float
    low: float
    high: float
    half_width: float
    n: int

    def text(self) -> str:
        """``mean [low, high]`` with 3 significant digits."""
        return f"{self.mean:.3g} [{self.low:.3g}, {self.high:.3g}]"


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Two-sided Student-t interval of the mean of ``values`` (Student 1908; paired design: differences).

    Args:
        values: The per-seed values (finite).
        confidence: Two-sided level in (0, 1).

    Returns:
        The :class:`Interval`; with fewer than 2 values its ends are infinite.

    Raises:
        ValueError: If ``values`` is empty or not finite, or ``confidence`` is outside (0, 1).
    """
    from scipy.special import stdtrit

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    xs = [float(v) for v in values]
    if not xs or not all(math.isfinite(v) for v in xs):
        raise ValueError(f"values must be a non-empty list of finite numbers, got {values!r}")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return Interval(mean, -math.inf, math.inf, math.inf, n)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in xs) / (n - 1))
    half = float(stdtrit(n - 1, 0.5 + confidence / 2.0)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, half, n)


def decide_superiority(iv: Interval, delta: float) -> str:
    """Verdict for "the mean difference is positive" from its interval and the relevant effect ``delta``."""
    if iv.low > 0:
        return "consistent"
    if iv.high < 0 or iv.high < delta:
        return "inconsistent"
    return "inconclusive"


def combine(verdicts: Iterable[str]) -> str:
    """All cells consistent -> consistent; any inconsistent -> inconsistent; else inconclusive."""
    vs = list(verdicts)
    if not vs:
        return "inconclusive"
    if "inconsistent" in vs:
        return "inconsistent"
    return "consistent" if all(v == "consistent" for v in vs) else "inconclusive"


def sign_test_min_agree(n: int) -> int | None:
    """Fewest of ``n`` seeds that must agree for the one-sided 95% Clopper-Pearson bound to clear 1/2."""
    for k in range(n + 1):
        if _cp_one_sided(k, n)[0] > 0.5:
            return k
    return None


def _cp_one_sided(k: int, n: int) -> tuple[float, float]:
    # The ends of the two-sided 90% interval are the one-sided 95% bounds (Clopper & Pearson 1934).
    return stats.clopper_pearson(k, n, confidence=1.0 - 2.0 * ALPHA)


def decide_sign(k: int, n: int) -> tuple[str, tuple[float, float]]:
    """Exact sign test of "more than half of the seeds agree": P(agree) bounds at one-sided 95%."""
    lo, hi = _cp_one_sided(k, n)
    if lo > 0.5:
        return "consistent", (lo, hi)
    if hi < 0.5:
        return "inconsistent", (lo, hi)
    return "inconclusive", (lo, hi)


# ------------------------------------------------------------------------------------------- helpers
def _rows(details: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = details.get("per_seed")
    if not isinstance(rows, list) or not rows:
        raise ValueError("details['per_seed'] must be a non-empty list of per-seed rows")
    return rows


def _table(rows: Sequence[Mapping[str, Any]], key: Any, value: str) -> dict[Any, dict[int, float]]:
    """``{cell: {seed: value}}``; rows whose value is missing (a failed run) are left out."""
    out: dict[Any, dict[int, float]] = {}
    for r in rows:
        v = r.get(value)
        if v is None or not math.isfinite(float(v)):
            continue
        cell = key(r)
        seed = int(r["seed"])
        if seed in out.setdefault(cell, {}):
            raise ValueError(f"two rows for cell {cell!r} and seed {seed}")
        out[cell][seed] = float(v)
    return out


def _paired(a: Mapping[int, float], b: Mapping[int, float]) -> list[float]:
    """``a[s] - b[s]`` over the seeds both arms have (the pairing)."""
    return [a[s] - b[s] for s in sorted(set(a) & set(b))]


def _detect(ivs: Iterable[Interval], unit: str) -> str:
    hs = [iv.half_width for iv in ivs]
    worst = max(hs) if hs else math.inf
    return (
        f"a mean paired difference above about h = {worst:.3g} {unit} (largest interval half-width) is seen"
    )


def _superiority_cells(
    cells: Mapping[Any, tuple[Mapping[int, float], Mapping[int, float]]], delta: float
) -> tuple[str, dict[str, Any], list[Interval], list[str]]:
    table: dict[str, Any] = {}
    ivs, verdicts = [], []
    for cell, (a, b) in sorted(cells.items()):
        diffs = _paired(a, b)
        if not diffs:
            continue
        iv = t_interval(diffs)
        v = decide_superiority(iv, delta)
        ivs.append(iv)
        verdicts.append(v)
        table[str(cell)] = {"diffs": diffs, "mean": iv.mean, "low": iv.low, "high": iv.high, "verdict": v}
    return combine(verdicts), table, ivs, verdicts


def _cell_text(table: Mapping[str, Any], name: str) -> str:
    return "; ".join(
        f"{name} {c}: {d['mean']:.3g} [{d['low']:.3g}, {d['high']:.3g}] ({d['verdict']})"
        for c, d in table.items()
    )


# --------------------------------------------------------------------------------------------- rules
@register_rule("ep-dying-ratio-grows")
def ep_dying_ratio_grows(details: Mapping[str, Any]) -> RuleResult:
    """EP's final dying ratio is larger at lower density and far above zero (Iwasawa et al., Table 1).

    Args:
        details: ``per_seed`` rows with ``density``, ``seed``, ``dying_ratio`` (sweep ``ep-dying``).

    Returns:
        Paired test of (lowest minus highest density) per seed, and a t-interval on the fraction of the
        initially pruned edges still dead at the lowest density against ``HALF_DEAD``.
    """
    by_d = _table(_rows(details), lambda r: float(r["density"]), "dying_ratio")
    rule = (
        "per seed, dying ratio at the lowest minus the highest density: 95% t-interval above 0 -> grows, "
        f"below 0 or upper end < {DYING_DELTA} -> not; and the fraction dying/(1-density) at the lowest "
        f"density: interval above {HALF_DEAD} -> far from 0, below -> not; both needed for consistent"
    )
    constants = {
        **_CONSTANTS_T,
        "delta": f"{DYING_DELTA}: relevant dying-ratio difference, < 1/10 of the source spread 0.028..0.656",
        "half_dead": f"{HALF_DEAD}: fraction of initially pruned edges never selected at the lowest density "
        "(source Table 1: 0.656/0.832 = 0.79 at its sparsest)",
    }
    if len(by_d) < 2:
        return RuleResult(
            "inconclusive",
            f"dying ratios at {len(by_d)} density: no comparison",
            rule,
            constants,
            "nothing: at least two densities are needed",
        )
    dens = sorted(by_d)
    lo_d, hi_d = dens[0], dens[-1]
    diffs = _paired(by_d[lo_d], by_d[hi_d])
    if not diffs:
        return RuleResult(
            "inconclusive",
            "no seed was run at both the lowest and the highest density",
            rule,
            constants,
            "nothing: no paired seeds",
        )
    iv = t_interval(diffs)
    grows = decide_superiority(iv, DYING_DELTA)
    frac = t_interval([v / (1.0 - lo_d) for v in by_d[lo_d].values()])
    if frac.low > HALF_DEAD:
        far = "consistent"
    elif frac.high < HALF_DEAD:
        far = "inconsistent"
    else:
        far = "inconclusive"
    verdict = combine([grows, far])
    summary = (
        f"dying ratio at density {lo_d} minus at {hi_d}, over {iv.n} paired seeds: {iv.text()} ({grows}); "
        f"dead fraction of the initially pruned edges at density {lo_d}: {frac.text()} vs {HALF_DEAD} ({far})"
    )
    detectable = (
        f"a density effect above h = {iv.half_width:.3g} and a dead fraction more than "
        f"{frac.half_width:.3g} from {HALF_DEAD} (interval half-widths, {iv.n} seeds)"
    )
    return RuleResult(verdict, summary, rule, constants, detectable)


def _iep_cells(details: Mapping[str, Any], value: str) -> dict[float, tuple[dict, dict]]:
    t = _table(_rows(details), lambda r: (str(r["variant"]), float(r["density"])), value)
    dens = sorted({d for (_, d) in t})
    return {d: (t.get(("soft", d), {}), t.get(("ep", d), {})) for d in dens}


def _no_iep_pairs(rule: str, constants: dict[str, Any]) -> RuleResult:
    """The verdict of an iEP rule when no density has runs of both arms."""
    summary = "no density has both soft iEP and EP runs"
    return RuleResult("inconclusive", summary, rule, constants, "nothing: no paired seeds")


@register_rule("iep-soft-beats-ep.accuracy")
def iep_soft_beats_ep_accuracy(details: Mapping[str, Any]) -> RuleResult:
    """Soft iEP reaches a higher test accuracy than EP at the same density (Iwasawa et al.).

    Args:
        details: ``per_seed`` rows with ``variant`` (ep, soft, hard), ``density``, ``seed``, ``test_acc``.

    Returns:
        Paired soft-minus-EP accuracy per density, decided by :func:`decide_superiority`.
    """
    verdict, table, ivs, _ = _superiority_cells(_iep_cells(details, "test_acc"), ACC_DELTA)
    rule = (
        "per density, soft iEP minus EP test accuracy over paired seeds: 95% t-interval above 0 -> "
        f"consistent, below 0 or upper end < {ACC_DELTA} -> inconsistent; every density must be consistent"
    )
    constants = {**_CONSTANTS_T, "delta": f"{ACC_DELTA}: one accuracy point, below the source's 1.33-2.7"}
    if not table:
        return _no_iep_pairs(rule, constants)
    summary = "soft iEP minus EP test accuracy (matched compute), " + _cell_text(table, "density")
    return RuleResult(verdict, summary, rule, constants, _detect(ivs, "accuracy"))


@register_rule("iep-soft-beats-ep.dying-ratio")
def iep_soft_beats_ep_dying_ratio(details: Mapping[str, Any]) -> RuleResult:
    """Soft iEP keeps a lower dying ratio than EP at the same density (Iwasawa et al.).

    Args:
        details: ``per_seed`` rows with ``variant``, ``density``, ``seed``, ``dying_ratio``.

    Returns:
        Paired EP-minus-soft dying ratio per density, decided by :func:`decide_superiority`.
    """
    cells = {d: (ep, soft) for d, (soft, ep) in _iep_cells(details, "dying_ratio").items()}
    verdict, table, ivs, _ = _superiority_cells(cells, DYING_DELTA)
    rule = (
        "per density, EP minus soft iEP final dying ratio over paired seeds: 95% t-interval above 0 -> "
        f"consistent, below 0 or upper end < {DYING_DELTA} -> inconsistent; every density must be consistent"
    )
    constants = {**_CONSTANTS_T, "delta": f"{DYING_DELTA}: relevant dying-ratio difference (see ep-dying)"}
    if not table:
        return _no_iep_pairs(rule, constants)
    summary = "EP minus soft iEP final dying ratio, " + _cell_text(table, "density")
    return RuleResult(verdict, summary, rule, constants, _detect(ivs, "dying ratio"))


@register_rule("rigl-second-order")
def rigl_second_order(details: Mapping[str, Any]) -> RuleResult:
    """Second-order RigL trains to at least RigL's accuracy at 80-90% sparsity (non-inferiority).

    Args:
        details: ``per_seed`` rows with ``method`` (rigl, rigl2), ``sparsity``, ``seed``, ``test_acc``.

    Returns:
        Per sparsity, the paired rigl2-minus-rigl interval: lower end above ``-RIGL_MARGIN`` -> at least
        as good; upper end below 0 -> worse.
    """
    t = _table(_rows(details), lambda r: (str(r["method"]), round(float(r["sparsity"]), 6)), "test_acc")
    sps = sorted({s for (_, s) in t})
    rule = (
        "per sparsity, rigl2 minus rigl test accuracy over paired seeds, 95% t-interval: upper end < 0 -> "
        f"inconsistent; lower end > -{RIGL_MARGIN} -> consistent (non-inferior); every sparsity must be"
    )
    constants = {**_CONSTANTS_T, "margin": f"{RIGL_MARGIN}: non-inferiority margin, one accuracy point"}
    table, ivs, verdicts = {}, [], []
    for s in sps:
        diffs = _paired(t.get(("rigl2", s), {}), t.get(("rigl", s), {}))
        if not diffs:
            continue
        iv = t_interval(diffs)
        v = "inconsistent" if iv.high < 0 else "consistent" if iv.low > -RIGL_MARGIN else "inconclusive"
        ivs.append(iv)
        verdicts.append(v)
        table[str(s)] = {"diffs": diffs, "mean": iv.mean, "low": iv.low, "high": iv.high, "verdict": v}
    if not table:
        return RuleResult(
            "inconclusive",
            "no sparsity has both rigl and rigl2 runs",
            rule,
            constants,
            "nothing: no paired seeds",
        )
    hs = max(iv.half_width for iv in ivs)
    detectable = (
        f"rigl2 worse by more than h = {hs:.3g} (largest half-width) is seen; non-inferiority at margin "
        f"{RIGL_MARGIN} is shown only when mean - h > -{RIGL_MARGIN}"
    )
    summary = "second-order RigL minus RigL test accuracy, " + _cell_text(table, "sparsity")
    return RuleResult(combine(verdicts), summary, rule, constants, detectable)


def _pgd_table(details: Mapping[str, Any]) -> tuple[dict[tuple[float, float], dict[int, float]], list[float]]:
    t = _table(_rows(details), lambda r: (float(r["eps"]), round(float(r["sparsity"]), 6)), "test_acc")
    epss = sorted({e for e, _ in t})
    return t, epss


@register_rule("pgd-ep-perturbation-helps.accuracy-rises")
def pgd_ep_accuracy_rises(details: Mapping[str, Any]) -> RuleResult:
    """At fixed sparsity, PGD+EP test accuracy rises with eps (Xiong et al., AISTATS 2023 table).

    Args:
        details: ``per_seed`` grid rows with ``eps``, ``seed``, ``sparsity``, ``test_acc``.

    Returns:
        Per sparsity > 0, the paired accuracy at the largest minus the smallest eps, decided by
        :func:`decide_superiority`.
    """
    t, epss = _pgd_table(details)
    rule = (
        "per sparsity > 0, test accuracy at the largest minus at the smallest eps over paired seeds: 95% "
        f"t-interval above 0 -> rises, below 0 or upper end < {ACC_DELTA} -> inconsistent; every sparsity"
    )
    constants = {
        **_CONSTANTS_T,
        "delta": f"{ACC_DELTA}: one accuracy point",
        "sparsities": "> 0 (at sparsity 0 nothing is pruned and the comparison is PGD training alone)",
    }
    if len(epss) < 2:
        return RuleResult(
            "inconclusive",
            f"{len(epss)} eps value recorded: no comparison",
            rule,
            constants,
            "nothing: at least two eps values are needed",
        )
    e0, e1 = epss[0], epss[-1]
    sps = sorted({s for (e, s) in t if s > 0 and e in (e0, e1)})
    cells = {s: (t.get((e1, s), {}), t.get((e0, s), {})) for s in sps}
    verdict, table, ivs, _ = _superiority_cells(cells, ACC_DELTA)
    if not table:
        return RuleResult(
            "inconclusive",
            "no sparsity > 0 has paired seeds at both eps",
            rule,
            constants,
            "nothing: no paired seeds",
        )
    summary = f"test accuracy at eps={e1} minus eps={e0}, " + _cell_text(table, "sparsity")
    return RuleResult(verdict, summary, rule, constants, _detect(ivs, "accuracy"))


def best_sparsity(acc_by_sparsity: Mapping[float, float]) -> float:
    """The grid sparsity of highest test accuracy; ties go to the smaller sparsity (the denser mask)."""
    return min(acc_by_sparsity, key=lambda s: (-acc_by_sparsity[s], s))


@register_rule("pgd-ep-perturbation-helps.best-sparsity-falls")
def pgd_ep_best_sparsity_falls(details: Mapping[str, Any]) -> RuleResult:
    """The best sparsity is about 0.5 at eps = 0 and falls towards 0 for large eps (Xiong et al.).

    Args:
        details: ``per_seed`` grid rows with ``eps``, ``seed``, ``sparsity``, ``test_acc``.

    Returns:
        Two exact sign tests over seeds (the best sparsity is a grid value): the best sparsity at the
        largest eps is below the one at the smallest eps, and the one at the smallest eps lies in
        ``ABOUT_HALF``. Both must hold.
    """
    t, epss = _pgd_table(details)
    rule = (
        "per seed, best sparsity = grid argmax of test accuracy (ties: smaller sparsity); sign tests, "
        "one-sided 95% Clopper-Pearson on the fraction of seeds with best(eps max) < best(eps min) and "
        f"with best(eps min) in {list(ABOUT_HALF)}: bound above 1/2 -> holds, below -> fails; both needed"
    )
    constants = {
        "confidence": f"{CONFIDENCE} one-sided Clopper-Pearson bound (exact sign test, alpha = 0.05)",
        "about_half": f"{list(ABOUT_HALF)}: 'about 0.5' of the source table, the grid points next to 0.5",
    }
    if len(epss) < 2:
        return RuleResult(
            "inconclusive",
            f"{len(epss)} eps value recorded: no trend",
            rule,
            constants,
            "nothing: at least two eps values are needed",
        )
    e0, e1 = epss[0], epss[-1]
    best: dict[float, dict[int, float]] = {}
    for e in (e0, e1):
        seeds = sorted({s for (ee, _), per in t.items() if ee == e for s in per})
        for seed in seeds:
            accs = {sp: per[seed] for (ee, sp), per in t.items() if ee == e and seed in per}
            best.setdefault(e, {})[seed] = best_sparsity(accs)
    paired = sorted(set(best.get(e0, {})) & set(best.get(e1, {})))
    n = len(paired)
    if n == 0:
        return RuleResult(
            "inconclusive",
            "no seed has grid results at both eps",
            rule,
            constants,
            "nothing: no paired seeds",
        )
    falls = sum(best[e1][s] < best[e0][s] for s in paired)
    half = sum(ABOUT_HALF[0] <= best[e0][s] <= ABOUT_HALF[1] for s in paired)
    v_fall, ci_fall = decide_sign(falls, n)
    v_half, ci_half = decide_sign(half, n)
    k_min = sign_test_min_agree(n)
    detectable = (
        f"a trend shown only when at least {k_min} of {n} seeds agree"
        if k_min is not None
        else f"no trend can be shown with {n} seeds (the sign test needs >= 5 seeds agreeing)"
    )
    summary = (
        f"best sparsity per seed at eps={e0}: {[best[e0][s] for s in paired]}, at eps={e1}: "
        f"{[best[e1][s] for s in paired]}; falls at {falls}/{n} seeds, P bounds "
        f"[{ci_fall[0]:.2f}, {ci_fall[1]:.2f}] ({v_fall}); in {list(ABOUT_HALF)} at eps={e0} at {half}/{n}, "
        f"[{ci_half[0]:.2f}, {ci_half[1]:.2f}] ({v_half})"
    )
    return RuleResult(combine([v_fall, v_half]), summary, rule, constants, detectable)


# ------------------------------------------------------------------------------------------ examples
_JIT = (0.0, 0.006, -0.003)  # seed-to-seed scatter of the example numbers


def _example_rows() -> dict[str, list[dict[str, Any]]]:
    dying = [
        {"density": d, "seed": s, "dying_ratio": round((1 - d) * f + _JIT[(s + i) % 3] * (1 + i), 4)}
        for i, (d, f) in enumerate(((0.1, 0.8), (0.3, 0.7), (0.5, 0.55), (0.7, 0.4)))
        for s in range(3)
    ]
    iep = []
    for d in (0.05, 0.2):
        for s in range(3):
            base = 0.60 + 0.1 * d + 0.004 * s
            iep.append({"variant": "ep", "density": d, "seed": s, "test_acc": base, "dying_ratio": 0.8 - d})
            iep.append(
                {
                    "variant": "soft",
                    "density": d,
                    "seed": s,
                    "test_acc": base + 0.03 + 0.002 * s,
                    "dying_ratio": 0.3 - d + 0.01 * s,
                }
            )
    rigl = [
        {
            "method": m,
            "sparsity": sp,
            "seed": s,
            "test_acc": 0.7 - 0.1 * sp + _JIT[s] + j * (0.004 + 0.001 * s),
        }
        for j, m in enumerate(("rigl", "rigl2"))
        for sp in (0.8, 0.9)
        for s in range(3)
    ]
    pgd = []
    for e in (0.0, 0.01, 0.1):
        for s in range(5):
            for sp in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9):
                # eps = 0: a random network, best near sparsity 0.5; large eps: the dense end wins.
                acc = 0.5 - (sp - 0.5) ** 2 if e == 0.0 else 0.8 - 0.2 * sp * (1 - e)
                pgd.append(
                    {
                        "eps": e,
                        "seed": s,
                        "sparsity": sp,
                        "test_acc": round(acc + _JIT[(s + int(10 * sp)) % 3] * (1 + 10 * e), 4),
                    }
                )
    return {"dying": dying, "iep": iep, "rigl": rigl, "pgd": pgd}


_EX = _example_rows()
EXAMPLES: list[tuple[str, str, dict]] = [
    ("ep-dying-ratio-grows", "ep-dying-ratio-grows", {"per_seed": _EX["dying"]}),
    ("iep-soft-beats-ep.accuracy", "iep-soft-beats-ep.accuracy", {"per_seed": _EX["iep"]}),
    ("iep-soft-beats-ep.dying-ratio", "iep-soft-beats-ep.dying-ratio", {"per_seed": _EX["iep"]}),
    ("rigl-second-order", "rigl-second-order", {"per_seed": _EX["rigl"]}),
    (
        "pgd-ep-perturbation-helps.accuracy-rises",
        "pgd-ep-perturbation-helps.accuracy-rises",
        {"per_seed": _EX["pgd"]},
    ),
    (
        "pgd-ep-perturbation-helps.best-sparsity-falls",
        "pgd-ep-perturbation-helps.best-sparsity-falls",
        {"per_seed": _EX["pgd"]},
    ),
]
