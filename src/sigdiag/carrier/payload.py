"""The carrier layer's output record: one ISUP/BICC message's bytes and where they came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from sigdiag.anomalies import Anomaly

__all__ = ["Payload"]


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
