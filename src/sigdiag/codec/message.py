"""The codec's output record: one decoded ISUP/BICC message (see docs/architecture.md)."""

from __future__ import annotations

from typing import Any

from sigdiag.anomalies import Anomaly
from sigdiag.carrier.payload import Payload

__all__ = ["MESSAGE_KEYS", "Message"]


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


#: What ``Message(payload)`` takes from the payload as it is: the keys up to the link, which are the
#: payload's, and the SIP Call-ID (besides ``raw``, the payload's ``data``, and its anomalies).
_FROM_PAYLOAD = (*MESSAGE_KEYS[: MESSAGE_KEYS.index("cic")], "sip_call_id")


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
        for name in _FROM_PAYLOAD:
            setattr(self, name, getattr(payload, name))
        self.raw = payload.data
        self.anomalies = payload.anomalies  # the payload is not used after decoding: take its list over
        self.cic = self.called = self.called_complete = self.calling = self.subsequent = None
        self.cause = self.cause_location = self.layout = self._params = None
        self.type = ""
        self.type_code = -1
        self.raw_params = []

    @property
    def params(self) -> dict[str, Any]:
        """Every parameter decoded in full, keyed by parameter name (see :mod:`sigdiag.codec.catalogue`)."""
        if self._params is None:
            from sigdiag.codec.isup import decode_params  # the decoder imports this module

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
