"""A figure from a new experiment is three new files, found by the toolkit's own discovery.

The three files are written to package folders added to ``sim``, ``figures`` and ``theory.rules``'s
``__path__`` (as if dropped into the source tree); nothing else is edited or registered by hand:
``slth reproduce --only`` must find the experiment, the rule and its claim, and the figure itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from figures.cli import main

EXPERIMENT = '''
import dataclasses

from sim.experiments import Experiment, register_experiment
from theory.plumbing.records import read_csv


@dataclasses.dataclass(frozen=True)
class CoinConfig:
    flips: int = 2000
    seed: int = 0


def run(cfg, rundir, ctx):
    import numpy as np

    heads = int(np.random.default_rng(cfg.seed).integers(0, 2, cfg.flips).sum())
    rundir.write_csv("results.csv", [{"flips": cfg.flips, "heads": heads}])


def evidence(rundir):
    (row,) = read_csv(rundir.file("results.csv"))
    return {"three-coin-fair": ("three-coin-fair", {"flips": int(row["flips"]), "heads": int(row["heads"])})}


presets = {"quick": CoinConfig(flips=200), "full": CoinConfig()}
register_experiment(
    Experiment("three-coin", "flip a coin", CoinConfig, presets, run, evidence, ("three-coin-fair",))
)
'''

RULE_AND_CLAIM = '''
from theory import stats
from theory.ledger import Claim, NumericCheck
from theory.rules import RuleResult, register_rule


@register_rule("three-coin-fair")
def coin_fair(details):
    k, n = details["heads"], details["flips"]
    lo, hi = stats.clopper_pearson(k, n)
    return RuleResult(
        "consistent" if lo <= 0.5 <= hi else "inconsistent",
        f"{k}/{n} heads, 95% interval [{lo:.3f}, {hi:.3f}]",
        "consistent iff the Clopper-Pearson 95% interval of P(heads) contains 1/2",
        {"confidence": "0.95 (convention)"},
        f"a bias of about {(hi - lo) / 2:.3f} in P(heads)",
    )


CLAIMS = (
    Claim("three-coin-fair", "the coin is fair", "a toy", (NumericCheck("heads of slth run three-coin"),)),
)
'''

FIGURE = '''
from figures.records import load_sweep
from figures.registry import FigureResult, FigureSpec, register_figure


def build(runs_root):
    import matplotlib.pyplot as plt

    (row,) = load_sweep(runs_root, "three-coin").rows
    fig, ax = plt.subplots()
    ax.bar(["heads", "tails"], [row["heads"], row["flips"] - row["heads"]])
    return FigureResult(fig, [{"series": "heads", "x": 0, "y": row["heads"]}], [f"{row['heads']} heads"])


SPEC = FigureSpec("fig91_three", "A fair coin?", "heads", ("three-coin",), ("three-coin-fair",), build)
register_figure(SPEC)
'''


@pytest.fixture
def three_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import figures
    import sim
    import theory.rules
    from figures.registry import FIGURES, all_figures
    from sim.experiments import EXPERIMENTS, load_experiments
    from theory.ledger import CLAIMS
    from theory.ledger.claim import load_builtin_claims
    from theory.rules import RULES, load_rules

    # Everything built in is loaded first, so that restoring the registries afterwards loses nothing.
    load_experiments(), all_figures(), load_rules(), load_builtin_claims()
    tables = (EXPERIMENTS, FIGURES, CLAIMS, RULES)
    saved = [dict(t) for t in tables]
    folders = {"sim": (sim, "three_coin.py", EXPERIMENT), "figures": (figures, "fig91_three.py", FIGURE)}
    folders["rules"] = (theory.rules, "three_coin.py", RULE_AND_CLAIM)
    for key, (package, filename, text) in folders.items():
        folder = tmp_path / key
        folder.mkdir()
        (folder / filename).write_text(text)
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    yield [tmp_path / key / f for key, (_, f, _) in folders.items()]
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        table.update(before)
    for name in ("sim.three_coin", "figures.fig91_three", "theory.rules.three_coin"):
        sys.modules.pop(name, None)


def test_a_figure_from_a_new_experiment_is_three_new_files(three_files, tmp_path, capsys) -> None:
    assert len(three_files) == 3
    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = ["reproduce", "--only", "fig91", "--runs-root", str(runs), "--out", str(out), "--scale", "quick"]
    code = main([*argv, "--executor", "inprocess", "--max-examples", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "evidence three-coin-fair: consistent" in printed
    report = (out / "report.md").read_text()
    # The claim, declared only in the rule's file, was found and decided from the recorded evidence.
    assert "| three-coin-fair | consistent | verified | fig91_three |" in report
    assert (out / "fig91_three.png").exists()
