"""Transport units: what the network layers hand to the signalling adaptation layers.

:class:`sigdiag.carrier.net.NetDecoder` turns each :class:`~sigdiag.model.Frame` whose link type carries
IP into zero or more units; frames of the SS7 link types (139, 140, 141) become an :class:`MtpUnit`.
The adaptation layers (:mod:`sigdiag.carrier.sigtran`, :mod:`sigdiag.carrier.mtp`,
:mod:`sigdiag.carrier.sip`) turn units into :class:`~sigdiag.model.Payload` objects.

Addresses are kept as printable strings (``"10.0.0.1"``, ``"2001:db8::1"``) because they only name links.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MtpUnit", "SctpUnit", "StreamUnit"]


@dataclass(slots=True)
class SctpUnit:
    """One complete SCTP user message (one DATA chunk, or several reassembled by their B/E flags)."""

    frame: int  # frame of the chunk that completed the message
    ts: float
    src: str
    dst: str
    sport: int
    dport: int
    ppid: int
    stream: int
    data: bytes


@dataclass(slots=True)
class StreamUnit:
    """UDP datagram payload, or TCP segment payload (``proto`` = "udp" | "tcp"), for SIP."""

    frame: int
    ts: float
    proto: str
    src: str
    dst: str
    sport: int
    dport: int
    data: bytes


@dataclass(slots=True)
class MtpUnit:
    """A frame of link type 139 (MTP2 with pseudo-header), 140 (MTP2) or 141 (MTP3)."""

    frame: int
    ts: float
    linktype: int
    interface: int
    data: bytes
