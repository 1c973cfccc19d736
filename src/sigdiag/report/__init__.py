"""Reporters: write tables of records as a terminal table, JSON Lines, CSV or Parquet.

Every reporter takes an iterable of dict rows with a fixed column order, so the same code serves
messages, calls and findings.  JSON Lines and CSV stream row by row; Parquet is written in batches
through pyarrow so memory stays bounded.  The table layouts: :mod:`sigdiag.report.messages` (``decode``)
and :mod:`sigdiag.report.calls` (``calls``, ``stats``); :mod:`sigdiag.report.frames` gives the calls and
KPIs as DataFrames with the outcomes the command line shows.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from sigdiag.display import format_ts

__all__ = [
    "FORMATS",
    "csv_safe",
    "format_ts",
    "write_csv",
    "write_jsonl",
    "write_parquet",
    "write_rows",
    "write_table",
]

FORMATS = ("table", "jsonl", "csv", "parquet")


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(dumps(row))
        out.write("\n")
        n += 1
    return n


def _flat(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


#: what a spreadsheet reads as the start of a formula (OWASP "CSV injection"): ``=``, ``+``, ``-``, ``@``,
#: tab and carriage return
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: a number written as text (``-12``, ``+8613800``, ``-0.5``, ``1e-3``): a spreadsheet reads it as a number
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_safe(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: a string starting with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return gets a leading ``'``, unless it is a number (``-12``, ``+8613800``);
    numbers and other values are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str], columns: Sequence[str]) -> int:
    """Rows as CSV (header first); cells neutralised against spreadsheet formulas (:func:`csv_safe`)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_safe(c) for c in columns])
    n = 0
    for row in rows:
        writer.writerow([csv_safe(_flat(row.get(c))) for c in columns])
        n += 1
    return n


def write_parquet(
    rows: Iterable[dict[str, Any]], path: str, columns: Sequence[str], batch: int = 50_000
) -> int:
    """Write rows to a Parquet file; nested values (dicts, lists) are stored as JSON text; times, causes
    and integers typed as :mod:`sigdiag.report.parquet` says."""
    import pyarrow.parquet as pq

    from sigdiag.report.parquet import arrow_table, with_pandas_metadata

    writer = None
    n = 0
    chunk: list[dict[str, Any]] = []
    schema = None

    def flush() -> None:
        nonlocal writer, schema
        cols = {c: [_parquet_value(r.get(c)) for r in chunk] for c in columns}
        table = arrow_table(cols, schema)
        if writer is None:
            schema = with_pandas_metadata(_widen(table.schema))
            table = table.cast(schema)
            writer = pq.ParquetWriter(path, schema)
        writer.write_table(table)
        chunk.clear()

    for row in rows:
        chunk.append(row)
        n += 1
        if len(chunk) >= batch:
            flush()
    if chunk or writer is None:
        flush()
    assert writer is not None
    writer.close()
    return n


def _widen(schema: Any) -> Any:
    """Null-typed columns (all values None in the first batch) become strings; ints become int64/float."""
    import pyarrow as pa

    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_null(t):
            t = pa.string()
        fields.append(pa.field(f.name, t))
    return pa.schema(fields)


def _parquet_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return dumps(value)
    return value


def write_table(
    rows: Iterable[dict[str, Any]],
    out: IO[str],
    columns: Sequence[tuple[str, str, Callable[[dict[str, Any]], str]]],
) -> int:
    """A plain aligned text table.  ``columns`` is (header, align '<' or '>', cell function).

    Column widths come from the header and the first 200 rows; longer cells are not cut.
    """
    head: list[list[str]] = []
    it = iter(rows)
    for row in it:
        head.append([fn(row) for _, _, fn in columns])
        if len(head) >= 200:
            break
    widths = [len(h) for h, _, _ in columns]
    for cells in head:
        widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [f"{c:{a}{w}}" for c, (_, a, _), w in zip(cells, columns, widths, strict=True)]
        return "  ".join(parts).rstrip() + "\n"

    out.write(line([h for h, _, _ in columns]))
    n = 0
    for cells in head:
        out.write(line(cells))
        n += 1
    for row in it:
        out.write(line([fn(row) for _, _, fn in columns]))
        n += 1
    return n


def write_rows(
    rows: Iterable[dict[str, Any]],
    fmt: str,
    out: IO[str] | None,
    path: str | None,
    columns: Sequence[str],
    table_columns: Sequence[tuple[str, str, Callable[[dict[str, Any]], str]]],
) -> int:
    """Write rows in ``fmt`` to ``out`` (text formats) or ``path`` (Parquet; required)."""
    if fmt == "parquet":
        if path is None:
            raise ValueError("Parquet output needs --output PATH")
        return write_parquet(rows, path, columns)
    assert out is not None
    if fmt == "jsonl":
        return write_jsonl(rows, out)
    if fmt == "csv":
        return write_csv(rows, out, columns)
    if fmt == "table":
        return write_table(rows, out, table_columns)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
