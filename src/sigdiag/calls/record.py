"""The records the correlator hands out: :class:`Call`, :class:`Orphan`, :class:`CircuitEvent`.

This module owns what a call record holds and how it is written (:data:`CALL_KEYS`, :meth:`Call.as_dict`);
the correlator (:mod:`sigdiag.calls.correlate`) fills the fields as the call's messages come, and
:mod:`sigdiag.calls.ledger` sets the end fields and the outcome when the call is over.
"""

from __future__ import annotations

import copyreg
from operator import attrgetter
from typing import Any

from sigdiag.calls.machine import ANSWERED, PROCEEDING, SETUP
from sigdiag.codec.fields import CALLING_PARTY_NUMBER, nature_of_address, param_value
from sigdiag.model import Message

__all__ = ["CALL_KEYS", "PHASE", "Call", "CircuitEvent", "Orphan", "ms"]

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


#: The phase a call reached, by state (``phase``: where it was when it ended).
PHASE = {SETUP: "setup", PROCEEDING: "alerting", ANSWERED: "answered"}


def ms(a: float, b: float) -> float:
    """Milliseconds from a to b, never negative (time stamps may be a few ms out of order)."""
    d = (b - a) * 1000.0
    return round(d, 3) if d > 0 else 0.0


_SIGHTED = attrgetter("frame", "ts", "type", "protocol", "link", "opc", "dpc")


class _Sighted:
    """What every record of one message tells: where and when it was seen, and what it was."""

    __slots__ = ("dpc", "frame", "link", "opc", "protocol", "ts", "type")

    def __init__(self, m: Message) -> None:
        self.frame, self.ts, self.type, self.protocol, self.link, self.opc, self.dpc = _SIGHTED(m)


class Orphan(_Sighted):
    """A message that belongs to no call seen in the capture (its IAM is not in the capture).  ``link``
    is the link it was seen on, ``links`` every link it was seen on (copies on other links included)."""

    __slots__ = ("cic", "links", "reason", "sip_call_id")
    #: The keys of :meth:`as_dict`, in output order.
    KEYS = ("cic", "dpc", "frame", "link", "links", "opc", "protocol", "reason", "sip_call_id", "ts", "type")

    def __init__(self, m: Message, reason: str) -> None:
        super().__init__(m)
        self.links = [m.link]
        self.cic = m.cic
        self.sip_call_id = m.sip_call_id
        self.reason = reason

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in Orphan.KEYS}

    def __repr__(self) -> str:
        return f"Orphan(frame={self.frame}, {self.type} cic={self.cic} {self.opc}->{self.dpc}: {self.reason})"


class CircuitEvent(_Sighted):
    """A circuit supervision message: the circuits it covers and the calls it acted on."""

    __slots__ = ("calls", "cics")
    #: The keys of :meth:`as_dict`, in output order.
    KEYS = ("calls", "cics", "dpc", "frame", "link", "opc", "protocol", "ts", "type")

    def __init__(self, m: Message, cics: tuple[int, ...]) -> None:
        super().__init__(m)
        self.cics = cics
        self.calls: list[int] = []

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in CircuitEvent.KEYS}

    def __repr__(self) -> str:
        return f"CircuitEvent(frame={self.frame}, {self.type} {self.opc}->{self.dpc} cics={self.cics})"


def _of_iam(name: str, doc: str) -> Any:
    """A read-only attribute of the call that is its IAM's ``name``."""
    return property(attrgetter("iam." + name), doc=doc)


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
    protocol = _of_iam("protocol", "The IAM's protocol (``isup`` or ``bicc``).")
    carrier = _of_iam("carrier", "What carried the IAM (``m3ua``, ``m2pa``, ``sip-i``...).")
    variant = _of_iam("variant", "The ISUP variant the IAM was decoded with.")
    pc_format = _of_iam("pc_format", "The point-code format of the IAM (None without point codes).")
    link = _of_iam("link", "The link the call's IAM was seen on (:attr:`links` has every link of the call).")
    sip_call_id = _of_iam("sip_call_id", "The SIP Call-ID of a SIP-I call (None otherwise).")
    iam_frame = _of_iam("frame", "The frame number of the IAM.")
    calling = _of_iam("calling", "The calling party number of the IAM (None without one).")

    @property
    def calling_nai(self) -> int | None:
        """Nature of address of the calling party number (None without one)."""
        value = param_value(self.iam.raw_params, CALLING_PARTY_NUMBER)
        return None if value is None else nature_of_address(value)

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

    # -- pickling ----------------------------------------------------------------------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the tuple of its slots (an audit point saves its open calls after every file: a
        tuple pickles at a fraction of the cost of the name -> value mapping of a slotted object)."""
        try:
            state: Any = _CALL_STATE(self)
        except AttributeError:  # (a call not made by __init__: some slot unset)
            state = {k: getattr(self, k) for k in Call.__slots__ if hasattr(self, k)}
        return (copyreg.__newobj__, (type(self),), state)  # type: ignore[attr-defined]

    def __setstate__(self, state: tuple[Any, ...] | dict[str, Any]) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = state[1]  # (None, slots): pickled by an older sigdiag (a saved audit state)
        items = state.items() if isinstance(state, dict) else zip(Call.__slots__, state, strict=True)
        for k, v in items:
            setattr(self, k, v)

    def __repr__(self) -> str:
        return (
            f"Call({self.call_id}, {self.protocol} {self.opc}->{self.dpc} cic={self.cic} "
            f"called={self.called!r} {self.outcome}/{self.outcome_detail})"
        )


#: The values of a call's slots, in :attr:`Call.__slots__` order (its pickled state).
_CALL_STATE = attrgetter(*Call.__slots__)
