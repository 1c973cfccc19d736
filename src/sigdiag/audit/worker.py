"""One capture point, start to end: its files in time order through one correlator and one rule engine
(:class:`sigdiag.rules.stream.PointStream`), committed file by file (see :mod:`sigdiag.audit` for the
design).

:func:`process_point` is what the local process pool and the Dask workers run; it takes a picklable
:class:`PointTask` and returns a plain dict, so it runs the same in-process, in a child process or on a
remote worker.  Between two files the point's state (the correlator's and the engine's:
:meth:`PointStream.snapshot`) is saved with the commit, and the next file (in this run or the next)
continues from it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import math
import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigdiag.audit.batch import CHUNK_ROWS, Batch
from sigdiag.audit.batch import Parts as _Parts
from sigdiag.audit.batch import day as _day
from sigdiag.audit.batch import staged as _staged
from sigdiag.audit.file_anomalies import MAX_ANOMALY_ROWS
from sigdiag.audit.file_anomalies import FileAnomalies as _FileAnomalies
from sigdiag.audit.parts import PartTask, Span, next_number, position
from sigdiag.audit.parts import clear as clear_parts
from sigdiag.audit.parts import no_collection as _no_collection
from sigdiag.audit.store import (
    STATE_DIR,
    StoreError,
    atomic_write,
    damaged_parts,
    recover,
    save_state,
    store_op,
)
from sigdiag.rules.stream import PointStream, stream_config

__all__ = [
    "CHUNK_ROWS",
    "MAX_ANOMALY_ROWS",
    "PAUSE_ENV",
    "PointTask",
    "arm_stop_signals",
    "die_with_parent",
    "file_hash",
    "first_ts",
    "process_point",
    "report_progress",
    "request_stop",
    "stop_requested",
]

#: Settings objects from a task's options (the audit checks them before any work starts).
_config = stream_config

#: Progress callback of the local engine (set in each pool process by the initializer).
_progress: Callable[[dict[str, Any]], None] | None = None


def set_progress(fn: Callable[[dict[str, Any]], None] | None) -> None:
    global _progress
    _progress = fn


# -- stopping cleanly ----------------------------------------------------------------------------------------
#: A stop asked of this whole process (SIGINT or SIGTERM received by a worker process: the signal's number).
_stop_signal = 0
#: Runs asked to stop (:func:`request_stop`; a Dask worker may serve several audits).
_stopped_runs: set[str] = set()
#: The local pool's stop event (set by the audit process), when this is one of its workers.
_stop_event: Any = None


def set_stop_event(event: Any) -> None:
    global _stop_event
    _stop_event = event


def request_stop(run: str) -> None:
    """Ask the points of audit run ``run`` in this process to stop at the next safe place (what the audit
    process runs on its Dask workers when it is interrupted)."""
    _stopped_runs.add(run)


def _on_stop_signal(signum: int, frame: Any) -> None:
    global _stop_signal
    _stop_signal = signum


def arm_stop_signals(signals: tuple[int, ...] | None = None) -> None:
    """In a worker process: SIGINT and SIGTERM (a Ctrl-C reaches the whole process group, a service
    manager may send SIGTERM to every process of the audit) make its points stop cleanly at the next
    safe place, as the audit process asks, instead of dying mid-write with a traceback."""
    import signal

    for sig in signals or (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # an ignored signal stays ignored
            signal.signal(sig, _on_stop_signal)


def stop_requested(task: PointTask) -> bool:
    """Whether the point should stop now (its run was interrupted): checked between files and every 64
    messages, never inside a commit."""
    if _stop_signal or (task.run and task.run in _stopped_runs):
        return True
    return _stop_event is not None and bool(_stop_event.is_set())


#: Testing hook: ``SIGDIAG_AUDIT_PAUSE=STEP:N[:PATH]`` makes a worker process pause (up to 60 s, or until
#: it is asked to stop) the N-th time it reaches STEP, after writing its pid to PATH: so that a test can
#: kill the audit at a chosen step of a commit.  STEP: ``file`` (a file about to be read), ``staged`` (its
#: parts written to the staging folder), ``snapshot`` (the snapshot written, the state not yet), ``committed``
#: (the state replaced, the parts not yet renamed), ``renamed`` (the commit finished), ``part`` (a later
#: part about to be merged: its part task may have read it already).
PAUSE_ENV = "SIGDIAG_AUDIT_PAUSE"
_PAUSE_STEPS = ("file", "staged", "snapshot", "committed", "renamed", "part")
_pause_counts: dict[str, int] = {}


def _checkpoint(step: str, task: PointTask) -> None:
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    name, _, rest = spec.partition(":")
    if name != step:
        return
    n, _, path = rest.partition(":")
    _pause_counts[step] = _pause_counts.get(step, 0) + 1
    if str(_pause_counts[step]) != n.strip():
        return
    if path:
        Path(path).write_text(f"{os.getpid()}\n", encoding="utf-8")
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline and not stop_requested(task):
        time.sleep(0.01)


@dataclass
class PointTask:
    """A capture point and its files (any order: the worker orders them by first time stamp)."""

    out: str
    pid: str
    name: str
    files: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    #: The audit run's token (:func:`request_stop`).
    run: str = ""
    #: The point cut into parts of consecutive files (or pieces of a file) by the runner
    #: (:func:`sigdiag.audit.parts.plan`): the first is read here, the later ones are merged here in order
    #: (read by :class:`~sigdiag.audit.parts.PartTask`\ s, or here); None: every file read here.
    parts: list[Span] | None = None


def file_hash(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def first_ts(path: str) -> float:
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


#: What the point's state keeps of each file audited.
_FILE_KEYS = ("number", "path", "hash", "size", "mtime_ns", "messages", "anomalies", "message_anomalies")


def _emit_calls(stream: PointStream, parts: _Parts, point: str, file: str) -> int:
    """Refine and store the calls the correlator has finished, and store the findings so far."""
    from sigdiag.audit.tables import call_row, finding_row

    engine = stream.engine
    trunk_of = stream.trunk_of
    n = 0
    for call in stream.calls():
        before = len(engine.pending)
        engine.refine(call)
        trunk = trunk_of(call)
        parts.add("calls", _day(call.start), call_row(call, trunk, point, file))
        n += 1
        if len(engine.pending) > before:
            for f in engine.pending[before:]:
                if f.trunk is None:
                    f.trunk = trunk
    if engine.pending:
        for f in engine.findings():
            parts.add("findings", _day(f.ts), finding_row(f, point, file))
    return n


# -- the point -----------------------------------------------------------------------------------------------
def _lock(out: Path, pid: str) -> int:
    """Hold the point's lock (one process per capture point, even a worker left over from a killed run)."""
    d = out / STATE_DIR
    with store_op(d / f"{pid}.lock"):
        d.mkdir(parents=True, exist_ok=True)
        fd = os.open(d / f"{pid}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _report(event: dict[str, Any]) -> None:
    if _progress is not None:
        _progress(event)


#: A file's progress event, from wherever it is read (a later part's task too).
report_progress = _report


def _hash_cached(path: str, known: dict[str, Any]) -> tuple[str, int]:
    st = os.stat(path)
    k = known.get(path)
    if k is not None and k.get("size") == st.st_size and k.get("mtime_ns") == st.st_mtime_ns:
        return str(k["hash"]), st.st_size
    return file_hash(path), st.st_size


def _reason(path: str, exc: BaseException) -> str:
    """The error's text without the file name it starts with (the row names the file)."""
    text = str(exc)
    return text[len(path) + 2 :] if text.startswith(path + ": ") else text


def _commit_forget(out: Path, state: dict[str, Any], task: PointTask, path: str) -> None:
    """A formerly skipped file now holds content already audited (under another name): drop its rows."""
    gone = set(_forget_bad(state, path))
    state["parts"] = [p for p in state["parts"] if p not in gone]
    state["pending"] = []
    save_state(out, state)  # the commit point
    recover(out, task.pid)  # deletes the parts no longer listed


def _save_or_undo(out: Path, state: dict[str, Any], parts: _Parts, snap: str | None = None) -> None:
    """Commit ``state``; if it cannot be written, delete what was staged for it (best effort) and raise."""
    try:
        save_state(out, state)
    except StoreError:
        parts.discard()
        if snap:
            with contextlib.suppress(OSError):
                (out / snap).unlink(missing_ok=True)
        raise


def _new_state(task: PointTask, seq: int = 0) -> dict[str, Any]:
    return {
        "pid": task.pid,
        "point": task.name,
        "files": [],
        "bad": {},
        "parts": [],
        "pending": [],
        "tail": [],
        "tail_done": False,
        "snapshot": None,
        "seq": seq,
        "info": {},
    }


def _same_file(f: dict[str, Any]) -> bool:
    try:
        st = os.stat(f["path"])
    except OSError:
        return False
    return bool(st.st_size == f.get("size") and st.st_mtime_ns == f.get("mtime_ns"))


def _repair(
    out: Path, state: dict[str, Any], task: PointTask, notes: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """Check the point's committed parts; when one is not whole (cut short by a crash of the machine, a
    full disk under a careless copy...), audit the point again from its first file: the rows of a part
    come from the correlator's state before its file, which is kept only for the last file.  The new
    empty state is committed first, which drops every old part of the point.  When a file audited before
    is gone (rotated away), the point cannot be redone: the damaged parts are left out of the state and
    the rows lost are named.  Returns the state and the files to audit."""
    bad = damaged_parts(out, state)
    snap = state.get("snapshot")
    if snap:
        try:
            if (out / snap).stat().st_size == 0:
                bad.append((snap, "empty"))
        except OSError as exc:
            why = "missing" if isinstance(exc, FileNotFoundError) else f"unreadable: {exc.strerror}"
            bad.append((snap, why))
    if not bad:
        return state, task.files
    gone = [f["path"] for f in state["files"] if not _same_file(f)]
    info = state.get("info") or {}
    if gone:
        drop = {rel for rel, _ in bad}
        for rel, why in bad:
            rows = info.get(rel)
            lost = f"{rows[1]} rows lost" if rows else "its rows are lost"
            notes.append(
                f"{out / rel}: damaged ({why}); cannot be redone because {len(gone)} capture file(s) "
                f"of point {task.name} audited before are gone or changed (first: {gone[0]}): left out, "
                f"{lost}"
            )
        if snap in drop:
            state["snapshot"] = None  # the point goes on from a fresh correlator (calls open then are lost)
        state["parts"] = [p for p in state["parts"] if p not in drop]
        state["tail"] = [p for p in state["tail"] if p not in drop]
        for b in (state.get("bad") or {}).values():
            b["parts"] = [p for p in b.get("parts", []) if p not in drop]
        save_state(out, state)
        return recover(out, task.pid) or state, task.files  # the damaged files go
    for rel, why in bad:
        notes.append(
            f"{out / rel}: damaged ({why}): redone (point {task.name} audited again from its first file)"
        )
    files = list(dict.fromkeys([*(f["path"] for f in state["files"]), *task.files]))
    fresh = _new_state(task, int(state["seq"]))
    save_state(out, fresh)  # the commit point: every old part of the point goes
    return recover(out, task.pid) or fresh, files


def _forget_bad(state: dict[str, Any], path: str) -> list[str]:
    """Drop a formerly skipped file's record (it is audited now); the parts to drop with it."""
    prev = (state.get("bad") or {}).pop(path, None)
    return list(prev.get("parts", [])) if prev else []


def process_point(task: PointTask) -> dict[str, Any]:
    """Audit the files of one capture point that are not done yet; commit after each file.

    Returns counters: ``files`` processed, ``skipped`` (already done), ``bad`` (``[(path, reason)]``:
    files skipped as unreadable, not a capture or broken mid-way), ``damaged`` (``[(path, summary)]``:
    files audited in this run whose decoding reported anomalies), ``messages``, ``calls``, ``findings``,
    ``anomalies`` (rows stored), ``seconds``, ``max_rss_kb`` of this process.
    """
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "point": task.name,
        "files": 0,
        "skipped": 0,
        "bad": [],
        "damaged": [],
        "messages": 0,
        "calls": 0,
        "findings": 0,
        "anomalies": 0,
        "bytes": 0,
        "stopped": 0,
        "notes": [],
    }
    if stop_requested(task):  # asked to stop before it started: nothing to do
        result["stopped"] = _stop_signal or 1
        return result
    fd = _lock(Path(task.out), task.pid)
    try:
        _PointRun(task, result).run()
        return _finish(result, t0)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class _PointRun:
    """One run of :func:`process_point` (the point's lock held): its state, the files to audit, each file
    read and committed, the provisional tail."""

    def __init__(self, task: PointTask, result: dict[str, Any]) -> None:
        self.task = task
        self.out = Path(task.out)
        self.result = result
        self.notes: list[str] = result["notes"]
        self.state: dict[str, Any] = {}
        #: the point's saved state (the snapshot of the last file committed)
        self.snap: bytes | None = None
        #: what was read since the last commit, while it ends inside a file (see :class:`Batch`)
        self.batch: Batch | None = None
        #: files that broke mid-way in this run (a part read again skips them)
        self.broken: set[str] = set()

    def stopped(self) -> bool:
        if stop_requested(self.task):
            self.result["stopped"] = _stop_signal or 1
            return True
        return False

    def bad(
        self,
        path: str,
        digest: str | None,
        error: tuple[str, str],
        rows: list[dict[str, Any]],
        day: str = "unknown",
    ) -> None:
        """A file skipped (unreadable, not a capture, broken mid-way): reported, and its anomaly rows
        stored in a commit of their own, once per content: ``state["bad"][path]`` remembers the hash and
        the error.  A new content replaces the old rows; a file that is audited later drops them
        (:func:`_forget_bad`)."""
        self.result["bad"].append((path, f"{error[0]}: {error[1]}"))
        out, state, task = self.out, self.state, self.task
        prev = state.setdefault("bad", {}).get(path)
        if prev is not None and prev.get("hash") == digest and prev.get("error") == list(error):
            return
        seq = int(state["seq"]) + 1
        with _staged(_Parts(out, task.pid, seq)) as parts:
            for r in rows:
                parts.add("anomalies", day, r)
            parts.flush()
        old = set(prev.get("parts", [])) if prev else set()
        new = parts.commit_into(state)
        state["parts"] = [p for p in state["parts"] if p not in old] + new
        state["bad"][path] = {"hash": digest, "error": list(error), "parts": new}
        state["seq"] = seq
        _save_or_undo(out, state, parts)  # the commit point
        recover(out, task.pid)  # renames the parts (and saves the state without them as pending)
        state["pending"] = []
        self.result["anomalies"] += len(rows)

    def run(self) -> None:
        out, task = self.out, self.task
        state = recover(out, task.pid, self.notes) or _new_state(task)
        state.setdefault("bad", {})
        self.state, files = _repair(out, state, task, self.notes)
        todo = self.select(files)
        if todo is None:
            return
        clear_parts(out, task.pid, keep=task.run)  # what an interrupted run read and never merged
        snap_path = self.state.get("snapshot")
        self.snap = (out / snap_path).read_bytes() if snap_path else None
        stream: PointStream | None = None
        if todo or not self.state["tail_done"]:
            stream = PointStream(task.options, self.snap, pos=position)
        mine, stop, later = self.split(todo)
        try:
            for i, (first, path, digest, size) in enumerate(mine):
                assert stream is not None
                if self.stopped():
                    return
                _checkpoint("file", task)
                stream = self.audit_file(stream, first, path, digest, size, stop if i == len(mine) - 1 else 0)
                if stream is None:  # stopped mid-file
                    return
            for i, part in enumerate(later):
                assert stream is not None
                if self.stopped():
                    return
                stream = self.merge_part(stream, part, todo, later[i + 1 :])
                if stream is None:
                    return
        finally:
            if self.batch is not None:  # (stopped inside a file: nothing of it is committed)
                self.batch.discard()
                self.batch = None
        if not self.state["tail_done"] and stream is not None and not self.stopped():
            self.write_tail(stream)

    # -- parts ---------------------------------------------------------------------------------------------
    def split(
        self, todo: list[tuple[float, str, str, int]]
    ) -> tuple[list[tuple[float, str, str, int]], int, list[PartTask]]:
        """The files read here (file by file), the frame target where the last of them stops (0: its end),
        and the later parts merged here in order: the runner's plan when it still holds (the same files to
        audit, in the same order), else every file read here."""
        task = self.task
        plan = task.parts
        planned = list(dict.fromkeys(p for g in plan or () for p, _ in g.files))
        if not plan or len(plan) < 2 or [p for _, p, _, _ in todo] != planned:
            return todo, 0, []
        later = [
            PartTask(
                task.out, task.pid, task.name, k, g.files, task.options, task.run, g.start, g.stop, g.size
            )
            for k, g in enumerate(plan)
        ]
        return todo[: len(plan[0].files)], plan[0].stop, later[1:]

    def batch_now(self) -> Batch:
        """The batch to add to: the one held (what was read ends inside a file), else a new one."""
        if self.batch is None:
            self.batch = Batch(self.out, self.task.pid, int(self.state["seq"]) + 1)
        return self.batch

    def merge_part(
        self,
        stream: PointStream,
        part: PartTask,
        todo: list[tuple[float, str, str, int]],
        after: list[PartTask],
    ) -> PointStream | None:
        """Merge a later part (read by a part task, or here), committed with the point's state after it
        (held when it ends inside a file, until the part that reads the file's end); when it cannot be
        proved equal (or its files changed), read its files here from the last commit, those of what is
        held too.  The stream to go on with; None when stopped."""
        from sigdiag.audit.parts import merge_outcome, obtain
        from sigdiag.calls.parts import Fallback

        task = self.task
        _checkpoint("part", task)
        outcome = obtain(part, self.stopped, after)
        if outcome is None:
            return None
        known = {p: (first, digest, size) for first, p, digest, size in todo}
        done = {f["hash"] for f in self.state["files"]}
        why = outcome.result.fallback
        for f in outcome.files:
            if why is None and (f["hash"] in done or f["hash"] != known[f["path"]][1]):
                why = f"{f['path']} changed or holds what was audited already"
        t0 = time.perf_counter()
        if why is None:
            paths = {int(f.get("number", i)): f["path"] for i, f in enumerate(self.state["files"])}
            paths.update({n: p for p, n in part.files})
            try:
                with _no_collection():  # (the outcome just loaded: a collection would walk it for nothing)
                    merged = merge_outcome(stream, outcome, paths, task.name)
            except Fallback as exc:
                why = str(exc)
        if why is not None:
            self.result.setdefault("fallbacks", []).append(f"part {part.k}: {why}")
            return self.read_again(part, known)
        with _no_collection():
            self.commit_part(stream, part, outcome, merged)
        self.result["merged"] = self.result.get("merged", 0) + 1
        # the merge's own cost (the part's reading is its task's: ``outcome.seconds``)
        self.result.setdefault("merges", []).append(
            {
                "part": part.k,
                "merge_s": time.perf_counter() - t0,
                "read_s": outcome.seconds,
                "items_s": merged.items_s,
                "items": merged.items,
            }
        )
        return stream

    def read_again(self, part: PartTask, known: dict[str, tuple[float, str, int]]) -> PointStream | None:
        """The slow exact way: what is held and the part's files read here, from the last commit, file by
        file (the last up to the part's stop)."""
        again = list(dict.fromkeys([*(self.batch.paths if self.batch else ()), *(p for p, _ in part.files)]))
        again = [p for p in again if p not in self.broken]
        shutil.rmtree(part.folder, ignore_errors=True)  # (what the part task read: not used)
        if self.batch is not None:
            self.batch.discard()
            self.batch = None
        fresh: PointStream | None = PointStream(self.task.options, self.snap, pos=position)
        for i, path in enumerate(again):
            assert fresh is not None
            first, digest, size = known[path]
            _checkpoint("file", self.task)
            fresh = self.audit_file(fresh, first, path, digest, size, part.stop if i == len(again) - 1 else 0)
            if fresh is None:
                return None
        return fresh

    def commit_part(self, stream: PointStream, part: PartTask, outcome: Any, merged: Any) -> None:
        """Commit a merged part: its rows (moved from its folder), the merge's rows, its files, the
        point's state after it; held instead when it ends inside a file."""
        from sigdiag.audit.tables import call_row, finding_row

        task = self.task
        batch = self.batch_now()
        parts = batch.parts
        with _staged(parts):
            for table, day, name, size, rows in outcome.rows:
                parts.adopt(table, day, part.folder / name, size, rows)
            for call, file in merged.calls:
                parts.add("calls", _day(call.start), call_row(call, stream.trunk_of(call), task.name, file))
            for f, file in merged.findings:
                parts.add("findings", _day(f.ts), finding_row(f, task.name, file))
            parts.flush()
        for f in outcome.files:
            batch.piece(f["path"], f["kinds"], {k: f[k] for k in _FILE_KEYS} if f["complete"] else None)
        c = batch.counts
        c["messages"] += outcome.result.messages
        c["calls"] += outcome.counts["calls"] + len(merged.calls)
        c["findings"] += sum(n for t, _, _, _, n in outcome.rows if t == "findings")
        c["anomalies"] += sum(n for t, _, _, _, n in outcome.rows if t == "anomalies")
        if not part.stop:
            self._commit_batch(stream)
        shutil.rmtree(part.folder, ignore_errors=True)  # (what is left: its outcome, its lock)

    # -- which files ---------------------------------------------------------------------------------------
    def select(self, files: list[str]) -> list[tuple[float, str, str, int]] | None:
        """The files to audit, by first time stamp: ``(first time, path, hash, size)``; files already
        done are skipped, unreadable ones and those that are not captures stored as bad.  None: stopped."""
        known = {f["path"]: f for f in self.state["files"]}
        done = {f["hash"] for f in self.state["files"]}
        todo: list[tuple[float, str, str, int]] = []
        for path in files:
            if self.stopped():
                return None
            item = self._admit(path, known, done, todo)
            if item is not None:
                todo.append(item)
        todo.sort()
        return todo

    def _admit(
        self, path: str, known: dict[str, Any], done: set[str], todo: list[tuple[float, str, str, int]]
    ) -> tuple[float, str, str, int] | None:
        from sigdiag.capture import CaptureError

        state, task = self.state, self.task
        try:
            digest, size = _hash_cached(path, known)
        except OSError as exc:
            error = ("file.unreadable", f"cannot read: {exc.strerror}")
            self.bad(path, None, error, _FileAnomalies(task.name, path).finish(None, "skipped", error))
            _report({"kind": "file", "bytes": 0, "messages": 0})
            return None
        if digest in done or any(d == digest for _, _, d, _ in todo):
            if path in state["bad"]:
                _commit_forget(self.out, state, task, path)
            self.result["skipped"] += 1
            _report({"kind": "file", "bytes": size, "messages": 0, "skipped": True})
            return None
        prev = state["bad"].get(path)
        if prev is not None and prev.get("hash") == digest and prev["error"][0] == "file.not_a_capture":
            # the same content was not a capture before: the same error again, already stored (a file
            # that broke mid-way, a read error, is tried again)
            self.result["bad"].append((path, ": ".join(prev["error"])))
            _report({"kind": "file", "bytes": size, "messages": 0})
            return None
        try:
            first = first_ts(path)
        except CaptureError as exc:
            error = ("file.not_a_capture", _reason(path, exc))
            self.bad(path, digest, error, _FileAnomalies(task.name, path).finish(None, "skipped", error))
            _report({"kind": "file", "bytes": size, "messages": 0})
            return None
        return first, path, digest, size

    # -- one file ------------------------------------------------------------------------------------------
    def audit_file(
        self, stream: PointStream, first: float, path: str, digest: str, size: int, stop: int = 0
    ) -> PointStream | None:
        """Read one file through the stream and commit its rows and the stream's state (``stop``: up to the
        cut at that frame target, held uncommitted: the part after it reads the rest); the stream to go
        on with (a new one from the last state when the file broke mid-way), None when stopped."""
        from sigdiag.audit.file_anomalies import kinds_of
        from sigdiag.capture import CaptureError
        from sigdiag.decode import read_messages

        task = self.task
        batch = self.batch_now()
        parts = batch.parts
        damage = _FileAnomalies(task.name, path)
        m0 = stream.correlator.messages
        reader = None
        try:
            with _staged(parts):
                stream.engine.file = path
                stream.new_file()
                reader = read_messages(path, settings=stream.decode_settings)
                with _no_collection():
                    read, end = self._read(stream, batch, reader, path, damage, stop)
                if not read:
                    # interrupted mid-file: nothing of it is committed, the next run reads it again
                    return None
                rows = damage.finish(reader, "audited", frames=(0, end), last=not stop)
                for r in rows:
                    parts.add("anomalies", _day(first), r)
                parts.flush()
        except CaptureError as exc:
            # the file broke mid-way: forget what it did, go on from the state before it
            batch.discard()
            self.batch = None
            self.broken.add(path)
            error = ("file.broken", _reason(path, exc))
            self.bad(path, digest, error, damage.finish(reader, "skipped", error), _day(first))
            _report({"kind": "file", "bytes": size, "messages": 0})
            return PointStream(task.options, self.snap, pos=position)
        n_msgs = stream.correlator.messages - m0
        record = None
        if not stop:
            record = {
                "number": next_number(self.state),
                "path": path,
                "hash": digest,
                "size": size,
                "mtime_ns": os.stat(path).st_mtime_ns,
                "messages": n_msgs,
                "anomalies": reader.anomaly_count,
                "message_anomalies": damage.messages,
            }
        batch.piece(path, kinds_of(rows), record)
        batch.counts["messages"] += n_msgs
        batch.counts["anomalies"] += len(rows)
        _report({"kind": "file", "bytes": 0 if stop else size, "messages": n_msgs, "piece": bool(stop)})
        if not stop:
            self._commit_batch(stream)
        return stream

    def _read(
        self, stream: PointStream, batch: Batch, reader: Any, path: str, damage: _FileAnomalies, stop: int
    ) -> tuple[bool, int | None]:
        """Feed the file's messages to the stream (up to the cut at frame target ``stop``, if not 0), 64
        at a time, storing the calls as they finish.  False when stopped mid-file; and where its
        frame-level anomalies end in the reader's list (None: all of them)."""
        from sigdiag.audit.tables import with_positions
        from sigdiag.calls.parts import Cut
        from sigdiag.calls.step import timer_tick

        task = self.task
        ends = [0]
        messages: Any = with_positions(reader, path, next_number(self.state))
        if stop:

            def at(where: str) -> None:
                ends[0] = len(reader.anomalies)

            messages = Cut(messages, timer_tick(stream.correlator), 0, stop, at=at)
        batch_: list[Any] = []
        # every frame knows its file (calls' frame_files) and its position in the point (call ids)
        for m in messages:
            if m.anomalies:
                damage.message(m)
            batch_.append(m)
            if len(batch_) == 64:
                stream.feed(batch_)
                batch_ = []
                if stream.correlator.done:
                    batch.counts["calls"] += _emit_calls(stream, batch.parts, task.name, path)
                if self.stopped():
                    return False, None
        if batch_:
            stream.feed(batch_)
        batch.counts["calls"] += _emit_calls(stream, batch.parts, task.name, path)
        return True, ends[0] if stop else None

    def _commit_batch(self, stream: PointStream) -> None:
        """Commit what was read since the last commit (the files it finished listed, the stream's state
        saved), and count it in the run's result."""
        batch = self.batch
        assert batch is not None
        self._commit(stream, batch.parts, batch.files)
        self.batch = None
        batch.add_to(self.result)

    def _commit(self, stream: PointStream, parts: _Parts, files: list[dict[str, Any]]) -> None:
        """Commit ``parts`` (staged) with the stream's state saved and ``files`` (their records) listed as
        done: the point's state file replaced (the commit point), then the parts renamed."""
        out, task, state = self.out, self.task, self.state
        _checkpoint("staged", task)
        seq = parts.seq
        self.snap = stream.snapshot()
        snap_rel = f"{STATE_DIR}/{task.pid}-{seq:05d}.snap"
        with _staged(parts):
            atomic_write(out / snap_rel, self.snap)
        _checkpoint("snapshot", task)
        dropped = set(state["tail"])
        for f in files:
            dropped |= set(_forget_bad(state, f["path"]))
        state["files"] += files
        state["parts"] = [p for p in state["parts"] if p not in dropped] + parts.commit_into(state)
        state["tail"] = []
        state["tail_done"] = False
        state["snapshot"] = snap_rel
        state["seq"] = seq
        _save_or_undo(out, state, parts, snap_rel)  # the commit point
        _checkpoint("committed", task)
        self.state = recover(out, task.pid) or state  # renames the parts, drops the old tail and snapshot
        _checkpoint("renamed", task)

    # -- the end -------------------------------------------------------------------------------------------
    def write_tail(self, stream: PointStream) -> None:
        """The provisional end of the point: calls still open and bursts still running are written as a
        tail, replaced when later files of the point come (the snapshot is from before this close)."""
        out, task, state = self.out, self.task, self.state
        seq = int(state["seq"]) + 1
        stream.close()
        last = state["files"][-1]["path"] if state["files"] else ""
        with _staged(_Parts(out, task.pid, seq)) as parts:
            self.result["calls"] += _emit_calls(stream, parts, task.name, last)
            stream.engine.finish()
            for f in stream.engine.findings():
                parts.add("findings", _day(f.ts), _finding(f, task.name, last))
            parts.flush()
        state["tail"] = parts.commit_into(state)
        state["parts"] = list(state["parts"]) + state["tail"]
        state["tail_done"] = True
        self.result["findings"] += parts.findings
        state["seq"] = seq
        _save_or_undo(out, state, parts)
        recover(out, task.pid)


def _finish(result: dict[str, Any], t0: float) -> dict[str, Any]:
    result["seconds"] = time.perf_counter() - t0
    result["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["worker_pid"] = os.getpid()
    return result


def _finding(f: Any, point: str, file: str) -> dict[str, Any]:
    from sigdiag.audit.tables import finding_row

    return finding_row(f, point, file)


# -- the worker process's life -------------------------------------------------------------------------------
#: prctl(2) option: the signal this process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def _watch_parent(parent: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)  # the audit is gone: stop as a crash would (the next run recovers)


def die_with_parent(parent: int, interval: float = 0.5) -> str:
    """Make this worker process end when the audit process ``parent`` ends, however it ends (SIGKILL
    included), so that no worker goes on alone.  On Linux the kernel sends SIGKILL to this process when
    its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere, or if that fails, a daemon thread checks
    ``os.getppid()`` every ``interval`` seconds and exits.  A worker killed so leaves what a crash leaves,
    which the next run recovers.  Returns how: ``"prctl"`` or ``"watchdog"``.
    """
    import signal
    import sys

    how = "watchdog"
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                how = "prctl"
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if how == "watchdog":
        import threading

        threading.Thread(
            target=_watch_parent, args=(parent, interval), name="sigdiag-parent-watch", daemon=True
        ).start()
    return how
