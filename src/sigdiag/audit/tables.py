"""The stored tables: one row per call (``calls``) and per finding (``findings``), fixed Parquet schemas.

``calls`` has the :data:`~sigdiag.calls.correlate.CALL_KEYS` of ``sigdiag calls`` plus ``trunk`` (named as
``sigdiag stats --by trunk`` names it), ``point`` (the capture point) and ``file`` (the file being read
when the call ended).  ``findings`` has the :data:`~sigdiag.rules.engine.FINDING_KEYS` of ``sigdiag
check`` plus ``ts`` (the finding's time), ``point`` and ``file``; ``calls``, ``frames``, ``evidence`` and
``ladder`` are JSON text.  Both are partitioned by ``day`` (UTC, of the call's IAM / the finding's time).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["call_row", "finding_row", "schema", "write_part"]

_INT = "int64"
_FLOAT = "float64"
_BOOL = "bool"
_STR = "string"

_CALL_TYPES: dict[str, str] = {
    "call_id": _INT,
    "opc": _INT,
    "dpc": _INT,
    "cic": _INT,
    "iam_frame": _INT,
    "start": _FLOAT,
    "end": _FLOAT,
    "called_complete": _BOOL,
    "calling_nai": _INT,
    "sam_count": _INT,
    "acm_ts": _FLOAT,
    "alert_ts": _FLOAT,
    "anm_ts": _FLOAT,
    "rel_ts": _FLOAT,
    "rlc_ts": _FLOAT,
    "cause": _INT,
    "cause_location": _INT,
    "pdd_ms": _FLOAT,
    "answer_delay_ms": _FLOAT,
    "conversation_s": _FLOAT,
    "duplicates": _INT,
    "flags": "list<string>",
    "frames": "list<int64>",
}
_FINDING_TYPES: dict[str, str] = {
    "call_id": _INT,
    "opc": _INT,
    "dpc": _INT,
    "cic": _INT,
    "iam_frame": _INT,
    "start": _FLOAT,
    "window_start": _FLOAT,
    "window_end": _FLOAT,
    "count": _INT,
    "ts": _FLOAT,
}
_JSON_FINDING = frozenset(("calls", "frames", "evidence", "ladder"))


def _columns(table: str) -> list[tuple[str, str]]:
    if table == "calls":
        from sigdiag.calls.correlate import CALL_KEYS

        keys = [*CALL_KEYS, "trunk", "point", "file"]
        return [(k, _CALL_TYPES.get(k, _STR)) for k in keys]
    from sigdiag.rules.engine import FINDING_KEYS

    keys = [*FINDING_KEYS, "ts", "point", "file"]
    return [(k, _FINDING_TYPES.get(k, _STR)) for k in keys]


def schema(table: str) -> Any:
    """The pyarrow schema of ``calls`` or ``findings``."""
    import pyarrow as pa

    types = {
        _INT: pa.int64(),
        _FLOAT: pa.float64(),
        _BOOL: pa.bool_(),
        _STR: pa.string(),
        "list<string>": pa.list_(pa.string()),
        "list<int64>": pa.list_(pa.int64()),
    }
    return pa.schema([(k, types[t]) for k, t in _columns(table)])


def _text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, default=str, sort_keys=True)


def call_row(call: Any, trunk: str, point: str, file: str) -> dict[str, Any]:
    row = call.as_dict()
    row["trunk"] = trunk
    row["point"] = point
    row["file"] = file
    return row


def finding_row(f: Any, point: str, file: str) -> dict[str, Any]:
    row = f.as_dict()
    for k in _JSON_FINDING:
        if k in row and row[k] is not None:
            row[k] = json.dumps(row[k], default=str, sort_keys=True)
    row["ts"] = f.ts
    row["point"] = point
    row["file"] = file
    return row


def write_part(table: str, rows: list[dict[str, Any]], path: Path) -> None:
    """Write rows as one Parquet file (fsync'ed: it is renamed into place only after the commit)."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = _columns(table)
    data: dict[str, list[Any]] = {}
    for k, t in cols:
        values = [r.get(k) for r in rows]
        if t == _STR:
            values = [_text(v) for v in values]
        data[k] = values
    tbl = pa.Table.from_pydict(data, schema=schema(table))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pq.write_table(tbl, f, compression="zstd")
        f.flush()
        os.fsync(f.fileno())
