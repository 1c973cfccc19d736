"""The actions of the state machine on a call: ``_do_<action>`` of :data:`~sigdiag.calls.machine.TRANSITIONS`.

Each action takes ``(key, call or None, message, sent by the calling side?)`` and returns the call the
message belongs to (the per-message loop then attaches the message and sets the next state), or None.
This module owns them and the slow way of applying an event to a call (:meth:`_Actions._dispatch`, for
replayed messages and circuit supervision); the circuit supervision actions are in
:mod:`sigdiag.calls.circuits`.  A message with no call on its key is *parked* for ``reorder_window_ms``
(its IAM may follow a few frames later when time stamps and file order disagree), then reported as an
:class:`~sigdiag.calls.record.Orphan`; when the IAM comes, the parked messages are replayed onto its call
(:meth:`_Actions._replay`).

Without point codes (SIP-I bodies, BICC on SCTP) the direction of a message comes from its type
(:data:`PCLESS_SIDES`; a REL: :meth:`_Actions._pcless_rel`).
"""

from __future__ import annotations

from typing import Any

from sigdiag.calls.bounds import MAX_PARKED_PER_KEY, _Bounds
from sigdiag.calls.machine import EVENT_BACKWARD, EVENT_FORWARD, PROCEEDING, RELEASED, RELEASING, SETUP
from sigdiag.calls.record import PHASE, Call, ms
from sigdiag.codec.fields import (
    BACKWARD_CALL_INDICATORS,
    EVENT_ALERTING,
    EVENT_INFORMATION,
    SUBSCRIBER_FREE,
    called_partys_status,
    event_indicator,
)
from sigdiag.model import Message

__all__ = ["CALLER_CAUSES", "PCLESS_SIDES", "UNTYPED"]

#: Without point codes, ``(sent by the calling side?, direction)`` by message type (a REL: see
#: :meth:`_Actions._pcless_rel`; other types: :data:`UNTYPED`).
PCLESS_SIDES: dict[str, tuple[bool, int]] = {
    "IAM": (True, 0),
    "SAM": (True, 0),
    "COT": (True, 0),
    "ACM": (False, 1),
    "CPG": (False, 1),
    "ANM": (False, 1),
    "CON": (False, 1),
}
#: The side of a message of another type without point codes: taken as forward, direction unknown.
UNTYPED = (True, -1)
#: Causes of a REL before answer that come from the calling side, when no point codes say who sent it.
CALLER_CAUSES = frozenset((16, 31, 102))
#: An action's entry in the compiled transition table: (action, next state, attaches the message?).
Entry = tuple[Any, int, bool]


class _Actions(_Bounds):
    """The state machine's actions on calls (a base of the correlator)."""

    _by_event: list[dict[str, Entry]]

    # -- direction -------------------------------------------------------------------------------------
    def _side(self, call: Call, m: Message) -> tuple[bool, int]:
        """``(sent by the calling side?, direction)`` of ``m`` on ``call``: direction 0 from the calling
        side, 1 from the called side, -1 unknown (no point codes, not typed)."""
        if not call.pcless:
            fwd = m.opc == call.opc
            return fwd, 0 if fwd else 1
        if m.type == "REL":
            fwd = self._pcless_rel(call, m)
            return fwd, 0 if fwd else 1
        return PCLESS_SIDES.get(m.type, UNTYPED)

    def _direction(self, call: Call, m: Message) -> int:
        """0 from the calling side, 1 from the called side, -1 unknown (no point codes, not typed)."""
        return self._side(call, m)[1]

    @staticmethod
    def _pcless_rel(call: Call, m: Message) -> bool:
        """Without point codes (SIP-I, BICC on SCTP) a REL before answer with cause 16 or 31 (the caller
        hung up) or 102 (the calling side's T7 expired) is taken as the caller's, any other cause before
        answer as the called side's; after answer the side is unknown (taken as forward, and
        ``released_by`` stays null)."""
        return call.anm_ts is not None or m.cause in CALLER_CAUSES

    # -- the slow path ---------------------------------------------------------------------------------
    def _dispatch(self, key: tuple[Any, ...], call: Call, m: Message, event: str, direction: int) -> None:
        """Apply one event to a call (the slow path: circuit supervision and replayed messages)."""
        action, nxt, attaches = self._by_event[call.state][event]
        c = action(key, call, m, direction != 1)
        if c is None:
            return
        if attaches:
            c.timeline.append((m.frame, m.ts, m.type, direction, m.raw))
            c.types |= 1 << (m.type_code & 0xFF)
            if c.messages is not None:
                c.messages.append(m)
            if m.ts > c.last_ts:
                c.last_ts = m.ts
            if direction == 1 and c.first_bwd_ts is None and c.rel_ts is None and m.type != "RLC":
                c.first_bwd_ts = m.ts
            g = self._sighting_of(m)
            if g is not None and g[1] is None:
                self._claim(g, c)
            if m.link not in c.links:
                c.links.append(m.link)
        self._set_state(key, c, nxt)

    def _set_state(self, key: tuple[Any, ...], c: Call, nxt: int) -> None:
        """Move call ``c`` to state ``nxt``; a released call lingers on its key for ``linger_ms`` (SIP-I
        carries no RLC, Q.1912.5: a 200 OK or ACK, so its REL releases it)."""
        if nxt == RELEASING and c.sip:
            nxt = RELEASED
        if nxt == RELEASED and c.state != RELEASED:
            self._linger_q.append((self.now + self.linger, key, c))
        c.state = nxt

    def _replay(self, key: tuple[Any, ...], call: Call) -> None:
        """Messages parked on this key before its IAM arrived: attach those close enough in time."""
        msgs = self._parked.pop(key)
        for pm in msgs:
            current = self.table.get(key)
            if current is None or pm.ts < current.start - self.reorder_window:
                self._orphan(pm, "no IAM in the capture")
                continue
            current.flag("out_of_order")
            typ = pm.type
            direction = self._direction(current, pm)
            event = (EVENT_BACKWARD if direction == 1 else EVENT_FORWARD).get(typ, "OTHER")
            if event == "IAM":
                self._orphan(pm, "no IAM in the capture")
                continue
            self._dispatch(key, current, pm, event, direction)

    # -- actions ---------------------------------------------------------------------------------------
    def _do_open(self, key: tuple[Any, ...], call: Call | None, m: Message, fwd: bool) -> Call:
        """An IAM on an idle key: a new call (in its first state, SETUP), and the messages parked on the
        key replayed onto it (they came before their IAM)."""
        new = self._new_call(key, m)
        self._insert(key, new)
        parked = self._parked
        if parked and key in parked:
            self._replay(key, new)
        return new

    def _do_park(self, key: tuple[Any, ...], call: Call | None, m: Message, fwd: bool) -> None:
        if m.type == "RLC":
            t = self._reset_pending.get(key)
            if t is not None and -self.reorder_window <= m.ts - t <= self.ack_window:
                del self._reset_pending[key]  # the answer to a circuit reset, not a call's RLC
                return
        msgs = self._parked.get(key)
        if msgs is None:
            self._parked[key] = [m]
        else:
            w = self.dup_window
            for pm in msgs:
                if pm.raw == m.raw and pm.opc == m.opc and -w <= m.ts - pm.ts <= w:
                    self.duplicates += 1  # a copy of a parked message
                    return
            if len(msgs) >= MAX_PARKED_PER_KEY:  # (its entry in _park_q is skipped when it comes)
                self._orphan(msgs.pop(0), "no IAM in the capture")
                self._note("parked", 1)
            msgs.append(m)
        self._park_q.append((self.now + self.reorder_window, key, m))

    def _do_ignore(self, key: tuple[Any, ...], call: Call | None, m: Message, fwd: bool) -> None:
        return None

    def _do_reuse(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call | None:
        """A new IAM on a busy key: the call there is written out (CIC reuse) and a new one opened.  Without
        point codes, an INVITE retransmission (SIP-I) is a copy instead, and an IAM crossing the first
        within ``glare_window_ms`` a dual seizure (:meth:`_pcless_dual_seizure`)."""
        if call.pcless:  # without point codes an IAM on a busy key may not be a new call
            if call.sip:  # an INVITE retransmission (SIP timer A), not a new call
                self.duplicates += 1
                call.duplicate_frames.append(m.frame)
                return None
            if call.state == SETUP and 0 <= m.ts - call.start <= self.glare_window:
                self._pcless_dual_seizure(call, m)
                return None
        self._release_over(call, "iam", m.ts)
        del self.table[key]
        self._finish(call, "superseded")
        new = self._new_call(key, m)
        self._insert(key, new)
        return new

    def _pcless_dual_seizure(self, call: Call, m: Message) -> None:
        """Without point codes a second IAM that crosses the first (within ``glare_window_ms``, nothing
        back yet) is a dual seizure; who controls the circuit cannot be told, so the call seen first is
        taken as the winner."""
        loser = self._new_call(call.key, m)
        call.flag("dual_seizure")
        loser.flag("dual_seizure")
        loser.end_reason = "dual_seizure"
        self._finish(loser)

    def _do_dual_seizure(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        """Q.764 2.10.1.4: the exchange with the higher point code controls the even-numbered circuits;
        the call from the other exchange backs off."""
        new = self._new_call(key, m)
        pcs = (call.opc or 0, call.dpc or 0)
        controller = max(pcs) if (m.cic or 0) % 2 == 0 else min(pcs)
        call.flag("dual_seizure")
        new.flag("dual_seizure")
        if call.opc == controller:
            winner, loser = call, new
        else:
            winner, loser = new, call
            del self.table[key]
            self._insert(key, new)
        loser.end_reason = "dual_seizure"
        self._finish(loser)
        return winner

    def _do_digits(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        if m.subsequent:
            call.called += m.subsequent
        if m.called_complete:
            call.called_complete = True
        call.sam_count += 1
        if m.ts > call.last_addr_ts:
            call.last_addr_ts = m.ts
        return call

    def _do_acm(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        ts = m.ts
        if call.acm_ts is None:
            call.acm_ts = ts
        if call.pdd_ms is None:
            call.pdd_ms = ms(call.last_addr_ts, ts)
        if call.alert_ts is None:
            for code, value in m.raw_params:
                if code == BACKWARD_CALL_INDICATORS:
                    if called_partys_status(value) == SUBSCRIBER_FREE:
                        call.alert_ts = ts
                    break
        return call

    def _do_cpg(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        if call.alert_ts is None:
            for code, value in m.raw_params:
                if code == EVENT_INFORMATION:
                    if event_indicator(value) == EVENT_ALERTING:
                        call.alert_ts = m.ts
                        if call.pdd_ms is None:
                            call.pdd_ms = ms(call.last_addr_ts, m.ts)
                    break
        return call

    def _do_answer(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        call.anm_ts = m.ts
        if m.type == "CON" and call.acm_ts is None:
            call.acm_ts = m.ts
        if call.pdd_ms is None:
            call.pdd_ms = ms(call.last_addr_ts, m.ts)
        return call

    def _release_fields(self, call: Call, m: Message, forward: bool) -> None:
        call.rel_ts = m.ts
        call.cause = m.cause
        call.cause_location = m.cause_location
        if call.pcless and call.anm_ts is not None:
            call.released_by = None
        else:
            call.released_by = "calling" if forward else "called"
        if call.anm_ts is not None:
            call.phase = "answered"
            call.conversation_s = round(max(m.ts - call.anm_ts, 0.0), 6)
        elif call.acm_ts is not None or call.state == PROCEEDING:
            call.phase = "alerting"
        else:
            call.phase = "setup"

    def _do_release(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        self._release_fields(call, m, fwd)
        return call

    def _do_release_again(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        if call.released_by is not None and fwd != (call.released_by == "calling"):
            call.flag("release_collision")
        else:
            call.flag("rel_repeated")
        return call

    def _do_rlc(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        call.rlc_ts = m.ts
        self._release_over(call, "rlc", m.ts)
        return call

    def _do_rlc_without_rel(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        call.rlc_ts = m.ts
        call.phase = PHASE.get(call.state, call.phase)
        call.end_reason = "rlc_without_rel"
        call.flag("rlc_without_rel")
        return call

    def _do_late_rel(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call | None:
        if call.rel_ts is not None:
            return self._do_release_again(key, call, m, fwd)
        rlc_ts = call.rlc_ts
        late = rlc_ts is not None and m.ts - rlc_ts <= self.reorder_window
        if call.end_reason == "rlc_without_rel" and late:
            call.flags.remove("rlc_without_rel")
            call.flag("out_of_order")
            call.end_reason = None
            phase = call.phase
            self._release_fields(call, m, fwd)
            call.phase = phase
            return call
        self._do_park(key, None, m, fwd)
        return None

    def _do_late_sam(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        call.flag("sam_after_rel")
        if m.subsequent:
            call.called += m.subsequent
        if m.called_complete:
            call.called_complete = True
        call.sam_count += 1
        return call

    def _do_crossing(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        call.flag("crossed_release")
        if m.type == "ACM" and call.acm_ts is None:
            call.acm_ts = m.ts
        return call

    def _do_attach(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        return call
