"""Findings for people: one block per finding (what happened, evidence, ladder, outcome, fix), then a
summary per rule and per trunk.  Times print in UTC."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, Any

from sigdiag.rules.engine import Finding

__all__ = ["format_finding", "format_summary", "utc"]

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
        where.append(f"{utc(f.window_start)} .. {utc(f.window_end)}, {f.count} records")
    else:
        where.append(utc(f.ts))
    if f.file:
        where.append(f.file)
    lines = [f"{head}  {f.title}", "  " + " | ".join(where)]
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


def format_summary(summary: dict[str, Any], titles: dict[str, tuple[str, str]]) -> list[str]:
    """Summary lines: counts, then findings per rule (with severity) and per trunk."""
    n = summary["findings"]
    lines = [
        f"{summary['calls']} calls, {summary['messages']} messages, {summary['rules']} rules: "
        f"{n} finding{'s' if n != 1 else ''}"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in summary["by_severity"].items()) + ")"
            if summary["by_severity"]
            else ""
        )
    ]
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
