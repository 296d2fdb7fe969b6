"""Integer random SubsetSum and exact quantized tickets (``slth run quantized-tickets``).

Sources: Kumar & Natale, arXiv 2508.11020 (reference §11) and Borgs, Chayes, Pittel 2001 (§11.5). One
experiment writes ``runs/quantized-tickets/<hash>/``:

* ``transition.csv``: per ``log2 M`` and ``n``, the success rate with its Clopper-Pearson interval of
  (a) every integer of ``[-M, M]`` a subset sum and (b) one uniform random integer target of ``[-M, M]``
  hit, for ``X_i`` uniform on ``{-M..-1, 1..M}`` (:mod:`theory.subset_sum.integer`: the exact engine,
  each answer re-checked in integers). Each trial draws one sequence of ``log2 M + extra_n`` integers and
  records the first prefix that succeeds (nested prefixes, so the rate is monotone in ``n``).
* ``widths.csv``: exact quantized tickets (:mod:`networks.construct.quantized`) of random
  ``delta_t = delta^2`` targets: per ``delta`` the needed width per weight (calibration seeds, and test
  seeds disjoint from them) and the failure rate at the calibrated width ``ceil(C log2(1/delta))``.
* ``tickets.csv``: one fully solved ticket per random test target and for the digits MLP (biases folded
  exactly into a constant unit, weights rounded to ``S_{delta_t}``): width, source and kept parameters,
  Theorem 3's counting bound, the exact checks, and for digits the accuracies of the float target and of
  the ticket (which equals the quantized target exactly).
* ``evidence.json``: the raw data of ``integer-rssp-transition.{all,one}`` and
  ``quantized-ticket-exact.{exact,width}`` (rules in :mod:`theory.rules.quantized`).

Every draw comes from ``SeedSequence([seed, tag, index])``: results do not depend on the executor.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from networks.construct import quantized as qt
from sim.cells import keyed_rng
from sim.experiments import Context, Experiment, register_experiment
from sim.sweeps.common import check_seeds
from theory import bounds
from theory.plumbing.configs import help_field
from theory.plumbing.rundir import RunDir
from theory.rules.quantized import width_constant
from theory.stats import clopper_pearson
from theory.subset_sum import integer

__all__ = ["QuantizedConfig", "quantized_evidence", "run_quantized"]

EVIDENCE_FILE = "evidence.json"
#: Units per input neuron scanned for the needed width (a limit of the design, reported when reached).
MAX_WIDTH = 240


@dataclasses.dataclass(frozen=True)
class QuantizedConfig:
    """Integer RSSP phase transition and exact quantized tickets (Kumar & Natale 2025)."""

    log2_ms: tuple[int, ...] = help_field(tuple(range(4, 13)), "values of log2 M of the transition grid")
    trials: int = help_field(400, "trials per M (each trial decides both kinds)")
    extra_n: int = help_field(16, "each trial draws log2 M + extra_n integers")
    seed: int = help_field(1, "test seed of the transition and of the tickets")
    target_widths: tuple[int, ...] = help_field((6, 6, 6), "widths d_0..d_L of the random targets")
    cal_levels: tuple[int, ...] = help_field((2, 3), "k of delta = 2^-k on the calibration seeds")
    test_levels: tuple[int, ...] = help_field((2, 3, 4, 5), "k of delta = 2^-k on the test seeds")
    cal_targets: int = help_field(6, "random targets per calibration delta")
    test_targets: int = help_field(6, "random targets per test delta")
    calibration_seed: int = help_field(0, "calibration seed of the width constant C (not the test seed)")
    probes: int = help_field(64, "random grid inputs per ticket for the exact forward check")
    digits: bool = help_field(True, "also build the exact ticket of the quantized digits MLP")
    digits_level: int = help_field(3, "k of the digits ticket's delta = 2^-k (delta_t = delta^2)")


PRESETS = {
    "quick": QuantizedConfig(
        log2_ms=(4, 6, 8),
        trials=60,
        target_widths=(3, 3, 3),
        test_levels=(2, 3),
        cal_targets=3,
        test_targets=2,
        digits=False,
    ),
    "default": QuantizedConfig(),
    "full": QuantizedConfig(
        log2_ms=tuple(range(4, 17)),
        trials=1000,
        extra_n=14,
        test_levels=(2, 3, 4, 5, 6),
        cal_targets=20,
        test_targets=20,
    ),
}


# --------------------------------------------------------------------------------------------------
# Integer RSSP transition
# --------------------------------------------------------------------------------------------------
def _transition_cell(item: tuple) -> dict:
    seed, index, log2_m, trials, extra_n = item
    rng = keyed_rng(seed, 1, index)
    m_val = 2**log2_m
    n_max = log2_m + extra_n
    x = integer.draw_nonzero(rng, m_val, (trials, n_max))
    targets = rng.integers(-m_val, m_val + 1, size=trials)
    out = {"log2_m": log2_m, "trials": trials, "n_max": n_max}
    for kind, needed in (("all", integer.first_cover_all(x, m_val)), ("one", integer.first_hit(x, targets))):
        vals, counts = np.unique(needed, return_counts=True)
        out[kind] = [[int(v), int(c)] for v, c in zip(vals, counts, strict=True)]
    return out


def _transition(cfg: QuantizedConfig, ctx: Context) -> dict:
    items = [(cfg.seed, i, m, cfg.trials, cfg.extra_n) for i, m in enumerate(cfg.log2_ms)]
    cells = ctx.executor.map(_transition_cell, items)
    return {
        kind: {
            "kind": kind,
            "confidence": 0.95,
            "seed": cfg.seed,
            "rows": [
                {k: c[k] for k in ("log2_m", "trials", "n_max")} | {"needed_counts": c[kind]} for c in cells
            ],
        }
        for kind in ("all", "one")
    }


# --------------------------------------------------------------------------------------------------
# Quantized tickets
# --------------------------------------------------------------------------------------------------
def _width_cell(item: tuple) -> dict:
    """Needed width per weight of one random target (and, on test seeds, one solved ticket)."""
    seed, tag, index, level, widths, probes, build = item
    delta, delta_t = 2.0**-level, 2.0 ** -(2 * level)
    rng = keyed_rng(seed, tag, index)
    target = qt.random_quantized_target(list(widths), delta_t, rng)
    src_seed = [seed, tag, index, 1]
    need = np.concatenate(
        [
            n.ravel()
            for n in qt.needed_widths(
                target, delta_t=delta_t, delta=delta, max_width=MAX_WIDTH, seed=src_seed
            )
        ]
    )
    row = {"level": level, "delta": delta, "needed": [int(v) for v in need]}
    if build:
        width = int(need.max())
        case = f"random-{'-'.join(map(str, widths))}-k{level}-s{index}"
        row["ticket"] = _ticket_row(case, target, delta, delta_t, width, src_seed, rng, probes, 2**level)
    return row


def _ticket_row(case, target, delta, delta_t, width, src_seed, rng, probes, grid) -> dict:
    """Build the ticket at ``width`` (when within the scan) and record the exact checks."""
    row = {
        "case": case,
        "delta": delta,
        "delta_t": delta_t,
        "d_max": int(max(max(w.shape) for w in target)),
        "width": width,
    }
    if width > MAX_WIDTH:
        return row | {
            "all_solved": False,
            "maps_equal": False,
            "forward_equal": False,
            "max_diff": 0,
            "source_params": 0,
            "kept_params": 0,
            "limit": f"needed width beyond {MAX_WIDTH}",
        }
    ticket = qt.construct_quantized_ticket(target, delta_t=delta_t, delta=delta, width=width, seed=src_seed)
    x = rng.integers(-grid, grid + 1, size=(probes, target[0].shape[1]))
    check = (
        qt.verify_exact(ticket, target, x)
        if ticket.ok
        else {"maps_equal": False, "forward_equal": False, "max_diff": 0}
    )
    return (
        row
        | check
        | {
            "all_solved": ticket.ok,
            "source_params": ticket.source_params,
            "kept_params": ticket.kept_params,
            "limit": None,
        }
    )


def _widths(cfg: QuantizedConfig, ctx: Context) -> tuple[dict, dict, list[dict]]:
    cal_items = [
        (cfg.calibration_seed, 2, len(cfg.cal_levels) * 1000 + i * 100 + t, k, cfg.target_widths, 0, False)
        for i, k in enumerate(cfg.cal_levels)
        for t in range(cfg.cal_targets)
    ]
    cal_rows = ctx.executor.map(_width_cell, cal_items)
    calibration = {
        "seeds": f"SeedSequence([{cfg.calibration_seed}, 2, ...])",
        "rows": [
            {"delta": 2.0**-k, "needed": [v for r in cal_rows if r["level"] == k for v in r["needed"]]}
            for k in cfg.cal_levels
        ],
    }
    c_cal = width_constant(calibration)
    test_items = [
        (cfg.seed, 3, i * 100 + t, k, cfg.target_widths, cfg.probes, True)
        for i, k in enumerate(cfg.test_levels)
        for t in range(cfg.test_targets)
    ]
    test_rows = ctx.executor.map(_width_cell, test_items)
    rows = []
    for k in cfg.test_levels:
        delta = 2.0**-k
        width = math.ceil(bounds.quantized_block_width(delta, C=c_cal))
        need = [v for r in test_rows if r["level"] == k for v in r["needed"]]
        rows.append(
            {"delta": delta, "width": width, "weights": len(need), "failures": sum(v > width for v in need)}
        )
    width_ev = {"confidence": 0.95, "calibration": calibration, "rows": rows}
    per_delta = [
        {"set": name, "level": r["level"], "delta": r["delta"], "needed": r["needed"]}
        for name, rs in (("calibration", cal_rows), ("test", test_rows))
        for r in rs
    ]
    tickets = [r["ticket"] for r in test_rows]
    return width_ev, {"C": c_cal, "per_target": per_delta}, tickets


def _digits_ticket(cfg: QuantizedConfig) -> dict:
    """The digits MLP, biases folded, quantized to ``delta_t = delta^2``, as an exact ticket."""
    import torch

    from networks.construct.targets import train_preset

    model, data = train_preset("digits-mlp", seed=0)
    lin = [m for m in model if isinstance(m, torch.nn.Linear)]
    level = cfg.digits_level
    delta, delta_t = 2.0**-level, 2.0 ** -(2 * level)
    kt = 2 * level
    ws = [qt.quantize(m.weight.detach().double().numpy(), delta_t) for m in lin]
    bs = [qt.quantize(m.bias.detach().double().numpy(), delta_t) for m in lin]
    target = qt.fold_biases(ws, bs, 2**kt)
    src_seed = [cfg.seed, 4, 0]
    need = qt.needed_widths(target, delta_t=delta_t, delta=delta, max_width=MAX_WIDTH, seed=src_seed)
    width = int(max(int(n.max()) for n in need))
    # digits pixels are in {0, 1/16, ..., 1}: integers of the 1/16 grid, and the constant input 1 = 16/16.
    x_test = np.rint(data.x_test.reshape(len(data.x_test), -1).numpy() * 16).astype(np.int64)
    if not np.allclose(x_test / 16.0, data.x_test.reshape(len(data.x_test), -1).numpy()):
        raise RuntimeError("digits inputs are not on the 1/16 grid")
    x_aug = np.concatenate([x_test, np.full((len(x_test), 1), 16)], axis=1)
    row = _ticket_row("digits-mlp", target, delta, delta_t, width, src_seed, keyed_rng(cfg.seed, 5), 1, 16)
    y = data.y_test.numpy()
    with torch.no_grad():
        float_acc = float((model(data.x_test).argmax(1).numpy() == y).mean())
    quant_logits = qt.target_forward(target, x_aug).astype(np.float64)
    row |= {"float_accuracy": float_acc, "quantized_accuracy": float((quant_logits.argmax(1) == y).mean())}
    if row.get("all_solved"):
        ticket = qt.construct_quantized_ticket(
            target, delta_t=delta_t, delta=delta, width=width, seed=src_seed
        )
        check = qt.verify_exact(ticket, target, x_aug)  # every test image, exactly
        logits = qt.exact_forward(ticket, x_aug).astype(np.float64)
        row |= check | {"ticket_accuracy": float((logits.argmax(1) == y).mean()), "inputs": len(x_aug)}
    return row


def run_quantized(cfg: QuantizedConfig, rundir: RunDir, ctx: Context) -> dict:
    """Run the transition and the ticket studies and record their raw data (resumes per part)."""
    check_seeds(cfg.seed, cfg.calibration_seed)
    ev = rundir.read_json(EVIDENCE_FILE) if rundir.exists(EVIDENCE_FILE) else {}
    if "integer-rssp-transition.all" not in ev:
        tr = _transition(cfg, ctx)
        ev["integer-rssp-transition.all"], ev["integer-rssp-transition.one"] = tr["all"], tr["one"]
        rundir.write_json(EVIDENCE_FILE, ev)
    if "quantized-ticket-exact.width" not in ev:
        width_ev, per_target, tickets = _widths(cfg, ctx)
        if cfg.digits:
            tickets.append(_digits_ticket(cfg))
        ev["quantized-ticket-exact.width"] = width_ev
        ev["quantized-ticket-exact.exact"] = {"cases": tickets}
        rundir.write_json("widths.json", per_target)
        rundir.write_json(EVIDENCE_FILE, ev)
    write_tables(rundir, ev)
    return ev


def write_tables(rundir: RunDir, ev: dict) -> None:
    """``transition.csv``, ``widths.csv`` and ``tickets.csv`` from the evidence and ``widths.json``."""
    rows = []
    for kind in ("all", "one"):
        for r in ev[f"integer-rssp-transition.{kind}"]["rows"]:
            hist = dict((int(n), int(c)) for n, c in r["needed_counts"])
            done = 0
            for n in range(1, int(r["n_max"]) + 1):
                done += hist.get(n, 0)
                lo, hi = clopper_pearson(done, int(r["trials"]))
                rows.append(
                    {
                        "kind": kind,
                        "log2_m": r["log2_m"],
                        "n": n,
                        "successes": done,
                        "trials": r["trials"],
                        "p": done / int(r["trials"]),
                        "ci_low": lo,
                        "ci_high": hi,
                        "bcp_n": bounds.bcp_window_n(float(r["log2_m"])),
                        "necessary_n": bounds.integer_rssp_necessary_n(2 ** int(r["log2_m"])),
                    }
                )
    rundir.write_csv("transition.csv", rows, fieldnames=list(rows[0]))
    per = rundir.read_json("widths.json")
    wrows = []
    for r in per["per_target"]:
        need = np.asarray(r["needed"])
        wrows.append(
            {
                "set": r["set"],
                "level": r["level"],
                "log2_inv_delta": r["level"],
                "median": float(np.median(need)),
                "q95": float(np.quantile(need, 0.95)),
                "max": int(need.max()),
                "weights": int(need.size),
                "C": per["C"],
                "counting_width": bounds.quantized_counting_min_params(1, 2.0 ** -(2 * r["level"])) / 2,
            }
        )
    rundir.write_csv("widths.csv", wrows, fieldnames=list(wrows[0]))
    cases = ev["quantized-ticket-exact.exact"]["cases"]
    keys = sorted({k for c in cases for k in c})
    rundir.write_csv("tickets.csv", [{k: c.get(k) for k in keys} for c in cases], fieldnames=keys)


def quantized_evidence(rundir: RunDir) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{evidence_id: (rule_id, details)}`` for the four evidence ids of this experiment."""
    if not rundir.exists(EVIDENCE_FILE):
        return {}
    rules = {
        "integer-rssp-transition.all": "integer-rssp-transition",
        "integer-rssp-transition.one": "integer-rssp-transition",
        "quantized-ticket-exact.exact": "quantized-ticket-exact",
        "quantized-ticket-exact.width": "quantized-ticket-width",
    }
    ev = rundir.read_json(EVIDENCE_FILE)
    return {eid: (rules[eid], d) for eid, d in ev.items() if eid in rules}


register_experiment(
    Experiment(
        "quantized-tickets",
        "integer random SubsetSum transition and exact quantized tickets (Kumar & Natale 2025)",
        QuantizedConfig,
        PRESETS,
        run_quantized,
        quantized_evidence,
        (
            "integer-rssp-transition.all",
            "integer-rssp-transition.one",
            "quantized-ticket-exact.exact",
            "quantized-ticket-exact.width",
        ),
    )
)
