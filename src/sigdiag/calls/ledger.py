"""The correlator's tables and the life of a call in them: opened, capped, finished, handed out.

This module owns the state of :class:`sigdiag.calls.correlate.Correlator` (its settings, the open-call
table, the queues of the timers, the counters; set up in :meth:`_Ledger.__init__`) and the steps every
call goes through whatever its messages: a new call (:meth:`_Ledger._new_call`), its entry in the
open-call table under the ``max_open_calls`` cap (:meth:`_Ledger._insert`: the oldest calls are evicted),
the end of a call (:meth:`_Ledger._finish`: end fields, T7, the outcome table's classification), and the
hand-out of finished calls (:meth:`_Ledger.take`, held for ``cross_link_window_ms`` when they ended just
now, so the copies of their last messages are listed on them).  Orphans are reported here too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from itertools import islice
from typing import Any

from sigdiag.calls.copies import _Copies
from sigdiag.calls.machine import ANSWERED, PROCEEDING, RELEASED, SETUP
from sigdiag.calls.outcomes import OutcomeTable, load_outcomes
from sigdiag.calls.record import PHASE, Call, CircuitEvent, Orphan, ms
from sigdiag.calls.settings import CallSettings
from sigdiag.model import Message

__all__ = ["CorrelatorState"]


@dataclass
class CorrelatorState:
    """The run-time state of a correlator, as :meth:`~sigdiag.calls.correlate.Correlator.snapshot` takes it
    and :meth:`~sigdiag.calls.correlate.Correlator.restore` puts it back (an audit worker carries it from
    one file of a capture point to the next).  Picklable; it holds the correlator's live tables, not
    copies (pickle it before feeding more).  The settings, the outcome table and the callbacks are not
    state: they are the restoring correlator's own."""

    messages: int
    now: float
    closed: bool
    calls: int
    duplicates: int
    orphan_count: int
    circuit_event_count: int
    evictions: int
    forgotten: dict[str, int]
    table: dict[tuple[Any, ...], Call]
    done: list[Call]
    orphans: list[Orphan]
    circuit_events: list[CircuitEvent]
    parked: dict[tuple[Any, ...], list[Message]]
    park_q: deque[tuple[float, tuple[Any, ...], Message]]
    linger_q: deque[tuple[float, tuple[Any, ...], Call]]
    cooling: deque[tuple[float, Call]]
    reset_pending: dict[tuple[Any, ...], float]
    blocked: dict[tuple[tuple[Any, ...], int | None], None]
    circuit_recent: dict[tuple[Any, ...], float]
    prune_at: dict[str, int]
    seen: dict[tuple[Any, ...], list[Any]]
    seen_q: deque[list[Any]]
    sighting: list[Any] | None
    #: the loop runs the timers at the next message later than this (:func:`sigdiag.calls.step.next_sweep`);
    #: a state saved before it was kept restores it as the clock (the loop's old rule after a restore)
    sweep: float = float("-inf")


_PUBLIC = frozenset(
    (
        "now",
        "calls",
        "duplicates",
        "orphan_count",
        "circuit_event_count",
        "evictions",
        "forgotten",
        "table",
        "done",
        "orphans",
        "circuit_events",
    )
)
#: CorrelatorState field -> the correlator's attribute (all but ``messages``, which the loop counts).
STATE_ATTRIBUTES: dict[str, str] = {
    f.name: ("_" + f.name if f.name not in _PUBLIC else f.name)
    for f in fields(CorrelatorState)
    if f.name != "messages"
}


class _Ledger(_Copies):
    """The correlator's state and the bookkeeping of calls (a base of the correlator)."""

    def __init__(
        self,
        settings: CallSettings | None = None,
        outcomes: OutcomeTable | None = None,
        *,
        on_orphan: Callable[[Orphan], None] | None = None,
        on_circuit_event: Callable[[CircuitEvent], None] | None = None,
        keep_records: int = 10_000,
    ) -> None:
        self.settings = s = settings or CallSettings()
        self.outcomes = outcomes or load_outcomes()
        self.dup_window = s.duplicate_window_ms / 1000.0
        self.cross_window = s.cross_link_window_ms / 1000.0
        self.reorder_window = s.reorder_window_ms / 1000.0
        self.linger = s.linger_ms / 1000.0
        self.t7 = s.t7_s
        self.ack_window = s.ack_window_s
        self.glare_window = s.glare_window_ms / 1000.0
        self.cap = s.max_open_calls
        self.max_parked = s.max_parked
        self.max_sightings = s.max_sightings
        self.max_circuits = s.max_circuits
        #: released calls waiting for late messages, and finished calls held for their copies, at most
        self.max_lingering = max(1, s.max_open_calls // 4)
        self.keep = s.keep_messages
        self.on_orphan = on_orphan
        self.on_circuit_event = on_circuit_event
        self.keep_records = keep_records
        self.table: dict[tuple[Any, ...], Call] = {}
        self.done: list[Call] = []
        self.orphans: list[Orphan] = []
        self.circuit_events: list[CircuitEvent] = []
        self.duplicates = 0
        self.orphan_count = 0
        self.circuit_event_count = 0
        self.evictions = 0
        #: state dropped early by a memory bound: name (:data:`BOUNDS`) -> how many
        self.forgotten: dict[str, int] = {}
        self.calls = 0
        self.now = float("-inf")
        self._sweep = float("-inf")
        self._parked: dict[tuple[Any, ...], list[Message]] = {}
        self._park_q: deque[tuple[float, tuple[Any, ...], Message]] = deque()
        self._linger_q: deque[tuple[float, tuple[Any, ...], Call]] = deque()
        self._reset_pending: dict[tuple[Any, ...], float] = {}
        self._blocked: dict[tuple[tuple[Any, ...], int | None], None] = {}  # (an ordered set)
        self._circuit_recent: dict[tuple[Any, ...], float] = {}
        # sizes at which _reset_pending and _circuit_recent are next pruned by time (doubled when a
        # pruning leaves them large, so a burst does not rescan them at every message)
        self._prune_at = {"reset": min(10_000, s.max_circuits), "recent": min(1000, s.max_circuits)}
        # Copy detection (sigdiag.calls.copies): message signature -> its newest sighting of the last windows,
        # every sighting in the order seen (to forget them), the sighting of the message being processed.
        self._seen: dict[tuple[Any, ...], list[Any]] = {}
        self._seen_q: deque[list[Any]] = deque()
        self._sighting: list[Any] | None = None
        # how long a sighting is kept: the longer window, plus time stamps out of order
        self._seen_horizon = max(self.cross_window, self.dup_window) + self.reorder_window
        # finished calls of done held until a time (take): (time, call), in the order of done
        self._cooling: deque[tuple[float, Call]] = deque()
        self._closed = False
        # the per-message loop and its compiled tables (sigdiag.calls.step)
        self._compile()

    def _compile(self) -> None:
        """Compile the transition table and build the per-message loop (:mod:`sigdiag.calls.step`)."""
        raise NotImplementedError

    _step: Callable[[Sequence[Message]], None]
    _count: Callable[[], int]

    def take(self) -> list[Call]:
        """The calls finished since the last call to take(), in the order they finished; a call that
        finished less than ``cross_link_window_ms`` after its last message (and the calls after it) waits
        until that time has passed, so the copies of its last messages seen on another link are listed on
        it (see the module docstring)."""
        held = self._cooling
        if held:
            now = self.now
            while held and held[0][0] < now:
                held.popleft()
        if not held:
            out = self.done
            self.done = []
            return out
        first = held[0][1]
        done = self.done
        for i, call in enumerate(done):
            if call is first:
                self.done = done[i:]
                return done[:i]
        held.clear()  # (not in done: taken by other means)
        self.done = []
        return done

    def close(self) -> None:
        """End of the capture: report parked messages as orphans and write out every call still open."""
        if self._closed:
            return
        self._closed = True
        for msgs in self._parked.values():
            for pm in msgs:
                self._orphan(pm, "no IAM in the capture")
        self._parked.clear()
        self._park_q.clear()
        end = self.now
        for call in list(self.table.values()):
            self._release_over(call, "capture_end", end)  # measured to the capture's last time stamp
            self._finish(call)
        self.table.clear()
        self._linger_q.clear()
        self._cooling.clear()  # the end: every call can be taken
        self._seen.clear()
        self._seen_q.clear()
        self._circuit_recent.clear()
        self._reset_pending.clear()
        self._blocked.clear()

    def _orphan(self, m: Message, reason: str) -> None:
        self.orphan_count += 1
        o = Orphan(m, reason)
        g = self._sighting_of(m)
        if g is not None and g[4]:  # its copies on other links, seen while it was parked
            o.links.extend(link for link in g[4] if link != o.link)
        if len(self.orphans) < self.keep_records:
            self.orphans.append(o)
        if self.on_orphan is not None:
            self.on_orphan(o)

    def _new_call(self, key: tuple[Any, ...], m: Message) -> Call:
        self.calls += 1
        call = Call(self.calls, key, m, self.keep)
        if self._blocked and (key, m.dpc) in self._blocked:
            call.flag("iam_on_blocked_circuit")
        g = self._sighting  # the IAM being processed
        if g is not None and g[1] is None:
            g[1] = call
            if g[2]:  # copies seen before it had a call
                self._claim(g, call)
        return call

    def _insert(self, key: tuple[Any, ...], call: Call) -> None:
        table = self.table
        if len(table) >= self.cap:
            # the oldest calls go, a 1/1024 of the cap at a time: taking the dict's first key one by one
            # rescans the slots of the keys deleted before it (quadratic with a full table)
            for old_key in list(islice(table, max(1, self.cap // 1024))):
                old = table.pop(old_key)
                if old.state in (SETUP, PROCEEDING, ANSWERED):
                    self.evictions += 1
                    old.end_reason = "evicted"
                    old.flag("evicted")
                self._release_over(old, "evicted", self.now)
                self._finish(old)
        table[key] = call

    def _finish(self, call: Call, reason: str | None = None) -> None:
        """Classify a call that is over and hand it out (to :attr:`done`, see :meth:`take`)."""
        rel = call.rel_ts
        open_at_end = False
        if rel is not None:
            call.end_reason = "released" if call.rlc_ts is not None or call.sip else "release_unacknowledged"
            call.released = True
            if call.rlc_ts is not None and call.release_end is None:
                self._release_over(call, "rlc", call.rlc_ts)
        else:
            end_reason = call.end_reason
            if end_reason is None:
                if reason is not None:
                    end_reason = reason
                elif call.state == RELEASED:
                    end_reason = "released"
                else:
                    end_reason = "open"
                call.end_reason = end_reason
            open_at_end = end_reason == "open" or end_reason == "evicted"
            if call.state != RELEASED:
                call.phase = PHASE.get(call.state, call.phase)
        last = call.last_ts
        call.end_ts = None if open_at_end else last
        anm = call.anm_ts
        if anm is not None:
            call.answered = True
            if call.acm_ts is not None and call.answer_delay_ms is None:
                call.answer_delay_ms = ms(call.acm_ts, anm)
            if call.conversation_s is None and not open_at_end:
                end = last - anm
                call.conversation_s = round(end, 6) if end > 0 else 0.0
        bwd = call.first_bwd_ts
        # T7: no backward message within T7 of the latest address message, and the call lasted that long
        # (a release from the called side, however late, tells its own story through its cause)
        limit = call.last_addr_ts + self.t7
        if bwd is not None:
            call.backward_seen = True
            if bwd > limit and call.released_by != "called":
                call.t7_expired = (rel if rel is not None else last) >= limit
        elif call.released_by != "called":
            call.t7_expired = (rel if rel is not None else self.now if open_at_end else last) >= limit
        outcome, detail = self.outcomes.classify(call)
        call.outcome = call.base_outcome = outcome
        call.outcome_detail = call.base_outcome_detail = detail
        call.outcome_by = "outcomes"
        # handed out: to done; a call whose last message is more recent than the cross-link window is
        # held there that long (take)
        self.done.append(call)
        if not self._closed and self.cross_window and last + self.cross_window >= self.now:
            self._cooling.append((self.now + self.cross_window, call))

    @staticmethod
    def _release_over(call: Call, end: str, ts: float) -> None:
        """The wait for the RLC after the call's first REL ends (Q.764 2.3.1, 2.10.6): ``end`` says how
        (``rlc``; ``iam``: the circuit seized again; ``reset``: RSC/GRS; ``blocked``: hardware-failure CGB;
        ``capture_end``; ``evicted``: the open-call cap) and ``ts`` when.  Only the first end counts;
        nothing without a REL, nor for SIP-I (no RLC there)."""
        rel = call.rel_ts
        if rel is None or call.release_end is not None or call.sip:
            return
        if call.rlc_ts is not None:  # an RLC captured ahead of its REL (out of order) acknowledged it
            end, ts = "rlc", call.rlc_ts
        call.release_end = end
        call.release_wait_ms = ms(rel, ts)
