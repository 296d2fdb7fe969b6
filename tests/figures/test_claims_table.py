"""The claims table (issue 12): rows from synthetic evidence, the report's section, the script."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import numpy as np

from figures.report import CLAIMS_TABLE_COLUMNS, claims_table_markdown, claims_table_rows, write_report
from theory import ledger
from theory.rules import RULES, apply_rule
from theory.rules import practice as rules_practice

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "claims_table.py"
_SPEC = importlib.util.spec_from_file_location("claims_table", _SCRIPT)
claims_table = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(claims_table)


def _undecided_worst_case() -> dict:
    """iep-hard-worst-case data whose soft-minus-hard accuracy is wide (4 seeds): an undecided effect."""
    rows = []
    for s, diff in enumerate((0.03, -0.02, 0.025, -0.015)):
        rows += [
            {"variant": "ep", "density": 0.05, "seed": s, "test_acc": 0.7, "dying_ratio": 0.9},
            {"variant": "hard", "density": 0.05, "seed": s, "test_acc": 0.8, "dying_ratio": 0.6},
            {"variant": "soft", "density": 0.05, "seed": s, "test_acc": 0.8 + diff, "dying_ratio": 0.5},
        ]
    return {"per_seed": rows}


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for eid, rule_id, details in rules_practice.EXAMPLES:
        if eid != "iep-hard-worst-case":
            ledger.write_evidence(root, eid, run=None, details=copy.deepcopy(details), rule_id=rule_id)
    ledger.write_evidence(
        root, "iep-hard-worst-case", run=None, details=_undecided_worst_case(), rule_id="iep-hard-worst-case"
    )
    # A record without a rule gives no row.
    ledger.write_evidence(root, "no-rule-here", run=None, details={"x": 1}, verdict="consistent", summary="s")
    return root


def test_rows_come_from_the_rules_applied_to_the_recorded_data(tmp_path):
    root = _root(tmp_path)
    rows = claims_table_rows(None, ledger.read_evidence(root))
    assert all(tuple(r) == CLAIMS_TABLE_COLUMNS for r in rows)
    expected = sum(
        len(apply_rule(rid, d).effects)
        for eid, rid, d in rules_practice.EXAMPLES
        if eid != "iep-hard-worst-case"
    ) + len(apply_rule("iep-hard-worst-case", _undecided_worst_case()).effects)
    assert len(rows) == expected
    assert not any(r["claim"].startswith("no-rule-here") for r in rows)
    # The undecided effect: measured mean computed here independently, verdict and the deciding scale.
    (acc,) = [r for r in rows if r["claim"].startswith("iep-hard-worst-case: soft minus hard")]
    diffs = np.array([0.03, -0.02, 0.025, -0.015])
    assert acc["measured effect [95% interval]"].startswith(f"{diffs.mean():.3g} [")
    assert acc["verdict"] == "inconclusive (this effect undecided)"
    assert int(acc["decides at"].split()[0]) > 4
    # Its other effects (the dying ratio) were decided, and a consistent claim's rows carry its verdict.
    assert any(
        r["claim"].startswith("iep-hard-worst-case: EP minus hard") and r["decides at"] == "-" for r in rows
    )
    soft = [r for r in rows if r["claim"].startswith("iep-soft-beats-ep.accuracy")]
    assert soft and all(r["verdict"] == "consistent" for r in soft)
    assert "[0.0133]" in soft[0]["reference's effect"]  # the reference's number, same unit


def test_a_rule_that_errors_is_listed_as_an_error(tmp_path, monkeypatch):
    root = _root(tmp_path)

    def broken(details):
        raise ValueError("bound evaluated to nan")

    monkeypatch.setitem(RULES, "iterand-lowers-dying", broken)
    rows = claims_table_rows(None, ledger.read_evidence(root))
    (row,) = [r for r in rows if r["claim"] == "iterand-lowers-dying"]
    assert row["verdict"].startswith("error: bound evaluated to nan")


def test_report_has_the_claims_table_section(tmp_path):
    rows = claims_table_rows(None, ledger.read_evidence(_root(tmp_path)))
    md, html = write_report(tmp_path / "out", figures=[], claims=[], claims_table=rows)
    text = md.read_text()
    assert "## Claims table: effects" in text and "this effect undecided" in text
    assert claims_table_markdown(rows).splitlines()[0] in text
    assert "Claims table: effects" in html.read_text()
    md2, _ = write_report(tmp_path / "out2", figures=[], claims=[])
    assert "Claims table" not in md2.read_text()


def test_script_prints_the_table_and_fails_without_effects(tmp_path, capsys):
    root = _root(tmp_path)
    assert claims_table.main([str(root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| claim | reference's effect |") and "iep-hard-worst-case: soft minus hard" in out
    assert claims_table.main([str(tmp_path / "empty")]) == 1


def _one_gain_one_loss() -> dict:
    """iep-rewind-variants.beat-ep data: LR rewinding clearly beats EP, score re-init clearly loses to it."""
    rows = []
    for s, jitter in enumerate((0.001, -0.002, 0.0015, -0.001, 0.002, 0.0, -0.0015, 0.001)):
        rows += [
            {"variant": "ep", "density": 0.1, "seed": s, "test_acc": 0.90 + jitter},
            {"variant": "finetune", "density": 0.1, "seed": s, "test_acc": 0.90 - jitter},
            {"variant": "lr_rewind", "density": 0.1, "seed": s, "test_acc": 0.93 + 2 * jitter},
            {"variant": "score_rewind", "density": 0.1, "seed": s, "test_acc": 0.93 - jitter},
            {"variant": "score_reinit", "density": 0.1, "seed": s, "test_acc": 0.85 + jitter},
        ]
    return {"per_seed": rows}


def test_an_effect_that_differs_from_its_parts_verdict_shows_both(tmp_path):
    root = tmp_path / "runs"
    eid = "iep-rewind-variants.beat-ep"
    ledger.write_evidence(root, eid, run=None, details=_one_gain_one_loss(), rule_id=eid)
    rows = {r["claim"]: r["verdict"] for r in claims_table_rows(None, ledger.read_evidence(root))}
    (gain,) = [v for c, v in rows.items() if "lr_rewind" in c]
    (loss,) = [v for c, v in rows.items() if "score_reinit" in c]
    assert gain == "inconsistent (this effect: consistent)"
    assert loss == "inconsistent"


def test_an_effect_verdict_must_be_a_verdict():
    import pytest

    from theory.rules import Effect

    with pytest.raises(ValueError, match="effect verdict"):
        Effect("q", 0.1, 0.0, 0.2, 0.05, "not reported", None, None, "maybe")
