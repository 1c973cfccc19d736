"""Copy detection: the same message seen twice (again on its link, or on another link) counts once.

A copy of a message already seen (same octets from the CIC on, same direction) is counted once: seen again
on the same link within ``duplicate_window_ms``, or on another link (a second SCTP association or MTP
link: a mirrored port, a second hop) within ``cross_link_window_ms``, whatever the order in which the
copies come.  The copies are listed on the call of the message (``duplicate_frames``) and their link added
to the call's ``links``; they never make a call, an orphan or a dual seizure.

This module owns the *sightings* (below) and the methods of the correlator that use them; the per-message
loop (:mod:`sigdiag.calls.step`) registers a sighting for each message that is not a copy.

A *sighting* is the first time a message was seen: ``[time, call, pending, link, others, older,
signature]`` with the call it went to (None until it has one: parked, circuit supervision), the copies
seen before it had one ((frame, link) list or None), its link, ``{link: time}`` of its first copy on each
other link (or None), the older sighting of the same signature (or None) and the signature (protocol, SIP
Call-ID, OPC, DPC, octets from the CIC on).  A copy on the same link must belong to the call of its
sighting.  The newest sighting of each signature is in ``_seen``, every sighting in ``_seen_q`` (in the
order seen) until it is forgotten, when the windows are past.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sigdiag.calls.keys import call_key
from sigdiag.calls.record import Call
from sigdiag.model import Message

__all__: list[str] = []


class _Copies:
    """The correlator's copy detection (a base of :class:`sigdiag.calls.correlate.Correlator`)."""

    # set up by the correlator (sigdiag.calls.ledger)
    table: dict[tuple[Any, ...], Call]
    duplicates: int
    dup_window: float
    cross_window: float
    reorder_window: float
    _seen_horizon: float  # how long a sighting is kept: the longer window, plus time stamps out of order
    _seen: dict[tuple[Any, ...], list[Any]]
    _seen_q: deque[list[Any]]

    def _copy_of(self, newest: list[Any], m: Message, link: str, ts: float) -> bool:
        """Whether ``m``, whose signature was seen before (``newest`` its newest sighting), is a copy of
        one of those sightings; if so it is counted and listed on that message's call."""
        w = self.dup_window
        cw = self.cross_window
        cand: list[Any] | None = newest
        while cand is not None:
            if link == cand[3]:
                # again on the same link: a copy only within the call of its first sighting (an identical
                # ANM or RLC of a new call that reuses the CIC at once is not)
                if -w <= ts - cand[0] <= w and (cand[1] is None or cand[1] is self.table.get(call_key(m))):
                    break
            else:
                others = cand[4]
                t_link = others.get(link) if others is not None else None
                if t_link is None:
                    if -cw <= ts - cand[0] <= cw:
                        break
                elif -w <= ts - t_link <= w:
                    break
            cand = cand[5]
        if cand is None:
            return False
        self._copy(cand, m, link, ts)
        return True

    def _copy(self, g: list[Any], m: Message, link: str, ts: float) -> None:
        """``m`` is a copy of the message of sighting ``g``: count it and list it on its call."""
        self.duplicates += 1
        if link != g[3]:
            others = g[4]
            if others is None:
                g[4] = {link: ts}
            elif link not in others:
                others[link] = ts
        owner = g[1]
        if owner is None:  # the message has no call yet (parked): listed when it has one
            if g[2] is None:
                g[2] = []
            g[2].append((m.frame, link))
        else:
            owner.duplicate_frames.append(m.frame)
            if link not in owner.links:
                owner.links.append(link)

    def _forget_sightings(self, now: float) -> None:
        q = self._seen_q
        old = now - self._seen_horizon
        while q and q[0][0] < old:
            self._unlink(q.popleft())

    def _unlink(self, g: list[Any]) -> None:
        """Forget sighting ``g`` (the oldest of ``_seen_q``, just taken from it)."""
        seen = self._seen
        sig = g[6]
        cand = seen.get(sig)
        if cand is g:
            del seen[sig]
            return
        while cand is not None:  # an older sighting of a signature seen again since: unlink it
            if cand[5] is g:
                cand[5] = None
                break
            cand = cand[5]

    def _sighting_of(self, m: Message) -> list[Any] | None:
        """The sighting of the message ``m`` (None once forgotten)."""
        g = self._seen.get((m.protocol, m.sip_call_id, m.opc, m.dpc, m.raw))
        while g is not None:
            if g[3] == m.link and g[0] == m.ts:
                return g
            g = g[5]
        return None

    @staticmethod
    def _claim(g: list[Any], call: Call) -> None:
        """The message of sighting ``g`` went to ``call``: list the copies seen so far on it."""
        g[1] = call
        pending = g[2]
        if pending:
            g[2] = None
            links = call.links
            for frame, link in pending:
                call.duplicate_frames.append(frame)
                if link not in links:
                    links.append(link)
