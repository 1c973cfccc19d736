"""Call correlation: decoded messages in, finished calls out, streaming.

:class:`Correlator` keeps one entry per busy key (:func:`~sigdiag.calls.keys.call_key`; ISUP: the
unordered point-code pair and the CIC; BICC: the point codes and the call instance code; SIP-I: the
Call-ID) and drives the state machine of :mod:`sigdiag.calls.machine`.  Memory is bounded by the calls
open at one time: a call is written out (classified, handed to the caller) as soon as it is over, and
every table that grows with the traffic has a bound (:mod:`sigdiag.calls.bounds`; docs/calls.md, "Memory
bounds").

What happens to messages that do not make a call:

* a copy of a message already seen (same octets from the CIC on, same direction) is counted once and
  listed on the call of the message (:mod:`sigdiag.calls.copies`);
* a message with no call on its key is *parked* for ``reorder_window_ms`` (its IAM may follow a few
  frames later when time stamps and file order disagree), then reported as an :class:`Orphan`;
* circuit supervision (RSC, GRS, BLO, CGB and their acknowledgements, UCIC) is reported as a
  :class:`CircuitEvent` and acts on the calls of the circuits it covers (:mod:`sigdiag.calls.circuits`).

A call stays keyed by its circuit whatever link its messages are seen on (``Call.links`` lists them,
the IAM's first).  A call that ends less than ``cross_link_window_ms`` after its last message is handed
out that much later, so the copies of its last messages are listed on it.

Time is the capture's: ``now`` is the latest time stamp seen, so timers do not depend on how fast the
file is read.  Messages are processed in file order (the order the probe saw them); time stamps a few
milliseconds out of order only make derived delays slightly off (they are never negative).

This module is the correlator's front: :class:`Correlator` and how to drive it.  Its parts, one job each,
are bases of it: :mod:`~sigdiag.calls.step` (the per-message loop), :mod:`~sigdiag.calls.actions` (the
state machine's actions), :mod:`~sigdiag.calls.circuits` (circuit supervision),
:mod:`~sigdiag.calls.copies` (copy detection), :mod:`~sigdiag.calls.bounds` (memory bounds and timers),
:mod:`~sigdiag.calls.ledger` (the tables, the end and hand-out of calls); the records are in
:mod:`~sigdiag.calls.record`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from sigdiag.calls.bounds import BOUNDS, MAX_PARKED_PER_KEY
from sigdiag.calls.keys import call_key
from sigdiag.calls.ledger import STATE_ATTRIBUTES, CorrelatorState
from sigdiag.calls.record import CALL_KEYS, Call, CircuitEvent, Orphan
from sigdiag.calls.step import _Step
from sigdiag.model import Message

__all__ = [
    "BOUNDS",
    "CALL_KEYS",
    "MAX_PARKED_PER_KEY",
    "Call",
    "CircuitEvent",
    "Correlator",
    "CorrelatorState",
    "Orphan",
    "call_key",
]


class Correlator(_Step):
    """Groups decoded messages into calls with the table-driven state machine.

    Use :meth:`run` on an iterable of messages (yields finished calls, then the calls still open at the
    end), or :meth:`feed` message by message and :meth:`close` at the end; finished calls collect in
    :attr:`done` (drained by :meth:`take`).  Counters: ``messages``, ``calls``, ``duplicates``,
    ``orphan_count``, ``circuit_event_count``, ``evictions``; ``orphans`` and ``circuit_events`` keep the
    first ``keep_records`` of each; ``on_orphan`` and ``on_circuit_event`` callbacks see all of them.
    ``forgotten`` counts the state dropped by the other memory bounds (:data:`BOUNDS`,
    :meth:`bound_warnings`).  :meth:`snapshot` and :meth:`restore` carry the state from one correlator
    to another (a capture point's files, one after the other).
    """

    # -- driving ---------------------------------------------------------------------------------------
    def run(self, messages: Iterable[Message], batch: int = 64) -> Iterator[Call]:
        """Feed every message and yield the calls as they finish, then the rest at the end.

        Messages are taken ``batch`` at a time: decoding a batch, then correlating it, keeps each loop's
        code and data hot in the CPU caches (measured a quarter faster than one message at a time).  Keep
        batches small: a batch of live messages larger than the garbage collector's first threshold (700
        objects) makes every collection walk it.
        """
        process = self._step
        it = iter(messages)
        while True:
            chunk = list(islice(it, batch))
            if not chunk:
                break
            process(chunk)
            if self.done:
                yield from self.take()
        self.close()
        yield from self.take()

    def feed(self, m: Message) -> None:
        """Process one message (in capture order)."""
        self._step((m,))

    def new_file(self) -> None:
        """A capture file starts: the loop runs the timers at its first message later than the clock (as
        at a restore before the schedule was state; an audit does this at each file of a point, so that a
        part read from its first file runs them where one worker does)."""
        self._sweep = self.now
        self._step, self._count = self._make_step(self._count())

    @property
    def messages(self) -> int:
        """Messages fed so far."""
        return self._count()

    # -- state -----------------------------------------------------------------------------------------
    def snapshot(self) -> CorrelatorState:
        """The run-time state (open calls, parked messages, queues, counters...) to go on from later, in
        another correlator of the same settings (:meth:`restore`); the live tables, not copies."""
        return CorrelatorState(self.messages, **{f: getattr(self, a) for f, a in STATE_ATTRIBUTES.items()})

    def restore(self, state: CorrelatorState) -> None:
        """Go on from ``state`` (of :meth:`snapshot`, taken from a correlator of the same settings): the
        messages after those of the snapshot are processed as if no file boundary came in between."""
        for f, a in STATE_ATTRIBUTES.items():
            setattr(self, a, getattr(state, f))
        if "sweep" not in vars(state):  # (saved before the schedule was state: the old rule, the clock)
            self._sweep = state.now
        # the per-message loop closes over the tables: built again over the restored ones
        self._step, self._count = self._make_step(state.messages)
