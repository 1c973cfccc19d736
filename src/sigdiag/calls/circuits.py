"""Circuit supervision: RSC, GRS, BLO, UBL, CGB, CGU and their acknowledgements, CQM/CQR, and UCIC.

Circuit supervision is reported as a :class:`~sigdiag.calls.record.CircuitEvent` and acts on the calls of
the circuits it covers (a reset ends them, a hardware-failure block ends them, a block from the called
side during setup is flagged: the events ``RESET``, ``BLOCK_HW`` and ``BLOCK`` of
:mod:`sigdiag.calls.machine`).  This module owns that, and the per-circuit state it keeps: the blocked
circuits (an IAM on one is flagged), the resets waiting for their RLC (so that RLC is not an orphan) and
the supervision messages seen recently (a copy on a second hop acts once).  The circuits a group message
covers are read with the codec's named fields (:mod:`sigdiag.codec.fields`).
"""

from __future__ import annotations

from typing import Any

from sigdiag.calls.actions import _Actions
from sigdiag.calls.bounds import _trim
from sigdiag.calls.keys import circuit_key
from sigdiag.calls.record import PHASE, Call, CircuitEvent
from sigdiag.codec.fields import (
    CIRCUIT_GROUP_SUPERVISION_MESSAGE_TYPE,
    HARDWARE_FAILURE_ORIENTED,
    RANGE_AND_STATUS,
    param_value,
    range_circuits,
    supervision_type,
)
from sigdiag.model import Message

__all__ = ["CIRCUIT_TYPES", "covered_circuits"]

#: Circuit supervision messages: handled per circuit (ranges for the group messages); UCIC is not here
#: (it answers one IAM: an event of the call on its key).
CIRCUIT_TYPES = frozenset(
    ("RSC", "GRS", "BLO", "UBL", "BLA", "UBA", "CGB", "CGU", "CGBA", "CGUA", "GRA", "CQM", "CQR")
)
#: Group messages: a range of circuits from the CIC on (range and status).
_GROUP = frozenset(("GRS", "CGB", "CGU", "CGBA", "CGUA", "GRA", "CQM", "CQR"))
#: Group messages whose status bits say which circuits of the range they cover.
_STATUS_GROUP = frozenset(("CGB", "CGU", "CGBA", "CGUA"))
#: The event a supervision message is for the calls on its circuits (maintenance block; hardware: BLOCK_HW).
_EVENTS = {"RSC": "RESET", "GRS": "RESET", "BLO": "BLOCK", "CGB": "BLOCK"}


def covered_circuits(m: Message, cic: int) -> tuple[tuple[int, ...], bool]:
    """The circuits a supervision message covers (a group message: its range, and for CGB/CGU and their
    acknowledgements the circuits its status bits name; else its CIC), and whether it is a hardware-failure
    oriented group message."""
    typ = m.type
    if typ not in _GROUP:
        return (cic,), False
    rs = param_value(m.raw_params, RANGE_AND_STATUS)
    cics = range_circuits(cic, rs, typ in _STATUS_GROUP) if rs is not None else None
    kind = param_value(m.raw_params, CIRCUIT_GROUP_SUPERVISION_MESSAGE_TYPE)
    hardware = kind is not None and supervision_type(kind) == HARDWARE_FAILURE_ORIENTED
    return (cics if cics is not None else (cic,)), hardware


class _Circuits(_Actions):
    """Circuit supervision (a base of the correlator)."""

    def _circuit(self, m: Message) -> None:
        """A circuit supervision message: a circuit event, and the calls of its circuits told."""
        cic = m.cic
        if cic is None or self._circuit_copy(m):
            return
        typ = m.type
        cics, hardware = covered_circuits(m, cic)
        ev = self._circuit_event(m, cics)
        event = _EVENTS.get(typ, "")
        self._on_circuits(m, ev, "BLOCK_HW" if hardware and event == "BLOCK" else event)
        if len(self._reset_pending) > self._prune_at["reset"]:
            self._prune(self._reset_pending, "reset", self.now - self.ack_window, 10_000)
        if len(self._blocked) > self.max_circuits:
            self._note("circuits", _trim(self._blocked, self.max_circuits))
        if self.on_circuit_event is not None:
            self.on_circuit_event(ev)

    def _circuit_copy(self, m: Message) -> bool:
        """Whether ``m`` is a copy of a supervision message seen within ``duplicate_window_ms`` (on a
        second hop: it acts once); counted as a duplicate."""
        dkey = (m.opc, m.dpc, m.raw)
        recent = self._circuit_recent
        prev = recent.get(dkey)
        if prev is not None and -self.dup_window <= m.ts - prev <= self.dup_window:
            self.duplicates += 1
            return True
        recent[dkey] = m.ts
        if len(recent) > self._prune_at["recent"]:
            self._prune(recent, "recent", self.now - self.dup_window, 1000)
        return False

    def _circuit_event(self, m: Message, cics: tuple[int, ...]) -> CircuitEvent:
        """The circuit event of ``m``, counted (and kept, the first ``keep_records``)."""
        ev = CircuitEvent(m, cics)
        self.circuit_event_count += 1
        if len(self.circuit_events) < self.keep_records:
            self.circuit_events.append(ev)
        return ev

    def _on_circuits(self, m: Message, ev: CircuitEvent, event: str) -> None:
        """Apply supervision message ``m`` to each circuit of ``ev``: blocking state, pending resets, and
        ``event`` (RESET, BLOCK, BLOCK_HW or none) to the call on the circuit; ``ev.calls`` lists the
        calls it changed."""
        typ = m.type
        blocks = typ in ("BLO", "CGB")
        unblocks = typ in ("UBL", "CGU")
        for c in ev.cics:
            key = circuit_key(m.protocol, m.opc, m.dpc, m.link, c)
            if blocks:
                self._blocked[(key, m.opc)] = None
            elif unblocks:
                self._blocked.pop((key, m.opc), None)
            if event == "RESET":
                self._reset_pending[key] = m.ts
            call = self.table.get(key) if event else None
            if call is None:
                continue
            before = call.state
            blocked = call.blocked
            self._dispatch(key, call, m, event, self._direction(call, m))
            if call.state != before or call.blocked != blocked:
                ev.calls.append(call.call_id)

    # -- actions ---------------------------------------------------------------------------------------
    def _do_circuit(self, key: tuple[Any, ...], call: Call | None, m: Message, fwd: bool) -> None:
        if m.type == "UCIC":
            ev = self._circuit_event(m, (m.cic,) if m.cic is not None else ())
            if self.on_circuit_event is not None:
                self.on_circuit_event(ev)

    def _do_reset(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        return self._ended_by_circuit(call, m, "circuit_reset", "reset")

    def _do_block(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call | None:
        if m.opc == call.dpc:  # blocked by the called side before any backward message
            call.blocked = True
            call.flag("blocked_during_setup")
            return call
        return None

    def _do_block_hw(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        return self._ended_by_circuit(call, m, "circuit_blocked_hardware", "blocked")

    def _ended_by_circuit(self, call: Call, m: Message, flag: str, end: str) -> Call:
        """The call's circuit was reset or blocked (hardware failure) by ``m``: flagged ``flag``; its wait
        for the RLC ends (``end``), and so does the call, with ``end_reason`` ``end`` if not released."""
        call.flag(flag)
        self._release_over(call, end, m.ts)
        if call.rel_ts is None and call.end_reason is None:
            call.end_reason = end
            call.phase = PHASE.get(call.state, call.phase)
        return call

    def _do_ucic(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        call.flag("unequipped_circuit")
        call.end_reason = "ucic"
        call.phase = PHASE.get(call.state, call.phase)
        return call
