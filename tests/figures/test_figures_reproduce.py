"""The report lists every figure and claim with the right verdicts; ``slth reproduce`` orchestration."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import figures.reproduce as rp
from figures.cli import main
from figures.registry import all_figures
from figures.report import FigureEntry, claim_entries, write_report
from figures.synthetic import write_synthetic_runs
from theory.ledger import CheckResult, Claim, NumericCheck, SymbolicCheck

_KINDS = {"symbolic": "symbolic", "property": "property", "numeric": "numeric"}


def FakeResult(claim: str, check: str, status: str, evidence: str, part: str | None = None) -> CheckResult:
    """A ledger row as ``theory.ledger.verify`` returns it (kind taken from the check name)."""
    kind = _KINDS.get(check.split()[0], "property")
    evidence_id = (f"{claim}.{part}" if part else claim) if kind == "numeric" else None
    return CheckResult(
        claim, f"source of {claim}", check, status, evidence, kind=kind, part=part, evidence_id=evidence_id
    )


def _claim(cid: str, *checks, parts: tuple[str, ...] = ()) -> Claim:
    return Claim(
        cid, f"statement of {cid}", f"source of {cid}", checks or (NumericCheck("measured"),), parts=parts
    )


def test_verdict_precedence() -> None:
    claims = {c: _claim(c) for c in ("a", "b", "c", "d", "e")}
    results = [
        FakeResult("a", "symbolic", "failed", "x=1 breaks it"),
        # The ledger re-applied b's rule: its evidence is inconclusive.
        FakeResult("b", "numeric", "inconclusive", "inconclusive: CIs overlap [run]"),
        FakeResult("c", "property", "verified", "held on 100 examples"),
        FakeResult("d", "numeric", "pending", "no evidence yet"),
        FakeResult("e", "property", "error", "ZeroDivisionError"),
    ]
    evidence = {
        # A failed ledger check wins over evidence that says otherwise.
        "a": {"claim": "a", "verdict": "consistent", "summary": "looked fine", "details": {}},
        "b": {
            "claim": "b",
            "verdict": "inconclusive",
            "summary": "CIs overlap",
            "details": {"gap": 0.0123456},
        },
    }
    figs = [FigureEntry("figX", "t", "c", claims=("b", "d"))]
    rows = {r.claim: r for r in claim_entries(claims, results, evidence, figs)}
    assert rows["a"].verdict == "inconsistent" and "x=1 breaks it" in rows["a"].reason
    assert rows["b"].verdict == "inconclusive" and "CIs overlap" in rows["b"].reason
    assert rows["b"].numbers == "gap=0.01235" and rows["b"].figures == ("figX",)
    assert rows["c"].verdict == "consistent"
    assert rows["d"].verdict == "inconclusive" and "no evidence" in rows["d"].reason
    assert rows["e"].verdict == "inconclusive" and "error" in rows["e"].reason
    # A claim only a figure mentions is still listed.
    assert set(figs[0].claims) <= set(rows)


def test_verdicts_need_every_part_and_more_than_algebra() -> None:
    two = (NumericCheck("first half", part="one"), NumericCheck("second half", part="two"))
    claims = {
        "algebra-only": _claim("algebra-only", SymbolicCheck("algebra", lambda: 0)),
        "half-done": _claim("half-done", *two, parts=("one", "two")),
        "both-done": _claim("both-done", *two, parts=("one", "two")),
        "half-wrong": _claim("half-wrong", *two, parts=("one", "two")),
        "property-and-pending": _claim("property-and-pending", NumericCheck("measured")),
    }
    results = [
        FakeResult("algebra-only", "symbolic", "derivation-checked", "sympy proves 3 identities"),
        FakeResult("half-done", "numeric", "verified", "consistent: ok", part="one"),
        FakeResult("half-done", "numeric", "pending", "no evidence yet", part="two"),
        FakeResult("both-done", "numeric", "verified", "consistent: ok", part="one"),
        FakeResult("both-done", "numeric", "verified", "consistent: ok", part="two"),
        FakeResult("half-wrong", "numeric", "verified", "consistent: ok", part="one"),
        FakeResult("half-wrong", "numeric", "failed", "inconsistent: gap < 0", part="two"),
        FakeResult("property-and-pending", "property", "verified", "held"),
        FakeResult("property-and-pending", "numeric", "pending", "no evidence yet"),
    ]
    rows = {r.claim: r for r in claim_entries(claims, results, {}, [])}
    assert rows["algebra-only"].verdict == "inconclusive" and rows["algebra-only"].derivation_checked
    assert "derivation checked only" in rows["algebra-only"].reason and rows["algebra-only"].derivation_only
    assert not rows["half-done"].derivation_only
    assert rows["half-done"].verdict == "inconclusive" and "part 'two'" in rows["half-done"].reason
    assert rows["both-done"].verdict == "consistent"
    assert rows["half-wrong"].verdict == "inconsistent" and "gap < 0" in rows["half-wrong"].reason
    assert (
        rows["property-and-pending"].verdict == "inconclusive"
        and "still open" in rows["property-and-pending"].reason
    )


def test_report_shows_rules_and_part_evidence(tmp_path: Path) -> None:
    claims = {"p": _claim("p", NumericCheck("a", part="x"), NumericCheck("b", part="y"), parts=("x", "y"))}
    results = [
        CheckResult(
            "p",
            "s",
            "evidence [x]: a",
            "verified",
            "consistent: fine [r]",
            kind="numeric",
            part="x",
            evidence_id="p.x",
            rule="consistent if the interval is above 0",
            constants={"level": "0.95"},
            detectable="a gap above 0.01",
        ),
        CheckResult(
            "p",
            "s",
            "evidence [y]: b",
            "verified",
            "consistent: fine [r]",
            kind="numeric",
            part="y",
            evidence_id="p.y",
            rule="consistent if all seeds agree",
            constants={},
            detectable="5 of 5 seeds",
        ),
    ]
    evidence = {
        "p.x": {"claim": "p.x", "verdict": "consistent", "summary": "s", "details": {"gap": 0.5}},
        "p.y": {"claim": "p.y", "verdict": "consistent", "summary": "s", "details": {"seeds": 5}},
    }
    (row,) = claim_entries(claims, results, evidence, [])
    assert row.verdict == "consistent"
    assert (
        "p.x: rule: consistent if the interval is above 0 | constants: level=0.95 | "
        "detectable: a gap above 0.01" in row.rules
    )
    assert "p.y: rule: consistent if all seeds agree" in row.rules and "detectable: 5 of 5 seeds" in row.rules
    assert row.numbers == "p.x: gap=0.5; p.y: seeds=5"
    md, html = write_report(tmp_path, figures=[], claims=[row])
    assert (
        "1 consistent, 0 inconsistent, 0 inconclusive (0 of them derivation checked only)" in md.read_text()
    )
    assert (
        "detectable: a gap above 0.01" in md.read_text()
        and "detectable: a gap above 0.01" in html.read_text()
    )
    # Without ledger results (the ledger stage failed) recorded verdicts are quoted, never adopted.
    (row,) = claim_entries(claims, [], evidence, [])
    assert row.verdict == "inconclusive" and "not re-checked" in row.reason


def test_report_lists_every_figure_and_claim(tmp_path: Path) -> None:
    specs = all_figures()
    png = tmp_path / "fig01_rss.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    entries = [
        FigureEntry(s.name, s.title, s.caption, s.claims, png=png if s.name == "fig01_rss" else None)
        if s.name == "fig01_rss"
        else FigureEntry(s.name, s.title, s.caption, s.claims, error="MissingRecordsError: no records")
        for s in specs.values()
    ]
    import theory.claims  # noqa: F401  (registers the built-in claims)
    from theory.ledger import CLAIMS

    claims = claim_entries(CLAIMS, [], {}, entries)
    md, html = write_report(tmp_path, figures=entries, claims=claims, ledger_table="claim  status")
    md_text, html_text = md.read_text(), html.read_text()
    for name in specs:
        assert name in md_text and name in html_text
    for cid in [*CLAIMS, *(c for s in specs.values() for c in s.claims)]:
        assert cid in md_text and cid in html_text
    assert "data:image/png;base64," in html_text  # images inline
    assert "![fig01_rss](fig01_rss.png)" in md_text
    assert md_text.count("**Not built:**") == len(specs) - 1


def _stub_experiments(monkeypatch: pytest.MonkeyPatch, calls: list[str], *, fail: str | None) -> None:
    from sim.experiments import Experiment, ExperimentResult

    def execute(self, config=None, *, scale, runs_root, executor, workers, quiet, device):
        calls.append(self.name)
        # The API runs in-process by default; the CLI hands over its open executor.
        assert scale == "default" and device == "cpu"
        assert executor == "inprocess" or hasattr(executor, "map")
        if self.name == fail:
            raise RuntimeError(f"{self.name} exploded")
        if not (runs_root / "ep-dying").exists():
            write_synthetic_runs(runs_root)
        return ExperimentResult(self.name, None, False, {})

    monkeypatch.setattr(Experiment, "execute", execute)
    ledger = [FakeResult("ep-dying-ratio-grows", "numeric", "verified", "consistent: ok")]
    monkeypatch.setattr(
        rp, "run_ledger", lambda runs_root, max_examples=50, claim_files=(): (ledger, "LEDGER TABLE", {}, {})
    )


def test_reproduce_survives_a_failing_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    _stub_experiments(monkeypatch, calls, fail="rigl")
    runs, out = tmp_path / "runs", tmp_path / "out"
    code = main(
        [
            "reproduce",
            "--only",
            "fig06",
            "fig11",
            "--runs-root",
            str(runs),
            "--out",
            str(out),
            "--quiet",
            "--executor",
            "inprocess",
        ]
    )
    assert code == 1  # an experiment failed
    assert calls == ["ep-dying", "ep-vs-dense", "rigl"]  # only the selected figures' experiments, in order
    printed = capsys.readouterr()
    assert "LEDGER TABLE" not in printed.out  # --quiet
    assert "FAILED stages (1): experiment rigl" in printed.err
    # The figures were still drawn (the other experiment's records exist; rigl's stub wrote none).
    assert (out / "fig06_dying.png").exists() and (out / "fig11_rigl.pdf").exists()
    report = (out / "report.md").read_text()
    assert "RuntimeError: rigl exploded" in report and "ep-dying-ratio-grows" in report
    with open(out / "timings.csv", newline="") as fh:
        stages = {row["stage"]: row for row in csv.DictReader(fh)}
    assert stages["experiment rigl"]["status"] == "failed"
    assert stages["experiment ep-dying"]["status"] == "ok"
    assert {"ledger", "figure fig06_dying", "report", "total"} <= set(stages)


def test_reproduce_succeeds_and_reruns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    calls: list[str] = []
    _stub_experiments(monkeypatch, calls, fail=None)
    kwargs = {"only": ["fig08_iep"], "runs_root": tmp_path / "runs", "out": tmp_path / "out", "quiet": True}
    first = rp.reproduce(**kwargs)
    assert first.exit_code == 0
    assert [f.name for f in first.figures] == ["fig08_iep"] and first.figures[0].error is None
    second = rp.reproduce(**kwargs, skip_experiments=True)
    assert second.exit_code == 0 and calls == ["iep", "ep-vs-dense"]
    assert "stage" in capsys.readouterr().out  # the timing table is printed even when quiet


def test_reproduce_walks_the_experiments_of_the_figures_and_their_claims() -> None:
    from figures.registry import get_figure
    from sim.experiments import experiments_for_claims

    # fig02 reads pssp-min-n and xiong-n90; its claim xiong-thm1-aistats is also decided by xiong-thm1.
    spec = get_figure("fig02_pssp")
    assert set(spec.experiments) == {"pssp-min-n", "xiong-n90"}
    assert "xiong-thm1" in experiments_for_claims(spec.claims)
    assert experiments_for_claims(["no-such-claim"]) == []


def test_reproduce_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale must be one of quick, default, full"):
        rp.reproduce(scale="huge", out=tmp_path)
    with pytest.raises(ValueError, match="valid figures"):
        rp.reproduce(only=["fig99_nope"], out=tmp_path)
    with pytest.raises(ValueError, match="workers"):
        rp.reproduce(workers=0, out=tmp_path)


def test_a_figure_must_read_registered_experiments() -> None:
    from figures.registry import FigureSpec, register_figure

    with pytest.raises(
        ValueError, match=r"unknown experiment 'no-such-experiment'; valid experiments: .*rigl"
    ):
        register_figure(FigureSpec("figX_bad", "t", "c", ("no-such-experiment",), (), lambda root: None))


def test_cli_figures_list_and_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["figures", "--list"]) == 0
    out = capsys.readouterr().out
    for name in all_figures():
        assert name in out
    assert main(["figures", "fig02", "--demo", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "demo" / "fig02_pssp.png").exists() and not (tmp_path / "fig02_pssp.png").exists()
    # Unknown names are one clear error line, exit status 2.
    assert main(["figures", "nope", "--out", str(tmp_path)]) == 2
    assert "valid figures" in capsys.readouterr().err


def test_cli_figures_missing_records_exit_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["figures", "fig03", "--runs-root", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert code == 1
    assert "xiong-thm1" in capsys.readouterr().err
