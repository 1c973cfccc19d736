"""Column layouts for decoded messages (``sigdiag decode``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sigdiag.codec.names import cause_name, location_short
from sigdiag.display import format_ts
from sigdiag.model import MESSAGE_KEYS
from sigdiag.settings import DecodeSettings

__all__ = ["MESSAGE_COLUMNS", "Cell", "file_column", "message_table_columns", "pc_formatter", "pc_printer"]

MESSAGE_COLUMNS: tuple[str, ...] = MESSAGE_KEYS

#: A table cell: the text of one column of a row.
Cell = Callable[[dict[str, Any]], str]


def pc_formatter(pc_display: str, default_format: str) -> Callable[[int | None, str | None], str]:
    """``pc(value, pc_format)``: a point code as ``pc_display`` shows it (decimal or structured) in its
    row's format (``default_format`` when the row has none); ``-`` for None.  Texts are cached."""
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


def pc_printer(settings: DecodeSettings) -> Callable[[int | None], str]:
    """``pc(value)``: a point code as the settings show it (decimal, or structured in the settings'
    format with ``--pc-display structured``); ``-`` for None: what findings and ladders print."""
    pc = pc_formatter(settings.pc_display, settings.pc_format)
    return lambda value: pc(value, None)


def file_column(with_file: bool) -> list[tuple[str, str, Cell]]:
    """The ``file`` column that rows from several files begin with (none for one file)."""
    return [("file", "<", lambda r: str(r["file"]))] if with_file else []


def message_table_columns(settings: DecodeSettings, with_file: bool = False) -> list[tuple[str, str, Cell]]:
    """Columns of the readable table: frame, UTC time, OPC -> DPC, CIC, message, digits, cause, anomalies,
    link (the signalling link the message was seen on)."""
    pc = pc_formatter(settings.pc_display, settings.pc_format)

    def route(r: dict[str, Any]) -> str:
        if r["opc"] is None and r["dpc"] is None:
            return r["carrier"]
        fmt = r.get("pc_format")
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

    return [
        *file_column(with_file),
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
