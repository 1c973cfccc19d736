"""One stream of messages correlated in parallel parts and merged into exactly what one correlator gives
(docs/design/parallel-point.md).

Every message has a *position*: an int, increasing in the order one correlator reads the messages,
taken from its frame (``pos(frame)``). The reference is one correlator that reads the files in order and
restarts its loop at each file start, as an audit worker does when it restores its state between files
(:func:`sequential`). Everything it hands out gets an *order tag*, so that the outputs of several
correlators can be put in one correlator's order: :class:`Tagged`.

A later part is read by :func:`run_part` from an empty correlator over *all* its messages (so its timers
run at the messages where one correlator's would; :class:`Schedule` says where, and the loop is checked
against it). A key is the part's once *anchored*: an IAM at least ``horizon`` (copies, out-of-order
time stamps) after the part's first message and after the key's last one, with the key idle in the part.
The messages of the other keys form the part's *head log*. :func:`merge` replays the head log into the
true state (its timers run at the part's timer runs), checks at each anchor that the true state holds the
key idle (or only a released call, which the IAM writes out, as CIC reuse does), puts both sides' outputs
in order, and takes the part's anchored keys into the state. What it cannot prove equal raises
:class:`Fallback` (the reason): the part is then read again from the state (:func:`run_parts`).
"""

from __future__ import annotations

import heapq
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise, takewhile
from math import inf
from typing import Any

from sigdiag.calls.circuits import CIRCUIT_TYPES, covered_circuits
from sigdiag.calls.correlate import Correlator
from sigdiag.calls.keys import call_key, circuit_key
from sigdiag.calls.machine import RELEASED, TRANSITIONS
from sigdiag.calls.record import Call, CircuitEvent, Orphan
from sigdiag.calls.step import next_sweep, timer_tick
from sigdiag.model import Message

__all__ = [
    "END",
    "Cut",
    "Fallback",
    "PartResult",
    "Positioned",
    "Schedule",
    "Tagged",
    "Take",
    "continues",
    "merge",
    "run_part",
    "run_parts",
    "sequential",
]

#: An order tag: (position, phase, tie, tie).  Phase 0: a timer run before the message at that position
#: (ties: a lingering call's deadline and the position of the message that released it; an orphan's
#: parked message position); phase 1: the processing of the message at that position (tie: the order
#: within it).
Tag = tuple[int, int, float, int]
#: The position of the end of the input (after every message).
END = 1 << 62
#: What :func:`run_part` hands to its ``take``: the calls and the records of the part's own, tagged; and
#: what ``take`` gives back in their place.
Take = Callable[
    [list[tuple[Tag, Any]], list[tuple[Tag, Any]]], tuple[list[tuple[Tag, Any]], list[tuple[Tag, Any]]]
]
#: ``take`` is called when this many items are waiting.
_TAKE_EVERY = 256
#: Positions after the end of a part where the clock is taken into account (see Schedule).
_RUN, _ANCHOR, _HEAD = 0, 1, 2


class Fallback(Exception):
    """A part whose merge cannot be proved equal to one correlator (the reason is the message)."""


class _Lingering(deque[Any]):
    """The queue of released calls, noting the position of the message that released each (the last of
    its timeline when it is queued): what orders two calls of the same deadline."""

    def __init__(self, owner: Tagged, items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self.owner = owner

    def append(self, entry: Any) -> None:
        call = entry[2]
        if call.timeline:
            self.owner.released[self.owner._pos_of(call.iam)] = self.owner._pos_frame(call.timeline[-1][0])
        super().append(entry)

    def __reduce__(self) -> Any:
        return (deque, (list(self),))


class Positioned(Correlator):
    """A correlator that numbers calls by their IAM's position in the input (``pos(frame)``), the same
    whatever part of the input a correlator reads (an audit's call ids)."""

    def __init__(self, *args: Any, pos: Callable[[Any], int], **kwargs: Any) -> None:
        self._pos_frame = pos
        super().__init__(*args, **kwargs)

    def _pos_of(self, x: Any) -> int:
        return int(self._pos_frame(x.frame))

    def _new_call(self, key: tuple[Any, ...], m: Message) -> Call:
        call = super()._new_call(key, m)
        call.call_id = self._pos_of(m)
        return call


class Tagged(Positioned):
    """A correlator that tags what it hands out with its position in the input, numbers calls by their
    IAM's position (``position_ids``), and runs its timers at positions it is told (see the module's
    docstring).

    ``pos(frame)``: the position of a message from its frame.  :meth:`out` gives the calls finished and
    the circuit records made (orphans, circuit events) with their tags; nothing is held for copies
    (``take`` is not used)."""

    def __init__(
        self, *args: Any, pos: Callable[[Any], int], position_ids: bool = True, **kwargs: Any
    ) -> None:
        #: number calls by their IAM's position (else 1, 2, 3...: one correlator's numbers)
        self.position_ids = position_ids
        #: IAM position of a call -> position of the message that released it (the calls lingering)
        self.released: dict[int, int] = {}
        self.tags: list[Tag] = []  # parallel to ``done``
        self.records: list[tuple[Tag, Any]] = []
        #: key -> position of its entry into the open-call table (keys entered since it was cleared)
        self.entered: dict[tuple[Any, ...], int] = {}
        #: the coming timer runs (position, time), the runs made
        self.runs: deque[tuple[int, float]] = deque()
        self.ran: list[tuple[int, float]] = []
        self.timers_on = True
        #: positions of the messages that are not this correlator's own (a part's head log), and the copies
        #: counted among them
        self.head_pos: set[int] = set()
        self.head_duplicates = 0
        #: (key, time) of each RLC that came on a key without a call (what a pending reset would take)
        self.idle_rlcs: list[tuple[tuple[Any, ...], float]] = []
        self._timer: int | None = None
        self._deadlines: dict[int, float] = {}
        self._cur = 0
        self._seq = 0
        on_orphan = kwargs.pop("on_orphan", None)
        on_event = kwargs.pop("on_circuit_event", None)
        super().__init__(
            *args, pos=pos, on_orphan=self._tag_orphan, on_circuit_event=self._tag_event, **kwargs
        )
        self._user_orphan = on_orphan
        self._user_event = on_event
        self._linger_q = _Lingering(self)
        self._step, self._count = self._make_step()

    def restore(self, state: Any) -> None:
        state.linger_q = _Lingering(self, state.linger_q)
        super().restore(state)

    # -- tags ------------------------------------------------------------------------------------------------
    def _at(self, m: Message) -> None:
        """``m`` is the message being processed (by an action that may hand something out)."""
        self._cur = self._pos_of(m)

    def _tag(self, tie: float = 0.0, tie2: int = 0) -> Tag:
        if self._timer is not None:
            return (self._timer, 0, tie, tie2)
        self._seq += 1
        return (self._cur, 1, 0.0, self._seq)

    def _tag_orphan(self, o: Orphan) -> None:
        self.records.append((self._tag(float(self._pos_of(o))), o))
        if self._user_orphan is not None:
            self._user_orphan(o)

    def _tag_event(self, ev: CircuitEvent) -> None:
        self.records.append((self._tag(), ev))
        if self._user_event is not None:
            self._user_event(ev)

    def _finish(self, call: Call, reason: str | None = None) -> None:
        super()._finish(call, reason)
        tie = self.released.pop(self._pos_of(call.iam), 0)
        self.tags.append(self._tag(self._deadlines.get(id(call), 0.0), tie))

    def _end_linger(self, now: float, limit: int) -> int:
        q = self._linger_q
        if q and q[0][0] < now:
            self._deadlines = {id(c): d for d, _, c in takewhile(lambda e: e[0] < now, q)}
        elif self._deadlines:  # (most timer runs end no call)
            self._deadlines = {}
        return super()._end_linger(now, limit)

    # -- the correlator's rare paths, told where they are ---------------------------------------------------
    def _new_call(self, key: tuple[Any, ...], m: Message) -> Call:
        if not self.position_ids:
            return Correlator._new_call(self, key, m)
        return super()._new_call(key, m)

    def _insert(self, key: tuple[Any, ...], call: Call) -> None:
        if key not in self.table:
            self.entered[key] = self._pos_of(call.iam)
        super()._insert(key, call)

    def _counted(self, m: Message, before: int) -> None:
        """Copies counted while processing ``m``: those of a head-log message are counted apart."""
        if self.head_pos and self.duplicates != before and self._pos_of(m) in self.head_pos:
            self.head_duplicates += self.duplicates - before

    def _copy(self, g: list[Any], m: Message, link: str, ts: float) -> None:
        before = self.duplicates
        super()._copy(g, m, link, ts)
        self._counted(m, before)

    def _do_open(self, key: tuple[Any, ...], call: Call | None, m: Message, fwd: bool) -> Call:
        self._at(m)
        return super()._do_open(key, call, m, fwd)

    def _do_park(self, key: tuple[Any, ...], call: Call | None, m: Message, fwd: bool) -> None:
        self._at(m)
        if m.type == "RLC":
            self.idle_rlcs.append((key, m.ts))
        before = self.duplicates
        super()._do_park(key, call, m, fwd)
        self._counted(m, before)

    def _do_reuse(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call | None:
        self._at(m)
        before = self.duplicates
        c = super()._do_reuse(key, call, m, fwd)
        self._counted(m, before)
        return c

    def _do_dual_seizure(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        self._at(m)
        return super()._do_dual_seizure(key, call, m, fwd)

    def _do_circuit(self, key: tuple[Any, ...], call: Call | None, m: Message, fwd: bool) -> None:
        self._at(m)
        super()._do_circuit(key, call, m, fwd)

    def _circuit(self, m: Message) -> None:
        self._at(m)
        before = self.duplicates
        super()._circuit(m)
        self._counted(m, before)

    # -- timers ----------------------------------------------------------------------------------------------
    def _expire(self, now: float) -> None:
        """The loop runs the timers: where the schedule said (else the merge cannot be trusted)."""
        if not self.timers_on:
            return
        if not self.runs or self.runs[0][1] != now:
            raise Fallback("the correlator ran its timers where the schedule did not say")
        p, ts = self.runs.popleft()
        self.ran.append((p, ts))
        self.run_timers(p, now)

    def run_timers(self, pos: int, now: float) -> None:
        """Run the timers at ``now``, as the loop does before the message at position ``pos``."""
        self._timer = pos
        try:
            Correlator._expire(self, now)
        finally:
            self._timer = None

    # -- driving -------------------------------------------------------------------------------------------
    def set_clock(self, now: float) -> None:
        """The clock is ``now`` (later than the messages this correlator saw: those of the other side)."""
        self.now = now
        self._step, self._count = self._make_step(self._count())

    def feed_batch(self, batch: Sequence[Message]) -> None:
        self._step(batch)
        self._cooling.clear()  # (nothing is held: the tags give the order)

    def out(self) -> tuple[list[tuple[Tag, Call]], list[tuple[Tag, Any]]]:
        """The calls finished and the records made since the last call, with their tags."""
        calls = list(zip(self.tags, self.done, strict=True))
        self.tags, self.done = [], []
        self._cooling.clear()
        records, self.records = self.records, []
        return calls, records

    def end(self) -> tuple[list[tuple[Tag, Call]], list[tuple[Tag, Any]]]:
        """The end of the input (:meth:`close`): what it hands out, tagged after every message."""
        self._cur = END
        self.close()
        return self.out()


class Schedule:
    """Where the correlator's loop runs its timers (the loop's own rule, followed message by message: at
    each message later than the end of the last run's tick, :func:`~sigdiag.calls.step.next_sweep`; after
    a file start, at the first message later than the clock).  :meth:`Tagged._expire` checks the loop
    against it."""

    def __init__(self, c: Correlator) -> None:
        self.tick = timer_tick(c)
        self.now = c.now
        self.sweep = c._sweep

    def start_file(self) -> None:
        self.sweep = self.now

    def see(self, ts: float) -> bool:
        """Whether the loop runs the timers before a message of time ``ts`` (taken into account)."""
        if ts > self.now:
            self.now = ts
        if ts > self.sweep:
            self.sweep = next_sweep(ts, self.tick)
            return True
        return False


def continues(msgs: Iterable[Message]) -> bool:
    """Whether a segment of the input continues a file (a :class:`Cut` not at the file's start)."""
    return bool(getattr(msgs, "continues", False))


class Cut:
    """The messages of one capture file from one cut to the next: where a capture point's part starts or
    ends inside a file (docs/design/parallel-point.md).  Iterate over it.

    A cut at frame ``target`` is the first message of frame ``target`` or later that is later than the end
    of the timer tick (:func:`~sigdiag.calls.step.next_sweep`) of every earlier message of the file: one
    correlator reading the file runs its timers there (it ran them in the file before, whose last run's
    tick ended before that; or not yet, and the merge checks that the message is later than the clock),
    and so does a correlator that starts there from an empty state.  Both sides of a cut find it in the
    same messages (``messages``: the whole file from its start, each side decoding it), so that they
    meet exactly.  ``start`` 0: the file's start; ``stop`` 0: its end.  ``skipped(m)`` sees every message
    before the start, ``at(name)`` is called when the iteration reaches the start and the stop cut
    (``"start"``, ``"stop"``); after the iteration, ``first_frame`` and ``stop_frame`` are the frames of
    the cut messages (None: no such message, the segment is empty or runs to the file's end),
    ``messages`` the messages of the file read and ``last`` whether it read the file to its end."""

    def __init__(
        self,
        messages: Iterable[Message],
        tick: float,
        start: int = 0,
        stop: int = 0,
        skipped: Callable[[Message], None] | None = None,
        at: Callable[[str], None] | None = None,
    ) -> None:
        self.source = messages
        self.tick = tick
        self.start = start
        self.stop = stop
        self.continues = start > 0
        self.skipped = skipped
        self.at = at
        self.first_frame: int | None = None
        self.stop_frame: int | None = None
        self.read = 0
        self.last = False

    def _is_cut(self, m: Message, target: int, latest: float) -> bool:
        return int(m.frame) >= target and (latest == -inf or m.ts > next_sweep(latest, self.tick))

    def __iter__(self) -> Iterator[Message]:
        self.first_frame = self.stop_frame = None
        self.read, self.last = 0, False
        latest = -inf
        inside = not self.start
        if inside and self.at is not None:
            self.at("start")
        for m in self.source:
            if not inside:
                if self._is_cut(m, self.start, latest):
                    inside = True
                    self.first_frame = int(m.frame)
                    if self.at is not None:
                        self.at("start")
                else:
                    self.read += 1
                    if self.skipped is not None:
                        self.skipped(m)
                    latest = max(latest, m.ts)
                    continue
            elif self.stop and self._is_cut(m, self.stop, latest):
                self.stop_frame = int(m.frame)
                if self.at is not None:
                    self.at("stop")
                return
            if self.first_frame is None:
                self.first_frame = int(m.frame)
            self.read += 1
            latest = max(latest, m.ts)
            yield m
        self.last = True
        if self.at is not None:
            self.at("stop")


def sequential(
    correlator: Tagged, files: Iterable[Iterable[Message]]
) -> tuple[list[tuple[Tag, Call]], list[tuple[Tag, Any]]]:
    """Read ``files`` in order through ``correlator``, its loop started again at each file start: one
    correlator's reading (the reference, the first part, and a part read again).  Returns what it handed
    out (the end of the input is :meth:`Tagged.end`)."""
    sched = Schedule(correlator)
    runs = correlator.runs
    for msgs in files:
        if not continues(msgs):
            correlator.new_file()
            sched.start_file()
        batch: list[Message] = []
        for m in msgs:
            if sched.see(m.ts):
                runs.append((correlator._pos_of(m), m.ts))
            batch.append(m)
            if len(batch) == 64:
                correlator.feed_batch(batch)
                batch = []
        if batch:
            correlator.feed_batch(batch)
    if runs:
        raise Fallback("the correlator did not run its timers where the schedule said")
    return correlator.out()


# -- a later part --------------------------------------------------------------------------------------------
@dataclass
class PartResult:
    """What a later part hands to the merge (see the module's docstring)."""

    first_ts: float
    #: the calls finished on its anchored keys, its orphans and circuit events (an audit's part replaces
    #: them by stand-ins: the index of their verdict)
    calls: list[tuple[Tag, Any]]
    records: list[tuple[Tag, Any]]
    head: list[tuple[int, float, Message]]  # (position, the clock after it, message)
    runs: list[tuple[int, float]]  # the timer runs (position, time)
    anchors: list[tuple[int, tuple[Any, ...], float, Any]]  # (position, key, time, OPC of the IAM)
    #: its end state (the merge keeps only its anchored keys'; None while the state travels apart)
    correlator: Tagged | None
    anchored: dict[tuple[Any, ...], float]  # key -> time of its anchor
    messages: int
    #: why the part cannot be merged (None: it can be tried)
    fallback: str | None
    #: its sightings of its own messages (those of the head log are made again by the merge)
    sightings: list[list[Any]] = field(default_factory=list)
    #: the largest sizes its tables reached (open calls, parked, lingering, sightings, circuits)
    peaks: dict[str, int] = field(default_factory=dict)
    #: its own orphans and circuit events (``records`` may hold stand-ins for them: an audit's part keeps
    #: its records' verdicts, not the records)
    orphans: int = 0
    events: int = 0
    #: it starts inside a file (at a :class:`Cut`), not at a file's start
    continued: bool = False

    def reader(self) -> Tagged:
        """The part's correlator (its end state)."""
        if self.correlator is None:
            raise ValueError("the part's correlator state is not attached")
        return self.correlator


def _keys(m: Message) -> list[tuple[Any, ...]] | None:
    """The keys a message acts on (a supervision message: those of the circuits it covers); None for a
    key without point codes (its copies on another link have another key: never anchored)."""
    if m.type in CIRCUIT_TYPES:
        if m.cic is None:
            return []
        cics, _ = covered_circuits(m, m.cic)
        return [circuit_key(m.protocol, m.opc, m.dpc, m.link, c) for c in cics]
    key = call_key(m)
    if key[0] != "sip" and len(key) == 3:
        return None
    return [key]


def _idle(c: Correlator, key: tuple[Any, ...], resets: bool = True) -> bool:
    """Nothing of ``key`` in the correlator's state: no call, nothing parked, no reset pending (unless
    ``resets`` is false), not blocked either way."""
    return (
        key not in c.table
        and key not in c._parked
        and (not resets or key not in c._reset_pending)
        and not any(k == key for k, _ in c._blocked)
    )


def _sizes(c: Correlator) -> dict[str, int]:
    return {
        "table": len(c.table),
        "parked": len(c._park_q),
        "lingering": len(c._linger_q),
        "sightings": len(c._seen_q),
        "circuits": max(len(c._blocked), len(c._reset_pending), len(c._circuit_recent)),
    }


class _PartReader:
    """The reading of one later part (:func:`run_part`)."""

    def __init__(self, part: Tagged, horizon: float, take: Take | None = None) -> None:
        self.c = part
        self.horizon = horizon
        self.take = take
        #: what it handed out of its own so far (after ``take``), and how many orphans and circuit events
        self.calls: list[tuple[Tag, Any]] = []
        self.records: list[tuple[Tag, Any]] = []
        self.orphans = self.events = 0
        self.sched = Schedule(part)
        self.head: list[tuple[int, float, Message]] = []
        self.anchors: list[tuple[int, tuple[Any, ...], float, Any]] = []
        self.anchored: dict[tuple[Any, ...], float] = {}
        self.last: dict[tuple[Any, ...], float] = {}  # key -> time of its last head-log message
        self.first_ts: float | None = None
        self.fallback: str | None = None
        self.peaks: dict[str, int] = {}
        self.batch: list[Message] = []
        self.n = 0
        self.continued = False

    def flush(self) -> None:
        if self.batch:
            self.c.feed_batch(self.batch)
            self.batch = []
            for name, n in _sizes(self.c).items():
                if n > self.peaks.get(name, 0):
                    self.peaks[name] = n
            if self.take is not None and len(self.c.done) + len(self.c.records) >= _TAKE_EVERY:
                self.drain()

    def drain(self) -> None:
        """What the correlator handed out so far: its own (not of the head log's keys) kept, through
        ``take``."""
        c = self.c
        calls, records = c.out()
        head, pos = c.head_pos, c._pos_of
        calls = [(t, x) for t, x in calls if pos(x.iam) not in head]
        records = [(t, x) for t, x in records if pos(x) not in head]
        self.orphans += sum(1 for _, x in records if isinstance(x, Orphan))
        self.events += sum(1 for _, x in records if isinstance(x, CircuitEvent))
        if self.take is not None:
            calls, records = self.take(calls, records)
        self.calls += calls
        self.records += records

    def message(self, m: Message) -> None:
        c, ts = self.c, m.ts
        if self.first_ts is None:
            self.first_ts = ts
        self.n += 1
        sched = self.sched  # (Schedule.see, written out: this runs for every message of a part)
        if ts > sched.now:
            sched.now = ts
        if ts > sched.sweep:
            sched.sweep = next_sweep(ts, sched.tick)
            c.runs.append((c._pos_of(m), ts))
        anchored = self.anchored
        keys: list[tuple[Any, ...]] | None
        if m.type in CIRCUIT_TYPES:
            keys = _keys(m)
        else:
            key = call_key(m)
            if key in anchored:  # (most messages: the part's own from its anchor on)
                self.batch.append(m)
                if len(self.batch) == 64:
                    self.flush()
                return
            keys = None if key[0] != "sip" and len(key) == 3 else [key]
        p = c._pos_of(m)
        if (
            keys is not None
            and m.type == "IAM"
            and keys[0] not in anchored
            and ts >= self.first_ts + self.horizon
            and ts - self.last.get(keys[0], -inf) >= self.horizon
        ):
            self.flush()  # the key's state just before its IAM
            if _idle(c, keys[0]):
                anchored[keys[0]] = ts
                self.anchors.append((p, keys[0], ts, m.opc))
        owned = [k in anchored for k in keys] if keys is not None else [False]
        if not all(owned):
            if any(owned):
                self.fallback = self.fallback or "a supervision message covers circuits of both kinds"
            self.head.append((p, sched.now, m))
            c.head_pos.add(p)
            for k in keys or ():
                self.last[k] = ts
        self.batch.append(m)
        if len(self.batch) == 64:
            self.flush()


def run_part(
    files: Iterable[Iterable[Message]], part: Tagged, horizon: float, take: Take | None = None
) -> PartResult:
    """Read a later part (``files``, in order) with an empty correlator ``part`` (see the module's
    docstring); ``horizon``: how far copies and out-of-order messages reach.  ``take(calls, records)``,
    if given, gets what the part hands out of its own as it comes (a few hundred at a time, each list in
    order) and returns what the result keeps of them (an audit's part: the index of each one's verdict,
    its rows written: the calls are not held to the end)."""
    r = _PartReader(part, horizon, take)
    for i, msgs in enumerate(files):
        r.flush()
        if i == 0:
            r.continued = continues(msgs)
        if i == 0 or not continues(msgs):  # (the first: an empty correlator starts the same either way)
            part.new_file()
            r.sched.start_file()
        for m in msgs:
            r.message(m)
    r.flush()
    if part.runs:
        r.fallback = r.fallback or "the correlator did not run its timers where the schedule said"
    r.drain()
    recent = {(m.ts, m.link, m.raw) for _, _, m in r.head}
    return PartResult(
        first_ts=r.first_ts if r.first_ts is not None else inf,
        calls=r.calls,
        records=r.records,
        head=r.head,
        runs=part.ran,
        anchors=r.anchors,
        correlator=part,
        anchored=r.anchored,
        messages=r.n,
        fallback=r.fallback,
        continued=r.continued,
        sightings=[g for g in part._seen_q if (g[0], g[3], g[6][4]) not in recent],
        peaks=r.peaks,
        orphans=r.orphans,
        events=r.events,
    )


# -- the merge -----------------------------------------------------------------------------------------------
def _check_bounds(state: Tagged, part: PartResult) -> None:
    """Whether the whole state may reach a memory bound in this part (both sides' tables at their
    largest): then only reading the part again from the state is exact."""
    limits = {
        "table": state.cap,
        "parked": state.max_parked,
        "lingering": state.max_lingering,
        "sightings": state.max_sightings,
        "circuits": state.max_circuits,
    }
    now = _sizes(state)
    for name, limit in limits.items():
        if now[name] + part.peaks.get(name, 0) >= limit:
            raise Fallback(f"the {name} bound could be reached ({now[name]} + {part.peaks.get(name, 0)})")
    c = part.reader()
    if c.forgotten or c.evictions:
        raise Fallback("a memory bound dropped state in the part")


def merge(state: Tagged, part: PartResult) -> tuple[list[tuple[Tag, Call]], list[tuple[Tag, Any]]]:
    """Merge a later part into ``state`` (the true state after the parts before): what one correlator
    hands out over the part, in its order, and ``state`` becomes the true state after it.  Raises
    :class:`Fallback`, after which ``state`` is not usable (merge from a copy of it)."""
    if part.fallback:
        raise Fallback(part.fallback)
    # one correlator runs the timers at the part's first message, as the part did: after a file start, at
    # the first message later than the clock; inside a file, at the first after the schedule's sweep
    if not part.first_ts > (state._sweep if part.continued else state.now):
        raise Fallback("the part does not start where one correlator runs its timers")
    _check_bounds(state, part)
    forgotten, evictions = dict(state.forgotten), state.evictions
    count = state.messages
    kept = (len(state.orphans), len(state.circuit_events))
    state.entered = {}
    state.timers_on = False
    events: list[tuple[int, int, Any]] = [(p, _RUN, ts) for p, ts in part.runs]
    events += [(p, _ANCHOR, (key, ts, opc)) for p, key, ts, opc in part.anchors]
    events += [(p, _HEAD, (clock, m)) for p, clock, m in part.head]
    events.sort(key=lambda e: (e[0], e[1]))
    for p, kind, x in events:
        if kind == _RUN:
            state.run_timers(p, x)
        elif kind == _ANCHOR:
            _anchor(state, part, p, *x)
        else:
            clock, m = x
            if max(state.now, m.ts) != clock:  # a message earlier than the clock (out of order)
                state.set_clock(clock)
            state.feed_batch([m])
    if state.forgotten != forgotten or state.evictions != evictions:
        raise Fallback("a memory bound dropped state in the merge")
    mine_calls, mine_records = state.out()
    calls = _ordered(mine_calls, part.calls)
    records = _ordered(mine_records, part.records)
    _absorb(state, part, count)
    orphans = [r for _, r in records if isinstance(r, Orphan)]
    events_ = [r for _, r in records if isinstance(r, CircuitEvent)]
    state.orphans = (state.orphans[: kept[0]] + orphans)[: state.keep_records]
    state.circuit_events = (state.circuit_events[: kept[1]] + events_)[: state.keep_records]
    state.orphan_count += part.orphans
    state.circuit_event_count += part.events
    return calls, records


def _anchor(state: Tagged, part: PartResult, p: int, key: tuple[Any, ...], ts: float, opc: Any) -> None:
    """The part anchors ``key`` with an IAM at position ``p``: ``state`` must hold the key idle there, or
    only a released call lingering on it, which the IAM writes out first (CIC reuse), or a reset waiting
    for its RLC that no RLC of the part on an idle key answers (it stays in the state, as in one
    correlator: only such an RLC would have read it)."""
    call = state.table.get(key)
    if (
        call is not None
        and call.state == RELEASED
        and not call.pcless
        and TRANSITIONS[(RELEASED, "IAM" if opc == call.opc else "IAM_REV")][0] == "reuse"
    ):
        state._cur = p
        state._release_over(call, "iam", ts)
        del state.table[key]
        state._finish(call, "superseded")
    reset = state._reset_pending.get(key)
    if reset is not None:
        lo, hi = reset - state.reorder_window, reset + state.ack_window
        if any(k == key and lo <= t <= hi for k, t in part.reader().idle_rlcs):
            raise Fallback(f"key {key}: an RLC of the part may answer a reset of the state")
    if not _idle(state, key, resets=False):
        raise Fallback(f"key {key} is not idle in the state at its anchor")


def _ordered(mine: list[tuple[Tag, Any]], theirs: list[tuple[Tag, Any]]) -> list[tuple[Tag, Any]]:
    """The merge's and the part's outputs (each in order) in one correlator's order; the same tag on
    both sides cannot be ordered."""
    both = list(heapq.merge(((t, 0, x) for t, x in mine), ((t, 1, x) for t, x in theirs), key=lambda e: e[0]))
    for a, b in pairwise(both):
        if a[0] == b[0] and a[1] != b[1]:
            raise Fallback(f"an item of each side with the same order tag {a[0]}")
    return [(t, x) for t, _, x in both]


def _absorb(state: Tagged, part: PartResult, count: int) -> None:
    """``state`` (every key the part did not anchor) takes the part's anchored keys: each table in one
    correlator's order, the counters added."""
    c = part.reader()
    anch = part.anchored
    # open calls, in the order they entered the table (those entered before the part first)
    before = [(k, v) for k, v in state.table.items() if k not in state.entered]
    entered = [(state.entered[k], k, v) for k, v in state.table.items() if k in state.entered]
    entered += [(c.entered[k], k, v) for k, v in c.table.items() if k in anch]
    entered.sort(key=lambda e: e[0])
    state.table = dict(before + [(k, v) for _, k, v in entered])
    # parked messages (by the position of the first), their timers, the lingering calls
    theirs = sorted(((k, v) for k, v in c._parked.items() if k in anch), key=lambda kv: c._pos_of(kv[1][0]))
    state._parked = {**state._parked, **dict(theirs)}
    state._park_q = deque(
        heapq.merge(state._park_q, (e for e in c._park_q if e[1] in anch), key=lambda e: state._pos_of(e[2]))
    )
    _absorb_lingering(state, c, anch)
    # per-circuit state
    for k, t in c._reset_pending.items():
        if k in anch:
            state._reset_pending[k] = t
    for kd in c._blocked:
        if kd[0] in anch:
            state._blocked[kd] = None
    for dk, t in c._circuit_recent.items():
        if t > state._circuit_recent.get(dk, -inf):
            state._circuit_recent[dk] = t
    for name, n in c._prune_at.items():
        state._prune_at[name] = max(state._prune_at.get(name, 0), n)
    # sightings: both sides' in time order, each signature's chain linked again
    q = list(heapq.merge(state._seen_q, part.sightings, key=lambda g: g[0]))
    seen: dict[tuple[Any, ...], list[Any]] = {}
    for g in q:
        g[5] = seen.get(g[6])
        seen[g[6]] = g
    state._seen, state._seen_q, state._sighting = seen, deque(q), None
    # counters
    state.now = max(state.now, c.now)
    state.calls += len(part.calls) + sum(1 for k in c.table if k in anch)
    state.duplicates += c.duplicates - c.head_duplicates
    state.timers_on = True
    if part.messages:
        state._sweep = c._sweep  # (the same as one correlator's since the part's first message)
    state._step, state._count = state._make_step(count + part.messages)


def _absorb_lingering(state: Tagged, c: Tagged, anch: dict[tuple[Any, ...], float]) -> None:
    def order(e: Any, side: Tagged) -> tuple[float, int]:
        return (e[0], side.released.get(side._pos_of(e[2].iam), 0))

    both = list(
        heapq.merge(
            ((order(e, state), 0, e) for e in state._linger_q),
            ((order(e, c), 1, e) for e in c._linger_q if e[1] in anch),
            key=lambda x: x[0],
        )
    )
    for a, b in pairwise(both):
        if a[0] == b[0] and a[1] != b[1]:
            raise Fallback("two lingering calls released at the same position, one on each side")
    for _, side, e in both:
        p = c._pos_of(e[2].iam)
        if side == 1 and p in c.released:
            state.released[p] = c.released[p]
    state._linger_q = _Lingering(state, (e for _, _, e in both))
    state._cooling.clear()


def run_parts(
    files: Sequence[Sequence[Message]],
    cuts: Sequence[int],
    make: Callable[[], Tagged],
    horizon: float,
) -> tuple[list[tuple[Tag, Call]], list[tuple[Tag, Any]], list[str]]:
    """``files`` cut before each index of ``cuts`` into parts: the first read by one correlator, each
    later one by :func:`run_part` and merged in order (read again from the state when its merge raises
    :class:`Fallback`); then the end of the input.  Returns the calls and the records in one correlator's
    order, and the fallbacks' reasons."""
    bounds = [0, *cuts, len(files)]
    parts = [files[a:b] for a, b in pairwise(bounds) if b > a]
    state = make()
    calls, records = sequential(state, parts[0])
    fallbacks: list[str] = []
    for files_k, result in [(f, run_part(f, make(), horizon)) for f in parts[1:]]:
        saved = pickle.dumps((state.snapshot(), state.released), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            c, r = merge(state, result)
        except Fallback as exc:
            fallbacks.append(str(exc))
            state = make()
            snap, released = pickle.loads(saved)
            state.restore(snap)
            state.released = released
            c, r = sequential(state, files_k)
        calls += c
        records += r
    c, r = state.end()
    return calls + c, records + r, fallbacks
