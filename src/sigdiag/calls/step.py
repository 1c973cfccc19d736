"""The per-message step: the hot loop of the correlator, and the transition table compiled for it.

Every message goes through :meth:`_Step._make_step`'s loop once (about two microseconds a message: this
is the hot path of ``sigdiag calls``, ``check`` and ``audit``).  The loop is a closure over the
correlator's tables (locals instead of attribute look-ups, one Python call per batch of messages); for a
message of a normal call (IAM, ACM, ANM, REL, RLC...) it calls one function, the action that the
transition table gives (:mod:`sigdiag.calls.actions`): the table is compiled into one dict per state and
direction, message type -> entry, so one look-up replaces a chain of tests.  The rare paths are helpers:
copies (:mod:`sigdiag.calls.copies`), circuit supervision (:mod:`sigdiag.calls.circuits`), the timers and
bounds (:mod:`sigdiag.calls.bounds`), a new IAM on a busy key (:meth:`_Step._settling`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sigdiag.calls.actions import PCLESS_SIDES, UNTYPED, Entry
from sigdiag.calls.circuits import CIRCUIT_TYPES, _Circuits
from sigdiag.calls.machine import (
    EVENT_BACKWARD,
    EVENT_FORWARD,
    EVENT_IDLE,
    IDLE,
    NOT_ATTACHING,
    RELEASED,
    RELEASING,
    SETUP,
    STATES,
    TRANSITIONS,
)
from sigdiag.calls.record import Call
from sigdiag.model import Message

__all__ = ["next_sweep", "timer_tick"]


def timer_tick(c: Any) -> float:
    """The timers' tick: a quarter of the shorter of the linger and reorder windows."""
    return float(min(c.linger, c.reorder_window)) / 4


def next_sweep(ts: float, tick: float) -> float:
    """After the timers ran at time ``ts``, they run again at the first message later than this: the end
    of ``ts``'s tick on a fixed grid of ticks (so that where they run depends on the time stamps only,
    not on where a reading started: a capture point can be cut inside a file, see
    :class:`sigdiag.calls.parts.Cut`); every later message without a tick."""
    if tick > 0:
        return (ts // tick + 1.0) * tick
    return ts


#: Actions that may put a new call on the key (the loop's version of them settles it, see _settling).
_NEW_CALL = frozenset(("reuse", "dual_seizure"))
#: A compiled entry of the loop: (action, next state, attaches the message?, ends): ``ends`` 1 when the
#: transition releases the call (it lingers, then it is written out), 2 when it starts the wait for the
#: RLC (a SIP-I call, which has no RLC, is released at once), 0 otherwise.
HotEntry = tuple[Callable[..., "Call | None"], int, bool, int]


class _Step(_Circuits):
    """The per-message loop (a base of the correlator)."""

    def _compile(self) -> None:
        """Compile :data:`~sigdiag.calls.machine.TRANSITIONS`: per state, event -> entry for the slow path
        (:meth:`_dispatch`); per state and direction, message type -> entry for the loop, and message
        type -> action on an idle key; then build the loop."""
        self._by_event: list[dict[str, Entry]] = [{} for _ in STATES]
        for (state, event), (action, nxt) in TRANSITIONS.items():
            if state == IDLE and nxt != (SETUP if action == "open" else IDLE):
                # (the loop does not set the state of a call opened on an idle key: a Call starts in SETUP)
                raise ValueError(f"transition table: ({state}, {event}) -> {nxt} is not supported")
            self._by_event[state][event] = (getattr(self, "_do_" + action), nxt, action not in NOT_ATTACHING)
        self._fwd = [self._hot_table(state, EVENT_FORWARD) for state in STATES]
        self._bwd = [self._hot_table(state, EVENT_BACKWARD) for state in STATES]
        self._other = [self._hot_entry(state, "OTHER") for state in STATES]
        self._idle: dict[str, Callable[..., Call | None]] = {
            t: self._by_event[IDLE][e][0] for t, e in EVENT_IDLE.items()
        }
        self._idle_other: Callable[..., Call | None] = self._by_event[IDLE]["OTHER"][0]
        self._step, self._count = self._make_step()

    def _hot_table(self, state: int, events: dict[str, str]) -> dict[str, HotEntry]:
        return {t: self._hot_entry(state, e) for t, e in events.items() if (state, e) in TRANSITIONS}

    def _hot_entry(self, state: int, event: str) -> HotEntry:
        """The loop's entry for ``event`` in ``state`` (the call being in that state, see HotEntry)."""
        action, nxt = TRANSITIONS[(state, event)]
        fn = getattr(self, "_do_" + action)
        if action in _NEW_CALL:
            fn = self._settling(fn, nxt)
        if nxt == RELEASING and state == RELEASED:
            raise ValueError(f"transition table: ({state}, {event}) goes back from RELEASED to RELEASING")
        if nxt == RELEASED and state != RELEASED:
            ends = 1
        elif nxt == RELEASING and state != RELEASING:
            ends = 2
        else:
            ends = 0
        return (fn, nxt, action not in NOT_ATTACHING, ends)

    def _settling(self, action: Callable[..., Call | None], nxt: int) -> Callable[..., None]:
        """``action`` as the loop calls it when it may put a new call on the key (CIC reuse, dual
        seizure): it also sets the state (a new call: the messages parked on the key replayed onto it);
        nothing is left for the loop to do."""

        def settle(key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> None:
            c = action(key, call, m, fwd)
            if c is None:
                return
            if nxt != c.state:
                self._set_state(key, c, nxt)
            elif c is not call:  # a new call on the key
                c.state = nxt
                parked = self._parked
                if parked and key in parked:
                    self._replay(key, c)

        return settle

    def _make_step(self, count: int = 0) -> tuple[Callable[[Sequence[Message]], None], Callable[[], int]]:
        """The per-message loop as a closure over the correlator's tables (the hot path: locals instead
        of attribute look-ups, one Python call per batch of messages), and a function that tells how
        many messages it has seen (``count`` before it)."""
        # (an audit state saved before _blocked was ordered holds a set)
        self._blocked = dict.fromkeys(self._blocked) if isinstance(self._blocked, set) else self._blocked
        table = self.table
        fwd_tables = self._fwd
        bwd_tables = self._bwd
        other = self._other
        idle = self._idle
        idle_other = self._idle_other
        sightings = self._seen
        seen_q = self._seen_q
        copy_of = self._copy_of
        linger = self.linger
        linger_q = self._linger_q
        expire = self._expire
        bounds = self._enforce_bounds
        circuit = self._circuit
        circuit_types = CIRCUIT_TYPES
        pcless_sides = PCLESS_SIDES
        untyped = UNTYPED
        pcless_rel = self._pcless_rel
        keep = self.keep
        now = self.now
        sweep = self._sweep  # the timers run at the first message later than this
        tick = timer_tick(self)

        def process(messages: Sequence[Message]) -> None:
            nonlocal count, now, sweep
            count += len(messages)
            for m in messages:
                ts = m.ts
                self.now = now = ts if ts > now else now
                if ts > sweep:
                    self._sweep = sweep = next_sweep(ts, tick)
                    expire(ts)
                sid = m.sip_call_id
                a = m.opc
                b = m.dpc
                link = m.link
                # the same message seen before (the same octets the same way: a copy on another link, or
                # again on the same link), whatever came in between: counted once, listed on its call
                sig = (m.protocol, sid, a, b, m.raw)
                newest = sightings.get(sig)
                if newest is not None and copy_of(newest, m, link, ts):
                    continue
                g: list[Any] = [ts, None, None, link, None, newest, sig]
                sightings[sig] = g
                seen_q.append(g)
                self._sighting = g
                typ = m.type
                if typ in circuit_types:
                    circuit(m)
                    continue
                key: tuple[Any, ...] = (  # sigdiag.calls.keys.call_key(m), written out
                    ("sip", sid)
                    if sid is not None
                    else (m.protocol, link, m.cic)
                    if a is None or b is None
                    else (m.protocol, a, b, m.cic)
                    if a <= b
                    else (m.protocol, b, a, m.cic)
                )
                call = table.get(key)
                if call is None:
                    idle.get(typ, idle_other)(key, None, m, True)
                    continue
                if call.pcless:  # the side from the message type (a REL: from its cause)
                    fwd, direction = (
                        pcless_sides.get(typ, untyped)
                        if typ != "REL"
                        else (True, 0)
                        if pcless_rel(call, m)
                        else (False, 1)
                    )
                else:
                    fwd = a == call.opc
                    direction = 0 if fwd else 1
                state = call.state
                action, nxt, attaches, ends = (fwd_tables if fwd else bwd_tables)[state].get(typ) or other[
                    state
                ]
                c = action(key, call, m, fwd)
                if c is None:
                    continue
                if attaches:
                    c.timeline.append((m.frame, ts, typ, direction, m.raw))
                    c.types |= 1 << (m.type_code & 0xFF)  # (-1 for an unreadable message)
                    if keep:
                        c.messages.append(m)  # type: ignore[union-attr]
                    if ts > c.last_ts:
                        c.last_ts = ts
                    if direction == 1 and c.first_bwd_ts is None and c.rel_ts is None and typ != "RLC":
                        c.first_bwd_ts = ts
                    g[1] = c  # (no copy can be pending: the message was first seen just now)
                    links = c.links
                    if link is not links[0] and link not in links:
                        links.append(link)
                if ends and (ends == 1 or c.sip):  # released (SIP-I has no RLC): lingers, then written out
                    linger_q.append((now + linger, key, c))
                    nxt = RELEASED
                c.state = nxt
            # the memory bounds, once a batch (time stamps that do not advance never expire anything)
            bounds()

        return process, lambda: count
