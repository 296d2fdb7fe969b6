"""The reproduction report: every claim with its source, figure, numbers and verdict; every figure inline.

Two files with the same content: ``report.md`` (images referenced next to it) and ``report.html`` (one
self-contained file, images embedded as base64 PNG so it can be mailed or attached as a CI artifact).

Verdicts per claim, in this order of precedence:

1. a symbolic or property check of the claim *failed* -> ``inconsistent`` (the failing check is the
   reason);
2. an evidence file ``<runs_root>/evidence/<claim>.json`` exists -> its verdict and one-line summary
   (written by the producer that measured it, via ``theory.ledger.write_evidence``);
3. the ledger's symbolic/property checks all passed -> ``consistent``;
4. otherwise ``inconclusive`` with the reason (no evidence recorded, no check, check error).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from theory.support.records import atomic_write_text

VERDICTS = ("consistent", "inconsistent", "inconclusive")


@dataclass
class FigureEntry:
    """A figure as the report shows it: rendered (paths and numbers) or not built (with the reason)."""

    name: str
    title: str
    caption: str
    claims: tuple[str, ...]
    png: Path | None = None
    pdf: Path | None = None
    csv: Path | None = None
    summary: tuple[str, ...] = ()
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    error: str | None = None


@dataclass
class ClaimEntry:
    """One claim's row in the report."""

    claim: str
    statement: str
    source: str
    figures: tuple[str, ...]
    verdict: str
    reason: str
    numbers: str = ""
    ledger_status: str = ""


@dataclass
class StageEntry:
    """One stage of ``slth reproduce`` (a producer, the ledger, figures, the report)."""

    name: str
    status: str  # "ok", "failed", "skipped"
    seconds: float
    detail: str = ""


def _get(obj: Any, key: str, default: Any = "") -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _details_text(details: Any, limit: int = 6) -> str:
    if not isinstance(details, Mapping):
        return ""
    parts = []
    for k, v in list(details.items())[:limit]:
        if isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        elif isinstance(v, int | str | bool) or v is None:
            parts.append(f"{k}={v}")
    return ", ".join(parts)


def claim_entries(
    claims: Mapping[str, Any] | None,
    ledger_results: Sequence[Any],
    evidence: Mapping[str, Mapping[str, Any]],
    figures: Iterable[FigureEntry],
) -> list[ClaimEntry]:
    """Combine the claim registry, the ledger's check results, evidence files and figures into rows.

    Args:
        claims: ``theory.ledger.CLAIMS`` (id -> Claim with ``statement``, ``source``) or None.
        ledger_results: ``theory.ledger.verify`` results (``claim``, ``check``, ``status``, ``evidence``).
        evidence: ``theory.ledger.read_evidence(runs_root)`` (id -> record with ``verdict``, ``summary``).
        figures: The report's figures (their ``claims`` map figures to claims).

    Returns:
        One entry per claim: registered claims first (registry order), then any id only seen in the
        evidence files or the ledger results, then the ids the figures bear on.
    """
    figures = list(figures)
    ids = list(claims or {})
    seen_elsewhere = [*evidence, *(str(_get(r, "claim")) for r in ledger_results)]
    for cid in seen_elsewhere + [c for f in figures for c in f.claims]:
        if cid and cid not in ids:
            ids.append(cid)
    by_claim: dict[str, list[Any]] = {}
    for r in ledger_results:
        by_claim.setdefault(str(_get(r, "claim")), []).append(r)
    entries = []
    for cid in ids:
        claim = (claims or {}).get(cid)
        ev = evidence.get(cid)
        results = by_claim.get(cid, [])
        statuses = [str(_get(r, "status")) for r in results]
        figs = tuple(f.name for f in figures if cid in f.claims)
        # A numeric check fails exactly when its evidence says "inconsistent": then the evidence's own
        # summary is the better reason. Any other failed check (symbolic, property) overrides evidence.
        failed = [
            r
            for r in results
            if _get(r, "status") == "failed"
            and not (ev is not None and str(_get(r, "check")).startswith("evidence"))
        ]
        errors = [r for r in results if _get(r, "status") == "error"]
        numbers = ""
        if failed:
            verdict = "inconsistent"
            reason = "ledger check failed: " + "; ".join(
                f"{_get(r, 'check')}: {_get(r, 'evidence')}" for r in failed
            )
        elif ev is not None and str(ev.get("verdict")) in VERDICTS:
            verdict = str(ev["verdict"])
            reason = str(ev.get("summary", ""))
            numbers = _details_text(ev.get("details"))
        elif statuses and all(s == "verified" for s in statuses):
            verdict = "consistent"
            reason = "ledger checks passed: " + "; ".join(str(_get(r, "check")) for r in results)
        elif errors:
            verdict = "inconclusive"
            reason = "a ledger check raised an error: " + "; ".join(str(_get(r, "evidence")) for r in errors)
        elif not results and claim is None:
            verdict = "inconclusive"
            reason = "claim not registered in the ledger and no evidence recorded"
        elif any(s == "no-check" for s in statuses) and not any(s == "verified" for s in statuses):
            verdict = "inconclusive"
            reason = "no check implemented for this claim"
        else:
            verdict = "inconclusive"
            reason = "no evidence recorded yet (its producer did not run or did not write evidence)"
            if any(s == "verified" for s in statuses):
                reason = "some checks passed, others pending: " + "; ".join(
                    f"{_get(r, 'check')}: {_get(r, 'status')}" for r in results
                )
        if not numbers:
            # No scalar details in the evidence: quote the first finding of the first figure that has one.
            lines = [line for f in figures if cid in f.claims and f.error is None for line in f.summary[:1]]
            numbers = lines[0] if lines else ""
        entries.append(
            ClaimEntry(
                claim=cid,
                statement=str(_get(claim, "statement", "")) if claim is not None else "",
                source=str(_get(claim, "source", "")) if claim is not None else "",
                figures=figs,
                verdict=verdict,
                reason=reason,
                numbers=numbers,
                ledger_status=", ".join(statuses) if statuses else "not run",
            )
        )
    return entries


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    if not rows:
        return ["(no rows)"]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_md_escape(_fmt(r.get(c, ""))) for c in cols) + " |" for r in rows]
    return out


def _html_table(rows: Sequence[Mapping[str, Any]], cls: str = "") -> str:
    if not rows:
        return "<p>(no rows)</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def write_report(
    out_dir: str | Path,
    *,
    figures: Sequence[FigureEntry],
    claims: Sequence[ClaimEntry],
    stages: Sequence[StageEntry] = (),
    ledger_table: str = "",
    header: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``.

    Args:
        out_dir: Output directory (the figures' PNGs are expected there for the markdown links).
        figures: Every figure, rendered or not.
        claims: Every claim's row (see :func:`claim_entries`).
        stages: Stage outcomes and timings of the reproduction.
        ledger_table: ``theory.ledger.format_table`` output, shown verbatim.
        header: Extra ``key: value`` lines (runs root, scale, date).

    Returns:
        The markdown and HTML paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = {"written": when, **(header or {})}
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    failed_stages = [s for s in stages if s.status == "failed"]
    claim_rows = [
        {
            "claim": c.claim,
            "verdict": c.verdict,
            "figures": ", ".join(c.figures) or "-",
            "reason": c.reason,
            "numbers": c.numbers,
            "source": c.source,
            "statement": c.statement,
        }
        for c in claims
    ]
    stage_rows = [
        {"stage": s.name, "status": s.status, "seconds": round(s.seconds, 2), "detail": s.detail}
        for s in stages
    ]

    # ---------------- markdown
    md = ["# SLTH toolkit: reproduction report", ""]
    md += [f"- {k}: {v}" for k, v in info.items()]
    md += [
        f"- claims: {counts['consistent']} consistent, {counts['inconsistent']} inconsistent, "
        f"{counts['inconclusive']} inconclusive",
        f"- figures: {sum(f.error is None for f in figures)} of {len(figures)} built",
    ]
    if failed_stages:
        md.append(f"- **failed stages: {', '.join(s.name for s in failed_stages)}** (details below)")
    md += ["", "## Claims", ""]
    md += _md_table(claim_rows)
    md += ["", "## Figures", ""]
    for f in figures:
        md += [f"### {f.name}: {f.title}", ""]
        if f.error is not None:
            md += [f"**Not built:** {f.error}", ""]
            continue
        md += [f"![{f.name}]({f.png.name})" if f.png else "", "", f"*{f.caption}*", ""]
        if f.claims:
            md += [f"Claims: {', '.join(f.claims)}", ""]
        md += [f"- {s}" for s in f.summary]
        for tname, rows in f.tables.items():
            if rows:
                md += ["", f"**{tname}**", "", *_md_table(rows)]
        files = [p.name for p in (f.png, f.pdf, f.csv) if p is not None]
        md += ["", "Files: " + ", ".join(f"[{n}]({n})" for n in files), ""]
    if stages:
        md += ["## Stages and timings", "", *_md_table(stage_rows), ""]
    if ledger_table:
        md += ["## Ledger (`slth verify`)", "", "```", ledger_table.rstrip(), "```", ""]
    md_path = atomic_write_text(out / "report.md", "\n".join(md).rstrip() + "\n")

    # ---------------- html
    h = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>SLTH reproduction report</title>',
        "<style>body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
        "color:#222}table{border-collapse:collapse;margin:.5em 0;font-size:.85em}"
        "td,th{border:1px solid #ccc;padding:3px 6px;"
        "vertical-align:top}th{background:#f3f3f3}img{max-width:100%}.consistent{color:#009E73;font-weight:bold}"
        ".inconsistent{color:#D55E00;font-weight:bold}.inconclusive{color:#996b00;font-weight:bold}"
        "pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.75em}.err{color:#D55E00}</style></head><body>",
        "<h1>SLTH toolkit: reproduction report</h1><ul>",
    ]
    h += [f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in info.items()]
    h.append(
        f"<li>claims: {counts['consistent']} consistent, {counts['inconsistent']} inconsistent, "
        f"{counts['inconclusive']} inconclusive</li>"
        f"<li>figures: {sum(f.error is None for f in figures)} of {len(figures)} built</li>"
    )
    if failed_stages:
        h.append(
            f'<li class="err">failed stages: {html.escape(", ".join(s.name for s in failed_stages))}</li>'
        )
    h.append("</ul><h2>Claims</h2><table><thead><tr>")
    h.append(
        "".join(
            f"<th>{c}</th>"
            for c in ("claim", "verdict", "figures", "reason", "numbers", "source", "statement")
        )
    )
    h.append("</tr></thead><tbody>")
    for r in claim_rows:
        figs = ", ".join(
            f'<a href="#{html.escape(n)}">{html.escape(n)}</a>' for n in r["figures"].split(", ") if n != "-"
        )
        h.append(
            f'<tr><td>{html.escape(r["claim"])}</td><td class="{r["verdict"]}">{r["verdict"]}</td>'
            f"<td>{figs or '-'}</td><td>{html.escape(r['reason'])}</td><td>{html.escape(r['numbers'])}</td>"
            f"<td>{html.escape(r['source'])}</td><td>{html.escape(r['statement'])}</td></tr>"
        )
    h.append("</tbody></table><h2>Figures</h2>")
    for f in figures:
        h.append(f'<h3 id="{html.escape(f.name)}">{html.escape(f.name)}: {html.escape(f.title)}</h3>')
        if f.error is not None:
            h.append(f'<p class="err"><b>Not built:</b> {html.escape(f.error)}</p>')
            continue
        if f.png is not None and Path(f.png).exists():
            data = base64.b64encode(Path(f.png).read_bytes()).decode("ascii")
            h.append(f'<img alt="{html.escape(f.name)}" src="data:image/png;base64,{data}">')
        h.append(f"<p><i>{html.escape(f.caption)}</i></p>")
        if f.claims:
            h.append(f"<p>Claims: {html.escape(', '.join(f.claims))}</p>")
        if f.summary:
            h.append("<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in f.summary) + "</ul>")
        for tname, rows in f.tables.items():
            if rows:
                h.append(f"<p><b>{html.escape(tname)}</b></p>" + _html_table(rows))
        files = [p.name for p in (f.png, f.pdf, f.csv) if p is not None]
        h.append(
            "<p>Files: "
            + ", ".join(f'<a href="{html.escape(n)}">{html.escape(n)}</a>' for n in files)
            + "</p>"
        )
    if stages:
        h.append("<h2>Stages and timings</h2>" + _html_table(stage_rows))
    if ledger_table:
        h.append(f"<h2>Ledger (slth verify)</h2><pre>{html.escape(ledger_table)}</pre>")
    h.append("</body></html>")
    html_path = atomic_write_text(out / "report.html", "\n".join(h) + "\n")
    return md_path, html_path
