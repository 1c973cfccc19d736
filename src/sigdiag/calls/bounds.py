"""Memory bounds and timers: every table that grows with the traffic has a bound and is kept under it.

Memory is bounded by the calls open at one time: a call is written out as soon as it is over, and the
open-call table has a cap (``max_open_calls``; the oldest call is evicted and counted, see
:mod:`sigdiag.calls.ledger`).  Every other table that grows with the number of calls, circuits or
messages in flight has a bound too (``max_parked``, ``max_sightings``, ``max_circuits``, and
``max_open_calls / 4`` for released calls waiting for late messages and for finished calls held for their
copies): beyond it the oldest state is forgotten early and counted in ``Correlator.forgotten``
(:meth:`_Bounds.bound_warnings` says what and how much; docs/calls.md, "Memory bounds").

This module owns those bounds (:data:`BOUNDS`) and the timers that empty the same tables when their time
has passed (released calls after ``linger_ms``, parked messages after ``reorder_window_ms``, sightings
after their windows), checked by the per-message loop every quarter of the shorter window.
"""

from __future__ import annotations

from itertools import islice
from math import inf
from sys import maxsize
from typing import Any

from sigdiag.calls.ledger import _Ledger
from sigdiag.calls.machine import RELEASED
from sigdiag.model import Message

__all__ = ["BOUNDS", "MAX_PARKED_PER_KEY"]

#: Messages parked on one key at most (a call's messages before its IAM are a handful); beyond it the
#: key's oldest is reported as an orphan at once (keeps the per-key scans short).
MAX_PARKED_PER_KEY = 64
#: What each counter of :attr:`Correlator.forgotten` means, and the setting that bounds it.
BOUNDS: dict[str, tuple[str, str]] = {
    "parked": ("max_parked", "parked messages reported as orphans before reorder_window_ms had passed"),
    "sightings": (
        "max_sightings",
        "messages forgotten by copy detection before their window had passed (a later copy counts as new)",
    ),
    "circuits": ("max_circuits", "per-circuit entries forgotten (blocking, resets, recent supervision)"),
    "lingering": ("max_open_calls / 4", "released calls written out before linger_ms had passed"),
    "held": ("max_open_calls / 4", "finished calls handed out before cross_link_window_ms had passed"),
}


def _trim(d: dict[Any, Any], limit: int) -> int:
    """Delete the oldest entries of ``d`` (insertion order) beyond ``limit``, and a 1/1024 of it more (so
    that the next trimming is not at the next entry); how many were deleted."""
    over = len(d) - limit
    if over <= 0:
        return 0
    n = over + limit // 1024
    for k in list(islice(d, n)):
        del d[k]
    return n


class _Bounds(_Ledger):
    """The correlator's memory bounds and timers (a base of the correlator)."""

    # -- timers ----------------------------------------------------------------------------------------
    def _expire(self, now: float) -> None:
        """The time passed ``now``: write out the released calls, report the parked messages and forget
        the sightings whose time is over."""
        lq = self._linger_q
        if lq and lq[0][0] < now:
            self._end_linger(now, maxsize)
        pq = self._park_q
        if pq and pq[0][0] < now:
            self._end_park(now, maxsize)
        sq = self._seen_q
        if sq and sq[0][0] < now - self._seen_horizon:
            self._forget_sightings(now)

    def _end_linger(self, now: float, limit: int) -> int:
        """Write out the released calls whose linger ends before ``now``, and the oldest beyond ``limit``
        lingering (calls that left their key already are skipped); how many were written out."""
        q = self._linger_q
        table = self.table
        n = 0
        while q and (q[0][0] < now or len(q) > limit):
            _, key, call = q.popleft()
            if table.get(key) is call and call.state == RELEASED:
                del table[key]
                self._finish(call)
                n += 1
        return n

    def _end_park(self, now: float, limit: int) -> int:
        """Report as orphans the parked messages whose wait ends before ``now``, and the oldest beyond
        ``limit`` parked (messages that went to a call since are skipped); how many were reported."""
        q = self._park_q
        n = 0
        while q and (q[0][0] < now or len(q) > limit):
            _, key, m = q.popleft()
            if self._unpark(key, m):
                self._orphan(m, "no IAM in the capture")
                n += 1
        return n

    def _unpark(self, key: tuple[Any, ...], m: Message) -> bool:
        """Take ``m`` out of the messages parked on ``key``; False when it is no longer there."""
        msgs = self._parked.get(key)
        if not msgs:
            return False
        for i, pm in enumerate(msgs):
            if pm is m:
                del msgs[i]
                if not msgs:
                    del self._parked[key]
                return True
        return False

    # -- bounds ----------------------------------------------------------------------------------------
    def _note(self, name: str, n: int) -> None:
        if n:
            self.forgotten[name] = self.forgotten.get(name, 0) + n

    def _enforce_bounds(self) -> None:
        """Bring every table back under its bound (see :data:`BOUNDS`), forgetting its oldest entries
        (called once a batch of messages)."""
        q = self._seen_q
        over = len(q) - self.max_sightings
        if over > 0:
            unlink = self._unlink
            for _ in range(over):
                unlink(q.popleft())
            self._note("sightings", over)
        if len(self._park_q) > self.max_parked:
            self._note("parked", self._end_park(-inf, self.max_parked))
        if len(self._linger_q) > self.max_lingering:
            self._note("lingering", self._end_linger(-inf, self.max_lingering))
        held = self._cooling
        if len(held) > self.max_lingering:
            n = len(held) - self.max_lingering
            for _ in range(n):
                held.popleft()
            self._note("held", n)

    def bound_warnings(self) -> list[str]:
        """One line per memory bound that dropped state (none when every table stayed under its bound):
        what was dropped, how much, and the setting that bounds it."""
        s = self.settings
        out = []
        if self.evictions:
            out.append(
                f"{self.evictions} open calls evicted (max_open_calls {s.max_open_calls}): "
                "written out unfinished, end_reason evicted"
            )
        for name, n in self.forgotten.items():
            setting, what = BOUNDS[name]
            value = self.max_lingering if setting.endswith("/ 4") else getattr(s, setting)
            out.append(f"{n} {what} ({setting} {value})")
        return out

    def _prune(self, d: dict[Any, float], name: str, old: float, floor: int) -> None:
        """Drop the entries of ``d`` older than ``old``; the next pruning waits until ``d`` has doubled (a
        burst within the window does not rescan it at each message).  Beyond ``max_circuits`` the oldest
        entries go instead (an entry older than its window is harmless: its time is checked when used)."""
        if len(d) > self.max_circuits:
            self._note("circuits", _trim(d, self.max_circuits))
            return
        for k in [k for k, t in d.items() if t < old]:
            del d[k]
        self._prune_at[name] = min(max(floor, 2 * len(d)), self.max_circuits)
