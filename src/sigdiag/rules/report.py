"""Findings for people: one block per finding (what happened, evidence, ladder, outcome, fix); the
findings of the listed rules (:data:`LISTED_RULES`: orphan messages) once, as one list with one line per
circuit; with ``--number``, every matching call (:func:`format_calls`); then a summary per rule and per
trunk.  Times print in UTC; delays, rates and cause locations as in :mod:`sigdiag.calls.report`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, Any

from sigdiag.rules.engine import Finding

__all__ = [
    "LISTED_RULES",
    "FindingList",
    "format_calls",
    "format_finding",
    "format_summary",
    "utc",
]

#: Rules whose findings the table prints once as a list (one line per finding, the fix once) instead of a
#: block each: many of them, each saying the same thing about another circuit.
LISTED_RULES = frozenset({"orphan-message"})

_ARROW = {"forward": "-->", "backward": "<--", "unknown": "---"}


def utc(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _wrap(text: str, indent: str, width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent) or [indent]


def _evidence(ev: dict[str, Any]) -> str:
    parts = []
    for k, v in ev.items():
        if v is None or v == [] or k == "because":
            continue
        if isinstance(v, list):
            v = ", ".join(str(x) for x in v[:20]) + (" ..." if len(v) > 20 else "")
        parts.append(f"{k}={v}")
    return "; ".join(parts)


def format_finding(f: Finding, pc: Callable[[int | None], str] = str) -> list[str]:
    """The lines of one finding."""
    head = f"[{f.severity.upper()}] {f.rule}"
    where: list[str] = []
    if f.call_id is not None:
        where.append(f"call {f.call_id}, IAM frame {f.iam_frame}")
    if f.trunk:
        where.append(f"trunk {f.trunk}")
    if f.cic is not None:
        where.append(f"CIC {f.cic}")
    if f.opc is not None or f.dpc is not None:
        where.append(f"{pc(f.opc)} -> {pc(f.dpc)}")
    if f.window_start is not None:
        counted = f"{f.count} of {f.population}" if f.population is not None else f"{f.count} records"
        where.append(f"{utc(f.window_start)} .. {utc(f.window_end)}, {counted}")
    else:
        where.append(utc(f.ts))
    if f.file:
        where.append(f.file)
    lines = [f"{head}  {f.title}", "  " + " | ".join(where)]
    if f.confidence == "low":
        links = ", ".join(f.links or ([f.link] if f.link else []))
        lines.append(
            f"  LOW CONFIDENCE: link {links} decodes with too many anomalous messages (point-code "
            "format?); see the link warning"
        )
    lines += _wrap(f.message, "  ")
    ev = _evidence(f.evidence)
    if ev:
        lines += _wrap("evidence: " + ev, "  ")
    if f.ladder:
        lines.append("  ladder:")
        for step in f.ladder:
            arrow = _arrow(step["direction"])
            info = f"  {step['info']}" if step["info"] else ""
            lines.append(
                f"    {step['offset_ms']:>10.1f} ms  frame {step['frame']:<7} {arrow} {step['type']:<5}{info}"
            )
    elif f.calls:
        shown = ", ".join(str(c) for c in f.calls[:15]) + (" ..." if len(f.calls) > 15 else "")
        lines.append(f"  calls: {shown}")
    if f.outcome:
        lines.append(f"  outcome: {f.outcome} / {f.outcome_detail}")
    lines += _wrap("fix: " + f.recommendation, "  ")
    return lines


def _arrow(direction: str) -> str:
    return _ARROW.get(direction, "---")


class FindingList:
    """The findings of one listed rule (:data:`LISTED_RULES`), kept as one line each until :meth:`lines`."""

    def __init__(self, pc: Callable[[int | None], str] = str) -> None:
        self.pc = pc
        self.head: Finding | None = None
        self.rows: list[str] = []
        self.records = 0

    def add(self, f: Finding) -> None:
        if self.head is None:
            self.head = f
        count = f.count if f.count is not None else 1
        self.records += count
        types = ", ".join(f.evidence.get("types") or [])
        when = utc(f.window_start if f.window_start is not None else f.ts)
        if f.window_end is not None and f.window_end != f.window_start:
            when += f" .. {utc(f.window_end)[11:]}"
        cic = "-" if f.cic is None else str(f.cic)
        parts = [when, f"CIC {cic:<5}", f"{self.pc(f.opc)} -> {self.pc(f.dpc)}"]
        parts.append(f"{count} message{'s' if count != 1 else ''}" + (f" ({types})" if types else ""))
        if f.trunk:
            parts.append(f"trunk {f.trunk}")
        if f.file:
            parts.append(f.file)
        self.rows.append("  " + " | ".join(parts))

    def lines(self) -> list[str]:
        f = self.head
        if f is None:
            return []
        n = len(self.rows)
        head = (
            f"[{f.severity.upper()}] {f.rule}  {f.title}: {n} finding{'s' if n != 1 else ''}, "
            f"{self.records} message{'s' if self.records != 1 else ''}"
        )
        return [head, *self.rows, *_wrap("fix: " + f.recommendation, "  ")]


def format_calls(
    summary: dict[str, Any], calls: list[dict[str, Any]], pc: Callable[[int | None], str] = str
) -> list[str]:
    """``check --number``: every matching call (:data:`~sigdiag.rules.check.MATCH_KEYS`), by start time,
    findings or not; or, when none matches, the closest numbers seen."""
    from sigdiag.calls.report import cause_text, ms_text, seconds_text

    number = summary.get("number")
    n = summary.get("matched_calls") or 0
    if not n:
        closest = summary.get("closest_numbers") or []
        line = f"no call matches {number}"
        if closest:
            line += "; closest numbers seen: " + ", ".join(closest)
        return [line]
    lines = [f"{n} call{'s' if n != 1 else ''} match {number} (by start time):"]
    for c in calls:
        outcome = f"{c['outcome']}/{c['outcome_detail']}"
        cause = cause_text(c["cause"], c["cause_location"], name=True) or "no cause"
        lines.append(
            f"  {utc(c['start'])}  {c['calling'] or '-'} -> {c['called'] or '-'}  {outcome}  cause {cause}"
            f"  PDD {ms_text(c['pdd_ms']) or '-'}  duration {seconds_text(c['duration_s']) or '-'}"
        )
        where = [f"call {c['call_id']}", f"IAM frame {c['iam_frame']}"]
        if c["cic"] is not None:
            where.append(f"CIC {c['cic']}")
        if c["opc"] is not None or c["dpc"] is not None:
            where.append(f"{pc(c['opc'])} -> {pc(c['dpc'])}")
        if c["released_by"]:
            where.append(f"released by {c['released_by']}")
        where.append("findings: " + (", ".join(c["findings"]) if c["findings"] else "none"))
        lines.append("    " + " | ".join(where))
        lines.append("    " + c["ladder"])
    if n > len(calls):
        lines.append(f"  ... and {n - len(calls)} more (the earliest {len(calls)} are listed)")
    return lines


def format_summary(summary: dict[str, Any], titles: dict[str, tuple[str, str]]) -> list[str]:
    """Summary lines: counts, then findings per rule (with severity) and per trunk."""
    from sigdiag.calls.report import pct_text

    n = summary["findings"]
    outcomes = summary.get("outcomes") or {}
    ended = sum(outcomes.values()) - outcomes.get("unknown", 0)
    asr = f" (ASR {pct_text(outcomes.get('answered', 0) / ended)})" if ended else ""
    lines = [
        f"{summary['calls']} calls{asr}, {summary['messages']} messages, {summary['rules']} rules: "
        f"{n} finding{'s' if n != 1 else ''}"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in summary["by_severity"].items()) + ")"
            if summary["by_severity"]
            else ""
        )
    ]
    low = summary.get("low_confidence_findings") or 0
    if low:
        lines.append(f"{low} finding{'s' if low != 1 else ''} low confidence (on a link that decodes badly)")
    links = summary.get("links") or []
    if links:
        lines.append("links:")
        for link in links:
            share = link["anomalous_share"] * 100
            flag = "  LOW CONFIDENCE" if link["low_confidence"] else ""
            lines.append(
                f"  {link['link']}: pc_format {link['pc_format'] or '-'} ({link['decided_by']}), "
                f"{link['messages']} messages, {share:.1f} % anomalous{flag}"
            )
    if summary["by_rule"]:
        lines.append("by rule:")
        for rid, count in summary["by_rule"].items():
            severity, title = titles.get(rid, ("", ""))
            lines.append(f"  {count:>6}  {severity:<8}  {rid:<28}  {title}")
    if summary["by_trunk"]:
        lines.append("by trunk:")
        for trunk, count in summary["by_trunk"].items():
            lines.append(f"  {count:>6}  {trunk}")
    return lines


def write_lines(out: IO[str], lines: Iterable[str]) -> None:
    for line in lines:
        out.write(line + "\n")
