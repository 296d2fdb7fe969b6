"""Pre-registered rules for ``planted-ticket-missed`` (experiment ``planted-ticket``, Plant 'n' Seek).

Fischer & Burkholz ("Plant 'n' Seek: Can You Find the Winning Ticket?", ICLR 2022, arXiv 2111.11153;
reference theory.md §4.6) plant tickets of known extreme sparsity and report that pruning algorithms do
not find them. The experiment plants a certified construction (Pensia et al. 2020) of a trained target in
its random source network and runs EP, soft and hard iEP and IteRand on that network, paired over seeds,
at the planted density (factor 1) and around it. The rules decide at factor 1, where every layer keeps
exactly its planted count, so the planted mask is a point of each search space.

``details`` (written by ``sim.planted``): ``planted`` (``planted_correct``, ``test_total``, the planted
density and edge counts, the construction's certified bound and failed weights) and ``per_seed`` (one row
per run: ``arm``, ``factor``, ``seed``, ``test_correct``, ``test_total``, ``kept``, ``planted``, ``hits``,
``recall``, ``chance_recall``, ``planted_dying_ratio``, ``dying_ratio``, ``error``).

* ``.accuracy``: per arm, the per-seed gap ``planted accuracy - found accuracy`` (both on the same test
  examples); the claim "every arm falls short" is decided by :func:`theory.rules.practice.decide_effect`
  on each arm's Student-t interval against the relevant effect ``r = ACC_DELTA`` (the reference reports
  no effect size, so r is the smallest shortfall that matters): consistent when every arm's interval lies
  above 0 (an intersection-union test at level alpha); inconsistent when some arm's interval lies below
  0 or below ``r`` (it comes within one point of the planted ticket or beats it), or leaves 0 undecided
  with a half-width ``h <= r`` (the design could see a one-point shortfall and did not); inconclusive
  only when ``h > r`` (issue 12: the detectable effect is larger than the relevant one).
* ``.recovery``: per arm, the per-seed excess recall over chance (``recall - chance_recall``, chance = the
  expected recall of a uniformly random mask with the same per-layer counts); consistent when every arm's
  interval lies below ``RECALL_DELTA`` (no arm recovers a material share of the planted mask beyond
  chance), inconsistent when some arm's interval lies above it, inconclusive otherwise. This is not a
  superiority test, so it keeps its own two-sided comparison with the margin rather than
  :func:`~theory.rules.practice.decide_effect`: the claim is an upper bound (no more than chance), and an
  undecided interval is one that holds the margin itself. A half-width clause would turn a mean at the
  margin into a refutation whatever the half-width (small h there means the recovery is measured at
  about ``RECALL_DELTA``, which neither confirms nor refutes "below it"); the honest verdict is
  inconclusive, with the seeds at which the interval clears the margin (its effect's ``decides_at``).

Both rules first check that every arm learned at every density factor run (:func:`arms_learned`): an arm
whose runs sit at chance, or diverged, is a broken arm, and a verdict resting on it would say nothing
about the search method. Then the verdict is ``inconclusive`` with the reason, never consistent.

The planted accuracy is one number (one source network): the verdicts are about this planted ticket; a
full-scale run with several source seeds generalises them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from theory.rules import RuleResult, register_rule
from theory.rules.practice import (
    CONFIDENCE,
    Interval,
    combine,
    decide_effect,
    half_width_rule,
    interval_effect,
    t_interval,
)
from theory.stats import clopper_pearson

#: One point of test accuracy: the relevant shortfall. Plant 'n' Seek's abstract states no effect size
#: (reference theory.md §4.6), so this is a convention, the same point the practice rules use.
ACC_DELTA = 0.01
#: A tenth of the planted edges beyond chance: the smallest recovery called material. Convention; fixed
#: after one prototype run on the calibration seed (100), whose recall was within 0.003 of chance: any
#: value in [0.01, 0.5] gives the same verdict on it.
RECALL_DELTA = 0.10
#: The density factor the rules decide at (the planted density).
FACTOR = 1.0
#: An arm learned at a density factor when the lower end of its mean accuracy's interval closes at least
#: this share of the way from chance (1 / classes) to the planted ticket's accuracy. Convention: half way,
#: a floor far above chance (55% on digits) that a working search passes and a broken arm (the chance-level
#: iEP arms of the unscaled source, 10%) cannot.
LEARN_SHARE = 0.5
#: Reference effect line: §4.6 gives the finding qualitatively, no number.
REFERENCE = (
    "Fischer & Burkholz (ICLR 2022): pruning algorithms miss planted tickets; no effect size reported "
    "(theory.md §4.6, abstract only)"
)

_CONSTANTS = {
    "confidence": f"{CONFIDENCE} two-sided Student-t interval of the mean per-seed value (alpha = 0.05)",
    "factor": f"{FACTOR} (the planted density: every layer keeps exactly its planted count)",
    "LEARN_SHARE": f"{LEARN_SHARE} of the way from chance to the planted accuracy, every arm at every "
    "factor, and no run whose Clopper-Pearson interval holds chance (convention, see module)",
}


def _settings_constant(details: Mapping[str, Any]) -> dict[str, Any]:
    """The search settings the run used, with their origin; raises if tuned on a test seed."""
    st = details.get("settings")
    if st is None:
        return {}
    overlap = set(st["calibration_seeds"]) & set(st["test_seeds"])
    if overlap:
        raise ValueError(
            f"settings were tuned on test seeds {sorted(overlap)}: calibration seeds must be disjoint"
        )
    return {
        "settings": (
            f"epochs {st['epochs']}, batch {st['batch_size']}, momentum {st['momentum']}, weight decay "
            f"{st['weight_decay']}, iEP cycles {st['iep_cycles']}, fan-in logit scale "
            f"{st['fan_in_scale']}, lr per arm {st['lr_chosen']} from the grid {st['lr_grid']} (lowest "
            f"training loss on calibration seeds {st['calibration_seeds']}; epochs, grid and scale from "
            f"prototype runs on the same seeds, disjoint from the test seeds {st['test_seeds']})"
        )
    }


def arms_learned(details: Mapping[str, Any]) -> list[str]:
    """The broken (arm, factor) cells: each a one-line reason; empty when every arm learned everywhere.

    A cell is broken when one of its runs diverged, one run's test accuracy has a 95% Clopper-Pearson
    interval that holds chance (1 / classes), or the lower end of the t-interval of its mean accuracy lies
    below ``chance + LEARN_SHARE * (planted - chance)``.
    """
    planted = details["planted"]
    chance = 1.0 / int(planted["num_classes"])
    p_acc = planted["planted_correct"] / planted["test_total"]
    floor = chance + LEARN_SHARE * (p_acc - chance)
    cells: dict[tuple[str, float], list[Mapping[str, Any]]] = {}
    for row in details["per_seed"]:
        cells.setdefault((str(row["arm"]), float(row["factor"])), []).append(row)
    broken = []
    for (arm, f), rows in cells.items():
        failed = [r for r in rows if r.get("error")]
        ok = [r for r in rows if not r.get("error")]
        at_chance = [
            r["seed"] for r in ok if clopper_pearson(r["test_correct"], r["test_total"])[0] <= chance
        ]
        why = []
        if failed:
            why.append(f"{len(failed)} diverged")
        if at_chance:
            why.append(f"seeds {at_chance} at chance")
        if len(ok) >= 2:
            iv = t_interval([r["test_correct"] / r["test_total"] for r in ok])
            if iv.low < floor:
                why.append(f"accuracy {_pct(iv)}% below the floor {100 * floor:.1f}%")
        elif not failed:
            why.append("fewer than 2 runs")
        if why:
            broken.append(f"{arm} at {f:g}x: " + ", ".join(why))
    return broken


def _arms(details: Mapping[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Finished rows at the planted density by arm (arms in order of appearance), and the failed count."""
    arms: dict[str, list[dict[str, Any]]] = {}
    failed = 0
    for row in details["per_seed"]:
        if float(row["factor"]) != FACTOR:
            continue
        if row.get("error"):
            failed += 1
            continue
        arms.setdefault(str(row["arm"]), []).append(row)
    if not arms:
        raise ValueError(f"planted-ticket details hold no finished run at density factor {FACTOR}")
    return arms, failed


def _pct(iv: Interval) -> str:
    return f"{100 * iv.mean:.1f} [{100 * iv.low:.1f}, {100 * iv.high:.1f}]"


def _broken_result(rule: str, constants: dict[str, Any], broken: list[str], what: str) -> RuleResult:
    return RuleResult(
        "inconclusive",
        f"not decided: arms that did not learn ({what} would rest on broken arms): " + "; ".join(broken),
        rule,
        constants,
        "none: an arm at chance or below the learning floor decides nothing",
    )


@register_rule("planted-ticket-missed.accuracy")
def planted_accuracy(details: Mapping[str, Any]) -> RuleResult:
    """Every arm's accuracy at the planted density falls short of the planted ticket's (paired seeds)."""
    planted = details["planted"]
    p_acc = planted["planted_correct"] / planted["test_total"]
    rule = (
        "every arm learned at every factor; then per arm, t-interval of the per-seed gap planted - found "
        "accuracy at the planted density: consistent iff every interval > 0; inconsistent iff some interval "
        f"lies below 0 or its upper end < r = ACC_DELTA, or {half_width_rule(ACC_DELTA)}"
    )
    constants = {
        **_CONSTANTS,
        "ACC_DELTA": f"{ACC_DELTA} (r, one point; convention, the source states no effect size)",
        **_settings_constant(details),
    }
    broken = arms_learned(details)
    if broken:
        return _broken_result(rule, constants, broken, "an accuracy gap")
    arms, failed = _arms(details)
    verdicts, parts, widths, effects = [], [], [], []
    for arm, rows in arms.items():
        if any(r["test_total"] != planted["test_total"] for r in rows):
            raise ValueError(f"arm {arm!r}: runs were tested on a different test set than the planted ticket")
        iv = t_interval([p_acc - r["test_correct"] / r["test_total"] for r in rows])
        v = decide_effect(iv, ACC_DELTA)
        verdicts.append(v)
        widths.append(iv.half_width)
        parts.append(f"{arm} {_pct(iv)} (n={iv.n}, {v})")
        effects.append(
            interval_effect(
                f"planted ticket minus {arm} test accuracy at the planted density (fraction)",
                iv,
                v,
                ACC_DELTA,
                REFERENCE,
            )
        )
    verdict = combine(verdicts)
    return RuleResult(
        verdict,
        f"planted ticket {100 * p_acc:.1f}% (density {planted['planted_density']:.4f}); gap planted - found, "
        f"points: " + "; ".join(parts) + (f"; {failed} diverged runs left out" if failed else ""),
        rule,
        constants,
        f"a shortfall of about {100 * max(widths):.1f} points (largest interval half-width) in every arm",
        tuple(effects),
    )


@register_rule("planted-ticket-missed.recovery")
def planted_recovery(details: Mapping[str, Any]) -> RuleResult:
    """No arm recovers a material share of the planted mask beyond chance at the planted density."""
    rule = (
        "every arm learned at every factor; then per arm, t-interval of the per-seed recall - chance recall "
        "at the planted density: consistent iff every interval < RECALL_DELTA; inconsistent iff some "
        "interval > RECALL_DELTA; else inconclusive (a margin test, not a superiority test: no half-width "
        "clause, see module)"
    )
    constants = {
        **_CONSTANTS,
        "RECALL_DELTA": f"{RECALL_DELTA} of the planted edges beyond chance (convention, see module)",
        "chance": "recall of a uniformly random mask with the same per-layer counts (networks.planted)",
        **_settings_constant(details),
    }
    broken = arms_learned(details)
    if broken:
        return _broken_result(rule, constants, broken, "a recovery verdict")
    arms, failed = _arms(details)
    verdicts, parts, widths, effects = [], [], [], []
    for arm, rows in arms.items():
        iv = t_interval([r["recall"] - r["chance_recall"] for r in rows])
        if iv.high < RECALL_DELTA:
            v = "consistent"
        elif iv.low > RECALL_DELTA:
            v = "inconsistent"
        else:
            v = "inconclusive"
        verdicts.append(v)
        widths.append(iv.half_width)
        recall = sum(r["recall"] for r in rows) / len(rows)
        chance = sum(r["chance_recall"] for r in rows) / len(rows)
        dying = [r["planted_dying_ratio"] for r in rows if r.get("planted_dying_ratio") is not None]
        dying_text = f", planted dying ratio {sum(dying) / len(dying):.3f}" if dying else ""
        parts.append(
            f"{arm} recall {recall:.4f} vs chance {chance:.4f}, excess {iv.text()}{dying_text} "
            f"(n={iv.n}, {v})"
        )
        effects.append(
            interval_effect(
                f"{arm} recall of the planted edges minus a random mask's at the planted density",
                iv,
                v,
                abs(RECALL_DELTA - iv.mean),
                REFERENCE,
            )
        )
    verdict = combine(verdicts)
    return RuleResult(
        verdict,
        "; ".join(parts) + (f"; {failed} diverged runs left out" if failed else ""),
        rule,
        constants,
        f"an excess recall of about {max(widths):.3g} (largest interval half-width) around RECALL_DELTA",
        tuple(effects),
    )


def _example() -> dict[str, Any]:
    """A realistic payload: 4 arms x 3 seeds at the planted density, EP-like shortfalls, chance recall."""
    rows = []
    acc = {
        "ep": (300, 310, 295),
        "iep-soft": (305, 290, 312),
        "iep-hard": (280, 300, 290),
        "iterand": (301, 309, 296),
    }
    for arm, corrects in acc.items():
        for seed, c in enumerate(corrects):
            rows.append(
                {
                    "arm": arm,
                    "factor": 1.0,
                    "seed": seed,
                    "lr": 0.003,
                    "test_correct": c,
                    "test_total": 360,
                    "kept": 6349,
                    "planted": 6349,
                    "hits": 240 + seed,
                    "recall": (240 + seed) / 6349,
                    "precision": (240 + seed) / 6349,
                    "chance_recall": 0.0357,
                    "planted_dying_ratio": 0.95,
                    "dying_ratio": 0.975,
                    "planted_intact": 1.0,
                    "error": "",
                }
            )
    planted = {
        "planted_correct": 350,
        "target_correct": 350,
        "test_total": 360,
        "planted_density": 0.0196,
        "planted_edges": 6349,
        "source_weights": 324408,
        "certified_bound": 0.657,
        "num_failed_weights": 2,
        "num_classes": 10,
    }
    settings = {
        "epochs": 12,
        "batch_size": 128,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "iep_cycles": 3,
        "fan_in_scale": True,
        "lr_grid": [0.01, 0.03],
        "lr_chosen": {"ep": 0.03, "iep-soft": 0.01, "iep-hard": 0.01, "iterand": 0.03},
        "calibration_seeds": [100, 101],
        "test_seeds": [0, 1, 2],
    }
    return {"planted": planted, "settings": settings, "per_seed": rows}


EXAMPLES: list[tuple[str, str, dict]] = [
    ("planted-ticket-missed.accuracy", "planted-ticket-missed.accuracy", _example()),
    ("planted-ticket-missed.recovery", "planted-ticket-missed.recovery", _example()),
]
