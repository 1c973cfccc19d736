"""Readable table layouts for call records and KPI rows (the other formats write the keys as they are).

One convention for every text output (``calls``, ``stats``, ``check``): delays such as the PDD in seconds
with millisecond precision and the unit (``1.234 s``, :func:`seconds_text`), rates such as the ASR as a
percentage with one decimal (``45.5 %``, :func:`pct_text`), cause locations by their Q.850 abbreviation
(``38 TN``, :func:`cause_text`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sigdiag.report import format_ts

__all__ = [
    "call_table_columns",
    "cause_text",
    "ms_text",
    "pct_text",
    "seconds_text",
    "stats_table_columns",
]

Cell = Callable[[dict[str, Any]], str]


def _pc_formatter(pc_display: str, default_format: str) -> Callable[[int | None, str | None], str]:
    from sigdiag.carrier.mtp import format_pc

    structured = pc_display == "structured"
    cache: dict[tuple[int, str], str] = {}

    def pc(value: int | None, fmt: str | None) -> str:
        if value is None:
            return "-"
        key = (value, fmt or default_format)
        text = cache.get(key)
        if text is None:
            text = cache[key] = format_pc(value, key[1], structured)
        return text

    return pc


def seconds_text(value: float | None, digits: int = 3) -> str:
    """Seconds with the unit: ``1.234 s``; empty for None."""
    if value is None:
        return ""
    return f"{value:.{digits}f} s"


def ms_text(value: float | None) -> str:
    """A delay given in milliseconds (``pdd_ms``...) in the text convention: seconds, ``1.234 s``."""
    return "" if value is None else seconds_text(value / 1000.0)


def pct_text(value: float | None) -> str:
    """A rate (0..1) as a percentage with one decimal: ``45.5 %``; empty for None."""
    return "" if value is None else f"{value * 100:.1f} %"


def cause_text(cause: int | None, location: int | None, name: bool = False) -> str:
    """A cause value with its location's Q.850 abbreviation: ``38 TN`` (``name``: ``38 Network out of
    order, TN``); empty for None."""
    from sigdiag.codec.names import cause_name, location_short

    if cause is None:
        return ""
    loc = location_short(location)
    if name:
        return f"{cause} {cause_name(cause)}" + (f", {loc}" if loc else "")
    return f"{cause} {loc}" if loc else str(cause)


def call_table_columns(
    pc_display: str = "decimal", pc_format: str = "itu", with_file: bool = False
) -> list[tuple[str, str, Cell]]:
    """Columns: call, IAM frame, start (UTC), OPC -> DPC, CIC, called, calling, outcome, cause (value and
    location), released by, phase, PDD, conversation, flags, link (every link the call was seen on)."""
    pc = _pc_formatter(pc_display, pc_format)

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

    cols: list[tuple[str, str, Cell]] = []
    if with_file:
        cols.append(("file", "<", lambda r: str(r["file"])))
    cols += [
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
    return cols


def stats_table_columns() -> list[tuple[str, str, Cell]]:
    """Columns of the KPI table (rates as percentages, delays in seconds)."""

    def causes(r: dict[str, Any]) -> str:
        return " ".join(f"{c}x{n}" for c, n in r["top_causes"])

    return [
        ("group", "<", lambda r: str(r["group"])),
        ("seizures", ">", lambda r: str(r["seizures"])),
        ("open", ">", lambda r: str(r["open"])),
        ("answered", ">", lambda r: str(r["answered"])),
        ("asr", ">", lambda r: pct_text(r["asr"])),
        ("ner", ">", lambda r: pct_text(r["ner"])),
        ("conn", ">", lambda r: pct_text(r["connection_rate"])),
        ("net loss", ">", lambda r: pct_text(r["network_loss_rate"])),
        ("subscr", ">", lambda r: str(r["subscriber_failures"])),
        ("caller", ">", lambda r: str(r["caller_failures"])),
        ("network", ">", lambda r: str(r["network_loss"])),
        ("effective", ">", lambda r: pct_text(r["effective_rate"])),
        ("conv", ">", lambda r: seconds_text(r["avg_conversation_s"], 1)),
        ("pdd", ">", lambda r: ms_text(r["pdd_mean_ms"])),
        ("pdd p95", ">", lambda r: ms_text(r["pdd_p95_ms"])),
        ("repeats", ">", lambda r: str(r["repeat_attempts"])),
        ("top causes", "<", causes),
    ]
