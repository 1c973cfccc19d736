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

import copyreg
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from itertools import repeat
from operator import attrgetter, itemgetter
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
    "positioned_frames",
    "schema",
    "with_positions",
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
    """A frame number that knows the file it is in (:attr:`file`) and, read by an audit, its position in
    the capture point (:attr:`number`: the file's number in the point; :attr:`sub`: the message's index
    in its frame).

    The audit gives every message it reads a ``frame`` of this type, so a call's timeline (its frames)
    names the file of each frame even when the call spans a rotation boundary, or a message read in one
    file joins its call in the next.  Everywhere else it is the frame number: it compares, hashes, prints
    and serialises (JSON, Arrow) as that int.  One subclass per file (and position) holds them: no
    per-frame memory beyond the int's.

    Pickled as its class and the int (a point's saved state holds tens of thousands of frames): the
    class is written once per pickle, by a name that spells the path and the position (found again in any
    process), and a frame is reduced without a call into Python (:data:`copyreg.dispatch_table`, for the
    files in use) and made again by calling its class.
    """

    __slots__ = ()
    file: str | None = None
    number: int | None = None
    sub: int = 0
    base: int | None = None
    #: ``(frame,)``: what the class is called with to make the frame again
    _args = property(int.__getnewargs__)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, tuple[int]]:
        return (self.__class__, (int(self),))  # (a pickler with a dispatch table of its own)


#: the reduction of a frame registered for the classes of recent files (C calls only)
_REDUCE = attrgetter("__class__", "_args")
#: what makes a class of frames: (path, number of the file in its point, index in the frame)
_Key = tuple[str | None, int | None, int]


class _FrameClasses:
    """The class of the frames of a file, found by its name (how pickle finds the class of a frame:
    ``sigdiag.audit.tables._FRAME_CLASSES.<name>``, :func:`_class_name`)."""

    def __getattr__(self, name: str) -> type[FileFrame]:
        try:
            return _frame_class(_key_of(name))
        except ValueError:
            raise AttributeError(name) from None


_FRAME_CLASSES = _FrameClasses()
#: the class of each file's frames while it is alive: one class per key (pickle checks that the class it
#: finds by name is the frame's own)
_LIVE: weakref.WeakValueDictionary[_Key, type[FileFrame]] = weakref.WeakValueDictionary()
#: the classes of the most recent files, kept alive and registered with copyreg (bounded: a long-lived
#: worker sees many files; a class dropped from here still pickles, through ``__reduce_ex__``)
_RECENT: OrderedDict[_Key, type[FileFrame]] = OrderedDict()
_RECENT_MAX = 4096
_LOCK = threading.Lock()


def _class_name(key: _Key) -> str:
    """``f`` and the hex digits of the path's bytes (``n``: no path), then ``_number_sub`` for a frame
    with a position (``x``: no number): a name without dots or other signs."""
    path, number, sub = key
    name = "n" if path is None else "f" + path.encode("utf-8", "surrogateescape").hex()
    if number is None and sub == 0:
        return name
    return f"{name}_{'x' if number is None else number}_{sub}"


def _key_of(name: str) -> _Key:
    """The key :func:`_class_name` spelled (ValueError: not such a name)."""
    head, *position = name.split("_")
    if head == "n":
        path = None
    elif head.startswith("f"):
        path = bytes.fromhex(head[1:]).decode("utf-8", "surrogateescape")
    else:
        raise ValueError(name)
    if not position:
        return (path, None, 0)
    number, sub = position  # (ValueError when not two)
    return (path, None if number == "x" else int(number), int(sub))


def _frame_class(key: _Key) -> type[FileFrame]:
    with _LOCK:
        cls = _RECENT.get(key)
        if cls is not None:
            _RECENT.move_to_end(key)
            return cls
        cls = _LIVE.get(key)
        if cls is None:
            path, number, sub = key
            body = {
                "__slots__": (),
                "file": path,
                "number": number,
                "sub": sub,
                # what the frame number adds to, times 1,000, for the message's position in its capture
                # point (:func:`sigdiag.audit.parts.position`: file number x 10^12 + frame x 10^3 + sub)
                "base": None if number is None else number * 10**12 + sub,
                "__module__": __name__,
                "__qualname__": f"_FRAME_CLASSES.{_class_name(key)}",
            }
            cls = _LIVE[key] = type("FileFrame", (FileFrame,), body)
        _RECENT[key] = cls
        copyreg.pickle(cls, _REDUCE)
        while len(_RECENT) > _RECENT_MAX:
            copyreg.dispatch_table.pop(_RECENT.popitem(last=False)[1], None)
        return cls


def file_frame(frame: int, path: str | None) -> FileFrame:
    """Frame ``frame`` of file ``path`` (also how frames pickled by earlier versions are read)."""
    return _frame_class((path, None, 0))(frame)


def frames_of(path: str) -> type[FileFrame]:
    """The constructor of frame numbers of ``path`` (``frames_of(p)(n)``: frame n of p)."""
    return _frame_class((path, None, 0))


def positioned_frames(path: str, number: int) -> Callable[[int, int], FileFrame]:
    """``frame_of(frame, sub)``: frame ``frame`` of file ``path``, the file ``number`` of its capture
    point, for the message ``sub`` of the frame (0 for the first, 1 for the second one an SCTP packet
    carries...)."""
    classes: list[type[FileFrame]] = []

    def frame_of(frame: int, sub: int) -> FileFrame:
        while sub >= len(classes):
            classes.append(_frame_class((path, number, len(classes))))
        return classes[sub](frame)

    return frame_of


def with_positions(messages: Iterable[Any], path: str, number: int) -> Iterator[Any]:
    """The messages of file ``path`` (file ``number`` of its capture point), each given a frame that knows
    its file and its position (:func:`positioned_frames`; the messages of one frame numbered in order)."""
    frame_of = positioned_frames(path, number)
    last, sub = -1, 0
    for m in messages:
        f = int(m.frame)
        sub = sub + 1 if f == last else 0
        last = f
        m.frame = frame_of(f, sub)
        yield m


def _file_of(frame: Any) -> str | None:
    return frame.file if isinstance(frame, FileFrame) else None


# -- columns -------------------------------------------------------------------------------------------------
def _after(keys: list[str], anchor: str, new: str) -> list[str]:
    """``keys`` with ``new`` right after ``anchor`` (at the end when there is no anchor)."""
    if anchor in keys:
        i = keys.index(anchor) + 1
        return [*keys[:i], new, *keys[i:]]
    return [*keys, new]


@cache
def _columns(table: str) -> tuple[tuple[str, str], ...]:
    if table == "calls":
        from sigdiag.calls.correlate import CALL_KEYS

        keys = [*_after(list(CALL_KEYS), "frames", "frame_files"), "trunk", "point", "file"]
        return tuple((k, _CALL_TYPES.get(k, _STR)) for k in keys)
    if table == "anomalies":
        return tuple((k, _ANOMALY_TYPES.get(k, _STR)) for k in ANOMALY_KEYS)
    from sigdiag.rules.engine import FINDING_KEYS

    keys = [*_after(list(FINDING_KEYS), "frames", "frame_files"), "ts", "point", "file"]
    return tuple((k, _FINDING_TYPES.get(k, _STR)) for k in keys)


@cache  # (a schema is immutable; its pandas metadata costs a package look-up)
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


#: ``json.dumps(v, default=str, sort_keys=True)`` (one encoder, not one made per call)
_json = json.JSONEncoder(default=str, sort_keys=True).encode


def _text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return _json(v)


_PLAIN_TEXT = frozenset((str, type(None)))
_STRINGS = frozenset((str,))


def _texts(values: Sequence[Any]) -> Sequence[Any]:
    """:func:`_text` of each value (the values themselves when all are text or None); a list of strings
    is written once per distinct list (a call's ``links``: the same few lists again and again)."""
    if set(map(type, values)) <= _PLAIN_TEXT:
        return values
    seen: dict[tuple[str, ...], str] = {}
    out: list[str | None] = []
    for v in values:
        if type(v) is list and set(map(type, v)) <= _STRINGS:
            key = tuple(v)
            text = seen.get(key)
            if text is None:
                text = seen[key] = _json(v)
            out.append(text)
        else:
            out.append(_text(v))
    return out


def _column_values(rows: list[dict[str, Any]], keys: list[str]) -> Sequence[Sequence[Any]]:
    """The values of each key in the rows, a sequence per key (None where a row has not the key)."""
    if not rows:
        return [[] for _ in keys]
    try:  # row by row while a row is in the cache (column by column is twice as slow on 20,000 rows)
        return list(zip(*map(itemgetter(*keys), rows), strict=True))
    except KeyError:  # (a finding without frames has no frame_files)
        return [list(map(dict.get, rows, repeat(k))) for k in keys]


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
            row[k] = _json(row[k])
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

    import pyarrow as pa
    import pyarrow.parquet as pq

    from sigdiag.audit.store import store_error
    from sigdiag.report.parquet import arrow_table

    cols = _columns(table)
    keys = [k for k, _ in cols]
    data: dict[str, Sequence[Any]] = {}
    for (k, t), values in zip(cols, _column_values(rows, keys), strict=True):
        data[k] = _texts(values) if t == _STR else values
    buf = pa.BufferOutputStream()  # (then one write: a full disk fails it, not pyarrow's writer)
    pq.write_table(arrow_table(data, schema(table)), buf, compression="zstd")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
            return f.tell()
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        raise store_error(path, exc) from None
