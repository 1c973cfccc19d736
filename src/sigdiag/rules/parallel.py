"""The rule engine in a second process: ``check`` on two CPUs.

Decoding and correlation (one process) and rule evaluation (another) cost about the same per call, so on a
machine with two or more CPUs :class:`~sigdiag.rules.check.CheckRun` runs them as a two-stage pipeline: the
main process decodes and correlates and sends the finished calls and circuit records, in batches and in
the order the in-process engine would see them, to an :class:`EngineProcess` (forked, so it inherits the
compiled rules); the engine process evaluates the rules and sends the findings back.  The findings are the
same, in the same order, as with the engine in the main process (a test checks this on every capture).

Memory stays bounded: batches of :data:`BATCH` items wait in a pipe of about :data:`PIPE_BYTES` (the main
process waits when the engine falls behind).  If the engine process fails, the main process raises
:class:`EngineProcessError` with the engine's error (its traceback in the exception's ``traceback``); if
it dies (killed), the error names its exit code; if the main process dies, the engine process leaves.
Nothing here runs on platforms without ``fork``: the engine then runs in-process.
"""

from __future__ import annotations

import contextlib
import copyreg
import gc
import io
import multiprocessing
import os
import pickle
import queue
import traceback
from collections import Counter
from operator import attrgetter
from typing import Any

from sigdiag.rules.engine import Batch, Engine, Finding

__all__ = [
    "BATCH",
    "PIPE_BYTES",
    "EngineProcess",
    "EngineProcessError",
    "available",
    "cpus",
]

#: items (calls, circuit records) per batch sent to the engine process
BATCH = 256
#: size asked for the pipe to the engine process: what may wait before the main process waits
PIPE_BYTES = 1 << 20
F_SETPIPE_SZ = 1031  # Linux fcntl


class EngineProcessError(RuntimeError):
    """The engine process failed (its error message; ``traceback``: the engine's traceback) or died."""

    def __init__(self, message: str, traceback: str | None = None) -> None:
        super().__init__(message)
        self.traceback = traceback


def available() -> bool:
    """Whether the engine can run in a second process here (``fork`` start method)."""
    return "fork" in multiprocessing.get_all_start_methods()


def cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# -- pickling of calls -----------------------------------------------------------------------------------
# A batch is a sigdiag.rules.engine.Batch: named columns (lists), no object per item.  Calls and messages
# are objects with __slots__: pickle's default reduction of them builds a dictionary of slot names per
# object.  The pipeline pickles them as their class and the values of the class's slots, in the order the
# class names them (both processes run the same code: the engine process is forked), which is twice as
# fast on the main process, the busier side; an object with an unset slot falls back to the default.
def _slots(cls: type) -> tuple[str, ...]:
    slots = _SLOTS.get(cls)
    if slots is None:
        slots = _SLOTS[cls] = tuple(copyreg._slotnames(cls))  # type: ignore[attr-defined]
    return slots


_SLOTS: dict[type, tuple[str, ...]] = {}


def _slot_reducer(cls: type) -> Any:
    get = attrgetter(*_slots(cls))

    def reduce(obj: Any) -> Any:
        try:
            return _rebuild, (cls, get(obj))
        except AttributeError:
            return obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)

    return reduce


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    obj: Any = object.__new__(cls)
    for name, value in zip(_slots(cls), values, strict=True):
        setattr(obj, name, value)
    return obj


def _dispatch_table() -> dict[type, Any]:
    from sigdiag.calls.correlate import Call
    from sigdiag.model import Message

    table: dict[type, Any] = dict(copyreg.dispatch_table)
    for cls in (Call, Message):
        table[cls] = _slot_reducer(cls)
    return table


_DISPATCH = _dispatch_table()


def dumps(obj: Any) -> bytes:
    """Pickle a batch (calls and messages as tuples of their slots)."""
    buf = io.BytesIO()
    p = pickle.Pickler(buf, pickle.HIGHEST_PROTOCOL)
    p.dispatch_table = _DISPATCH
    p.dump(obj)
    return buf.getvalue()


def _serve(engine: Engine, inbox: Any, outbox: Any) -> None:
    """The engine process: evaluate batches (pickled lists of items) until an empty message, then finish;
    send findings as they come and, at the end, the outcome counts."""
    from sigdiag.rules.check import GC_GEN0

    gc.set_threshold(GC_GEN0, *gc.get_threshold()[1:])  # as in the main process (check.fewer_collections)
    parent = os.getppid()
    try:
        outcomes: Counter[str] = Counter()
        engine.clock = None  # open calls come with the clock of their moment (CallItem.clock)
        loads = pickle.loads
        while True:
            blob = inbox.recv_bytes()
            if not blob:
                break
            batch: Batch = loads(blob)
            engine.feed(batch)
            outcomes.update(call.outcome for call in batch.calls)
            if engine.pending:
                outbox.put(("findings", engine.findings()))
        engine.finish()
        outbox.put(("end", engine.findings(), outcomes, engine.evicted))
    except EOFError:  # the input ended without its end mark: the main process is gone
        pass
    except BaseException as e:  # everything goes back to the main process
        outbox.put(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))
    finally:
        outbox.close()
        if os.getppid() != parent:  # nobody will read what is still queued: do not wait to send it
            outbox.cancel_join_thread()
        outbox.join_thread()


def _child(engine: Engine, reader: Any, writer: Any, outbox: Any) -> None:
    writer.close()  # the main process's end: without it, a dead main would not end the input
    _serve(engine, reader, outbox)


class EngineProcess:
    """A forked process that runs ``engine``: :meth:`send` queues work (in order), :meth:`findings`
    takes the findings that came back so far, :meth:`finish` ends the input and returns the rest;
    :meth:`close` stops the process (also when the run is abandoned).

    Batches go down a pipe, pickled by the caller's thread (no feeder thread competing for the
    interpreter); the pipe's buffer (enlarged to :data:`PIPE_BYTES` where the system allows) is the only
    queue, so a main process that runs ahead waits.  Findings come back through a queue (the engine never
    waits for the main process: no deadlock)."""

    def __init__(self, engine: Engine) -> None:
        ctx = multiprocessing.get_context("fork")
        reader, writer = ctx.Pipe(duplex=False)
        with contextlib.suppress(OSError, AttributeError, ValueError, ImportError):
            import fcntl  # POSIX

            fcntl.fcntl(writer.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
        self._inbox = writer
        self._outbox = ctx.Queue()
        self._proc = ctx.Process(
            target=_child, args=(engine, reader, writer, self._outbox), name="sigdiag-rules", daemon=True
        )
        self._proc.start()
        reader.close()  # the engine's end: a dead engine process then breaks the pipe
        self.outcomes: Counter[str] = Counter()
        self.evicted: dict[str, int] = {}
        self._closed = False
        self._ended = False

    # -- input ---------------------------------------------------------------------------------------------
    def send(self, batch: Batch) -> None:
        """Queue a :class:`~sigdiag.rules.engine.Batch` (pickled now: the caller may clear it on return).
        Waits while the pipe is full."""
        if batch.kinds:
            self._put(dumps(batch))

    def _put(self, blob: bytes) -> None:
        try:
            self._inbox.send_bytes(blob)
        except OSError as exc:  # broken pipe: the engine process has ended
            self._alive()
            raise EngineProcessError(f"cannot send to the rule engine process: {exc}") from exc

    def _alive(self) -> None:
        if not self._proc.is_alive():
            # it may have reported an error before it ended
            try:
                msg = self._outbox.get(timeout=1.0)
            except queue.Empty:
                msg = None
            if msg is not None and msg[0] == "error":
                raise EngineProcessError(f"rule engine process failed: {msg[1]}", msg[2])
            code = self._proc.exitcode
            raise EngineProcessError(f"rule engine process ended unexpectedly (exit code {code})")

    # -- output --------------------------------------------------------------------------------------------
    def findings(self) -> list[Finding]:
        """The findings that have come back so far (does not wait)."""
        out: list[Finding] = []
        while True:
            try:
                msg = self._outbox.get_nowait()
            except queue.Empty:
                return out
            out.extend(self._take(msg))

    def _take(self, msg: tuple[Any, ...]) -> list[Finding]:
        if msg[0] == "error":
            raise EngineProcessError(f"rule engine process failed: {msg[1]}", msg[2])
        if msg[0] == "end":
            self.outcomes.update(msg[2])
            self.evicted = msg[3]  # the engine's memory-bound evictions (Engine.evicted)
            self._ended = True
        found: list[Finding] = msg[1]
        return found

    def finish(self) -> list[Finding]:
        """End of the input: the remaining findings (bursts closed at the end included)."""
        self._put(b"")
        self._inbox.close()
        out: list[Finding] = []
        while not self._ended:
            try:
                msg = self._outbox.get(timeout=0.5)
            except queue.Empty:
                self._alive()
                continue
            out.extend(self._take(msg))
        self._proc.join()
        self._closed = True
        return out

    def close(self) -> None:
        """Stop the engine process (nothing more will be read)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._inbox.close()
        self._outbox.cancel_join_thread()
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join()
