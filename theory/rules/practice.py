"""Pre-registered rules for the practice claims (training sweeps of :mod:`sim.training_sweeps`).

Every rule reads the raw per-seed numbers a sweep recorded (``details["per_seed"]``: one row per run,
or per grid point for PGD+EP) and decides with paired comparisons: the arms of a sweep share their seeds
(the same seed draws the same frozen weights, scores and data order), so the unit of evidence is the
per-seed difference between two arms. The interval is the two-sided Student-t interval of the mean
difference at level ``CONFIDENCE`` (alpha = 0.05), and the decision for a claim "A exceeds B" is
(:func:`decide_effect`, which is :func:`decide_superiority` plus its half-width clause):

* ``consistent`` when the interval lies above 0;
* ``inconsistent`` when it lies below 0 (the wrong side), or when it contains 0 but its upper end is
  below the pre-registered relevant effect ``delta`` (the design could see an effect of ``delta`` and
  the data exclude one), or when it contains 0 with a half-width at most ``delta`` (the design could
  see the reference's effect and did not);
* ``inconclusive`` otherwise (the interval contains 0 and its half-width exceeds ``delta``).

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
from theory.rules import Effect, RuleResult, register_rule

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE
# One point of test accuracy: the relevant effect where the source gives no number, fixed before any of
# our runs (below every accuracy gain the sources report).
ACC_DELTA = 0.01
# The reference's effect for iEP accuracy: iterative pruning beats one-shot EP by 1.33 points (ResNet-18,
# CIFAR-10; algorithms.md §3.2). Used as the relevant effect of the iEP accuracy rules, so that
# "inconclusive" means the interval is wider than the reference's effect.
IEP_ACC_REF = 0.0133
# Test-bed acceptance (issue 12): EP at density 0.5 within 5 accuracy points of dense SGD, and the dense
# baselines' floors per dataset.
NEAR_DENSE = 0.05
DENSE_FLOOR = {"digits": 0.97, "mnist1d": 0.85}
# Mask turnover: the fraction of all edges that were pruned at the start and selected at least once,
# k - d_T in the source (algorithms.md §3.2: about 0.20 at every pruning ratio, Table 1; the slides'
# "about 0.2"). "Small" = at most the source's 0.2 plus 0.1.
TURNOVER_REF = 0.2
TURNOVER_SMALL = 0.3
# Dying ratio vs accuracy: the source reports the sign only; a Spearman |rho| of 0.3 (Cohen's "medium")
# is the relevant size (PROPOSAL, fixed before the runs).
RHO_REF = 0.3
# Dying-ratio effect: the source's EP dying ratio spans 0.028..0.656 over its densities (Table 1); 0.05 is
# under a tenth of that spread, fixed before any of our runs.
DYING_DELTA = 0.05
# "Near zero" for soft iEP's dying ratio early (algorithms.md §3.2: "near zero in early cycles", no number):
# below DYING_DELTA, the smallest dying-ratio change the project calls relevant; fixed before any
# per-cycle number was read.
NEAR_ZERO = DYING_DELTA
# "Far above zero": at the lowest density at least half of the initially pruned edges never selected. The
# source has 0.656 of at most 0.832 (0.79) at its sparsest setting but 0.028 of 0.2 at its densest, so
# the criterion is only applied at the lowest density run.
HALF_DEAD = 0.5
# Non-inferiority margin of "second-order RigL trains to at least the accuracy of RigL": one point.
RIGL_MARGIN = 0.01
# "The best sparsity is about 0.5 at eps = 0" (Xiong et al. table): a best grid sparsity in [0.3, 0.7].
ABOUT_HALF = (0.3, 0.7)

# The references' effects for the claims table (algorithms.md §3.2: the soft-iEP submission, Table 1;
# theory.md §1.6: Xiong et al.'s table, numbers held back). Where a number is given it is the relevant
# effect r of the inconclusive rule (issue 12); where none is, r is the stated smallest effect that matters.
DYING_RISE_REF = 0.628  # d_T 0.028 (k = 0.2) -> 0.656 (k = 0.832), Table 1
DEAD_FRACTION_REF = 0.656 / 0.832  # dead share of the initially pruned edges at the source's sparsest k
REF_DYING = (
    "d_T 0.028 at k = 0.2 to 0.656 at k = 0.832: +0.628 (soft-iEP submission Table 1; algorithms.md §3.2)"
)
REF_DEAD = "0.656 of 0.832 initially pruned never selected, 0.79 (Table 1; algorithms.md §3.2)"
REF_TURNOVER = "k - d_T about 0.20 at every pruning ratio (Table 1; algorithms.md §3.2; slides 'about 0.2')"
REF_IEP_ACC = "iterative over one-shot EP +1.33 points, ResNet-18 CIFAR-10 (algorithms.md §3.2)"
REF_SOFT_DYING = "soft iEP's dying ratio near zero early, below EP's; no number (algorithms.md §3.2)"
REF_SOFT_EARLY = "soft iEP's dying ratio near zero in early cycles; no number (algorithms.md §3.2)"
REF_SOFT_EARLY_EP = "soft iEP's dying ratio early below EP's, same density; no number (algorithms.md §3.2)"
REF_HARD_EP = "soft >= hard >= EP in accuracy, order only; iterative over one-shot EP +1.33 points (§3.2)"
REF_HARD_DYING = "hard iEP's dying ratio looks lower than EP's; not reported (issue 12; algorithms.md §3.2)"
REF_SOFT_HARD = "soft >= hard in accuracy, most visibly at high sparsity; order only (algorithms.md §3.2)"
REF_REWIND = "every variant but FT improves on EP (Table 3, order only; iterative gain +1.33 points, §3.2)"
REF_FT = "fine-tuning does not improve on EP (Table 3, order only; Renda et al.; algorithms.md §3.2)"
REF_LR_BEST = "LR-only rewinding is the best variant (Table 3, order only; algorithms.md §3.2)"
REF_ITERAND = "IteRand lowers the dying ratio vs EP; not reported (algorithms.md §2.2, §3.2)"
REF_RHO = "negative correlation for a plain conv net, sign only (issue 12; algorithms.md §3.2)"
REF_RIGL = "no published second-order RigL; not reported (algorithms.md §5.4)"
REF_RIGL_TIME = "1-2 HVPs per update, each 2-4x a gradient (algorithms.md §5.2, §5.3); seconds not reported"
REF_PGD_ACC = "at fixed s accuracy rises with eps; numbers not reported here (theory.md §1.6)"
REF_PGD_BEST = "best s about 0.5 at eps = 0, falls to 0 for large eps; shape only (theory.md §1.6)"
REF_TESTBED = "EP at density 0.5 within 5 points of dense (issue 12); EP near dense SGD (algorithms.md §1.7)"
# Sign tests: the agreement P(seed agrees) that matters. The references show the shift as the table's
# shape (no spread), so a trend nine seeds in ten follow is the smallest that matters (fixed before runs).
AGREE_REF = 0.9
# RigL extra time: the smallest extra time per update that matters, as a fraction of RigL's own update
# time (a 10% overhead; the proposal's amortised overhead is < 5% of training, algorithms.md §5.2).
TIME_FRACTION = 0.1

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


def half_width_rule(r: float) -> str:
    """The inconclusive rule of issue 12 in one clause (part of every training rule's text)."""
    return (
        f"an undecided interval is inconsistent when its half-width h <= r = {r:.3g} (the design could see "
        "the relevant effect r and did not) and inconclusive only when h > r"
    )


def decide_effect(iv: Interval, r: float) -> str:
    """Verdict for "the mean difference is positive", with the inconclusive rule of issue 12.

    ``r`` is the relevant effect: the reference's effect where it reports one (same unit), else the
    smallest effect that matters (stated in the rule's constants). Interval above 0 -> ``consistent``;
    below 0, or upper end below ``r`` (an effect of ``r`` excluded), or half-width ``h <= r`` (the design
    could detect ``r`` and did not see it) -> ``inconsistent``; otherwise (``h > r``) ``inconclusive``.
    """
    verdict = decide_superiority(iv, r)
    return "inconsistent" if verdict == "inconclusive" and iv.half_width <= r else verdict


def seeds_to_decide(
    iv: Interval, r: float, confidence: float = CONFIDENCE, n_max: int = 100_000
) -> int | None:
    """Fewest paired seeds whose interval half-width falls to ``r`` at the measured spread.

    The spread is read back from the interval (``sd = h sqrt(n) / t_{n-1}``) and the Student-t quantile
    is taken at the new size, so the answer is the scale at which :func:`decide_effect` must decide.
    Returns None when ``r <= 0`` or the interval has fewer than 2 values (no spread known).
    """
    from scipy.special import stdtrit

    if r <= 0 or iv.n < 2 or not math.isfinite(iv.half_width):
        return None
    q = 0.5 + confidence / 2.0
    sd = iv.half_width * math.sqrt(iv.n) / float(stdtrit(iv.n - 1, q))
    if sd == 0.0:
        return iv.n
    n = max(iv.n, 2)
    while n <= n_max:
        if float(stdtrit(n - 1, q)) * sd / math.sqrt(n) <= r:
            return n
        n += 1 if n < 1000 else n // 10
    return None


def interval_effect(
    quantity: str,
    iv: Interval,
    verdict: str,
    r: float,
    reference: str,
    reference_value: float | None = None,
    unit: str = "paired seeds",
) -> Effect:
    """An :class:`~theory.rules.Effect` from a t-interval; an inconclusive one says what scale decides."""
    decides_at = None
    if verdict == "inconclusive":
        n = seeds_to_decide(iv, r)
        if n is not None:
            decides_at = f"{n} {unit} (half-width <= r = {r:.3g} at the measured spread), same schedule"
        elif r <= 0:
            decides_at = "a design whose mean stands clear of the boundary (more seeds alone do not help)"
        else:
            decides_at = f"more {unit} than {iv.n} (no spread measured yet)"
    return Effect(
        quantity, iv.mean, iv.low, iv.high, iv.half_width, reference, reference_value, decides_at, verdict
    )


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
        f"a mean paired difference above about h = {worst:.3g} {unit} (largest interval half-width) is seen; "
        f"the interval width 2h = {2 * worst:.3g} is the effect the design can both see and exclude"
    )


def _superiority_cells(
    cells: Mapping[Any, tuple[Mapping[int, float], Mapping[int, float]]],
    r: float,
    quantity: str,
    reference: str,
    reference_value: float | None,
) -> tuple[str, dict[str, Any], list[Interval], list[Effect]]:
    """Per cell, the paired interval of ``a - b`` decided by :func:`decide_effect` against ``r``.

    ``quantity`` is formatted with ``{cell}``; every cell with paired seeds gives one :class:`Effect`.
    """
    table: dict[str, Any] = {}
    ivs, verdicts, effects = [], [], []
    for cell, (a, b) in sorted(cells.items()):
        diffs = _paired(a, b)
        if not diffs:
            continue
        iv = t_interval(diffs)
        v = decide_effect(iv, r)
        ivs.append(iv)
        verdicts.append(v)
        effects.append(interval_effect(quantity.format(cell=cell), iv, v, r, reference, reference_value))
        table[str(cell)] = {"diffs": diffs, "mean": iv.mean, "low": iv.low, "high": iv.high, "verdict": v}
    return combine(verdicts), table, ivs, effects


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
        Paired test of (lowest minus highest density) per seed against the source's rise, and a
        t-interval on the fraction of the initially pruned edges still dead at the lowest density against
        ``HALF_DEAD`` (relevant distance: the source's 0.79 minus it).
    """
    by_d = _table(_rows(details), lambda r: float(r["density"]), "dying_ratio")
    far_r = DEAD_FRACTION_REF - HALF_DEAD
    rule = (
        "per seed, dying ratio at the lowest minus the highest density: 95% t-interval above 0 -> grows, "
        f"below 0 or upper end < r = {DYING_RISE_REF} -> not; and the fraction dying/(1-density) at the "
        f"lowest density: interval above {HALF_DEAD} -> far from 0, below -> not, undecided with h <= "
        f"{far_r:.3g} -> not; {half_width_rule(DYING_RISE_REF)} (rise); both needed for consistent"
    )
    constants = {
        **_CONSTANTS_T,
        "r_rise": f"{DYING_RISE_REF}: the source's rise of d_T over its densities (Table 1)",
        "half_dead": f"{HALF_DEAD}: fraction of initially pruned edges never selected at the lowest density "
        "(source Table 1: 0.656/0.832 = 0.79 at its sparsest)",
        "r_far": f"{far_r:.3g}: the source's 0.79 minus half_dead",
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
    grows = decide_effect(iv, DYING_RISE_REF)
    frac = t_interval([v / (1.0 - lo_d) for v in by_d[lo_d].values()])
    excess = Interval(
        frac.mean - HALF_DEAD, frac.low - HALF_DEAD, frac.high - HALF_DEAD, frac.half_width, frac.n
    )
    far = decide_effect(excess, far_r)
    verdict = combine([grows, far])
    summary = (
        f"dying ratio at density {lo_d} minus at {hi_d}, over {iv.n} paired seeds: {iv.text()} ({grows}); "
        f"dead fraction of the initially pruned edges at density {lo_d}: {frac.text()} vs {HALF_DEAD} ({far})"
    )
    detectable = (
        f"a density effect above h = {iv.half_width:.3g} and a dead fraction more than "
        f"{frac.half_width:.3g} from {HALF_DEAD} (interval half-widths, {iv.n} seeds)"
    )
    effects = (
        interval_effect(
            f"dying ratio at density {lo_d} minus at {hi_d}",
            iv,
            grows,
            DYING_RISE_REF,
            REF_DYING,
            DYING_RISE_REF,
        ),
        interval_effect(
            f"dead fraction dying/(1-density) at density {lo_d} minus {HALF_DEAD}",
            excess,
            far,
            far_r,
            REF_DEAD,
            far_r,
        ),
    )
    return RuleResult(verdict, summary, rule, constants, detectable, effects)


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
        Paired soft-minus-EP accuracy per density, decided by :func:`decide_effect`.
    """
    verdict, table, ivs, effects = _superiority_cells(
        _iep_cells(details, "test_acc"),
        IEP_ACC_REF,
        "soft iEP minus EP test accuracy at density {cell}",
        REF_IEP_ACC,
        IEP_ACC_REF,
    )
    rule = (
        "per density, soft iEP minus EP test accuracy over paired seeds: 95% t-interval above 0 -> "
        f"consistent, below 0 or upper end < {IEP_ACC_REF} -> inconsistent; {half_width_rule(IEP_ACC_REF)}; "
        "every density must be consistent"
    )
    constants = {**_CONSTANTS_T, "delta": f"{IEP_ACC_REF}: the source's gain of iterative over one-shot EP"}
    if not table:
        return _no_iep_pairs(rule, constants)
    summary = "soft iEP minus EP test accuracy (matched compute), " + _cell_text(table, "density")
    return RuleResult(verdict, summary, rule, constants, _detect(ivs, "accuracy"), effects)


@register_rule("iep-soft-beats-ep.dying-ratio")
def iep_soft_beats_ep_dying_ratio(details: Mapping[str, Any]) -> RuleResult:
    """Soft iEP keeps a lower dying ratio than EP at the same density (Iwasawa et al.).

    Args:
        details: ``per_seed`` rows with ``variant``, ``density``, ``seed``, ``dying_ratio``.

    Returns:
        Paired EP-minus-soft dying ratio per density, decided by :func:`decide_effect`.
    """
    cells = {d: (ep, soft) for d, (soft, ep) in _iep_cells(details, "dying_ratio").items()}
    verdict, table, ivs, effects = _superiority_cells(
        cells, DYING_DELTA, "EP minus soft iEP final dying ratio at density {cell}", REF_SOFT_DYING, None
    )
    rule = (
        "per density, EP minus soft iEP final dying ratio over paired seeds: 95% t-interval above 0 -> "
        f"consistent, below 0 or upper end < {DYING_DELTA} -> inconsistent; {half_width_rule(DYING_DELTA)}; "
        "every density must be consistent"
    )
    constants = {**_CONSTANTS_T, "delta": f"{DYING_DELTA}: relevant dying-ratio difference (see ep-dying)"}
    if not table:
        return _no_iep_pairs(rule, constants)
    summary = "EP minus soft iEP final dying ratio, " + _cell_text(table, "density")
    return RuleResult(verdict, summary, rule, constants, _detect(ivs, "dying ratio"), effects)


def _early_table(details: Mapping[str, Any]) -> dict[tuple[str, float], dict[int, tuple[int, float]]]:
    """``{(variant, density): {seed: (early_step, early_dying_ratio)}}`` of the rows that have both."""
    out: dict[tuple[str, float], dict[int, tuple[int, float]]] = {}
    for r in _rows(details):
        step, value = r.get("early_step"), r.get("early_dying_ratio")
        if step is None or value is None or not math.isfinite(float(value)):
            continue
        cell = (str(r["variant"]), float(r["density"]))
        seed = int(r["seed"])
        if seed in out.setdefault(cell, {}):
            raise ValueError(f"two rows for cell {cell!r} and seed {seed}")
        out[cell][seed] = (int(step), float(value))
    return out


@register_rule("iep-soft-beats-ep.early")
def iep_soft_beats_ep_early(details: Mapping[str, Any]) -> RuleResult:
    """Soft iEP's dying ratio is near zero early, and below EP's at the same density and step.

    Iwasawa et al. (soft-iEP submission; algorithms.md §3.2): "its dying ratio is near zero in early
    cycles", lower than EP's. "Early" is the end of soft iEP's first cycle; "near zero" is below
    ``NEAR_ZERO`` (the source gives no number).

    Args:
        details: ``per_seed`` rows with ``variant`` (ep, soft, ...), ``density``, ``seed``,
            ``early_step`` and ``early_dying_ratio``: for soft iEP the step at which its first cycle
            ended and its dying ratio there; for EP its dying ratio after the same number of steps
            (its epoch-end log at soft's ``early_step``). Rows without them are left out.

    Returns:
        Both needed, at every density: the t-interval of soft's first-cycle dying ratio against
        ``NEAR_ZERO`` (:func:`_verdict_below`), and paired EP minus soft at that step by
        :func:`decide_effect` with r = ``DYING_DELTA``.
    """
    rule = (
        "per density, soft iEP's dying ratio at the end of its first cycle over its seeds, 95% t-interval: "
        f"below {NEAR_ZERO} -> near zero, above -> not, holding {NEAR_ZERO} with half-width h <= "
        f"{NEAR_ZERO} -> not (inconclusive only for h > {NEAR_ZERO}); and EP minus soft dying ratio at the "
        f"same step over paired seeds: above 0 -> lower, below 0 or upper end < {DYING_DELTA} -> not; "
        f"{half_width_rule(DYING_DELTA)}; every density and both tests must be consistent"
    )
    constants = {
        **_CONSTANTS_T,
        "near_zero": f"{NEAR_ZERO}: = dying_delta, the smallest relevant dying-ratio change (the source says "
        "'near zero' without a number); also the r of the near-zero test",
        "delta": f"{DYING_DELTA}: relevant dying-ratio difference (see ep-dying)",
    }
    t = _early_table(details)
    dens = sorted({d for (v, d) in t if v == "soft"})
    verdicts, ivs, effects, parts = [], [], [], []
    for d in dens:
        soft, ep = t[("soft", d)], t.get(("ep", d), {})
        iv = t_interval([v for _, v in soft.values()])
        v_zero = _verdict_below(iv, NEAR_ZERO, NEAR_ZERO)
        effects.append(
            interval_effect(
                f"soft iEP dying ratio at the end of cycle 1, density {d} (limit {NEAR_ZERO})",
                iv,
                v_zero,
                NEAR_ZERO,
                REF_SOFT_EARLY,
                None,
                unit="seeds",
            )
        )
        verdicts.append(v_zero)
        ivs.append(iv)
        parts.append(f"density {d}: soft cycle-1 dying ratio {iv.text()} over {iv.n} seeds ({v_zero})")
        for s in sorted(set(soft) & set(ep)):
            if soft[s][0] != ep[s][0]:
                raise ValueError(
                    f"density {d} seed {s}: EP's early dying ratio is at step {ep[s][0]}, soft iEP's first "
                    f"cycle ended at step {soft[s][0]}"
                )
        v_lower, table, ivs_l, eff_l = _superiority_cells(
            {d: ({s: v for s, (_, v) in ep.items()}, {s: v for s, (_, v) in soft.items()})},
            DYING_DELTA,
            "EP minus soft iEP dying ratio at soft's cycle-1 end, density {cell}",
            REF_SOFT_EARLY_EP,
            None,
        )
        if not table:
            v_lower = "inconclusive"
            parts.append(f"density {d}: no EP run with its dying ratio at soft's cycle-1 end step")
        else:
            parts.append(_cell_text(table, "EP minus soft at the same step, density"))
        verdicts.append(v_lower)
        ivs += ivs_l
        effects += eff_l
    if not dens:
        return RuleResult(
            "inconclusive",
            "no soft iEP run recorded its first cycle's end (early_step, early_dying_ratio)",
            rule,
            constants,
            "nothing: no first-cycle dying ratios",
        )
    summary = "; ".join(parts)
    return RuleResult(combine(verdicts), summary, rule, constants, _detect(ivs, "dying ratio"), effects)


def fresh_seeds(details: Mapping[str, Any]) -> list[int]:
    """The seeds ``details`` names as fresh (``fresh_seeds``: not run for the claim before it was stated)."""
    seeds = details.get("fresh_seeds") or []
    if not isinstance(seeds, list):
        raise ValueError(f"details['fresh_seeds'] must be a list of seeds, got {seeds!r}")
    return sorted({int(s) for s in seeds})


@register_rule("iep-hard-beats-ep")
def iep_hard_beats_ep(details: Mapping[str, Any]) -> RuleResult:
    """Hard iEP reaches at least EP's test accuracy at the sparsest density, on fresh seeds only.

    Iwasawa et al. (soft-iEP submission; algorithms.md §3.2): soft >= hard >= EP in accuracy (order
    only). The seeds the claim was formed on (fig08 at seeds 0-7) are left out: the rule reads only the
    seeds ``details["fresh_seeds"]`` names (the sweep's ``iep_worst_seeds``).

    Args:
        details: ``per_seed`` rows with ``variant`` (ep, hard, ...), ``density``, ``seed``, ``test_acc``,
            and ``fresh_seeds``: the seeds to decide on.

    Returns:
        Paired hard-minus-EP test accuracy at the lowest density with fresh pairs, by
        :func:`decide_effect` with r = ``IEP_ACC_REF``; inconclusive when no fresh seed is named or paired.
    """
    rule = (
        "only the fresh seeds of details['fresh_seeds'] (no EP run there before the rule was stated), at "
        "the lowest density: hard iEP minus EP test accuracy over paired fresh seeds, 95% t-interval above "
        f"0 -> consistent, below 0 or upper end < {IEP_ACC_REF} -> inconsistent; "
        f"{half_width_rule(IEP_ACC_REF)}"
    )
    constants = {
        **_CONSTANTS_T,
        "delta": f"{IEP_ACC_REF}: the source's gain of iterative over one-shot EP (r)",
        "fresh_seeds": "the sweep's iep_worst_seeds (default 8-15), disjoint from the seeds 0-7 the "
        "ordering was first seen on",
    }
    seeds = fresh_seeds(details)
    if not seeds:
        return RuleResult(
            "inconclusive",
            "no fresh seeds named (details['fresh_seeds'] empty): the seen seeds are not used",
            rule,
            constants,
            "nothing: no fresh seeds",
        )
    fresh = set(seeds)
    rows = [r for r in _rows(details) if int(r["seed"]) in fresh]
    acc = _variant_cells({"per_seed": rows}, "test_acc") if rows else {}
    dens = sorted(d for (v, d) in acc if v == "hard" and ("ep", d) in acc)
    cells = {d: (acc[("hard", d)], acc[("ep", d)]) for d in dens[:1]}
    verdict, table, ivs, effects = _superiority_cells(
        cells,
        IEP_ACC_REF,
        "hard iEP minus EP test accuracy at density {cell}, fresh seeds",
        REF_HARD_EP,
        IEP_ACC_REF,
    )
    if not table:
        return RuleResult(
            "inconclusive",
            f"no density has hard iEP and EP runs at the fresh seeds {seeds}",
            rule,
            constants,
            "nothing: no paired fresh seeds",
        )
    summary = f"fresh seeds {seeds}: hard iEP minus EP test accuracy, " + _cell_text(table, "density")
    return RuleResult(verdict, summary, rule, constants, _detect(ivs, "accuracy"), effects)


@register_rule("rigl-second-order.accuracy")
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
        f"inconsistent; lower end > -{RIGL_MARGIN} -> consistent (non-inferior); undecided with half-width "
        f"h <= {RIGL_MARGIN} -> inconsistent (the margin was resolvable), h > {RIGL_MARGIN} -> inconclusive; "
        "every sparsity must be consistent"
    )
    constants = {
        **_CONSTANTS_T,
        "margin": f"{RIGL_MARGIN}: non-inferiority margin, one accuracy point (the source has no number: the "
        "smallest accuracy loss that matters)",
    }
    table, ivs, verdicts, effects = {}, [], [], []
    for s in sps:
        diffs = _paired(t.get(("rigl2", s), {}), t.get(("rigl", s), {}))
        if not diffs:
            continue
        iv = t_interval(diffs)
        shifted = Interval(
            iv.mean + RIGL_MARGIN, iv.low + RIGL_MARGIN, iv.high + RIGL_MARGIN, iv.half_width, iv.n
        )
        if iv.high < 0:
            v = "inconsistent"
        elif shifted.low > 0:
            v = "consistent"
        else:
            v = "inconsistent" if iv.half_width <= RIGL_MARGIN else "inconclusive"
        ivs.append(iv)
        verdicts.append(v)
        effects.append(
            interval_effect(f"rigl2 minus rigl test accuracy at sparsity {s}", iv, v, RIGL_MARGIN, REF_RIGL)
        )
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
    return RuleResult(combine(verdicts), summary, rule, constants, detectable, effects)


def _verdict_below(iv: Interval, limit: float, r: float) -> str:
    """Whether the mean is below ``limit``: interval below -> consistent, above -> inconsistent.

    An interval holding ``limit`` is inconsistent when its half-width is at most ``r`` (the relevant
    distance below the limit: the design could have shown a mean ``r`` below it) and inconclusive only
    when it is wider (the inconclusive rule of issue 12).
    """
    if iv.high < limit:
        return "consistent"
    if iv.low > limit or iv.half_width <= r:
        return "inconsistent"
    return "inconclusive"


@register_rule("testbed-ep-near-dense")
def testbed_ep_near_dense(details: Mapping[str, Any]) -> RuleResult:
    """The CPU test bed works: EP at density 0.5 is within 5 points of dense SGD, dense above its floor.

    Args:
        details: ``per_seed`` rows with ``method`` (ep, dense), ``dataset``, ``model``, ``density``,
            ``seed``, ``test_acc`` (sweep ``ep-vs-dense``; EP rows at density 0.5 only).

    Returns:
        Per (dataset, model): the paired dense-minus-EP interval against ``NEAR_DENSE`` and the dense
        mean against ``DENSE_FLOOR``; every cell must pass.
    """
    rows = _rows(details)
    t = _table(rows, lambda r: (str(r["dataset"]), str(r["model"]), str(r["method"])), "test_acc")
    rule = (
        "per (dataset, model), dense minus EP(density 0.5) test accuracy over paired seeds: 95% t-interval "
        f"below {NEAR_DENSE} -> within, above -> not, holding it with half-width h <= {NEAR_DENSE} -> not "
        f"(inconclusive only for h > {NEAR_DENSE}); and the dense mean accuracy >= its floor "
        f"{DENSE_FLOOR}; every cell must pass"
    )
    constants = {
        **_CONSTANTS_T,
        "near_dense": f"{NEAR_DENSE}: issue 12 acceptance (EP at density 0.5 within 5 points of dense)",
        "dense_floor": f"{DENSE_FLOOR}: issue 12 acceptance (dense baseline floors)",
    }
    cells = sorted({(d, m) for (d, m, _) in t})
    verdicts, ivs, parts, effects = [], [], [], []
    for d, m in cells:
        dense, ep = t.get((d, m, "dense"), {}), t.get((d, m, "ep"), {})
        diffs = _paired(dense, ep)
        if not diffs:
            continue
        iv = t_interval(diffs)
        dense_mean = math.fsum(dense.values()) / len(dense)
        v = _verdict_below(iv, NEAR_DENSE, NEAR_DENSE)
        floor = DENSE_FLOOR.get(d)
        if floor is not None and dense_mean < floor:
            v = "inconsistent"
        ep_mean = math.fsum(ep.values()) / len(ep)
        verdicts.append(v)
        ivs.append(iv)
        effects.append(
            interval_effect(
                f"{d}/{m}: dense minus EP(density 0.5) test accuracy (the limit {NEAR_DENSE})",
                iv,
                v,
                NEAR_DENSE,
                REF_TESTBED,
                NEAR_DENSE,
            )
        )
        parts.append(
            f"{d}/{m}: dense {dense_mean:.4f}, EP(0.5) {ep_mean:.4f}, dense-EP {iv.text()} over {iv.n} "
            f"seeds ({v})"
        )
    if not verdicts:
        return RuleResult("inconclusive", "no cell has paired dense and EP runs", rule, constants, "nothing")
    return RuleResult(combine(verdicts), "; ".join(parts), rule, constants, _detect(ivs, "accuracy"), effects)


@register_rule("ep-mask-turnover-small")
def ep_mask_turnover_small(details: Mapping[str, Any]) -> RuleResult:
    """EP's mask turnover stays small at every density: k - d_T about 0.2 (Iwasawa et al., Table 1).

    Args:
        details: ``per_seed`` rows with ``density``, ``seed``, ``dying_ratio`` (sweep ``ep-dying``).

    Returns:
        Per density, the t-interval of ``(1 - density) - dying_ratio`` (the fraction of all edges pruned
        at step 0 and selected at least once) against ``TURNOVER_SMALL``; every density must be below.
    """
    by_d = _table(_rows(details), lambda r: float(r["density"]), "dying_ratio")
    rule = (
        "per density, explored = (1 - density) - final dying ratio per seed: 95% t-interval below "
        f"{TURNOVER_SMALL} -> small, above -> not, holding it with half-width h <= r = "
        f"{TURNOVER_SMALL - TURNOVER_REF:.3g} -> not (inconclusive only for h > r); every density small"
    )
    constants = {
        **_CONSTANTS_T,
        "turnover_small": f"{TURNOVER_SMALL}: the source's k - d_T, about {TURNOVER_REF} (Table 1), + 0.1",
        "r": f"{TURNOVER_SMALL - TURNOVER_REF:.3g}: distance from the source's {TURNOVER_REF} to the limit",
    }
    r = TURNOVER_SMALL - TURNOVER_REF
    verdicts, ivs, parts, effects = [], [], [], []
    for d in sorted(by_d):
        iv = t_interval([(1.0 - d) - v for v in by_d[d].values()])
        v = _verdict_below(iv, TURNOVER_SMALL, r)
        effects.append(
            interval_effect(
                f"mask turnover k - d_T at density {d} (limit {TURNOVER_SMALL})",
                iv,
                v,
                r,
                REF_TURNOVER,
                TURNOVER_REF,
            )
        )
        verdicts.append(v)
        ivs.append(iv)
        parts.append(f"density {d}: {iv.text()} ({v})")
    if not verdicts:
        return RuleResult("inconclusive", "no density recorded", rule, constants, "nothing")
    summary = "explored fraction k - d_T per density, " + "; ".join(parts)
    hs = max(iv.half_width for iv in ivs)
    detectable = f"a mean turnover more than h = {hs:.3g} from {TURNOVER_SMALL} (largest half-width)"
    return RuleResult(combine(verdicts), summary, rule, constants, detectable, effects)


def spearman_interval(x: Sequence[float], y: Sequence[float]) -> Interval:
    """Spearman's rank correlation with a Fisher-z interval (Bonett & Wright 2000 standard error).

    ``z = atanh(rho)``, ``se = sqrt((1 + rho^2 / 2) / (n - 3))``, ends ``tanh(z -+ z_{0.975} se)``.

    Args:
        x: First variable (finite).
        y: Second variable, same length (at least 4 values).

    Returns:
        An :class:`Interval` of rho (``half_width`` is half the interval width).

    Raises:
        ValueError: With fewer than 4 pairs or unequal lengths.
    """
    from scipy.special import ndtri
    from scipy.stats import spearmanr

    if len(x) != len(y) or len(x) < 4:
        raise ValueError(f"x and y must have equal length >= 4, got {len(x)} and {len(y)}")
    n = len(x)
    rho = float(spearmanr(x, y).statistic)
    if not math.isfinite(rho):
        return Interval(0.0, -1.0, 1.0, 1.0, n)
    rho_c = max(min(rho, 1 - 1e-12), -1 + 1e-12)
    se = math.sqrt((1 + rho_c**2 / 2) / (n - 3))
    zq = float(ndtri(0.5 + CONFIDENCE / 2))
    lo, hi = math.tanh(math.atanh(rho_c) - zq * se), math.tanh(math.atanh(rho_c) + zq * se)
    return Interval(rho, lo, hi, (hi - lo) / 2, n)


def spearman_half_width(rho: float, n: int) -> float:
    """Half-width of :func:`spearman_interval`'s Fisher-z interval at ``rho`` and ``n`` runs (n >= 4)."""
    from scipy.special import ndtri

    rho_c = max(min(rho, 1 - 1e-12), -1 + 1e-12)
    se = math.sqrt((1 + rho_c**2 / 2) / (n - 3))
    zq = float(ndtri(0.5 + CONFIDENCE / 2))
    z = math.atanh(rho_c)
    return (math.tanh(z + zq * se) - math.tanh(z - zq * se)) / 2


def quadratic_fit(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """OLS ``y = a + b x + c x^2`` with the 95% t-interval of ``c`` and the vertex ``-b / 2c``.

    Args:
        x: Abscissae (at least 4 values, not all equal).
        y: Ordinates.

    Returns:
        ``{"a", "b", "c", "c_low", "c_high", "vertex"}``.
    """
    import numpy as np
    from scipy.special import stdtrit

    xs, ys = np.asarray(x, float), np.asarray(y, float)
    design = np.stack([np.ones_like(xs), xs, xs**2], axis=1)
    coef, *_ = np.linalg.lstsq(design, ys, rcond=None)
    dof = len(xs) - 3
    resid = ys - design @ coef
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    half = float(stdtrit(dof, 0.5 + CONFIDENCE / 2)) * math.sqrt(max(float(cov[2, 2]), 0.0))
    a, b, c = (float(v) for v in coef)
    vertex = -b / (2 * c) if c != 0 else math.nan
    return {"a": a, "b": b, "c": c, "c_low": c - half, "c_high": c + half, "vertex": vertex}


@register_rule("ep-dying-accuracy-correlation")
def ep_dying_accuracy_correlation(details: Mapping[str, Any]) -> RuleResult:
    """Across hyperparameters, EP's dying ratio and accuracy correlate negatively (plain nets).

    Iwasawa et al. (algorithms.md §3.2 [2nd]): a negative correlation for a plain conv net and an
    inverse U for a ResNet. Our CPU network is a plain MLP, so the sign is tested; the quadratic fit (the
    ResNet's U) is reported with its interval.

    Args:
        details: ``per_seed`` rows with ``variant``, ``seed``, ``dying_ratio``, ``test_acc``
            (sweep ``ep-hparams``: one run per hyperparameter variant and seed).

    Returns:
        Spearman's rho over all runs with its Fisher-z interval: above ... below 0 decides.
    """
    rows = [r for r in _rows(details) if r.get("test_acc") is not None and r.get("dying_ratio") is not None]
    rule = (
        "Spearman rho(dying ratio, test accuracy) over every run, 95% Fisher-z interval: below 0 -> "
        f"negative (consistent); above 0, or containing 0 with lower end > -{RHO_REF} or half-width <= "
        f"{RHO_REF} -> inconsistent; inconclusive only for a half-width > {RHO_REF}"
    )
    constants = {
        "confidence": f"{CONFIDENCE} Fisher-z interval, Bonett-Wright standard error",
        "rho_ref": f"{RHO_REF}: relevant |rho| (Cohen's medium; the source gives the sign only) PROPOSAL",
    }
    if len(rows) < 4:
        return RuleResult("inconclusive", f"{len(rows)} runs: too few", rule, constants, "nothing")
    dr = [float(r["dying_ratio"]) for r in rows]
    acc = [float(r["test_acc"]) for r in rows]
    iv = spearman_interval(dr, acc)
    neg = Interval(-iv.mean, -iv.high, -iv.low, iv.half_width, iv.n)  # -rho > 0 is the claim
    verdict = decide_effect(neg, RHO_REF)
    n_decide = None
    if verdict == "inconclusive":
        # Fisher-z half-width ~ z se with se = sqrt((1 + rho^2/2)/(n - 3)): runs at which it falls to RHO_REF
        n_decide = next((m for m in range(iv.n, 100_000) if spearman_half_width(iv.mean, m) <= RHO_REF), None)
    effect = Effect(
        "Spearman rho(dying ratio, test accuracy) over runs",
        iv.mean,
        iv.low,
        iv.high,
        iv.half_width,
        REF_RHO,
        None,
        None if verdict != "inconclusive" else f"{n_decide} runs (Fisher-z half-width <= {RHO_REF})",
    )
    q = quadratic_fit(dr, acc)
    shape = "inverse U" if q["c_high"] < 0 else ("U" if q["c_low"] > 0 else "no curvature shown")
    summary = (
        f"Spearman rho over {iv.n} runs ({len({r['variant'] for r in rows})} variants): {iv.text()} "
        f"({verdict}); quadratic fit acc = a + b d + c d^2: c = {q['c']:.3g} [{q['c_low']:.3g}, "
        f"{q['c_high']:.3g}] ({shape}), vertex d = {q['vertex']:.3g}, dying ratio range "
        f"[{min(dr):.3g}, {max(dr):.3g}]"
    )
    detectable = (
        f"a rank correlation beyond about +-{iv.half_width:.3g} (interval half-width, {iv.n} runs) is seen"
    )
    return RuleResult(verdict, summary, rule, constants, detectable, (effect,))


def _variant_cells(details: Mapping[str, Any], value: str) -> dict[tuple[str, float], dict[int, float]]:
    return _table(_rows(details), lambda r: (str(r["variant"]), float(r["density"])), value)


@register_rule("iep-hard-worst-case")
def iep_hard_worst_case(details: Mapping[str, Any]) -> RuleResult:
    """Hard iEP's dying ratio looks lower than EP's, but at the sparsest density it is worse than soft iEP.

    Iwasawa et al. (algorithms.md §3.2 [2nd]): hard iEP lowers the dying ratio, yet soft >= hard in
    accuracy; the worst case is the highest sparsity.

    Args:
        details: ``per_seed`` rows with ``variant`` (ep, soft, hard), ``density``, ``seed``, ``test_acc``,
            ``dying_ratio`` (sweep ``iep``).

    Returns:
        Two paired tests, both needed: EP minus hard dying ratio at every density above 0; soft minus
        hard accuracy at the lowest density above 0.
    """
    dying = _variant_cells(details, "dying_ratio")
    acc = _variant_cells(details, "test_acc")
    dens = sorted({d for (_, d) in acc})
    rule = (
        "paired seeds, 95% t-intervals: EP minus hard-iEP final dying ratio at every density above 0 "
        f"(below 0 or upper end < {DYING_DELTA} or half-width <= {DYING_DELTA} -> not lower), and soft minus "
        f"hard test accuracy at the lowest density above 0 (below 0 or upper end < {ACC_DELTA} or half-width "
        f"<= {ACC_DELTA} -> not worse); inconclusive only for a half-width above its r; both needed"
    )
    constants = {
        **_CONSTANTS_T,
        "dying_delta": f"{DYING_DELTA}: relevant dying-ratio difference (r; the source has no number)",
        "acc_delta": f"{ACC_DELTA}: one accuracy point (r; the source gives the order only)",
    }
    if not dens:
        return RuleResult("inconclusive", "no runs", rule, constants, "nothing")
    cells = {d: (dying.get(("ep", d), {}), dying.get(("hard", d), {})) for d in dens}
    v_dying, t_dying, ivs_d, effects = _superiority_cells(
        cells, DYING_DELTA, "EP minus hard iEP final dying ratio at density {cell}", REF_HARD_DYING, None
    )
    d0 = dens[0]
    diffs = _paired(acc.get(("soft", d0), {}), acc.get(("hard", d0), {}))
    if not diffs or not t_dying:
        return RuleResult("inconclusive", "no paired soft/hard/EP seeds", rule, constants, "nothing")
    iv = t_interval(diffs)
    v_acc = decide_effect(iv, ACC_DELTA)
    effects.append(
        interval_effect(
            f"soft minus hard iEP test accuracy at density {d0}", iv, v_acc, ACC_DELTA, REF_SOFT_HARD
        )
    )
    worst = {k: min(acc.get((k, d0), {}).values(), default=math.nan) for k in ("ep", "hard", "soft")}
    summary = (
        "EP minus hard dying ratio, " + _cell_text(t_dying, "density") + f"; soft minus hard accuracy at "
        f"density {d0}: {iv.text()} ({v_acc}); worst seed: EP {worst['ep']:.4f}, hard {worst['hard']:.4f}, "
        f"soft {worst['soft']:.4f}"
    )
    detectable = _detect([*ivs_d, iv], "(dying ratio; accuracy)")
    return RuleResult(combine([v_dying, v_acc]), summary, rule, constants, detectable, effects)


@register_rule("iterand-lowers-dying")
def iterand_lowers_dying(details: Mapping[str, Any]) -> RuleResult:
    """IteRand ends with a lower dying ratio than EP at the same density (Chijiwa et al.; Iwasawa et al.).

    Args:
        details: ``per_seed`` rows with ``variant`` (ep, iterand, ...), ``density``, ``seed``,
            ``dying_ratio`` (sweep ``iep``).

    Returns:
        Paired EP-minus-IteRand dying ratio per density, decided by :func:`decide_effect`.
    """
    t = _variant_cells(details, "dying_ratio")
    dens = sorted({d for (_, d) in t})
    cells = {d: (t.get(("ep", d), {}), t.get(("iterand", d), {})) for d in dens}
    verdict, table, ivs, effects = _superiority_cells(
        cells, DYING_DELTA, "EP minus IteRand final dying ratio at density {cell}", REF_ITERAND, None
    )
    rule = (
        "per density, EP minus IteRand final dying ratio over paired seeds: 95% t-interval above 0 -> "
        f"consistent, below 0 or upper end < {DYING_DELTA} -> inconsistent; {half_width_rule(DYING_DELTA)}; "
        "every density must be consistent"
    )
    constants = {**_CONSTANTS_T, "delta": f"{DYING_DELTA}: relevant dying-ratio difference (see ep-dying)"}
    if not table:
        return RuleResult("inconclusive", "no density has EP and IteRand runs", rule, constants, "nothing")
    summary = "EP minus IteRand final dying ratio, " + _cell_text(table, "density")
    return RuleResult(verdict, summary, rule, constants, _detect(ivs, "dying ratio"), effects)


_REWINDS = ("lr_rewind", "score_rewind", "score_reinit")


@register_rule("iep-rewind-variants.beat-ep")
def iep_rewind_beat_ep(details: Mapping[str, Any]) -> RuleResult:
    """Every hard-iEP rewinding variant except fine-tuning beats EP (Iwasawa et al., Table 3 [2nd]).

    Args:
        details: ``per_seed`` rows with ``variant`` (ep, finetune, lr_rewind, score_rewind,
            score_reinit), ``density``, ``seed``, ``test_acc`` (sweep ``iep-rewind``).

    Returns:
        Per rewinding variant, paired variant-minus-EP accuracy (superiority); for fine-tuning, the
        same difference must not show a gain (upper end below the reference's effect).
    """
    t = _variant_cells(details, "test_acc")
    dens = sorted({d for (_, d) in t})
    rule = (
        "per density, paired test-accuracy differences, 95% t-intervals: each of lr_rewind, score_rewind, "
        f"score_reinit minus EP above 0 (below 0 or upper end < {IEP_ACC_REF} -> inconsistent; "
        f"{half_width_rule(IEP_ACC_REF)}); finetune minus EP upper end < {IEP_ACC_REF} or half-width <= "
        f"{IEP_ACC_REF} without a lower end > 0 -> no gain (consistent), lower end > 0 -> inconsistent"
    )
    constants = {**_CONSTANTS_T, "delta": f"{IEP_ACC_REF}: the source's gain of iterative over one-shot EP"}
    cells = {(v, d): (t.get((v, d), {}), t.get(("ep", d), {})) for v in _REWINDS for d in dens}
    verdict, table, ivs, effects = _superiority_cells(
        cells, IEP_ACC_REF, "(variant, density) {cell} minus EP test accuracy", REF_REWIND, IEP_ACC_REF
    )
    ft_v = []
    for d in dens:
        diffs = _paired(t.get(("finetune", d), {}), t.get(("ep", d), {}))
        if not diffs:
            continue
        iv = t_interval(diffs)
        if iv.low > 0:
            v = "inconsistent"
        elif iv.high < IEP_ACC_REF or iv.half_width <= IEP_ACC_REF:
            v = "consistent"
        else:
            v = "inconclusive"
        ivs.append(iv)
        ft_v.append(v)
        effects.append(
            interval_effect(
                f"finetune minus EP test accuracy at density {d}", iv, v, IEP_ACC_REF, REF_FT, 0.0
            )
        )
        table[str(("finetune", d))] = {
            "diffs": diffs,
            "mean": iv.mean,
            "low": iv.low,
            "high": iv.high,
            "verdict": v,
        }
    if not table or not ft_v:
        return RuleResult("inconclusive", "no paired variant and EP runs", rule, constants, "nothing")
    summary = "variant minus EP test accuracy, " + _cell_text(table, "(variant, density)")
    return RuleResult(combine([verdict, *ft_v]), summary, rule, constants, _detect(ivs, "accuracy"), effects)


@register_rule("iep-rewind-variants.lr-best")
def iep_rewind_lr_best(details: Mapping[str, Any]) -> RuleResult:
    """Learning-rate-only rewinding is the best hard-iEP variant (Iwasawa et al.; Renda et al. 2020).

    Args:
        details: ``per_seed`` rows as for ``iep-rewind-variants.beat-ep``.

    Returns:
        Per other variant (finetune, score_rewind, score_reinit), paired lr_rewind-minus-variant
        accuracy, decided by :func:`decide_effect`; every comparison must be consistent.
    """
    t = _variant_cells(details, "test_acc")
    dens = sorted({d for (_, d) in t})
    others = ("finetune", "score_rewind", "score_reinit")
    cells = {(v, d): (t.get(("lr_rewind", d), {}), t.get((v, d), {})) for v in others for d in dens}
    verdict, table, ivs, effects = _superiority_cells(
        cells, ACC_DELTA, "lr_rewind minus (variant, density) {cell} test accuracy", REF_LR_BEST, None
    )
    rule = (
        "per density and other variant, lr_rewind minus it, test accuracy over paired seeds: 95% "
        f"t-interval above 0 -> consistent, below 0 or upper end < {ACC_DELTA} -> inconsistent; "
        f"{half_width_rule(ACC_DELTA)}; all needed"
    )
    constants = {
        **_CONSTANTS_T,
        "delta": f"{ACC_DELTA}: one accuracy point (the source gives the order only)",
    }
    if not table:
        return RuleResult("inconclusive", "no paired lr_rewind runs", rule, constants, "nothing")
    summary = "lr_rewind minus variant test accuracy, " + _cell_text(table, "(variant, density)")
    return RuleResult(verdict, summary, rule, constants, _detect(ivs, "accuracy"), effects)


@register_rule("rigl-second-order.extra-time")
def rigl_second_order_extra_time(details: Mapping[str, Any]) -> RuleResult:
    """Second-order RigL's mask update costs extra time over RigL's (the price of its HVPs).

    Args:
        details: ``per_seed`` rows with ``method``, ``sparsity``, ``seed``, ``update_cpu_s`` (CPU seconds
            per mask update, sweep ``rigl``).

    Returns:
        Per sparsity, the paired rigl2-minus-rigl seconds per update: interval above 0 -> extra time.
    """
    t = _table(_rows(details), lambda r: (str(r["method"]), round(float(r["sparsity"]), 6)), "update_cpu_s")
    sps = sorted({s for (_, s) in t})
    rule = (
        "per sparsity, rigl2 minus rigl CPU seconds per mask update over paired seeds: 95% t-interval "
        f"above 0 -> extra time (consistent), below 0 -> inconsistent; r = {TIME_FRACTION} x RigL's mean "
        "seconds per update: upper end < r or half-width <= r without a lower end > 0 -> inconsistent, "
        "inconclusive only for a half-width > r; every sparsity"
    )
    constants = {
        **_CONSTANTS_T,
        "time_fraction": f"{TIME_FRACTION}: r = this fraction of RigL's own seconds per update, the smallest "
        "extra time that matters (the source gives no seconds; its amortised overhead is < 5%, §5.2)",
    }
    table: dict[str, Any] = {}
    ivs, verdicts, effects, ratios = [], [], [], []
    for s in sps:
        a, b = t.get(("rigl2", s), {}), t.get(("rigl", s), {})
        diffs = _paired(a, b)
        if not diffs:
            continue
        common = sorted(set(a) & set(b))
        base = math.fsum(b[k] for k in common) / len(common)
        r = TIME_FRACTION * base
        iv = t_interval(diffs)
        v = decide_effect(iv, r)
        ivs.append(iv)
        verdicts.append(v)
        effects.append(
            interval_effect(
                f"rigl2 minus rigl CPU s per mask update at sparsity {s}", iv, v, r, REF_RIGL_TIME
            )
        )
        table[str(s)] = {"diffs": diffs, "mean": iv.mean, "low": iv.low, "high": iv.high, "verdict": v}
        ratios.append(
            f"{s}: x{math.fsum(a[k] for k in common) / max(math.fsum(b[k] for k in common), 1e-12):.2f}"
        )
    if not table:
        return RuleResult("inconclusive", "no paired rigl/rigl2 timings", rule, constants, "nothing")
    summary = (
        "extra CPU seconds per mask update (rigl2 - rigl), "
        + _cell_text(table, "sparsity")
        + "; ratio "
        + ", ".join(ratios)
    )
    return RuleResult(combine(verdicts), summary, rule, constants, _detect(ivs, "s"), effects)


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
        :func:`decide_effect`.
    """
    t, epss = _pgd_table(details)
    rule = (
        "per sparsity > 0, test accuracy at the largest minus at the smallest eps over paired seeds: 95% "
        f"t-interval above 0 -> rises, below 0 or upper end < {ACC_DELTA} -> inconsistent; "
        f"{half_width_rule(ACC_DELTA)}; every sparsity"
    )
    constants = {
        **_CONSTANTS_T,
        "delta": f"{ACC_DELTA}: one accuracy point (r; the source's numbers are not in the reference)",
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
    verdict, table, ivs, effects = _superiority_cells(
        cells, ACC_DELTA, f"test accuracy at eps={e1} minus eps={e0}, sparsity {{cell}}", REF_PGD_ACC, None
    )
    if not table:
        return RuleResult(
            "inconclusive",
            "no sparsity > 0 has paired seeds at both eps",
            rule,
            constants,
            "nothing: no paired seeds",
        )
    summary = f"test accuracy at eps={e1} minus eps={e0}, " + _cell_text(table, "sparsity")
    return RuleResult(verdict, summary, rule, constants, _detect(ivs, "accuracy"), effects)


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
        f"with best(eps min) in {list(ABOUT_HALF)}: bound above 1/2 -> holds, below -> fails; undecided "
        f"when the design could show P >= {AGREE_REF} (fewest agreeing seeds / n <= {AGREE_REF}) -> fails, "
        "else inconclusive; both needed"
    )
    constants = {
        "confidence": f"{CONFIDENCE} one-sided Clopper-Pearson bound (exact sign test, alpha = 0.05)",
        "agree_ref": f"{AGREE_REF}: the agreement that matters (the source shows the shift without spread)",
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
    can_see = k_min is not None and k_min / n <= AGREE_REF
    v_fall, v_half = (("inconsistent" if v == "inconclusive" and can_see else v) for v in (v_fall, v_half))
    n_decide = next((m for m in range(n, 1000) if (sign_test_min_agree(m) or m + 1) / m <= AGREE_REF), None)
    det = (k_min / n) if k_min is not None else math.inf
    effects = tuple(
        Effect(
            f"fraction of seeds with {what}",
            k / n,
            ci[0],
            ci[1],
            det,
            REF_PGD_BEST,
            None,
            None
            if v != "inconclusive"
            else f"{n_decide} paired seeds (a sign test that can show P >= {AGREE_REF})",
        )
        for what, k, ci, v in (
            (f"best sparsity at eps={e1} below that at eps={e0}", falls, ci_fall, v_fall),
            (f"best sparsity at eps={e0} in {list(ABOUT_HALF)}", half, ci_half, v_half),
        )
    )
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
    return RuleResult(combine([v_fall, v_half]), summary, rule, constants, detectable, effects)


# ------------------------------------------------------------------------------------------ examples
_JIT = (0.0, 0.006, -0.003)  # seed-to-seed scatter of the example numbers


def _example_rows() -> dict[str, list[dict[str, Any]]]:
    dying = [
        {"density": d, "seed": s, "dying_ratio": round((1 - d) * f + _JIT[(s + i) % 3] * (1 + i), 4)}
        for i, (d, f) in enumerate(((0.1, 0.8), (0.3, 0.7), (0.5, 0.55), (0.7, 0.4)))
        for s in range(3)
    ]
    testbed = []
    for data, model, dense in (("digits", "mlp", 0.978), ("mnist1d", "conv1d-wide", 0.93)):
        for s in range(3):
            testbed.append(
                {
                    "method": "dense",
                    "dataset": data,
                    "model": model,
                    "density": 1.0,
                    "seed": s,
                    "test_acc": dense + _JIT[s],
                }
            )
            testbed.append(
                {
                    "method": "ep",
                    "dataset": data,
                    "model": model,
                    "density": 0.5,
                    "seed": s,
                    "test_acc": dense - 0.02 + _JIT[(s + 1) % 3],
                }
            )
    hparams = [
        {
            "variant": f"v{v}",
            "seed": s,
            "dying_ratio": 0.3 + 0.05 * v + 0.01 * s,
            "test_acc": 0.95 - 0.03 * v - 0.004 * s + _JIT[(s + v) % 3],
        }
        for v in range(6)
        for s in range(3)
    ]
    iep = []
    for d in (0.05, 0.2):
        for s in range(3):
            base = 0.60 + 0.1 * d + 0.004 * s
            # early_*: the dying ratio at the end of soft iEP's first cycle (step 84), EP's at that step.
            iep.append(
                {
                    "variant": "ep",
                    "density": d,
                    "seed": s,
                    "test_acc": base,
                    "dying_ratio": 0.8 - d,
                    "early_step": 84,
                    "early_dying_ratio": 0.85 - d - 0.01 * s,
                }
            )
            iep.append(
                {
                    "variant": "soft",
                    "density": d,
                    "seed": s,
                    "test_acc": base + 0.03 + 0.002 * s,
                    "dying_ratio": 0.3 - d + 0.01 * s,
                    "early_step": 84,
                    "early_dying_ratio": 0.01 + 0.004 * s,
                }
            )
            iep.append(
                {
                    "variant": "hard",
                    "density": d,
                    "seed": s,
                    "test_acc": base + 0.012 + 0.003 * s,
                    "dying_ratio": 0.5 - d + 0.01 * s,
                    "early_step": 84,
                    "early_dying_ratio": 0.02 + 0.004 * s,
                }
            )
            iep.append(
                {
                    "variant": "iterand",
                    "density": d,
                    "seed": s,
                    "test_acc": base + 0.01,
                    "dying_ratio": 0.7 - d - 0.01 * s,
                }
            )
    rewind = []
    for s in range(3):
        for v, gain in (
            ("ep", 0.0),
            ("finetune", -0.01),
            ("lr_rewind", 0.06),
            ("score_rewind", 0.03),
            ("score_reinit", 0.02),
        ):
            rewind.append(
                {
                    "variant": v,
                    "density": 0.1,
                    "seed": s,
                    "test_acc": 0.8 + gain + _JIT[s] + 0.002 * s * (gain > 0),
                }
            )
    rigl = [
        {
            "method": m,
            "sparsity": sp,
            "seed": s,
            "test_acc": 0.7 - 0.1 * sp + _JIT[s] + j * (0.004 + 0.001 * s),
            "update_cpu_s": 0.002 + j * (0.01 + 0.001 * s),
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
    return {
        "dying": dying,
        "testbed": testbed,
        "hparams": hparams,
        "iep": iep,
        "rewind": rewind,
        "rigl": rigl,
        "pgd": pgd,
    }


_EX = _example_rows()
_EXAMPLE_DATA = {
    "testbed-ep-near-dense": "testbed",
    "ep-dying-ratio-grows": "dying",
    "ep-mask-turnover-small": "dying",
    "ep-dying-accuracy-correlation": "hparams",
    "iep-soft-beats-ep.accuracy": "iep",
    "iep-soft-beats-ep.dying-ratio": "iep",
    "iep-soft-beats-ep.early": "iep",
    "iep-hard-worst-case": "iep",
    "iterand-lowers-dying": "iep",
    "iep-rewind-variants.beat-ep": "rewind",
    "iep-rewind-variants.lr-best": "rewind",
    "rigl-second-order.accuracy": "rigl",
    "rigl-second-order.extra-time": "rigl",
    "pgd-ep-perturbation-helps.accuracy-rises": "pgd",
    "pgd-ep-perturbation-helps.best-sparsity-falls": "pgd",
}
EXAMPLES: list[tuple[str, str, dict]] = [(eid, eid, {"per_seed": _EX[k]}) for eid, k in _EXAMPLE_DATA.items()]
# The fresh-seed rule reads only the seeds the payload names as fresh (here all three of the example).
_FRESH = {"per_seed": _EX["iep"], "fresh_seeds": [0, 1, 2]}
EXAMPLES.append(("iep-hard-beats-ep", "iep-hard-beats-ep", _FRESH))
