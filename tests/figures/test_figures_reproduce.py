"""The report lists every figure and claim with the right verdicts; ``slth reproduce`` orchestration."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

import figures.reproduce as rp
from figures.cli import main
from figures.registry import all_figures
from figures.report import FigureEntry, claim_entries, write_report
from figures.synthetic import write_synthetic_runs


@dataclass(frozen=True)
class FakeResult:
    claim: str
    check: str
    status: str
    evidence: str


@dataclass(frozen=True)
class FakeClaim:
    id: str
    statement: str
    source: str


def test_verdict_precedence() -> None:
    claims = {c: FakeClaim(c, f"statement of {c}", f"source of {c}") for c in ("a", "b", "c", "d", "e")}
    results = [
        FakeResult("a", "symbolic", "failed", "x=1 breaks it"),
        FakeResult("b", "numeric", "verified", "ok"),
        FakeResult("c", "symbolic", "verified", "simplifies to 0"),
        FakeResult("d", "numeric", "pending", "no evidence"),
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
    assert rows["b"].verdict == "inconclusive" and rows["b"].reason == "CIs overlap"
    assert rows["b"].numbers == "gap=0.01235" and rows["b"].figures == ("figX",)
    assert rows["c"].verdict == "consistent"
    assert rows["d"].verdict == "inconclusive" and "no evidence" in rows["d"].reason
    assert rows["e"].verdict == "inconclusive" and "error" in rows["e"].reason
    # A claim only a figure mentions is still listed.
    assert set(figs[0].claims) <= set(rows)


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


def _stub_producers(monkeypatch: pytest.MonkeyPatch, calls: list[str], *, fail: str | None) -> None:
    def make(name: str):
        def run(runs_root: Path, *, scale: str, workers, quiet: bool) -> None:
            calls.append(name)
            assert scale == "quick"
            if name == fail:
                raise RuntimeError(f"{name} exploded")
            if not (runs_root / "ep-dying").exists():
                write_synthetic_runs(runs_root)

        return run

    table = {n: rp.Producer(n, p.description, make(n)) for n, p in rp.PRODUCERS.items()}
    monkeypatch.setattr(rp, "PRODUCERS", table)
    ledger = [FakeResult("ep-dying-ratio-grows", "numeric", "verified", "ok")]
    monkeypatch.setattr(rp, "run_ledger", lambda runs_root, max_examples=50: (ledger, "LEDGER TABLE", {}, {}))


def test_reproduce_survives_a_failing_producer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    _stub_producers(monkeypatch, calls, fail="rigl")
    runs, out = tmp_path / "runs", tmp_path / "out"
    code = main(
        ["reproduce", "--only", "fig06", "fig11", "--runs-root", str(runs), "--out", str(out), "--quiet"]
    )
    assert code == 1  # a producer failed
    assert calls == ["ep-dying", "rigl"]  # only the selected figures' producers, in order
    printed = capsys.readouterr()
    assert "LEDGER TABLE" not in printed.out  # --quiet
    assert "FAILED stages (1): producer rigl" in printed.err
    # The figures were still drawn (the other producer's records exist; rigl's stub wrote none).
    assert (out / "fig06_dying.png").exists() and (out / "fig11_rigl.pdf").exists()
    report = (out / "report.md").read_text()
    assert "RuntimeError: rigl exploded" in report and "ep-dying-ratio-grows" in report
    with open(out / "timings.csv", newline="") as fh:
        stages = {row["stage"]: row for row in csv.DictReader(fh)}
    assert stages["producer rigl"]["status"] == "failed"
    assert stages["producer ep-dying"]["status"] == "ok"
    assert {"ledger", "figure fig06_dying", "report", "total"} <= set(stages)


def test_reproduce_succeeds_and_reruns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    calls: list[str] = []
    _stub_producers(monkeypatch, calls, fail=None)
    kwargs = {"only": ["fig08_iep"], "runs_root": tmp_path / "runs", "out": tmp_path / "out", "quiet": True}
    first = rp.reproduce(**kwargs)
    assert first.exit_code == 0
    assert [f.name for f in first.figures] == ["fig08_iep"] and first.figures[0].error is None
    second = rp.reproduce(**kwargs, skip_producers=True)
    assert second.exit_code == 0 and calls == ["iep"]
    assert "stage" in capsys.readouterr().out  # the timing table is printed even when quiet


def test_reproduce_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale must be one of quick, full"):
        rp.reproduce(scale="huge", out=tmp_path)
    with pytest.raises(ValueError, match="valid figures"):
        rp.reproduce(only=["fig99_nope"], out=tmp_path)
    with pytest.raises(ValueError, match="workers"):
        rp.reproduce(workers=0, out=tmp_path)


def test_call_with_supported_drops_unknown_keywords() -> None:
    def producer(runs_root, *, scale="quick"):
        return runs_root, scale

    assert rp.call_with_supported(producer, "r", scale="full", workers=3, quiet=True) == ("r", "full")


def test_missing_producer_module_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="no_such_module_xyz"):
        rp._resolve([("no_such_module_xyz", "run")])


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
