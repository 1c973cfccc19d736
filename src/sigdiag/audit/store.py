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

import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "STATE_DIR",
    "TABLES",
    "atomic_write",
    "load_state",
    "recover",
    "save_state",
    "state_files",
]

STATE_DIR = "_state"
#: Uncommitted part files, outside the table folders (``_staging/<table>/day=<day>/<part>``).
STAGING_DIR = "_staging"
TABLES = ("calls", "findings", "anomalies")


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
    """Write ``data`` to ``path`` all or nothing: a temporary file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
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
    atomic_write(state_path(out, state["pid"]), json.dumps(state, indent=1, sort_keys=True).encode())


def recover(out: Path, pid: str) -> dict[str, Any] | None:
    """Bring one capture point's files in line with its committed state, after a crash at any step.

    Roll forward: a part the state lists as pending (staged name -> final name) is renamed if
    the rename did not happen.  Then every part file or snapshot of the point that the state does not
    list (the staged parts of a file whose commit never happened, an old tail or snapshot whose deletion
    was cut short) is deleted.  Returns the state (None for a point never committed).
    """
    state = load_state(out, pid)
    listed: set[str] = set()
    if state is not None:
        changed = False
        for tmp, final in state.get("pending", []):
            t, f = out / tmp, out / final
            if t.exists():
                f.parent.mkdir(parents=True, exist_ok=True)
                os.replace(t, f)
            changed = True
        if changed:
            state["pending"] = []
            save_state(out, state)
        listed = set(state.get("parts", []))
    for root in (out, out / STAGING_DIR):
        for table in TABLES:
            base = root / table
            if not base.is_dir():
                continue
            for day in base.iterdir():
                if not day.is_dir():
                    continue
                for f in day.iterdir():
                    if f.name.startswith(f"part-{pid}-") and root == out:
                        if f"{table}/{day.name}/{f.name}" not in listed:
                            f.unlink(missing_ok=True)
                    elif f.name.startswith(f"part-{pid}-"):
                        f.unlink(missing_ok=True)  # staged, never committed (pending ones were renamed)
    sdir = out / STATE_DIR
    if sdir.is_dir():
        keep = state.get("snapshot") if state else None
        for f in sdir.glob(f"{pid}-*.snap"):
            if f"{STATE_DIR}/{f.name}" != keep:
                f.unlink(missing_ok=True)
        for f in sdir.glob(f".{pid}*"):
            f.unlink(missing_ok=True)
    return state


def recover_all(out: Path) -> list[dict[str, Any]]:
    """:func:`recover` every capture point of ``out``; their states."""
    states = []
    for p in state_files(out):
        st = recover(out, p.stem)
        if st is not None:
            states.append(st)
    return states


def committed_parts(out: Path, table: str) -> list[Path]:
    """The committed part files of one table (``calls``, ``findings`` or ``anomalies``), over every
    capture point."""
    parts: list[Path] = []
    for p in state_files(out):
        st = json.loads(p.read_text(encoding="utf-8"))
        parts += [out / r for r in st.get("parts", []) if r.startswith(table + "/")]
    return sorted(parts)
