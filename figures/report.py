"""The reproduction report: every claim with its source, figure, numbers and verdict; every figure inline.

Two files with the same content: ``report.md`` (images referenced next to it) and ``report.html`` (one
self-contained file, images embedded as base64 PNG so it can be mailed or attached as a CI artifact).

A claim's verdict is :func:`theory.ledger.claim_verdict` of its ledger results, the same function
``slth verify`` prints: ``inconsistent`` when a check failed; ``consistent`` only when every part of the
claim has a verified check (a property that held, or evidence re-decided by its rule as consistent) and
nothing is open; otherwise ``inconclusive`` with the reason. A passed sympy check alone is shown as
"derivation checked" and never makes a claim consistent. Each claim lists the rules that decided its
evidence, with their constants and the smallest effect they could detect.

The evidence files' own ``verdict`` fields are what the producers printed; the report uses the verdicts
re-applied by the ledger, and only quotes a recorded verdict (marked "not re-checked") when the ledger
did not run.
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

from theory.ledger import claim_verdict
from theory.plumbing.records import atomic_write_text

VERDICTS = ("consistent", "inconsistent", "inconclusive")
_TABLE_NOTE = (
    "One row per effect a rule decided on (its rule re-applied to the recorded data): the reference's "
    "effect (its number in brackets, same unit, where it gives one), the measured effect with its 95% "
    "interval, the smallest effect the design could detect, the verdict of the evidence, and for an "
    "undecided effect the scale that would decide it. Inconclusive only where the detectable effect is "
    "larger than the relevant one (issue 12)."
)


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
    rules: str = ""
    derivation_checked: bool = False
    derivation_only: bool = False


@dataclass
class StageEntry:
    """One stage of ``slth reproduce`` (a producer, the ledger, figures, the report)."""

    name: str
    status: str  # "ok", "failed", "skipped"
    seconds: float
    detail: str = ""


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


def _rule_text(
    evidence_id: str, rule: Any, constants: Any, detectable: Any, *, recorded: bool = False
) -> str:
    if not rule:
        return f"{evidence_id}: no pre-registered rule recorded (the producer's own verdict)"
    consts = "; ".join(f"{k}={v}" for k, v in dict(constants or {}).items()) or "none"
    where = " (as recorded, not re-applied)" if recorded else ""
    return f"{evidence_id}{where}: rule: {rule} | constants: {consts} | detectable: {detectable}"


def claim_entries(
    claims: Mapping[str, Any] | None,
    ledger_results: Sequence[Any],
    evidence: Mapping[str, Mapping[str, Any]],
    figures: Iterable[FigureEntry],
) -> list[ClaimEntry]:
    """Combine the claim registry, the ledger's check results, evidence files and figures into rows.

    Args:
        claims: ``theory.ledger.CLAIMS`` (id -> :class:`theory.ledger.Claim`) or None (ledger not run).
        ledger_results: ``theory.ledger.verify`` results (:class:`theory.ledger.CheckResult`).
        evidence: ``theory.ledger.read_evidence(runs_root)`` (evidence id -> record); used for the numbers,
            and for the recorded verdict only when the ledger did not run for the claim.
        figures: The report's figures (their ``claims`` map figures to claims).

    Returns:
        One entry per claim: registered claims first (registry order), then any id only seen in the
        evidence files (not read by a registered claim) or the ledger results, then the ids the figures
        bear on.
    """
    figures = list(figures)
    registry = dict(claims or {})
    ids = list(registry)
    owned = {eid: cid for cid, c in registry.items() for eid in c.evidence_ids()}
    stray = [eid for eid in evidence if eid not in owned]
    for cid in [*stray, *(str(r.claim) for r in ledger_results), *(c for f in figures for c in f.claims)]:
        if cid and cid not in ids:
            ids.append(cid)
    entries = []
    for cid in ids:
        claim = registry.get(cid)
        results = [r for r in ledger_results if r.claim == cid]
        evidence_ids = claim.evidence_ids() if claim is not None else [cid]
        records = [(eid, evidence[eid]) for eid in evidence_ids if eid in evidence]
        decided = claim_verdict(claim, results, claim_id=cid)
        verdict, reason = decided.verdict, decided.reason
        if not results and records:
            # The ledger did not run (or failed): quote what the producers recorded, never as a verdict.
            recorded = "; ".join(
                f"{eid}: {rec.get('verdict')}: {rec.get('summary', '')}" for eid, rec in records
            )
            reason = f"{reason}; recorded evidence (not re-checked): {recorded}"
        rules = [
            _rule_text(str(r.evidence_id), r.rule, r.constants, r.detectable)
            for r in results
            if r.kind == "numeric" and r.status != "pending"
        ]
        if not results:
            rules = [
                _rule_text(eid, rec.get("rule"), rec.get("constants"), rec.get("detectable"), recorded=True)
                for eid, rec in records
            ]
        numbers = "; ".join(
            f"{eid}: {text}" if len(records) > 1 else text
            for eid, rec in records
            if (text := _details_text(rec.get("details")))
        )
        if not numbers:
            # No scalar details in the evidence: quote the first finding of the first figure that has one.
            lines = [line for f in figures if cid in f.claims and f.error is None for line in f.summary[:1]]
            numbers = lines[0] if lines else ""
        statuses = [str(r.status) for r in results]
        entries.append(
            ClaimEntry(
                claim=cid,
                statement=str(claim.statement) if claim is not None else "",
                source=str(claim.source) if claim is not None else "",
                figures=tuple(f.name for f in figures if cid in f.claims),
                verdict=verdict,
                reason=reason,
                numbers=numbers,
                ledger_status=", ".join(statuses) if statuses else "not run",
                rules=" || ".join(rules),
                derivation_checked=decided.derivation_checked,
                derivation_only=decided.derivation_only,
            )
        )
    return entries


CLAIMS_TABLE_COLUMNS = (
    "claim",
    "reference's effect",
    "measured effect [95% interval]",
    "detectable",
    "verdict",
    "decides at",
)


def _num(v: Any) -> str:
    x = float(v)
    return "nan" if math.isnan(x) else f"{x:.3g}"


def claims_table_rows(
    claims: Mapping[str, Any] | None, evidence: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, str]]:
    """The claims table (issue 12): one row per effect a rule decided on, from recorded evidence.

    Each evidence record's rule is applied again to its recorded ``details`` (as ``slth verify`` does), so
    the effects and verdicts come from the current rules and bounds; a record whose rule fails is listed
    with the error as its verdict. Records without a rule, and rules that give no effects, have no row.

    Args:
        claims: Claim registry (id -> :class:`theory.ledger.Claim`), for the order and the evidence ids of
            each claim; None orders the evidence ids alphabetically.
        evidence: ``theory.ledger.read_evidence(runs_root)`` (evidence id -> record).

    Returns:
        Rows keyed by :data:`CLAIMS_TABLE_COLUMNS`.
    """
    from theory.rules import apply_rule

    order = [eid for c in (claims or {}).values() for eid in c.evidence_ids()]
    order += sorted(eid for eid in evidence if eid not in order)
    rows: list[dict[str, str]] = []
    for eid in order:
        rec = evidence.get(eid)
        if rec is None or not rec.get("rule_id"):
            continue
        try:
            result = apply_rule(str(rec["rule_id"]), rec.get("details") or {})
        except ValueError as err:
            rows.append(dict.fromkeys(CLAIMS_TABLE_COLUMNS, "-") | {"claim": eid, "verdict": f"error: {err}"})
            continue
        for e in result.effects:
            ref = e.reference if e.reference_value is None else f"{e.reference} [{_num(e.reference_value)}]"
            rows.append(
                {
                    "claim": f"{eid}: {e.quantity}",
                    "reference's effect": ref,
                    "measured effect [95% interval]": f"{_num(e.measured)} [{_num(e.lo)}, {_num(e.hi)}]",
                    "detectable": _num(e.detectable),
                    # The evidence's verdict; an undecided effect is what keeps it inconclusive. Where the
                    # rule decided this effect on its own and it differs, both are shown.
                    "verdict": result.verdict
                    + ("" if e.decides_at is None else " (this effect undecided)")
                    + ("" if e.verdict in (None, result.verdict) else f" (this effect: {e.verdict})"),
                    "decides at": e.decides_at or "-",
                }
            )
    return rows


def claims_table_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The claims table as markdown (``(no rows)`` when no rule gave effects)."""
    return "\n".join(_md_table(rows))


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
    claims_table: Sequence[Mapping[str, Any]] = (),
) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``.

    Args:
        out_dir: Output directory (the figures' PNGs are expected there for the markdown links).
        figures: Every figure, rendered or not.
        claims: Every claim's row (see :func:`claim_entries`).
        stages: Stage outcomes and timings of the reproduction.
        ledger_table: ``theory.ledger.format_table`` output, shown verbatim.
        header: Extra ``key: value`` lines (runs root, scale, date).
        claims_table: Rows of :func:`claims_table_rows` (the section "Claims table: effects"); empty: none.

    Returns:
        The markdown and HTML paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = {"written": when, **(header or {})}
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    algebra_only = sum(c.derivation_only for c in claims)
    failed_stages = [s for s in stages if s.status == "failed"]
    claim_rows = [
        {
            "claim": c.claim,
            "verdict": c.verdict + (" (derivation checked)" if c.derivation_checked else ""),
            "checks": c.ledger_status,
            "figures": ", ".join(c.figures) or "-",
            "reason": c.reason,
            "rules": c.rules or "-",
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
        f"{counts['inconclusive']} inconclusive ({algebra_only} of them derivation checked only)",
        f"- figures: {sum(f.error is None for f in figures)} of {len(figures)} built",
    ]
    if failed_stages:
        md.append(f"- **failed stages: {', '.join(s.name for s in failed_stages)}** (details below)")
    md += ["", "## Claims", ""]
    md += _md_table(claim_rows)
    if claims_table:
        md += ["", "## Claims table: effects", "", _TABLE_NOTE, "", *_md_table(claims_table)]
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
        f"{counts['inconclusive']} inconclusive ({algebra_only} of them derivation checked only)</li>"
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
            for c in (
                "claim",
                "verdict",
                "checks",
                "figures",
                "reason",
                "rules",
                "numbers",
                "source",
                "statement",
            )
        )
    )
    h.append("</tr></thead><tbody>")
    for r in claim_rows:
        figs = ", ".join(
            f'<a href="#{html.escape(n)}">{html.escape(n)}</a>' for n in r["figures"].split(", ") if n != "-"
        )
        cls = r["verdict"].split()[0]
        h.append(
            f'<tr><td>{html.escape(r["claim"])}</td><td class="{cls}">{html.escape(r["verdict"])}</td>'
            f"<td>{html.escape(r['checks'])}</td><td>{figs or '-'}</td><td>{html.escape(r['reason'])}</td>"
            f"<td>{html.escape(r['rules'])}</td><td>{html.escape(r['numbers'])}</td>"
            f"<td>{html.escape(r['source'])}</td><td>{html.escape(r['statement'])}</td></tr>"
        )
    h.append("</tbody></table>")
    if claims_table:
        h.append(
            f"<h2>Claims table: effects</h2><p>{html.escape(_TABLE_NOTE)}</p>" + _html_table(claims_table)
        )
    h.append("<h2>Figures</h2>")
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
