"""One capture point, start to end: its files in time order through one correlator and one rule engine,
committed file by file (see :mod:`sigdiag.audit` for the design).

:func:`process_point` is what the local process pool and the Dask workers run; it takes a picklable
:class:`PointTask` and returns a plain dict, so it runs the same in-process, in a child process or on a
remote worker.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import pickle
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigdiag.audit.store import STAGING_DIR, STATE_DIR, atomic_write, recover, save_state

__all__ = ["CHUNK_ROWS", "PointTask", "file_hash", "process_point"]

#: Rows buffered before a part file is written (bounds a worker's memory whatever the file size).
CHUNK_ROWS = 20_000

#: Attributes of the correlator and the engine that are configuration (taken from the fresh objects on
#: restore), besides those that cannot be pickled (compiled tables and closures).
_CONFIG_KEYS = frozenset(
    (
        "settings",
        "outcomes",
        "on_orphan",
        "on_circuit_event",
        "rules",
        "trunks",
        "pc",
        "file",
        "clock",
        "call_rules",
        "refining",
        "call_windows",
        "circuit_rules",
        "circuit_windows",
    )
)

#: Progress callback of the local engine (set in each pool process by the initializer).
_progress: Callable[[dict[str, Any]], None] | None = None


def set_progress(fn: Callable[[dict[str, Any]], None] | None) -> None:
    global _progress
    _progress = fn


@dataclass
class PointTask:
    """A capture point and its files (any order: the worker orders them by first time stamp)."""

    out: str
    pid: str
    name: str
    files: list[str]
    options: dict[str, Any] = field(default_factory=dict)


def file_hash(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _first_ts(path: str) -> float:
    """Time stamp of the first record (raises CaptureError for a file that is not a capture)."""
    from sigdiag.capture import open_capture

    it = open_capture(path, [])
    try:
        for frame in it:
            return float(frame.ts)
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
    return math.inf


# -- snapshot / restore ------------------------------------------------------------------------------------
def _state_of(obj: Any) -> dict[str, Any]:
    """The picklable run-time state of a correlator or engine (configuration and closures left out)."""
    out: dict[str, Any] = {}
    for k, v in vars(obj).items():
        if k in _CONFIG_KEYS or callable(v):
            continue
        try:
            pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # compiled tables hold closures: configuration, not state
            continue
        out[k] = v
    return out


def snapshot(correlator: Any, engine: Any) -> bytes:
    """Pickle the correlator's and the engine's state together (shared objects stay shared)."""
    return pickle.dumps((_state_of(correlator), _state_of(engine)), protocol=pickle.HIGHEST_PROTOCOL)


class _Pipeline:
    """Correlator + rule engine of one capture point, with the per-call bookkeeping of the audit."""

    def __init__(self, options: dict[str, Any], state: bytes | None = None) -> None:
        from sigdiag.calls.correlate import Correlator
        from sigdiag.calls.stats import StatsAccumulator
        from sigdiag.rules.engine import Engine

        self.options = options
        cfg = _config(options)
        self.decode_settings = cfg["decode"]
        self.engine = Engine(cfg["rules"], cfg["trunks"], pc=cfg["pc"])
        self.correlator = Correlator(
            cfg["call_settings"],
            cfg["outcomes"],
            on_orphan=self.engine.orphan,
            on_circuit_event=self.engine.circuit_event,
        )
        if state is not None:
            cstate, estate = pickle.loads(state)
            vars(self.correlator).update(cstate)
            vars(self.engine).update(estate)
            # the per-message loop closes over the correlator's tables: build it again over the restored ones
            self.correlator._step, self.correlator._count = self.correlator._make_step()
        self.engine.clock = lambda c=self.correlator: c.now
        namer = StatsAccumulator("trunk", cfg["trunks"], cfg["call_settings"], cfg["pc_display"])
        # the trunk of a call exactly as `sigdiag stats --by trunk` names it
        self._trunk_of: Callable[[Any], str] = namer._group_of
        self._step = self.correlator._step

    def snapshot(self) -> bytes:
        return snapshot(self.correlator, self.engine)

    def feed(self, messages: list[Any]) -> None:
        self._step(messages)

    def calls(self) -> list[Any]:
        return self.correlator.take()

    def close(self) -> None:
        self.correlator.close()


_CONFIG_CACHE: dict[str, dict[str, Any]] = {}


def _config(options: dict[str, Any]) -> dict[str, Any]:
    """Settings objects from the task's plain options (cached per process: loading rules costs)."""
    key = json.dumps(options, sort_keys=True, default=str)
    cfg = _CONFIG_CACHE.get(key)
    if cfg is not None:
        return cfg
    from sigdiag.calls.outcomes import load_outcomes
    from sigdiag.calls.settings import CallSettings
    from sigdiag.calls.stats import load_trunks
    from sigdiag.carrier.mtp import format_pc
    from sigdiag.decode import resolve_settings
    from sigdiag.rules.loader import load_rules

    dec = dict(options.get("decode") or {})
    config = dec.pop("config", None)
    dsettings = resolve_settings(None, config, **dec)
    csettings = CallSettings(keep_messages=False).with_assignments(options.get("set") or None)
    trunks = load_trunks(options["trunks"]) if options.get("trunks") else None
    rules = load_rules(options.get("rule_dirs") or (), options.get("rule_settings") or None)
    pc_display = dsettings.pc_display
    fmt = dsettings.pc_format
    pc: Callable[[int], str] = str
    if pc_display == "structured":

        def pc(v: int) -> str:
            return format_pc(v, fmt, True)

    cfg = {
        "decode": dsettings,
        "call_settings": csettings,
        "outcomes": load_outcomes(options.get("outcomes")),
        "trunks": trunks,
        "rules": rules,
        "pc": pc,
        "pc_display": pc_display,
    }
    _CONFIG_CACHE.clear()
    _CONFIG_CACHE[key] = cfg
    return cfg


# -- rows ----------------------------------------------------------------------------------------------------
def _day(ts: float | None) -> str:
    if ts is None or not math.isfinite(ts):
        return "unknown"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


class _Parts:
    """Buffers rows per (table, day) and writes them as staged part files; lists (staged, final) names."""

    def __init__(self, out: Path, pid: str, seq: int) -> None:
        self.out = out
        self.pid = pid
        self.seq = seq
        self.rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.count = 0
        self.findings = 0
        self.chunk = 0
        self.written: list[tuple[str, str]] = []

    def add(self, table: str, day: str, row: dict[str, Any]) -> None:
        self.rows.setdefault((table, day), []).append(row)
        self.count += 1
        if table == "findings":
            self.findings += 1
        if self.count >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        from sigdiag.audit.tables import write_part

        for (table, day), rows in sorted(self.rows.items()):
            name = f"part-{self.pid}-{self.seq:05d}-{self.chunk:04d}.parquet"
            rel_dir = f"{table}/day={day}"
            # uncommitted parts stay outside the table folders, so that no reader (pandas, pyarrow,
            # DuckDB's globs, which do read dot files) ever sees one; the rename into place is atomic
            tmp = f"{STAGING_DIR}/{rel_dir}/{name}"
            write_part(table, rows, self.out / tmp)
            self.written.append((tmp, f"{rel_dir}/{name}"))
            self.chunk += 1
        self.rows.clear()
        self.count = 0

    def discard(self) -> None:
        self.rows.clear()
        for tmp, _ in self.written:
            (self.out / tmp).unlink(missing_ok=True)
        self.written.clear()


def _emit_calls(pipe: _Pipeline, parts: _Parts, point: str, file: str) -> int:
    from sigdiag.audit.tables import call_row, finding_row

    engine = pipe.engine
    trunk_of = pipe._trunk_of
    n = 0
    for call in pipe.calls():
        before = len(engine.findings)
        engine.refine(call)
        trunk = trunk_of(call)
        parts.add("calls", _day(call.start), call_row(call, trunk, point, file))
        n += 1
        if len(engine.findings) > before:
            for f in engine.findings[before:]:
                if f.trunk is None:
                    f.trunk = trunk
    if engine.findings:
        for f in engine.take():
            parts.add("findings", _day(f.ts), finding_row(f, point, file))
    return n


# -- the point -----------------------------------------------------------------------------------------------
def _lock(out: Path, pid: str) -> int:
    """Hold the point's lock (one process per capture point, even a worker left over from a killed run)."""
    d = out / STATE_DIR
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / f"{pid}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _report(event: dict[str, Any]) -> None:
    if _progress is not None:
        _progress(event)


def _hash_cached(path: str, known: dict[str, Any]) -> tuple[str, int]:
    st = os.stat(path)
    k = known.get(path)
    if k is not None and k.get("size") == st.st_size and k.get("mtime_ns") == st.st_mtime_ns:
        return str(k["hash"]), st.st_size
    return file_hash(path), st.st_size


def process_point(task: PointTask) -> dict[str, Any]:
    """Audit the files of one capture point that are not done yet; commit after each file.

    Returns counters: ``files`` processed, ``skipped`` (already done), ``bad`` (``[(path, reason)]``),
    ``messages``, ``calls``, ``findings``, ``seconds``, ``max_rss_kb`` of this process.
    """
    from sigdiag.capture import CaptureError
    from sigdiag.decode import read_messages

    t0 = time.perf_counter()
    out = Path(task.out)
    fd = _lock(out, task.pid)
    try:
        state = recover(out, task.pid) or {
            "pid": task.pid,
            "point": task.name,
            "files": [],
            "parts": [],
            "pending": [],
            "tail": [],
            "tail_done": False,
            "snapshot": None,
            "seq": 0,
        }
        done = {f["hash"] for f in state["files"]}
        known = {f["path"]: f for f in state["files"]}
        result: dict[str, Any] = {
            "point": task.name,
            "files": 0,
            "skipped": 0,
            "bad": [],
            "messages": 0,
            "calls": 0,
            "findings": 0,
            "bytes": 0,
        }
        todo: list[tuple[float, str, str, int]] = []
        for path in task.files:
            try:
                digest, size = _hash_cached(path, known)
            except OSError as exc:
                result["bad"].append((path, f"cannot read: {exc.strerror}"))
                _report({"kind": "file", "bytes": 0, "messages": 0})
                continue
            if digest in done or any(d == digest for _, _, d, _ in todo):
                result["skipped"] += 1
                _report({"kind": "file", "bytes": size, "messages": 0, "skipped": True})
                continue
            try:
                first = _first_ts(path)
            except CaptureError as exc:
                result["bad"].append((path, str(exc)))
                _report({"kind": "file", "bytes": size, "messages": 0})
                continue
            todo.append((first, path, digest, size))
        todo.sort()
        snap_path = state.get("snapshot")
        snap: bytes | None = (out / snap_path).read_bytes() if snap_path else None
        pipe: _Pipeline | None = None
        if todo or not state["tail_done"]:
            pipe = _Pipeline(task.options, snap)
        for _first, path, digest, size in todo:
            assert pipe is not None
            seq = int(state["seq"]) + 1
            parts = _Parts(out, task.pid, seq)
            m0 = pipe.correlator.messages
            pipe.engine.file = path
            try:
                reader = read_messages(path, settings=pipe.decode_settings)
                batch: list[Any] = []
                for m in reader:
                    batch.append(m)
                    if len(batch) == 64:
                        pipe.feed(batch)
                        batch = []
                        if pipe.correlator.done:
                            result["calls"] += _emit_calls(pipe, parts, task.name, path)
                if batch:
                    pipe.feed(batch)
                result["calls"] += _emit_calls(pipe, parts, task.name, path)
                n_msgs = pipe.correlator.messages - m0
                parts.flush()
            except CaptureError as exc:
                # the file broke mid-way: forget what it did, go on from the state before it
                parts.discard()
                result["bad"].append((path, str(exc)))
                pipe = _Pipeline(task.options, snap)
                _report({"kind": "file", "bytes": size, "messages": 0})
                continue
            snap = pipe.snapshot()
            snap_rel = f"{STATE_DIR}/{task.pid}-{seq:05d}.snap"
            atomic_write(out / snap_rel, snap)
            old_tail = list(state["tail"])
            st = os.stat(path)
            state["files"].append(
                {
                    "path": path,
                    "hash": digest,
                    "size": size,
                    "mtime_ns": st.st_mtime_ns,
                    "messages": n_msgs,
                    "anomalies": reader.anomaly_count,
                }
            )
            state["parts"] = [p for p in state["parts"] if p not in old_tail] + [f for _, f in parts.written]
            state["pending"] = [list(x) for x in parts.written]
            state["tail"] = []
            state["tail_done"] = False
            state["snapshot"] = snap_rel
            state["seq"] = seq
            save_state(out, state)  # the commit point
            state = recover(out, task.pid) or state  # renames the parts, drops the old tail and snapshot
            done.add(digest)
            result["files"] += 1
            result["messages"] += n_msgs
            result["findings"] += parts.findings
            result["bytes"] += size
            _report({"kind": "file", "bytes": size, "messages": n_msgs})
        if not state["tail_done"] and pipe is not None:
            # provisional end of the point: calls still open and bursts still running are written as a
            # tail, replaced when later files of the point come (the snapshot is from before this close)
            seq = int(state["seq"]) + 1
            parts = _Parts(out, task.pid, seq)
            pipe.close()
            last = state["files"][-1]["path"] if state["files"] else ""
            result["calls"] += _emit_calls(pipe, parts, task.name, last)
            pipe.engine.finish()
            for f in pipe.engine.take():
                parts.add("findings", _day(f.ts), _finding(f, task.name, last))
            parts.flush()
            state["tail"] = [f for _, f in parts.written]
            state["parts"] = list(state["parts"]) + state["tail"]
            state["pending"] = [list(x) for x in parts.written]
            state["tail_done"] = True
            result["findings"] += parts.findings
            state["seq"] = seq
            save_state(out, state)
            recover(out, task.pid)
        result["seconds"] = time.perf_counter() - t0
        result["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["worker_pid"] = os.getpid()
        return result
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _finding(f: Any, point: str, file: str) -> dict[str, Any]:
    from sigdiag.audit.tables import finding_row

    return finding_row(f, point, file)
