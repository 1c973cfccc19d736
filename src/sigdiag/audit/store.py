"""The audit's output folder: atomic files, per-capture-point state (the commit point), Parquet parts.

Layout of ``OUT``::

    calls/day=YYYY-MM-DD/part-<point>-<seq>-<chunk>.parquet     call records (hive-partitioned by UTC day)
    findings/day=YYYY-MM-DD/part-<point>-<seq>-<chunk>.parquet  findings
    anomalies/day=YYYY-MM-DD/part-<point>-<seq>-<chunk>.parquet anomalies and damaged files
    _state/run.json                                             the run's settings (fingerprint, bucket...)
    _state/<point>.json                                         one capture point's committed state
    _state/<point>-<seq>.snap                                   its correlator + engine after file <seq>

Files whose names start with ``.`` or ``_`` are ignored by pyarrow/pandas/DuckDB dataset readers, so
parts are written under a staging name (``_staging/``) and renamed once the state file that lists them is
committed (see :mod:`sigdiag.audit` for the protocol and :func:`recover` for the roll-forward).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "STATE_DIR",
    "TABLES",
    "StoreError",
    "atomic_write",
    "check_part",
    "committed_parts",
    "load_state",
    "recover",
    "save_state",
    "state_files",
    "store_op",
]

STATE_DIR = "_state"
#: Uncommitted part files, outside the table folders (``_staging/<table>/day=<day>/<part>``).
STAGING_DIR = "_staging"
TABLES = ("calls", "findings", "anomalies")


class StoreError(Exception):
    """The output folder cannot be written (full disk, read-only file system, no permission...).

    ``str(exc)`` is one line naming the path and the system's reason; ``errno`` is the OSError's.  What
    is already committed stays as it was: a write that fails happens before its commit point, and what it
    leaves is outside the tables and removed by the next run.
    """

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message, errno)
        self.message = message
        self.errno = errno

    def __str__(self) -> str:
        return self.message


def store_error(path: Path | str, exc: OSError, doing: str = "write") -> StoreError:
    return StoreError(f"cannot {doing} {path}: {exc.strerror or exc}", exc.errno)


@contextlib.contextmanager
def store_op(path: Path | str, doing: str = "write") -> Iterator[None]:
    """Turn an OSError raised while writing ``path`` into a :class:`StoreError` naming it."""
    try:
        yield
    except OSError as exc:
        raise store_error(getattr(exc, "filename", None) or path, exc, doing) from None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all or nothing: a temporary file in the same folder, fsync, rename.

    Raises :class:`StoreError` when it cannot (``path`` is then as it was, the temporary file removed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise store_error(path, exc) from None
    _fsync_dir(path.parent)


def state_path(out: Path, pid: str) -> Path:
    return out / STATE_DIR / f"{pid}.json"


def state_files(out: Path) -> list[Path]:
    d = out / STATE_DIR
    if not d.is_dir():
        return []
    return sorted(p for p in d.glob("*.json") if p.name != "run.json" and not p.name.startswith("."))


def load_state(out: Path, pid: str) -> dict[str, Any] | None:
    p = state_path(out, pid)
    try:
        return dict(json.loads(p.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def save_state(out: Path, state: dict[str, Any]) -> None:
    """Replace the point's state file atomically (the commit point).  ``state["info"]`` (each part's size
    in bytes and rows, to tell a part cut short) keeps only the parts the state lists."""
    info = state.get("info")
    if info is not None:
        listed = set(state.get("parts", []))
        state["info"] = {k: v for k, v in info.items() if k in listed}
    atomic_write(state_path(out, state["pid"]), json.dumps(state, indent=1, sort_keys=True).encode())


def recover(out: Path, pid: str, notes: list[str] | None = None) -> dict[str, Any] | None:
    """Bring one capture point's files in line with its committed state, after a crash at any step.

    Roll forward: a part the state lists as pending (staged name -> final name) is renamed if
    the rename did not happen.  Then every part file or snapshot of the point that the state does not
    list (the staged parts of a file whose commit never happened, an old tail or snapshot whose deletion
    was cut short) is deleted.  Each staged part deleted so is named in ``notes`` (its file was not
    committed: it is audited again).  Returns the state (None for a point never committed).  Raises
    :class:`StoreError` when the folder cannot be written.
    """
    state = load_state(out, pid)
    listed: set[str] = set()
    if state is not None:
        _roll_forward(out, state)
        listed = set(state.get("parts", []))
    for root, table, f in _point_part_files(out, pid):
        if root == out and f"{table}/{f.parent.name}/{f.name}" in listed:
            continue
        with store_op(f, "remove"):
            f.unlink(missing_ok=True)
        if root != out and notes is not None:
            # staged, never committed (pending ones were renamed above)
            notes.append(
                f"{f}: a part left uncommitted by an interrupted run: removed "
                "(its capture file is audited again)"
            )
    sdir = out / STATE_DIR
    if sdir.is_dir():
        keep = state.get("snapshot") if state else None
        for f in [*sdir.glob(f"{pid}-*.snap"), *sdir.glob(f".{pid}*")]:
            if f"{STATE_DIR}/{f.name}" != keep:
                with store_op(f, "remove"):
                    f.unlink(missing_ok=True)
    return state


def _roll_forward(out: Path, state: dict[str, Any]) -> None:
    """Finish the renames (staged -> final) a committed state lists as pending, and commit the state
    without them."""
    pending = state.get("pending", [])
    for tmp, final in pending:
        t, f = out / tmp, out / final
        if t.exists():
            with store_op(f, "move a part to"):
                f.parent.mkdir(parents=True, exist_ok=True)
                os.replace(t, f)
    if pending:
        state["pending"] = []
        save_state(out, state)


def _point_part_files(out: Path, pid: str) -> Iterator[tuple[Path, str, Path]]:
    """``(root, table, file)`` of every part file of the point ``pid``, final (``root`` is ``out``) or
    staged (``root`` is ``out/_staging``)."""
    for root in (out, out / STAGING_DIR):
        for table in TABLES:
            base = root / table
            if not base.is_dir():
                continue
            for day in base.iterdir():
                if not day.is_dir():
                    continue
                for f in day.iterdir():
                    if f.name.startswith(f"part-{pid}-"):
                        yield root, table, f


def recover_all(out: Path, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """:func:`recover` every capture point of ``out`` that no worker holds (a worker recovers its point
    itself, under the point's lock); their states."""
    import fcntl

    states = []
    for p in state_files(out):
        lock = out / STATE_DIR / f"{p.stem}.lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise store_error(lock, exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a worker (of a run killed before, still finishing) holds it
            st = recover(out, p.stem, notes)
            if st is not None:
                states.append(st)
        finally:
            os.close(fd)
    return states


#: Parquet files start and end with these four octets (the end: after the footer and its length).
_MAGIC = b"PAR1"


def check_part(path: Path, info: list[int] | None = None) -> str | None:
    """Why the part file ``path`` is not whole (missing, shorter or longer than when it was committed,
    no Parquet header or footer), or None when it is.  ``info``: ``[bytes, rows]`` recorded at commit."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4)
            if size >= 12:
                f.seek(size - 8)
                tail = f.read(8)
            else:
                tail = b""
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    if info is not None and size != int(info[0]):
        return (
            f"cut short: {size} of {int(info[0])} bytes"
            if size < int(info[0])
            else (f"{size} bytes, {int(info[0])} when committed")
        )
    if head != _MAGIC or tail[4:] != _MAGIC:
        return f"not a whole Parquet file ({size} bytes, no {'header' if head != _MAGIC else 'footer'})"
    if int.from_bytes(tail[:4], "little") + 12 > size:
        return f"not a whole Parquet file ({size} bytes, footer length out of range)"
    return None


def damaged_parts(out: Path, state: dict[str, Any]) -> list[tuple[str, str]]:
    """The parts a point's state lists that are not whole: ``[(relative path, why)]`` (pending parts are
    checked where they are, staged or renamed)."""
    info = state.get("info") or {}
    staged = {final: tmp for tmp, final in state.get("pending", [])}
    bad = []
    for rel in state.get("parts", []):
        path = out / rel
        if rel in staged and not path.exists():
            path = out / staged[rel]
        why = check_part(path, info.get(rel))
        if why is not None:
            bad.append((rel, why))
    return bad


def committed_parts(
    out: Path, table: str, damaged: list[tuple[Path, str, int | None]] | None = None
) -> list[Path]:
    """The committed part files of one table (``calls``, ``findings`` or ``anomalies``), over every
    capture point.  A part whose rename is still pending (a crash between the commit and the rename, in
    a folder that cannot be written now) is read where it is, staged.  With ``damaged`` (a list), parts
    that are not whole (:func:`check_part`) are left out and appended there as ``(path, why, rows)``."""
    parts: list[Path] = []
    for p in state_files(out):
        try:
            st = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        staged = {final: tmp for tmp, final in st.get("pending", [])}
        info = st.get("info") or {}
        for r in st.get("parts", []):
            if not r.startswith(table + "/"):
                continue
            path = out / r
            if r in staged and not path.exists():
                path = out / staged[r]
            if damaged is not None:
                why = check_part(path, info.get(r))
                if why is not None:
                    rows = info.get(r)
                    damaged.append((path, why, int(rows[1]) if rows else None))
                    continue
            parts.append(path)
    return sorted(parts)
