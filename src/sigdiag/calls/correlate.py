"""Call correlation: decoded messages in, finished calls out, streaming.

:class:`Correlator` keeps one entry per busy key (ISUP: the unordered point-code pair and the CIC; BICC:
the point codes and the call instance code; SIP-I: the Call-ID) and drives the state machine of
:mod:`sigdiag.calls.machine`.  Memory is bounded by the calls open at one time: a call is written out
(classified, handed to the caller) as soon as it is over, and the open-call table has a cap
(``max_open_calls``; the oldest call is evicted and counted).  Every other table that grows with the
number of calls, circuits or messages in flight has a bound too (``max_parked``, ``max_sightings``,
``max_circuits``, and ``max_open_calls`` for released calls waiting for late messages): beyond it the
oldest state is forgotten early and counted in :attr:`Correlator.forgotten` (:meth:`Correlator.bound_warnings`
says what and how much; docs/calls.md, "Memory bounds").

What happens to messages that do not make a call:

* a copy of a message already seen (same octets from the CIC on, same direction) is counted once: seen
  again on the same link within ``duplicate_window_ms``, or on another link (a second SCTP association or
  MTP link: a mirrored port, a second hop) within ``cross_link_window_ms``, whatever the order in which
  the copies come.  The copies are listed on the call of the message (``duplicate_frames``) and their
  link added to the call's ``links``; they never make a call, an orphan or a dual seizure;
* a message with no call on its key is *parked* for ``reorder_window_ms`` (its IAM may follow a few
  frames later when time stamps and file order disagree), then reported as an :class:`Orphan`;
* circuit supervision (RSC, GRS, BLO, CGB and their acknowledgements, UCIC) is reported as a
  :class:`CircuitEvent` and acts on the calls of the circuits it covers.

A call stays keyed by its circuit whatever link its messages are seen on (``Call.links`` lists them,
the IAM's first).  A call that ends less than ``cross_link_window_ms`` after its last message is handed
out that much later, so the copies of its last messages are listed on it.

Time is the capture's: ``now`` is the latest time stamp seen, so timers do not depend on how fast the
file is read.  Messages are processed in file order (the order the probe saw them); time stamps a few
milliseconds out of order only make derived delays slightly off (they are never negative).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from sigdiag.calls.machine import (
    ANSWERED,
    IDLE,
    PROCEEDING,
    RELEASED,
    RELEASING,
    SETUP,
    STATES,
    TRANSITIONS,
)
from sigdiag.calls.outcomes import OutcomeTable, load_outcomes
from sigdiag.calls.settings import CallSettings
from sigdiag.model import Message

__all__ = ["CALL_KEYS", "Call", "CircuitEvent", "Correlator", "Orphan"]

#: The keys of :meth:`Call.as_dict`, in output order.
CALL_KEYS: tuple[str, ...] = (
    "call_id",
    "protocol",
    "carrier",
    "link",
    "links",
    "pc_format",
    "opc",
    "dpc",
    "cic",
    "sip_call_id",
    "iam_frame",
    "start",
    "end",
    "called",
    "called_complete",
    "calling",
    "calling_nai",
    "sam_count",
    "acm_ts",
    "alert_ts",
    "anm_ts",
    "rel_ts",
    "rlc_ts",
    "release_end",
    "release_wait_ms",
    "released_by",
    "cause",
    "cause_location",
    "phase",
    "end_reason",
    "outcome",
    "outcome_detail",
    "base_outcome",
    "base_outcome_detail",
    "outcome_by",
    "pdd_ms",
    "answer_delay_ms",
    "conversation_s",
    "flags",
    "duplicates",
    "frames",
)

_PHASE = {SETUP: "setup", PROCEEDING: "alerting", ANSWERED: "answered"}

#: Message type -> event, for a message from the calling side and from the called side (anything else:
#: OTHER).
_EVENT_FWD: dict[str, str] = {"IAM": "IAM", "SAM": "SAM", "REL": "REL_F", "RLC": "RLC", "UCIC": "UCIC"}
_EVENT_BWD: dict[str, str] = {
    "IAM": "IAM_REV",
    "ACM": "ACM",
    "CPG": "CPG",
    "ANM": "ANS",
    "CON": "ANS",
    "REL": "REL_B",
    "RLC": "RLC",
    "UCIC": "UCIC",
}
#: Actions that do not add the message to the call's timeline (they make a call, or the message is not
#: the call's).
_NOT_ATTACHING = frozenset(("open", "park", "circuit", "ignore", "reuse", "dual_seizure"))
_Entry = tuple[Callable[..., "Call | None"], int, bool]
#: Events on an idle key (no call: direction does not matter).
_IDLE_EVENT: dict[str, str] = {
    "IAM": "IAM",
    "SAM": "SAM",
    "ACM": "ACM",
    "CPG": "CPG",
    "ANM": "ANS",
    "CON": "ANS",
    "REL": "REL_F",
    "RLC": "RLC",
    "UCIC": "UCIC",
}
#: Without point codes (SIP-I bodies, BICC on SCTP) the direction comes from the message type (REL: see
#: Correlator._pcless_rel; other types: taken as forward).
_TYPE_FORWARD: dict[str, bool] = {
    "IAM": True,
    "SAM": True,
    "COT": True,
    "ACM": False,
    "CPG": False,
    "ANM": False,
    "CON": False,
}
#: Circuit supervision messages: handled per circuit (ranges for the group messages).
#: Causes of a REL before answer that come from the calling side, when no point codes say who sent it.
_CALLER_CAUSES = frozenset((16, 31, 102))
_CIRCUIT = frozenset(
    ("RSC", "GRS", "BLO", "UBL", "BLA", "UBA", "CGB", "CGU", "CGBA", "CGUA", "GRA", "CQM", "CQR")
)
_GROUP = frozenset(("GRS", "CGB", "CGU", "CGBA", "CGUA", "GRA", "CQM", "CQR"))
_STATUS_GROUP = frozenset(("CGB", "CGU", "CGBA", "CGUA"))
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


class Orphan:
    """A message that belongs to no call seen in the capture (its IAM is not in the capture).  ``link``
    is the link it was seen on, ``links`` every link it was seen on (copies on other links included)."""

    __slots__ = (
        "cic",
        "dpc",
        "frame",
        "link",
        "links",
        "opc",
        "protocol",
        "reason",
        "sip_call_id",
        "ts",
        "type",
    )

    def __init__(self, m: Message, reason: str) -> None:
        self.frame = m.frame
        self.ts = m.ts
        self.type = m.type
        self.protocol = m.protocol
        self.link = m.link
        self.links = [m.link]
        self.opc = m.opc
        self.dpc = m.dpc
        self.cic = m.cic
        self.sip_call_id = m.sip_call_id
        self.reason = reason

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in Orphan.__slots__}

    def __repr__(self) -> str:
        return f"Orphan(frame={self.frame}, {self.type} cic={self.cic} {self.opc}->{self.dpc}: {self.reason})"


class CircuitEvent:
    """A circuit supervision message: the circuits it covers and the calls it acted on."""

    __slots__ = ("calls", "cics", "dpc", "frame", "link", "opc", "protocol", "ts", "type")

    def __init__(self, m: Message, cics: tuple[int, ...]) -> None:
        self.frame = m.frame
        self.ts = m.ts
        self.type = m.type
        self.protocol = m.protocol
        self.link = m.link
        self.opc = m.opc
        self.dpc = m.dpc
        self.cics = cics
        self.calls: list[int] = []

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in CircuitEvent.__slots__}

    def __repr__(self) -> str:
        return f"CircuitEvent(frame={self.frame}, {self.type} {self.opc}->{self.dpc} cics={self.cics})"


class Call:
    """One call: its identity, the times of its key messages, how it ended and its outcome.

    ``timeline`` lists ``(frame, ts, type, direction, raw)`` for every message of the call (direction 0
    from the calling side, 1 from the called side, -1 unknown; ``raw`` the message octets); ``messages``
    holds the decoded messages too when the ``keep_messages`` setting is on.  ``outcome`` and
    ``outcome_detail`` start as the classification of the outcomes table (also kept in ``base_outcome``
    and ``base_outcome_detail``); a later stage (the diagnosis rules) may refine them with
    :meth:`override_outcome`.  ``iam`` is the call's IAM message.

    """

    __slots__ = (
        "acm_ts",
        "alert_ts",
        "anm_ts",
        "answer_delay_ms",
        "answered",
        "backward_seen",
        "base_outcome",
        "base_outcome_detail",
        "blocked",
        "call_id",
        "called",
        "called_complete",
        "cause",
        "cause_location",
        "cic",
        "conversation_s",
        "dpc",
        "duplicate_frames",
        "end_reason",
        "end_ts",
        "first_bwd_ts",
        "flags",
        "iam",
        "key",
        "last_addr_ts",
        "last_ts",
        "links",
        "messages",
        "opc",
        "outcome",
        "outcome_by",
        "outcome_detail",
        "pcless",
        "pdd_ms",
        "phase",
        "rel_ts",
        "release_end",
        "release_wait_ms",
        "released",
        "released_by",
        "rlc_ts",
        "sam_count",
        "sip",
        "start",
        "state",
        "t7_expired",
        "timeline",
        "types",
    )

    def __init__(self, call_id: int, key: tuple[Any, ...], m: Message, keep: bool) -> None:
        self.call_id = call_id
        self.key = key
        self.iam = m
        self.opc = m.opc
        self.dpc = m.dpc
        self.cic = m.cic
        self.sip = m.sip_call_id is not None
        self.pcless = m.opc is None or m.dpc is None  # SIP-I, BICC on SCTP: direction from the type
        self.start = self.last_ts = self.last_addr_ts = m.ts
        self.called = m.called or ""
        self.called_complete = bool(m.called_complete)
        self.flags: list[str] = []
        self.duplicate_frames: list[int] = []
        self.links: list[str] = [m.link]  # every link a message of the call was seen on, the IAM's first
        self.timeline: list[tuple[int, float, str, int, bytes]] = [(m.frame, m.ts, "IAM", 0, m.raw)]
        self.types = 1 << m.type_code  # bit per message type code in the timeline (copy detection)
        self.messages: list[Message] | None = [m] if keep else None
        # set by the correlator as messages come
        self.sam_count = 0
        self.acm_ts: float | None = None
        self.alert_ts: float | None = None
        self.anm_ts: float | None = None
        self.rel_ts: float | None = None
        self.rlc_ts: float | None = None
        # what ended the wait for the RLC after the first REL (rlc, iam, reset, blocked, capture_end,
        # evicted) and how long it lasted; None without a REL (and for SIP-I, which has no RLC)
        self.release_end: str | None = None
        self.release_wait_ms: float | None = None
        self.first_bwd_ts: float | None = None
        self.end_ts: float | None = None
        self.pdd_ms: float | None = None
        self.answer_delay_ms: float | None = None
        self.conversation_s: float | None = None
        self.released_by: str | None = None
        self.cause: int | None = None
        self.cause_location: int | None = None
        self.phase = "setup"
        self.state = SETUP
        self.end_reason: str | None = None
        # facts for the outcome table, set when the call is finished
        self.answered = False
        self.released = False
        self.backward_seen = False
        self.t7_expired = False
        self.blocked = False
        self.outcome: str | None = None
        self.outcome_detail: str | None = None
        self.base_outcome: str | None = None
        self.base_outcome_detail: str | None = None
        self.outcome_by: str | None = None

    # -- identity, from the IAM --------------------------------------------------------------------------
    @property
    def protocol(self) -> str:
        return self.iam.protocol

    @property
    def carrier(self) -> str:
        return self.iam.carrier

    @property
    def variant(self) -> str:
        return self.iam.variant

    @property
    def pc_format(self) -> str | None:
        return self.iam.pc_format

    @property
    def link(self) -> str:
        """The link the call's IAM was seen on (:attr:`links` has every link of the call)."""
        return self.iam.link

    @property
    def sip_call_id(self) -> str | None:
        return self.iam.sip_call_id

    @property
    def iam_frame(self) -> int:
        return self.iam.frame

    @property
    def calling(self) -> str | None:
        return self.iam.calling

    @property
    def calling_nai(self) -> int | None:
        """Nature of address of the calling party number (None without one)."""
        for code, value in self.iam.raw_params:
            if code == 0x0A:
                return value[0] & 0x7F if value else None
        return None

    # -- helpers ---------------------------------------------------------------------------------------
    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)

    @property
    def frames(self) -> list[int]:
        return [t[0] for t in self.timeline]

    @property
    def duplicates(self) -> int:
        return len(self.duplicate_frames)

    def override_outcome(self, outcome: str, detail: str, by: str) -> None:
        """Refine the outcome (a later stage, e.g. a diagnosis rule ``by``); the base stays as it was."""
        from sigdiag.calls.outcomes import OUTCOMES

        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        self.outcome = outcome
        self.outcome_detail = detail
        self.outcome_by = by

    def as_dict(self) -> dict[str, Any]:
        """The call record with exactly :data:`CALL_KEYS` (JSON-ready)."""
        iam = self.iam
        return {
            "call_id": self.call_id,
            "protocol": iam.protocol,
            "carrier": iam.carrier,
            "link": iam.link,
            "links": list(self.links),
            "pc_format": iam.pc_format,
            "opc": self.opc,
            "dpc": self.dpc,
            "cic": self.cic,
            "sip_call_id": iam.sip_call_id,
            "iam_frame": iam.frame,
            "start": self.start,
            "end": self.end_ts,
            "called": self.called,
            "called_complete": self.called_complete,
            "calling": iam.calling,
            "calling_nai": self.calling_nai,
            "sam_count": self.sam_count,
            "acm_ts": self.acm_ts,
            "alert_ts": self.alert_ts,
            "anm_ts": self.anm_ts,
            "rel_ts": self.rel_ts,
            "rlc_ts": self.rlc_ts,
            "release_end": self.release_end,
            "release_wait_ms": self.release_wait_ms,
            "released_by": self.released_by,
            "cause": self.cause,
            "cause_location": self.cause_location,
            "phase": self.phase,
            "end_reason": self.end_reason,
            "outcome": self.outcome,
            "outcome_detail": self.outcome_detail,
            "base_outcome": self.base_outcome,
            "base_outcome_detail": self.base_outcome_detail,
            "outcome_by": self.outcome_by,
            "pdd_ms": self.pdd_ms,
            "answer_delay_ms": self.answer_delay_ms,
            "conversation_s": self.conversation_s,
            "flags": list(self.flags),
            "duplicates": len(self.duplicate_frames),
            "frames": [t[0] for t in self.timeline],
        }

    def __repr__(self) -> str:
        return (
            f"Call({self.call_id}, {self.protocol} {self.opc}->{self.dpc} cic={self.cic} "
            f"called={self.called!r} {self.outcome}/{self.outcome_detail})"
        )


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


def _ms(a: float, b: float) -> float:
    """Milliseconds from a to b, never negative (time stamps may be a few ms out of order)."""
    d = (b - a) * 1000.0
    return round(d, 3) if d > 0 else 0.0


class Correlator:
    """Groups decoded messages into calls with the table-driven state machine.

    Use :meth:`run` on an iterable of messages (yields finished calls, then the calls still open at the
    end), or :meth:`feed` message by message and :meth:`close` at the end; finished calls collect in
    :attr:`done` (drained by :meth:`take`).  Counters: ``messages``, ``calls``, ``duplicates``,
    ``orphan_count``, ``circuit_event_count``, ``evictions``; ``orphans`` and ``circuit_events`` keep the
    first ``keep_records`` of each; ``on_orphan`` and ``on_circuit_event`` callbacks see all of them.
    ``forgotten`` counts the state dropped by the other memory bounds (:data:`BOUNDS`,
    :meth:`bound_warnings`).
    """

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
        self._parked: dict[tuple[Any, ...], list[Message]] = {}
        self._park_q: deque[tuple[float, tuple[Any, ...], Message]] = deque()
        self._linger_q: deque[tuple[float, tuple[Any, ...], Call]] = deque()
        self._reset_pending: dict[tuple[Any, ...], float] = {}
        self._blocked: dict[tuple[tuple[Any, ...], int | None], None] = {}  # (an ordered set)
        self._circuit_recent: dict[tuple[Any, ...], float] = {}
        # sizes at which _reset_pending and _circuit_recent are next pruned by time (doubled when a
        # pruning leaves them large, so a burst does not rescan them at every message)
        self._prune_at = {"reset": min(10_000, s.max_circuits), "recent": min(1000, s.max_circuits)}
        # Copy detection ("copies" below): message signature -> its newest sighting of the last windows,
        # every sighting in the order seen (to forget them), the sighting of the message being processed.
        self._seen: dict[tuple[Any, ...], list[Any]] = {}
        self._seen_q: deque[list[Any]] = deque()
        self._sighting: list[Any] | None = None
        # finished calls of done held until a time (take): (time, call), in the order of done
        self._cooling: deque[tuple[float, Call]] = deque()
        self._closed = False
        # The transition table compiled for the hot path: per state, message type -> entry, one dict for
        # each direction, and per state, event -> entry.  An entry is (action, next state, attaches).
        self._by_event: list[dict[str, _Entry]] = [{} for _ in STATES]
        for (state, event), (action, nxt) in TRANSITIONS.items():
            self._by_event[state][event] = (getattr(self, "_do_" + action), nxt, action not in _NOT_ATTACHING)
        self._fwd = [{t: ev[e] for t, e in _EVENT_FWD.items() if e in ev} for ev in self._by_event]
        self._bwd = [{t: ev[e] for t, e in _EVENT_BWD.items() if e in ev} for ev in self._by_event]
        self._idle = {t: self._by_event[IDLE][e] for t, e in _IDLE_EVENT.items()}
        self._idle_other = self._by_event[IDLE]["OTHER"]
        self._step, self._count = self._make_step()

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

    def feed(self, m: Message) -> None:
        """Process one message (in capture order)."""
        self._step((m,))

    @property
    def messages(self) -> int:
        """Messages fed so far."""
        return self._count()

    def _make_step(self) -> tuple[Callable[[Sequence[Message]], None], Callable[[], int]]:
        """The per-message loop as a closure over the correlator's tables (the hot path: locals instead
        of attribute look-ups, one Python call per batch of messages), and a function that tells how
        many messages it has seen."""
        if isinstance(self._blocked, set):  # (an audit state saved before it was ordered)
            self._blocked = dict.fromkeys(self._blocked)
        table = self.table
        fwd_tables = self._fwd
        bwd_tables = self._bwd
        by_event = self._by_event
        idle = self._idle
        idle_other = self._idle_other
        w = self.dup_window
        cw = self.cross_window
        sightings = self._seen
        seen_q = self._seen_q
        linger = self.linger
        linger_q = self._linger_q
        park_q = self._park_q
        parked = self._parked
        glare = self.glare_window
        circuit = self._circuit
        type_forward = _TYPE_FORWARD
        circuit_types = _CIRCUIT
        keep = self.keep
        cooling = self._cooling
        max_seen = self.max_sightings
        max_parked = self.max_parked
        max_lingering = self.max_lingering
        count = 0
        now = self.now
        sweep = now  # timers are checked when the time passes this (every quarter linger at most)
        tick = min(self.linger, self.reorder_window) / 4

        def process(messages: Sequence[Message]) -> None:
            nonlocal count, now, sweep
            count += len(messages)
            for m in messages:
                ts = m.ts
                if ts > now:
                    self.now = now = ts
                    if ts > sweep:
                        sweep = ts + tick
                        if linger_q and linger_q[0][0] < ts:
                            self._expire_linger(ts)
                        if park_q and park_q[0][0] < ts:
                            self._expire_parked(ts)
                        if seen_q and seen_q[0][0] < ts - self._seen_horizon:
                            self._forget_sightings(ts)
                sid = m.sip_call_id
                a = m.opc
                b = m.dpc
                # the same message seen before (the same octets the same way: a copy on another link, or
                # again on the same link), whatever came in between: counted once, listed on its call
                link = m.link
                raw = m.raw
                sig = (m.protocol, sid, a, b, raw)
                newest = sightings.get(sig)
                if newest is not None:
                    cand = newest
                    while cand is not None:
                        if link == cand[3]:
                            # again on the same link: a copy only within the call of its first sighting
                            # (an identical ANM or RLC of a new call that reuses the CIC at once is not)
                            if -w <= ts - cand[0] <= w and (
                                cand[1] is None or cand[1] is table.get(self._key_of(m))
                            ):
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
                    if cand is not None:
                        self._copy(cand, m, link, ts)
                        continue
                g: list[Any] = [ts, None, None, link, None, newest, sig]
                sightings[sig] = g
                seen_q.append(g)
                self._sighting = g
                typ = m.type
                if typ in circuit_types:
                    circuit(m)
                    continue
                if sid is not None:
                    key: tuple[Any, ...] = ("sip", sid)
                elif a is None or b is None:
                    key = (m.protocol, m.link, m.cic)
                else:
                    key = (m.protocol, a, b, m.cic) if a <= b else (m.protocol, b, a, m.cic)
                call = table.get(key)
                if call is None:
                    action, nxt, _ = idle.get(typ, idle_other)
                    c = action(key, None, m, True)
                    if c is not None:
                        c.state = nxt
                        if parked and key in parked:
                            self._replay(key, c)
                    continue
                if call.pcless:
                    if typ == "IAM":
                        if call.sip:  # an INVITE retransmission (SIP timer A), not a new call
                            self.duplicates += 1
                            call.duplicate_frames.append(m.frame)
                            continue
                        if call.state == SETUP and 0 <= ts - call.start <= glare:
                            self._pcless_dual_seizure(call, m)
                            continue
                    fwd = type_forward.get(typ)
                    if fwd is None:
                        fwd = self._pcless_rel(call, m) if typ == "REL" else True
                    direction = (0 if fwd else 1) if typ in type_forward or typ == "REL" else -1
                else:
                    fwd = a == call.opc
                    direction = 0 if fwd else 1
                tc = m.type_code & 0xFF  # (-1 for an unreadable message)
                state = call.state
                entry = (fwd_tables if fwd else bwd_tables)[state].get(typ)
                action, nxt, attaches = entry if entry is not None else by_event[state]["OTHER"]
                c = action(key, call, m, fwd)
                if c is None:
                    continue
                if attaches:
                    c.timeline.append((m.frame, ts, typ, direction, m.raw))
                    c.types |= 1 << tc
                    if keep:
                        c.messages.append(m)  # type: ignore[union-attr]
                    if ts > c.last_ts:
                        c.last_ts = ts
                    if direction == 1 and c.first_bwd_ts is None and c.rel_ts is None and typ != "RLC":
                        c.first_bwd_ts = ts
                    if g[1] is None:
                        g[1] = c  # (no copy can be pending: the message was first seen just now)
                    links = c.links
                    if link is not links[0] and link not in links:
                        links.append(link)
                if nxt != c.state:
                    if nxt == RELEASING and c.sip:
                        nxt = RELEASED  # SIP-I carries no RLC (Q.1912.5: a 200 OK or ACK): the REL ends it
                    if nxt == RELEASED and c.state != RELEASED:
                        linger_q.append((now + linger, key, c))
                    c.state = nxt
                elif c is not call:  # a new call on the key (CIC reuse, dual seizure)
                    c.state = nxt
                    if parked and key in parked:
                        self._replay(key, c)
            # the memory bounds, once a batch (time stamps that do not advance never expire anything)
            if (
                len(seen_q) > max_seen
                or len(park_q) > max_parked
                or len(linger_q) > max_lingering
                or len(cooling) > max_lingering
            ):
                self._enforce_bounds()

        def seen() -> int:
            return count

        return process, seen

    def _pcless_dual_seizure(self, call: Call, m: Message) -> None:
        """Without point codes a second IAM that crosses the first (within ``glare_window_ms``, nothing
        back yet) is a dual seizure; who controls the circuit cannot be told, so the call seen first is
        taken as the winner."""
        loser = self._new_call(call.key, m)
        call.flag("dual_seizure")
        loser.flag("dual_seizure")
        loser.end_reason = "dual_seizure"
        self._finish(loser)

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
        if nxt == RELEASING and c.sip:
            nxt = RELEASED
        if nxt == RELEASED and c.state != RELEASED:
            self._linger_q.append((self.now + self.linger, key, c))
        c.state = nxt

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

    # -- copies (the same message seen twice) -------------------------------------------------------------
    # A *sighting* is the first time a message was seen: ``[time, call, pending, link, others, older,
    # signature]`` with the call it went to (None until it has one: parked, circuit supervision), the
    # copies seen before it had one ((frame, link) list or None), its link, ``{link: time}`` of its first
    # copy on each other link (or None), the older sighting of the same signature (or None) and the
    # signature (protocol, SIP Call-ID, OPC, DPC, octets from the CIC on).  A copy on the same link must
    # belong to the call of its sighting.  The newest sighting of each signature is in ``_seen``, every
    # sighting in ``_seen_q`` (in the order seen) until it is forgotten, when the windows are past.
    @staticmethod
    def _key_of(m: Message) -> tuple[Any, ...]:
        """The key of the call (circuit) of ``m`` in :attr:`table`."""
        if m.sip_call_id is not None:
            return ("sip", m.sip_call_id)
        a, b = m.opc, m.dpc
        if a is None or b is None:
            return (m.protocol, m.link, m.cic)
        return (m.protocol, a, b, m.cic) if a <= b else (m.protocol, b, a, m.cic)

    @property
    def _seen_horizon(self) -> float:
        """How long a sighting is kept: the longer window, plus time stamps out of order."""
        return max(self.cross_window, self.dup_window) + self.reorder_window

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

    # -- memory bounds ---------------------------------------------------------------------------------
    def _note(self, name: str, n: int) -> None:
        if n:
            self.forgotten[name] = self.forgotten.get(name, 0) + n

    def _enforce_bounds(self) -> None:
        """Bring every table back under its bound (see :data:`BOUNDS`), forgetting its oldest entries."""
        q = self._seen_q
        over = len(q) - self.max_sightings
        if over > 0:
            unlink = self._unlink
            for _ in range(over):
                unlink(q.popleft())
            self._note("sightings", over)
        pq = self._park_q
        over = len(pq) - self.max_parked
        if over > 0:
            n = 0
            for _ in range(over):
                _, key, m = pq.popleft()
                if self._unpark(key, m):
                    self._orphan(m, "no IAM in the capture")
                    n += 1
            self._note("parked", n)
        lq = self._linger_q
        if len(lq) > self.max_lingering:
            table = self.table
            n = 0
            while len(lq) > self.max_lingering:
                _, key, call = lq.popleft()
                if table.get(key) is call and call.state == RELEASED:
                    del table[key]
                    self._finish(call)
                    n += 1
            self._note("lingering", n)
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

    def _hand_out(self, call: Call) -> None:
        """A finished call goes to :attr:`done`; one whose last message is more recent than the
        cross-link window is held there that long (:meth:`take`)."""
        self.done.append(call)
        if not self._closed and self.cross_window and call.last_ts + self.cross_window >= self.now:
            self._cooling.append((self.now + self.cross_window, call))

    # -- bookkeeping -----------------------------------------------------------------------------------
    def _direction(self, call: Call, m: Message) -> int:
        """0 from the calling side, 1 from the called side, -1 unknown (no point codes, not typed)."""
        if call.pcless:
            fwd = _TYPE_FORWARD.get(m.type)
            if fwd is None:
                if m.type == "REL":
                    return 0 if self._pcless_rel(call, m) else 1
                return -1
            return 0 if fwd else 1
        return 0 if m.opc == call.opc else 1

    def _pcless_rel(self, call: Call, m: Message) -> bool:
        """Without point codes (SIP-I, BICC on SCTP) a REL before answer with cause 16 or 31 (the caller
        hung up) or 102 (the calling side's T7 expired) is taken as the caller's, any other cause before
        answer as the called side's; after answer the side is unknown (taken as forward, and
        ``released_by`` stays null)."""
        if call.anm_ts is None:
            return m.cause in _CALLER_CAUSES
        return True

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
        """Classify a call that is over and hand it out."""
        rel = call.rel_ts
        open_at_end = False
        if rel is not None:
            call.end_reason = "released" if call.rlc_ts is not None or call.sip else "release_unacknowledged"
            call.released = True
            if call.rlc_ts is not None:
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
                call.phase = _PHASE.get(call.state, call.phase)
        last = call.last_ts
        call.end_ts = None if open_at_end else last
        anm = call.anm_ts
        if anm is not None:
            call.answered = True
            if call.acm_ts is not None and call.answer_delay_ms is None:
                call.answer_delay_ms = _ms(call.acm_ts, anm)
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
        self._hand_out(call)

    def _expire_linger(self, now: float) -> None:
        q = self._linger_q
        table = self.table
        while q and q[0][0] < now:
            _, key, call = q.popleft()
            if table.get(key) is call and call.state == RELEASED:
                del table[key]
                self._finish(call)

    def _expire_parked(self, now: float) -> None:
        q = self._park_q
        while q and q[0][0] < now:
            _, key, m = q.popleft()
            if self._unpark(key, m):
                self._orphan(m, "no IAM in the capture")

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
            event = (_EVENT_BWD if direction == 1 else _EVENT_FWD).get(typ, "OTHER")
            if event == "IAM":
                self._orphan(pm, "no IAM in the capture")
                continue
            self._dispatch(key, current, pm, event, direction)

    # -- circuit supervision ---------------------------------------------------------------------------
    def _circuit(self, m: Message) -> None:
        typ = m.type
        cic = m.cic
        if cic is None:
            return
        # a copy on a second hop acts once
        dkey = (m.opc, m.dpc, m.raw)
        recent = self._circuit_recent
        prev = recent.get(dkey)
        if prev is not None and -self.dup_window <= m.ts - prev <= self.dup_window:
            self.duplicates += 1
            return
        recent[dkey] = m.ts
        if len(recent) > self._prune_at["recent"]:
            self._prune(recent, "recent", self.now - self.dup_window, 1000)
        cics: tuple[int, ...] = (cic,)
        hardware = False
        if typ in _GROUP:
            rng = None
            status = b""
            for code, value in m.raw_params:
                if code == 0x16 and value:
                    rng = value[0]
                    status = value[1:]
                elif code == 0x15 and value:
                    hardware = (value[0] & 0x03) == 1
            if rng is not None:
                if status and typ in _STATUS_GROUP:
                    cics = tuple(
                        cic + i
                        for i in range(rng + 1)
                        if i // 8 < len(status) and (status[i // 8] >> (i % 8)) & 1
                    )
                else:
                    cics = tuple(range(cic, cic + rng + 1))
        ev = CircuitEvent(m, cics)
        self.circuit_event_count += 1
        if len(self.circuit_events) < self.keep_records:
            self.circuit_events.append(ev)
        a = m.opc
        b = m.dpc
        proto = m.protocol
        pcless = a is None or b is None
        lo, hi = (a, b) if pcless or a <= b else (b, a)  # type: ignore[operator]
        if typ in ("RSC", "GRS"):
            event = "RESET"
        elif typ in ("BLO", "CGB"):
            event = "BLOCK_HW" if hardware else "BLOCK"
        else:
            event = ""
        for c in cics:
            key: tuple[Any, ...] = (proto, m.link, c) if pcless else (proto, lo, hi, c)
            if typ in ("BLO", "CGB"):
                self._blocked[(key, m.opc)] = None
            elif typ in ("UBL", "CGU"):
                self._blocked.pop((key, m.opc), None)
            if event == "RESET":
                self._reset_pending[key] = m.ts
            if not event:
                continue
            call = self.table.get(key)
            if call is None:
                continue
            before = call.state
            blocked = call.blocked
            self._dispatch(key, call, m, event, self._direction(call, m))
            if call.state != before or call.blocked != blocked:
                ev.calls.append(call.call_id)
        if len(self._reset_pending) > self._prune_at["reset"]:
            self._prune(self._reset_pending, "reset", self.now - self.ack_window, 10_000)
        if len(self._blocked) > self.max_circuits:
            self._note("circuits", _trim(self._blocked, self.max_circuits))
        if self.on_circuit_event is not None:
            self.on_circuit_event(ev)

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

    # -- actions (see sigdiag.calls.machine.TRANSITIONS) ---------------------------------------------------
    # Each takes (key, call or None, message, sent by the calling side?) and returns the call the message
    # belongs to (the correlator then attaches the message and sets the next state), or None.
    def _do_open(self, key: tuple[Any, ...], call: Call | None, m: Message, fwd: bool) -> Call:
        new = self._new_call(key, m)
        self._insert(key, new)
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

    def _do_circuit(self, key: tuple[Any, ...], call: Call | None, m: Message, fwd: bool) -> None:
        if m.type == "UCIC":
            ev = CircuitEvent(m, (m.cic,) if m.cic is not None else ())
            self.circuit_event_count += 1
            if len(self.circuit_events) < self.keep_records:
                self.circuit_events.append(ev)
            if self.on_circuit_event is not None:
                self.on_circuit_event(ev)

    def _do_ignore(self, key: tuple[Any, ...], call: Call | None, m: Message, fwd: bool) -> None:
        return None

    def _do_reuse(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        self._release_over(call, "iam", m.ts)
        del self.table[key]
        self._finish(call, "superseded")
        return self._do_open(key, None, m, fwd)

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
            call.pdd_ms = _ms(call.last_addr_ts, ts)
        if call.alert_ts is None:
            for code, value in m.raw_params:
                if code == 0x11:
                    if value and (value[0] >> 2) & 0x03 == 1:  # called party's status: subscriber free
                        call.alert_ts = ts
                    break
        return call

    def _do_cpg(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        if call.alert_ts is None:
            for code, value in m.raw_params:
                if code == 0x24:
                    if value and value[0] & 0x7F == 1:  # event: alerting
                        call.alert_ts = m.ts
                        if call.pdd_ms is None:
                            call.pdd_ms = _ms(call.last_addr_ts, m.ts)
                    break
        return call

    def _do_answer(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        call.anm_ts = m.ts
        if m.type == "CON" and call.acm_ts is None:
            call.acm_ts = m.ts
        if call.pdd_ms is None:
            call.pdd_ms = _ms(call.last_addr_ts, m.ts)
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
        call.release_wait_ms = _ms(rel, ts)

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
        call.phase = _PHASE.get(call.state, call.phase)
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

    def _do_reset(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        call.flag("circuit_reset")
        self._release_over(call, "reset", m.ts)
        if call.rel_ts is None and call.end_reason is None:
            call.end_reason = "reset"
            call.phase = _PHASE.get(call.state, call.phase)
        return call

    def _do_block(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call | None:
        if m.opc == call.dpc:  # blocked by the called side before any backward message
            call.blocked = True
            call.flag("blocked_during_setup")
            return call
        return None

    def _do_block_hw(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        call.flag("circuit_blocked_hardware")
        self._release_over(call, "blocked", m.ts)
        if call.rel_ts is None and call.end_reason is None:
            call.end_reason = "blocked"
            call.phase = _PHASE.get(call.state, call.phase)
        return call

    def _do_ucic(self, key: tuple[Any, ...], call: Call, m: Message, fwd: bool) -> Call:
        call.flag("unequipped_circuit")
        call.end_reason = "ucic"
        call.phase = _PHASE.get(call.state, call.phase)
        return call

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
