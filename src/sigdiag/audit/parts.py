"""A capture point read in parallel parts and merged in time order (issue 16; docs/design/parallel-point.md).

The runner plans a point (:func:`plan`): the files not audited yet, by first time stamp, cut into parts of
consecutive files.  The point's task reads part 0 as always (file by file, committed) and merges the later
parts in order (:func:`obtain`, :func:`merge_outcome`, committed by the worker); each later part is read
by a :class:`PartTask` (:func:`process_part`) into ``_parts/<point>/<run>/<k>/``, or by the point's task
itself when no worker has taken it (the part's lock).  Every message's position in the point (file number,
frame, index in the frame: :func:`position`) orders what the parts and the merge hand out, and numbers the
calls (:class:`sigdiag.calls.parts.Positioned`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from sigdiag.audit.store import atomic_write, store_op
from sigdiag.calls.parts import PartResult

__all__ = [
    "COMMIT_BYTES",
    "FILE",
    "FRAME",
    "MIN_PART_BYTES",
    "PARTS_DIR",
    "PART_BYTES_ENV",
    "PART_FACTOR",
    "SKIP_SHARE",
    "MergeOutput",
    "PartOutcome",
    "PartTask",
    "Span",
    "clear",
    "frame_at",
    "merge_outcome",
    "next_number",
    "no_collection",
    "obtain",
    "plan",
    "position",
    "process_part",
]

#: Where the parts write what they read, until their merge (ignored by dataset readers: it starts with _).
PARTS_DIR = "_parts"
#: A part holds at least this much input (a task's fixed cost stays small beside its reading); the
#: environment variable :data:`PART_BYTES_ENV` sets another size (tests, benchmarks).
MIN_PART_BYTES = 2 << 20
PART_BYTES_ENV = "SIGDIAG_AUDIT_PART_BYTES"
#: A position: file number x FILE + frame x FRAME + index in the frame.
FILE = 10**12
FRAME = 10**3
_RESULT = "result.pkl"


def position(frame: Any) -> int:
    """The position of a message in its capture point, from its frame (an audit frame: it knows its file's
    number in the point and its index in its frame)."""
    base = frame.base  # (number x FILE + sub, kept by the frame's class: this runs for every message)
    if base is None:
        raise TypeError(f"frame {frame!r} has no position in a capture point")
    return int(base + frame * FRAME)


@dataclass
class PartTask:
    """A later part of a capture point: its files ``(path, file number in the point)`` in time order."""

    out: str
    pid: str
    name: str
    k: int
    files: list[tuple[str, int]]
    options: dict[str, Any] = field(default_factory=dict)
    run: str = ""
    #: a frame target where the part starts inside its first file, where it stops inside its last
    #: (:class:`sigdiag.calls.parts.Cut`; 0: the file's start, its end)
    start: int = 0
    stop: int = 0
    #: the bytes it reads (its share of a file cut inside, estimated)
    size: int = 0

    @property
    def folder(self) -> Path:
        return Path(self.out) / PARTS_DIR / self.pid / self.run / str(self.k)


def next_number(state: dict[str, Any] | None) -> int:
    """The number of a capture point's next file (the first part of its messages' positions: 0, 1, 2...
    in the order the files are committed, never reused)."""
    files = (state or {}).get("files", [])
    return max((int(f.get("number", i)) for i, f in enumerate(files)), default=-1) + 1


# -- planning --------------------------------------------------------------------------------------------
class Span(NamedTuple):
    """A part of a capture point: consecutive files ``(path, file number in the point)``; ``start``, a
    frame target where it starts inside its first file, ``stop``, one where it stops inside its last (0:
    the file's start, its end; :class:`sigdiag.calls.parts.Cut`); ``size``: the bytes it reads (its share
    of a file cut inside, estimated)."""

    files: list[tuple[str, int]]
    start: int = 0
    stop: int = 0
    size: int = 0


#: Records read to estimate a file's bytes per record (:func:`frame_at`).
_SAMPLE = 2000


def frame_at(path: str, offset: int) -> int:
    """The number of the frame about ``offset`` bytes into a capture file (from the mean size of its first
    records); 0 when it cannot tell (gzip-compressed: no cut inside it) or the offset is past its end."""
    from sigdiag.capture import open_capture

    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return 0
    ng = magic == b"\x0a\x0d\x0d\x0a"
    head, per = (28 + 20, 32) if ng else (24, 16)  # header; a record's own octets (EPB: 28 + its length)
    n, used = 0, head
    it = open_capture(path, [])
    try:
        for frame in it:
            size = per + ((len(frame.data) + 3) & ~3 if ng else len(frame.data))
            if used + size > offset:
                return frame.number
            used += size
            n += 1
            if n >= _SAMPLE:
                return n + 1 + int((offset - used) * n / max(used - head, 1))
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
    return 0


def plan(
    state: dict[str, Any] | None,
    files: Iterable[str],
    first_ts: Callable[[str], float],
    parts: int,
    frames: Callable[[str, int], int] = frame_at,
) -> list[Span]:
    """The files of a point not audited yet (``state``: the point's committed state), by first time stamp,
    numbered after the files already audited and cut into at most ``parts`` parts of about equal bytes,
    at least :data:`MIN_PART_BYTES` each (fewer when the input is small): at file boundaries, or inside a
    large file at a frame target (``frames(path, offset)``: the frame about that many bytes in; 0, it
    cannot be cut there).  A file that cannot be read is left to the point's task (which reports it)."""
    done = {f["path"]: f for f in (state or {}).get("files", [])}
    todo: list[tuple[float, str, int]] = []
    for path in files:
        try:
            st = os.stat(path)
            known = done.get(path)
            if (
                known is not None
                and known.get("size") == st.st_size
                and known.get("mtime_ns") == st.st_mtime_ns
            ):
                continue
            todo.append((first_ts(path), path, st.st_size))
        except Exception:  # (not a capture, unreadable: the point's task says so)
            return []
    todo.sort()
    base = next_number(state)
    total = sum(size for _, _, size in todo)
    least = int(os.environ.get(PART_BYTES_ENV) or MIN_PART_BYTES)
    n = max(1, min(parts, total // max(least, 1)))
    sizes = [size for _, _, size in todo]
    return _Planner(sizes, n, frames).cut([(path, base + i, size) for i, (_, path, size) in enumerate(todo)])


#: The costs the plan balances, in bytes read by a point's task (measured 2026-12-07 on one file of
#: 90,343 messages and on the same traffic in 46 rotated files, 2 workers): a later part reads a byte at
#: :data:`PART_FACTOR` times the cost (its correlator tags what it hands out, it judges apart and hands
#: its outcome over: 6.3 s against 4.4 s for half the file); it decodes the bytes of its first file before
#: its cut too, at :data:`SKIP_SHARE` of reading them (decoding: 0.31 s of 2.0 s); the point's task
#: commits each file of its first part, about :data:`COMMIT_BYTES` of reading each (46 files: 4.6 s, one
#: file: 2.4 s).
PART_FACTOR = 1.33
SKIP_SHARE = 0.15
COMMIT_BYTES = 240_000


def _solve(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """The least x in [lo, hi] where the increasing ``f`` reaches ``target`` (hi when it never does)."""
    for _ in range(60):
        mid = (lo + hi) / 2
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return hi


def _ends(sizes: list[int], n: int) -> list[float]:
    """Where ``n`` parts of about equal cost end on the line of the files' bytes (the last end, the total,
    left out): the first part is read by the point's task, which commits each of its files
    (:data:`COMMIT_BYTES`); a later part costs :data:`PART_FACTOR` a byte, and decodes its first file's
    bytes before its start (:data:`SKIP_SHARE` of reading them)."""
    import bisect

    total = float(sum(sizes))
    starts = [0.0]
    for size in sizes[:-1]:
        starts.append(starts[-1] + size)

    def first(end: float) -> float:  # the first part's cost, to ``end``
        return end + COMMIT_BYTES * bisect.bisect_left(starts, end)

    def later(pos: float, end: float) -> float:  # a later part's cost, from ``pos`` to ``end``
        return PART_FACTOR * (end - pos) + SKIP_SHARE * (pos - starts[bisect.bisect_right(starts, pos) - 1])

    def ends_for(cost: float) -> tuple[list[float], float]:
        pos = _solve(first, cost, 0.0, total)
        ends = [pos]
        for _ in range(n - 2):
            pos = _solve(partial(later, pos), cost, pos, total)
            ends.append(pos)
        return ends, later(pos, total)

    # the part cost at which the last part costs as much as the others
    cost = _solve(lambda c: c - ends_for(c)[1], 0.0, 0.0, first(total))
    return ends_for(cost)[0] if n > 1 else []


class _Planner:
    """:func:`plan`'s cutting: the input as a line of bytes, cut into ``n`` parts of about equal cost
    (:func:`_ends`); a part's end near a file boundary (within an eighth of a share) moves to it, else the
    file is cut inside."""

    def __init__(self, sizes: list[int], n: int, frames: Callable[[str, int], int]) -> None:
        self.ends = _ends(sizes, n)
        self.near = sum(sizes) / n / 8
        self.frames = frames
        self.out: list[Span] = []
        self.files: list[tuple[str, int]] = []
        self.start = 0
        self.size = 0.0

    def close(self, stop: int = 0) -> None:
        self.out.append(Span(self.files, self.start, stop, int(self.size)))
        self.files, self.start, self.size = [], 0, 0.0

    def cut(self, files: list[tuple[str, int, int]]) -> list[Span]:
        acc = 0
        for path, number, size in files:
            if self.ends and self.files and self.ends[0] - acc <= self.near:  # a share ends at this file
                self.ends.pop(0)
                self.close()
            self.files.append((path, number))
            done, target = 0, 0  # bytes of the file in earlier parts; the frame target they end at
            while self.ends and self.ends[0] < acc + size - self.near:
                off = int(self.ends.pop(0) - acc)
                frame = self.frames(path, off) if off - done > self.near else 0
                if frame > target:
                    self.size += off - done
                    self.close(frame)
                    self.files, self.start = [(path, number)], frame
                    done, target = off, frame
            self.size += size - done
            acc += size
        if self.files:
            self.close()
        return self.out


# -- a part's lock -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(folder: Path, wait: Callable[[], bool] | None) -> Iterator[bool]:
    """Hold the part's lock: True when taken; without ``wait``, False at once when another process holds
    it; with ``wait``, polled until free (False when ``wait()`` says to stop)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if wait is None or not wait():
                    yield False
                    return
                time.sleep(0.01)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def no_collection() -> Iterator[None]:
    """No garbage collection inside: reading a file or a part and merging one make long-lived records
    (messages kept in calls, rows, verdicts) and next to no cyclic garbage, and the collector walked them
    again and again (a part of half a 43 MB file read in 5.1 to 5.4 s instead of 5.6 to 6.6 s, the same
    peak memory); whatever cycles there are go at the next collection after it."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- reading a part ------------------------------------------------------------------------------------------
@dataclass
class PartOutcome:
    """What a part read (pickled in its folder): what the merge needs, its rows' files, its files."""

    k: int
    result: Any  # sigdiag.calls.parts.PartResult, its correlator replaced by ``state``
    state: Any  # the part's correlator state (CorrelatorState) and extras (released, entered, ...)
    extras: dict[str, Any]
    #: per item the part handed out (its calls, then its records), the verdict of the rules
    verdicts: list[Any]
    #: the engine's counters for what it judged: calls, records, matches per rule
    counts: dict[str, Any]
    files: list[dict[str, Any]]  # per file: path, number, hash, size, mtime_ns, messages, anomalies
    rows: list[tuple[str, str, str, int, int]]  # (table, day, file in the part's folder, bytes, rows)
    bad: list[tuple[str, str]] = field(default_factory=list)  # files it could not read: (path, why)
    seconds: float = 0.0


def process_part(task: PartTask) -> dict[str, Any]:
    """Read a later part (in a worker), unless another process has it or has read it (its lock, its
    result): what the merge needs, in the part's folder.  Returns counters."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"point": task.name, "part": task.k, "files": 0, "messages": 0, "skipped": False}
    with _locked(task.folder, None) as mine:
        if not mine or (task.folder / _RESULT).exists():
            out["skipped"] = True
            return out
        outcome = read_part(task)
    out["files"] = len(outcome.files)
    out["messages"] = outcome.result.messages
    out["seconds"] = time.perf_counter() - t0
    return out


def obtain(task: PartTask, stopped: Callable[[], bool], later: Iterable[PartTask] = ()) -> PartOutcome | None:
    """The part read (by a part task, or here when none has started it or one died); None when stopped.
    While another process reads it, a ``later`` part that nobody has started is read here meanwhile
    (the last first: the part tasks are taken in order), so that no worker waits while there is work."""
    waiting = list(later)
    while True:
        with _locked(task.folder, None) as mine:
            if mine:
                result = task.folder / _RESULT
                if result.exists():
                    with open(result, "rb") as f:
                        loaded: PartOutcome = pickle.load(f)
                    return loaded
                return read_part(task)
        if stopped():
            return None
        helped = False
        while waiting and not helped:
            other = waiting.pop()
            with _locked(other.folder, None) as free:
                if free and not (other.folder / _RESULT).exists():
                    read_part(other)
                    helped = True
        if not helped:
            time.sleep(0.01)


def read_part(task: PartTask) -> PartOutcome:
    """Read the part's files with a correlator from an empty state (:func:`sigdiag.calls.parts.run_part`),
    judge what it hands out of its own, write its rows in its folder and its outcome (the part's lock
    held)."""
    t0 = time.perf_counter()
    with no_collection():
        outcome = _PartReader(task).read()
    outcome.seconds = time.perf_counter() - t0
    data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    with store_op(task.folder / _RESULT):
        atomic_write(task.folder / _RESULT, data)
    return outcome


def clear(out: Path, pid: str, keep: str | None = None) -> None:
    """Delete the parts' folders of point ``pid`` (those of run ``keep`` aside): what an interrupted run
    read and never merged is read again."""
    root = out / PARTS_DIR / pid
    if not root.is_dir():
        return
    for d in root.iterdir():
        if d.name != keep:
            shutil.rmtree(d, ignore_errors=True)


@dataclass
class MergeOutput:
    """What merging a part gives the point's task to write and commit."""

    calls: list[tuple[Any, str]]  # the merge's own calls, each with the file it was handed out in
    findings: list[tuple[Any, str]]  # findings made here (the merge's calls', the windows')
    fallback: str | None = None
    #: seconds of the merge spent on what the part handed out (accepting its verdicts in order: grows
    #: with the part's calls, the rest with the calls open at the cut), and how many items
    items_s: float = 0.0
    items: int = 0


def _day(ts: float | None) -> str:
    from datetime import UTC, datetime

    return "unknown" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


class _Rows:
    """A part's rows by (table, day), written as Parquet files in its folder (bounded: at most
    ``chunk`` rows held)."""

    def __init__(self, folder: Path, chunk: int = 20_000) -> None:
        self.folder = folder
        self.chunk = chunk
        self.held: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.count = 0
        self.written: list[tuple[str, str, str, int, int]] = []

    def add(self, table: str, day: str, row: dict[str, Any]) -> None:
        self.held.setdefault((table, day), []).append(row)
        self.count += 1
        if self.count >= self.chunk:
            self.flush()

    def flush(self) -> None:
        from sigdiag.audit.tables import write_part

        for (table, day), rows in sorted(self.held.items()):
            name = f"{table}-{day}-{len(self.written):04d}.parquet"
            size = write_part(table, rows, self.folder / name)
            self.written.append((table, day, name, size, len(rows)))
        self.held.clear()
        self.count = 0


class _Piece:
    """One file of a later part, or the piece of it between two cuts (:class:`sigdiag.calls.parts.Cut`):
    its messages, their frames knowing their position; then its anomaly rows (its own: the frame-level
    ones the reader noted while the piece was read, its messages'; the file's count of what was not stored
    with its last piece) and its record (the whole file's figures with its last piece).  The file is
    decoded from its start whatever the piece (frame numbers, reassembly, point-code formats: the whole
    file's), the messages before the piece counted, not correlated."""

    def __init__(
        self, owner: _PartReader, path: str, number: int, tick: float, start: int, stop: int
    ) -> None:
        self.owner = owner
        self.path, self.number, self.tick = path, number, tick
        self.start, self.stop = start, stop
        self.continues = start > 0

    def __iter__(self) -> Iterator[Any]:
        from sigdiag.audit.file_anomalies import FileAnomalies, kinds_of
        from sigdiag.audit.tables import with_positions
        from sigdiag.audit.worker import file_hash, first_ts, report_progress
        from sigdiag.calls.parts import Cut
        from sigdiag.decode import read_messages

        owner, path = self.owner, self.path
        reader = read_messages(path, settings=owner.cfg["decode"])
        damage = FileAnomalies(owner.task.name, path)
        bounds = [0, 0]

        def at(where: str) -> None:
            bounds[where == "stop"] = len(reader.anomalies)

        def skipped(m: Any) -> None:
            if m.anomalies:
                damage.message(m, own=False)

        cut = Cut(with_positions(reader, path, self.number), self.tick, self.start, self.stop, skipped, at)
        n = 0
        for m in cut:
            if m.anomalies:
                damage.message(m)
            n += 1
            yield m
        last = not self.stop
        rows = damage.finish(reader, "audited", frames=(bounds[0], None if last else bounds[1]), last=last)
        day = _day(first_ts(path))
        for r in rows:
            owner.rows.add("anomalies", day, r)
        st = os.stat(path)
        report_progress(
            {"kind": "file", "bytes": st.st_size if last else 0, "messages": n, "piece": not last}
        )
        owner.files.append(
            {
                "path": path,
                "number": self.number,
                "hash": file_hash(path),
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "messages": cut.read if last else 0,
                "anomalies": reader.anomaly_count,
                "message_anomalies": damage.messages,
                "rows": len(rows),
                "kinds": kinds_of(rows),
                "complete": last,
            }
        )


class _PartReader:
    """The reading of one later part (:func:`read_part`)."""

    def __init__(self, task: PartTask) -> None:
        from sigdiag.rules.stream import PointStream, stream_config

        self.task = task
        self.cfg = stream_config(task.options)
        #: the engine and the trunk names of a point's stream (its correlator is not used)
        self.stream = PointStream(task.options)
        self.files: list[dict[str, Any]] = []
        self.paths = {number: path for path, number in task.files}
        self.rows = _Rows(task.folder)

    def _piece(self, i: int, path: str, number: int, tick: float) -> _Piece:
        """File ``i`` of the part: all of it, or the piece between its cuts (the first file may start at
        the part's ``start``, the last stop at its ``stop``)."""
        task = self.task
        start = task.start if i == 0 else 0
        stop = task.stop if i == len(task.files) - 1 else 0
        return _Piece(self, path, number, tick, start, stop)

    def read(self) -> PartOutcome:
        from sigdiag.calls.parts import Tagged, run_part
        from sigdiag.calls.step import timer_tick
        from sigdiag.capture import CaptureError

        task, cfg = self.task, self.cfg
        s = cfg["call_settings"]
        horizon = (max(s.cross_link_window_ms, s.duplicate_window_ms) + s.reorder_window_ms) / 1000
        c = Tagged(s, cfg["outcomes"], pos=position, keep_records=0)
        tick = timer_tick(c)
        bad: list[tuple[str, str]] = []
        try:
            pieces = (self._piece(i, p, n, tick) for i, (p, n) in enumerate(task.files))
            verdicts: list[Any] = []
            result = run_part(
                pieces, c, horizon, lambda calls, records: self._judge(calls, records, verdicts)
            )
        except CaptureError as exc:  # a file broke: the merge reads the part again, the slow way
            bad.append((str(exc), "file.broken"))
            result = PartResult(0.0, [], [], [], [], [], c, {}, 0, f"a file could not be read: {exc}")
        if bad:
            verdicts = []
        self.rows.flush()
        extras = {
            "released": c.released,
            "entered": c.entered,
            "idle_rlcs": c.idle_rlcs,
            "head_duplicates": c.head_duplicates,
        }
        state = c.snapshot()
        result.correlator = None  # (the state travels instead: a correlator does not pickle)
        engine = self.stream.engine
        counts = {"calls": engine.calls, "records": engine.records, "matches": dict(engine.matches)}
        return PartOutcome(
            task.k, result, state, extras, verdicts, counts, self.files, self.rows.written, bad
        )

    def _judge(
        self, calls: list[Any], records: list[Any], verdicts: list[Any]
    ) -> tuple[list[Any], list[Any]]:
        """The rules on what the part hands out of its own, as it comes (:func:`run_part`'s ``take``): the
        calls refined, their rows and call findings written; what each adds to the windows (the merge
        accepts them in order) appended to ``verdicts``.  Each item is replaced by its verdict's index."""
        from sigdiag.audit.tables import call_row, finding_row
        from sigdiag.calls.record import Orphan
        from sigdiag.rules.engine import Engine

        engine, trunk_of, name = self.stream.engine, self.stream.trunk_of, self.task.name
        out_calls: list[Any] = []
        for tag, call in calls:
            file = self.paths[tag[0] // FILE]
            before = len(engine.pending)
            verdicts.append(engine.judge(call))
            trunk = trunk_of(call)
            self.rows.add("calls", _day(call.start), call_row(call, trunk, name, file))
            for f in engine.pending[before:]:
                if f.trunk is None:
                    f.trunk = trunk
            for f in engine.findings():
                self.rows.add("findings", _day(f.ts), finding_row(f, name, file))
            out_calls.append((tag, len(verdicts) - 1))
        out_records: list[Any] = []
        for tag, rec in records:
            file = self.paths[tag[0] // FILE]
            d = Engine.orphan_record(rec) if isinstance(rec, Orphan) else Engine.circuit_record(rec)
            verdicts.append(engine.judge_record(d))
            for f in engine.findings():
                self.rows.add("findings", _day(f.ts), finding_row(f, name, file))
            out_records.append((tag, len(verdicts) - 1))
        return out_calls, out_records


# -- the merge -----------------------------------------------------------------------------------------------
def merge_outcome(stream: Any, outcome: PartOutcome, paths: dict[int, str], point: str) -> MergeOutput:
    """Merge a later part into a point's stream (its correlator and engine, the state after the parts
    before): the merge's own calls judged, every verdict accepted in one correlator's order, the engine's
    findings so far.  Raises :class:`sigdiag.calls.parts.Fallback` when the part cannot be proved equal
    (the stream is then not usable: start again from the committed state)."""
    import heapq
    from collections import deque

    from sigdiag.calls.parts import Tagged, merge
    from sigdiag.calls.record import Call, Orphan
    from sigdiag.rules.engine import Engine
    from sigdiag.rules.stream import stream_config

    cfg = stream_config(stream.options)
    s, outcomes = cfg["call_settings"], cfg["outcomes"]
    state = Tagged(s, outcomes, pos=position, keep_records=0)
    state.restore(stream.correlator.snapshot())
    part = Tagged(s, outcomes, pos=position, keep_records=0)
    part.restore(outcome.state)
    for k, v in outcome.extras.items():
        setattr(part, k, v)
    result = outcome.result
    result.correlator = part
    calls, records = merge(state, result)
    engine, trunk_of = stream.engine, stream.trunk_of
    own_calls: list[tuple[Any, str]] = []
    items = heapq.merge(calls, records, key=lambda e: e[0])
    last = ""
    items_s = 0.0
    clock = time.perf_counter
    for tag, x in items:
        file = paths.get(tag[0] // FILE, last)
        last = file
        if isinstance(x, int):  # (the part's verdict: its cost grows with the part's calls)
            t0 = clock()
            engine.file = file
            engine.accept(outcome.verdicts[x])
            items_s += clock() - t0
            continue
        if isinstance(x, Call):
            before = len(engine.pending)
            v = engine.judge(x)
            trunk = trunk_of(x)
            for f in engine.pending[before:]:
                if f.trunk is None:
                    f.trunk = trunk
            own_calls.append((x, file))
        else:
            v = engine.judge_record(
                Engine.orphan_record(x) if isinstance(x, Orphan) else Engine.circuit_record(x)
            )
        engine.file = file
        engine.accept(v)
    engine.calls += outcome.counts["calls"]
    engine.records += outcome.counts["records"]
    for rid, n in outcome.counts["matches"].items():
        engine.matches[rid] = engine.matches.get(rid, 0) + n
    snap = state.snapshot()
    snap.linger_q = deque(snap.linger_q)
    stream.correlator.restore(snap)
    findings = [(f, f.file or last) for f in engine.findings()]
    return MergeOutput(own_calls, findings, items_s=items_s, items=len(outcome.verdicts))
