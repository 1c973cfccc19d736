"""The stored tables: one row per call (``calls``), per finding (``findings``) and per anomaly or damaged
file (``anomalies``), fixed Parquet schemas.

``calls`` has the :data:`~sigdiag.calls.correlate.CALL_KEYS` of ``sigdiag calls`` plus ``frame_files``
(parallel to ``frames``: the file of each frame, as the path the ``file`` column uses), ``trunk`` (named as
``sigdiag stats --by trunk`` names it), ``point`` (the capture point) and ``file`` (the file being read
when the call ended).  ``findings`` has the :data:`~sigdiag.rules.engine.FINDING_KEYS` of ``sigdiag
check`` plus ``frame_files``, ``ts`` (the finding's time), ``point`` and ``file``; ``calls``, ``frames``,
``frame_files``, ``evidence`` and ``ladder`` are JSON text there.  ``anomalies`` has ``point``, ``file``,
``file_status`` (``audited``: the file's calls are in ``calls``; ``skipped``: they are not), ``scope``
(``file``: the file as a whole, ``frame``: a frame that gave no message, ``message``: a decoded
message), ``frame``, ``ts``, ``name`` (a decoding anomaly of :data:`sigdiag.anomalies.CATALOGUE`, or
``file.unreadable``, ``file.not_a_capture``, ``file.broken``, ``file.anomalies_not_stored``) and
``detail``.  Tables are partitioned by ``day`` (UTC, of the call's IAM / the finding's time / the file's
first record).

Times are ``timestamp[us, tz=UTC]``, cause values and locations nullable ``int16``, and pandas reads
integer columns as nullable integers (:mod:`sigdiag.report.parquet`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "ANOMALY_KEYS",
    "FileFrame",
    "anomaly_row",
    "call_row",
    "file_frame",
    "finding_row",
    "frames_of",
    "schema",
    "write_part",
]

_INT = "int64"
_INT16 = "int16"
_FLOAT = "float64"
_BOOL = "bool"
_STR = "string"
_TIME = "time"

#: The columns a call row and a finding row share (the call's identity), typed alike.
_CALL_ID_TYPES: dict[str, str] = {
    "call_id": _INT,
    "opc": _INT,
    "dpc": _INT,
    "cic": _INT,
    "iam_frame": _INT,
    "start": _TIME,
}
_CALL_TYPES: dict[str, str] = {
    **_CALL_ID_TYPES,
    "end": _TIME,
    "called_complete": _BOOL,
    "calling_nai": _INT,
    "sam_count": _INT,
    "acm_ts": _TIME,
    "alert_ts": _TIME,
    "anm_ts": _TIME,
    "rel_ts": _TIME,
    "rlc_ts": _TIME,
    "release_wait_ms": _FLOAT,
    "cause": _INT16,
    "cause_location": _INT16,
    "pdd_ms": _FLOAT,
    "answer_delay_ms": _FLOAT,
    "conversation_s": _FLOAT,
    "duplicates": _INT,
    "flags": "list<string>",
    "frames": "list<int64>",
    "frame_files": "list<string>",
}
_FINDING_TYPES: dict[str, str] = {
    **_CALL_ID_TYPES,
    "window_start": _TIME,
    "window_end": _TIME,
    "count": _INT,
    "ts": _TIME,
}
_JSON_FINDING = frozenset(("calls", "frames", "frame_files", "evidence", "ladder"))

#: Columns of the ``anomalies`` table.
ANOMALY_KEYS: tuple[str, ...] = ("point", "file", "file_status", "scope", "frame", "ts", "name", "detail")
_ANOMALY_TYPES: dict[str, str] = {"frame": _INT, "ts": _TIME}


# -- frames that know their file -----------------------------------------------------------------------------
class FileFrame(int):
    """A frame number that knows the file it is in (:attr:`file`).

    The audit gives every message it reads a ``frame`` of this type, so a call's timeline (its frames)
    names the file of each frame even when the call spans a rotation boundary, or a message read in one
    file joins its call in the next.  Everywhere else it is the frame number: it compares, hashes, prints
    and serialises (JSON, Arrow) as that int.  One subclass per file holds the path (no per-frame memory
    beyond the int's); pickled as ``(frame, path)``.
    """

    __slots__ = ()
    file: str | None = None

    def __reduce__(self) -> tuple[Any, tuple[int, str | None]]:
        return (file_frame, (int(self), self.file))


@lru_cache(maxsize=4096)  # (a class made again after eviction is as good: only ``file`` is read)
def _frame_class(path: str | None) -> type[FileFrame]:
    return type("FileFrame", (FileFrame,), {"__slots__": (), "file": path, "__module__": __name__})


def file_frame(frame: int, path: str | None) -> FileFrame:
    """Frame ``frame`` of file ``path``."""
    return _frame_class(path)(frame)


def frames_of(path: str) -> type[FileFrame]:
    """The constructor of frame numbers of ``path`` (``frames_of(p)(n)``: frame n of p)."""
    return _frame_class(path)


def _file_of(frame: Any) -> str | None:
    return frame.file if isinstance(frame, FileFrame) else None


# -- columns -------------------------------------------------------------------------------------------------
def _after(keys: list[str], anchor: str, new: str) -> list[str]:
    """``keys`` with ``new`` right after ``anchor`` (at the end when there is no anchor)."""
    if anchor in keys:
        i = keys.index(anchor) + 1
        return [*keys[:i], new, *keys[i:]]
    return [*keys, new]


def _columns(table: str) -> list[tuple[str, str]]:
    if table == "calls":
        from sigdiag.calls.correlate import CALL_KEYS

        keys = [*_after(list(CALL_KEYS), "frames", "frame_files"), "trunk", "point", "file"]
        return [(k, _CALL_TYPES.get(k, _STR)) for k in keys]
    if table == "anomalies":
        return [(k, _ANOMALY_TYPES.get(k, _STR)) for k in ANOMALY_KEYS]
    from sigdiag.rules.engine import FINDING_KEYS

    keys = [*_after(list(FINDING_KEYS), "frames", "frame_files"), "ts", "point", "file"]
    return [(k, _FINDING_TYPES.get(k, _STR)) for k in keys]


def schema(table: str) -> Any:
    """The pyarrow schema of ``calls``, ``findings`` or ``anomalies`` (with its pandas metadata)."""
    import pyarrow as pa

    from sigdiag.report.parquet import timestamp_type, with_pandas_metadata

    types = {
        _INT: pa.int64(),
        _INT16: pa.int16(),
        _FLOAT: pa.float64(),
        _BOOL: pa.bool_(),
        _STR: pa.string(),
        _TIME: timestamp_type(),
        "list<string>": pa.list_(pa.string()),
        "list<int64>": pa.list_(pa.int64()),
    }
    return with_pandas_metadata(pa.schema([(k, types[t]) for k, t in _columns(table)]))


def _text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, default=str, sort_keys=True)


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


# -- rows ----------------------------------------------------------------------------------------------------
def call_row(call: Any, trunk: str, point: str, file: str) -> dict[str, Any]:
    row = call.as_dict()
    frames = row["frames"]
    row["frames"] = [int(f) for f in frames]
    row["frame_files"] = [_file_of(f) for f in frames]
    row["iam_frame"] = _int(row["iam_frame"])
    row["trunk"] = trunk
    row["point"] = point
    row["file"] = file
    return row


def finding_row(f: Any, point: str, file: str) -> dict[str, Any]:
    row = f.as_dict()
    frames = row.get("frames")
    if frames is not None:
        row["frame_files"] = [_file_of(x) for x in frames]
        row["frames"] = [int(x) for x in frames]
    row["iam_frame"] = _int(row.get("iam_frame"))
    for k in _JSON_FINDING:
        if k in row and row[k] is not None:
            row[k] = json.dumps(row[k], default=str, sort_keys=True)
    row["ts"] = f.ts
    row["point"] = point
    row["file"] = file
    return row


def anomaly_row(
    point: str,
    file: str,
    status: str,
    scope: str,
    name: str,
    detail: str = "",
    frame: int | None = None,
    ts: float | None = None,
) -> dict[str, Any]:
    """One row of ``anomalies`` (``status``: ``audited`` or ``skipped``; ``scope``: ``file``, ``frame``
    or ``message``)."""
    return {
        "point": point,
        "file": file,
        "file_status": status,
        "scope": scope,
        "frame": _int(frame),
        "ts": ts,
        "name": name,
        "detail": detail,
    }


def write_part(table: str, rows: list[dict[str, Any]], path: Path) -> int:
    """Write rows as one Parquet file (fsync'ed: it is renamed into place only after the commit); its
    size in bytes.  Raises :class:`~sigdiag.audit.store.StoreError` when it cannot (a full disk, a
    read-only folder), with nothing left at ``path``."""
    import contextlib
    import os

    import pyarrow.parquet as pq

    from sigdiag.audit.store import store_error
    from sigdiag.report.parquet import arrow_table

    cols = _columns(table)
    data: dict[str, list[Any]] = {}
    for k, t in cols:
        values = [r.get(k) for r in rows]
        if t == _STR:
            values = [_text(v) for v in values]
        data[k] = values
    tbl = arrow_table(data, schema(table))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pq.write_table(tbl, f, compression="zstd")
            f.flush()
            os.fsync(f.fileno())
            return f.tell()
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        raise store_error(path, exc) from None
