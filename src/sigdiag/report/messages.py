"""Column layouts for decoded messages (``sigdiag decode``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sigdiag.codec.names import cause_name, location_short
from sigdiag.model import MESSAGE_KEYS
from sigdiag.report import format_ts
from sigdiag.settings import DecodeSettings

__all__ = ["MESSAGE_COLUMNS", "message_table_columns"]

MESSAGE_COLUMNS: tuple[str, ...] = MESSAGE_KEYS

Cell = Callable[[dict[str, Any]], str]


def message_table_columns(settings: DecodeSettings, with_file: bool = False) -> list[tuple[str, str, Cell]]:
    """Columns of the readable table: frame, UTC time, OPC -> DPC, CIC, message, digits, cause, anomalies,
    link (the signalling link the message was seen on)."""
    from sigdiag.carrier.mtp import format_pc

    structured = settings.pc_display == "structured"
    cache: dict[tuple[int, str], str] = {}

    def pc(value: int | None, fmt: str) -> str:
        if value is None:
            return "-"
        key = (value, fmt)
        text = cache.get(key)
        if text is None:
            text = cache[key] = format_pc(value, fmt, structured)
        return text

    def route(r: dict[str, Any]) -> str:
        if r["opc"] is None and r["dpc"] is None:
            return r["carrier"]
        fmt = r.get("pc_format") or settings.pc_format
        return f"{pc(r['opc'], fmt)} -> {pc(r['dpc'], fmt)}"

    def called(r: dict[str, Any]) -> str:
        if r["called"] is not None:
            return r["called"] + (" ST" if r["called_complete"] else "")
        if r["subsequent"] is not None:
            return "+" + r["subsequent"] + (" ST" if r["called_complete"] else "")
        return ""

    def cause(r: dict[str, Any]) -> str:
        if r["cause"] is None:
            return ""
        return f"{r['cause']} {cause_name(r['cause'])} ({location_short(r['cause_location'])})"

    def anomalies(r: dict[str, Any]) -> str:
        return ",".join(a["name"] for a in r["anomalies"])

    cols: list[tuple[str, str, Cell]] = []
    if with_file:
        cols.append(("file", "<", lambda r: str(r["file"])))
    cols += [
        ("frame", ">", lambda r: str(r["frame"])),
        ("time (UTC)", "<", lambda r: format_ts(r["ts"])),
        ("opc -> dpc", "<", route),
        ("cic", ">", lambda r: "" if r["cic"] is None else str(r["cic"])),
        ("msg", "<", lambda r: r["type"]),
        ("called", "<", called),
        ("calling", "<", lambda r: r["calling"] or ""),
        ("cause", "<", cause),
        ("anomalies", "<", anomalies),
        ("link", "<", lambda r: r.get("link") or ""),
    ]
    return cols
