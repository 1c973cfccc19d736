"""Readable table layouts of call records (``sigdiag calls``) and KPI rows (``sigdiag stats``); the other
formats write the keys as they are.  Delays, rates and causes as :mod:`sigdiag.calls.report` writes them
in every text output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sigdiag.calls.report import cause_text
from sigdiag.display import format_ts, ms_text, pct_text, seconds_text
from sigdiag.report.messages import Cell, file_column, pc_formatter

__all__ = ["call_table_columns", "stats_table_columns"]


def call_table_columns(
    pc_display: str = "decimal", pc_format: str = "itu", with_file: bool = False
) -> list[tuple[str, str, Cell]]:
    """Columns: call, IAM frame, start (UTC), OPC -> DPC, CIC, called, calling, outcome, cause (value and
    location), released by, phase, PDD, conversation, flags, link (every link the call was seen on)."""
    pc = pc_formatter(pc_display, pc_format)

    def route(r: dict[str, Any]) -> str:
        if r["opc"] is None and r["dpc"] is None:
            return r.get("carrier") or "-"
        fmt = r.get("pc_format")
        return f"{pc(r['opc'], fmt)} -> {pc(r['dpc'], fmt)}"

    def called(r: dict[str, Any]) -> str:
        text = r["called"] or ""
        if r["called_complete"]:
            text += " ST"
        if r["sam_count"]:
            text += f" ({r['sam_count']} SAM)"
        return text

    def outcome(r: dict[str, Any]) -> str:
        text = f"{r['outcome']}/{r['outcome_detail']}"
        if r.get("outcome_by") not in (None, "outcomes"):
            text += f" [{r['outcome_by']}]"
        return text

    def cause(r: dict[str, Any]) -> str:
        return cause_text(r["cause"], r["cause_location"])

    return [
        *file_column(with_file),
        ("call", ">", lambda r: str(r["call_id"])),
        ("iam", ">", lambda r: str(r["iam_frame"])),
        ("start (UTC)", "<", lambda r: format_ts(r["start"])),
        ("opc -> dpc", "<", route),
        ("cic", ">", lambda r: "" if r["cic"] is None else str(r["cic"])),
        ("called", "<", called),
        ("calling", "<", lambda r: r["calling"] or ""),
        ("outcome", "<", outcome),
        ("cause", "<", cause),
        ("by", "<", lambda r: r["released_by"] or ""),
        ("phase", "<", lambda r: r["phase"]),
        ("pdd", ">", lambda r: ms_text(r["pdd_ms"])),
        ("conv", ">", lambda r: seconds_text(r["conversation_s"], 1)),
        ("flags", "<", lambda r: ",".join(r["flags"])),
        ("link", "<", lambda r: " + ".join(r.get("links") or [r.get("link") or ""])),
    ]


def _causes(top: list[tuple[Any, int]]) -> str:
    return " ".join(f"{c}x{n}" for c, n in top)


def _one_decimal(value: float | None) -> str:
    return seconds_text(value, 1)


#: The KPI table: header, alignment, key, text of the value.
_STATS_COLUMNS: tuple[tuple[str, str, str, Callable[[Any], str]], ...] = (
    ("group", "<", "group", str),
    ("seizures", ">", "seizures", str),
    ("open", ">", "open", str),
    ("answered", ">", "answered", str),
    ("asr", ">", "asr", pct_text),
    ("ner", ">", "ner", pct_text),
    ("conn", ">", "connection_rate", pct_text),
    ("net loss", ">", "network_loss_rate", pct_text),
    ("subscr", ">", "subscriber_failures", str),
    ("caller", ">", "caller_failures", str),
    ("network", ">", "network_loss", str),
    ("effective", ">", "effective_rate", pct_text),
    ("conv", ">", "avg_conversation_s", _one_decimal),
    ("pdd", ">", "pdd_mean_ms", ms_text),
    ("pdd p95", ">", "pdd_p95_ms", ms_text),
    ("repeats", ">", "repeat_attempts", str),
    ("top causes", "<", "top_causes", _causes),
)


def _cell(key: str, text: Callable[[Any], str]) -> Cell:
    return lambda r: text(r[key])


def stats_table_columns() -> list[tuple[str, str, Cell]]:
    """Columns of the KPI table (rates as percentages, delays in seconds)."""
    return [(header, align, _cell(key, text)) for header, align, key, text in _STATS_COLUMNS]
