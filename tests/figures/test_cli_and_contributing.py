"""The CLI's contract (help renders everywhere, errors are one line with exit 2) and the contributor path.

The contributor path is the README's worked example: one new experiment, one new figure and one new claim
(with its rule) are all a new figure from new data needs. Here the three live in one temporary module;
``slth reproduce --only`` then runs the experiment, decides the claim and draws the figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

from figures.cli import build_parser, main


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every subcommand path of the parser tree (``("run", "pssp-min-n")``, ...)."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((*prefix, name))
                out.extend(_command_paths(sub, (*prefix, name)))
    return out


PATHS = _command_paths(build_parser())


def test_the_tree_holds_every_experiment_once_and_no_old_alias() -> None:
    from sim.experiments import load_experiments

    assert {p[1] for p in PATHS if p[0] == "run" and len(p) == 2} == set(load_experiments())
    gone = [("sim", "sweep"), ("sim", "practice"), ("sim", "construct-width"), ("sim", "taylor")]
    gone += [("theory", "verify"), ("networks",), ("networks", "train"), ("networks", "construct")]
    for path in gone:  # the old aliases: every command exists under one name
        assert path not in PATHS


@pytest.mark.parametrize("path", [(), *PATHS], ids=lambda p: " ".join(p) or "slth")
def test_help_renders(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "-h"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    # "%%": an escaped percent sign that argparse never unescaped (descriptions are not %-formatted).
    assert text.startswith("usage: slth") and "Traceback" not in text
    assert "%(" not in text and "%%" not in text


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        code = main(argv)
    except SystemExit as exit_info:  # argparse's own errors leave through parser.exit
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_errors_are_one_line_with_exit_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = ["--runs-root", str(tmp_path)]
    assert "target file not found: missing.pt" in _one_line_error(
        ["construct", "--target", "missing.pt", *root], capsys
    )
    assert "invalid choice: 'nope'" in _one_line_error(["run", "nope"], capsys)
    assert "--trials" in _one_line_error(["run", "rss-success", "--trials", "many", *root], capsys)
    assert "trials" in _one_line_error(
        ["run", "rss-per-target", "--trials", "0", "--executor", "inprocess", *root], capsys
    )
    assert "valid figures" in _one_line_error(["reproduce", "--only", "fig99_none", *root], capsys)
    assert "unrecognized arguments" in _one_line_error(["verify", "--bogus"], capsys)


TOY = '''
"""A toy contribution: experiment ``toy-coin``, claim ``toy-fair-coin`` (with its rule), figure fig90_toy."""

import dataclasses

from figures.registry import FigureResult, FigureSpec, register_figure
from sim.experiments import Experiment, register_experiment
from theory import stats
from theory.ledger import Claim, NumericCheck, register_claim
from theory.rules import RuleResult, register_rule


# 1. The experiment: a config, presets, a run that writes records, and the evidence it bears.
@dataclasses.dataclass(frozen=True)
class CoinConfig:
    flips: int = 2000
    seed: int = 0


def run(cfg, rundir, ctx):
    import numpy as np

    heads = int(np.random.default_rng(cfg.seed).integers(0, 2, cfg.flips).sum())
    rundir.write_csv("results.csv", [{"flips": cfg.flips, "heads": heads}])


def evidence(rundir):
    from theory.plumbing.records import read_csv

    (row,) = read_csv(rundir.file("results.csv"))
    return {"toy-fair-coin": ("toy-fair-coin", {"flips": int(row["flips"]), "heads": int(row["heads"])})}


register_experiment(
    Experiment(
        "toy-coin", "flip a fair coin", CoinConfig,
        {"quick": CoinConfig(flips=200), "full": CoinConfig()}, run, evidence, ("toy-fair-coin",),
    )
)


# 2. The claim and its rule, stated before the data.
@register_rule("toy-fair-coin")
def fair_coin(details):
    k, n = details["heads"], details["flips"]
    lo, hi = stats.clopper_pearson(k, n)
    return RuleResult(
        "consistent" if lo <= 0.5 <= hi else "inconsistent",
        f"{k}/{n} heads, 95% interval [{lo:.3f}, {hi:.3f}]",
        "consistent iff the Clopper-Pearson 95% interval of P(heads) contains 1/2",
        {"confidence": "0.95 (convention)"},
        f"a bias of about {(hi - lo) / 2:.3f} in P(heads)",
    )


register_claim(
    Claim("toy-fair-coin", "the coin is fair", "a toy", (NumericCheck("heads of slth run toy-coin"),))
)


# 3. The figure: it reads the experiment's records.
def build(runs_root):
    import matplotlib.pyplot as plt

    from figures.records import load_sweep

    (row,) = load_sweep(runs_root, "toy-coin").rows
    fig, ax = plt.subplots()
    ax.bar(["heads", "tails"], [row["heads"], row["flips"] - row["heads"]])
    return FigureResult(fig, [{"series": "heads", "x": 0, "y": row["heads"]}], [f"{row['heads']} heads"])


register_figure(
    FigureSpec("fig90_toy", "A fair coin", "heads and tails", ("toy-coin",), ("toy-fair-coin",), build)
)
'''


@pytest.fixture
def restored_registries():
    """Undo whatever a test registers (experiments, figures, claims, rules)."""
    from figures.registry import FIGURES, all_figures
    from sim.experiments import EXPERIMENTS, load_experiments
    from theory.ledger import CLAIMS
    from theory.ledger.claim import load_builtin_claims
    from theory.rules import RULES, load_rules

    # Load everything built in first: a module first imported during the test registers entries that the
    # restore below would drop while the module stays imported (later tests would miss its rules).
    load_experiments(), all_figures(), load_rules(), load_builtin_claims()
    tables = (EXPERIMENTS, FIGURES, CLAIMS, RULES)
    before = [dict(t) for t in tables]
    yield
    for table, saved in zip(tables, before, strict=True):
        table.clear()
        table.update(saved)


def test_a_new_figure_from_a_new_experiment_is_three_registrations(
    tmp_path: Path, restored_registries, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "toy_contribution.py"
    path.write_text(TOY)
    spec = importlib.util.spec_from_file_location("toy_contribution", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_contribution"] = module
    try:
        spec.loader.exec_module(module)
        runs, out = tmp_path / "runs", tmp_path / "out"
        argv = ["reproduce", "--only", "fig90", "--runs-root", str(runs), "--out", str(out)]
        code = main([*argv, "--executor", "inprocess", "--max-examples", "1"])
    finally:
        del sys.modules["toy_contribution"]
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "evidence toy-fair-coin: consistent" in printed
    (results,) = runs.glob("toy-coin/*/results.csv")  # the quick preset ran: 200 flips
    assert "200," in results.read_text()
    report = (out / "report.md").read_text()
    assert "fig90_toy" in report and "toy-fair-coin" in report
    assert (out / "fig90_toy.png").exists()
