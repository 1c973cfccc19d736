"""The records that flow between the pipeline's stages.

capture  -> :class:`Frame`    one record of the capture file
carrier  -> :class:`Payload`  one ISUP/BICC message's bytes with its MTP3 (or SIP) addressing
codec    -> :class:`Message`  one decoded message

All three are plain slotted classes: they are created once per message on the hot path.  On the most
common path (Ethernet/IPv4/SCTP/M3UA frames, see :mod:`sigdiag.carrier.fastlane`) no Payload is built:
the fast lane hands the payload's fields to :func:`sigdiag.codec.isup.decode_message`, which builds the
Message itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigdiag.anomalies import Anomaly

__all__ = ["MESSAGE_KEYS", "Frame", "Message", "Payload"]


@dataclass(slots=True)
class Frame:
    """One record of a capture file.

    ``number`` is the 1-based record number in the file (what Wireshark calls the frame number),
    ``ts`` the capture time in epoch seconds, ``linktype`` the pcap LINKTYPE_* value of the record's
    interface, ``data`` the captured bytes, ``orig_len`` the frame's length on the wire.
    """

    number: int
    ts: float
    linktype: int
    data: bytes
    orig_len: int
    interface: int = 0


@dataclass(slots=True)
class Payload:
    """The user-part bytes of one ISUP or BICC message and where they came from.

    ``data`` starts at the CIC (MTP3, M3UA, M2PA, M2UA, SCTP PPID 8) or, when ``has_cic`` is false (SIP-I
    bodies), at the message type.  ``link`` names the signalling link for per-link settings:
    ``"<carrier>:<src>-<dst>"`` with IP addresses and ports, or ``"mtp2:if<N>"`` for link types
    139-141.  Point codes are integers; ``None`` where the carrier has none (SIP-I).
    """

    frame: int
    ts: float
    carrier: str  # m3ua | m2pa | m2ua | mtp2 | mtp3 | sctp | sip-i
    protocol: str  # isup | bicc
    variant: str  # itu | ansi  (ISUP message/parameter tables)
    pc_format: str | None  # itu | ansi | china | japan, None for SIP-I
    opc: int | None
    dpc: int | None
    ni: int | None
    sls: int | None
    data: bytes
    has_cic: bool = True
    link: str = ""
    anomalies: list[Anomaly] = field(default_factory=list)
    sip_call_id: str | None = None


#: The keys of :meth:`Message.as_dict`, in output order.  Later issues and outside tools rely on them.
#: ``link`` names the signalling link the message was seen on (see :attr:`Payload.link`): the same message
#: captured on two links (a mirrored port, a second hop) is two rows with two links.
MESSAGE_KEYS: tuple[str, ...] = (
    "frame",
    "ts",
    "carrier",
    "protocol",
    "variant",
    "pc_format",
    "opc",
    "dpc",
    "ni",
    "sls",
    "link",
    "cic",
    "type",
    "type_code",
    "called",
    "called_complete",
    "calling",
    "subsequent",
    "cause",
    "cause_location",
    "anomalies",
    "params",
)


class Message:
    """One decoded ISUP/BICC message.

    The key fields are decoded eagerly; ``params`` (every parameter decoded in full) is decoded on first
    access from the parameter bytes kept in ``raw_params``, so code that needs only the keys does not pay
    for it.  ``raw_params`` is a list of ``(code, value)`` pairs in message order, mandatory parameters
    first; mandatory fixed and variable parameters carry their Q.763 code.  ``layout`` records the few
    encoding choices that are not parameters (CIC spare bits, an empty optional part), or is None.

    ``Message(payload)`` gives an undecoded message (key fields at their defaults); the codec builds
    decoded ones (:func:`sigdiag.codec.isup.decode_message` sets every attribute below, once).
    """

    __slots__ = (
        "_params",
        "anomalies",
        "called",
        "called_complete",
        "calling",
        "carrier",
        "cause",
        "cause_location",
        "cic",
        "dpc",
        "frame",
        "layout",
        "link",
        "ni",
        "opc",
        "pc_format",
        "protocol",
        "raw",
        "raw_params",
        "sip_call_id",
        "sls",
        "subsequent",
        "ts",
        "type",
        "type_code",
        "variant",
    )

    frame: int
    ts: float
    carrier: str
    protocol: str
    variant: str
    pc_format: str | None
    opc: int | None
    dpc: int | None
    ni: int | None
    sls: int | None
    cic: int | None
    type: str
    type_code: int
    called: str | None
    called_complete: bool | None
    calling: str | None
    subsequent: str | None
    cause: int | None
    cause_location: int | None
    anomalies: list[Anomaly]
    raw: bytes
    raw_params: list[tuple[int, bytes]]
    link: str
    sip_call_id: str | None
    layout: dict[str, Any] | None
    _params: dict[str, Any] | None

    def __init__(self, payload: Payload) -> None:
        self.frame = payload.frame
        self.ts = payload.ts
        self.carrier = payload.carrier
        self.protocol = payload.protocol
        self.variant = payload.variant
        self.pc_format = payload.pc_format
        self.opc = payload.opc
        self.dpc = payload.dpc
        self.ni = payload.ni
        self.sls = payload.sls
        self.link = payload.link
        self.sip_call_id = payload.sip_call_id
        self.raw = payload.data
        self.anomalies = payload.anomalies  # the payload is not used after decoding: take its list over
        self.cic = None
        self.type = ""
        self.type_code = -1
        self.called = None
        self.called_complete = None
        self.calling = None
        self.subsequent = None
        self.cause = None
        self.cause_location = None
        self.raw_params = []
        self.layout = None
        self._params = None

    @property
    def params(self) -> dict[str, Any]:
        """Every parameter decoded in full, keyed by parameter name (see :mod:`sigdiag.codec.params`)."""
        if self._params is None:
            from sigdiag.codec.isup import decode_params

            self._params = decode_params(self.raw_params, self.variant, self.frame, self.anomalies)
        return self._params

    def as_dict(self) -> dict[str, Any]:
        """The message as a plain dict with exactly :data:`MESSAGE_KEYS` (JSON-ready)."""
        params = self.params  # decoding may add anomalies, so before reading them
        return {
            "frame": self.frame,
            "ts": self.ts,
            "carrier": self.carrier,
            "protocol": self.protocol,
            "variant": self.variant,
            "pc_format": self.pc_format,
            "opc": self.opc,
            "dpc": self.dpc,
            "ni": self.ni,
            "sls": self.sls,
            "link": self.link,
            "cic": self.cic,
            "type": self.type,
            "type_code": self.type_code,
            "called": self.called,
            "called_complete": self.called_complete,
            "calling": self.calling,
            "subsequent": self.subsequent,
            "cause": self.cause,
            "cause_location": self.cause_location,
            "anomalies": [a.as_dict() for a in self.anomalies],
            "params": params,
        }

    def __repr__(self) -> str:
        return (
            f"Message(frame={self.frame}, {self.protocol} {self.type} cic={self.cic} "
            f"{self.opc}->{self.dpc} called={self.called!r} calling={self.calling!r} cause={self.cause})"
        )
